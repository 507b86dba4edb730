// Parsed sources + policy → the immutable CompiledCatalog: precedence scores, the name and CIDR
// indexes, per-source summaries, and the rule list exporters render. Pure: no I/O, never throws on data.
// Precedence (DESIGN.md): local.json, then catalog, then `fallback` lists (three tiers: the first tier with a
// match decides); within a tier most specific, then deny > bypass > mode, then Optimize > Allow > other > Default.
import ipaddr from 'ipaddr.js';
import { CidrIndex } from './cidr-index.js';
import { trustOfAction, type ParsedSource } from './model.js';
import { NameIndex } from './name-index.js';
import { normalizeHost, patternMatches, specificity, v4ToNumber, v6ToBigInt, type CompiledPattern } from './pattern.js';
import { resolvePolicy, type Policy } from './policy.js';
import type { PortRange } from './ports.js';
import type { Catalog, CatalogMatch, RuleRef, SourceInfo, Trust } from './types.js';

export interface CompiledRule {
  readonly ref: RuleRef;
  readonly trust: Trust;
  readonly detect: boolean;
  readonly local: boolean;
  /** From a policy `fallback` category: decides only when no other catalog rule matches. */
  readonly fallback: boolean;
  readonly pattern: CompiledPattern;
  /** null = any TCP port. */
  readonly ports: readonly PortRange[] | null;
  readonly file: string;
  readonly line: number;
  /** Total order used for precedence (larger wins). */
  readonly score: number;
  /** The frozen object `lookup` returns for this rule (identity is stable: compare rules with ===). */
  readonly match: CatalogMatch;
}

export interface CompiledCatalog extends Catalog {
  /** Every matching rule, in source order then file order (for exporters, `rules list`, diffs). */
  readonly rules: readonly CompiledRule[];
  /** source → document or web-service version. */
  readonly versions: Readonly<Record<string, string>>;
  /** Every rule that matches (host, port), best first: `lookup` is `matchAll(...)[0]`. For explanations, not per request. */
  matchAll(host: string, port: number): CompiledRule[];
}

const TRUST_RANK: Record<Trust, number> = { mode: 1, bypass: 2, deny: 3 };
const ORDER_BITS = 2 ** 28;

/** Microsoft's order (Optimize > Allow > Default); other sources' categories rank between Allow and Default. */
export function categoryRank(category: string): number {
  return category === 'Optimize' ? 3 : category === 'Allow' ? 2 : category === 'Default' ? 0 : 1;
}

export function compileCatalog(sources: readonly ParsedSource[], policy: Policy): CompiledCatalog {
  const rules: CompiledRule[] = [];
  const infos: SourceInfo[] = [];
  const versions: Record<string, string> = {};
  for (const src of sources) {
    const local = src.format === 'local';
    const categories = Object.create(null) as Record<string, number>; // category names are data
    for (const r of src.rules) {
      const resolved = local
        ? { trust: trustOfAction(r.action ?? 'mode'), detect: r.detect ?? true, fallback: false }
        : resolvePolicy(policy, { source: src.source, id: r.id, category: r.category, detect: r.detect }, src.format === 'web-service');
      const ref: RuleRef = Object.freeze({ source: src.source, id: r.id, category: r.category, pattern: r.pattern });
      const match: CatalogMatch = Object.freeze({ rule: ref, trust: resolved.trust, detect: resolved.detect, local });
      const order = Math.min(rules.length, ORDER_BITS - 1);
      const tier = local ? 2 : resolved.fallback ? 0 : 1;
      const score =
        (((tier * 2 ** 18 + specificity(r.compiled)) * 4 + TRUST_RANK[resolved.trust]) * 4 + categoryRank(r.category)) * ORDER_BITS +
        (ORDER_BITS - 1 - order);
      rules.push(
        Object.freeze({
          ref,
          trust: resolved.trust,
          detect: resolved.detect,
          local,
          fallback: resolved.fallback,
          pattern: r.compiled,
          ports: r.ports,
          file: src.file,
          line: r.line,
          score,
          match,
        }),
      );
      categories[r.category] = (categories[r.category] ?? 0) + 1;
    }
    infos.push(
      Object.freeze({ source: src.source, file: src.file, product: src.product, version: src.version, rules: src.rules.length, nonMatching: src.nonMatching, categories: Object.freeze(categories) }),
    );
    versions[src.source] = src.version;
  }
  return new IndexedCatalog(Object.freeze(rules), Object.freeze(infos), Object.freeze(versions));
}

/** One precedence tier: its own name and CIDR indexes. */
class Tier {
  readonly names = new NameIndex<CompiledRule>();
  readonly ips = new CidrIndex<CompiledRule>();
}

class IndexedCatalog implements CompiledCatalog {
  /** local.json, catalog, fallback lists: the first tier with a match decides. Empty tiers are skipped. */
  private readonly tiers: readonly Tier[];

  constructor(
    readonly rules: readonly CompiledRule[],
    readonly sources: readonly SourceInfo[],
    readonly versions: Readonly<Record<string, string>>,
  ) {
    const local = new Tier();
    const main = new Tier();
    const fallback = new Tier();
    for (const r of rules) {
      const tier = r.local ? local : r.fallback ? fallback : main;
      if (r.pattern.kind === 'cidr') tier.ips.add(r);
      else tier.names.add(r);
    }
    this.tiers = [local, main, fallback].filter((t) => t.names.size + t.ips.size > 0);
    for (const t of this.tiers) {
      t.names.freeze();
      t.ips.freeze();
    }
  }

  lookup(host: string, port: number): CatalogMatch | null {
    const h = normalizeHost(host);
    const ip = ipLiteral(h);
    const tiers = this.tiers;
    if (ip === null) {
      if (!plausibleName(h)) return null;
      for (let i = 0; i < tiers.length; i++) {
        const hit = tiers[i]!.names.lookup(h, port);
        if (hit !== null) return hit.match;
      }
      return null;
    }
    for (let i = 0; i < tiers.length; i++) {
      const hit = typeof ip === 'number' ? tiers[i]!.ips.lookup4(ip, port) : tiers[i]!.ips.lookup6(ip, port);
      if (hit !== null) return hit.match;
    }
    return null;
  }

  matchAll(host: string, port: number): CompiledRule[] {
    const h = normalizeHost(host);
    const ip = ipLiteral(h);
    if (ip === null && !plausibleName(h)) return [];
    const found = this.tiers.flatMap((t) => (ip === null ? t.names.candidates(h) : t.ips.candidates(ip)));
    const seen = new Set<CompiledRule>();
    return found
      .filter((r) => !seen.has(r) && seen.add(r) && (r.ports === null || r.ports.some(([lo, hi]) => port >= lo && port <= hi)))
      .filter((r) => patternMatches(r.pattern, h))
      .sort((a, b) => b.score - a.score);
  }
}

/** Empty labels or a literal `*` never name a real host (and would otherwise satisfy a wildcard). */
function plausibleName(h: string): boolean {
  return h.length > 0 && h.indexOf('*') < 0 && h.indexOf('..') < 0 && h.charCodeAt(0) !== 46;
}

/** null for a host name; uint32 for IPv4 (and IPv4-mapped IPv6); bigint for IPv6. */
function ipLiteral(h: string): number | bigint | null {
  if (h.indexOf(':') >= 0) {
    let addr: ipaddr.IPv6;
    try {
      addr = ipaddr.IPv6.parse(h);
    } catch {
      return null;
    }
    if (addr.isIPv4MappedAddress()) return v4ToNumber(addr.toIPv4Address().octets);
    return v6ToBigInt(addr.toByteArray());
  }
  const last = h.charCodeAt(h.length - 1);
  if (last >= 48 && last <= 57 && ipaddr.IPv4.isValidFourPartDecimal(h)) return v4ToNumber(ipaddr.IPv4.parse(h).octets);
  return null;
}
