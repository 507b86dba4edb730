// Renders ReportData + Savings as the terminal report of `autopatch-proxy report` (plain text).
// Returns a string; must not print, read files or compute figures (aggregate.ts and savings.ts do).
import { fmtDuration, fmtInt, fmtNum, fmtTime, humanBytes, pct, textTable } from './format.js';
import type { Savings } from './savings.js';
import { DECISIONS, type HostTally, type PerDecision, type ReportData } from './types.js';

const sumBytes = (r: { bytesIn: number; bytesOut: number }): number => r.bytesIn + r.bytesOut;

/** "bypass" or "bypass/deny": the decisions a host or rule actually received. */
export function decisionsOf(records: PerDecision): string {
  return DECISIONS.filter((d) => records[d] > 0).join('/') || '–';
}

function section(title: string, body: string): string {
  return `${title}\n${'='.repeat(title.length)}\n${body}\n`;
}

function tallyTable(t: HostTally, keyTitle: string): string {
  if (t.count === 0) return '(none)';
  const rows = t.hosts.map((h) => [h.host, fmtInt(h.count)]);
  if (t.otherCount > 0) rows.push([t.capped ? '(other, beyond the tracking cap)' : '(other)', fmtInt(t.otherCount)]);
  return textTable([keyTitle, 'records'], rows, [false, true]);
}

export function headline(s: Savings): string {
  if (s.handshakesAvoided === 0 && s.bytesNotDecrypted === 0) return 'No bypassed tunnels in these logs: nothing saved.';
  return (
    `Bypass saved ${fmtNum(s.cpuSecondsSaved)} CPU-seconds, ${fmtInt(s.handshakesAvoided)} TLS handshakes ` +
    `and ${humanBytes(s.bytesNotDecrypted)} not decrypted`
  );
}

export function renderText(data: ReportData, s: Savings): string {
  const out: string[] = [];
  const span = data.firstTime !== null && data.lastTime !== null ? ` (${fmtDuration(data.lastTime - data.firstTime)})` : '';
  out.push(
    'autopatch-proxy savings report\n' +
      `period:  ${fmtTime(data.firstTime)} → ${fmtTime(data.lastTime)}${span}\n` +
      `records: ${fmtInt(data.records)} counted, ${fmtInt(data.skippedRecords)} skipped (not connect/request), ` +
      `${fmtInt(data.malformedLines)} malformed lines\n`,
  );

  const allBytes = DECISIONS.reduce((a, d) => a + sumBytes(data.totals[d]), 0);
  const allConns = DECISIONS.reduce((a, d) => a + data.totals[d].connections, 0);
  const decisionRows = DECISIONS.map((d) => {
    const t = data.totals[d];
    return [d, fmtInt(t.connections), fmtInt(t.requests), humanBytes(t.bytesIn), humanBytes(t.bytesOut),
      humanBytes(sumBytes(t)), pct(sumBytes(t), allBytes), pct(t.connections, allConns)];
  });
  decisionRows.push(['total', fmtInt(allConns), fmtInt(DECISIONS.reduce((a, d) => a + data.totals[d].requests, 0)),
    humanBytes(DECISIONS.reduce((a, d) => a + data.totals[d].bytesIn, 0)),
    humanBytes(DECISIONS.reduce((a, d) => a + data.totals[d].bytesOut, 0)), humanBytes(allBytes), '', '']);
  out.push(section('Decisions', textTable(
    ['decision', 'connections', 'requests', 'bytes in', 'bytes out', 'bytes', 'bytes %', 'connections %'],
    decisionRows, [false, true, true, true, true, true, true, true],
  ) + '\n(bytes in: client → proxy; out: proxy → client; requests inside inspected tunnels add no bytes)'));

  const sv = [
    ['CPU time saved', `${fmtNum(s.cpuSecondsSaved)} s`, `(${fmtNum(s.cpuSecondsIfInspected)} s if inspected − ${fmtNum(s.cpuSecondsActual)} s spent)`],
    ['TLS handshakes avoided', fmtInt(s.handshakesAvoided), 'bypassed tunnels'],
    ['certificates not minted', `${s.certificatesAvoidedIsLowerBound ? '≥ ' : ''}${fmtInt(s.certificatesAvoided)}`, 'distinct bypassed hosts'],
    ['bytes not decrypted', humanBytes(s.bytesNotDecrypted), `${pct(s.bypassShareOfBytes, 1)} of all bytes were bypassed`],
    ['latency not added', `${fmtNum(s.latencyNotAddedSeconds)} s`, `${fmtNum(s.latencyNotAddedMsPerTunnel)} ms per tunnel`],
  ];
  out.push(section('Savings of bypass', [
    headline(s),
    ...(s.warning ? [`WARNING: ${s.warning}`] : []),
    '',
    textTable(['figure', 'value', 'note'], sv, [false, true, false]),
    '',
    'Model assumptions:',
    ...s.assumptions.map((a) => `  - ${a}`),
  ].join('\n')));

  out.push(section('By rule source and category', data.bySource.length === 0 ? '(none)' : textTable(
    ['source', 'category', 'decisions', 'connections', 'requests', 'bytes', 'bytes %'],
    data.bySource.map((r) => [r.source, r.category, decisionsOf(r.records), fmtInt(r.connections), fmtInt(r.requests),
      humanBytes(sumBytes(r)), pct(sumBytes(r), allBytes)]),
    [false, false, false, true, true, true, true],
  )));

  const td = data.topDestinations;
  const destRows = td.rows.map((r) => [r.host, decisionsOf(r.records), fmtInt(r.connections), fmtInt(r.requests),
    humanBytes(sumBytes(r)), pct(sumBytes(r), allBytes)]);
  const o = td.other;
  if (o.connections + o.requests > 0) {
    destRows.push([td.capped ? '(other hosts, beyond the tracking cap)' : '(other hosts)', decisionsOf(o.records),
      fmtInt(o.connections), fmtInt(o.requests), humanBytes(sumBytes(o)), pct(sumBytes(o), allBytes)]);
  }
  out.push(section(`Top destinations by bytes (${fmtInt(td.distinct)} distinct hosts)`, destRows.length === 0 ? '(none)' :
    textTable(['host', 'decisions', 'connections', 'requests', 'bytes', 'bytes %'], destRows, [false, false, true, true, true, true])));

  const tls = data.tlsRejections;
  out.push(section('TLS rejections', (Object.keys(tls) as Array<keyof typeof tls>).map((reason) =>
    `${reason}: ${fmtInt(tls[reason].count)}\n${tls[reason].count > 0 ? tallyTable(tls[reason], 'host') + '\n' : ''}`).join('\n').trimEnd()));
  out.push(section('Certificate pinning candidates (client_rejected_certificate: consider a bypass rule)',
    tallyTable(data.pinningCandidates, 'host')));
  out.push(section('Refused as not_allowlisted', tallyTable(data.notAllowlisted, 'destination')));
  out.push(section('Records by decision and reason', data.byReason.length === 0 ? '(none)' : textTable(
    ['decision', 'reason', 'records'], data.byReason.map((r) => [r.decision, r.reason, fmtInt(r.records)]), [false, false, true])));
  out.push(`Malformed lines skipped: ${fmtInt(data.malformedLines)}\n`);
  return out.join('\n');
}
