// Plain absolute-form HTTP (`GET http://host/…`) on the proxy's client connections: checks → classify → auth
// → the origin (or the parent) over pooled keep-alive connections, relayed by h1-relay.ts in forward mode.
// Bodies, Range/206 and chunking pass byte for byte; origin reads land in recycled buffers (read-sink.ts).
// One `request` record per request. A CONNECT head on the connection goes to the CONNECT handler.
// (An earlier build forwarded through Node's http server and http-proxy: 150-200 µs of CPU per small
// request against ~30 µs here, bench/RESULTS.md.)
import type { Socket } from 'node:net';
import { parseAbsoluteUrl, redactUrl } from './target.js';
import type { ProxyContext } from './context.js';
import { classify } from '../policy/classify.js';
import type { Reason } from '../policy/types.js';
import { elapsedMs, newConnId, newConnectRecord, type RequestRecord } from '../observability/records.js';
import { dial, mapConnectTo } from '../tunnel/dial.js';
import { authority } from '../tunnel/upstream.js';
import { PROXY_AUTHENTICATE, refusalHeaders } from './auth.js';
import { noteBodyLength } from '../heap-tuning.js';
import { hostFieldOk, startH1Relay, type ExchangeResult, type H1RelayHandle, type Route } from '../tunnel/h1-relay.js';
import { parseRequestHead, type H1Head } from '../tunnel/h1-parse.js';
import { HEADER_TIMEOUT_RESPONSE } from './errors.js';
import { createUpstreamPool, UpstreamConn, UPSTREAM_POOL_DEFAULTS, type UpstreamPool } from '../tunnel/upstream-pool.js';
import { createReadSink } from '../tunnel/read-sink.js';

/** The CONNECT request as the CONNECT handler reads it: target and lower-cased fields (first value of each). */
export interface ConnectHead {
  url: string;
  headers: Record<string, string | undefined>;
}

export interface ForwardRelay {
  /** Serves a client connection until it closes, or until it sends CONNECT (then `onConnect` owns it). */
  serve(socket: Socket): void;
  /** Closes idle client connections now and busy ones after their exchange in flight. */
  drain(): void;
  /** Client connections being served. */
  readonly size: number;
  /** Closes the idle origin connections. */
  close(): void;
}

// a plain origin connection waits idle in the pool at most this long (Node's agent kept them until the
// idle timeout; origins close theirs after 5-15 s themselves)
const POOL = { ...UPSTREAM_POOL_DEFAULTS, maxIdle: 256 };

/** First value of a field, case-insensitive. */
function field(head: H1Head, name: string): string | undefined {
  for (const [k, v] of head.headers) if (k.length === name.length && k.toLowerCase() === name) return v;
  return undefined;
}

/** CONNECT heads in the shape handleConnect reads. */
export function connectHead(head: H1Head): ConnectHead {
  const headers: Record<string, string | undefined> = {};
  for (const [k, v] of head.headers) {
    const l = k.toLowerCase();
    if (headers[l] === undefined) headers[l] = v;
  }
  return { url: head.target, headers };
}

export function createForwardRelay(ctx: ProxyContext, onConnect: (socket: Socket, head: ConnectHead, rest: Buffer) => void): ForwardRelay {
  const pool: UpstreamPool = createUpstreamPool(POOL);
  const served = new Map<Socket, H1RelayHandle>();
  // connections that have not sent a byte yet (closed at once by a stop, like idle keep-alive ones)
  const fresh = new Set<Socket>();
  const { limits } = ctx.config;
  // a head not complete within --header-timeout (answered 408 header_timeout): a connect record, as Node's did
  const headTimedOut = (client: string | null) => ctx.telemetry.connect(newConnectRecord(client, 'bad_request'));

  const opener = (key: string, host: string, port: number, checked: boolean, label: string) => async (): Promise<UpstreamConn> => {
    const idle = pool.take(key);
    if (idle) return idle;
    const sink = createReadSink({ bulk: true });
    const socket = await dial({ host, port, timeoutMs: limits.connectTimeoutMs, deny: checked ? ctx.deny : null, relay: sink });
    return new UpstreamConn(key, socket, sink, label);
  };

  /**
   * A new connection: the first read decides. A whole CONNECT head (nearly every tunnel) goes straight to
   * the CONNECT handler; anything else, a CONNECT head split over reads included, starts the relay.
   */
  function serve(socket: Socket): void {
    const timer = setTimeout(() => {
      socket.removeListener('data', first);
      headTimedOut(socket.remoteAddress ?? null);
      socket.end(HEADER_TIMEOUT_RESPONSE);
      setTimeout(() => socket.destroy(), 1000).unref();
    }, limits.headerTimeoutMs);
    const gone = () => {
      clearTimeout(timer);
      fresh.delete(socket);
    };
    const first = (chunk: Buffer) => {
      clearTimeout(timer);
      socket.removeListener('data', first);
      socket.removeListener('close', gone);
      socket.pause();
      fresh.delete(socket);
      if (chunk.length > 8 && chunk[0] === 0x43 && chunk.toString('latin1', 0, 8) === 'CONNECT ') {
        const r = parseRequestHead(chunk, limits.maxHeaderBytes);
        if (r.kind === 'head') {
          (socket as { readableFlowing: boolean | null }).readableFlowing = null;
          return onConnect(socket, connectHead(r.head), chunk.subarray(r.length));
        }
      }
      socket.unshift(chunk);
      relay(socket);
      socket.resume();
    };
    socket.on('data', first);
    socket.on('close', gone);
    fresh.add(socket);
  }

  function relay(socket: Socket): void {
    const client = socket.remoteAddress ?? null;
    // the record of the request in flight, made when its route is asked (one exchange at a time per
    // connection, and each ends before the next head is read): none for a head refused before routing
    let deciding: RequestRecord | null = null;
    const answer = (rec: RequestRecord, reason: Reason, keepAlive: boolean, headers?: Record<string, string>): Route => {
      rec.decision = 'deny';
      rec.reason = reason;
      return { kind: 'answer', reason, code: reason, keepAlive, ...(headers ? { headers } : {}) };
    };

    const route = (head: H1Head, upgrade: boolean): Route | Promise<Route> => {
      const rec: RequestRecord = {
        event: 'request', connId: newConnId(), decision: 'deny', reason: 'bad_request', client, host: null, port: null, rule: null,
        bytesIn: 0, bytesOut: 0, durationMs: 0, method: head.method, url: redactUrl(head.target), status: 0, range: null,
      };
      deciding = rec;
      const parsed = parseAbsoluteUrl(head.target);
      if (!parsed.ok) return answer(rec, 'bad_request', false);
      const target = parsed.target;
      rec.host = target.host;
      rec.port = target.port;
      if (!hostFieldOk(head)) return answer(rec, 'bad_request', false);
      // WebSocket or other upgrades on plain HTTP are not forwarded (the catalog's endpoints do not need them)
      if (upgrade) return answer(rec, 'bad_request', false);
      const mapped = mapConnectTo(ctx.config.connectTo, target.host, target.port);
      if (target.isIp && !mapped && ctx.deny.has(target.host)) return answer(rec, 'destination_not_allowed', true);
      const d = classify(target, ctx.catalog, ctx.policy);
      rec.decision = d.decision;
      rec.reason = d.reason;
      rec.rule = d.rule;
      if (d.decision === 'deny') return answer(rec, d.reason, true);
      // a bulk upload: keep Node's freed client-read buffers in malloc's heap from now on (heap-tuning.ts)
      noteBodyLength(field(head, 'content-length'));
      const path = parsed.path ?? '/';
      // RFC 9112 §3.2.2: a proxy replaces the Host of an absolute-form request with the URL's authority
      const hostField = target.port === 80 ? (target.host.includes(':') ? `[${target.host}]` : target.host) : authority(target.host, target.port);
      const go = (): Route => {
        const parent = d.decision !== 'bypass' ? ctx.parent : null;
        if (parent) {
          // the parent gets the absolute form naming the original host (CONTRACT.md --upstream-proxy)
          rec.upstream = parent.label;
          const auth = parent.authorization ? `\r\nProxy-Authorization: ${parent.authorization}` : '';
          return {
            kind: 'send', key: `parent\n${parent.label}`, open: opener(`parent\n${parent.label}`, parent.host, parent.port, false, parent.label),
            startLine: `${head.method} http://${hostField}${path} HTTP/1.${head.minor}\r\nHost: ${hostField}${auth}`, drop: 'host',
          };
        }
        const host = mapped ? mapped.host : target.host;
        const port = mapped ? mapped.port : target.port;
        const label = authority(host, port);
        rec.upstream = label;
        const key = `${mapped ? 'mapped' : 'checked'}\n${label}`;
        return { kind: 'send', key, open: opener(key, host, port, !mapped, label), startLine: `${head.method} ${path} HTTP/1.${head.minor}\r\nHost: ${hostField}`, drop: 'host' };
      };
      if (d.decision === 'bypass' || !ctx.auth) return go();
      return ctx.auth.check(field(head, 'proxy-authorization'), rec.client).then(
        (a) => {
          if (!a.ok) {
            if (a.user) rec.user = a.user;
            return answer(rec, a.reason, true, refusalHeaders(a));
          }
          rec.user = a.user;
          return go();
        },
        () => answer(rec, 'auth_failed', true, { 'Proxy-Authenticate': PROXY_AUTHENTICATE }),
      );
    };

    const onExchange = (x: ExchangeResult) => {
      const rec = deciding;
      deciding = null;
      if (!rec) {
        // refused before it could be routed (a malformed or oversized head): a connect record, as for a CONNECT
        const r = newConnectRecord(client, x.failure?.reason ?? 'bad_request');
        r.bytesIn = x.bytesIn;
        r.bytesOut = x.bytesOut;
        r.durationMs = elapsedMs(x.startNs);
        if (x.failure) r.error = x.failure.code;
        return ctx.telemetry.connect(r);
      }
      rec.bytesIn = x.bytesIn;
      rec.bytesOut = x.bytesOut;
      rec.status = x.status;
      rec.range = x.range;
      rec.durationMs = elapsedMs(x.startNs);
      if (x.failure) {
        rec.decision = 'deny';
        rec.reason = x.failure.reason;
        if (x.failure.code !== x.failure.reason) rec.error = x.failure.code;
      }
      if (x.incomplete) rec.error ??= x.incomplete === 'client_closed' ? 'client_aborted' : x.incomplete;
      ctx.telemetry.request(rec);
    };

    const handle = startH1Relay({
      client: socket,
      first: null,
      acquire: () => Promise.reject(new Error('forward mode opens through its route')),
      hold: (conn, reclaim) => pool.hold(conn, reclaim),
      unhold: (conn) => pool.unhold(conn),
      release: (conn) => pool.park(conn),
      maxHeaderBytes: limits.maxHeaderBytes,
      name: '',
      onExchange,
      route,
      headTimeoutMs: limits.headerTimeoutMs,
      onHeadTimeout: () => headTimedOut(client),
      onHandoff: (head, rest) => {
        // nothing of this relay may stay reachable from the socket: an idle tunnel would carry it (~5 KB)
        socket.removeListener('close', onClose);
        served.delete(socket);
        ctx.idle.remove(socket);
        onConnect(socket, connectHead(head), rest);
      },
    });
    const onClose = () => {
      if (served.delete(socket)) ctx.idle.remove(socket);
    };
    served.set(socket, handle);
    // a waiting exchange gets its 504 when the origin stays silent, an idle connection closes
    ctx.idle.add(socket, () => handle.idle());
    socket.on('close', onClose);
    if (ctx.draining) handle.drain();
  }

  return {
    serve,
    drain() {
      for (const h of served.values()) h.drain();
      // they have sent nothing: closed outright, so a request arriving now is never read
      for (const s of fresh) s.destroy();
    },
    get size() {
      return served.size;
    },
    close: () => pool.close(),
  };
}
