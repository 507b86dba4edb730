// The HTTP/1.1 relay inside inspected tunnels (src/tunnel/h1-relay.ts), byte-exact: the client writes raw
// requests over TLS through the real proxy; origins are a Node https server and a scripted TLS server that
// answers with exactly the bytes a test asks for. Certificates are verified on both legs.
import t from 'tap';
import https from 'node:https';
import tls from 'node:tls';
import net from 'node:net';
import crypto from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTestPki } from '../helpers/pki.js';
import { startProxy } from '../helpers/proxy.js';
import { openTunnel, tlsOverTunnel } from '../helpers/clients.js';
import { UPSTREAM_POOL_DEFAULTS } from '../../src/tunnel/upstream-pool.js';
import { tempDir } from '../helpers/temp.js';

const pki = await createTestPki();

// Node origin: echoes what it received (method, headers seen, body hash) and serves a few fixed answers
interface Seen { method: string; url: string; headers: Record<string, string | string[] | undefined>; bodyLength: number; bodySha: string; trailers: Record<string, string | undefined> }
const seen: Seen[] = [];
let originConnections = 0;
let originOpen = 0;
const originConnId = new WeakMap<object, number>();
const node = https.createServer({ ...(await pki.issue(['relay.test'])), minVersion: 'TLSv1.2', keepAliveTimeout: 60_000 }, (req, res) => {
  const h = crypto.createHash('sha256');
  let n = 0;
  req.on('data', (d: Buffer) => {
    n += d.length;
    h.update(d);
  });
  req.on('end', () => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, bodyLength: n, bodySha: h.digest('hex'), trailers: req.trailers });
    res.setHeader('X-Origin-Conn', String(originConnId.get(req.socket)));
    const path = req.url!.split('?')[0];
    if (path === '/chunked') {
      res.writeHead(200, { 'Content-Type': 'text/plain', Trailer: 'X-Checksum' });
      res.write('hello ');
      res.write('chunked ');
      res.addTrailers({ 'X-Checksum': 'abc123' });
      res.end('world');
    } else if (path === '/no-content') {
      res.writeHead(204).end();
    } else if (path === '/not-modified') {
      res.writeHead(304, { ETag: '"v1"' }).end();
    } else if (path === '/hop') {
      res.writeHead(200, { Connection: 'X-Private', 'X-Private': 'secret', 'Keep-Alive': 'timeout=5', 'Content-Length': '2' }).end('ok');
    } else if (path === '/range') {
      const body = Buffer.from('0123456789');
      res.writeHead(206, { 'Content-Range': 'bytes 2-5/10', 'Content-Length': '4' }).end(body.subarray(2, 6));
    } else if (path === '/short-keepalive') {
      res.writeHead(200, { 'Keep-Alive': 'timeout=2', 'Content-Length': '2' }).end('ok');
    } else if (path === '/ntlm') {
      res.writeHead(401, { 'WWW-Authenticate': 'NTLM', 'Content-Length': '0' }).end();
    } else if (path === '/close-after') {
      res.writeHead(200, { 'Content-Length': '3', Connection: 'close' }).end('bye');
    } else {
      const body = Buffer.from(`${req.method} ${req.url} ${n} ${seen.at(-1)!.bodySha.slice(0, 16)}\n`);
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    }
  });
});
const originOpenIds = new Set<number>();
node.on('secureConnection', (s) => {
  const id = ++originConnections;
  originConnId.set(s, id);
  originOpen++;
  originOpenIds.add(id);
  s.once('close', () => {
    originOpen--;
    originOpenIds.delete(id);
  });
});
node.on('checkContinue', (req, res) => {
  res.writeContinue();
  node.emit('request', req, res);
});
await new Promise<void>((r) => node.listen(0, '127.0.0.1', () => r()));
const nodePort = (node.address() as { port: number }).port;

// scripted origin: reads one request head, writes the bytes scripted for its path, then does what `after` says
const scripts: Record<string, { bytes: Buffer; after: 'close' | 'reset' | 'keep' }> = {
  '/eof-delimited': { bytes: Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the origin closes'), after: 'close' },
  '/truncated': { bytes: Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nonly a little'), after: 'reset' },
  '/garbage': { bytes: Buffer.from('HTTX/9 200 OK\r\n\r\n'), after: 'keep' },
  '/smuggle': { bytes: Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'), after: 'keep' },
};
let scriptedOpen = 0;
const scripted = tls.createServer({ ...(await pki.issue(['scripted.test'])), minVersion: 'TLSv1.2' }, (s) => {
  let buf = '';
  let served = 0;
  scriptedOpen++;
  s.on('close', () => scriptedOpen--);
  s.on('error', () => {});
  s.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const path = buf.split(' ')[1] ?? '';
    buf = '';
    served++;
    // an origin whose idle close crosses the next request: it answers one request per connection
    if (path === '/once-per-connection') {
      if (served > 1) return s.destroy();
      return s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nonce');
    }
    const sc = scripts[path];
    if (!sc) return s.destroy();
    s.write(sc.bytes, () => {
      if (sc.after === 'close') s.end();
      else if (sc.after === 'reset') s.destroy();
    });
  });
});
await new Promise<void>((r) => scripted.listen(0, '127.0.0.1', () => r()));
const scriptedPort = (scripted.address() as { port: number }).port;

const certs = await tempDir('ap-relay-');
const proxy = await startProxy({
  mode: 'inspect',
  certs,
  upstreamCa: pki.caFile,
  connectTo: [`relay.test:443:127.0.0.1:${nodePort}`, `scripted.test:443:127.0.0.1:${scriptedPort}`],
});
const proxyCa = await readFile(join(certs, 'ca.pem'), 'utf8');
t.teardown(async () => {
  await proxy.stop();
  node.closeAllConnections();
  node.close();
  scripted.close();
});

/** A TLS connection through an inspected tunnel, with a reader that collects everything. */
const connOf = (text: string) => Number(/x-origin-conn: (\d+)/i.exec(text)?.[1]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Another proxy in --mode inspect with a CA of its own (in a new temp dir), and that CA's certificate. */
async function inspectingProxy(raw: Parameters<typeof startProxy>[0]) {
  const certs = await tempDir('ap-relay-more-');
  const p = await startProxy({ mode: 'inspect', certs, ...raw });
  return { proxy: p, ca: await readFile(join(certs, 'ca.pem'), 'utf8') };
}

async function connectTo(host: string) {
  const { socket } = await openTunnel(proxy.port, `${host}:443`);
  const s = await tlsOverTunnel(socket, host, proxyCa);
  let got = Buffer.alloc(0);
  let ended = false;
  const waiters: Array<() => void> = [];
  s.on('data', (d: Buffer) => {
    got = Buffer.concat([got, d]);
    waiters.splice(0).forEach((w) => w());
  });
  s.on('end', () => {
    ended = true;
    waiters.splice(0).forEach((w) => w());
  });
  s.on('close', () => {
    ended = true;
    waiters.splice(0).forEach((w) => w());
  });
  s.on('error', () => {});
  const until = async (done: (b: string) => boolean, ms = 5000): Promise<string> => {
    const deadline = Date.now() + ms;
    while (!done(got.toString('latin1'))) {
      if (ended || Date.now() > deadline) break;
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return got.toString('latin1');
  };
  return { s, until, get text() { return got.toString('latin1'); }, get ended() { return ended; }, reset() { got = Buffer.alloc(0); } };
}

/** The data of a chunked body (sizes without extensions, as Node writes them). */
function dechunk(body: string): string {
  let out = '';
  for (let at = 0; ; ) {
    const eol = body.indexOf('\r\n', at);
    const size = parseInt(body.slice(at, eol), 16);
    if (!size) return out;
    out += body.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

const count = (text: string, re: RegExp) => (text.match(re) ?? []).length;

t.test('POST with Content-Length: the body arrives intact, two requests share the tunnel', async (t) => {
  const c = await connectTo('relay.test');
  const body = crypto.randomBytes(1024 * 1024);
  c.s.write(`POST /upload HTTP/1.1\r\nHost: relay.test\r\nContent-Length: ${body.length}\r\n\r\n`);
  c.s.write(body);
  const text = await c.until((x) => /\n$/.test(x) && x.includes('POST /upload'));
  t.match(text, /^HTTP\/1\.1 200 /);
  t.match(text, new RegExp(`POST /upload ${body.length} ${crypto.createHash('sha256').update(body).digest('hex').slice(0, 16)}`));
  c.reset();
  c.s.write('GET /second HTTP/1.1\r\nHost: relay.test\r\n\r\n');
  t.match(await c.until((x) => x.includes('GET /second')), /GET \/second 0/);
  c.s.destroy();
  const recs = await proxy.waitFor('request', 2, (r) => r.host === 'relay.test' && (r.url === 'https://relay.test/upload' || r.url === 'https://relay.test/second'));
  t.equal(recs[0]!.connId, recs[1]!.connId);
  t.ok((recs[0]!.bytesIn as number) > body.length, 'bytesIn counts the request body');
});

t.test('chunked upload with a trailer: the origin receives every byte and the trailer', async (t) => {
  const c = await connectTo('relay.test');
  const parts = [crypto.randomBytes(7000), crypto.randomBytes(1), crypto.randomBytes(40000)];
  let wire = 'POST /chunked-up HTTP/1.1\r\nHost: relay.test\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n';
  c.s.write(wire);
  for (const p of parts) {
    c.s.write(`${p.length.toString(16)};ext=1\r\n`);
    c.s.write(p);
    c.s.write('\r\n');
  }
  c.s.write('0\r\nX-Sum: 42\r\n\r\n');
  wire = '';
  await c.until((x) => x.includes('POST /chunked-up'));
  const s = seen.find((x) => x.url === '/chunked-up')!;
  const all = Buffer.concat(parts);
  t.equal(s.bodyLength, all.length);
  t.equal(s.bodySha, crypto.createHash('sha256').update(all).digest('hex'));
  t.same(s.trailers, { 'x-sum': '42' });
  c.s.destroy();
});

t.test('chunked response with a trailer passes through as framed', async (t) => {
  const c = await connectTo('relay.test');
  c.s.write('GET /chunked HTTP/1.1\r\nHost: relay.test\r\nTE: trailers\r\n\r\n');
  const text = await c.until((x) => x.endsWith('\r\n\r\n') && x.includes('0\r\n'));
  t.match(text, /transfer-encoding: chunked/i);
  t.match(text, /trailer: X-Checksum/i);
  t.match(text, /x-checksum: abc123\r\n\r\n$/i);
  t.equal(dechunk(text.slice(text.indexOf('\r\n\r\n') + 4)), 'hello chunked world');
  t.notOk(seen.find((x) => x.url === '/chunked')!.headers.te, 'TE is hop-by-hop: not forwarded');
  c.s.destroy();
});

t.test('HEAD, 204 and 304 have no body: the next request on the tunnel is answered', async (t) => {
  const c = await connectTo('relay.test');
  c.s.write('HEAD /head HTTP/1.1\r\nHost: relay.test\r\n\r\n');
  let text = await c.until((x) => x.includes('\r\n\r\n'));
  t.match(text, /^HTTP\/1\.1 200 [^]*content-length: \d+\r\n/i);
  for (const path of ['/no-content', '/not-modified', '/after']) {
    c.reset();
    c.s.write(`GET ${path} HTTP/1.1\r\nHost: relay.test\r\n\r\n`);
    text = await c.until((x) => x.includes('\r\n\r\n') && (path !== '/after' || x.includes('GET /after')));
    t.match(text, path === '/no-content' ? /^HTTP\/1\.1 204 / : path === '/not-modified' ? /^HTTP\/1\.1 304 / : /GET \/after 0/, path);
  }
  c.s.destroy();
});

t.test('pipelined requests are answered in order', async (t) => {
  const c = await connectTo('relay.test');
  c.s.write('GET /p1 HTTP/1.1\r\nHost: relay.test\r\n\r\nGET /p2 HTTP/1.1\r\nHost: relay.test\r\n\r\nGET /p3 HTTP/1.1\r\nHost: relay.test\r\n\r\n');
  const text = await c.until((x) => count(x, /HTTP\/1\.1 200/g) === 3 && x.includes('GET /p3'));
  t.ok(text.indexOf('GET /p1') < text.indexOf('GET /p2') && text.indexOf('GET /p2') < text.indexOf('GET /p3'), 'in order');
  c.s.destroy();
});

t.test('Expect: 100-continue: the interim answer reaches the client before it sends the body', async (t) => {
  const c = await connectTo('relay.test');
  c.s.write('PUT /expect HTTP/1.1\r\nHost: relay.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
  t.match(await c.until((x) => x.includes('100 Continue\r\n\r\n')), /^HTTP\/1\.1 100 Continue\r\n/);
  c.s.write('12345');
  t.match(await c.until((x) => x.includes('PUT /expect')), /HTTP\/1\.1 200 [^]*PUT \/expect 5/);
  c.s.destroy();
});

t.test('hop-by-hop fields are dropped both ways; Range and 206 pass untouched and are recorded', async (t) => {
  const c = await connectTo('relay.test');
  c.s.write('GET /hop HTTP/1.1\r\nHost: relay.test\r\nConnection: X-Mine\r\nX-Mine: private\r\nProxy-Authorization: Basic eDp5\r\nKeep-Alive: 300\r\nX-Keep: yes\r\n\r\n');
  const text = await c.until((x) => x.endsWith('ok'));
  const h = seen.find((x) => x.url === '/hop')!.headers;
  t.equal(h['x-mine'], undefined);
  t.equal(h['proxy-authorization'], undefined);
  t.equal(h['keep-alive'], undefined);
  t.equal(h['x-keep'], 'yes');
  t.notMatch(text, /x-private|keep-alive/i, 'the origin\'s connection-named and Keep-Alive fields are not relayed');
  c.reset();
  c.s.write('GET /range HTTP/1.1\r\nHost: relay.test\r\nRange: bytes=2-5\r\n\r\n');
  t.match(await c.until((x) => x.endsWith('2345')), /^HTTP\/1\.1 206 [^]*content-range: bytes 2-5\/10/i);
  c.s.destroy();
  const [rec] = await proxy.waitFor('request', 1, (r) => r.url === 'https://relay.test/range');
  t.match(rec, { status: 206, range: 'bytes=2-5', inTunnel: true, decision: 'inspect' });
});

t.test('the origin closing a keep-alive connection: the next request goes on another connection', async (t) => {
  const c = await connectTo('relay.test');
  c.s.write('GET /close-after HTTP/1.1\r\nHost: relay.test\r\n\r\n');
  const first = await c.until((x) => x.endsWith('bye'));
  t.match(first, /^HTTP\/1\.1 200 /);
  c.reset();
  c.s.write('GET /again HTTP/1.1\r\nHost: relay.test\r\n\r\n');
  const second = await c.until((x) => x.includes('GET /again'));
  t.match(second, /^HTTP\/1\.1 200 /);
  t.ok(connOf(first) > 0 && connOf(second) > 0, 'the origin named its connections');
  t.not(connOf(second), connOf(first), 'the second request went on another origin connection');
  t.notOk(c.ended, 'the client tunnel stays open');
  c.s.destroy();
});


t.test('upstream pool: a new tunnel starts on the idle connection a closed tunnel left, without a dial or a handshake', async (t) => {
  const b = await connectTo('relay.test');
  b.s.write('GET /b HTTP/1.1\r\nHost: relay.test\r\n\r\n');
  const bConn = connOf(await b.until((x) => x.includes('GET /b')));
  b.s.destroy(); // idle and reusable: its connection goes to the pool
  await sleep(50);
  const dialled = originConnections;
  const a = await connectTo('relay.test');
  a.s.write('GET /a HTTP/1.1\r\nHost: relay.test\r\n\r\n');
  t.equal(connOf(await a.until((x) => x.includes('GET /a'))), bConn, "the new tunnel's request went on the closed tunnel's connection");
  t.equal(originConnections, dialled, 'no new origin connection');
  // the origin closes that one: the next request dials
  a.reset();
  a.s.write('GET /close-after HTTP/1.1\r\nHost: relay.test\r\n\r\n');
  await a.until((x) => x.endsWith('bye'));
  a.reset();
  a.s.write('GET /again HTTP/1.1\r\nHost: relay.test\r\n\r\n');
  const again = connOf(await a.until((x) => x.includes('GET /again')));
  t.not(again, bConn, 'the closed connection is never used again');
  a.s.destroy();
});

t.test('upstream pool: idle tunnels give their upstream connection back; a destination keeps at most maxIdle', async (t) => {
  const n = UPSTREAM_POOL_DEFAULTS.maxIdle + 8;
  const opened = originConnections;
  const tunnels = [];
  for (let i = 0; i < n; i++) tunnels.push(await connectTo('relay.test'));
  // each tunnel opened its upstream before the 200: a new one, or an idle one from the pool (≤ maxIdle)
  const least = n - UPSTREAM_POOL_DEFAULTS.maxIdle;
  for (let i = 0; i < 40 && originConnections - opened < least; i++) await sleep(25); // the origin's side of the last handshakes
  t.ok(originConnections - opened >= least, `new upstream connections: ${originConnections - opened} of ${n} tunnels`);
  // unused for holdMs, each tunnel's connection goes to the pool, which keeps maxIdle of them
  const deadline = Date.now() + 5000;
  while (originOpen > UPSTREAM_POOL_DEFAULTS.maxIdle && Date.now() < deadline) await sleep(50);
  t.ok(originOpen <= UPSTREAM_POOL_DEFAULTS.maxIdle, `origin connections open: ${originOpen}`);
  t.ok(tunnels.every((c) => !c.ended), `all ${n} client tunnels stay open`);
  for (const c of tunnels.slice(0, 3)) {
    c.s.write('GET /after-idle HTTP/1.1\r\nHost: relay.test\r\n\r\n');
    t.match(await c.until((x) => x.includes('GET /after-idle')), /^HTTP\/1\.1 200 /, 'an idle tunnel still works');
  }
  for (const c of tunnels) c.s.destroy();
});

t.test("upstream pool: an origin announcing a short keep-alive timeout does not get its connection pooled", async (t) => {
  const a = await connectTo('relay.test');
  a.s.write('GET /short-keepalive HTTP/1.1\r\nHost: relay.test\r\n\r\n');
  const id = connOf(await a.until((x) => x.endsWith('ok')));
  t.ok(originOpenIds.has(id), 'open while its tunnel uses it');
  a.s.destroy(); // idle and reusable, but its origin keeps idle connections only 2 s
  for (let i = 0; i < 40 && originOpenIds.has(id); i++) await sleep(25);
  t.notOk(originOpenIds.has(id), 'closed instead of pooled');
});

t.test('upstream pool: a connection that carries NTLM authentication stays with its tunnel', async (t) => {
  const a = await connectTo('relay.test');
  a.s.write('GET /ntlm HTTP/1.1\r\nHost: relay.test\r\n\r\n');
  const challenged = await a.until((x) => /\r\n\r\n$/.test(x));
  t.match(challenged, /^HTTP\/1\.1 401 [^]*www-authenticate: NTLM/i);
  const pinned = connOf(challenged);
  a.reset();
  // well past holdMs, and another tunnel leaves a newer idle connection in the pool
  await sleep(UPSTREAM_POOL_DEFAULTS.holdMs * 2 + 200);
  const b = await connectTo('relay.test');
  b.s.write('GET /b2 HTTP/1.1\r\nHost: relay.test\r\n\r\n');
  const bConn = connOf(await b.until((x) => x.includes('GET /b2')));
  b.s.destroy();
  await sleep(50);
  a.s.write('GET /ntlm-2 HTTP/1.1\r\nHost: relay.test\r\nAuthorization: NTLM TlRMTVNTUAABAAAA\r\n\r\n');
  const next = connOf(await a.until((x) => x.includes('GET /ntlm-2')));
  t.not(bConn, pinned);
  t.equal(next, pinned, 'the authenticated connection was kept for its tunnel');
  a.s.destroy();
});

for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
  t.test(`the client leg resumes a ${version} session: the next tunnel to the host skips the full handshake`, async (t) => {
    const session = async (reuse?: Buffer) => {
      const { socket } = await openTunnel(proxy.port, 'relay.test:443');
      let got: Buffer | undefined;
      const s = await tlsOverTunnel(socket, 'relay.test', proxyCa, { maxVersion: version, minVersion: version, ...(reuse ? { session: reuse } : {}) });
      s.on('session', (x: Buffer) => (got ??= x));
      s.write('GET /resume HTTP/1.1\r\nHost: relay.test\r\n\r\n');
      await new Promise<void>((resolve) => {
        let text = '';
        s.on('data', (d: Buffer) => {
          text += d.toString('latin1');
          if (text.includes('GET /resume')) resolve();
        });
      });
      const reused = s.isSessionReused();
      // TLS 1.2 hands its session over during the handshake, before the listener above existed
      got ??= s.getSession();
      s.destroy();
      return { reused, session: got };
    };
    const first = await session();
    t.notOk(first.reused, 'the first tunnel makes a full handshake');
    t.ok(first.session, 'and gets a session to resume');
    const second = await session(first.session);
    t.ok(second.reused, 'the second tunnel resumes it');
  });
}

t.test('a reused connection the origin closes before answering: an idempotent request is sent again, a POST is not', async (t) => {
  const a = await connectTo('scripted.test');
  a.s.write('GET /once-per-connection HTTP/1.1\r\nHost: scripted.test\r\n\r\n');
  t.match(await a.until((x) => x.endsWith('once')), /^HTTP\/1\.1 200 /);
  a.s.destroy(); // its connection (one request served) goes to the pool
  await sleep(50);
  const b = await connectTo('scripted.test'); // starts on that pooled connection
  b.s.write('GET /once-per-connection HTTP/1.1\r\nHost: scripted.test\r\n\r\n');
  t.match(await b.until((x) => x.endsWith('once')), /^HTTP\/1\.1 200 /, 'the GET was answered on a new connection');
  t.notOk(b.ended);
  b.s.destroy();
  await sleep(50);
  const c = await connectTo('scripted.test'); // starts on the connection the retry opened (one request served)
  c.s.write('POST /once-per-connection HTTP/1.1\r\nHost: scripted.test\r\nContent-Length: 3\r\n\r\nabc');
  t.match(await c.until(() => false, 1000), /^HTTP\/1\.1 502 [^]*X-Proxy-Error: upstream_unreachable/i, 'a request with a body is never sent twice');
  c.s.destroy();
});

t.test('a client leaving while its request waits for the upstream handshake leaves no connection behind', async (t) => {
  // TCP accepted at once, the origin's TLS answer 400 ms later
  const slow = net.createServer((c) => {
    c.on('error', () => {});
    setTimeout(() => {
      const u = net.connect(scriptedPort, '127.0.0.1', () => {
        c.pipe(u);
        u.pipe(c);
      });
      u.on('error', () => c.destroy());
      c.on('close', () => u.destroy());
    }, 400);
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => slow.close());
  const { proxy: p2, ca } = await inspectingProxy({ upstreamCa: pki.caFile, connectTo: [`scripted.test:443:127.0.0.1:${(slow.address() as net.AddressInfo).port}`] });
  const before = scriptedOpen;
  const { socket } = await openTunnel(p2.port, 'scripted.test:443');
  const s = await tlsOverTunnel(socket, 'scripted.test', ca);
  s.write('GET /once-per-connection HTTP/1.1\r\nHost: scripted.test\r\n\r\n');
  await sleep(100);
  socket.resetAndDestroy();
  await sleep(600); // the upstream handshake completes after the client left
  await p2.stop();
  for (let i = 0; i < 40 && scriptedOpen > before; i++) await sleep(25);
  t.equal(scriptedOpen, before, 'the connection that came too late was closed (or pooled and closed at stop)');
});

t.test('a close-delimited response is relayed whole and then the tunnel closes', async (t) => {
  const c = await connectTo('scripted.test');
  c.s.write('GET /eof-delimited HTTP/1.1\r\nHost: scripted.test\r\n\r\n');
  const text = await c.until(() => false, 3000);
  t.match(text, /^HTTP\/1\.1 200 OK\r\n[^]*connection: close\r\n\r\nuntil the origin closes$/i);
  t.ok(c.ended, 'closed after the body');
});

t.test('an origin reset mid-body: the client sees the connection end before the announced length', async (t) => {
  const c = await connectTo('scripted.test');
  c.s.write('GET /truncated HTTP/1.1\r\nHost: scripted.test\r\n\r\n');
  const text = await c.until(() => false, 3000);
  t.ok(c.ended, 'the tunnel was closed');
  t.ok(text.length < 100_000, 'and not padded to the announced length');
  const [rec] = await proxy.waitFor('request', 1, (r) => r.url === 'https://scripted.test/truncated');
  t.type(rec!.error, 'string', 'the record says the exchange did not complete');
});

for (const [path, what] of [['/garbage', 'an unparseable status line'], ['/smuggle', 'Content-Length with Transfer-Encoding']] as const) {
  t.test(`an origin answering with ${what} → 502 inside the tunnel`, async (t) => {
    const c = await connectTo('scripted.test');
    c.s.write(`GET ${path} HTTP/1.1\r\nHost: scripted.test\r\n\r\n`);
    const text = await c.until(() => false, 3000);
    t.match(text, /^HTTP\/1\.1 502 [^]*X-Proxy-Error: upstream_unreachable/i);
    const [rec] = await proxy.waitFor('request', 1, (r) => r.url === `https://scripted.test${path}`);
    t.match(rec, { status: 502, reason: 'upstream_unreachable', error: /^bad_response/ });
  });
}

for (const [name, raw, status, reason] of [
  ['Content-Length with Transfer-Encoding', 'POST /x HTTP/1.1\r\nHost: relay.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'bad_request'],
  ['two different Content-Length values', 'POST /x HTTP/1.1\r\nHost: relay.test\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', 400, 'bad_request'],
  ['a space before the colon', 'GET /x HTTP/1.1\r\nHost : relay.test\r\n\r\n', 400, 'bad_request'],
  ['no Host field', 'GET /x HTTP/1.1\r\nAccept: */*\r\n\r\n', 400, 'bad_request'],
  ['a request head over --max-header-bytes', `GET /x HTTP/1.1\r\nHost: relay.test\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`, 431, 'headers_too_large'],
] as const) {
  t.test(`a request with ${name} → ${status} ${reason} inside the tunnel, never forwarded`, async (t) => {
    const before = seen.length;
    const c = await connectTo('relay.test');
    c.s.write(raw);
    const text = await c.until(() => false, 2000);
    t.match(text, new RegExp(`^HTTP/1\\.1 ${status} [^]*X-Proxy-Error: ${reason}`, 'i'));
    t.ok(c.ended, 'the tunnel closes');
    t.equal(seen.length, before, 'nothing reached the origin');
  });
}

t.test('inspecting through a parent proxy: TLS to the origin runs inside the parent\'s tunnel, still verified', async (t) => {
  const parent = await startProxy({ connectTo: [`relay.test:443:127.0.0.1:${nodePort}`] });
  const { proxy: child, ca } = await inspectingProxy({ upstreamCa: pki.caFile, upstreamProxy: `http://127.0.0.1:${parent.port}` });
  t.teardown(async () => {
    await child.stop();
    await parent.stop();
  });
  const { socket } = await openTunnel(child.port, 'relay.test:443');
  const s = await tlsOverTunnel(socket, 'relay.test', ca);
  let got = '';
  const body = crypto.randomBytes(300_000);
  s.on('data', (d: Buffer) => (got += d.toString('latin1')));
  s.write(`PUT /via-parent HTTP/1.1\r\nHost: relay.test\r\nContent-Length: ${body.length}\r\n\r\n`);
  s.write(body);
  const deadline = Date.now() + 5000;
  while (!got.includes('PUT /via-parent') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.match(got, new RegExp(`^HTTP/1\\.1 200 [^]*PUT /via-parent ${body.length} ${crypto.createHash('sha256').update(body).digest('hex').slice(0, 16)}`));
  s.destroy();
  // the child keeps its idle connection to the origin (its upstream pool) until it stops; the parent logs
  // its tunnel when that closes
  await child.stop();
  const [pc] = await parent.waitFor('connect', 1, (x) => x.host === 'relay.test');
  t.match(pc, { host: 'relay.test', port: 443 }, 'the parent saw a CONNECT for the original host');
  const [cc] = await child.waitFor('connect', 1, (x) => x.host === 'relay.test');
  t.match(cc, { decision: 'inspect', upstream: `127.0.0.1:${parent.port}` });
});

t.test('inspecting through a parent: an untrusted origin certificate is still refused (502 upstream_tls_failed)', async (t) => {
  const parent = await startProxy({ connectTo: [`relay.test:443:127.0.0.1:${nodePort}`] });
  // no --upstream-ca: the test CA that signed relay.test is not trusted by this child
  const { proxy: child, ca } = await inspectingProxy({ upstreamProxy: `http://127.0.0.1:${parent.port}` });
  t.teardown(async () => {
    await child.stop();
    await parent.stop();
  });
  const { socket } = await openTunnel(child.port, 'relay.test:443');
  const s = await tlsOverTunnel(socket, 'relay.test', ca);
  let got = '';
  s.on('data', (d: Buffer) => (got += d.toString('latin1')));
  s.write('GET /x HTTP/1.1\r\nHost: relay.test\r\n\r\n');
  const deadline = Date.now() + 5000;
  while (!got.includes('\r\n\r\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.match(got, /^HTTP\/1\.1 502 [^]*X-Proxy-Error: upstream_tls_failed/i);
  s.destroy();
});
