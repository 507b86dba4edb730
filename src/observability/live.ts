// Live state behind the admin dashboard (`/api/live`): totals, a 60-s decision rate, recent denials and
// TLS rejections, savings so far (report/savings.ts model). In memory, bounded, O(1) per record.
// Must not do I/O, and nothing here may become a Prometheus label (host names live only in this state).
import type { DecisionKind, Reason } from '../policy/types.js';
import type { ConnectRecord, RequestRecord } from './records.js';
import { aggregate, DEFAULT_LIMITS } from '../report/aggregate.js';
import { computeSavings, savingsFigures, DEFAULT_CALIBRATION, type Calibration } from '../report/savings.js';
import { DECISIONS, zeroPerDecision, zeroTotals, type PerDecision, type Totals } from '../report/types.js';

/** Recent denials / TLS rejections kept for the dashboard. */
export const RECENT_EVENTS = 50;
/** Decision-rate window: this many 1-s buckets. */
export const RATE_WINDOW_SECONDS = 60;
/** `perSecond` averages the last this many seconds (current one included), so it reacts within a second. */
export const RATE_AVERAGE_SECONDS = 10;
/** Distinct bypassed hosts remembered for "certificates avoided" (same cap as the report). */
export const MAX_BYPASS_HOSTS = DEFAULT_LIMITS.maxBypassHosts;
const MAX_HOST_CHARS = 255; // RFC 1035 name length; bounds what a hostile CONNECT line can park in memory

/** Connect reasons counted as TLS rejections (CONTRACT.md "HTTP answers", plus certificate pinning). */
export const TLS_REJECT_REASONS = ['tls_version_too_low', 'sni_mismatch', 'not_tls', 'client_rejected_certificate'] as const;
export type TlsRejectReason = (typeof TLS_REJECT_REASONS)[number];
export const isTlsRejectReason = (r: Reason): r is TlsRejectReason => (TLS_REJECT_REASONS as readonly string[]).includes(r);

export interface RecentEvent {
  time: number; // epoch ms
  event: 'connect' | 'request';
  host: string | null;
  port: number | null;
  decision: DecisionKind;
  reason: Reason;
  tls: boolean; // a TLS rejection (else a plain denial)
}

export interface LiveSavings {
  calibrationMeasured: boolean;
  warning: string | null;
  cpuSecondsSaved: number;
  cpuSecondsIfInspected: number;
  cpuSecondsActual: number;
  handshakesAvoided: number;
  certificatesAvoided: number;
  certificatesAvoidedIsLowerBound: boolean;
  bytesNotDecrypted: number;
  latencyNotAddedSeconds: number;
}

/** Plain JSON served at `/api/live`. */
export interface DashboardSnapshot {
  time: number;
  startedAt: number;
  activeTunnels: PerDecision;
  activeTunnelsTotal: number;
  connections: PerDecision; // connect records (CONNECT tunnels)
  requests: PerDecision; // request records (plain and inside inspected tunnels)
  decisions: PerDecision; // connect records + requests outside tunnels: one per client-facing decision
  decisionsTotal: number;
  bytes: Record<DecisionKind, { in: number; out: number }>; // CONTRACT.md counting: tunnels once
  bypassShare: { bytes: number; decisions: number }; // 0..1
  rate: { windowSeconds: number; perSecond: number; total: number[]; byDecision: Record<DecisionKind, number[]> }; // oldest first
  tlsRejections: Record<TlsRejectReason, number>;
  recent: RecentEvent[]; // newest first
  savings: LiveSavings;
  catalogRules: Record<string, number>;
}

export interface LiveState {
  connect(rec: ConnectRecord): void;
  request(rec: RequestRecord): void;
  tunnelOpen(d: DecisionKind): void;
  tunnelClose(d: DecisionKind): void;
  setCatalogRules(counts: Record<string, number>): void;
  snapshot(): DashboardSnapshot;
}

// An empty report, once: savings are computed on it with the live totals swapped in, so the dashboard and
// `autopatch-proxy report` use one model (report/savings.ts) and cannot drift apart.
const EMPTY_REPORT = aggregate([]);

export function createLiveState(opts: { calibration?: Calibration; now?: () => number } = {}): LiveState {
  const now = opts.now ?? Date.now;
  const calibration = opts.calibration ?? DEFAULT_CALIBRATION;
  const startedAt = now();
  const totals: Totals = zeroTotals();
  const tunnelBytes = zeroPerDecision();
  const decisions = zeroPerDecision();
  const active = zeroPerDecision();
  const tls = Object.fromEntries(TLS_REJECT_REASONS.map((r) => [r, 0])) as Record<TlsRejectReason, number>;
  const bypassHosts = new Set<string>();
  let bypassHostsCapped = false;
  const recent: RecentEvent[] = [];
  let catalogRules: Record<string, number> = {};
  // Ring of 1-s buckets: slot i holds the second `stamps[i]`; a stale slot is zeroed when reused.
  const stamps = new Float64Array(RATE_WINDOW_SECONDS).fill(-1);
  const counts = Object.fromEntries(DECISIONS.map((d) => [d, new Float64Array(RATE_WINDOW_SECONDS)])) as Record<DecisionKind, Float64Array>;

  function tick(d: DecisionKind, t: number): void {
    const sec = Math.floor(t / 1000);
    const i = sec % RATE_WINDOW_SECONDS;
    if (stamps[i] !== sec) {
      stamps[i] = sec;
      for (const k of DECISIONS) counts[k][i] = 0;
    }
    counts[d][i]!++;
  }

  function remember(rec: ConnectRecord | RequestRecord, t: number, isTls: boolean): void {
    const host = rec.host === null ? null : rec.host.slice(0, MAX_HOST_CHARS);
    recent.push({ time: t, event: rec.event, host, port: rec.port, decision: rec.decision, reason: rec.reason, tls: isTls });
    if (recent.length > RECENT_EVENTS) recent.shift();
  }

  // Inspection would mint one certificate per host: count distinct bypassed hosts, up to a cap.
  function rememberBypassHost(raw: string): void {
    const host = raw.toLowerCase().slice(0, MAX_HOST_CHARS);
    if (bypassHosts.has(host)) return;
    if (bypassHosts.size < MAX_BYPASS_HOSTS) bypassHosts.add(host);
    else bypassHostsCapped = true;
  }

  const bytesOf = (n: number): number => (n > 0 && Number.isFinite(n) ? n : 0);

  function counted(rec: ConnectRecord | RequestRecord): void {
    const t = now();
    const d = rec.decision;
    const bIn = bytesOf(rec.bytesIn);
    const bOut = bytesOf(rec.bytesOut);
    totals[d].bytesIn += bIn;
    totals[d].bytesOut += bOut;
    decisions[d]++;
    tick(d, t);
    const isTls = rec.event === 'connect' && isTlsRejectReason(rec.reason);
    if (isTls) tls[rec.reason as TlsRejectReason]++;
    if (d === 'deny' || isTls) remember(rec, t, isTls);
  }

  function savings(): LiveSavings {
    const s = computeSavings(
      { ...EMPTY_REPORT, totals, tunnelBytes, bypassHosts: { distinct: bypassHosts.size, capped: bypassHostsCapped } },
      calibration,
    );
    return {
      calibrationMeasured: calibration.measured,
      ...savingsFigures(s),
    };
  }

  function rate(t: number): DashboardSnapshot['rate'] {
    const nowSec = Math.floor(t / 1000);
    const byDecision = Object.fromEntries(DECISIONS.map((d) => [d, [] as number[]])) as Record<DecisionKind, number[]>;
    const total: number[] = [];
    for (let s = nowSec - RATE_WINDOW_SECONDS + 1; s <= nowSec; s++) {
      const i = ((s % RATE_WINDOW_SECONDS) + RATE_WINDOW_SECONDS) % RATE_WINDOW_SECONDS;
      let sum = 0;
      for (const d of DECISIONS) {
        const v = stamps[i] === s ? counts[d][i]! : 0;
        byDecision[d].push(v);
        sum += v;
      }
      total.push(sum);
    }
    const recentSum = total.slice(-RATE_AVERAGE_SECONDS).reduce((a, b) => a + b, 0);
    return { windowSeconds: RATE_WINDOW_SECONDS, perSecond: recentSum / RATE_AVERAGE_SECONDS, total, byDecision };
  }

  return {
    connect(rec) {
      const d = rec.decision;
      totals[d].connections++;
      tunnelBytes[d] += bytesOf(rec.bytesIn) + bytesOf(rec.bytesOut);
      if (d === 'bypass' && rec.host !== null) rememberBypassHost(rec.host);
      counted(rec);
    },
    request(rec) {
      totals[rec.decision].requests++;
      // CONTRACT.md "Counting": requests inside a tunnel are already in their tunnel's connect record.
      if (rec.inTunnel !== true) counted(rec);
    },
    tunnelOpen(d) {
      active[d]++;
    },
    tunnelClose(d) {
      if (active[d] > 0) active[d]--;
    },
    setCatalogRules(c) {
      catalogRules = { ...c };
    },
    snapshot() {
      const t = now();
      const bytes = Object.fromEntries(DECISIONS.map((d) => [d, { in: totals[d].bytesIn, out: totals[d].bytesOut }])) as DashboardSnapshot['bytes'];
      const sum = (p: PerDecision): number => DECISIONS.reduce((s, d) => s + p[d], 0);
      const allBytes = DECISIONS.reduce((s, d) => s + bytes[d].in + bytes[d].out, 0);
      const decisionsTotal = sum(decisions);
      return {
        time: t,
        startedAt,
        activeTunnels: { ...active },
        activeTunnelsTotal: sum(active),
        connections: Object.fromEntries(DECISIONS.map((d) => [d, totals[d].connections])) as PerDecision,
        requests: Object.fromEntries(DECISIONS.map((d) => [d, totals[d].requests])) as PerDecision,
        decisions: { ...decisions },
        decisionsTotal,
        bytes,
        bypassShare: {
          bytes: allBytes > 0 ? (bytes.bypass.in + bytes.bypass.out) / allBytes : 0,
          decisions: decisionsTotal > 0 ? decisions.bypass / decisionsTotal : 0,
        },
        rate: rate(t),
        tlsRejections: { ...tls },
        recent: recent.slice().reverse(),
        savings: savings(),
        catalogRules: { ...catalogRules },
      };
    },
  };
}
