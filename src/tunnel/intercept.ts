// TLS inspection of one tunnel: terminate the client's TLS with a minted certificate, open a verified TLS
// connection upstream, relay HTTP/1.1 with one `request` record per request (inTunnel: true).
// Upstream failures are answered inside the tunnel as HTTP 502/504 with X-Proxy-Error (CONTRACT.md).
import http from 'node:http';
import tls from 'node:tls';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TunnelParts } from './execute.js';
import type { ContextCache } from '../tls/context-cache.js';
import { serverSocketOptions, upstreamTlsOptions, trackUpstreamSession, type SessionCache } from '../tls/options.js';
import { errorAnswer, reasonOfError } from '../proxy/errors.js';
import type { Reason } from '../policy/types.js';
import type { Telemetry } from '../observability/telemetry.js';
import { elapsedMs, type RequestRecord } from '../observability/records.js';
import { redactUrl } from '../proxy/target.js';
import { HOP_BY_HOP, connectionNamed } from '../proxy/hop-by-hop.js';
import { splice } from './splice.js';
import { DialError } from './dial.js';

export interface Interceptor {
  intercept(parts: TunnelParts, done: (err: Error | null) => void): void;
}

export interface InterceptorDeps {
  cache: ContextCache;
  telemetry: Telemetry;
  upstreamCa: readonly string[];
  sessions: SessionCache;
  /** A fresh raw upstream socket for the same target (keep-alive re-dial, WebSocket upgrades). */
  redial(target: TunnelParts['target']): Promise<Socket>;
  idleTimeoutMs: number;
}

// hop-by-hop fields, and the framing: Node's http re-frames each message it relays (Content-Length / chunked)
const NOT_RELAYED = new Set([...HOP_BY_HOP, 'transfer-encoding']);

// Alerts a client sends when it refuses our certificate (pinning, or the CA not enrolled): RFC 8446 §6.2
const CERT_REJECTED = /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|CERTIFICATE_REVOKED|ACCESS_DENIED)/;

export function createInterceptor(deps: InterceptorDeps): Interceptor {
  // One HTTP/1.1 parser server for every inspected tunnel (mockttp's pattern): each decrypted client socket
  // is emitted into it, and its requests are routed back to their tunnel. A server per tunnel would cost
  // memory per tunnel and keep a connections-checking interval alive after the tunnel ends.
  const tunnels = new WeakMap<object, { relay(req: http.IncomingMessage, res: http.ServerResponse): void; upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void }>();
  const server = http.createServer({ keepAliveTimeout: deps.idleTimeoutMs, requestTimeout: 0 });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const t = tunnels.get(req.socket);
    if (t) t.relay(req, res);
    else req.socket.destroy();
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const t = tunnels.get(socket);
    if (t) t.upgrade(req, socket, head);
    else socket.destroy();
  });
  server.on('clientError', (_e, s) => s.destroy());
  return {
    intercept(parts, done) {
      const { client, upstream: rawUpstream, initial, target, connRec } = parts;
      const name = parts.sni ?? target.host;
      const tlsParams = { host: target.host, port: target.port, servername: name, ca: deps.upstreamCa, sessions: deps.sessions };
      const connectTls = (raw: Socket): tls.TLSSocket => {
        const s = tls.connect({ ...upstreamTlsOptions(tlsParams), socket: raw });
        trackUpstreamSession(s, tlsParams);
        return s;
      };
      // a failure before the upstream handshake completes is a TLS failure unless the socket itself failed
      const asTlsFailure = (err: NodeJS.ErrnoException): Error => {
        // the TCP connection existed before the handshake: a reset or truncated record here is a TLS failure too
        connRec.error = err.code ?? 'upstream_tls';
        return new DialError('upstream_tls_failed', `${err.code ?? ''} ${err.message}`.trim());
      };
      let upstreamError: Error | null = null;
      const firstSocket = connectTls(rawUpstream);
      // handed to the keep-alive agent on the first request; null afterwards
      let first: tls.TLSSocket | null = firstSocket;
      firstSocket.on('error', (err) => {
        upstreamError = err;
        if (!connRec.error) connRec.error = (err as NodeJS.ErrnoException).code ?? 'upstream_tls';
      });
      const firstReady = new Promise<tls.TLSSocket>((resolve, reject) => {
        firstSocket.once('secureConnect', () => resolve(firstSocket));
        firstSocket.once('error', (e: NodeJS.ErrnoException) => reject(asTlsFailure(e)));
      });
      firstReady.catch(() => {});

      if (initial.length > 0) client.unshift(initial);
      deps.cache.get(name).then(
        (secureContext) => {
          if (client.destroyed) return;
          const clientTls = new tls.TLSSocket(client, { isServer: true, ...serverSocketOptions(), secureContext, SNICallback: deps.cache.sniCallbackFor(name) });
          clientTls.on('error', (err: NodeJS.ErrnoException) => {
            if (CERT_REJECTED.test(err.code ?? '')) connRec.reason = 'client_rejected_certificate';
            client.destroy();
          });
          clientTls.once('close', () => {
            firstSocket.destroy();
            client.destroy();
          });
          serveHttp(clientTls);
        },
        (err: Error) => {
          connRec.error = (err as NodeJS.ErrnoException).code ?? 'mint_failed';
          client.destroy();
          rawUpstream.destroy();
        },
      );
      client.once('close', () => {
        firstSocket.destroy();
        done(upstreamError);
      });

      // keep-alive to the upstream: the first request reuses the connection opened before the 200
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      (agent as unknown as { createConnection: unknown }).createConnection = (_o: unknown, cb: (err: Error | null, s?: Duplex) => void) => {
        if (first) {
          first = null;
          firstReady.then((x) => cb(null, x), (e: Error) => cb(e));
          return undefined;
        }
        deps.redial(target).then(
          (raw) => {
            const s = connectTls(raw);
            s.once('secureConnect', () => cb(null, s));
            s.once('error', (e: NodeJS.ErrnoException) => cb(asTlsFailure(e)));
          },
          (e: Error) => cb(e),
        );
        return undefined;
      };

      function serveHttp(clientTls: tls.TLSSocket): void {
        tunnels.set(clientTls, { relay: (req, res) => relay(req, res, clientTls), upgrade });
        clientTls.once('close', () => agent.destroy());
        server.emit('connection', clientTls);
      }

      function relay(req: http.IncomingMessage, res: http.ServerResponse, clientTls: tls.TLSSocket): void {
        const start = process.hrtime.bigint();
        const readStart = clientTls.bytesRead;
        const writeStart = clientTls.bytesWritten;
        const path = req.url ?? '/';
        const rec: RequestRecord = {
          event: 'request', connId: connRec.connId, decision: 'inspect', reason: connRec.reason, client: connRec.client,
          host: target.host, port: target.port, rule: connRec.rule, bytesIn: 0, bytesOut: 0, durationMs: 0,
          method: req.method ?? '', url: redactUrl(`https://${name}${target.port === 443 ? '' : ':' + target.port}${path.startsWith('/') ? path : '/' + path}`),
          status: 0, range: typeof req.headers.range === 'string' ? req.headers.range : null, inTunnel: true,
        };
        if (connRec.user) rec.user = connRec.user;
        res.once('close', () => {
          rec.bytesIn = clientTls.bytesRead - readStart;
          rec.bytesOut = clientTls.bytesWritten - writeStart;
          rec.status = res.statusCode;
          rec.durationMs = elapsedMs(start);
          deps.telemetry.request(rec);
        });
        const headers: http.OutgoingHttpHeaders = {};
        const named = connectionNamed(req.headers.connection);
        for (const [k, v] of Object.entries(req.headers)) if (!NOT_RELAYED.has(k) && !named.has(k) && v !== undefined) headers[k] = v;
        const upReq = http.request({ agent, method: req.method, path, headers, setHost: false });
        upReq.on('response', (upRes) => {
          const out: http.OutgoingHttpHeaders = {};
          for (const [k, v] of Object.entries(upRes.headers)) if (!NOT_RELAYED.has(k) && v !== undefined) out[k] = v;
          res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, out);
          upRes.pipe(res);
          upRes.on('error', () => res.destroy());
        });
        upReq.on('error', (err) => {
          const reason: Reason = reasonOfError(err);
          rec.reason = reason;
          rec.error = (err as NodeJS.ErrnoException).code === 'upstream_tls_failed' && connRec.error ? connRec.error : (err as NodeJS.ErrnoException).code ?? 'error';
          if (reason === 'upstream_tls_failed') connRec.reason = reason;
          if (res.headersSent) return res.destroy();
          const a = errorAnswer(reason, name);
          res.writeHead(a.status, { ...a.headers, 'Content-Length': Buffer.byteLength(a.body) });
          res.end(a.body);
        });
        req.on('error', () => upReq.destroy());
        req.pipe(upReq);
      }

      function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
        socket.on('error', () => socket.destroy());
        deps.redial(target).then(
          (raw) => {
            const up = connectTls(raw);
            up.once('secureConnect', () => {
              let h = `${req.method} ${req.url} HTTP/1.1\r\n`;
              for (let i = 0; i < req.rawHeaders.length; i += 2) {
                if (/^proxy-/i.test(req.rawHeaders[i]!)) continue;
                h += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
              }
              up.write(h + '\r\n');
              splice(socket, up, head.length ? head : null, () => {});
            });
            up.once('error', () => socket.destroy());
          },
          () => socket.destroy(),
        );
      }
    },
  };
}
