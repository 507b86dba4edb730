// Prometheus metrics of CONTRACT.md ("Metrics"), one Registry per createMetrics call, and the MetricsSink
// that feeds them and the dashboard's live state. Labels are decisions, reasons, directions, results and
// rule sources only: never host names, clients or URLs. Per-record work must stay a few Map lookups.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SourceInfo } from '../catalog/types.js';
import type { DecisionKind } from '../policy/types.js';
import type { Calibration } from '../report/savings.js';
import { DECISIONS } from '../report/types.js';
import { createLiveState, isTlsRejectReason, TLS_REJECT_REASONS, type DashboardSnapshot } from './live.js';
import type { ConnectRecord, RequestRecord } from './records.js';
import { AUTH_OUTCOMES, type MetricsSink } from './telemetry.js';

export type { DashboardSnapshot } from './live.js';

const PREFIX = 'autopatch_proxy_';
/** How often the event-loop delay histogram (`nodejs_eventloop_lag_*`) samples the loop. */
export const EVENT_LOOP_SAMPLE_MS = 100;
// Tunnels live from milliseconds (a denial) to hours (a Teams call, a long download).
const CONNECT_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
// Minting is ~1 ms when signed with Node's crypto (DESIGN.md "Certificates"); forge signing would show as 25–60 ms.
const CERT_MINT_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export interface MetricsOptions {
  /** Node process metrics (`process_*`, `nodejs_*`); default true. */
  collectDefault?: boolean;
  /** Savings model figures for the dashboard (report/index.ts `loadCalibration`); default DEFAULT_CALIBRATION. */
  calibration?: Calibration;
  /** Clock for the live state (tests). */
  now?: () => number;
}

export interface Metrics {
  readonly sink: MetricsSink;
  readonly registry: Registry;
  /** Prometheus text exposition (content type: `registry.contentType`). */
  render(): Promise<string>;
  snapshot(): DashboardSnapshot;
  /** Rules compiled per catalog source; replaces the previous figures (call again after a reload). */
  setCatalogRules(counts: Readonly<Record<string, number>> | ReadonlyMap<string, number>): void;
}

/** Sums `catalog.sources` (several files may share a source name) into what setCatalogRules takes. */
export function catalogRuleCounts(sources: readonly Pick<SourceInfo, 'source' | 'rules'>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of sources) out[s.source] = (out[s.source] ?? 0) + s.rules;
  return out;
}

type Child = Counter.Internal;

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  // event-loop delay sampled every 100 ms: prom-client's default (10 ms) woke an idle proxy 100 times a
  // second (~1 % of a core doing nothing; README "Metrics")
  if (opts.collectDefault !== false) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const registers = [registry];

  const connections = new Counter({ name: `${PREFIX}connections_total`, help: 'CONNECT tunnels, by decision and reason', labelNames: ['decision', 'reason'], registers });
  const requests = new Counter({ name: `${PREFIX}requests_total`, help: 'HTTP requests (plain forwarded and inside inspected tunnels), by decision', labelNames: ['decision'], registers });
  const bytes = new Counter({ name: `${PREFIX}bytes_total`, help: 'Bytes relayed; in = client to proxy, out = proxy to client; a tunnel counted once', labelNames: ['decision', 'direction'], registers });
  const active = new Gauge({ name: `${PREFIX}active_tunnels`, help: 'Open CONNECT tunnels, by decision', labelNames: ['decision'], registers });
  const tlsRejections = new Counter({ name: `${PREFIX}tls_rejections_total`, help: 'Tunnels not bypassed or refused because of their TLS ClientHello or the client rejecting the minted certificate', labelNames: ['reason'], registers });
  const connectDuration = new Histogram({ name: `${PREFIX}connect_duration_seconds`, help: 'CONNECT tunnel lifetime', buckets: CONNECT_DURATION_BUCKETS, registers });
  const certMint = new Histogram({ name: `${PREFIX}cert_mint_seconds`, help: 'Time to mint one leaf certificate', buckets: CERT_MINT_BUCKETS, registers });
  const certCache = new Counter({ name: `${PREFIX}cert_cache_total`, help: 'Certificate context cache lookups', labelNames: ['result'], registers });
  const authChecks = new Counter({ name: `${PREFIX}auth_checks_total`, help: 'Proxy-authentication checks (--auth), by result: ok, auth_required, auth_failed, auth_throttled', labelNames: ['result'], registers });
  const catalogRules = new Gauge({ name: `${PREFIX}catalog_rules`, help: 'Rules compiled from each catalog source', labelNames: ['source'], registers });

  // Pre-bound children: decisions, directions and results are closed sets, bound once and exported at 0 so
  // that rate() works from the first scrape; (decision, reason) pairs are bound on first use and cached.
  const bytesBy = new Map(DECISIONS.map((d) => [d, { in: bytes.labels(d, 'in'), out: bytes.labels(d, 'out') }]));
  const requestsBy = new Map(DECISIONS.map((d) => [d, requests.labels(d)]));
  const activeBy = new Map(DECISIONS.map((d) => [d, active.labels(d)]));
  const tlsBy = new Map(TLS_REJECT_REASONS.map((r) => [r as string, tlsRejections.labels(r)]));
  const cacheBy = { hit: certCache.labels('hit'), miss: certCache.labels('miss') };
  const authBy = new Map(AUTH_OUTCOMES.map((o) => [o, authChecks.labels(o)]));
  // prom-client only exports a bound child once it has a value.
  for (const c of [...[...bytesBy.values()].flatMap((b) => [b.in, b.out]), ...requestsBy.values(), ...tlsBy.values(), cacheBy.hit, cacheBy.miss, ...authBy.values()]) c.inc(0);
  for (const g of activeBy.values()) g.set(0);
  const connBy = new Map<string, Child>();
  const connChild = (decision: DecisionKind, reason: string): Child => {
    const key = `${decision}|${reason}`;
    let c = connBy.get(key);
    if (c === undefined) {
      c = connections.labels(decision, reason);
      connBy.set(key, c);
    }
    return c;
  };

  const live = createLiveState({ ...(opts.calibration ? { calibration: opts.calibration } : {}), ...(opts.now ? { now: opts.now } : {}) });
  // prom-client throws on negative increments; a metrics hook must never throw into the proxy's path.
  const amount = (n: number): number => (n > 0 && Number.isFinite(n) ? n : 0);
  const addBytes = (rec: ConnectRecord | RequestRecord): void => {
    const b = bytesBy.get(rec.decision);
    if (b === undefined) return;
    b.in.inc(amount(rec.bytesIn));
    b.out.inc(amount(rec.bytesOut));
  };

  const sink: MetricsSink = {
    connect(rec) {
      connChild(rec.decision, rec.reason).inc();
      addBytes(rec);
      if (isTlsRejectReason(rec.reason)) tlsBy.get(rec.reason)!.inc();
      if (Number.isFinite(rec.durationMs) && rec.durationMs >= 0) connectDuration.observe(rec.durationMs / 1000);
      live.connect(rec);
    },
    request(rec) {
      requestsBy.get(rec.decision)?.inc();
      // CONTRACT.md "Counting": bytes of requests inside a tunnel are in the tunnel's connect record.
      if (rec.inTunnel !== true) addBytes(rec);
      live.request(rec);
    },
    tunnelOpen(d) {
      activeBy.get(d)?.inc();
      live.tunnelOpen(d);
    },
    tunnelClose(d) {
      activeBy.get(d)?.dec();
      live.tunnelClose(d);
    },
    certMint(seconds) {
      if (Number.isFinite(seconds) && seconds >= 0) certMint.observe(seconds);
    },
    certCache(result) {
      cacheBy[result].inc();
    },
    authCheck(outcome) {
      authBy.get(outcome)?.inc();
    },
  };

  return {
    sink,
    registry,
    render: () => registry.metrics(),
    snapshot: () => live.snapshot(),
    setCatalogRules(counts) {
      const entries = counts instanceof Map ? [...counts.entries()] : Object.entries(counts as Record<string, number>);
      catalogRules.reset();
      for (const [source, n] of entries) catalogRules.labels(source).set(n);
      live.setCatalogRules(Object.fromEntries(entries));
    },
  };
}
