// The decision value (DESIGN.md: "a decision is a value"). Carried out by one exhaustive switch
// in tunnel/execute; nothing else branches on it.
import type { RuleRef } from '../catalog/types.js';

export type DecisionKind = 'bypass' | 'log' | 'inspect' | 'deny';

export type Reason =
  | 'catalog'
  | 'default'
  | 'tls_version_too_low'
  | 'sni_mismatch'
  | 'not_tls'
  | 'port_not_allowed'
  | 'client_not_allowed'
  | 'auth_required'
  | 'auth_failed'
  | 'auth_throttled'
  | 'bad_request'
  | 'destination_not_allowed'
  | 'not_allowlisted'
  | 'upstream_unreachable'
  | 'out_of_file_descriptors'
  | 'upstream_timeout'
  | 'upstream_tls_failed'
  | 'dns_failed'
  | 'policy_deny'
  | 'client_rejected_certificate'
  | 'headers_too_large'
  | 'client_aborted';

export interface Decision {
  decision: DecisionKind;
  reason: Reason;
  rule: RuleRef | null;
  /** false: splice without peeking the ClientHello (per-rule `detect: false`). */
  detect: boolean;
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${String(x)}`);
}
