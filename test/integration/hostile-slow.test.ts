// Slow and abusive clients against the real proxy (in-process, loopback): slowloris (1,000 connections
// trickling header bytes) while a normal client's latency is measured, the header timeout closing them,
// the per-client and global connection caps, and the idle timeout of a tunnel (with its record).
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { startHttpOrigin } from '../helpers/origins.js';
import { startProxy } from '../helpers/proxy.js';
import { openTunnel } from '../helpers/clients.js';
import { fdCount, fdLimit, settle, settleFds, median, rawHttp, sleep, bug } from '../helpers/fuzz.js';
import { repoPath } from '../helpers/paths.js';

const HELLO = readFileSync(repoPath('test/fixtures/client-hello/openssl-tls1_3-sni-alpn.bin'));
const HELLO_HOST = 'fixture.example.com';
const origin = await startHttpOrigin();

/** A raw TCP echo origin that remembers its sockets (to see the upstream side of a tunnel close). */
async function startEchoOrigin(): Promise<{ port: number; open: () => number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    open: () => sockets.size,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
const echo = await startEchoOrigin();
t.teardown(async () => {
  await origin.close();
  await echo.close();
});

/** One plain request through the proxy on a fresh connection; resolves with its latency in ms. */
function timedGet(proxyPort: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request({ host: '127.0.0.1', port: proxyPort, path: 'http://fwd.test/tiny', agent: false, headers: { Host: 'fwd.test' } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

/** n connections to the proxy that send nothing. */
function openIdle(proxyPort: number, n: number): Promise<net.Socket[]> {
  return Promise.all(Array.from({ length: n }, () => new Promise<net.Socket>((r) => {
    const s = net.connect(proxyPort, '127.0.0.1', () => r(s));
    s.on('error', () => {});
  })));
}

async function latencies(proxyPort: number, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await timedGet(proxyPort));
  return out;
}

t.test('slowloris: 1,000 trickling connections; a normal client stays fast; the header timeout closes them all', async (t) => {
  const HEADER_TIMEOUT = 2000;
  // each slow connection costs two fds here (client + proxy side): stay well inside the soft limit
  const N = Math.min(1000, Math.floor((fdLimit() - fdCount() - 200) / 2));
  const proxy = await startProxy({ connectTo: [`*::127.0.0.1:${origin.port}`], headerTimeout: HEADER_TIMEOUT });
  t.teardown(() => proxy.stop());
  const fdsBefore = fdCount();
  await latencies(proxy.port, 10); // warm-up
  const base = await latencies(proxy.port, 40);

  const slow: { s: net.Socket; text: string; closedAt: number }[] = [];
  const opened = Date.now();
  for (let b = 0; b < N; b += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, N - b) }, () => new Promise<void>((resolve) => {
        const c = { s: net.connect(proxy.port, '127.0.0.1'), text: '', closedAt: 0 };
        c.s.setEncoding('latin1');
        c.s.on('error', () => {});
        c.s.on('data', (d: string) => (c.text += d));
        c.s.on('close', () => (c.closedAt = Date.now()));
        c.s.once('connect', () => {
          c.s.write('GET http://fwd.test/tiny HTTP/1.1\r\nHost: fwd.test\r\nX-Slow: ');
          resolve();
        });
        slow.push(c);
      })),
    );
  }
  const allOpen = Date.now() - opened;
  // trickle: one header byte per connection every ~500 ms (2,000 writes/s overall), never finishing the head
  let k = 0;
  const trickle = setInterval(() => {
    for (let i = 0; i < N / 10; i++) {
      const c = slow[k++ % N]!;
      if (!c.s.destroyed && c.s.writable) c.s.write('a');
    }
  }, 50);
  try {
    const under = await latencies(proxy.port, 40);
    const mb = median(base);
    const mu = median(under);
    t.comment(`${N} slow connections open in ${allOpen} ms; latency median ${mb.toFixed(2)} ms → ${mu.toFixed(2)} ms under slowloris (p max ${Math.max(...under).toFixed(1)} ms)`);
    t.ok(slow.every((c) => c.closedAt === 0) || Date.now() - opened < HEADER_TIMEOUT, 'the slow connections were all still open while measuring');
    t.ok(mu <= Math.max(5 * mb, mb + 15), `normal latency within a few× baseline (${mb.toFixed(2)} → ${mu.toFixed(2)} ms)`);

    // the header timeout (checked every min(1 s, timeout)) closes every one of them
    const closedInTime = await settle(() => slow.every((c) => c.closedAt > 0), HEADER_TIMEOUT + 3000, 50);
    const lastClose = Math.max(...slow.map((c) => c.closedAt)) - opened;
    t.comment(`closed by the header timeout between ${Math.min(...slow.map((c) => c.closedAt)) - opened} and ${lastClose} ms after opening (timeout ${HEADER_TIMEOUT} ms, checked every ${Math.min(1000, HEADER_TIMEOUT)} ms)`);
    t.ok(closedInTime, `all ${N} closed by the header timeout (last after ${lastClose} ms)`);
    const got408 = slow.filter((c) => /^HTTP\/1\.1 408 [^]*X-Proxy-Error: header_timeout/.test(c.text)).length;
    t.equal(got408, N, 'each was told 408 header_timeout before the close');
    t.ok(slow.every((c) => c.closedAt - opened >= HEADER_TIMEOUT - 100), 'none closed before its header timeout');
  } finally {
    clearInterval(trickle);
    for (const c of slow) c.s.destroy();
  }
  // and the proxy still serves
  t.equal((await latencies(proxy.port, 1)).length, 1);
  const fdsAfter = await settleFds(fdsBefore, 4, 5000);
  t.comment(`open fds: ${fdsBefore} before, ${fdsBefore + 2 * N} at peak, ${fdsAfter} after`);
  t.ok(fdsAfter <= fdsBefore + 4, `fds back near baseline (${fdsBefore} → ${fdsAfter})`);
});

t.test('per-client cap (maxClientConnections): the connection above it gets 503 too_many_connections', async (t) => {
  const proxy = await startProxy({ connectTo: [`*::127.0.0.1:${origin.port}`], maxClientConnections: 3 });
  t.teardown(() => proxy.stop());
  const idle = await openIdle(proxy.port, 3);
  await sleep(50);
  const seenBefore = origin.seen.length;
  const a = await rawHttp(proxy.port, 'GET http://fwd.test/over-cap HTTP/1.1\r\nHost: fwd.test\r\n\r\n');
  t.equal(a.status, 503);
  t.match(a.text, /X-Proxy-Error: too_many_connections/);
  await sleep(100);
  t.test(
    'the request on a connection above the cap is not forwarded',
    async (t) => {
      t.same(origin.seen.slice(seenBefore).map((x) => x.url), []);
    },
  );
  idle[0]!.destroy();
  await sleep(100);
  const b = await rawHttp(proxy.port, 'GET http://fwd.test/tiny HTTP/1.1\r\nHost: fwd.test\r\nConnection: close\r\n\r\n');
  t.equal(b.status, 200, 'once one closes, the client is served again');
  for (const s of idle) s.destroy();
});

t.test('global cap (maxConnections): a connection above it is closed without being served', async (t) => {
  const proxy = await startProxy({ connectTo: [`*::127.0.0.1:${origin.port}`], maxConnections: 3 });
  t.teardown(() => proxy.stop());
  const idle = await openIdle(proxy.port, 3);
  await sleep(50);
  const before = origin.seen.length;
  const a = await rawHttp(proxy.port, 'GET http://fwd.test/tiny HTTP/1.1\r\nHost: fwd.test\r\n\r\n', 2000);
  t.ok(a.closed && a.status === 0, 'dropped at accept');
  t.equal(origin.seen.length, before, 'nothing forwarded');
  for (const s of idle) s.destroy();
  await sleep(50);
  const b = await rawHttp(proxy.port, 'GET http://fwd.test/tiny HTTP/1.1\r\nHost: fwd.test\r\n\r\n');
  t.equal(b.status, 200, 'served once below the cap');
});

t.test('idle tunnel: closed after idleTimeout on both sides, and its connect record is written', async (t) => {
  const IDLE = 500;
  const proxy = await startProxy({ connectTo: [`*::127.0.0.1:${echo.port}`], idleTimeout: IDLE });
  t.teardown(() => proxy.stop());
  const fdsBefore = fdCount();
  const { socket } = await openTunnel(proxy.port, `${HELLO_HOST}:443`);
  let got = 0;
  socket.on('data', (c: Buffer) => (got += c.length));
  socket.write(HELLO);
  t.ok(await settle(() => got >= HELLO.length, 2000), 'the hello came back through the splice (echo origin)');
  const quietFrom = Date.now();
  const closedAt = await new Promise<number>((r) => socket.once('close', () => r(Date.now())));
  const idleFor = closedAt - quietFrom;
  t.ok(idleFor >= IDLE - 50 && idleFor < IDLE + 2000, `closed after ${idleFor} ms of silence (idleTimeout ${IDLE})`);
  const [rec] = await proxy.waitFor('connect', 1, (r) => r.host === HELLO_HOST);
  t.match(rec, { decision: 'log', sni: HELLO_HOST, tlsVersion: 'TLSv1.3' });
  t.ok((rec!.durationMs as number) >= IDLE, `record durationMs ${rec!.durationMs}`);
  t.ok(await settle(() => echo.open() === 0, 2000), 'the upstream side is closed too');
  t.equal(proxy.app.ctx.tunnels.size, 0, 'no tunnel left in the drain set');
  const fdsAfter = await settleFds(fdsBefore, 0, 3000);
  t.ok(fdsAfter <= fdsBefore, `fds ${fdsBefore} → ${fdsAfter}`);
});

t.test('idle before the ClientHello: the tunnel is closed at idleTimeout (peek does not wait its own 10 s)', async (t) => {
  const IDLE = 400;
  const proxy = await startProxy({ connectTo: [`*::127.0.0.1:${echo.port}`], idleTimeout: IDLE });
  t.teardown(() => proxy.stop());
  const { socket } = await openTunnel(proxy.port, `${HELLO_HOST}:443`);
  const t0 = Date.now();
  await new Promise<void>((r) => socket.once('close', () => r()));
  const ms = Date.now() - t0;
  t.ok(ms >= IDLE - 50 && ms < IDLE + 2000, `closed after ${ms} ms`);
  const [rec] = await proxy.waitFor('connect', 1, (r) => r.host === HELLO_HOST);
  t.match(rec, { decision: 'log', sni: null }, 'one connect record');
  t.ok(await settle(() => echo.open() === 0, 2000), 'upstream closed');
  t.test(
    'the record says why: error closed_before_hello',
    async (t) => {
      t.equal(rec!.error, 'closed_before_hello');
    },
  );
});
