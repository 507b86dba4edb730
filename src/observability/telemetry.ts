// Where records go: the pino logger and the metrics hooks. Handlers call these; nothing else logs events.
// Must not build record fields (records.ts) nor know sockets.
import type { Logger } from 'pino';
import type { ConnectRecord, RequestRecord } from './records.js';
import type { DecisionKind } from '../policy/types.js';

/** How one proxy-authentication check ended (`--auth`): accepted, or the refusal's reason. */
export type AuthOutcome = 'ok' | 'auth_required' | 'auth_failed' | 'auth_throttled';
export const AUTH_OUTCOMES: readonly AuthOutcome[] = ['ok', 'auth_required', 'auth_failed', 'auth_throttled'];

export interface MetricsSink {
  connect(rec: ConnectRecord): void;
  request(rec: RequestRecord): void;
  tunnelOpen(decision: DecisionKind): void;
  tunnelClose(decision: DecisionKind): void;
  certMint(seconds: number): void;
  certCache(result: 'hit' | 'miss'): void;
  authCheck(outcome: AuthOutcome): void;
}

export interface Telemetry extends MetricsSink {
  readonly logger: Logger;
}

export const NO_METRICS: MetricsSink = {
  connect() {},
  request() {},
  tunnelOpen() {},
  tunnelClose() {},
  certMint() {},
  certCache() {},
  authCheck() {},
};

export function createTelemetry(logger: Logger, metrics: MetricsSink = NO_METRICS): Telemetry {
  return {
    logger,
    connect(rec) {
      logger.info(rec);
      metrics.connect(rec);
    },
    request(rec) {
      logger.info(rec);
      metrics.request(rec);
    },
    tunnelOpen: (d) => metrics.tunnelOpen(d),
    tunnelClose: (d) => metrics.tunnelClose(d),
    certMint: (s) => metrics.certMint(s),
    certCache: (r) => metrics.certCache(r),
    authCheck: (o) => metrics.authCheck(o),
  };
}
