// The one place that says how this proxy speaks TLS: the client-facing (inspection server) leg and the
// upstream (verified client) leg, plus the upstream session cache. Nothing else sets minVersion, and
// upstream verification is always on: there is no option to turn it off.
import net from 'node:net';
import tls from 'node:tls';
import { LRUCache } from 'lru-cache';

/** Microsoft requires TLS 1.2 of proxies in front of Autopatch/Intune devices; nothing older on either leg. */
export const TLS_MIN_VERSION = 'TLSv1.2' satisfies tls.SecureVersion;
export const TLS_MAX_VERSION = 'TLSv1.3' satisfies tls.SecureVersion;
/** The relay inside an inspected tunnel speaks HTTP/1.1 only, so both legs offer only that. */
export const ALPN_PROTOCOLS: readonly string[] = Object.freeze(['http/1.1']);
export const DEFAULT_UPSTREAM_SESSION_CACHE_SIZE = 256;

/**
 * Options for every SecureContext the inspection server uses (tls.createSecureContext): the default
 * one and each per-host one from the context cache. Protocol limits must be on the *initial* context
 * of a connection: OpenSSL keeps them when SNICallback swaps the context, so all contexts share them.
 * Ciphers: Node's defaults (forward-secret AEAD first); 1.0/1.1 are excluded by the version floor.
 */
export function serverContextOptions(extra: tls.SecureContextOptions = {}): tls.SecureContextOptions {
  return {
    ...extra,
    minVersion: TLS_MIN_VERSION,
    maxVersion: TLS_MAX_VERSION,
    honorCipherOrder: true,
  };
}

/** Options for the TLS server side of an inspected tunnel (tls.createServer or new tls.TLSSocket). */
export function serverSocketOptions(): tls.TlsOptions {
  return {
    ...serverContextOptions(),
    ALPNProtocols: [...ALPN_PROTOCOLS],
    requestCert: false,
  };
}

export interface SessionCache {
  /** Returns and removes the session: TLS 1.3 tickets are single-use (RFC 8446 §C.4). */
  take(key: string): Buffer | undefined;
  set(key: string, session: Buffer): void;
  readonly size: number;
}

export function createSessionCache(max = DEFAULT_UPSTREAM_SESSION_CACHE_SIZE): SessionCache {
  const lru = new LRUCache<string, Buffer>({ max });
  return {
    take(key) {
      const s = lru.get(key);
      if (s !== undefined) lru.delete(key);
      return s;
    },
    set(key, session) {
      lru.set(key, session);
    },
    get size() {
      return lru.size;
    },
  };
}

export interface UpstreamTlsParams {
  /** Address to dial (may differ from `servername` with --connect-to). */
  host: string;
  port: number;
  /** The name the client asked for: sent as SNI and verified against the upstream certificate. */
  servername?: string;
  /** Extra trusted PEM certificates (--upstream-ca), added to Node's root store. */
  ca?: readonly string[];
  /** Offer a cached session for resumption and keep new ones (see trackUpstreamSession). */
  sessions?: SessionCache;
}

// One context per distinct trust set: passing `ca` to every tls.connect would parse ~140 roots each time.
const upstreamContexts = new Map<string, tls.SecureContext>();

/** The shared upstream SecureContext for Node's root store plus `extraCa`. */
export function upstreamSecureContext(extraCa: readonly string[] = []): tls.SecureContext {
  const key = extraCa.join('\n');
  let ctx = upstreamContexts.get(key);
  if (!ctx) {
    ctx = tls.createSecureContext({
      minVersion: TLS_MIN_VERSION,
      maxVersion: TLS_MAX_VERSION,
      // without `ca` Node uses its bundled roots; with it, `ca` replaces them, so include them
      ...(extraCa.length > 0 ? { ca: [...tls.rootCertificates, ...extraCa] } : {}),
    });
    if (upstreamContexts.size >= 8) upstreamContexts.clear();
    upstreamContexts.set(key, ctx);
  }
  return ctx;
}

/** The name the upstream certificate must carry. */
export function upstreamIdentity(p: Pick<UpstreamTlsParams, 'host' | 'servername'>): string {
  return (p.servername ?? p.host).replace(/^\[(.*)\]$/, '$1');
}

export function upstreamSessionKey(p: Pick<UpstreamTlsParams, 'host' | 'servername' | 'port'>): string {
  return `${upstreamIdentity(p)}:${p.port}`;
}

/**
 * tls.connect options for the upstream leg: verification always on (rejectUnauthorized: true and
 * the identity check against `servername`, or `host` when absent). An IP identity is verified but
 * never sent as SNI (RFC 6066 §3 forbids literal addresses in server_name).
 */
export function upstreamTlsOptions(p: UpstreamTlsParams): tls.ConnectionOptions {
  const identity = upstreamIdentity(p);
  const isIp = net.isIP(identity) !== 0;
  const session = p.sessions?.take(upstreamSessionKey(p));
  return {
    host: p.host.replace(/^\[(.*)\]$/, '$1'),
    port: p.port,
    secureContext: upstreamSecureContext(p.ca),
    ALPNProtocols: [...ALPN_PROTOCOLS],
    rejectUnauthorized: true,
    ...(isIp ? {} : { servername: identity }),
    // Node checks `servername ?? host`; pin the check to the identity, whatever address is dialled
    checkServerIdentity: (_host: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(identity, cert),
    ...(session ? { session } : {}),
  };
}

/** Stores the socket's sessions (TLS 1.2 or 1.3 tickets) for the next connection to the same upstream. */
export function trackUpstreamSession(socket: tls.TLSSocket, p: UpstreamTlsParams): void {
  const sessions = p.sessions;
  if (!sessions) return;
  const key = upstreamSessionKey(p);
  socket.on('session', (session: Buffer) => {
    // TLS 1.2 delivers the session before verification finishes: keep only verified ones
    if (socket.authorized) sessions.set(key, session);
    else socket.once('secureConnect', () => socket.authorized && sessions.set(key, session));
  });
}
