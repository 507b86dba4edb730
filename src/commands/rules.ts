// `rules list | check | update | export`: thin CLI shells over catalog/load, catalog/update and the exporters.
// Human output on stdout, problems on stderr; every function returns the exit code (0 ok, 1 failed, 2 usage).
import { basename } from 'node:path';
import type { CompiledCatalog } from '../catalog/compile.js';
import { loadRules, type LoadResult } from '../catalog/load.js';
import { renderCidrs } from '../catalog/export-cidrs.js';
import { renderDomains } from '../catalog/export-domains.js';
import { renderJson } from '../catalog/export-json.js';
import { renderSquid } from '../catalog/export-squid.js';
import { EXPORT_DECISIONS, EXPORT_FORMATS, type ExportDecision, type ExportFormat } from '../catalog/export-view.js';
import { pacProxyAddress, renderPac, type PacDirect } from '../catalog/pac.js';
import { updateRules, UpdateError } from '../catalog/update.js';
import type { Trust } from '../catalog/types.js';

export interface Io {
  out(text: string): void;
  err(text: string): void;
}
export const stdio: Io = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) };

export interface RulesConfig {
  rulesDir: string;
  listen: { host: string; port: number };
  pacDirect: PacDirect;
}
export interface RulesOptions {
  json?: boolean;
  serviceUrl?: string;
  instance?: string;
  format?: string;
  decision?: string;
  port?: number;
  proxy?: string | null;
}

const ACTIONS = ['list', 'check', 'update', 'export'] as const;
const NON_MATCHING_KINDS = 'UDP flows such as Teams media, QUIC, NTP and Teredo; AD DS and Entra hybrid ports; DO peer ports; cache content lists';

export async function runRules(action: string, cfg: RulesConfig, opts: RulesOptions = {}, io: Io = stdio): Promise<number> {
  const usage = (m: string): number => (io.err(`autopatch-proxy: ${m}\n`), 2);
  if (action === 'list') return rulesList(cfg.rulesDir, Boolean(opts.json), io);
  if (action === 'check') return rulesCheck(cfg.rulesDir, io);
  if (action === 'update') return rulesUpdate(cfg.rulesDir, opts, io);
  if (action !== 'export') return usage(`rules: "${action}" is not one of ${ACTIONS.join(', ')}`);
  if (opts.format === undefined) return usage(`rules export: --format is required (${EXPORT_FORMATS.join(', ')})`);
  if (!(EXPORT_FORMATS as readonly string[]).includes(opts.format)) return usage(`--format: "${opts.format}" is not one of ${EXPORT_FORMATS.join(', ')}`);
  const decision = opts.decision ?? 'bypass';
  if (!(EXPORT_DECISIONS as readonly string[]).includes(decision)) return usage(`--decision: "${decision}" is not one of ${EXPORT_DECISIONS.join(', ')}`);
  const port = opts.port ?? 443;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return usage(`--port: "${String(opts.port)}" must be an integer from 1 to 65535`);
  const loaded = await loadChecked(cfg.rulesDir, io);
  if (loaded === null) return 1;
  return rulesExport(loaded.catalog, opts.format as ExportFormat, { decision: decision as ExportDecision, port }, cfg, opts.proxy ?? null, io);
}

/** Loads the directory; on any problem prints the first one (and how many more) and returns null. */
export async function loadChecked(dir: string, io: Io): Promise<LoadResult | null> {
  const loaded = await loadRules(dir);
  if (loaded.errors.length === 0) return loaded;
  const e = loaded.errors[0]!;
  const more = loaded.errors.length > 1 ? ` (and ${loaded.errors.length - 1} more)` : '';
  io.err(`autopatch-proxy: ${e.file}:${e.line}: ${e.message}${more}; run: autopatch-proxy rules check --rules ${dir}\n`);
  return null;
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;

/** The PAC's `PROXY` target: --proxy as given (validated), else the listen address (a wildcard one explained). */
export function resolvePacProxy(proxy: string | null, listen: { host: string; port: number }, io: Io): string | null {
  if (proxy !== null) {
    const m = HOST_PORT.exec(proxy.trim());
    const port = m ? Number(m[2]) : 0;
    if (m === null || port < 1 || port > 65535) {
      io.err(`autopatch-proxy: --proxy: "${proxy}" is not HOST:PORT (IPv6 as [addr]:port)\n`);
      return null;
    }
    return proxy.trim();
  }
  const chosen = pacProxyAddress(listen);
  if (chosen.note !== null) io.err(`autopatch-proxy: ${chosen.note}\n`);
  return chosen.proxy;
}

async function rulesList(dir: string, json: boolean, io: Io): Promise<number> {
  const { catalog, errors } = await loadRules(dir);
  const trusts = new Map<string, Record<Trust, number>>();
  const byCategory = new Map<string, Map<string, Record<Trust, number>>>();
  for (const r of catalog.rules) {
    const t = trusts.get(r.ref.source) ?? { bypass: 0, mode: 0, deny: 0 };
    t[r.trust]++;
    trusts.set(r.ref.source, t);
    const cats = byCategory.get(r.ref.source) ?? new Map<string, Record<Trust, number>>();
    const c = cats.get(r.ref.category) ?? { bypass: 0, mode: 0, deny: 0 };
    c[r.trust]++;
    byCategory.set(r.ref.source, cats.set(r.ref.category, c));
  }
  const rows = catalog.sources.map((s) => ({
    source: s.source,
    file: basename(s.file),
    product: s.product,
    version: s.version,
    rules: s.rules,
    nonMatching: s.nonMatching,
    categories: { ...s.categories },
    trust: trusts.get(s.source) ?? { bypass: 0, mode: 0, deny: 0 },
  }));
  const sum = (f: (r: (typeof rows)[number]) => number): number => rows.reduce((n, r) => n + f(r), 0);
  const totals = { rules: sum((r) => r.rules), nonMatching: sum((r) => r.nonMatching), bypass: sum((r) => r.trust.bypass), mode: sum((r) => r.trust.mode), deny: sum((r) => r.trust.deny) };
  if (errors.length > 0) io.err(`autopatch-proxy: ${errors.length} problem(s) in ${dir}; run: autopatch-proxy rules check --rules ${dir}\n`);
  if (json) {
    io.out(JSON.stringify({ rulesDir: dir, versions: catalog.versions, sources: rows, totals, errors: errors.length }) + '\n');
    return 0;
  }
  const w = Math.max(6, ...rows.map((r) => r.source.length));
  const num = (n: number, width: number): string => String(n).padStart(width);
  const lines = [`rules in ${dir}`, `${'source'.padEnd(w)}  rules bypass   mode   deny  version`];
  for (const r of rows) {
    lines.push(`${r.source.padEnd(w)}  ${num(r.rules, 5)} ${num(r.trust.bypass, 6)} ${num(r.trust.mode, 6)} ${num(r.trust.deny, 6)}  ${r.version || '-'}`);
    const cats = [...(byCategory.get(r.source) ?? new Map<string, Record<Trust, number>>())].map(([name, t]) => {
      const parts = (['bypass', 'mode', 'deny'] as const).filter((k) => t[k] > 0);
      return parts.length === 1 ? `${name} ${t[parts[0]!]} ${parts[0]}` : `${name} ${parts.map((k) => `${t[k]} ${k}`).join(' + ')}`;
    });
    if (cats.length > 0) lines.push(`${''.padEnd(w)}  ${cats.join(', ')}`);
  }
  lines.push(`${'total'.padEnd(w)}  ${num(totals.rules, 5)} ${num(totals.bypass, 6)} ${num(totals.mode, 6)} ${num(totals.deny, 6)}`);
  const nm = rows.filter((r) => r.nonMatching > 0).map((r) => `${r.source} ${r.nonMatching}`);
  lines.push(
    `cannot match at an HTTP proxy: ${totals.nonMatching} documented entries` + (nm.length > 0 ? ` (${nm.join(', ')})` : '') + ` — ${NON_MATCHING_KINDS}`,
  );
  io.out(lines.join('\n') + '\n');
  return 0;
}

async function rulesCheck(dir: string, io: Io): Promise<number> {
  const { catalog, errors } = await loadRules(dir);
  if (errors.length > 0) {
    io.err(errors.map((e) => `${e.file}:${e.line}: ${e.message}\n`).join(''));
    io.err(`autopatch-proxy: rules check: ${errors.length} problem(s) in ${dir}\n`);
    return 1;
  }
  const rules = catalog.rules.length;
  const nonMatching = catalog.sources.reduce((n, s) => n + s.nonMatching, 0);
  io.out(`${dir}: ok (${catalog.sources.length} sources, ${rules} rules; ${nonMatching} documented entries cannot match at an HTTP proxy)\n`);
  return 0;
}

async function rulesUpdate(dir: string, opts: RulesOptions, io: Io): Promise<number> {
  let r;
  try {
    r = await updateRules({ rulesDir: dir, ...(opts.serviceUrl ? { serviceUrl: opts.serviceUrl } : {}), ...(opts.instance ? { instance: opts.instance } : {}) });
  } catch (err) {
    if (!(err instanceof UpdateError)) throw err;
    io.err(`autopatch-proxy: rules update: ${err.message}\n`);
    return err.code === 'usage' ? 2 : 1;
  }
  if (r.status === 'current') {
    io.out(`${r.source}: version ${r.version} is current; nothing fetched\n`);
    return 0;
  }
  const d = r.diff;
  const lines = [
    `${r.source}: ${r.before ?? '(none)'} → ${r.after}; wrote ${r.files.map((f) => basename(f)).join(' and ')} in ${dir}`,
    `patterns: ${d.added.length} added, ${d.removed.length} removed, ${d.recategorised.length} recategorised`,
  ];
  const show = (sign: string, list: { source: string; pattern: string; rules: string[] }[]): void => {
    for (const e of list.slice(0, 20)) lines.push(`  ${sign} ${e.pattern}  (${e.rules.join('; ')})`);
    if (list.length > 20) lines.push(`  ${sign} … ${list.length - 20} more`);
  };
  show('+', d.added);
  show('-', d.removed);
  for (const e of d.recategorised.slice(0, 20)) lines.push(`  ~ ${e.pattern}  (${e.before.join('; ')} → ${e.after.join('; ')})`);
  lines.push('the running proxy picks it up on SIGHUP (kill -HUP <pid>)');
  io.out(lines.join('\n') + '\n');
  if (r.errors.length > 0) io.err(`autopatch-proxy: the rules directory reports ${r.errors.length} problem(s) unrelated to the update; run: autopatch-proxy rules check --rules ${dir}\n`);
  return 0;
}

function rulesExport(
  catalog: CompiledCatalog,
  format: ExportFormat,
  opts: { decision: ExportDecision; port: number },
  cfg: RulesConfig,
  proxy: string | null,
  io: Io,
): number {
  if (format === 'pac') {
    const p = resolvePacProxy(proxy, cfg.listen, io);
    if (p === null) return 2;
    io.out(renderPac(catalog, { proxy: p, direct: cfg.pacDirect }));
    return 0;
  }
  const render = { squid: renderSquid, domains: renderDomains, cidrs: renderCidrs, json: renderJson }[format];
  io.out(render(catalog, opts));
  return 0;
}
