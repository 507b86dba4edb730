// Bounded LRU of per-host SecureContexts for the inspection server (SNICallback), with coalesced
// first requests and a mint queue that yields to the event loop between mints.
// It mints and caches; it never listens, logs or decides whether a host is inspected.
import tls from 'node:tls';
import { LRUCache } from 'lru-cache';
import { CertError, normalizeCertHost } from './cert-host.js';
import type { Minter } from './mint.js';
import { serverContextOptions } from './options.js';

export const DEFAULT_CONTEXT_CACHE_MAX = 1000;
/** Minting costs ~1 ms, so contexts are renewed daily rather than kept for the leaf's full life. */
export const DEFAULT_CONTEXT_TTL_MS = 24 * 60 * 60 * 1000;
/** A cached context is dropped at least this long before its leaf expires. */
export const EXPIRY_MARGIN_MS = 60 * 60 * 1000;
/** Mints in progress at once; each holds one libuv threadpool thread while signing (DNS uses the pool too). */
export const DEFAULT_MINT_CONCURRENCY = 2;

export type SniCallback = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => void;

export interface ContextCacheOptions {
  minter: Minter;
  max?: number;
  ttlMs?: number;
  /** Defaults to serverContextOptions(); cert and key are added per host. */
  serverOptions?: tls.SecureContextOptions;
  mintConcurrency?: number;
  /** Host used by `sniCallback` when the ClientHello carries no SNI. */
  defaultHost?: string;
  /** Metrics hooks: autopatch_proxy_cert_cache_total{result} and autopatch_proxy_cert_mint_seconds. */
  onLookup?: (result: 'hit' | 'miss') => void;
  onMint?: (ms: number) => void;
  /** Clock (ms) for TTL tests. */
  now?: () => number;
}

export interface ContextCacheStats {
  hits: number;
  /** Lookups not served from the cache, including those that joined a mint already under way. */
  misses: number;
  /** Misses that joined a mint already under way instead of starting one. */
  coalesced: number;
  mints: number;
  mintErrors: number;
  size: number;
  /** Mints queued or running. */
  pending: number;
}

export interface ContextCache {
  /** The context for `host` (name or IP literal); rejects with CertError `invalid_host` for bad names. */
  get(host: string): Promise<tls.SecureContext>;
  /** SNICallback using `defaultHost` when servername is empty. */
  readonly sniCallback: SniCallback;
  /** SNICallback for one connection, falling back to its CONNECT host. */
  sniCallbackFor(defaultHost: string | undefined): SniCallback;
  stats(): ContextCacheStats;
  clear(): void;
}

export function createContextCache(opts: ContextCacheOptions): ContextCache {
  const { minter } = opts;
  const max = opts.max ?? DEFAULT_CONTEXT_CACHE_MAX;
  const ttlMs = opts.ttlMs ?? DEFAULT_CONTEXT_TTL_MS;
  const concurrency = Math.max(1, opts.mintConcurrency ?? DEFAULT_MINT_CONCURRENCY);
  const base = opts.serverOptions ?? serverContextOptions();
  const now = opts.now ?? Date.now;
  const lru = new LRUCache<string, tls.SecureContext>({
    max,
    ttl: ttlMs,
    ttlResolution: 0,
    updateAgeOnGet: false,
    perf: { now },
  });
  const inflight = new Map<string, Promise<tls.SecureContext>>();
  const queue: Array<() => void> = [];
  let running = 0;
  const counts = { hits: 0, misses: 0, coalesced: 0, mints: 0, mintErrors: 0 };

  // Each job starts from setImmediate, so I/O callbacks run between mints even when hundreds are queued.
  function pump(): void {
    while (running < concurrency && queue.length > 0) {
      running++;
      setImmediate(queue.shift()!);
    }
  }

  function enqueue<T>(job: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      queue.push(() => {
        job().then(resolve, reject).finally(() => {
          running--;
          pump();
        });
      });
      pump();
    });
  }

  async function mintContext(host: string): Promise<tls.SecureContext> {
    const started = performance.now();
    const leaf = await minter.mint(host);
    const ctx = tls.createSecureContext({ ...base, key: leaf.keyPem, cert: leaf.certPem });
    const ms = performance.now() - started;
    counts.mints++;
    opts.onMint?.(ms);
    const ttl = Math.min(ttlMs, leaf.notAfter.getTime() - now() - EXPIRY_MARGIN_MS);
    if (ttl > 0) lru.set(host, ctx, { ttl });
    return ctx;
  }

  function get(rawHost: string): Promise<tls.SecureContext> {
    let host: string;
    try {
      host = normalizeCertHost(rawHost).name;
    } catch (e) {
      return Promise.reject(e);
    }
    const cached = lru.get(host);
    if (cached) {
      counts.hits++;
      opts.onLookup?.('hit');
      return Promise.resolve(cached);
    }
    counts.misses++;
    opts.onLookup?.('miss');
    const pending = inflight.get(host);
    if (pending) {
      counts.coalesced++;
      return pending;
    }
    const p = enqueue(() => mintContext(host)).finally(() => inflight.delete(host));
    p.catch(() => {
      counts.mintErrors++;
    });
    inflight.set(host, p);
    return p;
  }

  function sniCallbackFor(defaultHost: string | undefined): SniCallback {
    return (servername, cb) => {
      const host = servername || defaultHost;
      if (!host) {
        cb(new CertError('invalid_host', 'no SNI in the ClientHello and no default host'));
        return;
      }
      get(host).then((ctx) => cb(null, ctx), (err: Error) => cb(err));
    };
  }

  return {
    get,
    sniCallback: sniCallbackFor(opts.defaultHost),
    sniCallbackFor,
    stats: () => ({ ...counts, size: lru.size, pending: running + queue.length }),
    clear: () => lru.clear(),
  };
}
