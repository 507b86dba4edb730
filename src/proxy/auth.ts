// Basic proxy authentication (RFC 7235 §4.3–4.4, RFC 7617) against htpasswd entries: parse the
// Proxy-Authorization value, verify asynchronously, cache verified credentials (never plaintext).
// No sockets, no logging, no HTTP answers: callers turn an AuthResult into a 407.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcrypt';
import { LRUCache } from 'lru-cache';
import type { HtpasswdEntry } from './htpasswd.js';
import type { AuthOutcome } from '../observability/telemetry.js';

/** The challenge sent with every 407 (CONTRACT.md "HTTP answers"). */
export const PROXY_AUTHENTICATE = 'Basic realm="autopatch-proxy"';

export const AUTH_CACHE_SIZE_DEFAULT = 1000;
export const AUTH_CACHE_TTL_MS_DEFAULT = 5 * 60_000;
/**
 * bcrypt comparisons running at once. They run on libuv's thread pool (4 threads by default), which also
 * resolves host names (dns.lookup) and writes the log: a flood of wrong passwords must leave it threads
 * for those, so further comparisons wait their turn (in arrival order).
 */
export const BCRYPT_MAX_PARALLEL = 2;
/** The window of --auth-max-failures (the limit itself and its default are in config/schema.ts). */
export const AUTH_FAILURE_WINDOW_MS = 60_000;
/** Client addresses whose failures are counted at once (LRU): bounded memory whatever the spread of addresses. */
export const AUTH_FAILURE_CLIENTS_MAX = 10_000;

export type AuthResult =
  | { ok: true; user: string }
  | { ok: false; reason: 'auth_required' | 'auth_failed'; user?: string }
  /** Too many failed checks from this client address in the window: refused without a check until `retryAfterMs` passes. */
  | { ok: false; reason: 'auth_throttled'; user?: string; retryAfterMs: number };

/** Headers of the refusal for a failed check: the Basic challenge, or when throttled when to come back. */
export function refusalHeaders(result: Exclude<AuthResult, { ok: true }>): Record<string, string> {
  return result.reason === 'auth_throttled'
    ? { 'Retry-After': String(Math.max(1, Math.ceil(result.retryAfterMs / 1000))) }
    : { 'Proxy-Authenticate': PROXY_AUTHENTICATE };
}

export type BcryptCompare = (password: string, hash: string) => Promise<boolean>;

export interface AuthenticatorOptions {
  users: ReadonlyMap<string, HtpasswdEntry>;
  /** Max verified credentials kept (LRU). 0 disables the cache. */
  cacheSize?: number;
  /** How long a verified credential is trusted without re-verifying. */
  cacheTtlMs?: number;
  /**
   * Injection point for tests; defaults to the native bcrypt's async `compare`, which hashes on libuv's
   * thread pool (never the sync variant, never a JavaScript bcrypt on the event loop).
   */
  compare?: BcryptCompare;
  /** Clock for the cache TTL (tests); defaults to `performance`. */
  now?: () => number;
  /** bcrypt comparisons at once (tests); defaults to BCRYPT_MAX_PARALLEL. */
  maxParallel?: number;
  /**
   * Failed checks per client address per `failureWindowMs` (--auth-max-failures); once reached, credentials
   * from that address that are not already cached are refused (`auth_throttled`) without hashing until the
   * window ends. Checks still running count, so a burst cannot queue more. 0 or absent = no limit.
   */
  maxFailures?: number;
  failureWindowMs?: number;
  /** Told how every check ended (the `auth_checks_total` metric); a check that joins one in flight counts too. */
  onResult?: (outcome: AuthOutcome) => void;
}

export interface Authenticator {
  /** `client`: the client's address, for the failure limit (no limit without it). */
  check(proxyAuthorizationHeader: string | undefined, client?: string | null): Promise<AuthResult>;
  /** Swaps the user table (SIGHUP) and forgets every cached and in-flight verification. */
  replaceUsers(users: ReadonlyMap<string, HtpasswdEntry>): void;
  /** Diagnostics/tests: current cache keys (HMAC-SHA-256 hex of the header value). */
  cacheKeys(): string[];
}

type ParsedCredentials = { kind: 'none' } | { kind: 'malformed' } | { kind: 'basic'; user: string; password: string };

// token68 (RFC 7235 §2.1) carrying base64 (RFC 4648 §4) with its padding.
const STRICT_BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses a Proxy-Authorization value. The scheme is case-insensitive (RFC 7235 §2.1); blanks around
 * and between scheme and token are tolerated. Credentials must be valid UTF-8 (RFC 7617 §2.1: the
 * only charset it defines) so that different byte strings never collapse into one password.
 */
export function parseBasicCredentials(header: string | undefined): ParsedCredentials {
  if (header === undefined) return { kind: 'none' };
  const value = header.trim();
  if (value === '') return { kind: 'none' };
  const match = /^([^\s]+)[ \t]+([^\s]+)$/.exec(value);
  if (!match || match[1]!.toLowerCase() !== 'basic' || !STRICT_BASE64_RE.test(match[2]!)) {
    return { kind: 'malformed' };
  }
  let decoded: string;
  try {
    decoded = utf8.decode(Buffer.from(match[2]!, 'base64'));
  } catch {
    return { kind: 'malformed' };
  }
  // The user-id ends at the first colon; the password may contain colons (RFC 7617 §2).
  const colon = decoded.indexOf(':');
  if (colon < 0) return { kind: 'malformed' };
  return { kind: 'basic', user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** bcrypt cost used by most entries (ties: the higher), so unknown users cost what real ones do. */
function dominantBcryptCost(users: ReadonlyMap<string, HtpasswdEntry>): number | undefined {
  const counts = new Map<number, number>();
  for (const entry of users.values()) {
    if (entry.scheme === 'bcrypt') counts.set(entry.cost, (counts.get(entry.cost) ?? 0) + 1);
  }
  let best: number | undefined;
  for (const [cost, n] of counts) {
    const bestN = best === undefined ? 0 : counts.get(best)!;
    if (n > bestN || (n === bestN && best !== undefined && cost > best)) best = cost;
  }
  return best;
}

const BCRYPT_ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `n` random characters of bcrypt's base64 alphabet (64 symbols: a byte's low 6 bits pick one evenly). */
function randomBcryptChars(n: number): string {
  let out = '';
  for (const byte of randomBytes(n)) out += BCRYPT_ALPHABET[byte & 63];
  return out;
}

/**
 * The entry an unknown user is checked against: a well-formed bcrypt hash with a random salt and
 * checksum at the dominant cost (compare() hashes the password fully before comparing, so the work is
 * the same and no real hash needs computing), or a random SHA-1 digest when the file has no bcrypt entries.
 */
function makeDummyEntry(users: ReadonlyMap<string, HtpasswdEntry>): HtpasswdEntry {
  const cost = dominantBcryptCost(users);
  if (cost === undefined) return { scheme: 'sha1', digest: randomBytes(20) };
  return { scheme: 'bcrypt', hash: `$2b$${String(cost).padStart(2, '0')}$${randomBcryptChars(53)}`, cost };
}

/**
 * The native bcrypt knows the OpenBSD labels $2a$ and $2b$ only; Apache's and PHP's $2y$ is the same
 * algorithm as $2b$ (https://en.wikipedia.org/wiki/Bcrypt#Versioning_history), so it is relabelled.
 */
export function nativeBcryptHash(hash: string): string {
  return hash.startsWith('$2y$') ? `$2b$${hash.slice(4)}` : hash;
}

const nativeCompare: BcryptCompare = (password, hash) => bcrypt.compare(password, nativeBcryptHash(hash));

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const compare: BcryptCompare = options.compare ?? nativeCompare;
  const cacheSize = options.cacheSize ?? AUTH_CACHE_SIZE_DEFAULT;
  const cacheTtlMs = options.cacheTtlMs ?? AUTH_CACHE_TTL_MS_DEFAULT;
  const now = options.now;
  // Keyed HMAC rather than bare SHA-256: a leaked key list cannot be brute-forced offline without
  // this process's random secret, yet equal headers still map to equal keys.
  const keySecret = randomBytes(32);
  const cache =
    cacheSize > 0 && cacheTtlMs > 0
      ? new LRUCache<string, string>({ max: cacheSize, ttl: cacheTtlMs, ...(now ? { perf: { now }, ttlResolution: 0 } : {}) })
      : undefined;
  const inFlight = new Map<string, Promise<AuthResult>>();
  let users = options.users;
  let dummy = makeDummyEntry(users);
  let generation = 0;

  const keyOf = (header: string): string => createHmac('sha256', keySecret).update(header, 'utf8').digest('hex');

  const maxParallel = Math.max(1, options.maxParallel ?? BCRYPT_MAX_PARALLEL);
  let running = 0;
  const waiting: Array<() => void> = [];
  /** compare() within the parallelism bound: a slot is held from the start of a comparison to its end. */
  async function boundedCompare(password: string, hash: string): Promise<boolean> {
    if (running >= maxParallel) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await compare(password, hash);
    } finally {
      // the slot passes straight to the next waiter (running stays the same) or is given back
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  }

  // per client address: failed checks in the current window (which starts at the first failure) and checks running
  const maxFailures = options.maxFailures ?? 0;
  const windowMs = options.failureWindowMs ?? AUTH_FAILURE_WINDOW_MS;
  const clock = now ?? (() => performance.now());
  type Failures = { failed: number; since: number; running: number };
  const failures = maxFailures > 0 ? new LRUCache<string, Failures>({ max: AUTH_FAILURE_CLIENTS_MAX }) : undefined;
  /** The client's entry with an ended window reset (kept while checks run, so their count is not lost). */
  const failuresOf = (client: string): Failures => {
    let f = failures!.get(client);
    if (!f) failures!.set(client, (f = { failed: 0, since: clock(), running: 0 }));
    else if (f.failed > 0 && clock() - f.since >= windowMs) {
      f.failed = 0;
      f.since = clock();
    }
    return f;
  };

  async function verifyEntry(entry: HtpasswdEntry, password: string): Promise<boolean> {
    if (entry.scheme === 'sha1') {
      const digest = createHash('sha1').update(password, 'utf8').digest();
      // Both are 20-byte SHA-1 digests (the parser guarantees the stored one), as timingSafeEqual requires.
      return digest.length === entry.digest.length && timingSafeEqual(digest, entry.digest);
    }
    try {
      return await boundedCompare(password, entry.hash);
    } catch {
      return false;
    }
  }

  async function verify(user: string, password: string): Promise<AuthResult> {
    const entry = users.get(user);
    const ok = await verifyEntry(entry ?? dummy, password);
    return entry !== undefined && ok ? { ok: true, user } : { ok: false, reason: 'auth_failed', user };
  }

  const onResult = options.onResult;
  function check(header: string | undefined, client?: string | null): Promise<AuthResult> {
    const result = decide(header, client);
    return onResult ? result.then(observed) : result;
  }
  function observed(result: AuthResult): AuthResult {
    onResult!(result.ok ? 'ok' : result.reason);
    return result;
  }

  function decide(header: string | undefined, client?: string | null): Promise<AuthResult> {
    const parsed = parseBasicCredentials(header);
    if (parsed.kind === 'none') return Promise.resolve({ ok: false, reason: 'auth_required' });
    if (parsed.kind === 'malformed') return Promise.resolve({ ok: false, reason: 'auth_failed' });
    const key = keyOf(header!);
    const cachedUser = cache?.get(key);
    if (cachedUser !== undefined) return Promise.resolve({ ok: true, user: cachedUser });
    const pending = inFlight.get(key);
    if (pending) return pending;
    const f = failures && client ? failuresOf(client) : undefined;
    if (f && f.failed + f.running >= maxFailures) {
      // while checks are still running the window's end is not known yet: a full window, at most
      const retryAfterMs = f.failed > 0 ? Math.max(0, f.since + windowMs - clock()) : windowMs;
      return Promise.resolve({ ok: false, reason: 'auth_throttled', user: parsed.user, retryAfterMs });
    }
    if (f) f.running++;
    const started = generation;
    const promise = verify(parsed.user, parsed.password)
      .catch((): AuthResult => ({ ok: false, reason: 'auth_failed', user: parsed.user }))
      .then((result) => {
        if (f) {
          f.running--;
          if (!result.ok) {
            if (f.failed === 0) f.since = clock();
            f.failed++;
          }
        }
        // A reload during verification: the answer stands for this request, but is not remembered.
        if (started === generation) {
          inFlight.delete(key);
          if (result.ok) cache?.set(key, result.user);
        }
        return result;
      });
    inFlight.set(key, promise);
    return promise;
  }

  function replaceUsers(next: ReadonlyMap<string, HtpasswdEntry>): void {
    users = next;
    dummy = makeDummyEntry(next);
    generation++;
    cache?.clear();
    inFlight.clear();
  }

  return { check, replaceUsers, cacheKeys: () => (cache ? [...cache.keys()] : []) };
}
