// Helpers for the hostile-input tests: a small seeded PRNG (reproducible fuzzing), string/byte mutators,
// a raw HTTP exchange that stops at the first answer, and resource probes (open fds, heap) with settle loops.
// Loopback only; every loop here is bounded in count and in time.
import fs from 'node:fs';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';

/** Total fuzz budget (FUZZ_CASES, default 4000); each target takes a share of it. */
export const FUZZ_TOTAL = (() => {
  const n = Number(process.env.FUZZ_CASES);
  return Number.isInteger(n) && n > 0 ? n : 4000;
})();

/** Cases for one fuzz target: `share` of the total budget, at least 10. */
export function fuzzCases(share: number): number {
  return Math.max(10, Math.round(FUZZ_TOTAL * share));
}

/** Seed of this run (FUZZ_SEED, default fixed so CI runs are reproducible); print it with every failure. */
export const FUZZ_SEED = (() => {
  const n = Number(process.env.FUZZ_SEED);
  return Number.isInteger(n) ? n >>> 0 : 0x5eed_a11c;
})();

/** mulberry32: tiny, fast, good enough to drive a fuzzer; the same seed gives the same cases. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  /** `n` characters drawn from `alphabet`. */
  str(n: number, alphabet: string): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
  /** A sub-generator with its own stream (for per-case reproducibility: `rng.fork(i)`). */
  fork(salt: number): Rng {
    return new Rng((this.s ^ Math.imul(salt + 1, 0x9e3779b1)) >>> 0);
  }
}

/** Characters that make host names, URLs and headers go wrong in interesting ways. */
export const NASTY = [
  '\0', '\r', '\n', '\t', ' ', '\x7f', '\x01', '%', '%00', '%2e', '%2F', '@', ':', '[', ']', '/', '\\', '#', '?', '.', '..', '-', '_',
  'ü', 'é', 'ı', 'ſ', 'K' /* Kelvin sign */, '．' /* fullwidth full stop */, '。', '４', '\u200b', '\u202e', '\ufeff', '\ud800', '😀',
  'xn--', 'xn--bcher-kva', '0x7f', '::', '%25eth0', '\u0130',
];

/** Applies 1–`max` random edits (delete, insert, duplicate, replace, truncate) to a string. */
export function mutateString(rng: Rng, s: string, insertions: readonly string[] = NASTY, max = 4): string {
  let out = s;
  const edits = rng.range(1, max);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(out.length + 1);
    switch (rng.int(6)) {
      case 0: // delete a slice
        out = out.slice(0, at) + out.slice(at + rng.range(1, 8));
        break;
      case 1: // insert something nasty
        out = out.slice(0, at) + rng.pick(insertions) + out.slice(at);
        break;
      case 2: {
        // duplicate a slice
        const len = rng.range(1, 16);
        out = out.slice(0, at + len) + out.slice(at, at + len) + out.slice(at + len);
        break;
      }
      case 3: // replace one character with a random printable or control one
        out = out.slice(0, at) + String.fromCharCode(rng.bool(0.8) ? rng.range(32, 126) : rng.int(32)) + out.slice(at + 1);
        break;
      case 4: // truncate
        out = out.slice(0, at);
        break;
      default: // swap two halves
        out = out.slice(at) + out.slice(0, at);
    }
  }
  return out;
}

/** Byte-level mutations: flips, truncation, insertion of random or boundary bytes, length-field abuse. */
export function mutateBytes(rng: Rng, b: Buffer, max = 4): Buffer {
  let out = Buffer.from(b);
  const edits = rng.range(1, max);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(out.length + 1);
    switch (rng.int(6)) {
      case 0:
        if (out.length > 0) out[Math.min(at, out.length - 1)] = rng.int(256);
        break;
      case 1:
        out = out.subarray(0, at);
        break;
      case 2:
        out = Buffer.concat([out.subarray(0, at), rng.bytes(rng.range(1, 16)), out.subarray(at)]);
        break;
      case 3: // a boundary value written over a (probable) length field
        if (out.length >= 2) out.writeUInt16BE(rng.pick([0, 1, 0xff, 0x100, 0x3fff, 0x4000, 0x4001, 0xffff]), Math.min(at, out.length - 2));
        break;
      case 4:
        if (out.length > 0) out[Math.min(at, out.length - 1)]! ^= 1 << rng.int(8);
        break;
      default: {
        const len = rng.range(1, 32);
        out = Buffer.concat([out.subarray(0, at + len), out.subarray(at, at + len), out.subarray(at + len)]);
      }
    }
  }
  return out;
}

// ---- resources ------------------------------------------------------------------------------------

/** Open file descriptors of this process (the proxy runs in-process, so its sockets are counted too). */
export function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** The soft limit on open files, from /proc/self/limits (Node has no getrlimit). */
export function fdLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? 1 << 20 : Number(m[1]);
}

/** Polls `check` every `intervalMs` until it holds or `timeoutMs` passes; returns whether it held. */
export async function settle(check: () => boolean, timeoutMs = 3000, intervalMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

/** Waits until the fd count is at most `baseline + slack` (or the timeout); returns the last count. */
export async function settleFds(baseline: number, slack = 0, timeoutMs = 3000): Promise<number> {
  let n = fdCount();
  await settle(() => (n = fdCount()) <= baseline + slack, timeoutMs);
  return n;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let gcFn: (() => void) | null | undefined;
/** A full GC when the runtime allows one: global.gc, else --expose-gc turned on at run time (V8 flag). */
export function forceGc(): boolean {
  if (gcFn === undefined) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (typeof g === 'function') gcFn = g;
    else {
      try {
        v8.setFlagsFromString('--expose-gc');
        gcFn = vm.runInNewContext('gc') as () => void;
      } catch {
        gcFn = null;
      }
    }
  }
  if (!gcFn) return false;
  gcFn();
  gcFn();
  return true;
}

/** heapUsed after a forced GC (null when no GC can be forced). */
export async function settledHeap(): Promise<number | null> {
  await sleep(20);
  if (!forceGc()) return null;
  await sleep(20);
  forceGc();
  return process.memoryUsage().heapUsed;
}

// ---- raw HTTP ---------------------------------------------------------------------------------------

export interface RawAnswer {
  /** Status of the first answer; 0 when none arrived. */
  status: number;
  /** Everything received (latin1). */
  text: string;
  /** The proxy closed the connection (rather than our timeout). */
  closed: boolean;
  timedOut: boolean;
  ms: number;
}

/**
 * Writes `data` (no half-close: a FIN would make Node abort the request) and waits for the first complete
 * answer (head + Content-Length body), for the proxy to close, or for `timeoutMs`; then destroys the socket.
 * `untilClose`: after the answer, keep waiting for the proxy to close (`closed` then says whether it did).
 */
export function rawHttp(port: number, data: string | Buffer | (string | Buffer)[], timeoutMs = 3000, opts: { untilClose?: boolean } = {}): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let done = false;
    let timedOut = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const text = buf.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, text, closed, timedOut, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      finish(false);
    }, timeoutMs);
    s.on('error', () => {});
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (opts.untilClose) return;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
      const chunked = /\r\ntransfer-encoding: *chunked/i.test(head);
      // a 200 to CONNECT has no body; other answers end with their Content-Length or the last chunk
      if (/^HTTP\/1\.[01] 200 Connection established/i.test(head)) finish(false);
      else if (cl && buf.length >= end + 4 + Number(cl[1])) finish(false);
      else if (chunked && buf.subarray(end + 4).includes('0\r\n\r\n')) finish(false);
    });
    s.on('close', () => finish(true));
    for (const part of Array.isArray(data) ? data : [data]) s.write(part);
  });
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Median of a list of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/**
 * Options for a test that pins a known bug: `{ todo: 'bug: …' }` so the suite stays green. Run with
 * HOSTILE_BUGS=fail to turn them into ordinary tests and see which bugs are still there.
 */
export function bug(description: string): { todo?: string } {
  return process.env.HOSTILE_BUGS === 'fail' ? {} : { todo: `bug: ${description}` };
}
