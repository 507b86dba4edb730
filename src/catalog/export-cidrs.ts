// `rules export --format cidrs`: the IP ranges the catalog decides the selected way at one port, exact
// (narrower unselected ranges subtracted), merged and sorted (IPv4 then IPv6), host bits masked. Pure.
// Host-name rules are not here (--format domains); names are never resolved.
import type { CompiledCatalog } from './compile.js';
import { decidedRanges, formatCidrs } from './export-ranges.js';
import { DEFAULT_EXPORT_PORT, headerLines, selects, type ExportOptions } from './export-view.js';

export function exportCidrs(catalog: CompiledCatalog, opts: ExportOptions): string[] {
  const sets = decidedRanges(catalog.rules, (r) => selects(opts.decision, r.trust), opts.port ?? DEFAULT_EXPORT_PORT);
  return [...formatCidrs(4, sets.v4), ...formatCidrs(6, sets.v6)];
}

export function renderCidrs(catalog: CompiledCatalog, opts: ExportOptions): string {
  const port = opts.port ?? DEFAULT_EXPORT_PORT;
  return [
    ...headerLines(catalog, `rules export --format cidrs --decision ${opts.decision} (rules evaluated at TCP port ${port})`, opts.now ?? new Date()),
    '#',
    '# One CIDR per line, IPv4 then IPv6 in address order. Overlapping and adjacent ranges are merged into the',
    '# fewest aligned blocks; a narrower range the catalog decides otherwise (longest prefix wins) is cut out.',
    ...exportCidrs(catalog, opts),
  ].join('\n') + '\n';
}
