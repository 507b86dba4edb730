// Seeded fuzz of target parsing (src/proxy/target.ts): CONNECT authorities and absolute-form URLs built from
// IDNA/unicode names, percent-encoding, userinfo, IPv6 zones, boundary ports and huge strings, then mutated.
// Properties: never throws; whatever is accepted is a clean (host, port) that parses back to itself.
import t from 'tap';
import net from 'node:net';
import { parseAuthority, parseAbsoluteUrl, type Target } from '../../src/proxy/target.js';
import { Rng, FUZZ_SEED, fuzzCases, mutateString, bug } from '../helpers/fuzz.js';

const CASES = fuzzCases(0.3); // 1,200 of the default 4,000
const LABEL_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789-_';

/** What an accepted target must look like, whatever the input was. Returns a complaint or null. */
function targetProblem(tg: Target): string | null {
  if (!Number.isInteger(tg.port) || tg.port < 1 || tg.port > 65535) return `port ${tg.port}`;
  if (tg.host !== tg.host.toLowerCase()) return 'host not lower-case';
  if (tg.isIp) {
    if (net.isIP(tg.host) === 0) return 'isIp but not an IP literal';
    if (tg.host.includes('%')) return 'IPv6 zone accepted';
    return null;
  }
  if (tg.host.length === 0 || tg.host.length > 253) return `host length ${tg.host.length}`;
  if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(tg.host)) return 'host has characters outside LDH (+underscore)';
  const labels = tg.host.split('.');
  if (labels.some((l) => l.length > 63 || l.startsWith('-') || l.endsWith('-'))) return 'bad label';
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return 'numeric last label (an IPv4 attempt) accepted as a name';
  return null;
}

const fmt = (tg: Target): string => (tg.host.includes(':') ? `[${tg.host}]:${tg.port}` : `${tg.host}:${tg.port}`);

function hostPart(rng: Rng): string {
  switch (rng.int(9)) {
    case 0:
    case 1: {
      const n = rng.range(1, 4);
      return Array.from({ length: n }, () => rng.str(rng.range(1, 12), LABEL_CHARS)).join('.');
    }
    case 2: // unicode / IDNA-ish
      return rng.pick(['bücher.example', 'xn--bcher-kva.example', 'ｅｘａｍｐｌｅ.com', 'exa\u0131mple.com', 'example。com', 'EXAMPLE.COM.', 'ex\u200bample.com', 'παράδειγμα.δοκιμή', '例え.テスト']);
    case 3: // percent-encoding
      return rng.pick(['exa%6dple.com', '%31%32%37.0.0.1', 'example.com%00', 'a%2eb.com', '%', 'example%2ecom']);
    case 4: // userinfo
      return rng.pick(['user:pass@example.com', 'user@example.com', '@example.com', 'a:b@127.0.0.1', 'evil.com@good.com']);
    case 5: // IPv4 forms
      return rng.pick(['127.0.0.1', '169.254.169.254', '0.0.0.0', '127.1', '0x7f.0.0.1', '2130706433', '127.000.000.001', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.04']);
    case 6: // IPv6 forms, zones
      return rng.pick(['[::1]', '[::ffff:127.0.0.1]', '[fe80::1%eth0]', '[fe80::1%25eth0]', '[::]', '[1:2:3:4:5:6:7:8:9]', '[example.com]', '[::1', '::1', '[0:0:0:0:0:0:0:1]', '[::FFFF:A9FE:A9FE]', '[2001:db8::1]']);
    case 7: // huge
      return rng.str(rng.pick([64, 254, 300, 5000, 100_000]), LABEL_CHARS + '.');
    default:
      return rng.pick(['', '.', '..', 'a..b', '-a.com', 'a-.com', 'a.com.', 'localhost', '*', '*.example.com', 'a b.com', 'a\tb']);
  }
}

function portPart(rng: Rng): string {
  return rng.pick(['443', '80', '1', '65535', '0', '65536', '99999', '', '-1', '+443', ' 443', '443 ', '0443', '00000443', '0x1bb', '４４３', '1e3', '443.0', '4 43', '9'.repeat(30)]);
}

function authority(rng: Rng): string {
  let a = hostPart(rng);
  if (rng.bool(0.85)) a += ':' + portPart(rng);
  if (rng.bool(0.4)) a = mutateString(rng, a);
  return a;
}

function check(input: string, absolute: boolean): string | null {
  let r: ReturnType<typeof parseAbsoluteUrl>;
  try {
    r = absolute ? parseAbsoluteUrl(input) : parseAuthority(input);
  } catch (e) {
    return `threw ${(e as Error).message}`;
  }
  if (!r.ok) return typeof r.why === 'string' && r.why.length > 0 ? null : 'rejection without a reason';
  const p = targetProblem(r.target);
  if (p) return p;
  const again = parseAuthority(fmt(r.target));
  if (!again.ok || again.target.host !== r.target.host || again.target.port !== r.target.port || again.target.isIp !== r.target.isIp) {
    return `does not parse back to itself (${fmt(r.target)})`;
  }
  if (absolute) {
    const authorityText = /^http:\/\/([^/?#]*)/i.exec(input)?.[1] ?? '';
    if (authorityText.includes('@')) return 'userinfo accepted';
    if (typeof r.path !== 'string') return 'no path';
  }
  return null;
}

t.test(`parseAuthority / parseAbsoluteUrl: ${CASES} seeded cases (seed ${FUZZ_SEED}) never throw, accept only clean targets`, async (t) => {
  const rng = new Rng(FUZZ_SEED);
  const failures: string[] = [];
  let accepted = 0;
  let slowest = 0;
  for (let i = 0; i < CASES; i++) {
    const r = rng.fork(i);
    const a = authority(r);
    const inputs = [a, `http://${a}${r.pick(['', '/', '/p?q=1', '?q', '#f', '/a/../b', '/%00'])}`];
    for (const [k, input] of inputs.entries()) {
      const t0 = performance.now();
      const problem = check(input, k === 1);
      slowest = Math.max(slowest, performance.now() - t0);
      if (problem) failures.push(`case ${i}: ${JSON.stringify(input.slice(0, 120))} → ${problem}`);
      else if ((k === 0 ? parseAuthority(input) : parseAbsoluteUrl(input)).ok) accepted++;
    }
  }
  t.comment(`${CASES * 2} inputs, ${accepted} accepted, slowest ${slowest.toFixed(2)} ms`);
  t.same(failures.slice(0, 10), [], `no failures (seed ${FUZZ_SEED}; rerun with FUZZ_SEED=${FUZZ_SEED})`);
  t.ok(slowest < 100, `every parse is fast (slowest ${slowest.toFixed(1)} ms)`);
});

// Hand-picked junk that must be refused (the fuzz above generates these families; this pins them).
const JUNK = [
  'example.com:0', 'example.com:65536', 'example.com:', 'example.com', 'example.com:+443', 'example.com:-1', 'example.com: 443',
  'example.com:４４３', 'user:pass@example.com:443', 'user@example.com:443', '[fe80::1%eth0]:443', '[fe80::1%25eth0]:443',
  'bücher.example:443', 'ｅｘａｍｐｌｅ.com:443', 'exa%6dple.com:443', 'example.com%00:443', 'ex\u200bample.com:443', 'exa\0mple.com:443',
  'a b.com:443', '127.1:443', '0x7f.0.0.1:443', '2130706433:443', '127.000.000.001:443', '1.2.3.4.5:443', '256.1.1.1:443',
  '::1:443', '[::1', '[example.com]:443', '[::1]x:443', '*:443', '*.example.com:443', 'a..b:443', '-a.com:443', '.:443',
  `${'a'.repeat(64)}.com:443`, `${'a.'.repeat(127)}com:443`, 'x'.repeat(1_000_000),
];

t.test('hand-picked junk authorities are refused, by parseAuthority and inside http:// URLs', async (t) => {
  for (const a of JUNK) {
    t.notOk(parseAuthority(a).ok, `CONNECT ${JSON.stringify(a.slice(0, 60))}`);
    if (a === 'example.com') continue; // an http:// URL without a port means port 80: fine there
    t.notOk(parseAbsoluteUrl(`http://${a}/`).ok, `GET ${JSON.stringify(`http://${a}/`.slice(0, 60))}`);
  }
});

t.test('clean inputs are normalised as documented', async (t) => {
  t.same(parseAuthority('EXAMPLE.com.:443'), { ok: true, target: { host: 'example.com', port: 443, isIp: false } });
  t.same(parseAuthority('[::FFFF:127.0.0.1]:443'), { ok: true, target: { host: '::ffff:127.0.0.1', port: 443, isIp: true } });
  t.same(parseAbsoluteUrl('http://xn--bcher-kva.example/a'), { ok: true, target: { host: 'xn--bcher-kva.example', port: 80, isIp: false }, path: '/a' });
});

t.test(
  'an absolute URL without a path is forwarded with "/" before its query (RFC 9112 §3.2.1)',
  async (t) => {
    for (const [url, path] of [['http://example.com?q=1', '/?q=1'], ['http://example.com#f', '/']] as const) {
      const r = parseAbsoluteUrl(url);
      t.ok(r.ok, url);
      t.equal(r.path, path, url);
    }
  },
);
