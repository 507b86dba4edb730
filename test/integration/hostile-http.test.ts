// Malformed and hostile HTTP against ONE real proxy (in-process, 127.0.0.1:0): a few hundred seeded junk
// requests (duplicates, obs-fold, NUL, overlong, CL/TE conflicts, absurd methods, bad targets…) must each be
// answered 4xx or closed, never reach the origin, never crash; request smuggling must not get a second
// request to the origin. Every destination is mapped to a local origin (--connect-to *), so nothing else is dialled.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { startHttpOrigin } from '../helpers/origins.js';
import { startProxy } from '../helpers/proxy.js';
import { curl } from '../helpers/clients.js';
import { Rng, FUZZ_SEED, fuzzCases, rawHttp, pool, fdCount, settle, settleFds, bug } from '../helpers/fuzz.js';

const origin = await startHttpOrigin();
const proxy = await startProxy({ connectTo: [`*::127.0.0.1:${origin.port}`], connectPorts: '443,8443' });
t.teardown(async () => {
  await proxy.stop();
  await origin.close();
});

const JUNK_CASES = Math.min(600, fuzzCases(0.075)); // 300 by default
const CRLF = '\r\n';
const KNOWN_METHODS = new Set(http.METHODS);

interface Junk {
  family: string;
  data: string | Buffer;
}

/** One definitely-malformed request (RFC 9112), its path carrying `/junk-<i>` so the origin log can be checked. */
function junk(rng: Rng, i: number): Junk {
  const host = rng.pick(['fwd.test', 'x.test', `${rng.str(rng.range(1, 10), 'abcdefghij')}.test`]);
  const path = `/junk-${i}`;
  const url = `http://${host}${path}`;
  const head = (lines: string[], method = 'GET', target = url, version = 'HTTP/1.1') => `${method} ${target} ${version}${CRLF}${lines.join(CRLF)}${CRLF}${CRLF}`;
  const shuffle = <T>(xs: T[]): T[] => (rng.bool() ? xs : [...xs].reverse());
  const family = rng.pick([
    'cl-te', 'two-cl', 'obs-fold', 'nul', 'bare-lf', 'overlong-header', 'overlong-url', 'absurd-method', 'bad-header-name', 'bad-te',
    'bad-chunk', 'bad-target', 'bad-version', 'bad-cl', 'connect-junk', 'upgrade', 'ctl-in-url', 'no-colon',
  ] as const);
  switch (family) {
    case 'cl-te': {
      const te = rng.pick(['chunked', 'Chunked', 'CHUNKED', 'gzip, chunked', 'identity, chunked', 'chunked ']);
      const body = `0${CRLF}${CRLF}GET http://${host}/smuggled-${i} HTTP/1.1${CRLF}Host: ${host}${CRLF}${CRLF}`;
      return { family, data: head([`Host: ${host}`, ...shuffle([`Content-Length: ${rng.pick([4, body.length, 0, 1])}`, `Transfer-Encoding: ${te}`])], 'POST') + body };
    }
    case 'two-cl': {
      const a = rng.range(0, 5);
      const b = rng.bool() ? a : rng.range(0, 5);
      return { family, data: head([`Host: ${host}`, `Content-Length: ${a}`, `X-Filler: ${rng.str(rng.range(0, 20), 'abc')}`, `${rng.pick(['Content-Length', 'content-length', 'CONTENT-LENGTH'])}: ${b}`], 'POST') + 'abcde'.slice(0, Math.max(a, b)) };
    }
    case 'obs-fold':
      return { family, data: head([`Host: ${host}`, `X-Folded: first`, `${rng.pick([' ', '\t', '  '])}${rng.pick(['second', 'Host: evil.test', 'x'])}`]) };
    case 'nul': {
      const clean = head([`Host: ${host}`, `X-A: ${rng.str(8, 'abcdef')}`]);
      const end = clean.length - 4; // somewhere in the head, not in the final blank line
      const at = rng.int(end);
      return { family, data: clean.slice(0, at) + '\0' + clean.slice(at) };
    }
    case 'bare-lf':
      return { family, data: head([`Host: ${host}`, 'X-A: b']).replace(/\r\n/g, rng.pick(['\n', '\r'])) };
    case 'overlong-header':
      return { family, data: head([`Host: ${host}`, `X-Big: ${'a'.repeat(rng.range(17_000, 70_000))}`]) };
    case 'overlong-url':
      return { family, data: head([`Host: ${host}`], 'GET', `${url}?${'q'.repeat(rng.range(17_000, 70_000))}`) };
    case 'absurd-method': {
      let m: string;
      do m = rng.pick([rng.str(rng.range(1, 12), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'), 'get', 'Get', 'G ET', 'GET\x01', '\x01GET', 'GETT', 'CONNECTT', '💥']);
      while (KNOWN_METHODS.has(m));
      return { family, data: head([`Host: ${host}`], m) };
    }
    case 'bad-header-name':
      return { family, data: head([`Host: ${host}`, `${rng.pick(['Bad Header', 'X(a)', '@x', 'X-A ', '{x}', 'X\u00e9', 'X"y', 'a/b', 'X[1]'])}: v`]) };
    case 'bad-te':
      return { family, data: head([`Host: ${host}`, `Transfer-Encoding: ${rng.pick(['gzip', 'identity', 'xchunked', 'chunked, identity', 'chunked, gzip', 'chunkedx'])}`], 'POST') + 'abc' };
    case 'bad-chunk':
      return { family, data: head([`Host: ${host}`, 'Transfer-Encoding: chunked'], 'POST') + rng.pick(['zz\r\nab\r\n0\r\n\r\n', '-1\r\n', 'fffffffffffffffffff\r\n', '3\r\nabcX0\r\n\r\n', '3;\0\r\nabc\r\n0\r\n\r\n', '0x3\r\nabc\r\n0\r\n\r\n']) };
    case 'bad-target':
      return {
        family,
        data: head([`Host: ${host}`], rng.pick(['GET', 'POST', 'HEAD', 'OPTIONS']), rng.pick([path, `https://${host}${path}`, `ftp://${host}${path}`, `http://u:p@${host}${path}`, `http://${host}:0${path}`, `http://${host}:99999${path}`, `http://bad_host!${path}`, `http:///junk-${i}`, `http://[::1${path}`, `//${host}${path}`, `*`, `http://${host}:80:80${path}`, `http://${'a'.repeat(300)}.test${path}`])),
      };
    case 'bad-version':
      return { family, data: head([`Host: ${host}`], 'GET', url, rng.pick(['HTTP/1.2', 'HTTP/1.1x', 'HTTP/01.1', 'http/1.1', 'HTTP/1.', 'HTTP/11', 'HTTPS/1.1', 'HTTP/1.1 extra'])) };
    case 'bad-cl':
      return { family, data: head([`Host: ${host}`, `Content-Length: ${rng.pick(['-1', '+3', '0x10', '1 2', '3.0', 'abc', '', '1,2', '99999999999999999999999'])}`], 'POST') + 'abc' };
    case 'connect-junk': {
      const a = rng.pick(['x.test', 'x.test:0', 'x.test:65536', 'u@x.test:443', 'u:p@x.test:443', '[::1:443', 'x.test:443/path', 'x.test:+443', 'bad_host!:443', 'x.test:22', '[fe80::1%eth0]:443', ':443', 'ü.test:443']);
      return { family, data: `CONNECT ${a} HTTP/1.1${CRLF}Host: ${a}${CRLF}${CRLF}` };
    }
    case 'upgrade':
      return { family, data: head([`Host: ${host}`, 'Connection: Upgrade', `Upgrade: ${rng.pick(['websocket', 'h2c', 'TLS/1.2'])}`]) };
    case 'ctl-in-url':
      return { family, data: head([`Host: ${host}`], 'GET', `${url}${rng.pick(['\x01', '\x7f', ' x', '\x1b[31m', '\t'])}y`) };
    case 'no-colon':
      return { family, data: head([`Host: ${host}`, rng.pick(['NoColonHere', 'X-A', ': empty-name'])]) };
  }
}

t.test(`${JUNK_CASES} seeded malformed requests (seed ${FUZZ_SEED}): 4xx or closed, never reach the origin`, async (t) => {
  const fdsBefore = fdCount();
  const rng = new Rng(FUZZ_SEED);
  const cases = Array.from({ length: JUNK_CASES }, (_, i) => junk(rng.fork(i), i));
  const answers = await pool(cases, 16, (c) => rawHttp(proxy.port, c.data, 3000));
  const failures: string[] = [];
  const byFamily = new Map<string, Map<string, number>>();
  answers.forEach((a, i) => {
    const c = cases[i]!;
    const outcome = a.status ? String(a.status) : a.timedOut ? 'hung' : 'closed';
    const m = byFamily.get(c.family) ?? new Map<string, number>();
    m.set(outcome, (m.get(outcome) ?? 0) + 1);
    byFamily.set(c.family, m);
    if (a.timedOut && a.status === 0) failures.push(`case ${i} (${c.family}): no answer within 3 s: ${JSON.stringify(String(c.data).slice(0, 100))}`);
    else if (a.status !== 0 && (a.status < 400 || a.status > 499)) failures.push(`case ${i} (${c.family}): status ${a.status} for ${JSON.stringify(String(c.data).slice(0, 100))}`);
  });
  t.comment(`outcomes by family: ${JSON.stringify(Object.fromEntries([...byFamily].map(([k, v]) => [k, Object.fromEntries(v)])))}`);
  t.same(failures.slice(0, 10), [], `every junk request answered 4xx or closed (rerun with FUZZ_SEED=${FUZZ_SEED})`);
  // bad-chunk: the head is valid and bodies stream, so the origin may see the head of a request whose body
  // then fails to parse (the upstream request is aborted); every other family must never reach it
  const leaked = origin.seen
    .filter((s) => /\/(junk|smuggled)-/.test(s.url) && cases[Number(/junk-(\d+)/.exec(s.url)?.[1])]?.family !== 'bad-chunk').map((s) => `${s.method} ${s.url} (${cases[Number(/junk-(\d+)/.exec(s.url)?.[1])]?.family})`);
  t.same(leaked.slice(0, 10), [], 'no junk request reached the origin');
  // the proxy still serves a normal client
  const r = await curl(['-x', proxy.url, 'http://fwd.test/tiny']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.toString(), 'tiny\n');
  const fdsAfter = await settleFds(fdsBefore, 4, 5000);
  t.comment(`open fds: ${fdsBefore} before, ${fdsAfter} after`);
  t.ok(fdsAfter <= fdsBefore + 4, `no fd left behind (${fdsBefore} → ${fdsAfter})`);
});

const SMUGGLE = [
  ['CL.TE', 'POST http://fwd.test/tiny HTTP/1.1\r\nHost: fwd.test\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET http://fwd.test/smuggled-cl-te HTTP/1.1\r\nHost: fwd.test\r\n\r\n'],
  ['TE.CL', 'POST http://fwd.test/tiny HTTP/1.1\r\nHost: fwd.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5e\r\nGET http://fwd.test/smuggled-te-cl HTTP/1.1\r\nHost: fwd.test\r\n\r\n\r\n0\r\n\r\n'],
  ['TE.TE', 'POST http://fwd.test/tiny HTTP/1.1\r\nHost: fwd.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: cow\r\nContent-Length: 4\r\n\r\n0\r\n\r\nGET http://fwd.test/smuggled-te-te HTTP/1.1\r\nHost: fwd.test\r\n\r\n'],
  ['CL.CL', 'POST http://fwd.test/tiny HTTP/1.1\r\nHost: fwd.test\r\nContent-Length: 0\r\nContent-Length: 47\r\n\r\nGET http://fwd.test/smuggled-cl-cl HTTP/1.1\r\n\r\n'],
  ['space-TE', 'POST http://fwd.test/tiny HTTP/1.1\r\nHost: fwd.test\r\nContent-Length: 4\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\nGET http://fwd.test/smuggled-space-te HTTP/1.1\r\nHost: fwd.test\r\n\r\n'],
  ['folded-TE', 'POST http://fwd.test/tiny HTTP/1.1\r\nHost: fwd.test\r\nContent-Length: 4\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\nGET http://fwd.test/smuggled-folded-te HTTP/1.1\r\nHost: fwd.test\r\n\r\n'],
] as const;

for (const [name, data] of SMUGGLE) {
  t.test(`smuggling ${name}: 400 and the connection closed; no second request reaches the origin`, async (t) => {
    const before = origin.seen.length;
    const a = await rawHttp(proxy.port, data, 3000);
    t.equal(a.status, 400, a.text.split('\r\n')[0]);
    t.match(a.text, /X-Proxy-Error: bad_request/);
    t.match(a.text, /Connection: close/i);
    t.ok(a.closed || a.text.length > 0, 'answered');
    await new Promise((r) => setTimeout(r, 100));
    t.same(origin.seen.slice(before).map((s) => s.url), [], 'the origin saw nothing');
  });
}

/** A keep-alive connection that has served one GET; then sends `data` and returns all text once closed (≤ 3 s). */
async function servedKeepAlive(): Promise<{ served: boolean; sendUntilClosed(data: string): Promise<string> }> {
  const s = net.connect(proxy.port, '127.0.0.1');
  let text = '';
  s.setEncoding('latin1');
  s.on('data', (c: string) => (text += c));
  s.on('error', () => {});
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  s.write('GET http://fwd.test/tiny HTTP/1.1\r\nHost: fwd.test\r\n\r\n');
  const served = await settle(() => text.includes('tiny\n'), 3000);
  return {
    served,
    async sendUntilClosed(data) {
      s.write(data);
      const timer = setTimeout(() => s.destroy(), 3000);
      await closed;
      clearTimeout(timer);
      return text;
    },
  };
}

t.test('a valid request pipelined after a rejected one is never processed (the proxy closes after 400)', async (t) => {
  const before = origin.seen.length;
  const conn = await servedKeepAlive();
  t.ok(conn.served, 'the first request is served on a keep-alive connection');
  const text = await conn.sendUntilClosed('GET http://fwd.test/\0bad HTTP/1.1\r\nHost: fwd.test\r\n\r\nGET http://fwd.test/smuggled-after-400 HTTP/1.1\r\nHost: fwd.test\r\n\r\n');
  t.equal(text.match(/^HTTP\/1\.1 /gm)?.length ?? 0, text.includes(' 400 ') ? 2 : 1, 'the connection is closed after the junk');
  t.same(origin.seen.slice(before).map((x) => x.url), ['/tiny'], 'only the first reached the origin');
});

t.test(
  'a malformed request on a keep-alive connection that already served one is answered 400, not a bare close',
  async (t) => {
    const conn = await servedKeepAlive();
    const text = await conn.sendUntilClosed('GET http://fwd.test/\0bad HTTP/1.1\r\nHost: fwd.test\r\n\r\n');
    t.match(text, /HTTP\/1\.1 400 [^]*X-Proxy-Error: bad_request/);
  },
);

t.test('requests pipelined in one segment with junk in the middle: the junk and what follows never reach the origin', async (t) => {
  const before = origin.seen.length;
  await rawHttp(proxy.port, [
    'GET http://fwd.test/tiny HTTP/1.1\r\nHost: fwd.test\r\n\r\nGET http://fwd.test/\0bad HTTP/1.1\r\nHost: fwd.test\r\n\r\n',
    'GET http://fwd.test/smuggled-after-400 HTTP/1.1\r\nHost: fwd.test\r\n\r\n',
  ]);
  await new Promise((r) => setTimeout(r, 300));
  t.same(origin.seen.slice(before).map((x) => x.url).filter((u) => u !== '/tiny'), [], 'nothing after the junk reached the origin');
});

t.test('a chunked POST is forwarded with one framing: the origin sees exactly one request with the whole body', async (t) => {
  const before = origin.seen.length;
  const a = await rawHttp(proxy.port, 'POST http://fwd.test/echo HTTP/1.1\r\nHost: fwd.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n', 3000);
  t.equal(a.status, 200);
  t.match(a.text, /hello[^]*world/);
  t.same(origin.seen.slice(before).map((s) => s.url), ['/echo']);
});

// RFC conformance of the forward path (Host, Connection: fixed in 2d4f5b5; the remaining bugs are kept as
// todo so the suite stays green, see SECURITY.md "Findings").
t.test(
  'the Host header of an absolute-form request is replaced by the URL authority (RFC 9112 §3.2.2)',
  async (t) => {
    const before = origin.seen.length;
    const a = await rawHttp(proxy.port, 'GET http://fwd.test/headers HTTP/1.1\r\nHost: evil.test\r\n\r\n');
    t.equal(a.status, 200);
    t.equal(origin.seen[before]?.headers.host, 'fwd.test');
  },
);

t.test(
  'two Host headers → 400 (RFC 9112 §3.2)',
  async (t) => {
    const before = origin.seen.length;
    const a = await rawHttp(proxy.port, 'GET http://fwd.test/dup-host HTTP/1.1\r\nHost: fwd.test\r\nHost: evil.test\r\n\r\n');
    t.equal(a.status, 400);
    t.equal(origin.seen.length, before, 'not forwarded');
  },
);

t.test(
  'a request without Host gets the proxy\'s own 400 (X-Proxy-Error and a record)',
  async (t) => {
    const a = await rawHttp(proxy.port, 'GET http://fwd.test/no-host HTTP/1.1\r\n\r\n');
    t.equal(a.status, 400);
    t.match(a.text, /X-Proxy-Error: bad_request/);
    await proxy.waitFor('request', 1, (r) => r.url === 'http://fwd.test/no-host' && r.reason === 'bad_request');
  },
);

t.test(
  '"Connection: close" from the client is honoured: the proxy closes after the answer',
  async (t) => {
    const a = await rawHttp(proxy.port, 'GET http://fwd.test/tiny HTTP/1.1\r\nHost: fwd.test\r\nConnection: close\r\n\r\n', 2000);
    t.equal(a.status, 200);
    t.notMatch(a.text, /Connection: keep-alive/i, 'no keep-alive promised');
    // rawHttp returns at the end of the body; wait for the close itself
    const closed = await new Promise<boolean>((resolve) => {
      const s = net.connect(proxy.port, '127.0.0.1');
      const timer = setTimeout(() => {
        s.destroy();
        resolve(false);
      }, 1500);
      s.on('error', () => {});
      s.on('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
      s.resume();
      s.write('GET http://fwd.test/tiny HTTP/1.1\r\nHost: fwd.test\r\nConnection: close\r\n\r\n');
    });
    t.ok(closed, 'closed within 1.5 s (keep-alive timeout is 5 s)');
  },
);

t.test(
  'an absolute URL with an empty path is forwarded as "/?query" (RFC 9112 §3.2.1)',
  async (t) => {
    const before = origin.seen.length;
    const a = await rawHttp(proxy.port, 'GET http://fwd.test?q=1 HTTP/1.1\r\nHost: fwd.test\r\n\r\n');
    t.equal(a.status, 404, 'the origin answered its 404 for "/"');
    t.equal(origin.seen[before]?.url, '/?q=1');
  },
);

t.test(
  'CONNECT with a body (Content-Length) → 400',
  async (t) => {
    const a = await rawHttp(proxy.port, 'CONNECT x.test:443 HTTP/1.1\r\nHost: x.test:443\r\nContent-Length: 10\r\n\r\n0123456789');
    t.equal(a.status, 400);
  },
);
