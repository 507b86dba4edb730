// Seeded fuzz of the ClientHello parser (src/tls/client-hello.ts) over the captured fixtures: truncations,
// re-framing into many records, oversized records and lengths, byte mutations and random garbage.
// Properties: never throws; results are well-formed; streaming is consistent (a prefix never decides
// differently from the whole), so a slowly arriving hello is never judged not_tls by the tunnel peek.
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { parseClientHello, MAX_CLIENT_HELLO_BYTES, type ParseResult } from '../../src/tls/client-hello.js';
import { Rng, FUZZ_SEED, fuzzCases, mutateBytes } from '../helpers/fuzz.js';
import { repoPath } from '../helpers/paths.js';

const CASES = fuzzCases(0.3); // 1,200 of the default 4,000
const dir = repoPath('test/fixtures/client-hello/');
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.bin'))
  .sort()
  .map((f) => ({ name: f, bytes: readFileSync(dir + f) }));
const HOST_RE = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

/** Splits the handshake message of a one-record hello into records of the given fragment sizes. */
function reframe(hello: Buffer, sizes: (i: number) => number): Buffer {
  const version = hello.subarray(1, 3);
  const body = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const out: Buffer[] = [];
  for (let p = 0, i = 0; p < body.length; i++) {
    const n = Math.max(1, Math.min(sizes(i), body.length - p));
    const h = Buffer.from([22, version[0]!, version[1]!, n >> 8, n & 0xff]);
    out.push(h, body.subarray(p, p + n));
    p += n;
  }
  return Buffer.concat(out);
}

function safeParse(buf: Buffer, max?: number): ParseResult | string {
  try {
    return parseClientHello(buf, max);
  } catch (e) {
    return `threw ${(e as Error).message}`;
  }
}

/** Shape of any result; returns a complaint or null. */
function shapeProblem(r: ParseResult | string, buf: Buffer): string | null {
  if (typeof r === 'string') return r;
  switch (r.kind) {
    case 'need-more':
      return Number.isInteger(r.atLeast) && r.atLeast > buf.length ? null : `need-more atLeast ${r.atLeast} ≤ ${buf.length}`;
    case 'not-tls':
      return typeof r.why === 'string' && r.why.length > 0 ? null : 'not-tls without a reason';
    case 'hello':
      if (r.bytesConsumed > buf.length || r.bytesConsumed < 1) return `bytesConsumed ${r.bytesConsumed} of ${buf.length}`;
      if (!Number.isInteger(r.highestVersion) || r.highestVersion < 0 || r.highestVersion > 0xffff) return 'bad highestVersion';
      if (r.sni !== null && r.sniValid && !HOST_RE.test(r.sni)) return `sniValid but ${JSON.stringify(r.sni)}`;
      if (r.sni !== null && r.sni !== r.sni.toLowerCase()) return 'sni not lower-cased';
      if (!Array.isArray(r.alpn) || r.alpn.some((p) => typeof p !== 'string' || p.length === 0)) return 'bad alpn';
      return null;
  }
}

const same = (a: ParseResult | string, b: ParseResult | string): boolean => JSON.stringify(a) === JSON.stringify(b);

t.test('every strict prefix of every fixture is need-more; the whole is a hello (no early not_tls)', async (t) => {
  let n = 0;
  for (const f of fixtures) {
    const whole = parseClientHello(f.bytes);
    t.equal(whole.kind, 'hello', f.name);
    let bad = 0;
    for (let i = 0; i < f.bytes.length; i++, n++) if (parseClientHello(f.bytes.subarray(0, i)).kind !== 'need-more') bad++;
    t.equal(bad, 0, `${f.name}: all ${f.bytes.length} prefixes ask for more`);
  }
  t.comment(`${n} prefixes`);
});

t.test('re-framed into many records (down to 1-byte fragments), every fixture parses to the same hello', async (t) => {
  const rng = new Rng(FUZZ_SEED ^ 0x51);
  for (const f of fixtures) {
    const ref = parseClientHello(f.bytes) as Extract<ParseResult, { kind: 'hello' }>;
    for (const [label, sizes] of [['1-byte', () => 1], ['3-byte', () => 3], ['random', () => rng.range(1, 64)]] as const) {
      const framed = reframe(f.bytes, sizes);
      const r = parseClientHello(framed);
      t.match(r, { kind: 'hello', sni: ref.sni, alpn: ref.alpn, highestVersion: ref.highestVersion, bytesConsumed: framed.length }, `${f.name} ${label}: ${framed.length} bytes`);
      // and the streaming view of the re-framed bytes: every prefix still asks for more
      let early = 0;
      for (let i = 0; i < framed.length; i += rng.range(1, 7)) if (parseClientHello(framed.subarray(0, i)).kind !== 'need-more') early++;
      t.equal(early, 0, `${f.name} ${label}: no prefix decides early`);
    }
  }
});

t.test('oversized inputs are refused within the bound, never buffered without limit', async (t) => {
  const big = fixtures.find((f) => f.name === 'openssl-tls1_3-sni-alpn.bin')!.bytes;
  // a record longer than 2^14
  t.equal(parseClientHello(Buffer.from([22, 3, 1, 0x40, 0x01, 1, 0, 0x40, 0])).kind, 'not-tls');
  // a handshake length far beyond the bound
  t.equal(parseClientHello(Buffer.from([22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff])).kind, 'not-tls');
  // 1-byte fragments of a hello whose framed size exceeds the bound (each adds 5 header bytes)
  const framed = reframe(big, () => 1);
  t.equal(parseClientHello(framed, 512).kind, 'not-tls', `${framed.length} bytes with a 512-byte bound`);
  // thousands of empty-looking records
  const many = Buffer.concat(Array.from({ length: 5000 }, () => Buffer.from([22, 3, 1, 0, 1, 1])));
  t.not(parseClientHello(many).kind, 'hello');
  // 1 MiB of garbage after a valid record header
  const huge = Buffer.concat([Buffer.from([22, 3, 1, 0x3f, 0xff]), Buffer.alloc(1 << 20, 0x41)]);
  const t0 = performance.now();
  t.not(parseClientHello(huge).kind, 'hello');
  t.ok(performance.now() - t0 < 50, 'bounded work on 1 MiB');
  t.equal(MAX_CLIENT_HELLO_BYTES, 16384);
});

t.test(`${CASES} seeded mutations (seed ${FUZZ_SEED}): never throws, well-formed, prefix-consistent`, async (t) => {
  const rng = new Rng(FUZZ_SEED);
  const failures: string[] = [];
  const kinds = { hello: 0, 'need-more': 0, 'not-tls': 0 };
  let slowest = 0;
  for (let i = 0; i < CASES; i++) {
    const r = rng.fork(i);
    let buf: Buffer;
    const base = r.pick(fixtures).bytes;
    switch (r.int(5)) {
      case 0:
        buf = r.bytes(r.range(0, 600)); // garbage
        break;
      case 1:
        buf = reframe(base, () => r.range(1, 40)); // valid but fragmented, then mutated
        buf = mutateBytes(r, buf, 2);
        break;
      case 2:
        buf = Buffer.concat([base, r.bytes(r.range(1, 200))]); // trailing bytes after the hello
        break;
      default:
        buf = mutateBytes(r, base, 5);
    }
    const max = r.bool(0.3) ? r.pick([1, 2, 5, 64, 512, 4096, 65536, 0, -1, NaN]) : undefined;
    const t0 = performance.now();
    const whole = safeParse(buf, max);
    slowest = Math.max(slowest, performance.now() - t0);
    const p1 = shapeProblem(whole, buf);
    if (p1) {
      failures.push(`case ${i}: ${p1} (max ${max}) ${buf.toString('hex').slice(0, 160)}`);
      continue;
    }
    kinds[(whole as ParseResult).kind]++;
    // streaming consistency: a prefix that already decided must decide the same as the whole
    const cut = r.int(buf.length + 1);
    const prefix = safeParse(buf.subarray(0, cut), max);
    const p2 = shapeProblem(prefix, buf.subarray(0, cut));
    if (p2) failures.push(`case ${i} prefix ${cut}: ${p2}`);
    else if ((prefix as ParseResult).kind === 'not-tls' && (whole as ParseResult).kind !== 'not-tls') {
      failures.push(`case ${i}: prefix ${cut} is not-tls (${(prefix as { why: string }).why}) but the whole is ${(whole as ParseResult).kind}`);
    } else if ((prefix as ParseResult).kind === 'hello' && !same(prefix, whole)) {
      failures.push(`case ${i}: prefix ${cut} is a hello different from the whole's`);
    }
  }
  t.comment(`kinds: ${JSON.stringify(kinds)}; slowest ${slowest.toFixed(2)} ms`);
  t.same(failures.slice(0, 10), [], `no failures (rerun with FUZZ_SEED=${FUZZ_SEED})`);
  t.ok(slowest < 50, 'every parse is fast');
});
