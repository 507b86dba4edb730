// One device request, through the proxy (CONNECT + TLS, or absolute-form HTTP) or straight to an origin,
// timed: time to first response byte and to the last. Certificates are always verified against `ca`.
// Loopback only; one new connection per request (Connection: close); must not print or retry.
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';

export type Via = { kind: 'proxy'; port: number } | { kind: 'direct'; httpsPort: number; httpPort: number };

export interface RequestSpec {
  scheme: 'https' | 'http';
  host: string;
  path: string;
  /** Inclusive byte range. */
  range?: { start: number; end: number } | null;
}

export interface Outcome {
  status: number;
  bytes: number; // response body bytes
  ttfbMs: number; // start → response head
  totalMs: number; // start → end of body
}

const MAX_HEAD = 16 * 1024;

/** CONNECT host:443 through the proxy; resolves with the socket once the proxy answered 200. */
function connectTunnel(port: number, host: string, track: (s: net.Socket) => void): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
    track(s);
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > MAX_HEAD) s.destroy(new Error('CONNECT answer too large'));
        return;
      }
      s.off('data', onData);
      s.off('error', reject);
      const head = buf.subarray(0, end).toString('latin1');
      if (end + 4 < buf.length) s.unshift(buf.subarray(end + 4));
      if (/^HTTP\/1\.[01] 200/.test(head)) resolve(s);
      else {
        s.destroy();
        reject(new Error(`proxy answered CONNECT ${host}: ${head.split('\r\n')[0]}`));
      }
    };
    s.on('data', onData);
    s.on('error', reject);
    s.write(`CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\n\r\n`);
  });
}

function handshake(socket: net.Socket | null, via: Via, host: string, ca: readonly string[], track: (s: net.Socket) => void): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const common = { servername: host, ca: [...ca], minVersion: 'TLSv1.2' as const }; // verification stays on
    const t = socket
      ? tls.connect({ ...common, socket })
      : tls.connect({ ...common, host: '127.0.0.1', port: via.kind === 'direct' ? via.httpsPort : 0 });
    track(t);
    t.setNoDelay(true);
    t.once('secureConnect', () => {
      t.off('error', reject);
      resolve(t);
    });
    t.once('error', reject);
  });
}

/** Sends one GET and consumes the body without keeping it. */
function get(spec: RequestSpec, t0: number, opts: http.RequestOptions): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Host: spec.host, Connection: 'close', 'User-Agent': 'autopatch-proxy-demo' };
    if (spec.range) headers.Range = `bytes=${spec.range.start}-${spec.range.end}`;
    const req = http.request({ method: 'GET', ...opts, headers }, (res) => {
      const ttfbMs = performance.now() - t0;
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, ttfbMs, totalMs: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * One request with a fresh connection. Rejects on any failure (verification, status line, timeout);
 * `timeoutMs` and `signal` destroy every socket it opened.
 */
export async function fetchOnce(spec: RequestSpec, via: Via, ca: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<Outcome> {
  const sockets: net.Socket[] = [];
  const track = (s: net.Socket): void => {
    sockets.push(s);
    s.on('error', () => {}); // reported through the promise chain
  };
  let why: Error | null = null;
  const kill = (e: Error): void => {
    why ??= e;
    for (const s of sockets) s.destroy(e);
  };
  const timer = setTimeout(() => kill(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  const onAbort = (): void => kill(new Error('aborted'));
  signal?.addEventListener('abort', onAbort, { once: true });
  const t0 = performance.now();
  try {
    if (signal?.aborted) throw new Error('aborted');
    if (spec.scheme === 'https') {
      const tunnel = via.kind === 'proxy' ? await connectTunnel(via.port, spec.host, track) : null;
      const t = await handshake(tunnel, via, spec.host, ca, track);
      return await get(spec, t0, { createConnection: () => t, path: spec.path });
    }
    // plain HTTP: absolute-form through the proxy (RFC 9112 §3.2.2), origin-form directly
    const target = via.kind === 'proxy'
      ? { host: '127.0.0.1', port: via.port, path: `http://${spec.host}${spec.path}` }
      : { host: '127.0.0.1', port: via.httpPort, path: spec.path };
    return await get(spec, t0, {
      ...target,
      createConnection: () => {
        const s = net.connect({ host: target.host, port: target.port, noDelay: true });
        track(s);
        return s;
      },
    });
  } catch (e) {
    throw why ?? e;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    for (const s of sockets) s.destroy();
  }
}
