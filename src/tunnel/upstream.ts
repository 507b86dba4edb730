// Opens the upstream side of a tunnel: direct (with --connect-to mapping) or through the --upstream-proxy
// parent with its own CONNECT. Returns a connected socket and the address actually dialled.
import { isIP, type Socket } from 'node:net';
import tls from 'node:tls';
import type { Config } from '../config/schema.js';
import type { AddressSet } from '../policy/address-set.js';
import type { DecisionKind } from '../policy/types.js';
import { dial, mapConnectTo, DialError } from './dial.js';
import { createUserBufferRelay, type UserBufferRelay } from './user-buffer-relay.js';
import { createReadSink, type ReadSink } from './read-sink.js';
import { upstreamTlsOptions, trackUpstreamSession, type SessionCache } from '../tls/options.js';
import type { UpstreamConn } from './upstream-pool.js';

export interface UpstreamSocket {
  socket: Socket;
  upstream: string; // "host:port" dialled (the parent's, when used)
  /** Set when the socket reads into a reused buffer: it can only be spliced, never wrapped in TLS. */
  relay: UserBufferRelay | null;
}

export interface ParentProxy {
  host: string;
  port: number;
  authorization: string | null;
  label: string;
}

export function parseParent(url: string | null): ParentProxy | null {
  if (!url) return null;
  const u = new URL(url);
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port ? Number(u.port) : 3128;
  return {
    host,
    port,
    authorization: user || pass ? 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64') : null,
    label: `${u.hostname}:${port}`,
  };
}

/** host:port as dialled, IPv6 in brackets. */
export function authority(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Sends CONNECT to the parent and waits for its status line; the parent's refusal becomes a coded error. */
function connectViaParent(socket: Socket, host: string, port: number, parent: ParentProxy, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const a = authority(host, port);
    let head = `CONNECT ${a} HTTP/1.1\r\nHost: ${a}\r\n`;
    if (parent.authorization) head += `Proxy-Authorization: ${parent.authorization}\r\n`;
    socket.write(head + '\r\n');
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new DialError('upstream_timeout', `parent proxy ${parent.label} did not answer CONNECT`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.destroy();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > 16384) fail(new DialError('upstream_unreachable', `parent proxy ${parent.label} sent an oversized answer`));
        return;
      }
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(buf.subarray(0, end).toString('latin1'));
      if (!status || status[1] !== '200') {
        const code = status?.[1] === '504' ? 'upstream_timeout' : 'upstream_unreachable';
        socket.destroy();
        reject(new DialError(code, `parent proxy ${parent.label} answered ${status ? status[1] : 'garbage'} to CONNECT ${a}`));
        return;
      }
      socket.pause();
      const rest = buf.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    const onClose = () => fail(new DialError('upstream_unreachable', `parent proxy ${parent.label} closed during CONNECT`));
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

export async function openUpstream(
  target: { host: string; port: number },
  decision: DecisionKind,
  config: Config,
  deny: AddressSet,
  parent: ParentProxy | null,
  opts: { spliceOnly?: boolean } = {},
): Promise<UpstreamSocket> {
  const timeoutMs = config.limits.connectTimeoutMs;
  // local breakout: trusted traffic never goes through the parent
  if (parent && decision !== 'bypass') {
    const socket = await dial({ host: parent.host, port: parent.port, timeoutMs, deny: null });
    await connectViaParent(socket, target.host, target.port, parent, timeoutMs);
    return { socket, upstream: parent.label, relay: null };
  }
  const mapped = mapConnectTo(config.connectTo, target.host, target.port);
  const host = mapped ? mapped.host : target.host;
  const port = mapped ? mapped.port : target.port;
  const relay = opts.spliceOnly ? createUserBufferRelay() : null;
  const socket = await dial({ host, port, timeoutMs, deny: mapped ? null : deny, ...(relay ? { relay } : {}) });
  return { socket, upstream: dialledLabel(socket, host, port), relay };
}

/**
 * The address actually dialled, for the record: an address literal is what was dialled (no getpeername
 * call, nor its cached object on every tunnel's socket); a name asks the socket which address it reached.
 */
function dialledLabel(socket: Socket, host: string, port: number): string {
  const literal = host.replace(/^\[(.*)\]$/, '$1');
  if (isIP(literal) !== 0) return `${literal}:${port}`;
  return `${socket.remoteAddress ?? host}:${socket.remotePort ?? port}`;
}

/** The upstream leg of an inspected tunnel: connected over TCP, TLS handshake under way. */
export interface TlsUpstream {
  socket: tls.TLSSocket;
  /** Set when the socket reads into recycled buffers (direct dial); null through a parent ('data' events). */
  sink: ReadSink | null;
  /** Settles with the verified handshake; rejects with code upstream_tls_failed (detail: the TLS error code). */
  secure: Promise<{ socket: tls.TLSSocket; sink: ReadSink | null }>;
  upstream: string;
  /**
   * The client leg's certificate for the same name, minted while the upstream connects (set by the
   * interceptor): the first request to a new host does not wait for the mint after the ClientHello.
   */
  context?: { name: string; secureContext: Promise<tls.SecureContext> };
  /** Set when this is an idle connection taken from the pool (verified, no handshake): use it as is. */
  pooled?: UpstreamConn;
}

export class UpstreamTlsError extends DialError {
  constructor(readonly detail: string, message: string) {
    super('upstream_tls_failed', message);
  }
}

function handshake(socket: tls.TLSSocket, sink: ReadSink | null, timeoutMs: number): TlsUpstream['secure'] {
  const p = new Promise<{ socket: tls.TLSSocket; sink: ReadSink | null }>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new DialError('upstream_timeout', `TLS handshake with the upstream took over ${timeoutMs} ms`));
      socket.destroy();
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve({ socket, sink });
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new UpstreamTlsError(e.code ?? 'upstream_tls', `${e.code ?? ''} ${e.message}`.trim()));
    });
    socket.once('close', () => {
      clearTimeout(timer);
      reject(new UpstreamTlsError('closed_during_handshake', 'the upstream closed during the TLS handshake'));
    });
  });
  p.catch(() => {});
  return p;
}

/**
 * Dials the upstream of an inspected tunnel and starts its TLS handshake at once, verified against
 * `servername` (the CONNECT host, or the SNI when that was re-decided). Direct dials read into recycled
 * buffers (tls onread); through a parent the TLS wraps the parent's tunnel socket.
 */
export async function openTlsUpstream(
  target: { host: string; port: number },
  servername: string,
  config: Config,
  deny: AddressSet,
  parent: ParentProxy | null,
  trust: { ca: readonly string[]; sessions: SessionCache },
): Promise<TlsUpstream> {
  const timeoutMs = config.limits.connectTimeoutMs;
  if (parent) {
    const raw = await dial({ host: parent.host, port: parent.port, timeoutMs, deny: null });
    await connectViaParent(raw, target.host, target.port, parent, timeoutMs);
    const params = { host: target.host, port: target.port, servername, ca: trust.ca, sessions: trust.sessions };
    const socket = tls.connect({ ...upstreamTlsOptions(params), socket: raw });
    trackUpstreamSession(socket, params);
    return { socket, sink: null, secure: handshake(socket, null, timeoutMs), upstream: parent.label };
  }
  const mapped = mapConnectTo(config.connectTo, target.host, target.port);
  const host = mapped ? mapped.host : target.host;
  const port = mapped ? mapped.port : target.port;
  const params = { host, port, servername, ca: trust.ca, sessions: trust.sessions };
  const sink = createReadSink();
  const socket = (await dial({ host, port, timeoutMs, deny: mapped ? null : deny, relay: sink, tls: upstreamTlsOptions(params) })) as tls.TLSSocket;
  trackUpstreamSession(socket, params);
  return { socket, sink, secure: handshake(socket, sink, timeoutMs), upstream: dialledLabel(socket, host, port) };
}
