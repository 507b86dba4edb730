// The proxy listener: one http.Server whose parser hands CONNECT and absolute-form requests to the handlers.
// Accept-time checks (client ACL, connection caps) and malformed-request answers live here; no policy.
import http from 'node:http';
import type { Socket } from 'node:net';
import type { ProxyContext } from './context.js';
import { handleConnect } from './connect-handler.js';
import { createForwardHandler } from './forward-handler.js';
import { rawErrorResponse } from './errors.js';
import { createAddressSet } from '../policy/address-set.js';
import { newConnectRecord } from '../observability/records.js';
import type { Reason } from '../policy/types.js';

export interface ProxyServer {
  server: http.Server;
  /** Stops accepting; resolves when in-flight work is done or the grace period ends (then forces). */
  drain(graceMs: number): Promise<void>;
}

export function createProxyServer(ctx: ProxyContext): ProxyServer {
  const { limits } = ctx.config;
  const allow = createAddressSet(ctx.config.allowClients);
  const forward = createForwardHandler(ctx);
  const perClient = new Map<string, number>();
  // sockets answered 403/503 at accept: the HTTP parser is already attached, so whatever they send next
  // must never reach the CONNECT or forward handlers (no blind relay for refused clients)
  const refused = new WeakSet<Socket>();
  const server = http.createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headerTimeoutMs,
    requestTimeout: 0, // bodies may be multi-GB uploads; idle timeout covers stalls
    keepAliveTimeout: 5000,
    noDelay: true,
    // the forward handler answers a missing Host itself (400 with X-Proxy-Error and a record)
    requireHostHeader: false,
    connectionsCheckingInterval: Math.min(1000, limits.headerTimeoutMs),
  });
  server.maxConnections = limits.maxConnections;
  // Idle timeout of plain-HTTP client connections: a little later than the upstream timeout of forwarded
  // requests, so a silent origin gets its 504 first. Armed by the request handler rather than
  // through server.timeout: CONNECT sockets have the idle sweeper instead, and a socket timer they never
  // use would stay on each idle tunnel (a Timeout and a bound function, ~0.2 KB).
  // Node's server sets every keep-alive connection's timer to server.timeout (0) when a request arrives,
  // so the timer is re-armed per request; the close listener goes on once per connection (a listener per
  // request piled up on a busy keep-alive connection until it next sat idle: MaxListenersExceededWarning).
  const plainIdleMs = limits.idleTimeoutMs + 1000;
  const idleArmed = new WeakSet<Socket>();
  const idleClose = function (this: Socket) {
    this.destroy();
  };

  const denyRecord = (socket: Socket, reason: Reason) => ctx.telemetry.connect(newConnectRecord(socket.remoteAddress ?? null, reason));

  server.on('connection', (socket: Socket) => {
    socket.on('error', () => socket.destroy());
    const ip = socket.remoteAddress ?? '';
    if (!allow.has(ip)) {
      refused.add(socket);
      denyRecord(socket, 'client_not_allowed');
      socket.end(rawErrorResponse('client_not_allowed'));
      socket.setTimeout(1000, () => socket.destroy());
      return;
    }
    const n = (perClient.get(ip) ?? 0) + 1;
    perClient.set(ip, n);
    socket.on('close', () => {
      const left = (perClient.get(ip) ?? 1) - 1;
      if (left <= 0) perClient.delete(ip);
      else perClient.set(ip, left);
    });
    if (n > limits.maxClientConnections) {
      refused.add(socket);
      socket.end('HTTP/1.1 503 Service Unavailable\r\nX-Proxy-Error: too_many_connections\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      socket.setTimeout(1000, () => socket.destroy());
    }
  });

  server.on('connect', (req, socket: Socket, head: Buffer) => {
    if (refused.has(socket)) return socket.destroy();
    if (ctx.draining) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nX-Proxy-Error: shutting_down\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    handleConnect(ctx, req, socket, head);
  });
  server.on('request', (req, res) => {
    if (refused.has(req.socket)) return req.socket.destroy();
    const socket = req.socket;
    if (!idleArmed.has(socket)) {
      idleArmed.add(socket);
      socket.on('timeout', idleClose);
    }
    socket.setTimeout(plainIdleMs);
    forward.handle(req, res);
  });
  // WebSocket or other upgrades on plain HTTP are not forwarded (the catalog's endpoints do not need them)
  server.on('upgrade', (_req, socket: Socket) => {
    socket.end(rawErrorResponse('bad_request'));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // a response already under way on this keep-alive connection cannot be followed by an error answer
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
    if (!socket.writable || inFlight?.headersSent) return socket.destroy();
    let reason: Reason = 'bad_request';
    let raw: string;
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      reason = 'headers_too_large';
      raw = rawErrorResponse(reason);
    } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      raw = 'HTTP/1.1 408 Request Timeout\r\nX-Proxy-Error: header_timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
    } else raw = rawErrorResponse(reason);
    denyRecord(socket, reason);
    socket.end(raw);
    socket.setTimeout(1000, () => socket.destroy());
  });

  return {
    server,
    drain(graceMs: number): Promise<void> {
      ctx.draining = true;
      return new Promise((resolve) => {
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          clearInterval(poll);
          for (const s of ctx.tunnels) s.destroy();
          server.closeAllConnections();
          forward.close();
          resolve();
        };
        const timer = setTimeout(finish, graceMs);
        server.close(() => {
          if (ctx.tunnels.size === 0) finish();
        });
        server.closeIdleConnections();
        const poll = setInterval(() => {
          server.closeIdleConnections();
          if (ctx.tunnels.size === 0 && server.listening === false) {
            // http connections still busy keep server.close() from calling back; check them too
            (server as unknown as { getConnections(cb: (e: Error | null, n: number) => void): void }).getConnections((_e, n) => {
              if (n === 0) finish();
            });
          }
        }, 50);
      });
    },
  };
}
