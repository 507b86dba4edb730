// The forge-free part of the CA's files: where they are, reading one (with the key's permission check),
// and exporting the certificate (PEM or DER) through Node's own X509Certificate. The admin's /ca.pem and
// `ca export` need only this, so serving the certificate never loads node-forge (ca.ts).
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CertError } from './cert-host.js';

export const CA_CERT_FILE = 'ca.pem';
export const CA_KEY_FILE = 'ca.key';

export function caPaths(dir: string): { certPath: string; keyPath: string } {
  return { certPath: path.join(dir, CA_CERT_FILE), keyPath: path.join(dir, CA_KEY_FILE) };
}

export const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | null)?.code;

/** The file's text, or undefined when it does not exist; a key readable by group or others is refused. */
export async function readCaFile(file: string, isKey: boolean): Promise<string | undefined> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, 'r');
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    throw new CertError('ca_invalid', `cannot read ${file}: ${errno(e) ?? String(e)}`, { cause: e });
  }
  try {
    // fstat on the opened file: no window between the permission check and the read
    const mode = (await fh.stat()).mode & 0o777;
    if (isKey && process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new CertError('ca_key_permissions',
        `CA key ${file} is accessible by group or others (mode 0${mode.toString(8)}); fix with: chmod 600 ${file}`);
    }
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

/** The CA certificate for device enrolment: PEM, or DER (`.cer`) with `der`. Never reads the key. Codes ca_missing, ca_invalid. */
export async function exportCa(dir: string, opts: { der?: boolean } = {}): Promise<Buffer> {
  const { certPath } = caPaths(dir);
  const pem = await readCaFile(certPath, false);
  if (pem === undefined) throw new CertError('ca_missing', `no CA certificate at ${certPath}; create one with: autopatch-proxy ca init`);
  let x509: crypto.X509Certificate;
  try {
    x509 = new crypto.X509Certificate(pem);
  } catch (e) {
    throw new CertError('ca_invalid', `${certPath} is not a PEM certificate`, { cause: e });
  }
  return opts.der ? x509.raw : Buffer.from(x509.toString());
}
