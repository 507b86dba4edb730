// One published destination pattern (host name form or CIDR) → its compiled form and specificity,
// plus a slow reference matcher used by `matchAll`, exports and tests. Pure; never throws.
// The hot path lives in name-index.ts / cidr-index.ts; only normalizeHost and tailMatches run per lookup.
import ipaddr from 'ipaddr.js';

/** One label to the left of a pattern's literal suffix. */
export type LabelMatcher =
  | { readonly kind: 'lit'; readonly text: string }
  | { readonly kind: 'any' } // a whole-label `*` or `<tenant>`: exactly one label
  | { readonly kind: 'glob'; readonly prefix: string; readonly suffix: string }; // `pre*suf` inside one label

export type HostPattern =
  /** `outlook.office365.com` */
  | { readonly kind: 'exact'; readonly host: string; readonly labels: number; readonly literal: number }
  /** `*.manage.microsoft.com`: one or more labels below `suffix`, never `suffix` itself. */
  | { readonly kind: 'subdomains'; readonly suffix: string; readonly labels: number; readonly literal: number }
  /** `*cdn.onenote.net`, `payloadprod*.blob…`, `autodiscover.*.onmicrosoft.com`: exactly tail.length labels below `suffix`. */
  | {
      readonly kind: 'labels';
      readonly suffix: string;
      readonly tail: readonly LabelMatcher[]; // nearest to the suffix first
      readonly host: string; // normalised pattern text (placeholders as `*`)
      readonly labels: number;
      readonly literal: number;
    };

export interface CidrPattern {
  readonly kind: 'cidr';
  readonly version: 4 | 6;
  readonly prefix: number;
  /** Network address with host bits cleared: uint32 (v4) or bigint (v6). */
  readonly network: number | bigint;
  /** Canonical `address/prefix` (host bits cleared, RFC 5952 for v6). */
  readonly cidr: string;
}

export type CompiledPattern = HostPattern | CidrPattern;
export type PatternResult = { ok: true; pattern: CompiledPattern } | { ok: false; message: string };

const LABEL = /^[a-z0-9_*-]{1,63}$/;
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
const PLACEHOLDER = /<[^<>.]+>/g;
const PLACEHOLDER_ONLY = /^<[^<>.]+>$/;
const PLACEHOLDER_MARK = '<>';
const IPV4ISH = /^[0-9.]+(\/\d{1,3})?$/;

/**
 * Parses one pattern as written in a catalog file. Accepts and ignores a scheme and path
 * (`https://host/...`, Edge and WSUS lists), a trailing dot, upper case, and tenant placeholders
 * (`<tenant>` — the web service substitutes the TenantName there, or `*` when none is given).
 */
export function parsePattern(written: string): PatternResult {
  let text = written.trim();
  if (text === '') return { ok: false, message: 'empty pattern' };
  if (SCHEME.test(text)) {
    text = text.replace(SCHEME, '');
    const slash = text.indexOf('/');
    if (slash >= 0) text = text.slice(0, slash);
  }
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  if (text.includes(':') || IPV4ISH.test(text)) return parseCidr(text);
  text = text.toLowerCase();
  if (text.endsWith('.')) text = text.slice(0, -1);
  if (text.length > 253) return { ok: false, message: `pattern "${written}" is longer than 253 characters` };
  // A placeholder is a one-label wildcard even in the leftmost label: `<tenant>.sharepoint.com` names
  // one tenant label, unlike `*.sharepoint.com` (any depth). Internally it becomes a lone `*` label
  // marked by PLACEHOLDER_MARK so the leading-`*.` rule does not apply to it.
  const labels = text.split('.').map((l) => (PLACEHOLDER_ONLY.test(l) ? PLACEHOLDER_MARK : l.replace(PLACEHOLDER, '*')));
  for (const label of labels) {
    if (label !== PLACEHOLDER_MARK && !LABEL.test(label)) {
      return { ok: false, message: `pattern "${written}": bad label "${label}" (letters, digits, '-', '_', '*' only)` };
    }
  }
  const literal = labels.reduce((n, l) => n + (l === PLACEHOLDER_MARK ? 0 : l.replace(/\*/g, '').length), 0);
  let rightmost = -1;
  labels.forEach((l, i) => {
    if (l.includes('*') || l === PLACEHOLDER_MARK) rightmost = i;
  });
  if (rightmost < 0) return { ok: true, pattern: { kind: 'exact', host: text, labels: labels.length, literal } };

  const suffixLabels = labels.slice(rightmost + 1);
  // A wildcard needs two literal labels to its right: `*.com` or `foo.*` would trust a whole TLD.
  if (suffixLabels.length < 2) return { ok: false, message: `pattern "${written}": a wildcard needs at least two literal labels to its right` };
  const suffix = suffixLabels.join('.');
  if (labels[0] === '*' && rightmost === 0) {
    return { ok: true, pattern: { kind: 'subdomains', suffix, labels: labels.length, literal } };
  }
  if (labels[0] === '*') {
    return { ok: false, message: `pattern "${written}": a leading "*." cannot be combined with another wildcard` };
  }
  const tail: LabelMatcher[] = [];
  for (let i = rightmost; i >= 0; i--) {
    const l = labels[i]!;
    const star = l.indexOf('*');
    if (l === PLACEHOLDER_MARK) tail.push({ kind: 'any' });
    else if (star < 0) tail.push({ kind: 'lit', text: l });
    else if (l === '*') tail.push({ kind: 'any' });
    else if (l.indexOf('*', star + 1) >= 0) return { ok: false, message: `pattern "${written}": at most one '*' per label` };
    else tail.push({ kind: 'glob', prefix: l.slice(0, star), suffix: l.slice(star + 1) });
  }
  return { ok: true, pattern: { kind: 'labels', suffix, tail, host: text, labels: labels.length, literal } };
}

function parseCidr(text: string): PatternResult {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  let prefix: number;
  const bare = text.includes('/') ? text.slice(0, text.indexOf('/')) : text;
  if (!bare.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(bare)) {
    return { ok: false, message: `"${text}" is not an IPv4 address in dotted-quad form` };
  }
  try {
    if (text.includes('/')) [addr, prefix] = ipaddr.parseCIDR(text);
    else {
      addr = ipaddr.parse(text);
      prefix = addr.kind() === 'ipv4' ? 32 : 128;
    }
  } catch {
    return { ok: false, message: `"${text}" is not an IPv4/IPv6 address or CIDR` };
  }
  // Published prefixes sometimes have host bits set (e.g. 2a01:111:f100:2000::a83e:3019/128 is fine,
  // 10.0.0.5/24 is not): be lenient, as Python's ip_network(strict=False) is, and clear them.
  if (addr.kind() === 'ipv4') {
    const value = v4ToNumber(addr.toByteArray());
    const network = prefix === 0 ? 0 : ((value >>> (32 - prefix)) << (32 - prefix)) >>> 0;
    const bytes = [network >>> 24, (network >>> 16) & 255, (network >>> 8) & 255, network & 255];
    return { ok: true, pattern: { kind: 'cidr', version: 4, prefix, network, cidr: `${bytes.join('.')}/${prefix}` } };
  }
  const value = v6ToBigInt(addr.toByteArray());
  const shift = BigInt(128 - prefix);
  const network = (value >> shift) << shift;
  const bytes: number[] = [];
  for (let i = 15; i >= 0; i--) bytes.push(Number((network >> BigInt(i * 8)) & 255n));
  const canonical = (ipaddr.fromByteArray(bytes) as ipaddr.IPv6).toRFC5952String();
  return { ok: true, pattern: { kind: 'cidr', version: 6, prefix, network, cidr: `${canonical}/${prefix}` } };
}

export function v4ToNumber(bytes: readonly number[]): number {
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}

export function v6ToBigInt(bytes: readonly number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/**
 * Specificity, larger = more specific: exact > wildcard, then more labels, then more literal
 * characters. CIDR: the prefix length. (Names and IPs never compete for the same target.)
 */
export function specificity(p: CompiledPattern): number {
  if (p.kind === 'cidr') return p.prefix;
  return (p.kind === 'exact' ? 1 << 17 : 0) + p.labels * 512 + p.literal;
}

/**
 * Hot path: do the labels of host[0, end) match `tail` exactly (one label per matcher, no more)?
 * `end` is the index of the dot in front of the pattern's literal suffix. No allocation.
 */
export function tailMatches(host: string, end: number, tail: readonly LabelMatcher[]): boolean {
  let e = end;
  for (let i = 0; i < tail.length; i++) {
    if (e <= 0) return false;
    const s = host.lastIndexOf('.', e - 1) + 1;
    const len = e - s;
    if (len === 0) return false;
    const m = tail[i]!;
    if (m.kind === 'lit') {
      if (len !== m.text.length || !host.startsWith(m.text, s)) return false;
    } else if (m.kind === 'glob') {
      if (len < m.prefix.length + m.suffix.length) return false;
      if (!host.startsWith(m.prefix, s) || !host.startsWith(m.suffix, e - m.suffix.length)) return false;
    }
    e = s - 1; // the dot before this label, or -1 at the start of the host
  }
  return e === -1;
}

/** Lower-case, strip one trailing dot and IPv6 brackets (the form every lookup starts from). */
export function normalizeHost(host: string): string {
  let h = host.toLowerCase();
  if (h.charCodeAt(h.length - 1) === 46) h = h.slice(0, -1);
  if (h.charCodeAt(0) === 91 && h.charCodeAt(h.length - 1) === 93) h = h.slice(1, -1);
  return h;
}

/** Reference matcher (slow, obviously correct): the semantics the indexes must reproduce. */
export function patternMatches(p: CompiledPattern, host: string): boolean {
  const h = normalizeHost(host);
  if (p.kind === 'cidr') {
    let addr: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      if (!(ipaddr.IPv6.isValid(h) || ipaddr.IPv4.isValidFourPartDecimal(h))) return false;
      addr = ipaddr.parse(h);
    } catch {
      return false;
    }
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
    const back = ipaddr.parse(p.cidr.slice(0, p.cidr.lastIndexOf('/')));
    return addr.kind() === back.kind() && addr.match(back, p.prefix);
  }
  if (ipaddr.IPv6.isValid(h) || ipaddr.IPv4.isValidFourPartDecimal(h)) return false;
  return new RegExp(`^${patternToRegExpSource(p)}$`).test(h);
}

/** An unanchored regular-expression source with the exact matching semantics (for exporters). */
export function patternToRegExpSource(p: HostPattern): string {
  const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
  if (p.kind === 'exact') return esc(p.host);
  if (p.kind === 'subdomains') return `(?:[^.]+\\.)+${esc(p.suffix)}`;
  const parts = [...p.tail].reverse().map((m) =>
    m.kind === 'lit' ? esc(m.text) : m.kind === 'any' ? '[^.]+' : `${esc(m.prefix)}[^.]*${esc(m.suffix)}`,
  );
  return `${parts.join('\\.')}\\.${esc(p.suffix)}`;
}

/** The pattern's normalised text (lower case, no trailing dot; `address/prefix` for CIDRs). */
export function patternText(p: CompiledPattern): string {
  return p.kind === 'cidr' ? p.cidr : p.kind === 'subdomains' ? `*.${p.suffix}` : p.host;
}
