// The forge-free part of the certificate code, which the connection path needs in every mode: the error
// type of all certificate failures and the host-name rules for minted leaves. ca.ts and mint.ts (node-forge,
// 5-10 MB resident once loaded) are imported only where a CA is used: --mode inspect and the `ca` command
// (/ca.pem reads the certificate through ca-file.ts, without forge).
import net from 'node:net';

export type CertErrorCode =
  | 'ca_missing' | 'ca_incomplete' | 'ca_exists' | 'ca_key_permissions' | 'ca_invalid'
  | 'ca_key_mismatch' | 'ca_expired' | 'invalid_host' | 'invalid_option';

/** Every failure of the certificate code; callers branch on `code`, never on `message`. */
export class CertError extends Error {
  override readonly name = 'CertError';
  constructor(readonly code: CertErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface CertHost { name: string; ip: 4 | 6 | 0 }

const DNS_LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** Lower-cases, strips a trailing dot and IPv6 brackets; CertError `invalid_host` for anything else odd. */
export function normalizeCertHost(host: string): CertHost {
  let name = host.trim().toLowerCase();
  if (name.startsWith('[') && name.endsWith(']')) name = name.slice(1, -1);
  if (name.endsWith('.')) name = name.slice(0, -1);
  const ip = net.isIP(name);
  if (ip === 4 || ip === 6) {
    if (name.includes('%')) throw new CertError('invalid_host', `cannot mint a certificate for a scoped address: ${host}`);
    return { name, ip };
  }
  // punycode (A-labels) only: SAN dNSName is an IA5String (RFC 5280 §4.2.1.6)
  if (name.length === 0 || name.length > 253 || !name.split('.').every((l) => DNS_LABEL.test(l))) {
    throw new CertError('invalid_host', `cannot mint a certificate for host name ${JSON.stringify(host)}`);
  }
  return { name, ip: 0 };
}
