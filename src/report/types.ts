// Shapes of the savings report's aggregated data (log records in, figures out).
// Plain data only: no I/O, no rendering, no savings arithmetic (see savings.ts).
import type { DecisionKind } from '../policy/types.js';

/** Fixed order for every table and chart. */
export const DECISIONS: readonly DecisionKind[] = ['bypass', 'log', 'inspect', 'deny'];

/** CONTRACT.md `report --json`: exactly these four fields per decision. */
export interface DecisionTotals {
  connections: number; // `connect` records (CONNECT tunnels)
  requests: number; // `request` records (plain and inside inspected tunnels)
  bytesIn: number; // client → proxy
  bytesOut: number; // proxy → client
}
export type Totals = Record<DecisionKind, DecisionTotals>;
export type PerDecision = Record<DecisionKind, number>;

export const TLS_REJECTION_REASONS = ['tls_version_too_low', 'sni_mismatch', 'not_tls'] as const;
export type TlsRejectionReason = (typeof TLS_REJECTION_REASONS)[number];

/** Count of records per key (host or host:port), capped: keys past the cap go to `otherCount`. */
export interface HostTally {
  count: number; // all matching records
  hosts: Array<{ host: string; count: number }>; // most frequent first, at most `topN`
  distinct: number; // distinct keys tracked (≤ the cap)
  otherCount: number; // records not listed in `hosts` (beyond top-N or beyond the cap)
  capped: boolean; // true when some keys were not tracked individually
}

export interface DestinationRow {
  host: string;
  connections: number;
  requests: number;
  bytesIn: number;
  bytesOut: number;
  records: PerDecision; // records per decision (a host usually has one)
}

export interface SourceRow {
  source: string; // rule.source, or "(no rule)"
  category: string; // rule.category, or "(no rule)"
  connections: number;
  requests: number;
  bytesIn: number;
  bytesOut: number;
  records: PerDecision;
}

export interface ReasonRow {
  decision: DecisionKind;
  reason: string;
  records: number;
}

export interface SeriesBucket {
  t: number; // bucket start, epoch ms (UTC-aligned)
  bytes: PerDecision; // bytesIn + bytesOut counted in this bucket
  connections: PerDecision;
  bypassTunnelBytes: number; // bytes of bypassed CONNECT tunnels (what inspection would decrypt)
  newBypassHosts: number; // bypass hosts first seen in this bucket (certificates that would be minted)
}

export interface ReportData {
  records: number; // connect + request records counted
  skippedRecords: number; // valid JSON that is not a connect/request event of known shape
  malformedLines: number; // not JSON, or longer than the line cap
  firstTime: number | null; // epoch ms
  lastTime: number | null;
  totals: Totals;
  /** Of totals' bytes, those carried by CONNECT tunnels (not plain HTTP). */
  tunnelBytes: PerDecision;
  byReason: ReasonRow[];
  bySource: SourceRow[];
  topDestinations: {
    rows: DestinationRow[]; // by bytes, descending
    distinct: number; // distinct hosts tracked
    capped: boolean; // more hosts than the cap: the rest is in `other`
    other: Omit<DestinationRow, 'host'>; // hosts not listed (beyond top-N or beyond the cap)
  };
  tlsRejections: Record<TlsRejectionReason, HostTally>;
  pinningCandidates: HostTally; // reason client_rejected_certificate
  notAllowlisted: HostTally; // reason not_allowlisted, keyed host:port
  bypassHosts: { distinct: number; capped: boolean }; // distinct hosts of bypassed tunnels
  series: { bucketMs: number; buckets: SeriesBucket[] };
}

export function zeroPerDecision(): PerDecision {
  return { bypass: 0, log: 0, inspect: 0, deny: 0 };
}

export function zeroTotals(): Totals {
  const z = (): DecisionTotals => ({ connections: 0, requests: 0, bytesIn: 0, bytesOut: 0 });
  return { bypass: z(), log: z(), inspect: z(), deny: z() };
}
