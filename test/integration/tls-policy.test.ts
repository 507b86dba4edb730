// TLS policy on tunnels the proxy does not decrypt: TLS < 1.2 refused with a protocol_version alert on
// every path, SNI vs CONNECT host, plain bytes in a tunnel. Real clients: openssl s_client and Node.
import t from 'tap';
import { execFile } from 'node:child_process';
import tls from 'node:tls';
import { createTestPki } from '../helpers/pki.js';
import { startHttpsOrigin } from '../helpers/origins.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { openTunnel, tlsOverTunnel, getOver } from '../helpers/clients.js';
import { tempDir } from '../helpers/temp.js';

const pki = await createTestPki();
const origin = await startHttpsOrigin(await pki.issue(['origin.test', 'other.test']), { minVersion: 'TLSv1' });
const map = [`origin.test:443:127.0.0.1:${origin.port}`, `other.test:443:127.0.0.1:${origin.port}`];
const logProxy = await startProxy({ connectTo: map });
const inspectProxy = await startProxy({ connectTo: map, mode: 'inspect', certs: await tempDir('ap-c-'), upstreamCa: pki.caFile });
t.teardown(async () => {
  await logProxy.stop();
  await inspectProxy.stop();
  await origin.close();
});

function sClient(proxy: TestProxy, args: string[]): Promise<{ out: string; code: number }> {
  return new Promise((resolve) => {
    const child = execFile('openssl', ['s_client', '-proxy', `127.0.0.1:${proxy.port}`, '-connect', 'origin.test:443', '-CAfile', pki.caFile, ...args], { timeout: 10000 }, (err, stdout, stderr) => {
      resolve({ out: stdout + stderr, code: err ? ((err as { code?: number }).code ?? 1) : 0 });
    });
    child.stdin!.end('');
  });
}

for (const [name, proxy] of [['log', logProxy], ['inspect', inspectProxy]] as const) {
  for (const v of ['-tls1', '-tls1_1']) {
    t.test(`${name} path: openssl s_client ${v} gets a protocol_version alert and a deny record`, async (t) => {
      const r = await sClient(proxy, [v, '-cipher', 'DEFAULT:@SECLEVEL=0', '-servername', 'origin.test']);
      t.match(r.out, /alert protocol version|alert number 70/);
      const recs = await proxy.waitFor('connect', 1, (x) => x.reason === 'tls_version_too_low' && x.tlsVersion === (v === '-tls1' ? 'TLSv1' : 'TLSv1.1'));
      t.match(recs[0], { decision: 'deny', host: 'origin.test', sni: 'origin.test' });
    });
  }
}

for (const v of ['-tls1_2', '-tls1_3']) {
  t.test(`log path: openssl s_client ${v} passes untouched (origin's certificate, verified)`, async (t) => {
    const r = await sClient(logProxy, [v, '-servername', 'origin.test', '-verify_return_error']);
    t.match(r.out, /Verify return code: 0 \(ok\)/);
    t.match(r.out, /subject=.*CN ?= ?origin\.test/);
  });
}

t.test('Node client with maxVersion TLSv1.1 is refused (ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION)', async (t) => {
  const { socket } = await openTunnel(logProxy.port, 'origin.test:443');
  const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
    const s = tls.connect({ socket, servername: 'origin.test', ca: pki.caPem, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' });
    s.on('error', resolve);
    s.on('secureConnect', () => resolve(Object.assign(new Error('connected'), { code: 'CONNECTED' })));
  });
  t.equal(err.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
});

t.test('SNI naming another host than the CONNECT is recorded as sni_mismatch (never bypass)', async (t) => {
  const r = await sClient(logProxy, ['-tls1_2', '-servername', 'other.test']);
  t.match(r.out, /CONNECTED/);
  const recs = await logProxy.waitFor('connect', 1, (x) => x.reason === 'sni_mismatch');
  t.match(recs[0], { host: 'origin.test', sni: 'other.test' });
  t.not(recs[0]!.decision, 'bypass');
});

t.test('no SNI on a name-based CONNECT: allowed and logged with sni null', async (t) => {
  const r = await sClient(logProxy, ['-tls1_2', '-noservername']);
  t.match(r.out, /CONNECTED/);
  const recs = await logProxy.waitFor('connect', 1, (x) => x.host === 'origin.test' && x.sni === null && x.tlsVersion === 'TLSv1.2');
  t.equal(recs[0]!.decision, 'log');
});

t.test('plain HTTP inside a tunnel in log mode: spliced, recorded as not_tls', async (t) => {
  const { socket } = await openTunnel(logProxy.port, 'origin.test:443');
  socket.on('error', () => {});
  socket.write('GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n');
  const recs = await logProxy.waitFor('connect', 1, (x) => x.reason === 'not_tls');
  t.equal(recs[0]!.decision, 'log');
});

t.test('plain HTTP inside a tunnel in inspect mode: denied not_tls', async (t) => {
  const { socket } = await openTunnel(inspectProxy.port, 'origin.test:443');
  socket.on('error', () => {});
  socket.write('GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n');
  const recs = await inspectProxy.waitFor('connect', 1, (x) => x.reason === 'not_tls');
  t.equal(recs[0]!.decision, 'deny');
});

t.test('TLS 1.2 client through a raw tunnel still verifies the origin', async (t) => {
  const { socket } = await openTunnel(logProxy.port, 'origin.test:443');
  const s = await tlsOverTunnel(socket, 'origin.test', pki.caPem, { maxVersion: 'TLSv1.2' });
  t.equal(s.getProtocol(), 'TLSv1.2');
  const r = await getOver(s, 'origin.test', '/tiny');
  t.equal(r.status, 200);
});
