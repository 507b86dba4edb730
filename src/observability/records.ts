// Builders of the log records of CONTRACT.md (`connect` per tunnel, `request` per HTTP request).
// Field names live here only; no I/O. Never add headers, cookies, bodies or credentials.
import type { RuleRef } from '../catalog/types.js';
import type { DecisionKind, Reason } from '../policy/types.js';

export interface ConnectRecord {
  event: 'connect';
  connId: number;
  decision: DecisionKind;
  reason: Reason;
  client: string | null;
  host: string | null;
  port: number | null;
  rule: RuleRef | null;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  sni: string | null;
  tlsVersion: string | null;
  alpn: string[] | null;
  upstream: string | null;
  user?: string;
  error?: string;
}

export interface RequestRecord {
  event: 'request';
  connId: number;
  decision: DecisionKind;
  reason: Reason;
  client: string | null;
  host: string | null;
  port: number | null;
  rule: RuleRef | null;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  method: string;
  url: string;
  status: number;
  range: string | null;
  inTunnel?: true;
  upstream?: string | null;
  user?: string;
  error?: string;
}

export function elapsedMs(startNs: bigint): number {
  return Math.round(Number(process.hrtime.bigint() - startNs) / 1e4) / 100;
}

/** A `connect` record before anything is known but the client: deny/bad_request until decided. */
export function newConnectRecord(client: string | null, reason: Reason = 'bad_request'): ConnectRecord {
  return {
    event: 'connect', connId: newConnId(), decision: 'deny', reason, client, host: null, port: null, rule: null,
    bytesIn: 0, bytesOut: 0, durationMs: 0, sni: null, tlsVersion: null, alpn: null, upstream: null,
  };
}

let nextConnId = 1;
/** Per-process connection ids; with --workers each record also carries `pid`. */
export function newConnId(): number {
  return nextConnId++;
}
