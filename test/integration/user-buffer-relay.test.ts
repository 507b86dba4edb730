// The tunnel relay's upstream reads on real loopback sockets: bulk buffers while a download streams, the
// shared small buffer again once a read does not fill its buffer (what a tunnel idle after a download
// holds), bytes intact and in order to a destination that is slower than the source.
import t from 'tap';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { RELAY_BUFFER_BYTES, RELAY_SMALL_BUFFER_BYTES, createUserBufferRelay } from '../../src/tunnel/user-buffer-relay.js';

t.test('bulk while streaming, small after the last read of a burst, intact through a slow destination', async (t) => {
  // ends 20,000 bytes past a 128 KiB boundary: the burst's last read is partial yet larger than 16 KiB
  const big = randomBytes(24 * RELAY_BUFFER_BYTES + 20_000);
  const tail = Buffer.from('tail');
  let delivered = 0;
  let wake: (() => void) | null = null;
  const server = net.createServer(async (s) => {
    s.write(big);
    while (delivered < big.length) await new Promise<void>((r) => (wake = r));
    s.end(tail);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());

  const relay = createUserBufferRelay();
  const sizes: number[] = []; // size of the buffer handed out for each read
  const reads: number[] = []; // bytes each read delivered
  const { buffer, callback } = relay.onread;
  const onread = {
    buffer: () => {
      const b = buffer();
      sizes.push(b.length);
      return b;
    },
    callback: (n: number, b: Buffer) => (reads.push(n), callback(n, b)),
  };
  const hash = createHash('sha256');
  let slowWrites = 0;
  const dest = new Duplex({
    read() {},
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      delivered += chunk.length;
      // a destination slower than loopback for the first writes: reading must wait for it
      if (slowWrites++ < 8) setTimeout(done, 5);
      else setImmediate(done);
      wake?.();
    },
  });
  const { port } = server.address() as net.AddressInfo;
  const socket = net.connect({ port, host: '127.0.0.1', onread });
  relay.bind(socket);
  await once(socket, 'connect');
  relay.pipeTo(dest);
  await once(dest, 'finish');
  socket.destroy();

  t.equal(hash.digest('hex'), createHash('sha256').update(big).update(tail).digest('hex'), 'bytes intact and in order');
  t.ok(sizes.includes(RELAY_BUFFER_BYTES), 'bulk buffers were used while the download streamed');
  // sizes[i] is the buffer read i went into (the first is handed out before any read): a read that
  // filled its buffer is followed by a bulk one, any other by the shared small one (what an idle tunnel holds)
  const expected = reads.map((n, i) => (n === sizes[i] ? RELAY_BUFFER_BYTES : RELAY_SMALL_BUFFER_BYTES));
  t.same(sizes.slice(1, reads.length + 1), expected, 'each read picks the next buffer by whether it filled its own');
  t.ok(reads.some((n, i) => sizes[i] === RELAY_BUFFER_BYTES && n < RELAY_BUFFER_BYTES), 'a bulk read that did not fill its buffer happened');
  let sum = 0;
  const endOfBig = reads.findIndex((n) => (sum += n) === big.length);
  t.ok(endOfBig > 0, 'a read ends where the burst ends (the server waited for it)');
  // the burst is 20,000 bytes past a bulk boundary, so its last read rarely fills its buffer exactly
  if (reads[endOfBig] !== sizes[endOfBig]) {
    t.equal(sizes[endOfBig + 1], RELAY_SMALL_BUFFER_BYTES, 'the read waiting after the burst holds the shared small buffer');
  }
});
