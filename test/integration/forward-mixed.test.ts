// One client connection through the real proxy carrying what a device's connection to its proxy carries:
// plain requests to several hosts in turn (each to its own origin, over pooled keep-alive connections), an
// extension method with a body (BITS_POST, which Windows' BITS uploads use), and then a CONNECT on the same
// connection (handed to the CONNECT handler).
// Also: an idle keep-alive client connection is closed at --idle-timeout.
import t from 'tap';
import net from 'node:net';
import { startHttpOrigin } from '../helpers/origins.js';
import { startProxy } from '../helpers/proxy.js';

const a = await startHttpOrigin();
const b = await startHttpOrigin();
// a CONNECT destination that echoes (log mode splices bytes that are not TLS: reason not_tls)
const echo = net.createServer((s) => {
  s.on('error', () => {});
  s.pipe(s);
});
await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
const echoPort = (echo.address() as net.AddressInfo).port;
// Node's HTTP parser refuses methods it does not know (BITS_POST): a raw origin that answers any request with
// its request line and body
const raw = net.createServer((s) => {
  s.on('error', () => {});
  let buf = '';
  s.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const len = Number(/\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
    if (buf.length < end + 4 + len) return;
    const body = `${buf.slice(0, buf.indexOf('\r\n'))}|${buf.slice(end + 4, end + 4 + len)}`;
    buf = buf.slice(end + 4 + len);
    s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  });
});
await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
const rawPort = (raw.address() as net.AddressInfo).port;
const IDLE = 600;
const proxy = await startProxy({
  connectTo: [`a.test:80:127.0.0.1:${a.port}`, `b.test:80:127.0.0.1:${b.port}`, `tunnel.test:443:127.0.0.1:${echoPort}`, `bits.test:80:127.0.0.1:${rawPort}`],
  idleTimeout: IDLE,
});
t.teardown(async () => {
  await proxy.stop();
  await a.close();
  await b.close();
  echo.close();
  raw.close();
});

/** Reads one response (Content-Length or chunked) from the socket; resolves with its text. */
function response(s: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const done = (text: string) => {
      s.removeListener('data', onData);
      s.removeListener('close', onClose);
      resolve(text);
    };
    const onData = (d: Buffer) => {
      got += d.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = got.slice(0, end);
      const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (cl && got.length >= end + 4 + Number(cl[1])) return done(got);
      if (/\r\ntransfer-encoding: *chunked/i.test(head) && got.endsWith('\r\n0\r\n\r\n')) return done(got);
    };
    const onClose = () => reject(new Error(`closed after ${JSON.stringify(got.slice(0, 200))}`));
    s.on('data', onData);
    s.on('close', onClose);
  });
}

t.test('plain requests to two hosts, an extension method with a body, then CONNECT, on one client connection', async (t) => {
  const s = net.connect(proxy.port, '127.0.0.1');
  s.on('error', () => {});
  t.teardown(() => s.destroy());
  await new Promise((r) => s.once('connect', r));
  const ask = async (raw: string) => {
    const p = response(s);
    s.write(raw);
    return p;
  };
  const r1 = await ask('GET http://a.test/tiny HTTP/1.1\r\nHost: a.test\r\n\r\n');
  const r2 = await ask('GET http://b.test/headers HTTP/1.1\r\nHost: b.test\r\n\r\n');
  const r3 = await ask('GET http://a.test/tiny HTTP/1.1\r\nHost: a.test\r\n\r\n');
  const r4 = await ask('BITS_POST http://bits.test/upload HTTP/1.1\r\nHost: bits.test\r\nContent-Length: 5\r\n\r\nhello');
  t.match(r1, /^HTTP\/1\.1 200 [^]*\r\n\r\ntiny\n$/, 'a.test answered');
  t.match(r2, /^HTTP\/1\.1 200 [^]*"host":"b\.test"/, 'b.test answered, with its own Host');
  t.match(r3, /^HTTP\/1\.1 200 [^]*tiny\n$/, 'a.test again');
  t.match(r4, /^HTTP\/1\.1 200 [^]*\r\n\r\nBITS_POST \/upload HTTP\/1\.1\|hello$/, 'BITS_POST (an extension method) forwarded in origin-form with its body');
  t.same(a.seen.map((x) => `${x.method} ${x.url}`), ['GET /tiny', 'GET /tiny'], 'origin a saw its two requests, origin-form');
  t.same(b.seen.map((x) => `${x.method} ${x.url}`), ['GET /headers'], 'origin b saw its one');

  // the same connection now opens a tunnel
  const established = new Promise<string>((resolve) => {
    let got = '';
    const onData = (d: Buffer) => {
      got += d.toString('latin1');
      if (!got.includes('\r\n\r\n')) return;
      s.removeListener('data', onData);
      resolve(got);
    };
    s.on('data', onData);
  });
  s.write('CONNECT tunnel.test:443 HTTP/1.1\r\nHost: tunnel.test:443\r\n\r\n');
  t.match(await established, /^HTTP\/1\.1 200 /, 'CONNECT on the same connection: 200');
  const echoed = new Promise<string>((resolve) => {
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('over the tunnel')) resolve(got);
    });
  });
  s.write('bytes over the tunnel');
  t.equal(await echoed, 'bytes over the tunnel', 'the tunnel carries bytes both ways');
  s.end();

  const recs = await proxy.waitFor('request', 4, (x) => ['a.test', 'b.test', 'bits.test'].includes(x.host as string));
  t.same(recs.map((x) => `${x.method} ${x.host} ${x.status} ${x.upstream}`), [
    `GET a.test 200 127.0.0.1:${a.port}`, `GET b.test 200 127.0.0.1:${b.port}`, `GET a.test 200 127.0.0.1:${a.port}`, `BITS_POST bits.test 200 127.0.0.1:${rawPort}`,
  ], 'one request record each, with the address dialled');
  const [conn] = await proxy.waitFor('connect', 1, (x) => x.host === 'tunnel.test');
  t.match(conn, { decision: 'log', reason: 'not_tls', port: 443 });
});

t.test('an idle keep-alive client connection is closed at --idle-timeout', async (t) => {
  const s = net.connect(proxy.port, '127.0.0.1');
  s.on('error', () => {});
  t.teardown(() => s.destroy());
  await new Promise((r) => s.once('connect', r));
  const p = response(s);
  s.write('GET http://a.test/tiny HTTP/1.1\r\nHost: a.test\r\n\r\n');
  t.match(await p, /^HTTP\/1\.1 200 /);
  const t0 = Date.now();
  await new Promise((r) => s.once('close', r));
  const ms = Date.now() - t0;
  t.ok(ms >= IDLE - 50 && ms < IDLE + 2000, `closed ${ms} ms after its last response (idle timeout ${IDLE} ms)`);
});

t.test('a proxy answer to HEAD on a kept-alive connection has no body: the next response parses', async (t) => {
  const s = net.connect(proxy.port, '127.0.0.1');
  s.on('error', () => {});
  t.teardown(() => s.destroy());
  await new Promise((r) => s.once('connect', r));
  let got = '';
  s.on('data', (d: Buffer) => (got += d.toString('latin1')));
  // a loopback literal is refused 403 destination_not_allowed, keeping the connection
  s.write('HEAD http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n');
  const deadline = Date.now() + 2000;
  while (!got.includes('\r\n\r\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 100));
  t.match(got, /^HTTP\/1\.1 403 [^]*X-Proxy-Error: destination_not_allowed[^]*\r\n\r\n$/, 'the 403 head, and nothing after it');
  const p = response(s);
  s.write('GET http://a.test/tiny HTTP/1.1\r\nHost: a.test\r\n\r\n');
  const next = await p;
  t.match(next, /^HTTP\/1\.1 200 [^]*\r\n\r\ntiny\n$/, 'the next request on the connection gets its own response');
});
