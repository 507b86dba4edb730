// Local HTTP and HTTPS origins on 127.0.0.1:0 for integration tests: /tiny, /bytes/N (deterministic
// content), /echo (streams the request body back), /headers (JSON of what arrived), Range on /bytes/N.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';

export interface Origin {
  port: number;
  close(): Promise<void>;
  seen: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
}

/** Byte i of /bytes/N is (i * 31 + 7) & 0xff, so any range can be checked without storing it. */
export function patternBytes(start: number, end: number): Buffer {
  const b = Buffer.allocUnsafe(end - start);
  for (let i = start; i < end; i++) b[i - start] = (i * 31 + 7) & 0xff;
  return b;
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function handler(seen: Origin['seen']) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const url = (req.url ?? '/').split('?')[0]!;
    if (url === '/tiny') {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 5 });
      return res.end('tiny\n');
    }
    if (url === '/headers') {
      const body = JSON.stringify(req.headers);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      return res.end(body);
    }
    if (url === '/echo') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      req.pipe(res);
      return;
    }
    if (url === '/slow') {
      setTimeout(() => {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 5 });
        res.end('slow\n');
      }, 600);
      return;
    }
    if (url === '/chunked') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('part-1;');
      setTimeout(() => res.end('part-2'), 10);
      return;
    }
    const m = /^\/bytes\/(\d+)$/.exec(url);
    if (m) {
      const size = Number(m[1]);
      const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
      if (range) {
        const start = Number(range[1]);
        const end = range[2] ? Math.min(Number(range[2]) + 1, size) : size;
        res.writeHead(206, { 'Content-Range': `bytes ${start}-${end - 1}/${size}`, 'Content-Length': end - start, 'Accept-Ranges': 'bytes' });
        return res.end(patternBytes(start, end));
      }
      res.writeHead(200, { 'Content-Length': size, 'Accept-Ranges': 'bytes' });
      // stream in 64 KiB pieces with backpressure
      let pos = 0;
      const pump = () => {
        while (pos < size) {
          const next = Math.min(pos + 65536, size);
          const ok = res.write(patternBytes(pos, next));
          pos = next;
          if (!ok) return res.once('drain', pump);
        }
        res.end();
      };
      return pump();
    }
    res.writeHead(404, { 'Content-Length': 0 });
    res.end();
  };
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function wrap(server: http.Server, port: number, seen: Origin['seen']): Origin {
  return {
    port,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function startHttpOrigin(): Promise<Origin> {
  const seen: Origin['seen'] = [];
  const server = http.createServer(handler(seen));
  return wrap(server, await listen(server), seen);
}

export async function startHttpsOrigin(cert: { cert: string; key: string }, opts: { minVersion?: 'TLSv1' | 'TLSv1.2' } = {}): Promise<Origin> {
  const seen: Origin['seen'] = [];
  const server = https.createServer({ ...cert, minVersion: opts.minVersion ?? 'TLSv1.2' }, handler(seen));
  return wrap(server, await listen(server), seen);
}
