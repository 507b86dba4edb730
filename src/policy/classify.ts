// classify(target, catalog, policy) → Decision (pure). The filter-chain match of DESIGN.md:
// catalog trust + --mode + --unknown. Knows no sockets and no logger.
import type { Catalog, CatalogMatch } from '../catalog/types.js';
import type { Decision } from './types.js';

export interface PolicyOptions {
  mode: 'log' | 'inspect';
  unknown: 'allow' | 'deny';
}

export function decide(match: CatalogMatch | null, opts: PolicyOptions): Decision {
  if (!match) {
    return opts.unknown === 'deny'
      ? { decision: 'deny', reason: 'not_allowlisted', rule: null, detect: true }
      : { decision: opts.mode, reason: 'default', rule: null, detect: true };
  }
  switch (match.trust) {
    case 'bypass':
      return { decision: 'bypass', reason: 'catalog', rule: match.rule, detect: match.detect };
    case 'mode':
      return { decision: opts.mode, reason: 'catalog', rule: match.rule, detect: true };
    case 'deny':
      return { decision: 'deny', reason: 'policy_deny', rule: match.rule, detect: true };
  }
}

export function classify(target: { host: string; port: number }, catalog: Catalog | null, opts: PolicyOptions): Decision {
  return decide(catalog ? catalog.lookup(target.host, target.port) : null, opts);
}

/**
 * The decision once the ClientHello's SNI is known and names another host than the CONNECT.
 * Never bypass on a mismatch, unless the SNI is trusted by the same rule (or, for an IP-literal CONNECT,
 * the SNI itself is trusted: the dialled address is then trusted too). Otherwise: deny when the SNI's own
 * classification denies (allowlist egress, local deny), else the --mode treatment with reason sni_mismatch.
 */
export function decideSniMismatch(connect: Decision, sniDecision: Decision, connectIsIp: boolean, opts: PolicyOptions): Decision {
  if (connect.decision === 'deny') return connect;
  if (sniDecision.decision === 'bypass' && connect.decision === 'bypass') {
    const same = sniDecision.rule && connect.rule && sniDecision.rule.source === connect.rule.source && sniDecision.rule.pattern === connect.rule.pattern;
    if (same || connectIsIp) return connect;
  }
  if (sniDecision.decision === 'deny') return { decision: 'deny', reason: 'sni_mismatch', rule: sniDecision.rule, detect: true };
  return { decision: opts.mode, reason: 'sni_mismatch', rule: sniDecision.rule ?? connect.rule, detect: true };
}
