// IP-range arithmetic for the exporters: CIDR ↔ inclusive intervals, set operations, and the exact address
// set a catalog decides one way at one port (same precedence as the matcher: the highest-scored containing rule).
// Pure; nothing here parses host names or renders a file format.
import ipaddr from 'ipaddr.js';
import type { CompiledRule } from './compile.js';
import { parsePattern } from './pattern.js';
import { portAllowed } from './ports.js';

export type Family = 4 | 6;
/** Inclusive [lo, hi]; bigint for both families so one implementation serves both. */
export interface Interval {
  readonly lo: bigint;
  readonly hi: bigint;
}
export interface FamilySets {
  v4: Interval[];
  v6: Interval[];
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

export function cidrInterval(family: Family, network: number | bigint, prefix: number): Interval {
  const lo = BigInt(network);
  return { lo, hi: lo + (1n << BigInt(BITS[family] - prefix)) - 1n };
}

/** Sorted, overlapping and adjacent intervals collapsed. */
export function normalize(list: readonly Interval[]): Interval[] {
  const sorted = [...list].sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
  const out: Interval[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.lo <= last.hi + 1n) {
      if (r.hi > last.hi) out[out.length - 1] = { lo: last.lo, hi: r.hi };
    } else out.push(r);
  }
  return out;
}

export function intersect(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  const x = normalize(a);
  const y = normalize(b);
  let i = 0;
  let j = 0;
  while (i < x.length && j < y.length) {
    const lo = x[i]!.lo > y[j]!.lo ? x[i]!.lo : y[j]!.lo;
    const hi = x[i]!.hi < y[j]!.hi ? x[i]!.hi : y[j]!.hi;
    if (lo <= hi) out.push({ lo, hi });
    if (x[i]!.hi < y[j]!.hi) i++;
    else j++;
  }
  return out;
}

export function subtract(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  const cut = normalize(b);
  for (const r of normalize(a)) {
    let lo = r.lo;
    for (const c of cut) {
      if (c.hi < lo || c.lo > r.hi) continue;
      if (c.lo > lo) out.push({ lo, hi: c.lo - 1n });
      lo = c.hi + 1n;
      if (lo > r.hi) break;
    }
    if (lo <= r.hi) out.push({ lo, hi: r.hi });
  }
  return out;
}

/** The fewest aligned CIDR blocks covering exactly the intervals, in address order. */
export function toCidrs(family: Family, list: readonly Interval[]): { network: bigint; prefix: number }[] {
  const bits = BITS[family];
  const out: { network: bigint; prefix: number }[] = [];
  for (const r of normalize(list)) {
    let lo = r.lo;
    while (lo <= r.hi) {
      let size = 0; // log2 of the block
      while (size < bits && (lo & ((1n << BigInt(size + 1)) - 1n)) === 0n && lo + (1n << BigInt(size + 1)) - 1n <= r.hi) size++;
      out.push({ network: lo, prefix: bits - size });
      lo += 1n << BigInt(size);
    }
  }
  return out;
}

export function formatAddress(family: Family, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join('.');
  const bytes: number[] = [];
  for (let i = 15; i >= 0; i--) bytes.push(Number((value >> BigInt(i * 8)) & 255n));
  return (ipaddr.fromByteArray(bytes) as ipaddr.IPv6).toRFC5952String();
}

export function formatCidrs(family: Family, list: readonly Interval[]): string[] {
  return toCidrs(family, list).map((c) => `${formatAddress(family, c.network)}/${c.prefix}`);
}

/**
 * Addresses whose winning CIDR rule at `port` is selected. A sweep over the rules' boundaries: in each
 * elementary segment the same rules contain every address, so one comparison of scores decides it
 * (tier, then prefix length, then trust and category, as compile.ts scores them).
 */
export function decidedRanges(rules: readonly CompiledRule[], selected: (r: CompiledRule) => boolean, port: number): FamilySets {
  const out: FamilySets = { v4: [], v6: [] };
  for (const family of [4, 6] as const) {
    const spans: { lo: bigint; hi: bigint; rule: CompiledRule }[] = [];
    for (const r of rules) {
      if (r.pattern.kind !== 'cidr' || r.pattern.version !== family || !portAllowed(r.ports, port)) continue;
      spans.push({ ...cidrInterval(family, r.pattern.network, r.pattern.prefix), rule: r });
    }
    spans.sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
    const cuts = [...new Set(spans.flatMap((s) => [s.lo, s.hi + 1n]))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let active: typeof spans = [];
    let next = 0;
    const keep: Interval[] = [];
    for (let k = 0; k + 1 < cuts.length; k++) {
      const lo = cuts[k]!;
      while (next < spans.length && spans[next]!.lo <= lo) active.push(spans[next++]!);
      active = active.filter((s) => s.hi >= lo);
      let best: CompiledRule | null = null;
      for (const s of active) if (best === null || s.rule.score > best.score) best = s.rule;
      if (best !== null && selected(best)) keep.push({ lo, hi: cuts[k + 1]! - 1n });
    }
    out[family === 4 ? 'v4' : 'v6'] = normalize(keep);
  }
  return out;
}

/**
 * CIDR texts (host bits set are cleared, bare addresses are /32 or /128) → merged, sorted list, IPv4
 * first. Overlapping and adjacent ranges collapse (10.0.0.0/25 + 10.0.0.128/25 → 10.0.0.0/24).
 */
export function mergeCidrs(texts: readonly string[]): { cidrs: string[]; invalid: string[] } {
  const sets: FamilySets = { v4: [], v6: [] };
  const invalid: string[] = [];
  for (const t of texts) {
    const p = parsePattern(t);
    if (!p.ok || p.pattern.kind !== 'cidr') {
      invalid.push(t);
      continue;
    }
    const c = p.pattern;
    sets[c.version === 4 ? 'v4' : 'v6'].push(cidrInterval(c.version, c.network, c.prefix));
  }
  return { cidrs: [...formatCidrs(4, sets.v4), ...formatCidrs(6, sets.v6)], invalid };
}

/** Dotted-quad mask of an IPv4 prefix, for PAC isInNet(host, net, mask). */
export function v4Mask(prefix: number): string {
  const m = prefix === 0 ? 0n : ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - prefix)) - 1n);
  return formatAddress(4, m);
}
