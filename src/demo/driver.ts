// The demo's traffic driver: a planned device-like mix (mix.ts) sent with bounded concurrency, bounded in
// count and in time, through the proxy or directly; per-path latency percentiles, throughput and counts.
// Must not print (progress goes to a callback) and must not start or stop servers.
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fetchOnce, type Via } from './client.js';
import type { PlannedRequest } from './mix.js';

export interface DriveOptions {
  via: Via;
  /** PEMs trusted by the clients: the demo origin CA and, through an inspecting proxy, its CA. */
  ca: readonly string[];
  plan: readonly PlannedRequest[];
  concurrency: number;
  /** No new request starts after this many ms; in-flight ones end by their own timeout. */
  maxMs: number;
  requestTimeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface Percentiles {
  p50: number;
  p95: number;
}

export interface PathStats {
  path: string;
  requests: number;
  errors: number;
  bytes: number;
  ttfbMs: Percentiles; // time to the response head: connect + CONNECT + TLS + request
  totalMs: Percentiles;
  /** Body MiB per second of the requests' own time (sum of bytes / sum of durations): per-download speed. */
  mibPerSecond: number;
}

export interface DriveResult {
  requests: number; // completed without error
  errors: number;
  bytes: number;
  elapsedMs: number;
  requestsPerSecond: number;
  mibPerSecond: number; // aggregate body bytes over the wall-clock time
  paths: PathStats[];
  /** The plan was not finished within maxMs (or was aborted). */
  cut: boolean;
  firstError: string | null;
}

const MiB = 1024 * 1024;

/** Nearest-rank percentile of unsorted values; 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const pct = (v: readonly number[]): Percentiles => ({ p50: percentile(v, 50), p95: percentile(v, 95) });

interface Acc {
  ttfb: number[];
  total: number[];
  bytes: number;
  errors: number;
}

export async function drive(opts: DriveOptions): Promise<DriveResult> {
  const timeoutMs = opts.requestTimeoutMs ?? 10_000;
  // one abort listener per request in flight, on a signal of our own (the caller's gets one)
  const local = new AbortController();
  setMaxListeners(opts.concurrency + 10, local.signal);
  const relay = (): void => local.abort();
  if (opts.signal?.aborted) local.abort();
  else opts.signal?.addEventListener('abort', relay, { once: true });
  const signal = local.signal;
  const start = performance.now();
  const deadline = start + opts.maxMs;
  const acc = new Map<string, Acc>();
  for (const p of opts.plan) if (!acc.has(p.item.path)) acc.set(p.item.path, { ttfb: [], total: [], bytes: 0, errors: 0 });
  let next = 0;
  let done = 0;
  let firstError: string | null = null;
  const worker = async (): Promise<void> => {
    while (next < opts.plan.length && performance.now() < deadline && !signal.aborted) {
      const planned = opts.plan[next++]!;
      const a = acc.get(planned.item.path)!;
      const { scheme, host, urlPath } = planned.item;
      try {
        const o = await fetchOnce({ scheme, host, path: urlPath, range: planned.range }, opts.via, opts.ca, timeoutMs, signal);
        const expected = planned.range ? 206 : 200;
        if (o.status !== expected) throw new Error(`${scheme}://${host}${urlPath}: status ${o.status}, expected ${expected}`);
        a.ttfb.push(o.ttfbMs);
        a.total.push(o.totalMs);
        a.bytes += o.bytes;
      } catch (e) {
        a.errors++;
        firstError ??= `${planned.item.path} (${host}): ${(e as Error).message}`;
      }
      done++;
      opts.onProgress?.(done, opts.plan.length);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency, opts.plan.length)) }, worker));
  } finally {
    opts.signal?.removeEventListener('abort', relay);
  }
  const elapsedMs = performance.now() - start;
  const paths: PathStats[] = [...acc].map(([path, a]) => {
    const seconds = a.total.reduce((s, x) => s + x, 0) / 1000;
    return {
      path,
      requests: a.total.length,
      errors: a.errors,
      bytes: a.bytes,
      ttfbMs: pct(a.ttfb),
      totalMs: pct(a.total),
      mibPerSecond: seconds > 0 ? a.bytes / MiB / seconds : 0,
    };
  });
  const requests = paths.reduce((s, p) => s + p.requests, 0);
  const bytes = paths.reduce((s, p) => s + p.bytes, 0);
  return {
    requests,
    errors: paths.reduce((s, p) => s + p.errors, 0),
    bytes,
    elapsedMs,
    requestsPerSecond: elapsedMs > 0 ? requests / (elapsedMs / 1000) : 0,
    mibPerSecond: elapsedMs > 0 ? bytes / MiB / (elapsedMs / 1000) : 0,
    paths,
    cut: done < opts.plan.length,
    firstError,
  };
}
