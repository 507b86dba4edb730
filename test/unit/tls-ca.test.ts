// CA creation, loading and export against temp dirs: file modes, overwrite refusal, typed error codes.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';
import forge from 'node-forge';
import t, { type Test } from 'tap';
import { CertError, ensureCa, exportCa, initCa, loadCa } from '../../src/tls/ca.js';
import { tempDir as processTempDir } from '../helpers/temp.js';

async function tempDir(t: Test): Promise<string> {
  const dir = await processTempDir('autopatch-ca-');
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

async function rejectsWithCode(t: Test, p: Promise<unknown>, code: string): Promise<CertError | undefined> {
  try {
    await p;
    t.fail(`expected CertError ${code}`);
  } catch (e) {
    t.equal(e instanceof CertError, true, 'a CertError');
    t.equal((e as CertError).code, code);
    return e as CertError;
  }
  return undefined;
}

const skipModes = process.platform === 'win32' ? 'POSIX file modes' : false;

t.test('initCa creates ca.pem and a 0600 ca.key with CA extensions', async (t) => {
  const dir = await tempDir(t);
  const ca = await initCa(path.join(dir, 'certs'), { subject: { commonName: 'Test CA', organization: 'Test Org' } });
  t.equal(ca.created, true);
  const keyStat = await fs.stat(ca.keyPath);
  if (!skipModes) t.equal(keyStat.mode & 0o777, 0o600, 'key mode 0600');
  t.same((await fs.readdir(path.dirname(ca.keyPath))).sort(), ['ca.key', 'ca.pem'], 'no temp files left');

  const x = new crypto.X509Certificate(await fs.readFile(ca.certPath));
  t.equal(x.ca, true, 'CA:TRUE');
  t.match(x.subject, /CN=Test CA/);
  t.match(x.subject, /O=Test Org/);
  t.equal(x.verify(x.publicKey), true, 'self-signature (Node crypto) verifies');
  const years = (Date.parse(x.validTo) - Date.parse(x.validFrom)) / (365.25 * 864e5);
  t.ok(years > 9.9 && years < 10.1, `10-year validity (${years.toFixed(2)})`);
  t.ok(Date.parse(x.validFrom) < Date.now() - 30 * 60e3, 'backdated');

  const cert = forge.pki.certificateFromPem(ca.certPem);
  const bc = cert.getExtension('basicConstraints') as { cA: boolean; critical: boolean };
  t.equal(bc.cA, true);
  t.equal(bc.critical, true, 'basicConstraints critical');
  const ku = cert.getExtension('keyUsage') as { keyCertSign: boolean; cRLSign: boolean; critical: boolean; digitalSignature?: boolean };
  t.equal(ku.keyCertSign && ku.cRLSign && ku.critical, true, 'keyCertSign+cRLSign critical');
  t.ok(cert.getExtension('subjectKeyIdentifier'), 'subjectKeyIdentifier');
  t.equal(cert.verify(cert), true, 'forge verifies the Node-made signature');
  t.equal(cert.signatureOid, forge.pki.oids.sha256WithRSAEncryption);
});

t.test('default subject names the host and the project', async (t) => {
  const ca = await initCa(await tempDir(t));
  const x = new crypto.X509Certificate(ca.certPem);
  t.match(x.subject, `CN=autopatch-proxy CA (${os.hostname()})`.slice(0, 67));
  t.match(x.subject, /O=autopatch-proxy/);
});

t.test('the key stays out of JSON and inspect output', async (t) => {
  const ca = await initCa(await tempDir(t));
  const shown = JSON.stringify(ca) + util.inspect(ca, { depth: 0 });
  t.notMatch(shown, /PRIVATE KEY/);
  t.match(ca.keyPem, /BEGIN PRIVATE KEY/, 'still reachable by name');
  t.equal(ca.key.asymmetricKeyType, 'rsa');
});

t.test('initCa refuses to overwrite without force; force replaces', async (t) => {
  const dir = await tempDir(t);
  const first = await initCa(dir);
  const err = await rejectsWithCode(t, initCa(dir), 'ca_exists');
  t.match(err?.message, /--force/);
  t.equal(await fs.readFile(path.join(dir, 'ca.pem'), 'utf8'), first.certPem, 'untouched');

  await fs.rm(path.join(dir, 'ca.pem'));
  await rejectsWithCode(t, initCa(dir), 'ca_exists'); // the key alone also blocks

  const second = await initCa(dir, { force: true });
  t.not(second.certPem, first.certPem);
  t.equal(await fs.readFile(path.join(dir, 'ca.pem'), 'utf8'), second.certPem);
  const loaded = await loadCa(dir);
  t.equal(loaded.certPem, second.certPem, 'loaded pair is the new one');
  if (!skipModes) t.equal((await fs.stat(second.keyPath)).mode & 0o777, 0o600);
});

t.test('loadCa', async (t) => {
  const dir = await tempDir(t);
  await rejectsWithCode(t, loadCa(dir), 'ca_missing');
  const made = await initCa(dir);

  const loaded = await loadCa(dir);
  t.equal(loaded.created, false);
  t.equal(loaded.certPem, made.certPem);
  t.equal(loaded.keyPem, made.keyPem);
  t.equal(loaded.notAfter.getTime(), made.notAfter.getTime());

  t.test('group/world-readable key is refused with the fix', { skip: skipModes }, async (t) => {
    await fs.chmod(made.keyPath, 0o644);
    const err = await rejectsWithCode(t, loadCa(dir), 'ca_key_permissions');
    t.match(err?.message, made.keyPath);
    t.match(err?.message, `chmod 600 ${made.keyPath}`);
    await fs.chmod(made.keyPath, 0o640);
    await rejectsWithCode(t, loadCa(dir), 'ca_key_permissions');
    await fs.chmod(made.keyPath, 0o600);
  });

  t.test('a key that is not the certificate\'s', async (t) => {
    const other = await initCa(await tempDir(t));
    const d = await tempDir(t);
    await fs.writeFile(path.join(d, 'ca.pem'), made.certPem);
    await fs.writeFile(path.join(d, 'ca.key'), other.keyPem, { mode: 0o600 });
    await rejectsWithCode(t, loadCa(d), 'ca_key_mismatch');
  });

  t.test('incomplete and invalid material', async (t) => {
    const d = await tempDir(t);
    await fs.writeFile(path.join(d, 'ca.pem'), made.certPem);
    const err = await rejectsWithCode(t, loadCa(d), 'ca_incomplete');
    t.match(err?.message, 'ca.key');
    await fs.writeFile(path.join(d, 'ca.key'), 'not a key', { mode: 0o600 });
    await rejectsWithCode(t, loadCa(d), 'ca_invalid');
    await fs.writeFile(path.join(d, 'ca.pem'), 'not a cert');
    await rejectsWithCode(t, loadCa(d), 'ca_invalid');
  });
});

t.test('ensureCa creates once, then loads', async (t) => {
  const dir = path.join(await tempDir(t), 'nested', 'certs');
  const a = await ensureCa(dir);
  t.equal(a.created, true);
  const b = await ensureCa(dir);
  t.equal(b.created, false);
  t.equal(b.certPem, a.certPem);
  if (!skipModes) t.equal((await fs.stat(dir)).mode & 0o077, 0, 'created dir is private');

  const both = await Promise.all([ensureCa(path.join(dir, 'x')), ensureCa(path.join(dir, 'x'))]);
  t.ok(both.some((c) => c.created), 'one of two racing starts creates');
  const final = await loadCa(path.join(dir, 'x'));
  t.ok(both.some((c) => c.certPem === final.certPem), 'the surviving pair is consistent');
});

t.test('a start that finds the key of a CA still being written (--workers starting together) waits for its certificate', async (t) => {
  const src = await initCa(await tempDir(t));
  const dir = await tempDir(t);
  // the state a racing creator leaves between its two writes: a fresh key, no certificate yet
  await fs.writeFile(path.join(dir, 'ca.key'), src.keyPem, { mode: 0o600 });
  setTimeout(() => void fs.writeFile(path.join(dir, 'ca.pem'), src.certPem, { mode: 0o644 }), 200);
  const ca = await ensureCa(dir);
  t.equal(ca.created, false);
  t.equal(ca.certPem, src.certPem, 'loaded the pair once it was complete');
});

t.test('ensureCa does not paper over an incomplete CA', async (t) => {
  const dir = await tempDir(t);
  const ca = await initCa(dir);
  await fs.rm(ca.certPath);
  await rejectsWithCode(t, ensureCa(dir), 'ca_incomplete');
});

t.test('exportCa PEM and DER', async (t) => {
  const dir = await tempDir(t);
  await rejectsWithCode(t, exportCa(dir), 'ca_missing');
  const ca = await initCa(dir);
  await fs.chmod(ca.keyPath, 0o644); // export never reads the key
  const pem = await exportCa(dir);
  t.match(pem.toString(), /^-----BEGIN CERTIFICATE-----\n/);
  t.equal(new crypto.X509Certificate(pem).fingerprint256, new crypto.X509Certificate(ca.certPem).fingerprint256);
  const der = await exportCa(dir, { der: true });
  t.equal(der[0], 0x30, 'DER SEQUENCE');
  t.same(der, new crypto.X509Certificate(ca.certPem).raw);
  await fs.writeFile(ca.certPath, 'garbage');
  await rejectsWithCode(t, exportCa(dir), 'ca_invalid');
});
