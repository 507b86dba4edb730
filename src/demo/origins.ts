// Local origins that impersonate Microsoft and ordinary web hosts for the demo: one HTTPS and one HTTP
// server on 127.0.0.1:0, certificates from a demo CA made in-process (tls/ca.ts + tls/mint.ts, no openssl),
// run in their own process (spawnDemoOrigins). Loopback only; must not print; stops only what it started.
import { fork } from 'node:child_process';
import crypto from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initCa } from '../tls/ca.js';
import { createMinter } from '../tls/mint.js';

export interface DemoOrigins {
  /** PEM of the demo CA that issued the origins' certificates (clients and the proxy's --upstream-ca trust it). */
  caPem: string;
  caFile: string;
  httpsPort: number;
  httpPort: number;
  hosts: readonly string[];
  /** --connect-to values: every demo name, port 443 → the HTTPS origin, port 80 → the HTTP origin. */
  connectTo: string[];
  close(): Promise<void>;
}

/** Served bodies cycle through this block: random (incompressible), made once. */
const BLOCK = crypto.randomBytes(1024 * 1024);
const PAGE = Buffer.from(
  '<!doctype html><title>demo page</title>' + '<p>An ordinary web page, served by the autopatch-proxy demo origin.</p>\n'.repeat(640),
);
const MAX_BODY = 1024 * 1024 * 1024;

/** Bytes start..end (exclusive) of the endless BLOCK cycle, written with backpressure. */
function streamBytes(res: http.ServerResponse, start: number, end: number): void {
  let pos = start;
  const pump = (): void => {
    while (pos < end) {
      const off = pos % BLOCK.length;
      const n = Math.min(BLOCK.length - off, end - pos, 256 * 1024);
      pos += n;
      if (!res.write(BLOCK.subarray(off, off + n))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

function checkin(host: string): Buffer {
  // The shape of a small device check-in answer (policy version, next poll): a few hundred bytes.
  return Buffer.from(
    JSON.stringify({
      service: host,
      deviceState: 'compliant',
      policies: Array.from({ length: 6 }, (_, i) => ({ id: `policy-${i}`, version: 17 + i, hash: BLOCK.subarray(i * 16, i * 16 + 16).toString('hex') })),
      nextCheckInSeconds: 28800,
    }),
  );
}

function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  const host = String(req.headers.host ?? '').replace(/:\d+$/, '');
  const url = (req.url ?? '/').split('?')[0]!;
  req.resume();
  if (url === '/checkin') {
    const body = checkin(host);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length, 'Cache-Control': 'no-store' });
    res.end(body);
    return;
  }
  if (url === '/page') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': PAGE.length });
    res.end(PAGE);
    return;
  }
  const m = /^\/bytes\/(\d{1,10})$/.exec(url);
  const size = m ? Number(m[1]) : NaN;
  if (!m || size > MAX_BODY) {
    res.writeHead(404, { 'Content-Length': 0 });
    res.end();
    return;
  }
  // Windows Update and Delivery Optimization fetch ranges of one file (RFC 9110 §14: 206 + Content-Range).
  const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
  if (range) {
    const start = Number(range[1]);
    const end = range[2] ? Math.min(Number(range[2]) + 1, size) : size;
    if (start >= end) {
      res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
      res.end();
      return;
    }
    res.writeHead(206, { 'Content-Type': 'application/octet-stream', 'Content-Range': `bytes ${start}-${end - 1}/${size}`, 'Content-Length': end - start, 'Accept-Ranges': 'bytes' });
    streamBytes(res, start, end);
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size, 'Accept-Ranges': 'bytes' });
  streamBytes(res, 0, size);
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/**
 * Starts both origins. The demo CA lives in `dir`/origin-ca (the caller removes `dir`); one leaf per
 * name, minted with the project's own minter and chosen by SNI.
 */
export async function startDemoOrigins(dir: string, hosts: readonly string[]): Promise<DemoOrigins> {
  const ca = await initCa(join(dir, 'origin-ca'), { subject: { commonName: 'autopatch-proxy demo origin CA', organization: 'autopatch-proxy demo' } });
  const minter = await createMinter(ca);
  const contexts = new Map<string, tls.SecureContext>();
  let first: { cert: string; key: string } | null = null;
  for (const host of hosts) {
    const leaf = await minter.mint(host);
    const pair = { cert: leaf.certPem + ca.certPem, key: leaf.keyPem };
    first ??= pair;
    contexts.set(host, tls.createSecureContext({ ...pair, minVersion: 'TLSv1.2' }));
  }
  if (!first) throw new Error('startDemoOrigins: no host names');
  const httpsServer = https.createServer(
    {
      ...first,
      minVersion: 'TLSv1.2',
      SNICallback: (name, cb) => {
        const ctx = contexts.get(name.toLowerCase());
        if (ctx) cb(null, ctx);
        else cb(new Error(`demo origin has no certificate for ${name}`));
      },
    },
    handle,
  );
  const httpServer = http.createServer(handle);
  for (const s of [httpsServer, httpServer]) {
    // Longer than a demo run, like CDN front ends (60–120 s): the figures never depend on how the proxy's
    // forward agent (idle sockets kept 300 s) copes with an origin closing an idle keep-alive socket.
    s.keepAliveTimeout = 65_000;
    s.on('clientError', (_e, socket) => socket.destroy());
  }
  let httpsPort: number;
  let httpPort: number;
  try {
    httpsPort = await listen(httpsServer);
    httpPort = await listen(httpServer);
  } catch (e) {
    await Promise.all([closeServer(httpsServer), closeServer(httpServer)]);
    throw e;
  }
  const connectTo = hosts.flatMap((h) => [`${h}:443:127.0.0.1:${httpsPort}`, `${h}:80:127.0.0.1:${httpPort}`]);
  let closed: Promise<void> | null = null;
  return {
    caPem: ca.certPem,
    caFile: ca.certPath,
    httpsPort,
    httpPort,
    hosts: [...hosts],
    connectTo,
    close: () => (closed ??= Promise.all([closeServer(httpsServer), closeServer(httpServer)]).then(() => undefined)),
  };
}

/** The forked entry; from dist/ in both the CLI and the tests (the proxy under test runs from dist/ too). */
export const ORIGIN_CHILD_PATH = fileURLToPath(new URL('../../dist/demo/origin-child.js', import.meta.url));
const ORIGIN_START_TIMEOUT_MS = 15_000;

/**
 * Starts the origins in a child process, so that their TLS work neither shares an event loop with the
 * demo's clients nor differs between runs in the clients' latency; `close()` stops that PID only.
 */
export async function spawnDemoOrigins(dir: string, hosts: readonly string[]): Promise<DemoOrigins & { pid: number }> {
  if (!existsSync(ORIGIN_CHILD_PATH)) throw new Error(`${ORIGIN_CHILD_PATH} is missing; build first (npm run build)`);
  const child = fork(ORIGIN_CHILD_PATH, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (child.connected) child.send({ type: 'close' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  const onExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', onExit);
  try {
    const ready = await new Promise<Omit<DemoOrigins, 'close'>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the demo origins did not start in time')), ORIGIN_START_TIMEOUT_MS);
      child.on('message', (m: { type: string; origins?: Omit<DemoOrigins, 'close'>; message?: string }) => {
        clearTimeout(timer);
        if (m.type === 'ready' && m.origins) resolve(m.origins);
        else reject(new Error(`demo origins: ${m.message ?? 'failed'}`));
      });
      child.once('error', reject);
      void exited.then(() => reject(new Error('the demo origin process exited at start')));
      child.send({ type: 'start', dir, hosts: [...hosts] });
    });
    return {
      ...ready,
      pid: child.pid!,
      close: async () => {
        await stop();
        process.off('exit', onExit);
      },
    };
  } catch (e) {
    await stop();
    process.off('exit', onExit);
    throw e;
  }
}
