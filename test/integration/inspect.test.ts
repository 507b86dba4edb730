// --mode inspect through the real proxy: minted certificates from the run's proxy CA, verified upstream,
// per-request records, upstream TLS failures answered inside the tunnel as 502 upstream_tls_failed.
import t from 'tap';
import https from 'node:https';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTestPki } from '../helpers/pki.js';
import { startHttpsOrigin, patternBytes, sha256 } from '../helpers/origins.js';
import { startProxy } from '../helpers/proxy.js';
import { curl, openTunnel, tlsOverTunnel } from '../helpers/clients.js';
import { tempDir } from '../helpers/temp.js';

const pki = await createTestPki();
const good = await startHttpsOrigin(await pki.issue(['unknown.test', 'second.test']));
const selfSigned = await startHttpsOrigin(await pki.issue(['selfsigned.test'], { ca: 'self' }));
const wrongName = await startHttpsOrigin(await pki.issue(['someone-else.test']));
const oldTls = https.createServer({ ...(await pki.issue(['old.test'])), minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' }, (_q, s) => s.end('old'));
await new Promise<void>((r) => oldTls.listen(0, '127.0.0.1', () => r()));
const oldPort = (oldTls.address() as { port: number }).port;
const certs = await tempDir('ap-certs-');
const proxy = await startProxy({
  mode: 'inspect',
  certs,
  upstreamCa: pki.caFile,
  connectTo: [
    `unknown.test:443:127.0.0.1:${good.port}`,
    `second.test:443:127.0.0.1:${good.port}`,
    `selfsigned.test:443:127.0.0.1:${selfSigned.port}`,
    `wrongname.test:443:127.0.0.1:${wrongName.port}`,
    `old.test:443:127.0.0.1:${oldPort}`,
  ],
});
const proxyCa = await readFile(join(certs, 'ca.pem'), 'utf8');
const proxyCaFile = join(certs, 'ca.pem');
t.teardown(async () => {
  await proxy.stop();
  await Promise.all([good.close(), selfSigned.close(), wrongName.close()]);
  oldTls.closeAllConnections();
  oldTls.close();
});

t.test('the CA was created on first start, key mode 0600', async (t) => {
  const { stat } = await import('node:fs/promises');
  t.equal((await stat(join(certs, 'ca.key'))).mode & 0o777, 0o600);
});

t.test('curl --cacert <proxy CA> sees a minted certificate and gets the body; records per request', async (t) => {
  const size = 2 * 1024 * 1024;
  const r = await curl(['--cacert', proxyCaFile, '-x', proxy.url, `https://unknown.test/bytes/${size}?q=secret`, `https://unknown.test/tiny`]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.length, size + 5);
  t.equal(sha256(r.stdout.subarray(0, size)), sha256(patternBytes(0, size)));
  const reqs = await proxy.waitFor('request', 2, (x) => x.host === 'unknown.test');
  t.match(reqs[0], { decision: 'inspect', inTunnel: true, method: 'GET', url: `https://unknown.test/bytes/${size}`, status: 200 });
  t.match(reqs[1], { url: 'https://unknown.test/tiny', status: 200 });
  t.equal(reqs[0]!.connId, reqs[1]!.connId, 'both requests share the tunnel (keep-alive)');
  const [conn] = await proxy.waitFor('connect', 1, (x) => x.host === 'unknown.test');
  t.match(conn, { decision: 'inspect', reason: 'default', connId: reqs[0]!.connId, sni: 'unknown.test' });
  t.notMatch(JSON.stringify(proxy.records), 'secret');
});

t.test('the presented leaf is issued by the proxy CA with SAN = host', async (t) => {
  const { socket } = await openTunnel(proxy.port, 'second.test:443');
  const s = await tlsOverTunnel(socket, 'second.test', proxyCa);
  const cert = s.getPeerCertificate();
  t.match(cert.issuer.CN, /autopatch-proxy/);
  t.equal(cert.subjectaltname, 'DNS:second.test');
  t.equal(s.getProtocol(), 'TLSv1.3');
  const days = (Date.parse(cert.valid_to) - Date.parse(cert.valid_from)) / 86400000;
  t.ok(days <= 397, `validity ${days} days ≤ 397`);
  s.destroy();
});

for (const [host, what] of [
  ['selfsigned.test', 'an untrusted (self-signed) upstream certificate'],
  ['wrongname.test', 'an upstream certificate for another name'],
  ['old.test', 'an upstream that only speaks TLS 1.0/1.1'],
] as const) {
  t.test(`${what} → 502 upstream_tls_failed inside the tunnel`, async (t) => {
    const r = await curl(['--cacert', proxyCaFile, '-x', proxy.url, '-D', '-', `https://${host}/tiny`]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout.toString(), /^HTTP\/1\.1 502 /m);
    t.match(r.stdout.toString(), /X-Proxy-Error: upstream_tls_failed/i);
    const [rec] = await proxy.waitFor('request', 1, (x) => x.host === host);
    t.match(rec, { decision: 'inspect', reason: 'upstream_tls_failed', status: 502 });
    t.type(rec!.error, 'string', 'the record says why');
  });
}

t.test('a client that does not trust the proxy CA is logged as client_rejected_certificate', async (t) => {
  const r = await curl(['-x', proxy.url, '--cacert', pki.caFile, 'https://second.test/tiny']);
  t.not(r.code, 0, 'curl refuses the minted certificate');
  const recs = await proxy.waitFor('connect', 1, (x) => x.host === 'second.test' && x.reason === 'client_rejected_certificate');
  t.equal(recs[0]!.decision, 'inspect');
});

t.test('60 concurrent new inspected tunnels, each with an immediate request (upstream handshake race)', async (t) => {
  const { getOver } = await import('../helpers/clients.js');
  const one = async () => {
    const { socket } = await openTunnel(proxy.port, 'second.test:443');
    const s = await tlsOverTunnel(socket, 'second.test', proxyCa);
    return (await getOver(s, 'second.test', '/tiny')).status;
  };
  const statuses = await Promise.all(Array.from({ length: 60 }, one));
  t.same([...new Set(statuses)], [200], 'every request answered 200');
});

t.test('WebSocket-style upgrade inside an inspected tunnel is spliced after the 101', async (t) => {
  const wsCert = await pki.issue(['ws.test']);
  const https = await import('node:https');
  const ws = https.createServer({ ...wsCert, minVersion: 'TLSv1.2' });
  ws.on('upgrade', (req, socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
    socket.on('data', (d: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), d])));
  });
  await new Promise<void>((r) => ws.listen(0, '127.0.0.1', () => r()));
  const wsPort = (ws.address() as { port: number }).port;
  const certs2 = await tempDir('ap-certs-ws-');
  const p = await startProxy({ mode: 'inspect', certs: certs2, upstreamCa: pki.caFile, connectTo: [`ws.test:443:127.0.0.1:${wsPort}`] });
  t.teardown(async () => {
    await p.stop();
    ws.closeAllConnections();
    ws.close();
  });
  const { socket } = await openTunnel(p.port, 'ws.test:443');
  const s = await tlsOverTunnel(socket, 'ws.test', await readFile(join(certs2, 'ca.pem'), 'utf8'));
  let got = '';
  const seen = new Promise<void>((resolve) => {
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes('echo:ping')) resolve();
    });
  });
  s.write('GET /chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
  await new Promise((r) => setTimeout(r, 200));
  s.write('ping');
  await seen;
  t.match(got, /^HTTP\/1\.1 101 /);
  t.match(got, /echo:ping/);
  s.destroy();
});
