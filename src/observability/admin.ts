// The admin listener (loopback by default): /healthz, /readyz, /metrics, /proxy.pac, /ca.pem, / dashboard.
// Routes are plain functions handed in by app.ts; this file only serves them. Never serves the CA key.
import http from 'node:http';
import net from 'node:net';

export interface AdminRoute {
  contentType: string;
  body(): Promise<string | Buffer> | string | Buffer;
}

/** IP literals and localhost only: probes and Prometheus address the admin listener by IP. */
export function hostAllowed(host: string | undefined): boolean {
  if (!host) return true;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return net.isIP(name) !== 0 || name.toLowerCase() === 'localhost';
}

export function createAdminServer(routes: Record<string, AdminRoute>, ready: () => boolean): http.Server {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const send = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    // DNS rebinding: a page on another origin must not read /api/live through a name that resolves here
    if (!hostAllowed(req.headers.host)) return send(421, 'text/plain', 'misdirected request\n');
    if (path === '/healthz') return send(200, 'text/plain', 'ok\n');
    if (path === '/readyz') return ready() ? send(200, 'text/plain', 'ready\n') : send(503, 'text/plain', 'not ready\n');
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (!route) return send(404, 'text/plain', 'not found\n');
    Promise.resolve()
      .then(() => route.body())
      .then(
        (body) => send(200, route.contentType, body),
        () => send(500, 'text/plain', 'error\n'),
      );
  });
  // a failed accept() once listening (EMFILE: the proxy is out of descriptors, which its own listener
  // logs) drops that one admin request; unhandled it would end the process. Listen errors are the caller's.
  server.on('error', () => {});
  server.on('clientError', (_e, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return server;
}
