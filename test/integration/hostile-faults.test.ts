// Upstream faults through the real proxy (in-process, loopback origins only): refused, reset mid-body,
// stalled after connect, truncated TLS record, expired and wrong-name certificates (inspect mode), a parent
// proxy that never answers. Each must give the contract's status and reason, close the client socket and
// leave no fd behind (counted in /proc/self/fd before and after, with a settle loop). DNS failure is tested
// on the pure functions only (no name is ever resolved here).
import t, { type Test } from 'tap';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import dns from 'node:dns';
import crypto from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';
import { initCa, randomSerialHex, signCertificateSync, type Ca } from '../../src/tls/ca.js';
import { reasonOfError, statusOf } from '../../src/proxy/errors.js';
import { guardedLookup } from '../../src/tunnel/dial.js';
import { createAddressSet, DEFAULT_DENY_DESTINATIONS } from '../../src/policy/address-set.js';
import { startProxy } from '../helpers/proxy.js';
import { openTunnel, tlsOverTunnel, getOver } from '../helpers/clients.js';
import { fdCount, settle, settleFds, rawHttp, sleep, bug } from '../helpers/fuzz.js';
import { repoPath } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

const HELLO = readFileSync(repoPath('test/fixtures/client-hello/openssl-tls1_3-sni-alpn.bin'));
const DAY = 86_400_000;
let faultsInjected = 0;

// ---- a CA for the origins (made with the project's own CA code) and leaves with chosen validity -------
const originCaDir = await tempDir('ap-origin-ca-');
const originCa: Ca = await initCa(originCaDir);
function leaf(names: string[], notBefore: Date, notAfter: Date): { cert: string; key: string } {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string);
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  cert.setSubject([{ name: 'commonName', value: names[0]! }]);
  cert.setIssuer(originCa.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: names.map((value) => ({ type: 2, value })) },
  ]);
  signCertificateSync(cert, originCa.key);
  return { cert: forge.pki.certificateToPem(cert), key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

// ---- origins ----------------------------------------------------------------------------------------
interface RawOrigin { port: number; open(): number; close(): Promise<void> }
async function rawOrigin(onSocket: (s: net.Socket) => void): Promise<RawOrigin> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    open: () => sockets.size,
    close: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}
async function tlsOrigin(creds: { cert: string; key: string }): Promise<{ port: number; close(): Promise<void> }> {
  const server = https.createServer({ ...creds, minVersion: 'TLSv1.2' }, (_q, res) => res.end('secret origin body'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

const closedPort = await new Promise<number>((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as net.AddressInfo).port;
    s.close(() => resolve(p));
  });
});
const resetHttp = await rawOrigin((s) => s.once('data', () => {
  s.write(`HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nContent-Type: application/octet-stream\r\n\r\n${'x'.repeat(30_000)}`);
  setTimeout(() => s.resetAndDestroy(), 30);
}));
const resetTunnel = await rawOrigin((s) => s.once('data', () => {
  s.write(Buffer.alloc(1000, 0x17));
  setTimeout(() => s.resetAndDestroy(), 30);
}));
// reads and discards (so it sees the proxy's FIN), never answers
const stall = await rawOrigin((s) => s.resume());
const truncTls = await rawOrigin((s) => s.once('data', () => {
  // a TLS handshake record header promising 256 bytes, then 20 bytes and a FIN
  s.end(Buffer.concat([Buffer.from([0x16, 0x03, 0x03, 0x01, 0x00]), crypto.randomBytes(20)]));
}));
const truncTlsStall = await rawOrigin((s) => {
  s.once('data', () => s.write(Buffer.from([0x16, 0x03, 0x03, 0x01, 0x00, 0x02])));
  s.resume();
});
const garbageTls = await rawOrigin((s) => s.once('data', () => s.write(Buffer.from('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'))));
const now = Date.now();
const expired = await tlsOrigin(leaf(['expired.test'], new Date(now - 30 * DAY), new Date(now - DAY)));
const notYet = await tlsOrigin(leaf(['notyet.test'], new Date(now + DAY), new Date(now + 30 * DAY)));
const wrongName = await tlsOrigin(leaf(['someone-else.test'], new Date(now - DAY), new Date(now + 30 * DAY)));
const good = await tlsOrigin(leaf(['good.test'], new Date(now - DAY), new Date(now + 30 * DAY)));
const silentParent = await rawOrigin((s) => s.resume()); // accepts CONNECT, never answers

const map = [
  `refused.test::127.0.0.1:${closedPort}`,
  `reset.test::127.0.0.1:${resetHttp.port}`,
  `resettun.test::127.0.0.1:${resetTunnel.port}`,
  `stall.test::127.0.0.1:${stall.port}`,
  `trunc.test::127.0.0.1:${truncTls.port}`,
  `truncstall.test::127.0.0.1:${truncTlsStall.port}`,
  `garbage.test::127.0.0.1:${garbageTls.port}`,
  `expired.test::127.0.0.1:${expired.port}`,
  `notyet.test::127.0.0.1:${notYet.port}`,
  `wrongname.test::127.0.0.1:${wrongName.port}`,
  `good.test::127.0.0.1:${good.port}`,
];
const IDLE = 800;
const logProxy = await startProxy({ connectTo: map, idleTimeout: IDLE, connectTimeout: 1000 });
const certs = await tempDir('ap-faults-certs-');
const inspectProxy = await startProxy({ mode: 'inspect', certs, upstreamCa: join(originCaDir, 'ca.pem'), connectTo: map, idleTimeout: IDLE, connectTimeout: 1000 });
const proxyCa = await readFile(join(certs, 'ca.pem'), 'utf8');
const parentProxy = await startProxy({ upstreamProxy: `http://127.0.0.1:${silentParent.port}`, connectTimeout: 300 });

t.teardown(async () => {
  await Promise.all([logProxy.stop(), inspectProxy.stop(), parentProxy.stop()]);
  await Promise.all([resetHttp, resetTunnel, stall, truncTls, truncTlsStall, garbageTls, silentParent, expired, notYet, wrongName, good].map((o) => o.close()));
  t.comment(`faults injected: ${faultsInjected}`);
});

/** Runs one fault scenario and checks that every fd it opened is closed again. */
function fault(name: string, fn: (t: Test) => Promise<void>): void {
  t.test(name, async (t) => {
    const before = fdCount();
    faultsInjected++;
    await fn(t);
    const after = await settleFds(before, 0, 4000);
    t.ok(after <= before, `no fd left behind (${before} → ${after})`);
  });
}

function plainGet(proxyPort: number, url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; complete: boolean; error: string | null; socketClosed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, path: url, agent: false, headers: { Host: new URL(url).host } });
    let socketClosed!: Promise<void>;
    req.on('socket', (s) => (socketClosed = new Promise((r) => s.once('close', () => r()))));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let error: string | null = null;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? 'error'));
      res.on('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete, error, socketClosed }));
    });
    req.on('error', reject);
    req.end();
  });
}

// ---- refused ----------------------------------------------------------------------------------------
fault('upstream refuses, plain HTTP → 502 upstream_unreachable', async (t) => {
  const r = await plainGet(logProxy.port, 'http://refused.test/');
  t.equal(r.status, 502);
  t.equal(r.headers['x-proxy-error'], 'upstream_unreachable');
  await r.socketClosed;
  const [rec] = await logProxy.waitFor('request', 1, (x) => x.host === 'refused.test');
  t.match(rec, { decision: 'deny', reason: 'upstream_unreachable', status: 502, error: 'ECONNREFUSED' });
});

for (const [label, p] of [['log', () => logProxy], ['inspect', () => inspectProxy]] as const) {
  fault(`upstream refuses, CONNECT (${label} mode) → 502 upstream_unreachable, client closed`, async (t) => {
    const a = await rawHttp(p().port, 'CONNECT refused.test:443 HTTP/1.1\r\nHost: refused.test:443\r\n\r\n', 3000, { untilClose: true });
    t.equal(a.status, 502);
    t.match(a.text, /X-Proxy-Error: upstream_unreachable/);
    t.ok(a.closed, 'the proxy closed the client connection');
    const recs = await p().waitFor('connect', 1, (x) => x.host === 'refused.test');
    t.match(recs[recs.length - 1], { decision: 'deny', reason: 'upstream_unreachable', error: 'ECONNREFUSED' });
  });
}

// ---- reset mid-body -----------------------------------------------------------------------------------
fault('upstream resets mid-body, plain HTTP: the client sees an aborted body, the record an error', async (t) => {
  const r = await plainGet(logProxy.port, 'http://reset.test/');
  t.equal(r.status, 200, 'the head had already been relayed');
  t.notOk(r.complete, 'the body is aborted, not silently short');
  t.ok(r.body.length < 100_000, `${r.body.length} of 100000 bytes`);
  await r.socketClosed;
  const [rec] = await logProxy.waitFor('request', 1, (x) => x.host === 'reset.test');
  t.type(rec!.error, 'string', `record error: ${rec!.error}`);
  t.ok(await settle(() => resetHttp.open() === 0, 2000), 'origin side closed');
});

fault('upstream resets mid-tunnel: both sides closed, one connect record with the error', async (t) => {
  const { socket } = await openTunnel(logProxy.port, 'resettun.test:443');
  let got = 0;
  socket.on('data', (c: Buffer) => (got += c.length));
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.write(HELLO);
  await closed;
  t.ok(got > 0 && got <= 1000, `the client got what was sent before the reset (${got} bytes), then the close`);
  const [rec] = await logProxy.waitFor('connect', 1, (x) => x.host === 'resettun.test');
  t.equal(rec!.decision, 'log');
  t.test(
    'the connect record carries the upstream error',
    async (t) => {
      t.equal(rec!.error, 'ECONNRESET');
    },
  );
  t.ok(await settle(() => logProxy.app.ctx.tunnels.size === 0, 2000), 'no tunnel left open');
  t.ok(await settle(() => resetTunnel.open() === 0, 2000), 'origin side closed');
});

// ---- stalls -------------------------------------------------------------------------------------------
fault('upstream stalls after connect, tunnel: idle timeout closes both sides and writes the record', async (t) => {
  const { socket } = await openTunnel(logProxy.port, 'stall.test:443');
  socket.on('error', () => {});
  const t0 = Date.now();
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.write(HELLO);
  await closed;
  const ms = Date.now() - t0;
  t.ok(ms >= IDLE - 50 && ms < IDLE + 2500, `closed after ${ms} ms (idleTimeout ${IDLE})`);
  const [rec] = await logProxy.waitFor('connect', 1, (x) => x.host === 'stall.test');
  t.equal(rec!.decision, 'log');
  t.ok(await settle(() => stall.open() === 0, 2000), 'the stalled upstream socket was closed by the proxy');
});

fault('upstream stalls after connect, plain HTTP: the client is not left hanging', async (t) => {
  const a = await rawHttp(logProxy.port, 'GET http://stall.test/ HTTP/1.1\r\nHost: stall.test\r\n\r\n', IDLE + 3000);
  t.notOk(a.timedOut, `the proxy ended it after ${a.ms} ms`);
  t.ok(await settle(() => stall.open() === 0, 2000), 'upstream socket closed');
  t.test(
    'and answers 504 upstream_timeout (a response timeout, like the connect timeout)',
    async (t) => {
      t.equal(a.status, 504);
      t.match(a.text, /X-Proxy-Error: upstream_timeout/);
    },
  );
});

fault('parent proxy never answers CONNECT → 504 upstream_timeout', async (t) => {
  const a = await rawHttp(parentProxy.port, 'CONNECT unknown.test:443 HTTP/1.1\r\nHost: unknown.test:443\r\n\r\n', 3000, { untilClose: true });
  t.equal(a.status, 504);
  t.match(a.text, /X-Proxy-Error: upstream_timeout/);
  t.ok(a.closed);
  t.ok(await settle(() => silentParent.open() === 0, 2000), 'the socket to the parent was closed');
});

// ---- TLS faults in inspect mode ----------------------------------------------------------------------------
/** CONNECT + TLS (trusting the proxy CA) + GET through the inspect proxy; status 0 = closed without an answer. */
async function inspectedGet(host: string): Promise<{ status: number; body: string; reason: string | null }> {
  const { socket } = await openTunnel(inspectProxy.port, `${host}:443`);
  socket.on('error', () => {});
  let s;
  try {
    s = await tlsOverTunnel(socket, host, proxyCa);
  } catch {
    socket.destroy();
    return { status: 0, body: '', reason: null };
  }
  s.on('error', () => {});
  const r = await getOver(s, host, '/').catch(() => ({ status: 0, body: Buffer.alloc(0) }));
  s.destroy();
  const body = r.body.toString();
  return { status: r.status, body, reason: /: (upstream_[a-z_]+)/.exec(body)?.[1] ?? null };
}

t.test('inspect: a healthy upstream works (control)', async (t) => {
  const r = await inspectedGet('good.test');
  t.equal(r.status, 200);
  t.equal(r.body, 'secret origin body');
});

for (const [host, why, code] of [
  ['expired.test', 'an expired certificate', 'CERT_HAS_EXPIRED'],
  ['notyet.test', 'a certificate not yet valid', 'CERT_NOT_YET_VALID'],
  ['wrongname.test', 'a certificate for another name', 'ERR_TLS_CERT_ALTNAME_INVALID'],
] as const) {
  fault(`inspect: ${why} → 502 upstream_tls_failed inside the tunnel`, async (t) => {
    const r = await inspectedGet(host);
    t.equal(r.status, 502);
    t.equal(r.reason, 'upstream_tls_failed');
    const [rec] = await inspectProxy.waitFor('request', 1, (x) => x.host === host);
    t.match(rec, { decision: 'inspect', reason: 'upstream_tls_failed', status: 502 });
    const [conn] = await inspectProxy.waitFor('connect', 1, (x) => x.host === host);
    t.match(conn, { decision: 'inspect', reason: 'upstream_tls_failed', error: code }, `the connect record says why (${code})`);
    t.test(
      'the request record says why too',
      async (t) => {
        t.equal(rec!.error, code);
      },
    );
  });
}

fault('inspect: the upstream answers plain HTTP instead of TLS → 502 upstream_tls_failed', async (t) => {
  const r = await inspectedGet('garbage.test');
  t.equal(r.status, 502);
  t.equal(r.reason, 'upstream_tls_failed');
});

fault('inspect: a truncated TLS record then FIN → 502 inside the tunnel (or closed)', async (t) => {
  const r = await inspectedGet('trunc.test');
  t.ok(r.status === 502 || r.status === 0, `status ${r.status} (${r.reason})`);
  t.ok(await settle(() => truncTls.open() === 0, 2000), 'origin side closed');
  t.test(
    'the reason is upstream_tls_failed',
    async (t) => {
      t.equal(r.reason, 'upstream_tls_failed');
    },
  );
});

fault('inspect: a truncated TLS record then silence → the tunnel is closed by the idle timeout', async (t) => {
  const t0 = Date.now();
  const r = await inspectedGet('truncstall.test');
  const ms = Date.now() - t0;
  t.ok(r.status === 502 || r.status === 504 || r.status === 0, `status ${r.status} after ${ms} ms`);
  t.ok(ms < IDLE + 3000, 'bounded by the idle timeout');
  t.ok(await settle(() => truncTlsStall.open() === 0, 3000), 'origin side closed');
});

// ---- DNS (pure; nothing is resolved) ---------------------------------------------------------------------
t.test('DNS failures map to 502 dns_failed (errno table, no lookup)', async (t) => {
  for (const code of ['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA', 'ENODATA']) {
    t.equal(reasonOfError({ code }), 'dns_failed', code);
  }
  t.equal(statusOf('dns_failed'), 502);
  t.equal(reasonOfError({ code: 'ECONNREFUSED' }), 'upstream_unreachable');
  t.equal(reasonOfError({ code: 'ETIMEDOUT' }), 'upstream_timeout');
  t.equal(statusOf('upstream_timeout'), 504);
  t.equal(reasonOfError({ code: 'CERT_HAS_EXPIRED' }), 'upstream_tls_failed');
  t.equal(reasonOfError(null), 'upstream_unreachable');
  t.equal(reasonOfError(undefined), 'upstream_unreachable');
  t.equal(reasonOfError('weird'), 'upstream_unreachable');
});

t.test('guardedLookup passes a resolver failure through unchanged (→ dns_failed), with an injected resolver', async (t) => {
  const real = dns.lookup;
  const calls: string[] = [];
  (dns as { lookup: unknown }).lookup = (host: string, _o: unknown, cb: (e: NodeJS.ErrnoException | null, a?: unknown) => void) => {
    calls.push(host);
    process.nextTick(() => cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' })));
  };
  try {
    const lookup = guardedLookup(createAddressSet(DEFAULT_DENY_DESTINATIONS));
    const err = await new Promise<NodeJS.ErrnoException | null>((r) => lookup('nowhere.invalid', {}, (e) => r(e)));
    t.equal(err?.code, 'ENOTFOUND');
    t.equal(reasonOfError(err), 'dns_failed');
    t.same(calls, ['nowhere.invalid'], 'the injected resolver was used');
  } finally {
    (dns as { lookup: unknown }).lookup = real;
  }
});

t.test('after all faults the proxies still serve', async (t) => {
  await sleep(10);
  const r = await inspectedGet('good.test');
  t.equal(r.status, 200);
});
