// `rules export --format json`: every selected rule with its provenance (source, id, category, pattern as
// published, trust, ports, detect, file and line) plus the per-source versions. Pure renderer.
// JSON has no comments: the "header" is the first members (generator, generated, versions).
import { basename } from 'node:path';
import type { CompiledCatalog } from './compile.js';
import { selects, type ExportOptions } from './export-view.js';
import { patternText } from './pattern.js';
import type { Trust } from './types.js';

export interface ExportedRule {
  source: string;
  id: string;
  category: string;
  /** As published in the source file. */
  pattern: string;
  /** Normalised: lower case, `*.suffix`, canonical CIDR with host bits cleared. */
  normalized: string;
  kind: 'exact' | 'subdomains' | 'labels' | 'cidr';
  trust: Trust;
  /** TCP ports as the project format writes them (numbers, "lo-hi"); null = any port. */
  ports: (number | string)[] | null;
  detect: boolean;
  fallback: boolean;
  local: boolean;
  file: string;
  line: number;
}

export interface ExportedCatalog {
  generator: string;
  generated: string;
  decision: string;
  versions: Record<string, string>;
  sources: { source: string; file: string; product: string; version: string; rules: number; nonMatching: number }[];
  rules: ExportedRule[];
}

export function exportJson(catalog: CompiledCatalog, opts: ExportOptions): ExportedCatalog {
  return {
    generator: 'autopatch-proxy rules export --format json',
    generated: (opts.now ?? new Date()).toISOString(),
    decision: opts.decision,
    versions: { ...catalog.versions },
    sources: catalog.sources.map((s) => ({ source: s.source, file: basename(s.file), product: s.product, version: s.version, rules: s.rules, nonMatching: s.nonMatching })),
    rules: catalog.rules
      .filter((r) => selects(opts.decision, r.trust))
      .map((r) => ({
        source: r.ref.source,
        id: r.ref.id,
        category: r.ref.category,
        pattern: r.ref.pattern,
        normalized: patternText(r.pattern),
        kind: r.pattern.kind,
        trust: r.trust,
        ports: r.ports === null ? null : r.ports.map(([lo, hi]) => (lo === hi ? lo : `${lo}-${hi}`)),
        detect: r.detect,
        fallback: r.fallback,
        local: r.local,
        file: basename(r.file),
        line: r.line,
      })),
  };
}

export function renderJson(catalog: CompiledCatalog, opts: ExportOptions): string {
  return JSON.stringify(exportJson(catalog, opts), null, 2) + '\n';
}
