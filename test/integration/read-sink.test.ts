// The read sink on real loopback sockets: what each read lands in (small or bulk buffer), that bytes
// arrive intact and in order, and that a retained buffer is not reused before it is released.
import t, { type Test } from 'tap';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { SINK_BUFFER_BYTES, SINK_BULK_BUFFER_BYTES, createReadSink, type SinkHandler } from '../../src/tunnel/read-sink.js';

interface Read {
  n: number;
  size: number;
}

/** A server that writes `chunks` one after another, each after the client has read everything before it. */
async function readThroughSink(t: Test, bulk: boolean, chunks: Buffer[], retain = false) {
  const reads: Read[] = [];
  const hash = createHash('sha256');
  const total = chunks.reduce((a, c) => a + c.length, 0);
  let got = 0;
  let wake: (() => void) | null = null;
  const server = net.createServer(async (s) => {
    for (const c of chunks) {
      const target = got + c.length;
      s.write(c);
      while (got < target) await new Promise<void>((r) => (wake = r));
    }
    s.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const held: Array<{ copy: Buffer; view: Buffer; release: () => void }> = [];
  const handler: SinkHandler = (buf, n, keep) => {
    reads.push({ n, size: buf.length });
    const view = buf.subarray(0, n);
    hash.update(view);
    if (retain) held.push({ copy: Buffer.from(view), view, release: keep() });
    got += n;
    wake?.();
    return true;
  };
  const sink = createReadSink({ bulk });
  sink.setHandler(handler);
  const { port } = server.address() as net.AddressInfo;
  const socket = net.connect({ port, host: '127.0.0.1', onread: sink.onread });
  socket.on('data', () => {}); // onread sockets emit no data; kept to show nothing arrives here
  await once(socket, 'end');
  socket.destroy();
  const expected = createHash('sha256');
  for (const c of chunks) expected.update(c);
  t.equal(got, total, 'every byte read');
  t.equal(hash.digest('hex'), expected.digest('hex'), 'bytes intact and in order');
  if (retain) {
    // a retained buffer is never handed out again while held: its bytes are still what was read
    t.ok(held.every((h) => h.copy.equals(h.view)), 'retained views unchanged while held');
    for (const h of held) h.release();
  }
  return reads;
}

t.test('plain TCP (bulk): a full read switches to bulk buffers, a read that does not fill its buffer back', async (t) => {
  // the first chunk ends 20,000 bytes past a 128 KiB boundary: its last read is partial but larger than a small buffer
  const big = randomBytes(32 * SINK_BULK_BUFFER_BYTES + 20_000);
  const reads = await readThroughSink(t, true, [big, Buffer.from('tail'), randomBytes(1024 * 1024)]);
  let sum = 0;
  const endOfBig = reads.findIndex((r) => (sum += r.n) === big.length);
  t.ok(endOfBig > 0, 'a read ends exactly where the first chunk ends (the server waited for it)');
  t.equal(reads[endOfBig + 1]!.size, SINK_BUFFER_BYTES, 'after the last read of a burst the next read goes to a small buffer (held while idle)');
  t.equal(reads[0]!.size, SINK_BUFFER_BYTES, 'the first read goes to a small buffer');
  const afterFull = reads.findIndex((r) => r.n === SINK_BUFFER_BYTES);
  t.ok(afterFull >= 0, 'a read filled the small buffer');
  t.equal(reads[afterFull + 1]!.size, SINK_BULK_BUFFER_BYTES, 'the next read goes to a bulk buffer');
  const bulkReads = reads.filter((r) => r.size === SINK_BULK_BUFFER_BYTES);
  t.ok(bulkReads.some((r) => r.n > SINK_BUFFER_BYTES), 'bulk reads deliver more than a small buffer holds');
  t.ok(reads.length < (big.length + 1024 * 1024) / SINK_BUFFER_BYTES / 2, `${reads.length} reads for ${big.length + 1024 * 1024 + 4} bytes: far fewer than in 16 KiB reads`);
  const tail = reads.findIndex((r) => r.n === 4);
  t.ok(tail > 0, 'the short write arrives as its own read');
  t.equal(reads[tail + 1]!.size, SINK_BUFFER_BYTES, 'after a short read the next goes to a small buffer again');
});

t.test('TLS (not bulk): every read goes to a small buffer', async (t) => {
  const reads = await readThroughSink(t, false, [randomBytes(1024 * 1024)]);
  t.ok(reads.length >= (1024 * 1024) / SINK_BUFFER_BYTES, 'at least one read per 16 KiB');
  t.ok(reads.every((r) => r.size === SINK_BUFFER_BYTES), 'only small buffers');
});

t.test('retained buffers are not reused until released (both modes)', async (t) => {
  for (const bulk of [true, false]) {
    await readThroughSink(t, bulk, [randomBytes(2 * 1024 * 1024), randomBytes(512 * 1024)], true);
  }
});
