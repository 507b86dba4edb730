// Inspection CA: create (node-forge builds, Node's crypto generates the key and signs), load, export.
// Files only (ca.pem, ca.key with mode 0600, written atomically); no sockets, no logging, and the key
// never leaves this object except through its non-enumerable fields (so it cannot end up in a log).
import crypto, { type KeyObject } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import forge from 'node-forge';
import { CertError } from './cert-host.js';
import { CA_CERT_FILE, CA_KEY_FILE, caPaths as paths, errno, readCaFile } from './ca-file.js';

export { CA_CERT_FILE, CA_KEY_FILE, exportCa } from './ca-file.js';
export const CA_KEY_BITS = 2048;
export const CA_VALIDITY_YEARS = 10;
/** Clocks of enrolled devices drift; a CA valid "from now" would be rejected by a device running behind. */
export const CA_BACKDATE_MS = 60 * 60 * 1000;

export { CertError, type CertErrorCode } from './cert-host.js';

export interface Ca {
  readonly dir: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly certPem: string;
  readonly cert: forge.pki.Certificate;
  readonly notAfter: Date;
  /** true when this call created the CA (for a "created CA at …" message). */
  readonly created: boolean;
  /** Non-enumerable: absent from JSON.stringify, spreads and util.inspect. */
  readonly keyPem: string;
  /** Non-enumerable. The signing key for leaves (crypto.sign). */
  readonly key: KeyObject;
}

export interface CaSubject { commonName?: string; organization?: string }
export interface InitCaOptions { force?: boolean; subject?: CaSubject }

const SHA256_RSA = forge.pki.oids.sha256WithRSAEncryption!;
// Missing from @types/node-forge, present in node-forge 1.x (lib/x509.js).
const getTbs = (forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 })
  .getTBSCertificate;

/** Sets sha256WithRSAEncryption and returns the DER TBSCertificate that must be signed. */
export function tbsBytes(cert: forge.pki.Certificate): Buffer {
  cert.signatureOid = cert.siginfo.algorithmOid = SHA256_RSA;
  cert.tbsCertificate = getTbs(cert);
  return Buffer.from(forge.asn1.toDer(cert.tbsCertificate).getBytes(), 'binary');
}

/**
 * Signs with Node's native RSA (PKCS#1 v1.5, SHA-256) instead of forge's pure-JS sign, which blocks
 * the event loop for 26–63 ms; the callback form runs in libuv's threadpool (Node ≥ 15.12).
 */
export async function signCertificate(cert: forge.pki.Certificate, key: KeyObject): Promise<void> {
  const tbs = tbsBytes(cert);
  const sig = await new Promise<Buffer>((resolve, reject) =>
    crypto.sign('sha256', tbs, key, (err, out) => (err ? reject(err) : resolve(out))));
  cert.signature = sig.toString('binary');
}

export function signCertificateSync(cert: forge.pki.Certificate, key: KeyObject): void {
  cert.signature = crypto.sign('sha256', tbsBytes(cert), key).toString('binary');
}

/** 16 random bytes, positive and without a leading zero byte (minimal DER INTEGER, RFC 5280 §4.1.2.2). */
export function randomSerialHex(): string {
  const b = crypto.randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b.toString('hex');
}

function makeCa(dir: string, certPem: string, keyPem: string, cert: forge.pki.Certificate,
  key: KeyObject, created: boolean): Ca {
  const ca = { dir, ...paths(dir), certPem, cert, notAfter: cert.validity.notAfter, created };
  Object.defineProperties(ca, { keyPem: { value: keyPem }, key: { value: key } });
  return Object.freeze(ca) as Ca;
}

/** temp file (mode 0600/0644, fsync) then rename; without overwrite, link() refuses an existing file atomically. */
async function writeAtomic(file: string, data: string, mode: number, overwrite: boolean): Promise<void> {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  const fh = await fs.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode);
  try {
    await fh.chmod(mode); // open()'s mode is filtered by the umask; be exact
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    if (overwrite) return await fs.rename(tmp, file);
    const taken = () => new CertError('ca_exists', `${file} already exists; use --force to replace it`);
    try {
      await fs.link(tmp, file);
    } catch (e) {
      if (errno(e) === 'EEXIST') throw taken();
      if (await exists(file)) throw taken(); // file systems without hard links: check, then rename
      await fs.rename(tmp, file);
    }
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

const exists = (file: string): Promise<boolean> => fs.access(file).then(() => true, () => false);

/** Creates ca.pem + ca.key in `dir`; refuses (code `ca_exists`) to replace either unless `force`. */
export async function initCa(dir: string, opts: InitCaOptions = {}): Promise<Ca> {
  const { certPath, keyPath } = paths(dir);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  if (!opts.force && ((await exists(certPath)) || (await exists(keyPath)))) {
    throw new CertError('ca_exists', `a CA already exists in ${dir} (${CA_CERT_FILE}, ${CA_KEY_FILE}); use --force to replace it`);
  }
  const { publicKey, privateKey } = await new Promise<crypto.KeyPairKeyObjectResult>((resolve, reject) =>
    crypto.generateKeyPair('rsa', { modulusLength: CA_KEY_BITS }, (err, pub, priv) =>
      (err ? reject(err) : resolve({ publicKey: pub, privateKey: priv }))));

  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string);
  cert.serialNumber = randomSerialHex();
  const now = Math.floor(Date.now() / 1000) * 1000; // X.509 times carry whole seconds
  cert.validity.notBefore = new Date(now - CA_BACKDATE_MS);
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_VALIDITY_YEARS);
  cert.validity.notAfter = notAfter;
  const attrs = [
    { name: 'commonName', value: (opts.subject?.commonName ?? `autopatch-proxy CA (${os.hostname()})`).slice(0, 64) },
    { name: 'organizationName', value: opts.subject?.organization ?? 'autopatch-proxy' },
  ];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    // pathLen 0: this CA signs leaves only (RFC 5280 §4.2.1.9)
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  await signCertificate(cert, privateKey);

  const certPem = forge.pki.certificateToPem(cert);
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  // key first: a ca.pem without its key is never left behind by a crash between the two
  await writeAtomic(keyPath, keyPem, 0o600, opts.force === true);
  await writeAtomic(certPath, certPem, 0o644, opts.force === true);
  return makeCa(dir, certPem, keyPem, cert, privateKey, true);
}

/** Reads and checks the CA in `dir`: codes ca_missing, ca_incomplete, ca_key_permissions, ca_invalid, ca_key_mismatch, ca_expired. */
export async function loadCa(dir: string): Promise<Ca> {
  const { certPath, keyPath } = paths(dir);
  const [certPem, keyPem] = await Promise.all([readCaFile(certPath, false), readCaFile(keyPath, true)]);
  if (certPem === undefined && keyPem === undefined) {
    throw new CertError('ca_missing', `no CA in ${dir}; create one with: autopatch-proxy ca init`);
  }
  if (certPem === undefined || keyPem === undefined) {
    throw new CertError('ca_incomplete',
      `${certPem === undefined ? certPath : keyPath} is missing; restore it or recreate the CA with: autopatch-proxy ca init --force`);
  }
  let cert: forge.pki.Certificate;
  let key: KeyObject;
  let x509: crypto.X509Certificate;
  try {
    cert = forge.pki.certificateFromPem(certPem);
    x509 = new crypto.X509Certificate(certPem);
  } catch (e) {
    throw new CertError('ca_invalid', `${certPath} is not a PEM certificate`, { cause: e });
  }
  try {
    key = crypto.createPrivateKey(keyPem);
  } catch (e) {
    throw new CertError('ca_invalid', `${keyPath} is not an unencrypted PEM private key`, { cause: e });
  }
  if (!x509.ca) throw new CertError('ca_invalid', `${certPath} is not a CA certificate (basicConstraints CA:TRUE missing)`);
  const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });
  if (!spki(crypto.createPublicKey(key)).equals(spki(x509.publicKey))) {
    throw new CertError('ca_key_mismatch', `${keyPath} does not belong to ${certPath}`);
  }
  if (cert.validity.notAfter.getTime() <= Date.now()) {
    throw new CertError('ca_expired', `${certPath} expired on ${cert.validity.notAfter.toISOString()}; recreate with: autopatch-proxy ca init --force`);
  }
  return makeCa(dir, certPem, keyPem, cert, key, false);
}

/** Loads the CA, creating it when there is none (`created` tells which); an incomplete CA is an error. */
export async function ensureCa(dir: string, opts: Omit<InitCaOptions, 'force'> = {}): Promise<Ca> {
  try {
    return await loadSettled(dir);
  } catch (e) {
    if (!(e instanceof CertError) || e.code !== 'ca_missing') throw e;
  }
  try {
    return await initCa(dir, { subject: opts.subject });
  } catch (e) {
    // another process created it in between
    if (e instanceof CertError && e.code === 'ca_exists') return loadSettled(dir);
    throw e;
  }
}

/** How long a start waits for another process that is writing the CA (--workers starting together). */
const CA_SETTLE_MS = 2000;

/**
 * loadCa, except while another process is between writing the key and the certificate (initCa writes the
 * key first): a key written in the last seconds and no certificate yet is waited for, up to CA_SETTLE_MS.
 * An older key without its certificate is an incomplete CA and fails at once.
 */
async function loadSettled(dir: string): Promise<Ca> {
  const deadline = Date.now() + CA_SETTLE_MS;
  for (;;) {
    try {
      return await loadCa(dir);
    } catch (e) {
      if (!(e instanceof CertError) || e.code !== 'ca_incomplete' || Date.now() > deadline) throw e;
      const key = await fs.stat(paths(dir).keyPath).catch(() => null);
      if (!key || Date.now() - key.mtimeMs > CA_SETTLE_MS + 5000) throw e;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
