// The HTTP/1.1 relay: inside an inspected tunnel, and on plain-HTTP client connections (forward mode, where
// each request names its destination and `route` says where it goes). It parses each request head from the client socket
// and each response head from the upstream, rewrites only the hop-by-hop fields, and forwards bodies byte
// for byte (Content-Length, chunked or close-delimited, framed by h1-parse.ts) without re-framing or copying.
// One exchange at a time per tunnel: a pipelined request waits, unread, until the response before it ends.
// Between requests the tunnel holds its upstream connection in upstream-pool.ts, which takes it back when
// the tunnel stays idle; the next request then takes one from the pool or dials. Connections that carry
// NTLM/Negotiate authentication stay with their tunnel.
// 101 Switching Protocols turns the tunnel into a byte splice. In forward mode a CONNECT head ends the relay:
// the socket, with the bytes after that head, goes to `onHandoff`. I/O shell over the pure h1-parse.ts.
import type { Duplex } from 'node:stream';
import { parseRequestHead, parseResponseHead, requestFraming, responseFraming, fieldTokens, keepAliveTimeout, ChunkedScanner, type H1Head, type Framing } from './h1-parse.js';
import { HOP_BY_HOP, connectionNamed } from '../proxy/hop-by-hop.js';
import { HEADER_TIMEOUT_RESPONSE, rawErrorResponse, reasonOfError } from '../proxy/errors.js';
import type { Reason } from '../policy/types.js';
import type { UpstreamConn, UpstreamUser } from './upstream-pool.js';

/** Bytes queued towards either side before reading the other pauses. */
export const H1_HIGH_WATER = 256 * 1024;

export interface ExchangeResult {
  method: string;
  /** request-target as sent by the client */
  target: string;
  range: string | null;
  /** 0 when no response reached the client */
  status: number;
  bytesIn: number;
  bytesOut: number;
  startNs: bigint;
  /** set when the proxy answered (or gave up) instead of the origin */
  failure?: { reason: Reason; code: string };
  /** the exchange ended early (client or upstream went away mid-way) */
  incomplete?: string;
}

/** Forward mode: where one request goes, or the proxy's own answer to it. */
export type Route =
  | {
      kind: 'send';
      /** destination: a connection is reused for the next request only when its key is the same */
      key: string;
      /** a connection to that destination: an idle pooled one or a new one */
      open(): Promise<UpstreamConn>;
      /** request line, then the fields the proxy adds, joined by CRLF (no trailing CRLF) */
      startLine: string;
      /** a field of the client's to leave out (lower case), besides the hop-by-hop ones */
      drop: string | null;
    }
  | {
      kind: 'answer';
      reason: Reason;
      code: string;
      headers?: Record<string, string>;
      /** keep the client connection for its next request (possible when the request has no body) */
      keepAlive: boolean;
    };

/** What the owner of a forward-mode relay can ask of it. */
export interface H1RelayHandle {
  /** No byte moved for the idle timeout: a waiting exchange is answered 504, anything else closes. */
  idle(): void;
  /** Shutting down: close now if idle, else after the exchange in flight. */
  drain(): void;
}

export interface H1RelayOptions {
  client: Duplex;
  /** The connection opened before the 200 (its handshake may still be running); the tunnel owns it. Forward mode: null. */
  first: Promise<UpstreamConn> | null;
  /** A connection to the same destination: an idle one from the pool, or a new one (forward mode: Route.open). */
  acquire(): Promise<UpstreamConn>;
  /** Keeps an idle connection for the tunnel until it is needed or reclaimed (reclaim: the tunnel lets go). */
  hold(conn: UpstreamConn, reclaim: () => void): void;
  /** The tunnel uses the connection it held. */
  unhold(conn: UpstreamConn): void;
  /** Gives back a connection the tunnel will not use again: pooled if it can carry a request, else closed. */
  release(conn: UpstreamConn): void;
  maxHeaderBytes: number;
  /** Host name for error answers ('' in forward mode: each answer is about its own request). */
  name: string;
  onExchange(r: ExchangeResult): void;
  /** Forward mode: decides each request (absolute-form target, policy, authentication). */
  route?(head: H1Head, upgrade: boolean): Route | Promise<Route>;
  /** Forward mode: a CONNECT head; the relay has let go of the socket, `rest` is what followed the head. */
  onHandoff?(head: H1Head, rest: Buffer): void;
  /** Forward mode: a request head must be complete this long after its first byte (else 408). */
  headTimeoutMs?: number;
  /** Forward mode: called once when the head timeout answered 408 (the owner records it). */
  onHeadTimeout?(): void;
}

// Trailer names fields that follow a chunked body, which passes through untouched: keep it. Transfer-Encoding
// and Content-Length are kept too, for the same reason (the body is relayed as framed).
const DROPPED = new Set([...HOP_BY_HOP].filter((h) => h !== 'trailer'));

interface Exchange extends ExchangeResult {
  minor: 0 | 1;
  upgrade: boolean;
  closeAfter: boolean;
  responseStarted: boolean;
}

/** A parser detail without the bytes it quotes (a request line with a token, a Set-Cookie value): records keep the kind. */
const unquoted = (detail: string) => detail.replace(/ ".*$/s, '');

function errorCode(err: unknown): string {
  const e = err as { code?: string; detail?: string } | null;
  return e?.detail ?? e?.code ?? 'error';
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
/** A request that can be sent again whole: idempotent and without a body. */
const retryable = (method: string, framing: Framing) => IDEMPOTENT.has(method) && framing.kind === 'none';

/** NTLM and Negotiate (RFC 4559) authenticate the connection they run on. */
const isConnectionAuth = (t: string) => /^(ntlm|negotiate)\b/i.test(t);

/** RFC 9112 §3.2: exactly one Host field, or none in an HTTP/1.0 request. */
export function hostFieldOk(head: H1Head): boolean {
  let hosts = 0;
  for (const [k] of head.headers) if (k.length === 4 && k.toLowerCase() === 'host') hosts++;
  return hosts === 1 || (hosts === 0 && head.minor === 0);
}

/** The head to send on: start line, every field except the hop-by-hop ones, plus `extra` fields. */
export function rewriteHead(startLine: string, head: H1Head, keepUpgrade: boolean, extra: string, drop: string | null = null): string {
  const named = connectionNamed(fieldTokens(head, 'connection').join(','));
  let out = startLine + '\r\n';
  for (const [k, v] of head.headers) {
    const l = k.toLowerCase();
    if (DROPPED.has(l) && !(keepUpgrade && l === 'upgrade')) continue;
    if (l === drop) continue;
    if (named.has(l) && !(keepUpgrade && l === 'upgrade')) continue;
    out += `${k}: ${v}\r\n`;
  }
  return out + extra + '\r\n';
}

export function startH1Relay(o: H1RelayOptions): H1RelayHandle {
  // the closures below live as long as the tunnel: they capture these, never `o`, so that the first
  // connection is not kept reachable (with its socket and read buffer) once the pool or a close took it
  const { client, maxHeaderBytes, name, onExchange, acquire, hold, unhold, release, route, onHandoff, headTimeoutMs, onHeadTimeout } = o;
  let first: Promise<UpstreamConn> | null = o.first;
  // forward mode: the destination of the request in flight (its key, and how to get a connection there)
  let curKey: string | null = null;
  let curOpen: (() => Promise<UpstreamConn>) | null = null;
  let headTimer: NodeJS.Timeout | null = null;
  let draining = false;
  let pending: Buffer | null = null; // client bytes not yet handled
  let reqState: 'head' | 'connecting' | 'body' | 'wait' | 'tunnel' | 'closed' = 'head';
  let reqFraming: Framing = { kind: 'none' };
  let reqLeft = 0;
  let reqScanner: ChunkedScanner | null = null;
  let ex: Exchange | null = null;

  let up: UpstreamConn | null = null;
  // `first` is handed on once: to the first request, or to the pool when it is ready before any request
  let firstDone = first === null;
  let firstError: unknown = null;
  // NTLM/Negotiate authenticate the connection, not the request: such a connection stays with this tunnel
  let pinned = false;
  // the head of the request in flight while it may still be sent again (see retryOnce)
  let sentHead: Buffer | null = null;
  let resState: 'idle' | 'head' | 'body' | 'tunnel' = 'idle';
  let resHead: Buffer | null = null;
  let resFraming: Framing = { kind: 'none' };
  let resLeft = 0;
  let resScanner: ChunkedScanner | null = null;
  let upReusable = true;
  let waitingClientDrain = false;

  const finish = (extra: Partial<ExchangeResult> = {}) => {
    if (!ex) return;
    const e = ex;
    ex = null;
    onExchange({ method: e.method, target: e.target, range: e.range, status: e.status, bytesIn: e.bytesIn, bytesOut: e.bytesOut, startNs: e.startNs, ...(e.failure ? { failure: e.failure } : {}), ...extra });
  };

  const closeAll = () => {
    reqState = 'closed';
    client.destroy();
    up?.socket.destroy();
  };
  /** The proxy closes its side; a client that never closes its own is let go a second after all was sent. */
  const endClient = (data?: string) => {
    reqState = 'closed';
    client.once('finish', () => setTimeout(() => client.destroy(), 1000).unref());
    if (data === undefined) client.end();
    else client.end(data);
  };
  /** A proxy answer to HEAD carries its head only (RFC 9110 §9.3.2): a body would be read as the next response. */
  const forMethod = (raw: string, method: string) => (method === 'HEAD' ? raw.slice(0, raw.indexOf('\r\n\r\n') + 4) : raw);

  // the proxy answers for the origin: only possible before any response byte went out; the tunnel then closes
  const answer = (reason: Reason, code: string, headers: Record<string, string> = {}) => {
    if (!ex || ex.responseStarted) {
      if (ex) ex.failure ??= { reason, code };
      finish(ex ? { incomplete: code } : {});
      return closeAll();
    }
    clearHeadTimer();
    const raw = forMethod(rawErrorResponse(reason, name || undefined, headers), ex.method);
    ex.status = Number(raw.slice(9, 12));
    ex.failure = { reason, code };
    ex.bytesOut += Buffer.byteLength(raw);
    finish();
    reqState = 'closed';
    // forgotten before it is destroyed: its close must not answer a second time (and reset the client)
    const u = up;
    up = null;
    u?.socket.destroy();
    endClient(raw);
  };

  // ---- upstream → client ----
  const writeClient = (data: Buffer, retain: (() => () => void) | null) => {
    if (ex) ex.bytesOut += data.length;
    if (retain) client.write(data, retain());
    else client.write(data);
  };
  const clientHasRoom = (): boolean => {
    if (client.writableLength <= H1_HIGH_WATER) return true;
    if (!waitingClientDrain) {
      waitingClientDrain = true;
      client.once('drain', () => {
        waitingClientDrain = false;
        up?.socket.resume();
      });
    }
    return false;
  };

  const responseDone = () => {
    resState = 'idle';
    // answered before the request was all sent (an early 413, say): the rest of its body must never be
    // read as a next request, so the tunnel closes after this response
    if (ex && (reqState === 'body' || reqState === 'connecting')) ex.closeAfter = true;
    const closeAfter = ex?.closeAfter ?? true;
    finish();
    if (!upReusable) {
      up?.socket.destroy();
      up = null;
    }
    if (closeAfter) {
      endClient();
      up?.socket.destroy();
      return;
    }
    reqState = 'head';
    // the next request starts on the next tick: whatever the upstream read holds past this response is
    // judged first (and makes the connection unusable), so the next request never meets those bytes
    process.nextTick(() => {
      if (reqState !== 'head' || ex) return;
      const rest = pending;
      pending = null;
      // idle now (unless a pipelined request waits): the pool may take the connection back
      if (up && !pinned && !(rest && rest.length > 0)) holdIdle(up);
      client.resume();
      if (rest && rest.length > 0) onClientData(rest);
    });
  };
  /** Bytes past the end of a response: the connection cannot carry another request. */
  const dropIfTrailing = (conn: UpstreamConn, at: number, n: number) => {
    if (at >= n || conn !== up) return;
    upReusable = false;
    conn.socket.destroy();
    up = null;
  };

  // one read from the upstream: `buf[0..n)`; body bytes are written on without copying
  const onUpstream = (conn: UpstreamConn, buf: Buffer, n: number, retain: (() => () => void) | null): boolean => {
    if (conn !== up) return true;
    let at = 0;
    while (at < n) {
      switch (resState) {
        case 'idle':
          // bytes nobody asked for: the connection cannot be trusted with another request
          upReusable = false;
          conn.socket.destroy();
          up = null;
          return true;
        case 'tunnel':
          writeClient(at === 0 && n === buf.length ? buf : buf.subarray(at, n), retain);
          return clientHasRoom();
        case 'head': {
          const chunk = buf.subarray(at, n);
          resHead = resHead ? Buffer.concat([resHead, chunk]) : Buffer.from(chunk);
          at = n;
          const r = parseResponseHead(resHead, Math.max(maxHeaderBytes, 65536));
          if (r.kind === 'incomplete') return true;
          if (r.kind === 'error') {
            upReusable = false;
            answer('upstream_unreachable', `bad_response: ${unquoted(r.detail)}`);
            return true;
          }
          const rest = resHead.subarray(r.length);
          resHead = null;
          // the head and what follows it in this read leave as one write: one TLS record, one syscall
          // (a small response is otherwise two of each)
          client.cork();
          try {
            if (!onResponseHead(r.head)) {
              dropIfTrailing(conn, 0, rest.length);
              return true;
            }
            // what followed the head in the same reads is ours (a copy): no retain needed
            if (rest.length > 0) return onUpstream(conn, rest, rest.length, null);
            return clientHasRoom();
          } finally {
            client.uncork();
          }
        }
        case 'body': {
          if (resFraming.kind === 'length') {
            const k = Math.min(resLeft, n - at);
            writeClient(buf.subarray(at, at + k), retain);
            at += k;
            resLeft -= k;
            if (resLeft === 0) {
              responseDone();
              dropIfTrailing(conn, at, n);
              return clientHasRoom();
            }
          } else if (resFraming.kind === 'chunked') {
            const r = resScanner!.push(buf, at, n);
            if ('error' in r) {
              upReusable = false;
              answer('upstream_unreachable', `bad_chunked_response: ${r.error}`);
              return true;
            }
            if (r.consumed > 0) writeClient(buf.subarray(at, at + r.consumed), retain);
            at += r.consumed;
            if (r.done) {
              responseDone();
              dropIfTrailing(conn, at, n);
              return clientHasRoom();
            }
          } else {
            writeClient(buf.subarray(at, n), retain);
            at = n;
          }
          break;
        }
      }
    }
    return clientHasRoom();
  };

  /** Returns false when the exchange ended here (error answer). */
  const onResponseHead = (head: H1Head): boolean => {
    if (!ex) return false;
    sentHead = null;
    const status = head.status;
    if (status === 101) {
      if (!ex.upgrade) {
        upReusable = false;
        answer('upstream_unreachable', 'unsolicited_101');
        return false;
      }
      ex.status = 101;
      ex.responseStarted = true;
      writeClient(Buffer.from(rewriteHead(`HTTP/1.1 101 ${head.statusText}`, head, true, 'Connection: Upgrade\r\n'), 'latin1'), null);
      resState = 'tunnel';
      reqState = 'tunnel';
      upReusable = false;
      finish();
      const rest = pending;
      pending = null;
      if (rest && rest.length > 0) writeUp(rest);
      client.resume();
      return true;
    }
    if (status < 200) {
      // 100 Continue and other interim answers go through; the final one follows
      writeClient(Buffer.from(rewriteHead(`HTTP/1.1 ${status} ${head.statusText}`, head, false, ''), 'latin1'), null);
      resState = 'head';
      return true;
    }
    const f = responseFraming(head, ex.method);
    if (f.kind === 'error') {
      upReusable = false;
      answer('upstream_unreachable', `bad_response: ${unquoted(f.detail)}`);
      return false;
    }
    ex.status = status;
    ex.responseStarted = true;
    if (status === 401 && !pinned && fieldTokens(head, 'www-authenticate').some(isConnectionAuth)) pinned = true;
    const upClose = fieldTokens(head, 'connection').some((t) => t.toLowerCase() === 'close') || head.minor === 0;
    const announced = keepAliveTimeout(head);
    // two seconds short of it: the tunnel may hold the connection up to a second before the pool starts counting
    if (announced !== null && up) up.idleLimitMs = Math.max(0, announced * 1000 - 2000);
    if (upClose || f.kind === 'close') upReusable = false;
    if (f.kind === 'close') ex.closeAfter = true;
    writeClient(Buffer.from(rewriteHead(`HTTP/1.${head.minor} ${status} ${head.statusText}`, head, false, ex.closeAfter ? 'Connection: close\r\n' : ''), 'latin1'), null);
    resFraming = f;
    if (f.kind === 'none' || (f.kind === 'length' && f.length === 0)) {
      responseDone();
      return false;
    }
    resState = 'body';
    resLeft = f.kind === 'length' ? f.length : 0;
    resScanner = f.kind === 'chunked' ? new ChunkedScanner() : null;
    return true;
  };

  const user: UpstreamUser = {
    data: onUpstream,
    end(conn) {
      if (conn !== up) return void conn.socket.destroy();
      if (resState === 'tunnel') return client.end();
      // a plain connection is half-open here (allowHalfOpen): nothing more can come, and nothing more may go
      conn.socket.destroy();
      if (resState === 'body' && resFraming.kind === 'close') {
        up = null;
        return responseDone();
      }
      // else 'close' follows: an idle connection is forgotten there, a waiting request retried or answered
    },
    close(conn) {
      if (conn !== up) return;
      up = null;
      if (resState === 'idle') return; // an idle keep-alive connection the origin closed: dial again when needed
      if (resState === 'tunnel') return client.end();
      if (resState === 'body' && resFraming.kind === 'close') return responseDone();
      if (retryOnce(conn)) return;
      answer('upstream_unreachable', 'upstream_closed');
    },
  };
  /**
   * A reused connection the origin closed before answering (its idle close crossed our request): send the
   * request once more on another connection, as browsers and Node's agent do. Only a whole request without
   * a body, with an idempotent method (RFC 9110 §9.2.2), and only when no response byte came.
   */
  const retryOnce = (conn: UpstreamConn): boolean => {
    const head = sentHead;
    sentHead = null;
    if (!head || !ex || ex.responseStarted || resHead !== null || reqState !== 'wait' || conn.exchanges < 2) return false;
    const current = ex;
    (curOpen ?? acquire)().then(
      (c) => {
        if (ex !== current || reqState === 'closed') return release(c);
        attach(c);
        c.exchanges++;
        c.socket.write(head);
      },
      (err: unknown) => {
        if (ex === current) answer(reasonOfError(err), errorCode(err));
      },
    );
    return true;
  };
  const attach = (conn: UpstreamConn) => {
    up = conn;
    upReusable = true;
    conn.user = user;
  };
  const holdIdle = (conn: UpstreamConn) => {
    // reading may have paused for a slow client: an idle connection must notice a close or stray bytes
    conn.socket.resume();
    hold(conn, () => {
      if (up === conn) up = null;
    });
  };

  first?.then(
    (c) => {
      if (firstDone) return;
      firstDone = true;
      first = null;
      if (reqState === 'closed') return void c.socket.destroy();
      // ready before the first request: held like any idle connection
      attach(c);
      holdIdle(c);
    },
    (err: unknown) => {
      if (!firstDone) firstError = err;
      first = null;
    },
  );
  const getUpstream = (): Promise<UpstreamConn> => {
    if (up && up.usable && (curOpen === null || up.key === curKey)) {
      unhold(up);
      return Promise.resolve(up);
    }
    if (up && curOpen) {
      // forward mode, another destination (or a connection that died idle): the old one goes to the pool
      const old = up;
      up = null;
      unhold(old);
      if (pinned) old.socket.destroy();
      else release(old);
    }
    if (firstError) {
      const err = firstError;
      firstError = null;
      firstDone = true;
      first = null;
      return Promise.reject(err);
    }
    if (!firstDone && first) {
      firstDone = true;
      const f = first;
      first = null;
      // the first connection may have been closed by the origin while the client was still handshaking
      return f.then((c) => (c.usable ? c : acquire()));
    }
    return curOpen ? curOpen() : acquire();
  };

  // ---- client → upstream ----
  const writeUp = (data: Buffer) => {
    if (ex) ex.bytesIn += data.length;
    const s = up?.socket;
    if (!s || s.destroyed) return;
    s.write(data);
    if (s.writableLength > H1_HIGH_WATER) {
      client.pause();
      s.once('drain', () => client.resume());
    }
  };

  const requestComplete = (rest: Buffer | null) => {
    reqState = 'wait';
    if (rest && rest.length > 0) {
      // pipelined: the next request waits, unread, until this response ends
      pending = rest;
      client.pause();
    }
  };

  /** Request body bytes buf[at..): forwards what belongs to the request, keeps the rest. */
  const onRequestBody = (buf: Buffer, at: number) => {
    if (reqFraming.kind === 'length') {
      const k = Math.min(reqLeft, buf.length - at);
      if (k > 0) writeUp(at === 0 && k === buf.length ? buf : buf.subarray(at, at + k));
      reqLeft -= k;
      if (reqLeft === 0) requestComplete(buf.subarray(at + k));
      return;
    }
    if (reqFraming.kind === 'chunked') {
      const r = reqScanner!.push(buf, at, buf.length);
      if ('error' in r) {
        // part of the request went upstream already: nothing sensible can follow
        return answer('bad_request', `bad_chunked_request: ${r.error}`);
      }
      if (r.consumed > 0) writeUp(buf.subarray(at, at + r.consumed));
      if (r.done) requestComplete(buf.subarray(at + r.consumed));
      return;
    }
    requestComplete(buf.subarray(at));
  };

  // the parser's detail quotes what it refused (a request line with a token, a header value): the record
  // keeps only what kind of error it was
  const refuse = (reason: Reason, detail: string, method = '', target = '') => {
    const code = unquoted(detail);
    ex = { method, target, range: null, status: 0, bytesIn: pending?.length ?? 0, bytesOut: 0, startNs: process.hrtime.bigint(), minor: 1, upgrade: false, closeAfter: true, responseStarted: false };
    pending = null;
    answer(reason, code);
  };

  // ---- forward mode: head timeout, the proxy's own keep-alive answers, CONNECT handoff ----
  const clearHeadTimer = () => {
    if (!headTimer) return;
    clearTimeout(headTimer);
    headTimer = null;
  };
  const armHeadTimer = () => {
    if (headTimer || !headTimeoutMs) return;
    headTimer = setTimeout(() => {
      headTimer = null;
      if (reqState !== 'head' || ex) return;
      onHeadTimeout?.();
      endClient(HEADER_TIMEOUT_RESPONSE);
    }, headTimeoutMs);
  };
  /** The proxy answers a request without a body and keeps the connection for the next one. */
  const answerKeep = (reason: Reason, code: string, headers: Record<string, string> | undefined) => {
    const e = ex!;
    const raw = forMethod(rawErrorResponse(reason, undefined, headers, false), e.method);
    e.status = Number(raw.slice(9, 12));
    e.failure = { reason, code };
    e.responseStarted = true;
    writeClient(Buffer.from(raw, 'latin1'), null);
    reqState = 'wait';
    if (pending) client.pause();
    responseDone();
  };
  const handoff = (head: H1Head, rest: Buffer) => {
    reqState = 'closed';
    clearHeadTimer();
    client.pause();
    client.removeListener('data', onClientData);
    client.removeListener('end', onClientEnd);
    client.removeListener('close', onClientClose);
    if (up) {
      const c = up;
      up = null;
      unhold(c);
      if (upReusable && !pinned && resState === 'idle') release(c);
      else c.socket.destroy();
    }
    pending = null;
    // as Node's http server hands over a CONNECT socket: paused until its new owner reads
    (client as { readableFlowing: boolean | null }).readableFlowing = null;
    onHandoff!(head, rest);
  };

  const onClientHead = () => {
    const buf = pending!;
    const r = parseRequestHead(buf, maxHeaderBytes);
    if (r.kind === 'incomplete') return armHeadTimer();
    clearHeadTimer();
    if (r.kind === 'error') return refuse(r.reason, r.detail);
    const head = r.head;
    if (onHandoff && head.method === 'CONNECT') return handoff(head, buf.subarray(r.length));
    // forward mode: the route checks Host itself, after the target (its answer carries a request record)
    if (!route && !hostFieldOk(head)) return refuse('bad_request', 'host_header', head.method, head.target);
    const f = requestFraming(head);
    if (f.kind === 'error') return refuse('bad_request', f.detail, head.method, head.target);
    const conn = fieldTokens(head, 'connection').map((t) => t.toLowerCase());
    const upgrade = conn.includes('upgrade') && fieldTokens(head, 'upgrade').length > 0;
    const rangeField = head.headers.find(([k]) => k.toLowerCase() === 'range');
    if (!pinned && fieldTokens(head, 'authorization').some(isConnectionAuth)) pinned = true;
    ex = {
      method: head.method,
      target: head.target,
      range: rangeField ? rangeField[1] : null,
      status: 0,
      bytesIn: 0,
      bytesOut: 0,
      startNs: process.hrtime.bigint(),
      minor: head.minor,
      upgrade,
      closeAfter: draining || conn.includes('close') || (head.minor === 0 && !conn.includes('keep-alive')),
      responseStarted: false,
    };
    reqFraming = f;
    reqLeft = f.kind === 'length' ? f.length : 0;
    reqScanner = f.kind === 'chunked' ? new ChunkedScanner() : null;
    const rest = buf.subarray(r.length);
    pending = rest.length > 0 ? rest : null;
    // resState stays 'idle' until the head is written: until then whatever a held connection sends, or its
    // close, is an idle connection's and never this request's answer
    reqState = 'connecting';
    client.pause();
    const current = ex;
    if (!route) {
      const headBytes = Buffer.from(rewriteHead(`${head.method} ${head.target} HTTP/1.${head.minor}`, head, upgrade, upgrade ? 'Connection: Upgrade\r\n' : ''), 'latin1');
      return send(current, head, r.length, headBytes);
    }
    const apply = (rt: Route) => {
      if (ex !== current || reqState === 'closed') return;
      if (rt.kind === 'answer') {
        if (rt.keepAlive && reqFraming.kind === 'none' && !current.closeAfter) return answerKeep(rt.reason, rt.code, rt.headers);
        return answer(rt.reason, rt.code, rt.headers);
      }
      curKey = rt.key;
      curOpen = rt.open;
      send(current, head, r.length, Buffer.from(rewriteHead(rt.startLine, head, false, '', rt.drop), 'latin1'));
    };
    const rt = route(head, upgrade);
    if (rt instanceof Promise)
      rt.then(apply, (err: unknown) => {
        if (ex === current) answer(reasonOfError(err), errorCode(err));
      });
    else apply(rt);
  };

  /** The request head is decided: get a connection and send it, with the body bytes already here. */
  const send = (current: Exchange, head: H1Head, headLength: number, headBytes: Buffer) => {
    getUpstream().then(
      (conn) => {
        if (ex !== current || reqState === 'closed') {
          // the client left (or the exchange ended) while this connection was coming: nothing went on it
          if (conn !== up) release(conn);
          return;
        }
        if (up !== conn) attach(conn);
        current.bytesIn += headLength - headBytes.length; // count what the client sent, not what we forward
        conn.exchanges++;
        const body = pending ?? Buffer.alloc(0);
        pending = null;
        sentHead = retryable(head.method, reqFraming) ? headBytes : null;
        reqState = 'body';
        resState = 'head';
        // head and the body bytes already here: one write upstream
        conn.socket.cork();
        writeUp(headBytes);
        onRequestBody(body, 0);
        conn.socket.uncork();
        client.resume();
      },
      (err: unknown) => {
        if (ex !== current) return;
        answer(reasonOfError(err), errorCode(err));
      },
    );
  };

  function onClientData(chunk: Buffer): void {
    switch (reqState) {
      case 'tunnel':
        return writeUp(chunk);
      case 'body':
        return onRequestBody(chunk, 0);
      case 'head':
        pending = pending ? Buffer.concat([pending, chunk]) : chunk;
        return onClientHead();
      case 'wait':
      case 'connecting':
        pending = pending ? Buffer.concat([pending, chunk]) : chunk;
        client.pause();
        return;
      case 'closed':
        return;
    }
  }

  function onClientEnd(): void {
    if (reqState === 'tunnel') return void up?.socket.end();
    if (ex) ex.closeAfter = true; // answer what was asked, then close
    else endClient();
  }
  function onClientClose(): void {
    clearHeadTimer();
    const busy = ex !== null;
    if (ex) finish({ incomplete: 'client_closed' });
    if (up) {
      unhold(up);
      // an idle, reusable connection outlives its tunnel in the pool
      if (!busy && resState === 'idle' && upReusable && !pinned) release(up);
      else up.socket.destroy();
      up = null;
    }
    reqState = 'closed';
    if (!firstDone && first) {
      firstDone = true;
      first.then((c) => c.socket.destroy(), () => {});
      first = null;
    }
  }
  client.on('data', onClientData);
  client.on('end', onClientEnd);
  client.on('close', onClientClose);
  // forward mode: a new connection's first head is due within the head timeout too
  if (route) armHeadTimer();

  return {
    idle() {
      // closed by the proxy, but the client never finished reading or closing: let it go now
      if (reqState === 'closed') return void client.destroy();
      if (ex && !ex.responseStarted && reqState !== 'head') return answer('upstream_timeout', 'upstream silent');
      if (ex) {
        ex.failure ??= { reason: 'upstream_timeout', code: 'idle_timeout' };
        finish({ incomplete: 'idle_timeout' });
      }
      closeAll();
    },
    drain() {
      draining = true;
      if (ex) ex.closeAfter = true;
      else if (reqState === 'head' && !pending && client.readableLength === 0) {
        clearHeadTimer();
        endClient();
      }
    },
  };
}
