// The proxy listener: a net.Server whose connections the forward relay serves (plain absolute-form HTTP,
// h1-relay.ts in forward mode); a CONNECT head hands its connection to the CONNECT handler. Accept-time
// checks (client ACL, connection caps) live here; no policy.
import net from 'node:net';
import type { Socket } from 'node:net';
import type { ProxyContext } from './context.js';
import { handleConnect } from './connect-handler.js';
import { createForwardRelay } from './forward-relay.js';
import { destroySelf } from '../tunnel/splice.js';
import { rawErrorResponse } from './errors.js';
import { createAddressSet } from '../policy/address-set.js';
import { newConnectRecord } from '../observability/records.js';
import type { Reason } from '../policy/types.js';

export interface ProxyServer {
  server: net.Server;
  /** Stops accepting; resolves when in-flight work is done or the grace period ends (then forces). */
  drain(graceMs: number): Promise<void>;
}

/** At most one `accept_error` warning per this long (a process out of file descriptors fails every accept). */
export const ACCEPT_ERROR_LOG_MS = 10_000;

const TOO_MANY = 'HTTP/1.1 503 Service Unavailable\r\nX-Proxy-Error: too_many_connections\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
const SHUTTING_DOWN = 'HTTP/1.1 503 Service Unavailable\r\nX-Proxy-Error: shutting_down\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';

/** The client address an accepted socket was counted under (remoteAddress may be gone once it closes). */
const CLIENT_IP = Symbol('client ip');
type Accepted = Socket & { [CLIENT_IP]: string };

export function createProxyServer(ctx: ProxyContext): ProxyServer {
  const { limits } = ctx.config;
  const allow = createAddressSet(ctx.config.allowClients);
  const forward = createForwardRelay(ctx, (socket, head, rest) => {
    if (ctx.draining) return void socket.end(SHUTTING_DOWN);
    handleConnect(ctx, head, socket, rest);
  });
  const perClient = new Map<string, number>();
  // every accepted socket, for the forced close when the grace period of a stop ends
  const open = new Set<Socket>();
  const server = net.createServer({ noDelay: true });
  server.maxConnections = limits.maxConnections;
  // A failed accept() (EMFILE/ENFILE: out of file descriptors) is emitted on the listening server, where an
  // unhandled 'error' would end the process and every tunnel with it. The listener stays open and takes the
  // next connection once descriptors are free; the log says why clients are refused meanwhile. (Errors
  // before listening, EADDRINUSE, are app.ts's to report.)
  let lastAcceptWarning = -Infinity;
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (!server.listening || performance.now() - lastAcceptWarning < ACCEPT_ERROR_LOG_MS) return;
    lastAcceptWarning = performance.now();
    ctx.telemetry.logger.warn({ event: 'accept_error', error: err.code ?? 'error' }, `cannot accept connections: ${err.message}`);
  });

  const denyRecord = (socket: Socket, reason: Reason) => ctx.telemetry.connect(newConnectRecord(socket.remoteAddress ?? null, reason));
  // a refused socket is answered and closed; what it sends is read and dropped, never parsed
  const refuse = (socket: Socket, raw: string) => {
    socket.end(raw);
    socket.resume();
    socket.setTimeout(1000, () => socket.destroy());
  };

  // one listener for every connection (an emitter calls it with `this` = the socket): no closure per
  // connection, which an idle tunnel would hold for its whole life
  function onClose(this: Accepted): void {
    open.delete(this);
    const ip = this[CLIENT_IP];
    const left = (perClient.get(ip) ?? 1) - 1;
    if (left <= 0) perClient.delete(ip);
    else perClient.set(ip, left);
  }

  server.on('connection', (socket: Socket) => {
    socket.on('error', destroySelf);
    const ip = socket.remoteAddress ?? '';
    if (!allow.has(ip)) {
      denyRecord(socket, 'client_not_allowed');
      return refuse(socket, rawErrorResponse('client_not_allowed'));
    }
    const n = (perClient.get(ip) ?? 0) + 1;
    perClient.set(ip, n);
    open.add(socket);
    (socket as Accepted)[CLIENT_IP] = ip;
    socket.on('close', onClose);
    if (n > limits.maxClientConnections) return refuse(socket, TOO_MANY);
    forward.serve(socket);
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
          for (const s of open) s.destroy();
          forward.close();
          resolve();
        };
        const timer = setTimeout(finish, graceMs);
        // once every connection has closed (idle ones now, busy ones after their exchange) and every tunnel
        // has written its record (a tunnel writes it a turn after its close)
        const settled = () => (ctx.tunnels.size === 0 ? finish() : void setTimeout(settled, 20));
        server.close(settled);
        forward.drain();
      });
    },
  };
}
