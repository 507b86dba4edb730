// Renders ReportData + Savings as the single JSON object of `report --json` (CONTRACT.md: `totals`
// has exactly {connections, requests, bytesIn, bytesOut} per decision). Must not print or compute figures.
import { savingsFigures, type Savings } from './savings.js';
import { type DecisionTotals, type ReportData, type Totals } from './types.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** Exactly the four contract fields, in contract order, whatever else a Totals object might carry. */
function contractTotals(t: Totals): Totals {
  const pick = (x: DecisionTotals): DecisionTotals => ({
    connections: x.connections,
    requests: x.requests,
    bytesIn: x.bytesIn,
    bytesOut: x.bytesOut,
  });
  return { bypass: pick(t.bypass), log: pick(t.log), inspect: pick(t.inspect), deny: pick(t.deny) };
}

/** The report as a plain object (the JSON document before serialisation). */
export function toJsonObject(data: ReportData, s: Savings): Record<string, unknown> {
  const savedByT = new Map(s.series.map((p) => [p.t, p]));
  return {
    period: { first: iso(data.firstTime), last: iso(data.lastTime) },
    records: data.records,
    skippedRecords: data.skippedRecords,
    malformedLines: data.malformedLines,
    totals: contractTotals(data.totals),
    tunnelBytes: { ...data.tunnelBytes },
    savings: {
      measured: s.calibration.measured,
      ...savingsFigures(s),
      latencyNotAddedMsPerTunnel: s.latencyNotAddedMsPerTunnel,
      bypassShareOfBytes: s.bypassShareOfBytes,
      calibration: s.calibration,
      assumptions: s.assumptions,
    },
    bySource: data.bySource,
    byReason: data.byReason,
    topDestinations: data.topDestinations,
    tlsRejections: data.tlsRejections,
    pinningCandidates: data.pinningCandidates,
    notAllowlisted: data.notAllowlisted,
    bypassHosts: data.bypassHosts,
    series: {
      bucketSeconds: data.series.bucketMs / 1000,
      buckets: data.series.buckets.map((b) => ({
        time: iso(b.t),
        bytes: b.bytes,
        connections: b.connections,
        bypassTunnelBytes: b.bypassTunnelBytes,
        newBypassHosts: b.newBypassHosts,
        cpuSecondsSaved: savedByT.get(b.t)?.cpuSecondsSaved ?? 0,
      })),
    },
  };
}

/** One JSON object on one line, newline-terminated (pipe-friendly: `| jq .totals`). */
export function renderJson(data: ReportData, s: Savings): string {
  return `${JSON.stringify(toJsonObject(data, s))}\n`;
}
