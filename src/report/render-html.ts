// Renders ReportData + Savings as ONE self-contained HTML page for managers (inline CSS, inline SVG).
// Must not reference anything external (no URLs, fonts or scripts) and must escape every logged string.
import { fmtDuration, fmtInt, fmtNum, fmtTime, humanBytes, pct } from './format.js';
import { decisionsOf, headline } from './render-text.js';
import type { Savings } from './savings.js';
import { areaChart, barList, donut, escapeHtml as e } from './svg-charts.js';
import { DECISIONS, type HostTally, type ReportData } from './types.js';

const COLORS = { bypass: '#2e7d32', log: '#1565c0', inspect: '#ef6c00', deny: '#c62828' } as const;
const sumBytes = (r: { bytesIn: number; bytesOut: number }): number => r.bytesIn + r.bytesOut;

const CSS = `
body{font-family:system-ui,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f5f7fa;color:#1f2933}
main{max-width:1040px;margin:0 auto;padding:24px}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.2em;margin:32px 0 8px;border-bottom:1px solid #d9dee4;padding-bottom:4px}
.muted{color:#616e7c}.headline{background:#e8f5e9;border-left:6px solid #2e7d32;padding:16px 20px;font-size:1.35em;margin:20px 0}
.warn{background:#fff8e1;border-left:6px solid #f9a825;padding:10px 16px;margin:12px 0}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{background:#fff;border-radius:8px;padding:12px 16px;min-width:150px;flex:1;box-shadow:0 1px 2px #0002}
.card b{display:block;font-size:1.4em}.charts{display:flex;flex-wrap:wrap;gap:16px}
.chart{background:#fff;border-radius:8px;box-shadow:0 1px 2px #0002;max-width:100%;height:auto}.chart.wide{width:100%}
.c-label{font-size:13px;fill:#1f2933}.c-small{font-size:11px;fill:#616e7c}.c-center{font-size:14px;font-weight:600;fill:#1f2933}
.c-grid{stroke:#e4e7eb;stroke-width:1}
table{border-collapse:collapse;background:#fff;width:100%;font-size:.92em;margin:6px 0}
th,td{padding:5px 10px;border-bottom:1px solid #e4e7eb;text-align:left}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.host{word-break:break-all}.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:6px}
`;

function table(headers: string[], rows: string[][], numeric: boolean[] = []): string {
  const th = headers.map((h, i) => `<th${numeric[i] ? ' class="n"' : ''}>${e(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c, i) => `<td${numeric[i] ? ' class="n"' : i === 0 ? ' class="host"' : ''}>${c}</td>`).join('')}</tr>`);
  return `<table><thead><tr>${th}</tr></thead><tbody>${body.join('')}</tbody></table>`;
}

function tally(t: HostTally, keyTitle: string, empty: string): string {
  if (t.count === 0) return `<p class="muted">${e(empty)}</p>`;
  const rows = t.hosts.map((h) => [e(h.host), e(fmtInt(h.count))]);
  if (t.otherCount > 0) rows.push([e(t.capped ? '(other, beyond the tracking cap)' : '(other)'), e(fmtInt(t.otherCount))]);
  return table([keyTitle, 'records'], rows, [false, true]);
}

export function renderHtml(data: ReportData, s: Savings): string {
  const allBytes = DECISIONS.reduce((a, d) => a + sumBytes(data.totals[d]), 0);
  const allConns = DECISIONS.reduce((a, d) => a + data.totals[d].connections, 0);
  const span = data.firstTime !== null && data.lastTime !== null ? ` (${fmtDuration(data.lastTime - data.firstTime)})` : '';
  const h: string[] = [];
  h.push(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`);
  h.push(`<title>autopatch-proxy savings report</title><style>${CSS}</style></head><body><main>`);
  h.push(`<h1>What bypassing trusted Microsoft traffic saves</h1>`);
  h.push(`<p class="muted">${e(`Proxy logs from ${fmtTime(data.firstTime)} to ${fmtTime(data.lastTime)}${span}, ${fmtInt(data.records)} records.`)}</p>`);
  h.push(`<div class="headline">${e(headline(s))}.</div>`);
  if (s.warning) h.push(`<div class="warn">${e(s.warning)}</div>`);
  const cards: Array<[string, string]> = [
    ['CPU time saved', `${fmtNum(s.cpuSecondsSaved)} s`],
    ['TLS handshakes avoided', fmtInt(s.handshakesAvoided)],
    ['certificates not minted', `${s.certificatesAvoidedIsLowerBound ? '≥ ' : ''}${fmtInt(s.certificatesAvoided)}`],
    ['data not decrypted', humanBytes(s.bytesNotDecrypted)],
    ['waiting time not added', `${fmtNum(s.latencyNotAddedSeconds)} s`],
    ['share of traffic bypassed', pct(s.bypassShareOfBytes, 1)],
  ];
  h.push(`<div class="cards">${cards.map(([k, v]) => `<div class="card"><b>${e(v)}</b><span class="muted">${e(k)}</span></div>`).join('')}</div>`);
  h.push(`<p>${e('Microsoft asks that Autopatch, Intune, Windows Update and Microsoft 365 endpoints pass the proxy without inspection. ' +
    'Traffic marked “bypass” went straight through; inspecting it would have cost the proxy the CPU time, handshakes, certificates and delay above, ' +
    'without any gain in visibility into Microsoft’s own service traffic.')}</p>`);

  h.push(`<h2>Share of traffic per decision</h2><div class="charts">`);
  h.push(donut('Share of bytes per decision', DECISIONS.map((d) => ({ label: d, value: sumBytes(data.totals[d]), color: COLORS[d] })), humanBytes));
  h.push(donut('Share of connections per decision', DECISIONS.map((d) => ({ label: d, value: data.totals[d].connections, color: COLORS[d] })),
    (v) => `${fmtInt(v)} conn.`));
  h.push(`</div>`);
  h.push(`<h2>CPU time saved over time (cumulative)</h2>`);
  // Cumulative value at the end of each bucket, starting from zero at the first bucket's start.
  const bucket = data.series.bucketMs;
  const cumulative = s.series.length === 0 ? [] : [{ t: s.series[0]?.t ?? 0, v: 0 }, ...s.series.map((p) => ({ t: p.t + bucket, v: p.cumulativeCpuSecondsSaved }))];
  h.push(areaChart('CPU-seconds saved by bypass, cumulative', cumulative, COLORS.bypass, (v) => `${fmtNum(v)} s`, fmtTime));
  h.push(`<p class="muted">${e(`One point per ${fmtDuration(data.series.bucketMs)}.`)}</p>`);

  h.push(`<h2>Decisions</h2>`);
  h.push(table(['decision', 'connections', 'requests', 'bytes in', 'bytes out', 'share of bytes', 'share of connections'],
    DECISIONS.map((d) => {
      const t = data.totals[d];
      return [`<span class="dot" style="background:${COLORS[d]}"></span>${d}`, ...[fmtInt(t.connections), fmtInt(t.requests),
        humanBytes(t.bytesIn), humanBytes(t.bytesOut), pct(sumBytes(t), allBytes), pct(t.connections, allConns)].map(e)];
    }), [false, true, true, true, true, true, true]));

  h.push(`<h2>By rule source and category</h2>`);
  h.push(data.bySource.length === 0 ? '<p class="muted">No records.</p>' : table(['source', 'category', 'decisions', 'connections', 'requests', 'bytes', 'share'],
    data.bySource.map((r) => [r.source, r.category, decisionsOf(r.records), fmtInt(r.connections), fmtInt(r.requests),
      humanBytes(sumBytes(r)), pct(sumBytes(r), allBytes)].map(e)), [false, false, false, true, true, true, true]));

  const td = data.topDestinations;
  h.push(`<h2>Top destinations by bytes</h2>`);
  if (td.rows.length > 0) {
    const colorOf = (r: (typeof td.rows)[number]): string => COLORS[DECISIONS.reduce((best, d) => (r.records[d] > r.records[best] ? d : best), 'bypass')];
    h.push(barList('Top destinations by bytes', td.rows.slice(0, 15).map((r) => ({ label: r.host, value: sumBytes(r), color: colorOf(r) })), humanBytes));
  }
  const destRows = td.rows.map((r) => [r.host, decisionsOf(r.records), fmtInt(r.connections), fmtInt(r.requests), humanBytes(sumBytes(r)), pct(sumBytes(r), allBytes)].map(e));
  if (td.other.connections + td.other.requests > 0) {
    destRows.push([td.capped ? '(other hosts, beyond the tracking cap)' : '(other hosts)', decisionsOf(td.other.records), fmtInt(td.other.connections),
      fmtInt(td.other.requests), humanBytes(sumBytes(td.other)), pct(sumBytes(td.other), allBytes)].map(e));
  }
  h.push(destRows.length === 0 ? '<p class="muted">No records.</p>' : table(['host', 'decisions', 'connections', 'requests', 'bytes', 'share'], destRows, [false, false, true, true, true, true]));

  h.push(`<h2>TLS rejections</h2>`);
  for (const [reason, t] of Object.entries(data.tlsRejections)) {
    h.push(`<h3>${e(reason)}: ${e(fmtInt(t.count))}</h3>${tally(t, 'host', 'None.')}`);
  }
  h.push(`<h2>Certificate pinning candidates</h2><p class="muted">Clients rejected the inspection certificate for these hosts (reason client_rejected_certificate): candidates for a bypass rule.</p>`);
  h.push(tally(data.pinningCandidates, 'host', 'None.'));
  h.push(`<h2>Refused: not on the allowlist</h2>`);
  h.push(tally(data.notAllowlisted, 'destination', 'None.'));

  h.push(`<h2>How the savings are computed</h2><ul>${s.assumptions.map((a) => `<li>${e(a)}</li>`).join('')}</ul>`);
  h.push(`<p class="muted">${e(`CPU if inspected ${fmtNum(s.cpuSecondsIfInspected)} s, CPU spent splicing ${fmtNum(s.cpuSecondsActual)} s; ` +
    `${fmtNum(s.latencyNotAddedMsPerTunnel)} ms of added delay avoided per tunnel.`)}</p>`);
  h.push(`<h2>Records by decision and reason</h2>`);
  h.push(table(['decision', 'reason', 'records'], data.byReason.map((r) => [r.decision, r.reason, fmtInt(r.records)].map(e)), [false, false, true]));
  h.push(`<p class="muted">${e(`${fmtInt(data.malformedLines)} malformed lines and ${fmtInt(data.skippedRecords)} other records skipped.`)}</p>`);
  h.push(`</main></body></html>\n`);
  return h.join('\n');
}
