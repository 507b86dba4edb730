// Compares two compiled catalogs (before/after a hot reload or `rules update`): patterns added,
// removed, recategorised (category, trust, ports or detection changed), and source versions changed.
// Pure: it returns data; logging it is the caller's business.
import type { CompiledCatalog, CompiledRule } from './compile.js';
import { patternText } from './pattern.js';
import { formatPorts } from './ports.js';

export interface DiffEntry {
  source: string;
  pattern: string; // normalised pattern text
  /** One summary per rule with this (source, pattern): "id=1 Optimize bypass ports=80,443". */
  rules: string[];
}

export interface Recategorised {
  source: string;
  pattern: string;
  before: string[];
  after: string[];
}

export interface CatalogDiff {
  added: DiffEntry[];
  removed: DiffEntry[];
  recategorised: Recategorised[];
  versions: { source: string; before: string | null; after: string | null }[];
  /** True when nothing changed at all. */
  same: boolean;
}

export function diffCatalogs(before: CompiledCatalog, after: CompiledCatalog): CatalogDiff {
  const a = group(before.rules);
  const b = group(after.rules);
  const added: DiffEntry[] = [];
  const removed: DiffEntry[] = [];
  const recategorised: Recategorised[] = [];
  for (const [key, now] of b) {
    const was = a.get(key);
    if (was === undefined) added.push(now);
    else if (was.rules.join('\n') !== now.rules.join('\n')) {
      recategorised.push({ source: now.source, pattern: now.pattern, before: was.rules, after: now.rules });
    }
  }
  for (const [key, was] of a) if (!b.has(key)) removed.push(was);

  const versions: CatalogDiff['versions'] = [];
  const names = new Set([...Object.keys(before.versions), ...Object.keys(after.versions)]);
  for (const source of [...names].sort()) {
    const v1 = before.versions[source] ?? null;
    const v2 = after.versions[source] ?? null;
    if (v1 !== v2) versions.push({ source, before: v1, after: v2 });
  }
  const same = added.length + removed.length + recategorised.length + versions.length === 0;
  return { added, removed, recategorised, versions, same };
}

function group(rules: readonly CompiledRule[]): Map<string, DiffEntry> {
  const out = new Map<string, DiffEntry>();
  for (const r of rules) {
    const pattern = patternText(r.pattern);
    const key = `${r.ref.source}\u0000${pattern}`;
    let entry = out.get(key);
    if (entry === undefined) out.set(key, (entry = { source: r.ref.source, pattern, rules: [] }));
    const summary = `id=${r.ref.id} ${r.ref.category} ${r.trust} ports=${formatPorts(r.ports)}${r.detect ? '' : ' detect=false'}`;
    if (!entry.rules.includes(summary)) entry.rules.push(summary);
  }
  for (const e of out.values()) e.rules.sort();
  return out;
}
