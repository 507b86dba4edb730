// node-forge is loaded only where a CA is used (--mode inspect, `ca init`): a log-mode proxy serving
// /ca.pem to enrolling devices never loads it (src/tls/ca-file.ts). Checked on the CommonJS module cache of
// this process, where the in-process proxy's imports of node-forge would land.
import t from 'tap';
import http from 'node:http';
import { X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import { createTestPki } from '../helpers/pki.js';
import { startProxy } from '../helpers/proxy.js';

const cache = createRequire(import.meta.url).cache;
const forgeLoaded = () => Object.keys(cache).some((k) => k.includes('/node_modules/node-forge/'));

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

t.test('log mode: start and /ca.pem without node-forge', async (t) => {
  const pki = await createTestPki(); // openssl CLI: ca.pem and ca.key in pki.dir
  const p = await startProxy({ mode: 'log', admin: '127.0.0.1:0', certs: pki.dir });
  t.teardown(() => p.stop());
  t.notOk(forgeLoaded(), 'not loaded by the start');
  const r = await get(p.adminPort!, '/ca.pem');
  t.equal(r.status, 200);
  t.equal(new X509Certificate(r.body).fingerprint256, new X509Certificate(pki.caPem).fingerprint256, 'the CA certificate');
  t.notMatch(r.body, /PRIVATE KEY/, 'never the key');
  t.notOk(forgeLoaded(), 'not loaded by /ca.pem');
  // the check sees forge once something loads it (so the two assertions above can fail)
  await import('../../src/tls/ca.js');
  t.ok(forgeLoaded(), 'loaded with tls/ca.ts');
});
