// Table-driven tests of Basic proxy authentication: header parsing, every scheme of the fixture,
// unknown users, the verified-credential cache (hits, TTL, coalescing, invalidation, key shape).
import t from 'tap';
import bcrypt from 'bcrypt';
import { performance } from 'node:perf_hooks';
import {
  PROXY_AUTHENTICATE,
  refusalHeaders,
  createAuthenticator,
  parseBasicCredentials,
  type AuthResult,
  nativeBcryptHash,
  type BcryptCompare,
} from '../../src/proxy/auth.js';
import { loadHtpasswd, parseHtpasswd } from '../../src/proxy/htpasswd.js';
import { repoPath } from '../helpers/paths.js';

const FIXTURE = repoPath('test/fixtures/auth/users.htpasswd');
const { users } = await loadHtpasswd(FIXTURE);

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const basic = (user: string, password: string): string => `Basic ${b64(`${user}:${password}`)}`;

/** The real native bcrypt compare (as the authenticator's default relabels $2y$), counted. */
function countingCompare(): { compare: BcryptCompare; calls: string[] } {
  const calls: string[] = [];
  return { calls, compare: (password, hash) => (calls.push(hash), bcrypt.compare(password, nativeBcryptHash(hash))) };
}

const fail = (user?: string): AuthResult =>
  user === undefined ? { ok: false, reason: 'auth_failed' } : { ok: false, reason: 'auth_failed', user };

const rows: Array<[name: string, header: string | undefined, expected: AuthResult]> = [
  ['missing header', undefined, { ok: false, reason: 'auth_required' }],
  ['empty header', '', { ok: false, reason: 'auth_required' }],
  ['blank header', '   ', { ok: false, reason: 'auth_required' }],
  ['$2y$ right', basic('alice', 'alice-pass'), { ok: true, user: 'alice' }],
  ['$2y$ wrong', basic('alice', 'alice-pass!'), fail('alice')],
  ['$2y$ empty password', basic('alice', ''), fail('alice')],
  ['$2b$ unicode right', basic('bob', 'pässwörd-ünïcode-🔑'), { ok: true, user: 'bob' }],
  ['$2b$ unicode NFD form is another password', basic('bob', 'pässwörd-ünïcode-🔑'.normalize('NFD')), fail('bob')],
  ['$2a$ colons in password', basic('carol', 'carol:pass:with:colons'), { ok: true, user: 'carol' }],
  ['$2a$ password cut at a colon', basic('carol', 'carol'), fail('carol')],
  ['{SHA} right', basic('dave', 'dave-pass'), { ok: true, user: 'dave' }],
  ['{SHA} wrong', basic('dave', 'Dave-pass'), fail('dave')],
  ['{SHA} unicode user and password', basic('zoë', 'zoë-pässwörd'), { ok: true, user: 'zoë' }],
  ['user names are case-sensitive', basic('Alice', 'alice-pass'), fail('Alice')],
  ['$apr1$ user was skipped', basic('erin', 'erin-pass'), fail('erin')],
  ['unknown user', basic('mallory', 'alice-pass'), fail('mallory')],
  ['empty user and password', `Basic ${b64(':')}`, fail('')],
  ['scheme lower case', `basic ${b64('alice:alice-pass')}`, { ok: true, user: 'alice' }],
  ['scheme upper case', `BASIC ${b64('alice:alice-pass')}`, { ok: true, user: 'alice' }],
  ['extra spaces and a tab', `  Basic \t  ${b64('alice:alice-pass')}   `, { ok: true, user: 'alice' }],
  ['scheme only', 'Basic', fail()],
  ['scheme and blanks only', 'Basic    ', fail()],
  ['token only', b64('alice:alice-pass'), fail()],
  ['other scheme', `Bearer ${b64('alice:alice-pass')}`, fail()],
  ['Digest', 'Digest username="alice", realm="x"', fail()],
  ['two tokens', `Basic ${b64('alice:alice-pass')} extra`, fail()],
  ['not base64', 'Basic !!!!', fail()],
  ['base64 without padding', `Basic ${b64('alice:alice-pass!').replace(/=+$/, '')}`, fail()],
  ['base64url alphabet', 'Basic YWxp-2U_', fail()],
  ['no colon', `Basic ${b64('alice')}`, fail()],
  ['invalid UTF-8', `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}`, fail()],
];

for (const [name, header, expected] of rows) {
  t.test(name, async (t) => {
    const auth = createAuthenticator({ users });
    t.same(await auth.check(header), expected);
  });
}

t.test('challenge value', async (t) => {
  t.equal(PROXY_AUTHENTICATE, 'Basic realm="autopatch-proxy"');
});

t.test('parseBasicCredentials keeps everything after the first colon', async (t) => {
  t.same(parseBasicCredentials(basic('u', 'a:b::')), { kind: 'basic', user: 'u', password: 'a:b::' });
});

t.test('cache hit does not call bcrypt again; failures are not cached', async (t) => {
  const { compare, calls } = countingCompare();
  const auth = createAuthenticator({ users, compare });
  const good = basic('alice', 'alice-pass');
  for (let i = 0; i < 3; i++) t.same(await auth.check(good), { ok: true, user: 'alice' });
  t.equal(calls.length, 1, 'one verification for three checks');
  const bad = basic('alice', 'nope');
  await auth.check(bad);
  await auth.check(bad);
  t.equal(calls.length, 3, 'each failed check verifies again');
  await auth.check(`basic ${b64('alice:alice-pass')}`);
  t.equal(calls.length, 4, 'the key is the whole header value');
  t.equal(auth.cacheKeys().length, 2);
});

t.test('concurrent checks of one header are coalesced', async (t) => {
  const { compare, calls } = countingCompare();
  const auth = createAuthenticator({ users, compare });
  const results = await Promise.all(Array.from({ length: 5 }, () => auth.check(basic('bob', 'pässwörd-ünïcode-🔑'))));
  t.same(results, Array(5).fill({ ok: true, user: 'bob' }));
  t.equal(calls.length, 1);
  const wrong = await Promise.all([auth.check(basic('bob', 'x')), auth.check(basic('bob', 'x'))]);
  t.same(wrong, [fail('bob'), fail('bob')]);
  t.equal(calls.length, 2, 'coalesced failures too, but not remembered');
});

t.test('cache entries expire after the TTL', async (t) => {
  let clock = 1_000;
  const { compare, calls } = countingCompare();
  const auth = createAuthenticator({ users, compare, cacheTtlMs: 1_000, now: () => clock });
  const good = basic('carol', 'carol:pass:with:colons');
  await auth.check(good);
  clock += 999;
  await auth.check(good);
  t.equal(calls.length, 1, 'still fresh');
  clock += 2;
  t.same(await auth.check(good), { ok: true, user: 'carol' });
  t.equal(calls.length, 2, 'expired: verified again');
});

t.test('the cache is bounded (LRU) and can be disabled', async (t) => {
  const small = createAuthenticator({ users, cacheSize: 2 });
  await small.check(basic('alice', 'alice-pass'));
  await small.check(basic('dave', 'dave-pass'));
  await small.check(basic('zoë', 'zoë-pässwörd'));
  t.equal(small.cacheKeys().length, 2);
  const { compare, calls } = countingCompare();
  const none = createAuthenticator({ users, compare, cacheSize: 0 });
  await none.check(basic('alice', 'alice-pass'));
  await none.check(basic('alice', 'alice-pass'));
  t.equal(calls.length, 2);
  t.same(none.cacheKeys(), []);
});

t.test('replaceUsers invalidates the cache and applies the new table', async (t) => {
  const { compare, calls } = countingCompare();
  const auth = createAuthenticator({ users, compare });
  const good = basic('alice', 'alice-pass');
  await auth.check(good);
  auth.replaceUsers(new Map(users));
  t.same(auth.cacheKeys(), []);
  t.same(await auth.check(good), { ok: true, user: 'alice' });
  t.equal(calls.length, 2, 'verified again after the reload');
  const withoutAlice = new Map(users);
  withoutAlice.delete('alice');
  auth.replaceUsers(withoutAlice);
  t.same(await auth.check(good), fail('alice'), 'a removed user is refused at once');
});

t.test('a verification in flight during replaceUsers is answered but not cached', async (t) => {
  let release: (v: boolean) => void = () => {};
  const auth = createAuthenticator({ users, compare: () => new Promise<boolean>((r) => (release = r)) });
  const pending = auth.check(basic('alice', 'anything'));
  auth.replaceUsers(users);
  release(true);
  t.same(await pending, { ok: true, user: 'alice' });
  t.same(auth.cacheKeys(), [], 'not remembered across the reload');
});

t.test('the cache key is a digest, never the plaintext', async (t) => {
  const auth = createAuthenticator({ users });
  const token = b64('dave:dave-pass');
  await auth.check(`Basic ${token}`);
  const keys = auth.cacheKeys();
  t.equal(keys.length, 1);
  const key = keys[0]!;
  t.match(key, /^[0-9a-f]{64}$/, 'SHA-256-sized hex');
  for (const secret of ['dave-pass', token, `Basic ${token}`, 'dave']) t.notOk(key.includes(secret), secret);
});

t.test('unknown users cost a bcrypt at the dominant cost; no bcrypt file means no bcrypt', async (t) => {
  const { compare, calls } = countingCompare();
  const auth = createAuthenticator({ users, compare });
  t.same(await auth.check(basic('mallory', 'x')), fail('mallory'));
  t.equal(calls.length, 1);
  t.match(calls[0], /^\$2b\$04\$[./A-Za-z0-9]{53}$/, 'dummy hash at cost 4 (alice and carol; bob is 5)');
  const shaOnly = parseHtpasswd('dave:{SHA}6pX3g9PMDpbNGVw1/XplrHX/dtM=', 'f').users;
  const counted = countingCompare();
  const shaAuth = createAuthenticator({ users: shaOnly, compare: counted.compare });
  t.same(await shaAuth.check(basic('mallory', 'x')), fail('mallory'));
  t.equal(counted.calls.length, 0);
});

t.test('a throwing compare is a failure, not a crash', async (t) => {
  const auth = createAuthenticator({ users, compare: () => Promise.reject(new Error('boom')) });
  t.same(await auth.check(basic('alice', 'alice-pass')), fail('alice'));
  t.same(auth.cacheKeys(), []);
});

t.test('nativeBcryptHash relabels $2y$ only', async (t) => {
  const tail = '04$Z52Vi8pCXiVEffSIkjMhIOnCFSLQ1vgdc1U6HA0ViBOFa2PuPms9K';
  const rows: Array<[string, string]> = [
    [`$2y$${tail}`, `$2b$${tail}`],
    [`$2b$${tail}`, `$2b$${tail}`],
    [`$2a$${tail}`, `$2a$${tail}`],
    ['{SHA}6pX3g9PMDpbNGVw1/XplrHX/dtM=', '{SHA}6pX3g9PMDpbNGVw1/XplrHX/dtM='],
  ];
  for (const [input, expected] of rows) t.equal(nativeBcryptHash(input), expected, input);
});

/** Median wall time of `n` sequential runs of `fn`. */
async function medianMs(n: number, fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[n >> 1]!;
}

t.test('the default compare: an unknown user costs what a wrong password of a known one does', async (t) => {
  // cost 8: long enough to measure (a few ms), a dummy that bcrypt rejected unhashed would take ~0.
  const hash = await bcrypt.hash('right', 8);
  const auth = createAuthenticator({ users: parseHtpasswd(`known:${hash}`, 'f').users, cacheSize: 0 });
  t.same(await auth.check(basic('known', 'right')), { ok: true, user: 'known' });
  const wrong = await medianMs(5, () => auth.check(basic('known', 'wrong')));
  const unknown = await medianMs(5, () => auth.check(basic('nobody', 'wrong')));
  const ratio = unknown / wrong;
  t.ok(ratio > 0.5 && ratio < 2, `unknown/known-wrong time ratio ${ratio.toFixed(2)} within 0.5-2`);
});

t.test('the default compare hashes off the event loop', async (t) => {
  // cost 11: ~100 ms of hashing. A JavaScript bcrypt (bcryptjs) holds the loop for up to 100 ms at a
  // time; the native one runs on libuv's pool, so timers keep firing while it works.
  const hash = await bcrypt.hash('right', 11);
  const auth = createAuthenticator({ users: parseHtpasswd(`u:${hash}`, 'f').users, cacheSize: 0 });
  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 2);
  const start = performance.now();
  const result = await auth.check(basic('u', 'right'));
  const took = performance.now() - start;
  clearInterval(timer);
  t.same(result, { ok: true, user: 'u' });
  t.ok(maxGap < took / 2, `longest event-loop gap ${maxGap.toFixed(1)} ms while a ${took.toFixed(1)} ms check ran`);
});

t.test('bcrypt comparisons are bounded in parallel (the thread pool stays free for DNS and the log)', async (t) => {
  let active = 0;
  let peak = 0;
  const order: string[] = [];
  const compare: BcryptCompare = async (password, hash) => {
    active++;
    peak = Math.max(peak, active);
    order.push(password);
    await new Promise((r) => setTimeout(r, 20));
    active--;
    return bcrypt.compare(password, nativeBcryptHash(hash));
  };
  const auth = createAuthenticator({ users, compare, cacheSize: 0, maxParallel: 2 });
  // ten different wrong passwords at once (different headers: nothing coalesces), then the right one
  const wrong = Array.from({ length: 10 }, (_, i) => auth.check(basic('alice', `wrong-${i}`)));
  const right = auth.check(basic('alice', 'alice-pass'));
  const results = await Promise.all([...wrong, right]);
  t.equal(peak, 2, 'never more than two comparisons at once');
  t.same(results.slice(0, 10), Array.from({ length: 10 }, () => fail('alice')), 'every wrong password answered');
  t.same(results[10], { ok: true, user: 'alice' }, 'the right one too, after them');
  t.same(order, [...Array.from({ length: 10 }, (_, i) => `wrong-${i}`), 'alice-pass'], 'in arrival order');
  t.equal(active, 0);
  // a throwing comparison gives its slot back
  const failing = createAuthenticator({ users, compare: () => Promise.reject(new Error('boom')), cacheSize: 0, maxParallel: 1 });
  const r = await Promise.all([failing.check(basic('alice', 'a')), failing.check(basic('alice', 'b')), failing.check(basic('alice', 'c'))]);
  t.same(r, [fail('alice'), fail('alice'), fail('alice')], 'slots are released after a failure');
});

t.test('failure limit per client address (--auth-max-failures): refused unchecked, cached users unaffected, window ends', async (t) => {
  let clock = 0;
  const calls: string[] = [];
  // a fake compare on purpose: the subject is the counting around it, and each call is seen
  const compare: BcryptCompare = async (password) => (calls.push(password), password === 'right');
  const hash = '$2b$04$' + 'a'.repeat(53);
  const table = new Map([['alice', { scheme: 'bcrypt' as const, hash, cost: 4 }], ['bob', { scheme: 'bcrypt' as const, hash, cost: 4 }]]);
  const auth = createAuthenticator({ users: table, compare, now: () => clock, maxFailures: 3, failureWindowMs: 60_000 });
  const A = '10.0.0.1';
  const B = '10.0.0.2';

  t.match(await auth.check(basic('bob', 'right'), A), { ok: true }, 'a right password first: cached');
  for (let i = 0; i < 3; i++) t.match(await auth.check(basic('alice', `wrong${i}`), A), { ok: false, reason: 'auth_failed' }, `failure ${i + 1} is checked`);
  t.equal(calls.length, 4);
  clock = 10_000;
  t.same(await auth.check(basic('alice', 'wrong3'), A), { ok: false, reason: 'auth_throttled', user: 'alice', retryAfterMs: 50_000 }, 'the 4th is refused until the window ends');
  t.match(await auth.check(basic('alice', 'right'), A), { ok: false, reason: 'auth_throttled' }, 'even a right password, when not cached');
  t.equal(calls.length, 4, 'nothing hashed while throttled');
  t.same(await auth.check(basic('bob', 'right'), A), { ok: true, user: 'bob' }, 'a cached credential from the same address still passes');
  t.same(await auth.check(basic('alice', 'right'), B), { ok: true, user: 'alice' }, 'another address is not affected');
  t.match(await auth.check(basic('alice', 'wrong'), undefined), { reason: 'auth_failed' }, 'no address: no limit');
  t.match(await auth.check(undefined, A), { reason: 'auth_required' }, 'no credentials: the challenge, not the limit');
  clock = 60_000;
  t.match(await auth.check(basic('alice', 'wrong4'), A), { reason: 'auth_failed' }, 'the window ended: checked again');
  t.equal(calls.at(-1), 'wrong4');
  t.match(await auth.check(basic('alice', 'wrong5'), A), { reason: 'auth_failed' }, 'the new window counts from its first failure');
});

t.test('failure limit: checks still running count, so a concurrent burst cannot queue past the limit', async (t) => {
  const calls: string[] = [];
  const compare: BcryptCompare = (password) => (calls.push(password), new Promise((r) => setTimeout(() => r(false), 20)));
  const hash = '$2b$04$' + 'a'.repeat(53);
  const auth = createAuthenticator({ users: new Map([['alice', { scheme: 'bcrypt' as const, hash, cost: 4 }]]), compare, maxFailures: 3 });
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => auth.check(basic('alice', `guess${i}`), '10.0.0.9')));
  t.equal(calls.length, 3, 'three hashed');
  t.same(results.map((r) => (r.ok ? 'ok' : r.reason)), [...Array(3).fill('auth_failed'), ...Array(7).fill('auth_throttled')]);
  const throttled = results[9] as { retryAfterMs: number };
  t.ok(throttled.retryAfterMs > 59_000 && throttled.retryAfterMs <= 60_000, `while they ran, a full window (${throttled.retryAfterMs} ms)`);
  const off = createAuthenticator({ users: new Map([['alice', { scheme: 'bcrypt' as const, hash, cost: 4 }]]), compare, maxFailures: 0 });
  calls.length = 0;
  await Promise.all(Array.from({ length: 10 }, (_, i) => off.check(basic('alice', `guess${i}`), '10.0.0.9')));
  t.equal(calls.length, 10, 'maxFailures 0: every check hashed');
});

t.test('onResult hears how every check ended, a check joining one in flight included', async (t) => {
  const seen: string[] = [];
  const auth = createAuthenticator({ users, onResult: (o) => seen.push(o), maxFailures: 1, failureWindowMs: 60_000 });
  t.match(await auth.check(undefined), { ok: false, reason: 'auth_required' });
  t.match(await auth.check('Basic !!!'), { ok: false, reason: 'auth_failed' });
  t.match(await auth.check(basic('alice', 'alice-pass')), { ok: true, user: 'alice' });
  t.match(await auth.check(basic('alice', 'alice-pass')), { ok: true, user: 'alice' }, 'cached');
  const joined = await Promise.all([auth.check(basic('bob', 'wrong'), '10.0.0.1'), auth.check(basic('bob', 'wrong'), '10.0.0.1')]);
  t.match(joined, [{ ok: false, reason: 'auth_failed' }, { ok: false, reason: 'auth_failed' }]);
  t.match(await auth.check(basic('bob', 'wrong again'), '10.0.0.1'), { ok: false, reason: 'auth_throttled' });
  t.same(seen, ['auth_required', 'auth_failed', 'ok', 'ok', 'auth_failed', 'auth_failed', 'auth_throttled']);
});

t.test('refusal headers: the Basic challenge, or Retry-After in whole seconds (at least 1)', async (t) => {
  const rows: Array<[Parameters<typeof refusalHeaders>[0], Record<string, string>]> = [
    [{ ok: false, reason: 'auth_required' }, { 'Proxy-Authenticate': PROXY_AUTHENTICATE }],
    [{ ok: false, reason: 'auth_failed', user: 'x' }, { 'Proxy-Authenticate': PROXY_AUTHENTICATE }],
    [{ ok: false, reason: 'auth_throttled', retryAfterMs: 50_000 }, { 'Retry-After': '50' }],
    [{ ok: false, reason: 'auth_throttled', retryAfterMs: 1_001 }, { 'Retry-After': '2' }],
    [{ ok: false, reason: 'auth_throttled', retryAfterMs: 0 }, { 'Retry-After': '1' }],
  ];
  for (const [result, headers] of rows) t.same(refusalHeaders(result), headers, JSON.stringify(result));
});
