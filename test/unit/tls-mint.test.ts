// Leaf minting: certificate fields, forge/Node verification, and real handshakes on loopback
// (Node tls client and curl trusting only the test CA, verification on).
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import forge from 'node-forge';
import t from 'tap';
import { type Ca, CertError, initCa } from '../../src/tls/ca.js';
import { createMinter, MAX_LEAF_VALIDITY_DAYS, type MintedLeaf, normalizeCertHost } from '../../src/tls/mint.js';
import { serverSocketOptions } from '../../src/tls/options.js';
import { tempDir } from '../helpers/temp.js';

const DAY = 864e5;
const dir = await tempDir('autopatch-mint-');
t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
const ca: Ca = await initCa(dir);
const caX509 = new crypto.X509Certificate(ca.certPem);
const minter = await createMinter(ca);

function x509(leaf: MintedLeaf) {
  return new crypto.X509Certificate(leaf.certPem);
}

t.test('DNS leaf: subject, SAN, issuer, usages, validity, signature', async (t) => {
  const before = Date.now();
  const leaf = await minter.mint('WWW.Example.COM.');
  t.equal(leaf.host, 'www.example.com', 'normalised');
  const x = x509(leaf);
  t.equal(x.subject, 'CN=www.example.com');
  t.equal(x.subjectAltName, 'DNS:www.example.com');
  t.equal(x.checkHost('www.example.com'), 'www.example.com');
  t.equal(x.issuer, caX509.subject, 'issuer = CA subject');
  t.equal(x.checkIssued(caX509), true);
  t.equal(x.verify(caX509.publicKey), true, 'Node verifies the signature');
  t.equal(x.ca, false, 'CA:FALSE');
  t.same(x.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extKeyUsage serverAuth only');

  const from = Date.parse(x.validFrom);
  const to = Date.parse(x.validTo);
  t.ok(to - from <= MAX_LEAF_VALIDITY_DAYS * DAY, 'validity ≤ 397 days');
  t.ok(to - from >= MAX_LEAF_VALIDITY_DAYS * DAY - 1000, 'default is the maximum');
  t.ok(from <= before - 59 * 60e3 && from >= before - 61 * 60e3, 'notBefore backdated one hour');
  t.equal(leaf.notBefore.getTime(), from);
  t.equal(leaf.notAfter.getTime(), to);

  const serial = x.serialNumber;
  t.equal(serial.length, 32, '16-byte serial');
  t.ok(parseInt(serial[0]!, 16) < 8, 'positive');
  t.equal(serial.toLowerCase(), leaf.serialHex);

  const cert = forge.pki.certificateFromPem(leaf.certPem);
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  t.equal(caCert.verify(cert), true, 'forge caCert.verify(leaf)');
  t.equal(cert.signatureOid, forge.pki.oids.sha256WithRSAEncryption);
  const ku = cert.getExtension('keyUsage') as Record<string, boolean>;
  t.equal(ku.digitalSignature && ku.keyEncipherment && !ku.keyCertSign, true, 'keyUsage');
  const caSki = (caCert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier: string }).subjectKeyIdentifier;
  const aki = cert.getExtension('authorityKeyIdentifier') as { value: string };
  t.ok(forge.util.bytesToHex(aki.value).includes(caSki), 'authorityKeyIdentifier = CA subjectKeyIdentifier');
  const ski = cert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier: string };
  t.equal(ski.subjectKeyIdentifier, cert.generateSubjectKeyIdentifier().toHex(), 'subjectKeyIdentifier');
});

t.test('IP literals get iPAddress SANs', async (t) => {
  const v4 = x509(await minter.mint('10.1.2.3'));
  t.equal(v4.subjectAltName, 'IP Address:10.1.2.3');
  t.equal(v4.checkIP('10.1.2.3'), '10.1.2.3');
  const v6leaf = await minter.mint('[2603:1006::1]');
  t.equal(v6leaf.host, '2603:1006::1');
  const v6 = x509(v6leaf);
  t.match(v6.subjectAltName, /^IP Address:2603:1006:0:0:0:0:0:1$/i);
  t.equal(v6.checkIP('2603:1006::1'), '2603:1006::1');
  t.equal(x509(await minter.mint('::1')).checkIP('::1'), '::1');
});

t.test('a long name: CN truncated to 64, SAN complete', async (t) => {
  const host = `${'a'.repeat(60)}.${'b'.repeat(60)}.example.com`;
  const x = x509(minter.mintSync(host));
  t.equal(x.subject, `CN=${host.slice(0, 64)}`);
  t.equal(x.subjectAltName, `DNS:${host}`);
  t.equal(x.checkHost(host), host);
});

t.test('every leaf shares the key, never the serial', async (t) => {
  const leaves = await Promise.all(['a.test', 'b.test', 'a.test'].map((h) => minter.mint(h)));
  t.equal(new Set(leaves.map((l) => l.keyPem)).size, 1);
  t.equal(new Set(leaves.map((l) => l.serialHex)).size, 3);
  t.equal(leaves[0]!.keyPem, minter.keyPem);
  const pub = crypto.createPublicKey(minter.keyPem).export({ type: 'spki', format: 'der' });
  t.same(x509(leaves[1]!).publicKey.export({ type: 'spki', format: 'der' }), pub);
});

t.test('bad host names and options are typed errors', async (t) => {
  for (const bad of ['', 'bad host', 'a..b', '-a.test', 'a_b:443', 'fe80::1%eth0', `${'a'.repeat(64)}.test`, 'ünicode.test']) {
    t.throws(() => minter.mintSync(bad), { code: 'invalid_host' }, JSON.stringify(bad));
  }
  await t.rejects(minter.mint('bad host'), { code: 'invalid_host' }, 'async form rejects');
  t.same(normalizeCertHost('XN--BCHER-KVA.example.'), { name: 'xn--bcher-kva.example', ip: 0 });
  for (const validityDays of [0, 398, 1.5]) {
    await t.rejects(createMinter(ca, { validityDays }), CertError);
  }
  await t.rejects(createMinter(ca, { backdateMinutes: -1 }), { code: 'invalid_option' });
});

t.test('validity and backdate options, injected clock', async (t) => {
  const now = Date.UTC(2030, 0, 1, 12, 0, 0);
  const m = await createMinter(ca, { validityDays: 30, backdateMinutes: 5, now: () => now });
  const leaf = m.mintSync('clock.test');
  t.equal(leaf.notBefore.getTime(), now - 5 * 60e3);
  t.equal(leaf.notAfter.getTime(), now - 5 * 60e3 + 30 * DAY);
  t.equal(m.validityDays, 30);
});

async function listen(server: tls.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function handshake(opts: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect(opts, () => resolve(s));
    s.once('error', reject);
  });
}

t.test('Node TLS: a client trusting only the test CA accepts minted leaves', async (t) => {
  const leaf = await minter.mint('inspect.example.test');
  const server = tls.createServer({ ...serverSocketOptions(), key: leaf.keyPem, cert: leaf.certPem }, (s) => {
    s.on('error', () => {});
    s.end('hello');
  });
  t.teardown(() => server.close());
  const port = await listen(server);

  const ok = await handshake({ host: '127.0.0.1', port, servername: 'inspect.example.test', ca: [ca.certPem] });
  t.equal(ok.authorized, true, 'verification on and passed');
  t.equal(ok.alpnProtocol, false, 'client offered no ALPN');
  const body = await new Promise<string>((resolve) => {
    let b = '';
    ok.on('data', (d: Buffer) => (b += d)).on('end', () => resolve(b));
  });
  t.equal(body, 'hello');
  t.match(ok.getProtocol(), /^TLSv1\.[23]$/);

  await t.rejects(handshake({ host: '127.0.0.1', port, servername: 'inspect.example.test' }),
    { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'not trusted without the CA');
  await t.rejects(handshake({ host: '127.0.0.1', port, servername: 'other.example.test', ca: [ca.certPem] }),
    { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'name checked');
});

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['--silent', '--show-error', '--max-time', '10', '--noproxy', '*', ...args], (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

const hasCurl = await new Promise<boolean>((r) => execFile('curl', ['--version'], (e) => r(!e)));

t.test('curl --cacert accepts minted leaves (DNS and IP)', { skip: hasCurl ? false : 'curl not installed' }, async (t) => {
  const caFile = path.join(dir, 'ca.pem');
  const dnsLeaf = await minter.mint('curl.example.test');
  const ipLeaf = await minter.mint('127.0.0.1');
  const dnsContext = tls.createSecureContext({ key: dnsLeaf.keyPem, cert: dnsLeaf.certPem });
  const server = https.createServer({
    ...serverSocketOptions(),
    // no SNI (IP literal): a tls.Server uses its own key/cert (it ignores a `secureContext` option)
    key: ipLeaf.keyPem,
    cert: ipLeaf.certPem,
    SNICallback: (name, cb) => cb(null, name === 'curl.example.test' ? dnsContext : undefined),
  }, (req, res) => res.end(`ok ${req.headers.host}`));
  t.teardown(() => server.close());
  const port = await listen(server);

  const dns = await curl(['--cacert', caFile, '--resolve', `curl.example.test:${port}:127.0.0.1`, `https://curl.example.test:${port}/`]);
  t.equal(dns.code, 0, dns.stderr);
  t.equal(dns.stdout, `ok curl.example.test:${port}`);
  const ip = await curl(['--cacert', caFile, `https://127.0.0.1:${port}/`]);
  t.equal(ip.code, 0, ip.stderr);
  const untrusted = await curl(['--resolve', `curl.example.test:${port}:127.0.0.1`, `https://curl.example.test:${port}/`]);
  t.equal(untrusted.code, 60, 'curl without the CA refuses (exit 60)');
});

t.test('mint cost', async (t) => {
  const times = (n: number, f: (i: number) => void) => Array.from({ length: n }, (_, i) => {
    const a = performance.now();
    f(i);
    return performance.now() - a;
  }).sort((a, b) => a - b);
  times(20, (i) => minter.mintSync(`warm${i}.test`));
  const sync = times(200, (i) => minter.mintSync(`host${i}.example.test`));
  const p50 = sync[100]!;
  const p99 = sync[198]!;
  t.comment(`mintSync p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms`);
  // generous bound for a noisy 2-core CI machine; forge's own signing takes 26–63 ms
  t.ok(p50 < 10, `mintSync p50 ${p50.toFixed(2)} ms < 10 ms`);
});
