// TLS inspection of one tunnel: terminate the client's TLS with a minted certificate, relay HTTP/1.1 to a
// verified TLS connection upstream (h1-relay.ts), one `request` record per request (inTunnel: true).
// Upstream failures are answered inside the tunnel as HTTP 502/504 with X-Proxy-Error (CONTRACT.md).
import tls from 'node:tls';
import type { TunnelParts } from './execute.js';
import type { ContextCache } from '../tls/context-cache.js';
import { serverSocketOptions } from '../tls/options.js';
import type { Telemetry } from '../observability/telemetry.js';
import { elapsedMs, type RequestRecord } from '../observability/records.js';
import { redactUrl } from '../proxy/target.js';
import type { TlsUpstream } from './upstream.js';
import { startH1Relay, type ExchangeResult } from './h1-relay.js';
import { UpstreamConn, type UpstreamPool } from './upstream-pool.js';

export interface Interceptor {
  /** Dials the upstream of an inspected tunnel; its TLS handshake (verified against `servername`) starts at once. */
  open(target: TunnelParts['target'], servername: string): Promise<TlsUpstream>;
  intercept(parts: TunnelParts, done: (err: Error | null) => void): void;
  /** An upstream from open() the tunnel will not use: an idle pooled connection goes back, a new one closes. */
  discard(up: TlsUpstream): void;
  /** Closes the idle upstream connections (at stop). */
  close(): void;
}

export interface InterceptorDeps {
  cache: ContextCache;
  telemetry: Telemetry;
  /** openTlsUpstream bound to the configuration (direct or through the parent). */
  open(target: TunnelParts['target'], servername: string): Promise<TlsUpstream>;
  maxHeaderBytes: number;
  /** Idle upstream connections shared by the tunnels to one destination. */
  pool: UpstreamPool;
}

/** Pooled connections are shared by destination and by the name they were verified against. */
const poolKey = (servername: string, target: { host: string; port: number }) => `${servername}\n${target.host}:${target.port}`;

// Alerts a client sends when it refuses our certificate (pinning, or the CA not enrolled): RFC 8446 §6.2
const CERT_REJECTED = /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|CERTIFICATE_REVOKED|ACCESS_DENIED)/;

export function createInterceptor(deps: InterceptorDeps): Interceptor {
  // park() closes a connection that cannot carry a request; one still handshaking is closed here
  const discard = (up: TlsUpstream) => (up.pooled ? deps.pool.park(up.pooled) : up.socket.destroy());
  return {
    async open(target, servername) {
      // an idle verified connection to the same destination saves the dial and the upstream handshake
      const idle = deps.pool.take(poolKey(servername, target));
      // this pool holds the verified TLS connections of inspected tunnels only
      const idleTls = idle?.socket as tls.TLSSocket | undefined;
      const upstream: TlsUpstream = idle && idleTls
        ? { socket: idleTls, sink: null, secure: Promise.resolve({ socket: idleTls, sink: null }), upstream: idle.upstream, pooled: idle }
        : await deps.open(target, servername);
      // the client leg's certificate is minted (or found) while the client reads the 200 and sends its
      // ClientHello, and the upstream handshake runs: started once the 200 has gone out, not before it
      const secureContext = new Promise<tls.SecureContext>((resolve) => setImmediate(() => resolve(deps.cache.get(servername))));
      secureContext.catch(() => {});
      return { ...upstream, context: { name: servername, secureContext } };
    },
    discard,
    close: () => deps.pool.close(),
    intercept(parts, done) {
      // the closures below live as long as the tunnel: they capture neither `parts` nor, once the relay
      // has it, the first upstream connection (the pool may have closed it long before the client leaves)
      const { client, target, connRec } = parts;
      let first = parts.tls;
      if (!first) {
        // cannot happen: connect-handler opens the TLS upstream for every inspect decision
        client.destroy();
        parts.upstream.destroy();
        return done(null);
      }
      const name = parts.sni ?? target.host;
      // the connect record carries the TLS error itself (CERT_HAS_EXPIRED, …), set here
      first.secure.catch((err: Error & { detail?: string }) => {
        if (!connRec.error) connRec.error = err.detail ?? (err as NodeJS.ErrnoException).code ?? 'upstream_tls';
      });
      client.on('close', () => {
        // not handed to the relay yet: an idle connection from the pool goes back there, a new one dies
        // with the tunnel (its handshake may not even be over)
        if (first) discard(first);
        first = null;
        done(null);
      });
      const key = poolKey(name, target);
      const wrap = async (up: TlsUpstream) => {
        const c = await up.secure;
        return new UpstreamConn(key, c.socket, c.sink, up.upstream);
      };

      if (parts.initial.length > 0) client.unshift(parts.initial);
      (first.context?.name === name ? first.context.secureContext : deps.cache.get(name)).then(
        (secureContext) => {
          if (client.destroyed || !first) return;
          const firstConn = first.pooled ? Promise.resolve(first.pooled) : wrap(first);
          first = null; // from here the relay owns it (and may lend it to the pool)
          const clientTls = new tls.TLSSocket(client, { isServer: true, ...serverSocketOptions(), secureContext, SNICallback: deps.cache.sniCallbackFor(name) });
          clientTls.on('error', (err: NodeJS.ErrnoException) => {
            if (CERT_REJECTED.test(err.code ?? '')) connRec.reason = 'client_rejected_certificate';
            client.destroy();
          });
          clientTls.on('close', () => client.destroy());
          startH1Relay({
            client: clientTls,
            first: firstConn,
            acquire: async () => deps.pool.take(key) ?? wrap(await deps.open(target, name)),
            hold: (conn, reclaim) => deps.pool.hold(conn, reclaim),
            unhold: (conn) => deps.pool.unhold(conn),
            release: (conn) => deps.pool.park(conn),
            maxHeaderBytes: deps.maxHeaderBytes,
            name,
            onExchange: (x) => deps.telemetry.request(requestRecord(x)),
          });
        },
        (err: Error) => {
          connRec.error = (err as NodeJS.ErrnoException).code ?? 'mint_failed';
          client.destroy();
        },
      );

      function requestRecord(x: ExchangeResult): RequestRecord {
        const path = x.target.startsWith('/') ? x.target : '/' + x.target;
        const rec: RequestRecord = {
          event: 'request', connId: connRec.connId, decision: 'inspect', reason: connRec.reason, client: connRec.client,
          host: target.host, port: target.port, rule: connRec.rule, bytesIn: x.bytesIn, bytesOut: x.bytesOut, durationMs: elapsedMs(x.startNs),
          method: x.method, url: redactUrl(`https://${name}${target.port === 443 ? '' : ':' + target.port}${path}`),
          status: x.status, range: x.range, inTunnel: true,
        };
        if (connRec.user) rec.user = connRec.user;
        if (x.failure) {
          rec.reason = x.failure.reason;
          rec.error = x.failure.code;
          if (x.failure.reason === 'upstream_tls_failed') connRec.reason = x.failure.reason;
        } else if (x.incomplete) rec.error = x.incomplete;
        return rec;
      }
    },
  };
}
