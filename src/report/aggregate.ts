// Pure aggregation of log records (CONTRACT.md "Log records") into ReportData: one record at a time,
// bounded memory (every per-key map is capped). Must not do I/O, parse text or compute savings.
import type { DecisionKind } from '../policy/types.js';
import { CappedMap } from './capped-map.js';
import {
  DECISIONS, TLS_REJECTION_REASONS, zeroPerDecision, zeroTotals,
  type DecisionTotals, type DestinationRow, type HostTally, type PerDecision, type ReportData, type SeriesBucket, type SourceRow,
  type TlsRejectionReason,
} from './types.js';

/**
 * Memory bounds. Distinct keys past a cap are not tracked individually: their counts go to an
 * "other" bucket and the section is flagged `capped` (so totals stay exact, only the breakdown is partial).
 * The time series starts at one-minute buckets and coarsens (5 min, 15 min, 1 h, 6 h, 1 d, 7 d, then ×2)
 * whenever it would hold more than `maxBuckets` buckets.
 */
export interface AggregatorLimits {
  maxHosts: number; // distinct destination hosts tracked
  maxTallyKeys: number; // distinct hosts per TLS-rejection / pinning / not_allowlisted tally
  maxBypassHosts: number; // distinct bypass hosts remembered (certificates avoided)
  maxSources: number; // distinct (source, category) pairs
  maxReasons: number; // distinct (decision, reason) pairs
  maxBuckets: number;
  topN: number; // rows listed per section
}

export const DEFAULT_LIMITS: Readonly<AggregatorLimits> = Object.freeze({
  maxHosts: 10_000, maxTallyKeys: 2_000, maxBypassHosts: 100_000, maxSources: 500, maxReasons: 500,
  maxBuckets: 7 * 24 * 60, // one week of one-minute buckets
  topN: 25,
});

export interface Aggregator {
  /** Counts one parsed log line; anything that is not a connect/request record of known shape is skipped. */
  add(record: unknown): void;
  /** Lines that could not be parsed (counted by the reader). */
  addMalformed(count?: number): void;
  result(): ReportData;
}

const MINUTE = 60_000;
const BUCKET_LADDER = [MINUTE, 5 * MINUTE, 15 * MINUTE, 60 * MINUTE, 360 * MINUTE, 1440 * MINUTE, 10080 * MINUTE];
// Timestamps outside 2000-01-01 .. 2100-01-01 are treated as absent (a bogus one would stretch the chart).
const MIN_TIME = 946_684_800_000;
const MAX_TIME = 4_102_444_800_000;
const MAX_KEY_CHARS = 260;
const NO_RULE = '(no rule)';
const PINNING_REASON = 'client_rejected_certificate';

type Counters = Omit<DestinationRow, 'host'>;
const newCounters = (): Counters => ({ connections: 0, requests: 0, bytesIn: 0, bytesOut: 0, records: zeroPerDecision() });
interface Tally { n: number }

function isDecision(x: unknown): x is DecisionKind {
  return x === 'bypass' || x === 'log' || x === 'inspect' || x === 'deny';
}
function count(x: unknown): number {
  return typeof x === 'number' && Number.isFinite(x) && x > 0 ? Math.floor(x) : 0;
}
function text(x: unknown, fallback: string): string {
  if (typeof x !== 'string' || x === '') return fallback;
  return x.length > MAX_KEY_CHARS ? `${x.slice(0, MAX_KEY_CHARS)}…` : x;
}
function timeOf(x: unknown): number | null {
  const t = typeof x === 'number' ? x : typeof x === 'string' ? Date.parse(x) : NaN;
  return Number.isFinite(t) && t >= MIN_TIME && t < MAX_TIME ? t : null;
}
function authority(host: string, port: unknown): string {
  const p = typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536 ? port : null;
  if (p === null) return host;
  return host.includes(':') ? `[${host}]:${p}` : `${host}:${p}`;
}

function addInto(into: Counters, row: Counters): void {
  for (const k of ['connections', 'requests', 'bytesIn', 'bytesOut'] as const) into[k] += row[k];
  for (const d of DECISIONS) into.records[d] += row.records[d];
}

function tallyResult(m: CappedMap<Tally>, topN: number): HostTally {
  const all = [...m.entries()].map(([host, v]) => ({ host, count: v.n }));
  all.sort((a, b) => b.count - a.count || (a.host < b.host ? -1 : 1));
  const hosts = all.slice(0, topN);
  const total = all.reduce((s, r) => s + r.count, 0) + m.other.n;
  const listed = hosts.reduce((s, r) => s + r.count, 0);
  return { count: total, hosts, distinct: m.size, otherCount: total - listed, capped: m.capped };
}

export function createAggregator(limits: Partial<AggregatorLimits> = {}): Aggregator {
  const L: AggregatorLimits = { ...DEFAULT_LIMITS, ...limits };
  const totals = zeroTotals();
  const tunnelBytes = zeroPerDecision();
  const hosts = new CappedMap<Counters>(L.maxHosts, newCounters);
  const sources = new CappedMap<Counters>(L.maxSources, newCounters);
  const reasons = new CappedMap<Tally>(L.maxReasons, () => ({ n: 0 }));
  const newTally = (): CappedMap<Tally> => new CappedMap<Tally>(L.maxTallyKeys, () => ({ n: 0 }));
  const tls = Object.fromEntries(TLS_REJECTION_REASONS.map((r) => [r, newTally()])) as Record<TlsRejectionReason, CappedMap<Tally>>;
  const pinning = newTally();
  const notAllowlisted = newTally();
  const bypassHosts = new Set<string>();
  let bypassHostsCapped = false;
  let bucketMs = MINUTE;
  let buckets = new Map<number, SeriesBucket>();
  let records = 0;
  let skipped = 0;
  let malformed = 0;
  let first: number | null = null;
  let last: number | null = null;

  const newBucket = (t: number): SeriesBucket => ({
    t, bytes: zeroPerDecision(), connections: zeroPerDecision(), bypassTunnelBytes: 0, newBypassHosts: 0,
  });

  function coarsen(): void {
    while (buckets.size > L.maxBuckets) {
      const next = BUCKET_LADDER.find((w) => w > bucketMs) ?? bucketMs * 2;
      const merged = new Map<number, SeriesBucket>();
      for (const b of buckets.values()) {
        const t = Math.floor(b.t / next) * next;
        const m = merged.get(t) ?? newBucket(t);
        for (const d of DECISIONS) {
          m.bytes[d] += b.bytes[d];
          m.connections[d] += b.connections[d];
        }
        m.bypassTunnelBytes += b.bypassTunnelBytes;
        m.newBypassHosts += b.newBypassHosts;
        merged.set(t, m);
      }
      bucketMs = next;
      buckets = merged;
    }
  }

  function bucketAt(t: number): SeriesBucket {
    const key = Math.floor(t / bucketMs) * bucketMs;
    let b = buckets.get(key);
    if (b === undefined) {
      b = newBucket(key);
      buckets.set(key, b);
      if (buckets.size > L.maxBuckets) {
        coarsen();
        return bucketAt(t);
      }
    }
    return b;
  }

  function bump(c: DecisionTotals & { records?: PerDecision }, decision: DecisionKind, isConnect: boolean, bIn: number, bOut: number): void {
    if (c.records) c.records[decision]++;
    if (isConnect) c.connections++;
    else c.requests++;
    c.bytesIn += bIn;
    c.bytesOut += bOut;
  }

  function add(record: unknown): void {
    if (typeof record !== 'object' || record === null || Array.isArray(record)) return void skipped++;
    const r = record as Record<string, unknown>;
    const isConnect = r.event === 'connect';
    if ((!isConnect && r.event !== 'request') || !isDecision(r.decision)) return void skipped++;
    records++;
    const decision = r.decision;
    // CONTRACT.md "Counting": requests inside a tunnel were already counted by the tunnel's connect record.
    const counted = isConnect || r.inTunnel !== true;
    const bIn = counted ? count(r.bytesIn) : 0;
    const bOut = counted ? count(r.bytesOut) : 0;
    const host = text(r.host, '(unknown)').toLowerCase();
    const reason = text(r.reason, '(none)');

    bump(totals[decision], decision, isConnect, bIn, bOut);
    if (isConnect) tunnelBytes[decision] += bIn + bOut;

    bump(hosts.get(host), decision, isConnect, bIn, bOut);
    const rule = typeof r.rule === 'object' && r.rule !== null ? (r.rule as Record<string, unknown>) : null;
    const src = rule ? text(rule.source, NO_RULE) : NO_RULE;
    const cat = rule ? text(rule.category, NO_RULE) : NO_RULE;
    bump(sources.get(`${src}\u0000${cat}`), decision, isConnect, bIn, bOut);
    reasons.get(`${decision}\u0000${reason}`).n++;

    if ((TLS_REJECTION_REASONS as readonly string[]).includes(reason)) tls[reason as TlsRejectionReason].get(host).n++;
    if (reason === PINNING_REASON) pinning.get(host).n++;
    if (reason === 'not_allowlisted') notAllowlisted.get(authority(host, r.port)).n++;

    let newBypassHost = false;
    if (isConnect && decision === 'bypass' && !bypassHosts.has(host)) {
      if (bypassHosts.size < L.maxBypassHosts) {
        bypassHosts.add(host);
        newBypassHost = true;
      } else bypassHostsCapped = true;
    }

    const t = timeOf(r.time);
    if (t === null) return;
    first = first === null || t < first ? t : first;
    last = last === null || t > last ? t : last;
    const b = bucketAt(t);
    b.bytes[decision] += bIn + bOut;
    if (isConnect) b.connections[decision]++;
    if (isConnect && decision === 'bypass') b.bypassTunnelBytes += bIn + bOut;
    if (newBypassHost) b.newBypassHosts++;
  }

  function result(): ReportData {
    const byBytes = (a: Counters, b: Counters): number => b.bytesIn + b.bytesOut - (a.bytesIn + a.bytesOut);
    const allHosts: DestinationRow[] = [...hosts.entries()].map(([host, c]) => ({ host, ...c, records: { ...c.records } }));
    allHosts.sort((a, b) => byBytes(a, b) || b.connections + b.requests - (a.connections + a.requests) || (a.host < b.host ? -1 : 1));
    const other = { ...hosts.other, records: { ...hosts.other.records } };
    for (const row of allHosts.slice(L.topN)) addInto(other, row);
    const bySource: SourceRow[] = [...sources.entries()].map(([k, c]) => {
      const [source = NO_RULE, category = NO_RULE] = k.split('\u0000');
      return { source, category, ...c, records: { ...c.records } };
    });
    if (sources.capped) bySource.push({ source: '(other)', category: '(other)', ...sources.other });
    bySource.sort((a, b) => byBytes(a, b) || (a.source + a.category < b.source + b.category ? -1 : 1));
    const byReason = [...reasons.entries()].map(([k, v]) => {
      const [decision, reason = ''] = k.split('\u0000');
      return { decision: decision as DecisionKind, reason, records: v.n };
    });
    byReason.sort((a, b) => DECISIONS.indexOf(a.decision) - DECISIONS.indexOf(b.decision) || b.records - a.records);
    return {
      records, skippedRecords: skipped, malformedLines: malformed, firstTime: first, lastTime: last,
      totals: structuredClone(totals),
      tunnelBytes: { ...tunnelBytes },
      byReason,
      bySource,
      topDestinations: { rows: allHosts.slice(0, L.topN), distinct: hosts.size, capped: hosts.capped, other },
      tlsRejections: {
        tls_version_too_low: tallyResult(tls.tls_version_too_low, L.topN),
        sni_mismatch: tallyResult(tls.sni_mismatch, L.topN),
        not_tls: tallyResult(tls.not_tls, L.topN),
      },
      pinningCandidates: tallyResult(pinning, L.topN),
      notAllowlisted: tallyResult(notAllowlisted, L.topN),
      bypassHosts: { distinct: bypassHosts.size, capped: bypassHostsCapped },
      series: { bucketMs, buckets: [...buckets.values()].sort((a, b) => a.t - b.t).map((b) => structuredClone(b)) },
    };
  }

  const addMalformed = (n = 1): void => void (malformed += n);
  return { add, addMalformed, result };
}

/** Convenience for tests and small inputs. */
export function aggregate(records: Iterable<unknown>, limits?: Partial<AggregatorLimits>): ReportData {
  const a = createAggregator(limits);
  for (const r of records) a.add(r);
  return a.result();
}
