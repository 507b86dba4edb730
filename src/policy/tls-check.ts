// The TLS check of a peeked tunnel (DESIGN.md "peek before splice"): parsed ClientHello + CONNECT target in,
// ok | tls_version_too_low | sni_mismatch | not_tls out. Pure: must not touch sockets, log, or decide what a
// mismatch becomes (deny or the --mode treatment is the caller's, per CONTRACT.md).
import type { Reason } from './types.js';
import type { ParseResult, TlsVersionName } from '../tls/client-hello.js';

/** Lowest version a ClientHello must offer: TLS 1.2 (RFC 5246), which Microsoft requires of the proxy. */
export const MIN_OFFERED_TLS_VERSION = 0x0303;

export type TlsRejectReason = Extract<Reason, 'tls_version_too_low' | 'sni_mismatch' | 'not_tls'>;

/** What the hello said, carried on every verdict so the `connect` record can log it (CONTRACT.md). */
export interface HelloFacts {
  sni: string | null;
  /** Highest version offered, e.g. "TLSv1.3"; null when not TLS or not a known version. */
  tlsVersion: TlsVersionName | null;
  alpn: string[];
}

export type TlsVerdict =
  | ({ ok: true } & HelloFacts)
  | ({ ok: false; reason: 'tls_version_too_low'; recordVersion: number; highestVersion: number; sslv2: boolean } & HelloFacts)
  | ({ ok: false; reason: 'sni_mismatch'; sni: string; host: string; sniValid: boolean } & HelloFacts)
  | ({ ok: false; reason: 'not_tls'; why: string } & HelloFacts);

export interface TlsTarget {
  /** CONNECT host as parsed (IPv6 with or without brackets). */
  host: string;
  isIp: boolean;
}

export interface TlsCheckOptions {
  /** true when the rule that matched the CONNECT host also trusts this SNI (called with the normalised SNI). */
  sniTrusted?: (sni: string) => boolean;
}

/** Lower-case (ASCII), drop brackets of an IPv6 literal and one trailing dot (RFC 6066 §3 names carry none). */
function normaliseHost(host: string, isIp: boolean): string {
  let h = host.toLowerCase();
  if (isIp && h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (!isIp && h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/**
 * Order: not TLS, then version (answered with a protocol_version alert), then SNI.
 * A need-more result means the peek ended (size or time bound) before a whole hello arrived: not_tls.
 */
export function checkTls(hello: ParseResult, target: TlsTarget, opts: TlsCheckOptions = {}): TlsVerdict {
  if (hello.kind === 'need-more') {
    return { ok: false, reason: 'not_tls', why: 'incomplete ClientHello', sni: null, tlsVersion: null, alpn: [] };
  }
  if (hello.kind === 'not-tls') return { ok: false, reason: 'not_tls', why: hello.why, sni: null, tlsVersion: null, alpn: [] };
  const facts: HelloFacts = { sni: hello.sni, tlsVersion: hello.versionName, alpn: hello.alpn };
  // RFC 6176 §3: the SSL 2.0 hello format is prohibited whatever version it names; RFC 8996 deprecates 1.0/1.1.
  if (hello.sslv2 || hello.highestVersion < MIN_OFFERED_TLS_VERSION) {
    const { recordVersion, highestVersion, sslv2 } = hello;
    return { ok: false, reason: 'tls_version_too_low', recordVersion, highestVersion, sslv2, ...facts };
  }
  const sni = hello.sni;
  if (sni === null) return { ok: true, ...facts }; // no SNI: nothing to compare (RFC 6066 makes it optional)
  const host = normaliseHost(target.host, target.isIp);
  if (sni === host) return { ok: true, ...facts };
  // RFC 6066 §3 forbids IP literals in SNI, so a name on an IP CONNECT can only be trusted by the rule.
  // An SNI that is no valid host name is never offered to the matcher.
  if (hello.sniValid && opts.sniTrusted?.(sni) === true) return { ok: true, ...facts };
  return { ok: false, reason: 'sni_mismatch', host, sniValid: hello.sniValid, ...facts, sni };
}
