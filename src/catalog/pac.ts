// PAC file from the compiled catalog (`autopatch-proxy pac`, `rules export --format pac`, admin /proxy.pac):
// chosen destinations DIRECT, everything else PROXY to this proxy, with the matcher's precedence and `*` semantics.
// renderPac is pure; pacRoute only caches it per catalog. Never resolves names (see export-pac-runtime.ts).
import { networkInterfaces } from 'node:os';
import type { CompiledCatalog, CompiledRule } from './compile.js';
import { decidedRanges, formatAddress, intersect, subtract, toCidrs, v4Mask, type Family, type Interval } from './export-ranges.js';
import { PAC_RUNTIME } from './export-pac-runtime.js';
import { headerLines, nameLayers } from './export-view.js';

/** optimize: M365 Optimize (Microsoft's recommendation); trusted: every bypass rule; none: nothing DIRECT. */
export type PacDirect = 'optimize' | 'trusted' | 'none';
export const PAC_DIRECT: readonly PacDirect[] = ['optimize', 'trusted', 'none'];
export const PAC_CONTENT_TYPE = 'application/x-ns-proxy-autoconfig';

export interface PacOptions {
  /** `host:port` (IPv6 as `[addr]:port`) written as `PROXY host:port`. */
  proxy: string;
  direct: PacDirect;
  now?: Date;
}

/** Port 80 for http: URLs, 443 for everything else (a PAC sees the URL, so both views are kept). */
const WEB_PORTS: readonly [number, number][] = [
  [80, 1],
  [443, 2],
];

/** DIRECT only for rules this proxy itself would bypass: a site that inspects Optimize keeps it proxied. */
export function pacDirectRule(direct: PacDirect): (r: CompiledRule) => boolean {
  if (direct === 'none') return () => false;
  if (direct === 'trusted') return (r) => r.trust === 'bypass';
  return (r) => r.trust === 'bypass' && r.ref.category === 'Optimize';
}

interface PacData {
  exact: Map<string, number[]>;
  sub: Map<string, number[]>;
  globs: Map<string, [string, number][]>;
  n4: [string, string, number][];
  n6: [number[], number, number][];
}

function buildData(catalog: CompiledCatalog, direct: (r: CompiledRule) => boolean): PacData {
  // Only DIRECT rules and the PROXY rules that win over one of them on some host are needed: with both
  // present, the highest rank among the present rules is the matcher's answer (export-view.ts nameLayers).
  const masks = new Map<CompiledRule, number>();
  for (const [port, bit] of WEB_PORTS) {
    const layers = nameLayers(catalog.rules, direct, port);
    for (const r of [...layers.include, ...layers.except]) masks.set(r, (masks.get(r) ?? 0) | bit);
  }
  const ranked = [...masks.keys()].sort((a, b) => a.score - b.score);
  const data: PacData = { exact: new Map(), sub: new Map(), globs: new Map(), n4: [], n6: [] };
  const push = <V>(m: Map<string, V[]>, k: string, v: V): void => {
    const list = m.get(k);
    if (list === undefined) m.set(k, [v]);
    else list.push(v);
  };
  ranked.forEach((r, i) => {
    const code = (i + 1) * 8 + masks.get(r)! * 2 + (direct(r) ? 1 : 0);
    const p = r.pattern;
    if (p.kind === 'exact') push(data.exact, p.host, code);
    else if (p.kind === 'subdomains') push(data.sub, p.suffix, code);
    else if (p.kind === 'labels') {
      const head = [...p.tail].reverse().map((m) => (m.kind === 'lit' ? m.text : m.kind === 'any' ? '[^.]+' : `${m.prefix}[^.]*${m.suffix}`));
      push(data.globs, p.suffix, [`/^${head.join('\\.')}$/`, code]);
    }
  });
  const sets = WEB_PORTS.map(([port]) => decidedRanges(catalog.rules, direct, port));
  for (const family of [4, 6] as const) {
    const key = family === 4 ? 'v4' : 'v6';
    const at80 = sets[0]![key];
    const at443 = sets[1]![key];
    const parts: [Interval[], number][] = [
      [intersect(at80, at443), 3],
      [subtract(at80, at443), 1],
      [subtract(at443, at80), 2],
    ];
    for (const [list, bits] of parts) for (const c of toCidrs(family, list)) addNet(data, family, c.network, c.prefix, bits);
  }
  return data;
}

function addNet(data: PacData, family: Family, network: bigint, prefix: number, bits: number): void {
  if (family === 4) data.n4.push([formatAddress(4, network), v4Mask(prefix), bits]);
  else data.n6.push([[...Array(8).keys()].map((k) => Number((network >> BigInt(112 - 16 * k)) & 0xffffn)), prefix, bits]);
}

const object = <V>(m: Map<string, V[]>, value: (v: V) => string): string =>
  `{${[...m].map(([k, list]) => `${JSON.stringify(k)}:[${list.map(value).join(',')}]`).join(',\n')}}`;

export function renderPac(catalog: CompiledCatalog, opts: PacOptions): string {
  const what = opts.direct === 'optimize' ? 'Microsoft 365 Optimize destinations' : opts.direct === 'trusted' ? 'every destination the catalog bypasses' : 'nothing';
  const head = [
    ...headerLines(catalog, `pac --pac-direct ${opts.direct}`, opts.now ?? new Date(), '//'),
    `// DIRECT: ${what}; everything else: PROXY ${opts.proxy}, with no DIRECT fallback (a stopped`,
    '// proxy must not silently skip the logging). Same precedence as the proxy: the most specific rule wins,',
    '// so narrower non-DIRECT carve-outs such as *-files.sharepoint.com stay PROXY; "*" inside a label never',
    '// crosses a dot. http: URLs are judged at port 80, all others at 443. IP ranges apply only to IP-literal',
    '// hosts: names are never resolved (dnsResolve blocks the browser).',
  ];
  const proxyLine = `var PROXY = ${JSON.stringify(`PROXY ${opts.proxy}`)};`;
  if (opts.direct === 'none') return [...head, proxyLine, 'function FindProxyForURL(url, host) {', '  return PROXY;', '}', ''].join('\n');
  const d = buildData(catalog, pacDirectRule(opts.direct));
  const size = d.exact.size + d.sub.size + [...d.globs.values()].reduce((n, l) => n + l.length, 0);
  return [
    ...head,
    `// ${size} host-name entries, ${d.n4.length} IPv4 and ${d.n6.length} IPv6 DIRECT ranges.`,
    proxyLine,
    `var E = ${object(d.exact, String)};`,
    `var S = ${object(d.sub, String)};`,
    `var G = ${object(d.globs, ([re, code]) => `[${re},${code}]`)};`,
    `var N4 = ${JSON.stringify(d.n4)};`,
    `var N6 = ${JSON.stringify(d.n6)};`,
    PAC_RUNTIME,
  ].join('\n');
}

type Interfaces = ReturnType<typeof networkInterfaces>;

/**
 * The `host:port` a PAC should name for a listener. A wildcard listen address (0.0.0.0, ::) is not
 * reachable as such: take the first non-internal IPv4 address, else 127.0.0.1, and say so in `note`.
 */
export function pacProxyAddress(listen: { host: string; port: number }, interfaces: () => Interfaces = networkInterfaces): { proxy: string; note: string | null } {
  const { host, port } = listen;
  if (host !== '0.0.0.0' && host !== '::' && host !== '') return { proxy: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`, note: null };
  const found = Object.values(interfaces())
    .flat()
    .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal);
  const chosen = found?.address ?? '127.0.0.1';
  const why = found ? "this host's first non-internal IPv4 address" : 'no non-internal IPv4 address found';
  return { proxy: `${chosen}:${port}`, note: `the proxy listens on ${host}:${port}; the PAC names ${chosen}:${port} (${why}): pass --proxy HOST:PORT to choose` };
}

/** Structurally the admin listener's AdminRoute (catalog code does not import observability). */
export interface PacRoute {
  contentType: string;
  body(): string;
}

/** `/proxy.pac` for the admin listener: rendered once per catalog (a SIGHUP reload makes a new one). */
export function pacRoute(
  getCatalog: () => CompiledCatalog | null,
  config: { listen: { host: string; port: number }; pacDirect: PacDirect },
): PacRoute {
  let cached: { catalog: CompiledCatalog; text: string } | null = null;
  const proxy = pacProxyAddress(config.listen).proxy;
  return {
    contentType: PAC_CONTENT_TYPE,
    body(): string {
      const catalog = getCatalog();
      if (catalog === null) return renderPac(EMPTY, { proxy, direct: 'none' });
      if (cached === null || cached.catalog !== catalog) cached = { catalog, text: renderPac(catalog, { proxy, direct: config.pacDirect }) };
      return cached.text;
    },
  };
}

const EMPTY = { versions: {}, rules: [], sources: [], lookup: () => null, matchAll: () => [] } as CompiledCatalog;
