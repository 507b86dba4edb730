// Leaf certificate minting for TLS inspection: one shared RSA key, forge builds each certificate,
// Node's crypto signs the TBS bytes (never forge's pure-JS RSA, which blocks the loop 26–63 ms).
// No caching, no sockets: tls/context-cache.ts decides when to mint.
import crypto, { type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { type Ca, CertError, randomSerialHex, signCertificate, signCertificateSync } from './ca.js';
import { normalizeCertHost } from './cert-host.js';

export { normalizeCertHost, type CertHost } from './cert-host.js';

/** CA/Browser Forum ballot SC31 and Apple's limit (398 days) for TLS server certificates. */
export const MAX_LEAF_VALIDITY_DAYS = 397;
export const DEFAULT_BACKDATE_MINUTES = 60;
export const LEAF_KEY_BITS = 2048;
/** X.520 ub-common-name (RFC 5280 appendix A); the SAN carries the full name. */
const CN_MAX = 64;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface MinterOptions {
  /** Whole validity span notBefore → notAfter, including the backdate; 1…397. */
  validityDays?: number;
  /** notBefore lies this far in the past, for clients whose clock runs behind. */
  backdateMinutes?: number;
  /** Clock for tests. */
  now?: () => number;
}

export interface MintedLeaf {
  /** Normalised name the certificate is for (lower case, no trailing dot, no IPv6 brackets). */
  host: string;
  certPem: string;
  /** The shared leaf key (PKCS#8 PEM); the same for every leaf of this minter. */
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
  serialHex: string;
}

export interface Minter {
  /** Signs in libuv's threadpool; the loop is blocked only for building and PEM-encoding (~0.1–0.3 ms). */
  mint(host: string): Promise<MintedLeaf>;
  /** Same certificate, signed synchronously (~0.2–1.6 ms of loop time): for benchmarks and tools. */
  mintSync(host: string): MintedLeaf;
  readonly keyPem: string;
  readonly validityDays: number;
}

function keyPair(): Promise<crypto.KeyPairKeyObjectResult> {
  return new Promise((resolve, reject) =>
    crypto.generateKeyPair('rsa', { modulusLength: LEAF_KEY_BITS }, (err, publicKey, privateKey) =>
      (err ? reject(err) : resolve({ publicKey, privateKey }))));
}

/** The CA's own subjectKeyIdentifier (what chain builders compare); computed when the CA lacks one. */
function caKeyId(ca: Ca): string {
  const ext = ca.cert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | undefined;
  if (ext?.subjectKeyIdentifier) return forge.util.hexToBytes(ext.subjectKeyIdentifier);
  return ca.cert.generateSubjectKeyIdentifier().getBytes();
}

/**
 * Creates the minter: generates the one leaf key (async, ~50–300 ms) shared by every leaf, as Squid
 * and mitmproxy do; a per-host key would cost a key generation per new host.
 */
export async function createMinter(ca: Ca, opts: MinterOptions = {}): Promise<Minter> {
  const validityDays = opts.validityDays ?? MAX_LEAF_VALIDITY_DAYS;
  const backdateMs = (opts.backdateMinutes ?? DEFAULT_BACKDATE_MINUTES) * 60_000;
  if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > MAX_LEAF_VALIDITY_DAYS) {
    throw new CertError('invalid_option', `leaf validity must be 1…${MAX_LEAF_VALIDITY_DAYS} days, got ${validityDays}`);
  }
  if (!(backdateMs >= 0) || backdateMs >= validityDays * DAY_MS) {
    throw new CertError('invalid_option', `backdate must be ≥ 0 and shorter than the validity, got ${opts.backdateMinutes} min`);
  }
  const now = opts.now ?? Date.now;
  const caKey: KeyObject = ca.key;
  const { publicKey, privateKey } = await keyPair();
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const forgePublicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string);
  const issuer = ca.cert.subject.attributes;
  // Identical in every leaf: built once, forge fills their DER value on first use and reuses it.
  const sharedExtensions = [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'authorityKeyIdentifier', keyIdentifier: caKeyId(ca) },
    { name: 'subjectKeyIdentifier' },
  ];

  function build(host: string): { cert: forge.pki.Certificate; leaf: Omit<MintedLeaf, 'certPem'> } {
    const { name, ip } = normalizeCertHost(host);
    const cert = forge.pki.createCertificate();
    cert.publicKey = forgePublicKey;
    cert.serialNumber = randomSerialHex();
    const notBefore = new Date(Math.floor((now() - backdateMs) / 1000) * 1000); // X.509: whole seconds
    const notAfter = new Date(notBefore.getTime() + validityDays * DAY_MS);
    cert.validity.notBefore = notBefore;
    cert.validity.notAfter = notAfter;
    cert.setSubject([{ name: 'commonName', value: name.slice(0, CN_MAX) }]);
    cert.setIssuer(issuer);
    // RFC 6125: clients match the SAN, not the CN; iPAddress (type 7) for literals, dNSName (type 2) otherwise
    const altName = ip ? { type: 7, ip: name } : { type: 2, value: name };
    cert.setExtensions([...sharedExtensions, { name: 'subjectAltName', altNames: [altName] }]);
    return { cert, leaf: { host: name, keyPem, notBefore, notAfter, serialHex: cert.serialNumber } };
  }

  return {
    keyPem,
    validityDays,
    async mint(host) {
      const { cert, leaf } = build(host);
      await signCertificate(cert, caKey);
      return { ...leaf, certPem: forge.pki.certificateToPem(cert) };
    },
    mintSync(host) {
      const { cert, leaf } = build(host);
      signCertificateSync(cert, caKey);
      return { ...leaf, certPem: forge.pki.certificateToPem(cert) };
    },
  };
}
