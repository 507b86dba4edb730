// `rules export --format squid`: the compiled catalog as Squid ACL files (dstdomain, dstdom_regex, dst), in
// one stream split by `# ---- file: NAME` lines, exact at the chosen port, carve-outs included. Pure renderer.
// Squid semantics used: dstdomain `.x.com` = x.com AND every name below; dstdom_regex is POSIX ERE (-i).
import type { CompiledCatalog, CompiledRule } from './compile.js';
import { decidedRanges, formatCidrs } from './export-ranges.js';
import {
  DEFAULT_EXPORT_PORT, describeRule, headerLines, hostText, nameLayers, selects, sortedUnique, winner,
  type ExportOptions, type NameRule,
} from './export-view.js';
import type { HostPattern } from './pattern.js';

export const SQUID_FILES = {
  dstdomain: 'autopatch_dstdomain.acl',
  regex: 'autopatch_dstdom_regex.acl',
  except: 'autopatch_except.acl',
  first: 'autopatch_first.acl',
  dst: 'autopatch_dst.acl',
} as const;

/** POSIX ERE (and JS) source with the matcher's exact semantics; a label never spans a dot. */
export function squidRegex(p: HostPattern): string {
  const esc = (s: string): string => s.replace(/[.]/g, '\\.');
  if (p.kind === 'exact') return `^${esc(p.host)}$`;
  if (p.kind === 'subdomains') return `\\.${esc(p.suffix)}$`; // at least one label in front, never the apex
  const head = [...p.tail]
    .reverse()
    .map((m) => (m.kind === 'lit' ? esc(m.text) : m.kind === 'any' ? '[^.]+' : `${esc(m.prefix)}[^.]*${esc(m.suffix)}`));
  return `^${head.join('\\.')}\\.${esc(p.suffix)}$`;
}

/** Drops dstdomain entries another `.suffix` entry already covers (Squid warns about them and ignores them). */
function withoutCovered(entries: readonly string[]): string[] {
  const dotted = entries.filter((e) => e.startsWith('.'));
  return entries.filter((e) => {
    const name = e.startsWith('.') ? e.slice(1) : e;
    return !dotted.some((d) => d !== e && (name === d.slice(1) || name.endsWith(d)));
  });
}

export function renderSquid(catalog: CompiledCatalog, opts: ExportOptions): string {
  const port = opts.port ?? DEFAULT_EXPORT_PORT;
  const pick = (r: CompiledRule): boolean => selects(opts.decision, r.trust);
  const layers = nameLayers(catalog.rules, pick, port);
  const domains: string[] = [];
  const domainNotes: string[] = [];
  const regexes: string[] = [];
  for (const r of layers.include) {
    const p = r.pattern;
    if (p.kind === 'exact') domains.push(p.host);
    else if (p.kind === 'subdomains') {
      const apex = winner(catalog, p.suffix, port);
      if (apex !== null && pick(apex)) domains.push(`.${p.suffix}`);
      else {
        // `.x.com` would also admit the apex x.com, which this export does not select: use the regex form.
        domainNotes.push(`# ${hostText(p)}: subdomains only (apex ${p.suffix} is not selected) → ${SQUID_FILES.regex}`);
        regexes.push(squidRegex(p));
      }
    } else {
      domainNotes.push(`# ${hostText(p)}: wildcard inside a label, not expressible as dstdomain → ${SQUID_FILES.regex}`);
      regexes.push(squidRegex(p));
    }
  }
  const regexLines = (rules: readonly NameRule[]): string[] => {
    const seen = new Set<string>();
    const lines: string[] = [];
    for (const r of [...rules].sort((a, b) => b.score - a.score)) {
      const re = squidRegex(r.pattern);
      if (seen.has(re)) continue;
      seen.add(re);
      lines.push(`# ${describeRule(r)}`, re);
    }
    return lines;
  };
  const ips = decidedRanges(catalog.rules, pick, port);
  const dst = [...formatCidrs(4, ips.v4), ...formatCidrs(6, ips.v6)];

  const acl: string[] = [
    `acl autopatch_names dstdomain -n "/etc/squid/${SQUID_FILES.dstdomain}"`,
    `acl autopatch_names_re dstdom_regex -n -i "/etc/squid/${SQUID_FILES.regex}"`,
    `acl autopatch_except dstdom_regex -n -i "/etc/squid/${SQUID_FILES.except}"`,
    `acl autopatch_ips dst -n "/etc/squid/${SQUID_FILES.dst}"`,
    `acl autopatch_port port ${port}`,
  ];
  const use: string[] = [];
  if (layers.first.length > 0) {
    acl.push(`acl autopatch_first dstdom_regex -n -i "/etc/squid/${SQUID_FILES.first}"`);
    use.push('ACTION autopatch_port autopatch_first');
  }
  use.push(
    'ACTION autopatch_port !autopatch_except autopatch_names',
    'ACTION autopatch_port !autopatch_except autopatch_names_re',
    'ACTION autopatch_port autopatch_ips',
  );
  const out: string[] = [
    ...headerLines(catalog, `rules export --format squid --decision ${opts.decision} (rules evaluated at TCP port ${port})`, opts.now ?? new Date()),
    '#',
    '# Squid ACL files in one stream; split them on the "# ---- file:" lines, e.g.',
    "#   awk '/^# ---- file: /{f=$4; next} f{print > f}' autopatch.squid",
    '# A name is selected when it is in the dstdomain or the regex file and not in the except file, or when',
    "# it is in the first file (only present when a selected rule sits inside an exception). Squid's",
    '# dstdomain ".x.com" also matches x.com itself, so "*.x.com" (never the apex) is written ".x.com" only',
    '# when the catalog selects x.com too, otherwise as the regex "\\.x\\.com$". Wildcards inside a label',
    '# ("*cdn.onenote.net", "payloadprod*.blob…") and one-label middle wildcards are regexes: "[^.]" never',
    '# crosses a dot. IP ranges apply to IP-literal destinations; carve-outs are already subtracted.',
    '# squid.conf, Squid 5 or later (paths to taste; "-n": no DNS lookups, names and IPs never converted):',
    ...acl.map((l) => `#   ${l}`),
    '# then, in this order, with ACTION = "ssl_bump splice" (no inspection) and again with ACTION =',
    '# "http_access allow" placed before your proxy_auth lines (no authentication):',
    ...use.map((l) => `#   ${l}`),
  ];
  if (layers.unresolved.length > 0) {
    out.push('# WARNING: nesting deeper than three layers; these unselected rules win inside a "first" rule and are not expressed:');
    for (const r of layers.unresolved) out.push(`#   ${describeRule(r)}`);
  }
  out.push(
    '',
    `# ---- file: ${SQUID_FILES.dstdomain}`,
    '# dstdomain: "name" exact, ".name" = name and every name below it',
    ...sortedUnique(domainNotes),
    ...sortedUnique(withoutCovered(sortedUnique(domains))),
    '',
    `# ---- file: ${SQUID_FILES.regex}`,
    '# dstdom_regex -i (POSIX ERE): selected patterns dstdomain cannot express exactly',
    ...sortedUnique(regexes),
    '',
    `# ---- file: ${SQUID_FILES.except}`,
    '# dstdom_regex -i: narrower rules that win over a selected one but are not selected themselves',
    ...regexLines(layers.except),
    '',
    `# ---- file: ${SQUID_FILES.first}`,
    '# dstdom_regex -i: selected rules that win inside an exception (test before the except file)',
    ...regexLines(layers.first),
    '',
    `# ---- file: ${SQUID_FILES.dst}`,
    '# dst: IP ranges (IPv4 then IPv6), merged, carve-outs subtracted',
    ...dst,
  );
  return out.join('\n') + '\n';
}
