// `rules export --format domains`: a plain, sorted, de-duplicated list of the selected host patterns for DNS
// filters and allowlists, one per line; what a flat list cannot say (carve-outs) is listed as comments.
// Pure renderer over the compiled catalog; no matching of its own.
import type { CompiledCatalog, CompiledRule } from './compile.js';
import {
  DEFAULT_EXPORT_PORT, describeRule, headerLines, hostText, nameLayers, selects, sortedUnique, type ExportOptions,
} from './export-view.js';

/** Entries another `*.suffix` entry already covers (`a.x.com` and `*.a.x.com` under `*.x.com`). */
function withoutCovered(entries: readonly string[]): string[] {
  const suffixes = entries.filter((e) => e.startsWith('*.')).map((e) => e.slice(1)); // ".x.com"
  return entries.filter((e) => !suffixes.some((s) => e !== `*${s}` && e.endsWith(s)));
}

export function renderDomains(catalog: CompiledCatalog, opts: ExportOptions): string {
  const port = opts.port ?? DEFAULT_EXPORT_PORT;
  const pick = (r: CompiledRule): boolean => selects(opts.decision, r.trust);
  const layers = nameLayers(catalog.rules, pick, port);
  const entries = sortedUnique(withoutCovered(sortedUnique(layers.include.map((r) => hostText(r.pattern)))));
  const out = [
    ...headerLines(catalog, `rules export --format domains --decision ${opts.decision} (rules evaluated at TCP port ${port})`, opts.now ?? new Date()),
    '#',
    '# One host pattern per line, sorted (code-point order), no duplicates:',
    '#   name.example.com     exactly that name',
    '#   *.example.com        every name below example.com, NOT example.com itself (listed on its own line',
    '#                        when selected); for a suffix-only tool use the text after "*."',
    '#   pre*.example.com     "*" inside one label: any characters except a dot (drop these lines if your',
    '#                        tool has no wildcards); a lone middle "*" label is exactly one label',
    '# IP ranges are not listed here: use --format cidrs.',
  ];
  const exceptions = sortedUnique(layers.except.map(describeRule));
  if (exceptions.length > 0) {
    out.push('# Narrower rules that win over a line below but are not selected (a flat list cannot subtract them):');
    for (const e of exceptions) out.push(`#   ${e}`);
  }
  out.push(...entries);
  return out.join('\n') + '\n';
}
