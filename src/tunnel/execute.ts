// Carries out a tunnel's decision: the one exhaustive switch over Decision (DESIGN.md), ending in assertNever.
// Deny is handled before a tunnel exists; here it only closes what is left.
import type { Socket } from 'node:net';
import type { ProxyContext } from '../proxy/context.js';
import { assertNever, type Decision } from '../policy/types.js';
import type { ConnectRecord } from '../observability/records.js';
import { splice } from './splice.js';
import type { UserBufferRelay } from './user-buffer-relay.js';
import type { TlsUpstream } from './upstream.js';

export interface TunnelParts {
  client: Socket;
  upstream: Socket;
  initial: Buffer;
  target: { host: string; port: number; isIp: boolean };
  sni: string | null;
  connRec: ConnectRecord;
  /** The upstream reads into a reused buffer (bypass/log only). */
  relay: UserBufferRelay | null;
  /** The TLS upstream of an inspected tunnel (then `upstream` is its socket). */
  tls: TlsUpstream | null;
}

export function execute(ctx: ProxyContext, d: Decision, parts: TunnelParts, done: (err: Error | null) => void): void {
  const { client, upstream, initial } = parts;
  upstream.setNoDelay(true);
  switch (d.decision) {
    case 'bypass':
    case 'log':
      // both are spliced untouched; `log` differs only in what the record says and in auth, decided earlier
      splice(client, upstream, initial, done, parts.relay);
      return;
    case 'inspect':
      if (!ctx.interceptor) {
        // cannot happen: app.ts builds the interceptor whenever --mode inspect is set
        client.destroy();
        upstream.destroy();
        return;
      }
      ctx.interceptor.intercept(parts, done);
      return;
    case 'deny':
      client.destroy();
      upstream.destroy();
      return;
    default:
      assertNever(d.decision);
  }
}
