// Table-driven tests of the ClientHello parser: captured fixtures whole, split over segments and records,
// hand-built SSLv2/SSLv3/GREASE hellos, hostile lengths, and a seeded fuzz. No sockets here.
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseClientHello, MAX_CLIENT_HELLO_BYTES, isGrease, type ClientHello, type ParseResult } from '../../src/tls/client-hello.js';
import { repoPath } from '../helpers/paths.js';

const dir = repoPath('test/fixtures/client-hello');
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.bin')).sort()
  .map((f) => ({ name: f.slice(0, -4), bytes: readFileSync(join(dir, f)) }));

const SNI = 'fixture.example.com';
const ALPN = ['h2', 'http/1.1'];
const expected: Record<string, { v: string; sni: string | null; alpn: string[] }> = {
  'node-default-nosni': { v: 'TLSv1.3', sni: null, alpn: [] },
  'node-default-sni-alpn': { v: 'TLSv1.3', sni: SNI, alpn: ALPN }, // sent as Fixture.Example.com
  'node-tls1_0-1_1-sni': { v: 'TLSv1.1', sni: SNI, alpn: [] },
  'node-tls1_2-sni': { v: 'TLSv1.2', sni: SNI, alpn: [] },
  'openssl-default-sni': { v: 'TLSv1.3', sni: SNI, alpn: [] },
  'openssl-tls1_0-nosni': { v: 'TLSv1', sni: null, alpn: [] },
  'openssl-tls1_0-sni': { v: 'TLSv1', sni: SNI, alpn: [] },
  'openssl-tls1_1-nosni': { v: 'TLSv1.1', sni: null, alpn: [] },
  'openssl-tls1_1-sni-alpn': { v: 'TLSv1.1', sni: SNI, alpn: ALPN },
  'openssl-tls1_2-nosni': { v: 'TLSv1.2', sni: null, alpn: [] },
  'openssl-tls1_2-sni-alpn': { v: 'TLSv1.2', sni: SNI, alpn: ALPN },
  'openssl-tls1_3-nosni': { v: 'TLSv1.3', sni: null, alpn: [] },
  'openssl-tls1_3-sni-alpn': { v: 'TLSv1.3', sni: SNI, alpn: ALPN },
};

// ---- builders (RFC 8446 §4.1.2 layout) ----
const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const ext = (type: number, data: number[]) => [...u16(type), ...u16(data.length), ...data];
const bytes = (s: string) => [...Buffer.from(s, 'latin1')];
const sniExt = (...names: string[]) => {
  const list = names.flatMap((n) => [0, ...u16(n.length), ...bytes(n)]);
  return ext(0x0000, [...u16(list.length), ...list]);
};
const alpnExt = (...protos: string[]) => {
  const list = protos.flatMap((p) => [p.length, ...bytes(p)]);
  return ext(0x0010, [...u16(list.length), ...list]);
};
const versionsExt = (...vs: number[]) => ext(0x002b, [vs.length * 2, ...vs.flatMap(u16)]);
const body = (legacy: number, exts: number[][] | null) => {
  const b = [...u16(legacy), ...Array<number>(32).fill(7), 0, ...u16(2), 0x13, 0x01, 1, 0];
  if (exts) b.push(...u16(exts.flat().length), ...exts.flat());
  return b;
};
const frame = (b: number[], recordVersion = 0x0301, hsType = 1) => {
  const hs = [hsType, 0, ...u16(b.length), ...b];
  return Buffer.from([22, ...u16(recordVersion), ...u16(hs.length), ...hs]);
};
const hello = (exts: number[][] | null, legacy = 0x0303) => frame(body(legacy, exts));
/** Re-frames a one-record hello into records cut at the given handshake offsets. */
const reframe = (one: Buffer, cuts: number[]) => {
  const hs = one.subarray(5, 5 + one.readUInt16BE(3));
  const edges = [0, ...cuts, hs.length];
  return Buffer.concat(edges.slice(1).map((e, i) => {
    const frag = hs.subarray(edges[i], e);
    return Buffer.concat([Buffer.from([22, one[1]!, one[2]!, ...u16(frag.length)]), frag]);
  }));
};
const sslv2 = (version: number, cs = 3, sid = 0, ch = 16) => {
  const b = [1, ...u16(version), ...u16(cs), ...u16(sid), ...u16(ch), ...Array<number>(cs + sid + ch).fill(1)];
  return Buffer.from([0x80 | (b.length >> 8), b.length & 0xff, ...b]);
};
const patch = (buf: Buffer, at: number, v: number, width = 2) => {
  const c = Buffer.from(buf);
  c.writeUIntBE(v, at, width);
  return c;
};
const parsed = (r: ParseResult): ClientHello | null => {
  if (r.kind === 'hello') return r;
  t.fail(`expected hello, got ${JSON.stringify(r)}`);
  return null;
};

t.test('every captured fixture parses in one piece', async (t) => {
  t.same(fixtures.map((f) => f.name), Object.keys(expected).sort(), 'each fixture has an expectation');
  for (const { name, bytes: b } of fixtures) {
    const r = parsed(parseClientHello(b));
    const e = expected[name]!;
    t.match(r, { versionName: e.v, sni: e.sni, sniValid: true, alpn: e.alpn, sslv2: false, recordVersion: 0x0301 }, name);
    t.equal(r?.bytesConsumed, b.length, `${name} consumed`);
  }
});

t.test('split at every byte offset: need-more until complete, then the same hello', async (t) => {
  for (const { name, bytes: b } of fixtures) {
    const whole = parseClientHello(b);
    let ok = true;
    for (let i = 0; i < b.length && ok; i++) {
      const r = parseClientHello(b.subarray(0, i));
      ok = r.kind === 'need-more' && r.atLeast > i && r.atLeast <= b.length;
      if (!ok) t.fail(`${name} prefix ${i}: ${JSON.stringify(r)}`);
      else ok = JSON.stringify(parseClientHello(Buffer.concat([b.subarray(0, i), b.subarray(i)]))) === JSON.stringify(whole);
    }
    t.ok(ok, `${name}: every prefix needs more`);
  }
});

t.test('a hello spread over several records is reassembled', async (t) => {
  for (const { name, bytes: b } of fixtures) {
    const n = b.length - 5;
    const want = { ...(parseClientHello(b) as object) };
    for (const cuts of [[1], [2], [3], [4], [5], [n >> 1], [n - 1], [1, 2, 3], [4, n >> 1, n - 1]]) {
      const two = reframe(b, cuts);
      t.same(parseClientHello(two), { ...want, bytesConsumed: two.length }, `${name} cut at ${cuts}`);
      for (let i = 0; i < two.length; i++) {
        if (parseClientHello(two.subarray(0, i)).kind !== 'need-more') t.fail(`${name} ${cuts} prefix ${i}`);
      }
    }
    const perByte = reframe(b, Array.from({ length: n - 1 }, (_, i) => i + 1));
    t.match(parseClientHello(perByte), { kind: 'hello', sni: want['sni' as keyof typeof want] ?? null }, `${name}: one byte per record`);
  }
});

t.test('bytes after the hello are not consumed', async (t) => {
  const b = fixtures[0]!.bytes;
  const r = parseClientHello(Buffer.concat([b, Buffer.from([23, 3, 3, 0, 1, 0])]));
  t.match(r, { kind: 'hello', bytesConsumed: b.length });
});

t.test('not TLS', async (t) => {
  const rows: [string, Buffer, ParseResult['kind']][] = [
    ['empty', Buffer.alloc(0), 'need-more'],
    ['one handshake byte', Buffer.from([22]), 'need-more'],
    ['partial record header', Buffer.from([22, 3, 1]), 'need-more'],
    ['HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'not-tls'],
    ['HTTP, one byte', Buffer.from('G'), 'not-tls'],
    ['nested CONNECT', Buffer.from('CONNECT a:443 HTTP/1.1\r\n\r\n'), 'not-tls'],
    ['SSH banner', Buffer.from('SSH-2.0-OpenSSH_9.6\r\n'), 'not-tls'],
    ['handshake, major 0x47', Buffer.from([22, 0x47]), 'not-tls'],
    ['application data record', Buffer.from([23, 3, 3, 0, 1, 0]), 'not-tls'],
    ['zeros', Buffer.alloc(64), 'not-tls'],
    ['ServerHello instead', frame(body(0x0303, null), 0x0303, 2), 'not-tls'],
  ];
  for (const [name, b, kind] of rows) {
    const r = parseClientHello(b);
    t.equal(r.kind, kind, name);
    if (r.kind === 'not-tls') t.type(r.why, 'string', `${name}: why`);
  }
});

t.test('SSLv2-format and SSLv3 hellos are recognised as too old', async (t) => {
  t.match(parseClientHello(sslv2(0x0002)), { kind: 'hello', sslv2: true, versionName: 'SSLv2', sni: null, bytesConsumed: 30 });
  t.match(parseClientHello(sslv2(0x0301, 6, 16, 32)), { kind: 'hello', sslv2: true, versionName: 'TLSv1', highestVersion: 0x0301 });
  t.match(parseClientHello(Buffer.concat([sslv2(0x0300), Buffer.from('x')])), { kind: 'hello', bytesConsumed: 30 });
  t.match(parseClientHello(sslv2(0x0002).subarray(0, 1)), { kind: 'need-more', atLeast: 2 });
  t.match(parseClientHello(sslv2(0x0002).subarray(0, 20)), { kind: 'need-more', atLeast: 30 });
  t.match(parseClientHello(patch(sslv2(0x0002), 2, 4, 1)), { kind: 'not-tls' }, 'msg type 4');
  t.match(parseClientHello(sslv2(0x0002, 4)), { kind: 'not-tls' }, 'cipher specs not a multiple of 3');
  t.match(parseClientHello(sslv2(0x0002, 3, 5)), { kind: 'not-tls' }, 'session id 5');
  t.match(parseClientHello(sslv2(0x0002, 3, 0, 8)), { kind: 'not-tls' }, 'challenge 8');
  t.match(parseClientHello(sslv2(0x0404)), { kind: 'not-tls' }, 'version 4.4');
  t.match(parseClientHello(patch(sslv2(0x0002), 0, 0xffff)), { kind: 'not-tls' }, 'length beyond max');
  t.match(parseClientHello(Buffer.from([0x80, 5, 1, 0, 2, 0, 0])), { kind: 'not-tls' }, 'too short');
  t.match(parseClientHello(frame(body(0x0300, null), 0x0300)), { kind: 'hello', versionName: 'SSLv3', sslv2: false });
});

t.test('supported_versions: highest offered, GREASE ignored (RFC 8446 §4.2.1, RFC 8701)', async (t) => {
  const rows: [number[], number, string | null][] = [
    [[0x0a0a, 0x0304, 0x0303], 0x0304, 'TLSv1.3'],
    [[0x0303, 0xfafa], 0x0303, 'TLSv1.2'],
    [[0x0302, 0x0301], 0x0302, 'TLSv1.1'],
    [[0x7f1c, 0x0303], 0x0303, 'TLSv1.2'], // pre-RFC draft numbers are not counted
    [[0x3a3a], 0, null], // nothing usable: a server would refuse (protocol_version)
    [[0x0305, 0x0304], 0x0305, null], // a future version: above 1.2, no name yet
  ];
  for (const [vs, highest, name] of rows) {
    t.match(parseClientHello(hello([versionsExt(...vs)])), { highestVersion: highest, versionName: name, legacyVersion: 0x0303 }, vs.map((v) => v.toString(16)).join(','));
  }
  t.ok(isGrease(0x0a0a) && isGrease(0xfafa) && !isGrease(0x0a1a) && !isGrease(0x0303));
  t.match(parseClientHello(hello(null, 0x0302)), { highestVersion: 0x0302, versionName: 'TLSv1.1', sni: null }, 'no extensions');
});

t.test('SNI normalisation and validity (RFC 6066 §3)', async (t) => {
  const rows: [string, string, boolean][] = [
    ['Example.COM.', 'example.com', true],
    ['a_b-c.example', 'a_b-c.example', true],
    ['bad host!', 'bad host!', false],
    ['::1', '::1', false],
    ['a..b', 'a..b', false],
    ['.', '', false],
    [`${'a'.repeat(64)}.com`, `${'a'.repeat(64)}.com`, false],
    ['nul\0.com', 'nul\0.com', false],
    ['caf\xe9.com', 'caf\xe9.com', false],
  ];
  for (const [raw, sni, valid] of rows) {
    t.match(parseClientHello(hello([sniExt(raw), alpnExt('h2')])), { kind: 'hello', sni, sniValid: valid, alpn: ['h2'] }, JSON.stringify(raw));
  }
  const other = [1, ...u16(3), ...bytes('xyz')]; // unknown name_type is skipped
  const list = [...other, 0, ...u16(5), ...bytes('a.com')];
  t.match(parseClientHello(hello([ext(0, [...u16(list.length), ...list])])), { sni: 'a.com' });
});

t.test('hostile and inconsistent lengths are not-tls, never a throw', async (t) => {
  const ok = hello([sniExt('a.com'), alpnExt('h2'), versionsExt(0x0304)]);
  const extStart = 5 + 4 + 2 + 32 + 1 + 2 + 2 + 2; // record + hs header + version + random + sid + suites + comp
  const sniData = extStart + 2 + 4; // first extension's data
  const rows: [string, Buffer][] = [
    ['record length 0xffff', patch(ok, 3, 0xffff)],
    ['record length 0', Buffer.from([22, 3, 1, 0, 0, 1])],
    ['handshake length 0xffffff', patch(ok, 6, 0xffffff, 3)],
    ['handshake length just over max', patch(ok, 6, MAX_CLIENT_HELLO_BYTES - 8, 3)],
    ['handshake shorter than its body', patch(patch(ok, 3, ok.length - 5 - 10), 6, ok.length - 9 - 10, 3)],
    ['non-handshake record after first fragment', Buffer.concat([reframe(ok, [10]).subarray(0, 15), Buffer.from([21, 3, 1, 0, 2, 2, 40])])],
    ['second record major 2', (() => { const b = reframe(ok, [10]); b[16] = 2; return b; })()],
    ['session_id 33', patch(ok, 5 + 4 + 34, 33, 1)],
    ['odd cipher_suites', patch(ok, 5 + 4 + 35, 3)],
    ['no cipher_suites', patch(ok, 5 + 4 + 35, 0)],
    ['empty compression_methods', patch(ok, 5 + 4 + 39, 0, 1)],
    ['extensions length +1', patch(ok, extStart, ok.readUInt16BE(extStart) + 1)],
    ['extensions length -1', patch(ok, extStart, ok.readUInt16BE(extStart) - 1)],
    ['extension length overflow', patch(ok, extStart + 4, 0xfff0)],
    ['SNI list length lies (long)', patch(ok, sniData, 0x00ff)],
    ['SNI list length lies (short)', patch(ok, sniData, 3)],
    ['SNI name length lies', patch(ok, sniData + 3, 0x0100)],
    ['SNI empty name', hello([ext(0, [0, 3, 0, 0, 0])])],
    ['SNI empty extension', hello([ext(0, [])])],
    ['two host_names', hello([ext(0, [0, 12, 0, 0, 3, ...bytes('a.b'), 0, 0, 3, ...bytes('c.d')])])],
    ['duplicate server_name', hello([sniExt('a.com'), sniExt('b.com')])],
    ['duplicate supported_versions', hello([versionsExt(0x0301), versionsExt(0x0304)])],
    ['ALPN empty protocol', hello([ext(0x10, [0, 2, 0, 0])])],
    ['ALPN list length lies', hello([ext(0x10, [0, 9, 2, ...bytes('h2')])])],
    ['ALPN protocol length lies', hello([ext(0x10, [0, 3, 9, ...bytes('h2')])])],
    ['supported_versions odd', hello([ext(0x2b, [3, 3, 4, 3])])],
    ['supported_versions empty', hello([ext(0x2b, [])])],
    ['truncated extension header', hello([[0, 0x15]])],
    ['body truncated', frame(body(0x0303, null).slice(0, 30))],
  ];
  for (const [name, b] of rows) {
    let r: ParseResult | undefined;
    t.doesNotThrow(() => (r = parseClientHello(b)), name);
    t.match(r, { kind: 'not-tls', why: String }, name);
  }
});

t.test('the byte bound (MAX_CLIENT_HELLO_BYTES or maxBytes)', async (t) => {
  const b = fixtures.find((f) => f.name === 'openssl-tls1_3-sni-alpn')!.bytes;
  t.equal(MAX_CLIENT_HELLO_BYTES, 16384);
  t.match(parseClientHello(b, b.length), { kind: 'hello' });
  t.match(parseClientHello(b, b.length - 1), { kind: 'not-tls' });
  t.match(parseClientHello(b.subarray(0, 5), 100), { kind: 'not-tls' }, 'refused before the bytes arrive');
  t.match(parseClientHello(reframe(b, [100]), b.length + 4), { kind: 'not-tls' }, 'record headers count');
  t.match(parseClientHello(b, Number.NaN), { kind: 'hello' }, 'NaN means the default');
  const big = hello([ext(0x15, Array<number>(MAX_CLIENT_HELLO_BYTES).fill(0))]); // padding extension
  t.match(parseClientHello(big.subarray(0, 200)), { kind: 'not-tls' }, 'oversized hello refused from its header');
});

t.test('seeded fuzz: mutated hellos never throw and respect the bound', async (t) => {
  let seed = 0x5eed1234;
  const rnd = () => { // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const pick = (n: number) => Math.floor(rnd() * n);
  const seeds = [...fixtures.map((f) => f.bytes), reframe(fixtures[0]!.bytes, [3, 50]), sslv2(0x0301), hello([versionsExt(0x1a1a, 0x0304)])];
  const kinds = new Map<string, number>();
  let bad = 0;
  for (let i = 0; i < 5000; i++) {
    const b = Buffer.from(seeds[pick(seeds.length)]!);
    let m: Buffer = b;
    for (let k = 1 + pick(4); k > 0; k--) {
      const at = pick(m.length);
      switch (pick(5)) {
        case 0: m[at] = pick(256); break;
        case 1: m = m.subarray(0, at); break;
        case 2: if (at + 1 < m.length) m.writeUInt16BE(pick(2) ? 0xffff : pick(65536), at); break;
        case 3: m = Buffer.concat([m.subarray(0, at), Buffer.from([pick(256), pick(256)]), m.subarray(at)]); break;
        default: m = Buffer.concat([m.subarray(0, at), m.subarray(at + 1 + pick(8))]);
      }
    }
    const max = pick(3) === 0 ? 1 + pick(600) : MAX_CLIENT_HELLO_BYTES;
    try {
      const r = parseClientHello(m, max);
      kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
      const sound = r.kind === 'need-more' ? r.atLeast > m.length && r.atLeast <= max
        : r.kind === 'not-tls' ? typeof r.why === 'string'
        : r.bytesConsumed <= m.length && r.bytesConsumed <= max && Array.isArray(r.alpn) && (r.sni === null || typeof r.sni === 'string');
      if (!sound) bad++, t.fail(`unsound result ${JSON.stringify(r)} for ${m.toString('hex')}`);
    } catch (err) {
      bad++;
      t.fail(`threw ${String(err)} on ${m.toString('hex')}`);
    }
  }
  t.equal(bad, 0, `5000 mutations: ${JSON.stringify(Object.fromEntries(kinds))}`);
  t.ok((kinds.get('hello') ?? 0) > 0 && (kinds.get('not-tls') ?? 0) > 0 && (kinds.get('need-more') ?? 0) > 0, 'all kinds reached');
});
