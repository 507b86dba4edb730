// Load: thousands of concurrent CONNECT tunnels through the real proxy (in-process), opened, verified end to end
// (ClientHello peeked, spliced to an echo origin in a child process, echoed back) and closed, in rounds.
// Afterwards open fds and the settled heap must be back near their baseline: nothing is kept per tunnel.
// Concurrency is bounded by the fd soft limit: this process holds 3 fds per tunnel (client, proxy client
// side, proxy upstream side); the origin's fds are in the child.
import t from 'tap';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startProxy } from '../helpers/proxy.js';
import { fdCount, fdLimit, settle, settleFds, settledHeap } from '../helpers/fuzz.js';
import { repoPath } from '../helpers/paths.js';

const HELLO = readFileSync(repoPath('test/fixtures/client-hello/openssl-tls1_3-sni-alpn.bin'));
const HOST = 'fixture.example.com'; // the fixture's SNI, so the TLS check passes
const ROUNDS = Number(process.env.LOAD_ROUNDS) || 2;
const WANT = Number(process.env.LOAD_TUNNELS) || 5000;

// the echo origin lives in a child process so its fds do not count against ours
const child = spawn(process.execPath, ['-e', `
  const net = require('node:net');
  const s = net.createServer({ noDelay: true }, (c) => { c.on('error', () => {}); c.pipe(c); });
  s.maxConnections = 100000;
  s.listen({ host: '127.0.0.1', port: 0, backlog: 8192 }, () => process.stdout.write(String(s.address().port) + '\\n'));
  process.stdin.on('end', () => process.exit(0)); process.stdin.resume();
`], { stdio: ['pipe', 'pipe', 'inherit'] });
const originPort = await new Promise<number>((resolve, reject) => {
  child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  child.once('exit', (c) => reject(new Error(`echo origin exited ${c}`)));
});
const proxy = await startProxy({ connectTo: [`*::127.0.0.1:${originPort}`], maxClientConnections: 100000, maxConnections: 100000 });
t.teardown(async () => {
  await proxy.stop();
  child.stdin!.end();
  child.kill();
});

/** CONNECT, 200, send the hello, read it back; resolves with the open socket. */
function tunnel(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port: proxy.port, host: '127.0.0.1', noDelay: true });
    let buf = Buffer.alloc(0);
    let established = false;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('tunnel timed out'));
    }, 20000);
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (!established) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!/^HTTP\/1\.1 200/.test(buf.toString('latin1', 0, 12))) {
          clearTimeout(timer);
          s.destroy();
          return reject(new Error(buf.toString('latin1', 0, end)));
        }
        established = true;
        buf = buf.subarray(end + 4);
        s.write(HELLO);
      }
      if (buf.length >= HELLO.length) {
        clearTimeout(timer);
        s.removeAllListeners('data');
        resolve(s);
      }
    });
    s.write(`CONNECT ${HOST}:443 HTTP/1.1\r\nHost: ${HOST}:443\r\n\r\n`);
  });
}

t.test(`${ROUNDS} rounds of up to ${WANT} concurrent tunnels: opened, echoed, closed; fds and heap back to baseline`, async (t) => {
  // warm-up (JIT, pools), then the baseline
  for (const s of await Promise.all(Array.from({ length: 50 }, tunnel))) s.destroy();
  await settle(() => proxy.app.ctx.tunnels.size === 0, 5000);
  proxy.records.length = 0;
  const fd0 = await settleFds(fdCount(), 0, 500);
  const heap0 = await settledHeap();
  const rss0 = process.memoryUsage().rss;
  const n = Math.min(WANT, Math.floor((fdLimit() - fd0 - 300) / 3));
  t.comment(`fd soft limit ${fdLimit()}, baseline ${fd0} fds → ${n} concurrent tunnels per round (3 fds each here)`);
  let peakFds = 0;
  let total = 0;
  const heaps: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const t0 = performance.now();
    const sockets: net.Socket[] = [];
    let failed = 0;
    for (let b = 0; b < n; b += 500) {
      const batch = await Promise.allSettled(Array.from({ length: Math.min(500, n - b) }, tunnel));
      for (const r of batch) if (r.status === 'fulfilled') sockets.push(r.value); else failed++;
    }
    const openMs = performance.now() - t0;
    peakFds = Math.max(peakFds, fdCount());
    t.equal(failed, 0, `round ${round}: every tunnel opened and echoed its hello`);
    t.equal(proxy.app.ctx.tunnels.size, sockets.length, `round ${round}: ${sockets.length} tunnels open at once`);
    const t1 = performance.now();
    for (const s of sockets) s.destroy();
    const drained = await settle(() => proxy.app.ctx.tunnels.size === 0, 20000, 20);
    t.ok(drained, `round ${round}: all tunnels closed on the proxy`);
    total += sockets.length;
    t.ok(await settle(() => proxy.records.filter((r) => r.event === 'connect').length >= sockets.length, 10000), `round ${round}: one connect record per tunnel`);
    const recs = proxy.records.filter((r) => r.event === 'connect');
    t.equal(recs.length, sockets.length, `round ${round}: ${recs.length} connect records`);
    t.ok(recs.every((r) => r.decision === 'log' && r.sni === HOST && (r.bytesIn as number) >= HELLO.length && (r.bytesOut as number) >= HELLO.length), 'each record: log, SNI seen, bytes counted both ways');
    proxy.records.length = 0; // the test's own copy of the records is not the proxy's memory
    const closeMs = performance.now() - t1;
    const h = await settledHeap();
    if (h !== null) heaps.push(h);
    t.comment(`round ${round}: ${sockets.length} opened in ${openMs.toFixed(0)} ms (${((sockets.length / openMs) * 1000).toFixed(0)}/s), closed in ${closeMs.toFixed(0)} ms; settled heap ${h === null ? 'n/a' : (h / 1048576).toFixed(1)} MiB`);
  }
  const fd1 = await settleFds(fd0, 2, 10000);
  const heap1 = await settledHeap();
  const rss1 = process.memoryUsage().rss;
  const mb = (x: number) => (x / 1048576).toFixed(1);
  t.comment(`fds: ${fd0} before, ${peakFds} at peak, ${fd1} after`);
  t.comment(`heapUsed: ${heap0 === null ? 'n/a' : mb(heap0)} MiB before, ${heap1 === null ? 'n/a' : mb(heap1)} MiB after (settled); rss ${mb(rss0)} → ${mb(rss1)} MiB`);
  t.ok(fd1 <= fd0 + 2, `fds back to baseline (${fd0} → ${fd1})`);
  if (heap0 !== null && heap1 !== null && heaps.length === ROUNDS) {
    // the first round allocates one-time structures (JIT code, pools, table capacity); a leak grows every round
    const perRound = ROUNDS > 1 ? (heaps[ROUNDS - 1]! - heaps[0]!) / (ROUNDS - 1) : 0;
    t.comment(`settled heap per round: ${heaps.map(mb).join(', ')} MiB; growth per round ${mb(perRound)} MiB (${(perRound / n).toFixed(0)} bytes per tunnel)`);
    t.ok(perRound < 2 * 1048576, `no growth from round to round (${mb(perRound)} MiB per ${n} tunnels)`);
    t.ok(heap1 - heap0 < 24 * 1048576, `heap near baseline after ${total} tunnels (+${mb(heap1 - heap0)} MiB, one-time)`);
  } else t.ok(rss1 - rss0 < 256 * 1048576, 'no GC available: rss growth bounded');
});
