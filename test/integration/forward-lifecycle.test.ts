// What becomes of client connections the proxy is done with: one that never sent a byte when the proxy
// stops, and one that keeps its own side open after the proxy answered and closed its side.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { startProxy } from '../helpers/proxy.js';

const GRACE = 5000;

t.test('a stop closes a connection that has sent nothing at once, without waiting for the grace period', async (t) => {
  const proxy = await startProxy({ gracePeriod: GRACE });
  const s = net.connect({ port: proxy.port, host: '127.0.0.1' });
  s.on('error', () => {});
  await once(s, 'connect');
  await new Promise((r) => setTimeout(r, 50)); // accepted on the proxy's side
  const closed = once(s, 'close');
  const started = performance.now();
  await proxy.stop();
  const stopMs = performance.now() - started;
  await closed;
  const closeMs = performance.now() - started;
  t.ok(stopMs < GRACE / 2, `stop() returned after ${stopMs.toFixed(0)} ms (grace ${GRACE} ms)`);
  t.ok(closeMs < GRACE / 2, `the silent connection closed after ${closeMs.toFixed(0)} ms`);
});

t.test('a client that keeps its side open after the proxy closed its own is let go about a second later', async (t) => {
  const proxy = await startProxy({});
  t.teardown(() => proxy.stop());
  const s = net.connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
  let got = '';
  s.on('data', (d: Buffer) => (got += d.toString('latin1')));
  s.on('error', () => {});
  await once(s, 'connect');
  // origin-form to a forward proxy: answered 400 and the proxy closes its side
  s.write('GET /not-absolute HTTP/1.1\r\nHost: example.test\r\n\r\n');
  await once(s, 'end');
  const ended = performance.now();
  t.match(got, /^HTTP\/1\.1 400 /, 'answered 400');
  t.match(got, /\r\nConnection: close\r\n/i, 'and said it closes');
  t.notOk(s.destroyed, 'our side is still open (half-open client)');
  // keep writing on our side: once the proxy has destroyed its socket, the kernel answers with a reset
  const reset = new Promise<number>((resolve) => {
    s.once('close', () => resolve(performance.now() - ended));
  });
  const writer = setInterval(() => {
    if (!s.destroyed) s.write('x');
  }, 100);
  const deadline = new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), 5000));
  const afterMs = await Promise.race([reset, deadline]);
  clearInterval(writer);
  s.destroy();
  t.ok(afterMs >= 500 && afterMs < 4000, `the proxy's socket was gone ${afterMs.toFixed(0)} ms after its answer (expected ~1000)`);
});
