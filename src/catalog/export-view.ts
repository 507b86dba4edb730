// What every exporter needs from the compiled catalog: which rules an export selects, which narrower
// unselected rules win over them (carve-outs), exact pattern overlap, and the header naming the versions.
// Pure: rules in, plain lists out; no format is rendered here beyond the shared header lines.
import type { CompiledCatalog, CompiledRule } from './compile.js';
import type { HostPattern, LabelMatcher } from './pattern.js';
import { portAllowed } from './ports.js';
import type { Trust } from './types.js';

export type ExportDecision = 'bypass' | 'allowed' | 'all';
export const EXPORT_DECISIONS: readonly ExportDecision[] = ['bypass', 'allowed', 'all'];
export type ExportFormat = 'squid' | 'domains' | 'cidrs' | 'pac' | 'json';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['squid', 'domains', 'cidrs', 'pac', 'json'];

export interface ExportOptions {
  /** bypass: trusted rules; allowed: everything a rule lets through (bypass + mode); all: incl. deny. */
  decision: ExportDecision;
  /** TCP port the rules are evaluated at (rules carry port lists; a name-only list cannot). Default 443. */
  port?: number;
  /** Generation time written in the header (tests pin it). */
  now?: Date;
}

export const DEFAULT_EXPORT_PORT = 443;

export function selects(decision: ExportDecision, trust: Trust): boolean {
  return decision === 'all' || trust === 'bypass' || (decision === 'allowed' && trust === 'mode');
}

export type NameRule = CompiledRule & { readonly pattern: HostPattern };

export function isNameRule(r: CompiledRule): r is NameRule {
  return r.pattern.kind !== 'cidr';
}

/**
 * Host-name rules at one port, in layers an allowlist/denylist pair can express:
 *   include     the selected rules;
 *   except      unselected rules that beat (higher score) an included rule on some host: carve-outs such as
 *               Default `*-files.sharepoint.com` below Optimize `*.sharepoint.com`;
 *   first       included rules that beat an exception on some host (must be tested before the exceptions);
 *   unresolved  unselected rules that beat a `first` rule: deeper nesting three layers cannot express.
 * Exact: "beats on some host" = the patterns overlap (exact label-wise test) and the score is higher.
 */
export interface NameLayers {
  include: NameRule[];
  except: NameRule[];
  first: NameRule[];
  unresolved: NameRule[];
}

export function nameLayers(rules: readonly CompiledRule[], selected: (r: CompiledRule) => boolean, port: number): NameLayers {
  const inScope = rules.filter((r): r is NameRule => isNameRule(r) && portAllowed(r.ports, port));
  const include = inScope.filter(selected);
  const others = inScope.filter((r) => !selected(r));
  const beatsSome = (winners: readonly NameRule[], losers: readonly NameRule[]): NameRule[] =>
    winners.filter((w) => losers.some((l) => w.score > l.score && overlaps(w.pattern, l.pattern)));
  const except = beatsSome(others, include);
  const first = beatsSome(include, except);
  const unresolved = beatsSome(others, first);
  return { include, except, first, unresolved };
}

/** A pattern as label matchers from the right (TLD first); `open` = one or more further labels of any kind. */
function shape(p: HostPattern): { labels: LabelMatcher[]; open: boolean } {
  const lits = (text: string): LabelMatcher[] => text.split('.').reverse().map((l) => ({ kind: 'lit', text: l }) as const);
  if (p.kind === 'exact') return { labels: lits(p.host), open: false };
  if (p.kind === 'subdomains') return { labels: lits(p.suffix), open: true };
  return { labels: [...lits(p.suffix), ...p.tail], open: false };
}

function labelsMeet(a: LabelMatcher, b: LabelMatcher): boolean {
  if (a.kind === 'any' || b.kind === 'any') return true;
  if (a.kind === 'lit' && b.kind === 'lit') return a.text === b.text;
  if (a.kind === 'glob' && b.kind === 'glob') {
    // some string starts with both prefixes and ends with both suffixes
    const pre = a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix);
    const suf = a.suffix.endsWith(b.suffix) || b.suffix.endsWith(a.suffix);
    return pre && suf;
  }
  const g = a.kind === 'glob' ? a : b;
  const l = a.kind === 'lit' ? a : b;
  if (g.kind !== 'glob' || l.kind !== 'lit') return true; // unreachable: one glob, one literal here
  return l.text.length >= g.prefix.length + g.suffix.length && l.text.startsWith(g.prefix) && l.text.endsWith(g.suffix);
}

/** True when some host name matches both patterns (exact, not an approximation). */
export function overlaps(a: HostPattern, b: HostPattern): boolean {
  const x = shape(a);
  const y = shape(b);
  const n = Math.min(x.labels.length, y.labels.length);
  for (let i = 0; i < n; i++) if (!labelsMeet(x.labels[i]!, y.labels[i]!)) return false;
  if (x.labels.length === y.labels.length) return x.open === y.open;
  // the shorter one must be open: its "one or more labels" absorbs the longer one's remaining labels
  return x.labels.length < y.labels.length ? x.open : y.open;
}

/** The normalised host-pattern text (`*.x.com`, `payloadprod*.blob…`, `autodiscover.*.onmicrosoft.com`). */
export function hostText(p: HostPattern): string {
  return p.kind === 'subdomains' ? `*.${p.suffix}` : p.host;
}

/** `source/category id pattern` for comments. */
export function describeRule(r: CompiledRule): string {
  return `${r.ref.source}/${r.ref.category} #${r.ref.id} ${r.ref.pattern} (${r.trust})`;
}

/** The winning rule for a host at a port (the matcher's own answer, as a CompiledRule). */
export function winner(catalog: CompiledCatalog, host: string, port: number): CompiledRule | null {
  return catalog.matchAll(host, port)[0] ?? null;
}

/** Plain code-point order (what `LC_ALL=C sort` gives), duplicates removed. */
export function sortedUnique(items: Iterable<string>): string[] {
  return [...new Set(items)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Header comment lines shared by every text export: what it is, when it was generated and the catalog
 * versions (source → version) it came from.
 */
export function headerLines(catalog: CompiledCatalog, title: string, now: Date, comment = '#'): string[] {
  const lines = [`autopatch-proxy ${title}`, `generated ${now.toISOString()} from the catalog (source → version):`];
  const names = Object.keys(catalog.versions).sort();
  const width = Math.max(0, ...names.map((s) => s.length));
  for (const s of names) lines.push(`  ${s.padEnd(width)} → ${catalog.versions[s] || '(unversioned)'}`);
  return lines.map((l) => `${comment} ${l}`.trimEnd());
}
