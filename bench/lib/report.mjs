// Turns a run's results into rows (metric, direct, proxy, ratio, target) and markdown tables.
// Targets are the foundation issue's: "splice" for the bypass and log paths (and splicing peers),
// "inspect" for the TLS-inspecting path (and intercepting peers). Pure: results in, text out.

const GiB = 1024 ** 3;
const T = (op, v) => ({ op, v }); // op: '>=' or '<='
export const TARGETS = {
  splice: { bulk_https: T('>=', 0.95), lat_p50: T('<=', 1.25), lat_p99: T('<=', 2.0), ka: T('>=', 0.85), plain_rps: T('>=', 0.25), idle_kb: T('<=', 12) },
  inspect: { bulk_https: T('>=', 0.6), lat_p50: T('<=', 2.5), ka: T('>=', 0.6), idle_kb: T('<=', 60), cold_ms: T('<=', 10) },
};

const ph = (res, phase, side) => res.phases?.[phase]?.[side];
const perReq = (x) => (x && x.ok ? (x.cpuSecs * 1e6) / x.ok : NaN);
const perGiB = (x) => (x && x.bytes ? x.cpuSecs / (x.bytes / GiB) : NaN);

/**
 * Metric definitions. ratio: the row compares with direct (value proxy/direct); otherwise the value is the
 * proxy's own. better: which way is good (for the reader; targets carry their own direction).
 */
export function metrics(res) {
  const cfg = res.cfg;
  const plainClient = cfg.wrk ? 'wrk' : 'node client';
  const ran = (m) => !m.phase || (m.phase === 'idle' ? !cfg.noIdle && cfg.idleN > 0 : !!res.phases[m.phase]);
  return [
    { key: 'bulk_https', phase: 'bulk_https', label: `HTTPS bulk through CONNECT, MB/s (${cfg.bulkMiB} MiB, median of ${cfg.bulkReps})`, digits: 0, ratio: true, get: (r, s) => ph(r, 'bulk_https', s)?.MBps },
    { key: 'bulk_http', phase: 'bulk_http', label: 'plain HTTP forward bulk, MB/s', digits: 0, ratio: true, get: (r, s) => ph(r, 'bulk_http', s)?.MBps },
    { key: 'lat_p50', phase: 'latency', label: 'new conn+CONNECT+TLS+GET p50, ms', digits: 2, ratio: true, get: (r, s) => ph(r, 'latency', s)?.p50 },
    { key: 'lat_p99', phase: 'latency', label: 'new conn+CONNECT+TLS+GET p99, ms', digits: 2, ratio: true, get: (r, s) => ph(r, 'latency', s)?.p99 },
    { key: 'ka', phase: 'conc_keepalive', label: `${cfg.conc} keep-alive tunnels, req/s`, digits: 0, ratio: true, get: (r, s) => ph(r, 'conc_keepalive', s)?.rps },
    { key: 'conc_new', phase: 'conc_new', label: `${cfg.conc} concurrent, new tunnel per request, req/s`, digits: 0, ratio: true, get: (r, s) => ph(r, 'conc_new', s)?.rps },
    { key: 'plain_rps', phase: 'http_plain', label: `plain HTTP forward c=${cfg.plainConns} (${plainClient}), req/s`, digits: 0, ratio: true, get: (r, s) => ph(r, 'http_plain', s)?.rps },
    { key: 'idle_kb', phase: 'idle', label: 'RSS per idle TLS tunnel, KB', digits: 1, get: (r, s) => r.subjects[s]?.idle?.kbPerTunnel },
    { key: 'idle_held', phase: 'idle', label: 'idle tunnels held / requested', digits: 0, fmt: (r, s) => { const i = r.subjects[s]?.idle; return i ? `${i.alive} / ${i.requested}` : '-'; } },
    { key: 'cold_ms', label: 'cold first HTTPS request, ms', digits: 1, get: (r, s) => r.subjects[s]?.cold?.ms },
    { key: 'cpu_new', phase: 'conc_new', label: 'proxy CPU per new-tunnel request, µs', digits: 0, get: (r, s) => perReq(ph(r, 'conc_new', s)) },
    { key: 'cpu_ka', phase: 'conc_keepalive', label: 'proxy CPU per keep-alive tunnel request, µs', digits: 0, get: (r, s) => perReq(ph(r, 'conc_keepalive', s)) },
    { key: 'cpu_plain', phase: 'http_plain', label: 'proxy CPU per plain HTTP request, µs', digits: 0, get: (r, s) => perReq(ph(r, 'http_plain', s)) },
    { key: 'cpu_gib_https', phase: 'bulk_https', label: 'proxy CPU per GiB, HTTPS bulk, s', digits: 2, get: (r, s) => perGiB(ph(r, 'bulk_https', s)) },
    { key: 'cpu_gib_http', phase: 'bulk_http', label: 'proxy CPU per GiB, HTTP bulk, s', digits: 2, get: (r, s) => perGiB(ph(r, 'bulk_http', s)) },
    { key: 'rss_start', label: 'proxy RSS after start, MB', digits: 1, get: (r, s) => r.subjects[s]?.startRssKB / 1024 },
    { key: 'uss_start', label: 'proxy private memory (USS) after start, MB', digits: 1, get: (r, s) => r.subjects[s]?.startUssKB / 1024 },
    { key: 'rss_peak', label: 'proxy peak RSS during the load phases, MB', digits: 1, get: (r, s) => Math.max(...Object.values(r.phases).map((p) => p[s]?.peakRssKB ?? 0)) / 1024 },
    { key: 'intercepted', label: 'TLS intercepted (certificate seen through the tunnel ≠ origin\'s)', fmt: (r, s) => { const i = r.subjects[s]?.interception; return !i ? '-' : i.intercepted === null ? `unknown: ${i.error}` : i.intercepted ? `yes (issuer ${i.issuerSeen})` : 'no'; } },
    { key: 'errors', label: 'errors (all phases, incl. proxy crashes)', fmt: (r, s) => `${errorCount(r, s)}${r.subjects[s]?.crashes?.length ? ` (${r.subjects[s].crashes.length} crash)` : ''}` },
  ].filter(ran);
}

export function errorCount(res, side) {
  let n = 0;
  for (const p of Object.values(res.phases)) { const x = p[side]; if (x) n += (x.errors ?? 0) + (x.openErrors ?? 0); }
  const i = res.subjects?.[side]?.idle; if (i) n += i.openErrors ?? 0;
  if (res.subjects?.[side]?.cold?.error) n++;
  return n + (res.subjects?.[side]?.crashes?.length ?? 0);
}

const fmtNum = (x, d) => (x === undefined || x === null || Number.isNaN(x) || !Number.isFinite(x) ? '-' : Number(x).toFixed(d));
function targetCell(t, value) {
  if (!t) return '';
  const shown = `${t.op === '>=' ? '≥' : '≤'} ${t.v}`;
  if (value === undefined || Number.isNaN(value)) return `${shown} (n/a)`;
  return `${shown} ${(t.op === '>=' ? value >= t.v : value <= t.v) ? 'ok' : 'MISS'}`;
}

/** Rows for one subject: [metric, direct, proxy, ratio, target]. */
export function subjectRows(res, id) {
  const s = res.subjects[id];
  const targets = TARGETS[s.targets] ?? {};
  return metrics(res).map((m) => {
    if (m.fmt) return [m.label, '', m.fmt(res, id), '', ''];
    const p = m.get(res, id);
    if (!m.ratio) return [m.label, '', fmtNum(p, m.digits), '', targetCell(targets[m.key], p)];
    const d = m.get(res, 'direct');
    const ratio = p / d;
    return [m.label, fmtNum(d, m.digits), fmtNum(p, m.digits), fmtNum(ratio, 2), targetCell(targets[m.key], ratio)];
  });
}

export function markdown(rows) {
  const w = rows[0].map((_, i) => Math.max(3, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => `| ${r.map((c, i) => String(c).padEnd(w[i])).join(' | ')} |`;
  return [line(rows[0]), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

export function subjectTable(res, id) {
  const s = res.subjects[id];
  return markdown([['metric', 'direct', id, 'ratio', `target (${s.targets})`], ...subjectRows(res, id)]);
}

/** One table, one column per subject: "value (ratio)"; targets shown per kind in the last columns. */
export function combinedTable(res, ids) {
  const head = ['metric', 'direct', ...ids.map((id) => `${id}${res.subjects[id].interception?.intercepted ? ' (MITM)' : ''}`), 'target splice', 'target inspect'];
  const rows = [head];
  for (const m of metrics(res)) {
    const row = [m.label, m.ratio ? fmtNum(m.get(res, 'direct'), m.digits) : ''];
    for (const id of ids) {
      if (m.fmt) { row.push(m.fmt(res, id)); continue; }
      const p = m.get(res, id);
      row.push(m.ratio ? `${fmtNum(p, m.digits)} (${fmtNum(p / m.get(res, 'direct'), 2)})` : fmtNum(p, m.digits));
    }
    for (const k of ['splice', 'inspect']) { const t = TARGETS[k][m.key]; row.push(t ? `${t.op === '>=' ? '≥' : '≤'} ${t.v}` : ''); }
    rows.push(row);
  }
  return markdown(rows);
}
