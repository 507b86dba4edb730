// Sample host names on both sides of every catalog rule's edge (the pattern's own names, apexes, deeper
// names, glued lookalikes, CIDR range ends), for checking exporters against the real matcher.
import type { CompiledRule } from '../../src/catalog/compile.js';
import type { HostPattern } from '../../src/catalog/pattern.js';
import { cidrInterval, formatAddress } from '../../src/catalog/export-ranges.js';

/** One concrete name of a pattern, with `fill` where the pattern has a wildcard. */
export function instance(p: HostPattern, fill: string): string {
  if (p.kind === 'exact') return p.host;
  if (p.kind === 'subdomains') return `${fill}.${p.suffix}`;
  const head = [...p.tail].reverse().map((m) => (m.kind === 'lit' ? m.text : m.kind === 'any' ? fill : `${m.prefix}${fill}${m.suffix}`));
  return `${head.join('.')}.${p.suffix}`;
}

export function samples(rules: readonly CompiledRule[], opts: { fills?: readonly string[]; lookalikes?: boolean } = {}): string[] {
  const fills = opts.fills ?? ['a', 'zz9'];
  const out = new Set<string>();
  for (const r of rules) {
    const p = r.pattern;
    if (p.kind === 'cidr') {
      const { lo, hi } = cidrInterval(p.version, p.network, p.prefix);
      const max = p.version === 4 ? (1n << 32n) - 1n : (1n << 128n) - 1n;
      for (const v of [lo, hi, lo - 1n, hi + 1n]) if (v >= 0n && v <= max) out.add(formatAddress(p.version, v));
      continue;
    }
    for (const fill of fills) {
      const h = instance(p, fill);
      if (h.includes('..') || h.startsWith('.')) continue;
      out.add(h);
      out.add(`b.${h}`);
      out.add(`x${h}`);
      if (opts.lookalikes) out.add(`${h}.evil.com`);
    }
    if (p.kind !== 'exact') out.add(p.suffix);
  }
  return [...out];
}
