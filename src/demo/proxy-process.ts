// The proxy under measurement, run as its own process (`node dist/cli.js start …`) so that its CPU time
// is its alone: read from its admin /metrics (process_cpu_seconds_total = process.cpuUsage(), µs precision).
// Stops only the PID it started (SIGTERM, then SIGKILL); must not print.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/cli.js of this package; the same path from src/demo (tests) and dist/demo (the CLI). */
export const CLI_PATH = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const SCRAPE_TIMEOUT_MS = 5_000;

export interface ProxyProcessOptions {
  rulesDir: string;
  certsDir: string;
  logFile: string;
  upstreamCa: string;
  connectTo: readonly string[];
  mode: 'log' | 'inspect';
}

/** What the proxy's /metrics says at one moment (counters since its start). */
export interface ProxySample {
  cpuSeconds: number;
  connections: Record<string, number>; // CONNECT tunnels by decision
  requests: Record<string, number>; // HTTP requests by decision
  activeTunnels: number;
  certMints: number;
  certMintSeconds: number;
  bytes: number; // both directions, all decisions
}

export interface ProxyProcess {
  pid: number;
  port: number;
  adminPort: number;
  /** The inspection CA the process uses (created by its first start in inspect mode). */
  caPem: string | null;
  sample(): Promise<ProxySample>;
  /** Samples until no tunnel is open any more (bounded), so the counters include every finished tunnel. */
  settle(maxMs?: number): Promise<ProxySample>;
  stop(): Promise<void>;
}

// Children still running when this process exits are killed by PID (also after an uncaught error).
const live = new Set<ChildProcess>();
let exitHook = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of live) if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
  }
}

/** Parses the Prometheus text format into the few figures the demo needs. */
export function parseMetrics(text: string): ProxySample {
  const s: ProxySample = { cpuSeconds: 0, connections: {}, requests: {}, activeTunnels: 0, certMints: 0, certMintSeconds: 0, bytes: 0 };
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const [, name, labels = '', raw] = m;
    const v = Number(raw);
    if (!Number.isFinite(v)) continue;
    const decision = /decision="([^"]*)"/.exec(labels)?.[1] ?? '';
    switch (name) {
      case 'process_cpu_seconds_total': s.cpuSeconds = v; break;
      case 'autopatch_proxy_connections_total': s.connections[decision] = (s.connections[decision] ?? 0) + v; break;
      case 'autopatch_proxy_requests_total': s.requests[decision] = (s.requests[decision] ?? 0) + v; break;
      case 'autopatch_proxy_active_tunnels': s.activeTunnels += v; break;
      case 'autopatch_proxy_cert_mint_seconds_count': s.certMints = v; break;
      case 'autopatch_proxy_cert_mint_seconds_sum': s.certMintSeconds = v; break;
      case 'autopatch_proxy_bytes_total': s.bytes += v; break;
      default: break;
    }
  }
  return s;
}

/** b − a, field by field (counters only grow). */
export function sampleDelta(a: ProxySample, b: ProxySample): ProxySample {
  const keys = (x: Record<string, number>, y: Record<string, number>) => [...new Set([...Object.keys(x), ...Object.keys(y)])];
  const sub = (x: Record<string, number>, y: Record<string, number>) => Object.fromEntries(keys(x, y).map((k) => [k, (y[k] ?? 0) - (x[k] ?? 0)]));
  return {
    cpuSeconds: b.cpuSeconds - a.cpuSeconds,
    connections: sub(a.connections, b.connections),
    requests: sub(a.requests, b.requests),
    activeTunnels: b.activeTunnels,
    certMints: b.certMints - a.certMints,
    certMintSeconds: b.certMintSeconds - a.certMintSeconds,
    bytes: b.bytes - a.bytes,
  };
}

function scrape(port: number): Promise<ProxySample> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: SCRAPE_TIMEOUT_MS }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(parseMetrics(text)) : reject(new Error(`/metrics answered ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('/metrics timed out')));
    req.on('error', reject);
  });
}

/** The child's environment without AUTOPATCH_PROXY_* settings: the demo's proxy must not pick up an operator's. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AUTOPATCH_PROXY_')));
}

export async function startProxyProcess(opts: ProxyProcessOptions): Promise<ProxyProcess> {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing; build first (npm run build)`);
  const args = [
    CLI_PATH, 'start', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--mode', opts.mode,
    '--rules', opts.rulesDir, '--certs', opts.certsDir, '--log-file', opts.logFile, '--log-level', 'info',
    '--upstream-ca', opts.upstreamCa, '--grace-period', '1000',
    ...opts.connectTo.flatMap((c) => ['--connect-to', c]),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: cleanEnv() });
  track(child);
  let stderr = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };
  let ports: { port: number; adminPort: number };
  try {
    ports = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the proxy did not start within ${START_TIMEOUT_MS} ms: ${stderr.trim()}`)), START_TIMEOUT_MS);
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (d: string) => {
        if (stderr.length < 65536) stderr += d;
        const m = /proxy on [^ ]+:(\d+), admin on http:\/\/[^ ]+:(\d+)\//.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve({ port: Number(m[1]), adminPort: Number(m[2]) });
        }
      });
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`the proxy exited at start: ${stderr.trim()}`));
      });
    });
  } catch (e) {
    await stop();
    throw e;
  }
  const caPem = opts.mode === 'inspect' ? await readFile(join(opts.certsDir, 'ca.pem'), 'utf8') : null;
  return {
    pid: child.pid!,
    port: ports.port,
    adminPort: ports.adminPort,
    caPem,
    sample: () => scrape(ports.adminPort),
    async settle(maxMs = 2000) {
      const deadline = Date.now() + maxMs;
      let s = await scrape(ports.adminPort);
      while (s.activeTunnels > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        s = await scrape(ports.adminPort);
      }
      return s;
    },
    stop,
  };
}
