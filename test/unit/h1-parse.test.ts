// Table-driven tests of the HTTP/1.1 framing module (pure): request/response heads incl. the smuggling classics,
// Content-Length/Transfer-Encoding framing, and the chunked scanner split at every byte plus a seeded random run.
import t from 'tap';
import {
  parseRequestHead, parseResponseHead, requestFraming, responseFraming, fieldTokens, keepAliveTimeout, ChunkedScanner,
  type H1Head, type HeadResult, type FramingResult,
} from '../../src/tunnel/h1-parse.js';
import { Rng } from '../helpers/fuzz.js';

const L = (s: string) => Buffer.from(s, 'latin1');
const req = (s: string, max = 8192) => parseRequestHead(L(s), max);
const res = (s: string, max = 8192) => parseResponseHead(L(s), max);
const headOf = (r: HeadResult): H1Head => {
  if (r.kind !== 'head') throw new Error(`not a head: ${JSON.stringify(r)}`);
  return r.head;
};
const H = (over: Partial<H1Head>): H1Head => ({ method: '', target: '', status: 0, statusText: '', minor: 1, headers: [], ...over });

// ---- request heads ----
const okRequests: [string, string, H1Head, number?][] = [
  ['simple', 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', H({ method: 'GET', target: '/', headers: [['Host', 'a']] })],
  ['HTTP/1.0, absolute-form, no fields', 'GET http://a/b?c=d HTTP/1.0\r\n\r\n', H({ method: 'GET', target: 'http://a/b?c=d', minor: 0 })],
  ['one leading CRLF is skipped and counted', '\r\nPOST /x HTTP/1.1\r\n\r\n', H({ method: 'POST', target: '/x' })],
  ['asterisk-form', 'OPTIONS * HTTP/1.1\r\n\r\n', H({ method: 'OPTIONS', target: '*' })],
  ['method is case-sensitive and kept', 'get / HTTP/1.1\r\n\r\n', H({ method: 'get', target: '/' })],
  ['extension method', 'M-SEARCH * HTTP/1.1\r\n\r\n', H({ method: 'M-SEARCH', target: '*' })],
  [
    'OWS trimmed, inner spaces kept, names as sent, order kept',
    'GET / HTTP/1.1\r\ncontent-LENGTH:  \t 5 \t\r\nX-A:v a\tl\r\nX-Empty:\r\nX-Sp:   \r\nx-a: 2\r\n\r\n',
    H({ method: 'GET', target: '/', headers: [['content-LENGTH', '5'], ['X-A', 'v a\tl'], ['X-Empty', ''], ['X-Sp', ''], ['x-a', '2']] }),
  ],
  ['obs-text value (latin1), NBSP not trimmed', 'GET / HTTP/1.1\r\nX: caf\xe9\xa0\r\n\r\n', H({ method: 'GET', target: '/', headers: [['X', 'caf\xe9\xa0']] })],
  ['token chars in name', "GET / HTTP/1.1\r\n!#$%&'*+-.^_`|~09az:v\r\n\r\n", H({ method: 'GET', target: '/', headers: [["!#$%&'*+-.^_`|~09az", 'v']] })],
];
for (const [name, input, head, length = input.length] of okRequests) {
  t.test(`request head: ${name}`, async (t) => {
    t.same(req(input), { kind: 'head', head, length });
    t.same(req(input + 'BODY\r\n\r\nmore'), { kind: 'head', head, length }, 'bytes after the head are not counted');
  });
}

const badRequests: [string, string][] = [
  ['bare LF line endings', 'GET / HTTP/1.1\nHost: a\n\n'],
  ['bare LF line endings, terminator not yet seen', 'GET / HTTP/1.1\nHost: a\n'],
  ['bare LF as the first byte', '\nGET / HTTP/1.1\r\n\r\n'],
  ['bare LF inside a field line', 'GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n'],
  ['bare LF before the terminator', 'GET / HTTP/1.1\r\nA: b\n\r\n\r\n'],
  ['bare CR inside a value', 'GET / HTTP/1.1\r\nA: b\rc\r\n\r\n'],
  ['bare CR, terminator not yet seen', 'GET / HTTP/1.1\r\nA: b\rc'],
  ['NUL in a value', 'GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n'],
  ['CTL 0x01 in a value', 'GET / HTTP/1.1\r\nA: \x01\r\n\r\n'],
  ['DEL in a value', 'GET / HTTP/1.1\r\nA: \x7f\r\n\r\n'],
  ['obs-fold (SP)', 'GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n'],
  ['obs-fold (HTAB)', 'GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n'],
  ['space before colon', 'GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\n'],
  ['HTAB before colon', 'GET / HTTP/1.1\r\nTransfer-Encoding\t: chunked\r\n\r\n'],
  ['empty field name', 'GET / HTTP/1.1\r\n: x\r\n\r\n'],
  ['no colon', 'GET / HTTP/1.1\r\nHost a\r\n\r\n'],
  ['non-token name', 'GET / HTTP/1.1\r\nX@Y: 1\r\n\r\n'],
  ['obs-text name', 'GET / HTTP/1.1\r\nX\xe9: 1\r\n\r\n'],
  ['two leading CRLFs', '\r\n\r\nGET / HTTP/1.1\r\n\r\n'],
  ['two leading CRLFs, nothing else yet', '\r\n\r\n'],
  ['leading SP', ' GET / HTTP/1.1\r\n\r\n'],
  ['double SP after method', 'GET  / HTTP/1.1\r\n\r\n'],
  ['double SP before version', 'GET /  HTTP/1.1\r\n\r\n'],
  ['trailing SP', 'GET / HTTP/1.1 \r\n\r\n'],
  ['HTAB separator', 'GET\t/ HTTP/1.1\r\n\r\n'],
  ['lower-case version', 'GET / http/1.1\r\n\r\n'],
  ['HTTP/1.2', 'GET / HTTP/1.2\r\n\r\n'],
  ['HTTP/2.0', 'GET / HTTP/2.0\r\n\r\n'],
  ['HTTP/1', 'GET / HTTP/1\r\n\r\n'],
  ['HTTP/0.9 style', 'GET /\r\n\r\n'],
  ['missing target', 'GET HTTP/1.1\r\n\r\n'],
  ['non-ASCII target', 'GET /caf\xe9 HTTP/1.1\r\n\r\n'],
  ['non-token method', 'GE(T / HTTP/1.1\r\n\r\n'],
  ['empty request line after one CRLF', '\r\n \r\n\r\n'],
];
for (const [name, input] of badRequests) {
  t.test(`request head rejected: ${name}`, async (t) => {
    t.match(req(input), { kind: 'error', reason: 'bad_request', detail: String });
  });
}

t.test('incomplete request heads', async (t) => {
  for (const input of ['', '\r', '\r\n', '\r\n\r', 'G', 'GET / HTTP/1.1', 'GET / HTTP/1.1\r', 'GET / HTTP/1.1\r\n', 'GET / HTTP/1.1\r\nHost: a\r\n\r']) {
    t.same(req(input), { kind: 'incomplete' }, JSON.stringify(input));
  }
  const full = 'GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n';
  for (let i = 0; i < full.length; i++) t.same(req(full.slice(0, i)), { kind: 'incomplete' }, `prefix ${i}`);
});

t.test('headers_too_large at the exact boundary (leading CRLF counts)', async (t) => {
  const head = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n';
  const n = head.length;
  t.match(req(head, n), { kind: 'head', length: n }, 'head of exactly maxBytes');
  t.match(req(head + 'body', n), { kind: 'head', length: n }, 'body bytes beyond maxBytes do not matter');
  t.match(req(head, n - 1), { kind: 'error', reason: 'headers_too_large' }, 'one byte over');
  t.match(req(head.slice(0, n - 1), n), { kind: 'incomplete' }, 'maxBytes-1 bytes, no terminator yet');
  t.match(req(head.slice(0, n - 1), n - 1), { kind: 'error', reason: 'headers_too_large' }, 'maxBytes bytes without a terminator');
  t.match(req('\r\n' + head, n + 2), { kind: 'head', length: n + 2 });
  t.match(req('\r\n' + head, n + 1), { kind: 'error', reason: 'headers_too_large' });
  t.match(req('GET / HTTP/1.1\r\nX: ' + 'a'.repeat(100000), 8192), { kind: 'error', reason: 'headers_too_large' });
  t.match(res('HTTP/1.1 200 OK\r\n\r\n', 18), { kind: 'error', reason: 'headers_too_large' });
  t.match(res('HTTP/1.1 200 OK\r\n\r\n', 19), { kind: 'head', length: 19 });
});

// ---- response heads ----
const okResponses: [string, string, H1Head][] = [
  ['simple', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', H({ status: 200, statusText: 'OK', headers: [['Content-Length', '0']] })],
  ['no reason, no SP', 'HTTP/1.1 200\r\n\r\n', H({ status: 200 })],
  ['empty reason', 'HTTP/1.1 204 \r\n\r\n', H({ status: 204 })],
  ['HTTP/1.0, reason with SP, HTAB, obs-text', 'HTTP/1.0 404 Not  Found\t(\xe9) \r\n\r\n', H({ status: 404, statusText: 'Not  Found\t(\xe9) ', minor: 0 })],
  ['1xx', 'HTTP/1.1 100 Continue\r\n\r\n', H({ status: 100, statusText: 'Continue' })],
  ['999', 'HTTP/1.1 999 X\r\n\r\n', H({ status: 999, statusText: 'X' })],
];
for (const [name, input, head] of okResponses) {
  t.test(`response head: ${name}`, async (t) => {
    t.same(res(input + 'body'), { kind: 'head', head, length: input.length });
  });
}

const badResponses: [string, string][] = [
  ['status 099', 'HTTP/1.1 099 X\r\n\r\n'],
  ['two digits', 'HTTP/1.1 20 OK\r\n\r\n'],
  ['four digits', 'HTTP/1.1 2000 OK\r\n\r\n'],
  ['non-digit status', 'HTTP/1.1 abc OK\r\n\r\n'],
  ['double SP', 'HTTP/1.1  200 OK\r\n\r\n'],
  ['NUL in reason', 'HTTP/1.1 200 O\x00K\r\n\r\n'],
  ['lower-case version', 'http/1.1 200 OK\r\n\r\n'],
  ['HTTP/2', 'HTTP/2 200 OK\r\n\r\n'],
  ['leading CRLF (requests only)', '\r\nHTTP/1.1 200 OK\r\n\r\n'],
  ['empty head', '\r\n\r\n'],
  ['obs-fold', 'HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n'],
  ['bare LF', 'HTTP/1.1 200 OK\nContent-Length: 0\n\n'],
  ['space before colon', 'HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\n\r\n'],
];
for (const [name, input] of badResponses) {
  t.test(`response head rejected: ${name}`, async (t) => {
    t.match(res(input), { kind: 'error', reason: 'bad_request' });
  });
}

// ---- framing ----
const rq = (fields: string, version = '1.1') => headOf(req(`POST / HTTP/${version}\r\n${fields}\r\n`));
const rs = (status: number, fields: string, version = '1.1') => headOf(res(`HTTP/${version} ${status} X\r\n${fields}\r\n`));
const NONE = { kind: 'none' };
const CHUNKED = { kind: 'chunked' };
const CLOSE = { kind: 'close' };
const len = (length: number) => ({ kind: 'length', length });
const ERR = { kind: 'error' };

const requestRows: [string, string, string, object][] = [
  ['no body fields', '', '1.1', NONE],
  ['CL 0', 'Content-Length: 0\r\n', '1.1', len(0)],
  ['CL 5 among other fields', 'Host: a\r\ncontent-length: 5\r\nX: y\r\n', '1.1', len(5)],
  ['CL with OWS', 'Content-Length: \t 5 \r\n', '1.1', len(5)],
  ['CL list of equal values', 'Content-Length: 5, 5\r\n', '1.1', len(5)],
  ['CL "5 ,5"', 'Content-Length: 5 ,5\r\n', '1.1', len(5)],
  ['CL duplicate fields, same value', 'Content-Length: 5\r\nContent-Length: 5\r\n', '1.1', len(5)],
  ['CL leading zeros compare numerically', 'Content-Length: 005\r\nContent-Length: 5\r\n', '1.1', len(5)],
  ['CL max safe integer', 'Content-Length: 9007199254740991\r\n', '1.1', len(Number.MAX_SAFE_INTEGER)],
  ['CL on HTTP/1.0', 'Content-Length: 3\r\n', '1.0', len(3)],
  ['CL +5', 'Content-Length: +5\r\n', '1.1', ERR],
  ['CL -1', 'Content-Length: -1\r\n', '1.1', ERR],
  ['CL "5 5"', 'Content-Length: 5 5\r\n', '1.1', ERR],
  ['CL differing list', 'Content-Length: 5, 6\r\n', '1.1', ERR],
  ['CL duplicate differing fields', 'Content-Length: 5\r\nContent-Length: 6\r\n', '1.1', ERR],
  ['CL empty element', 'Content-Length: 5,\r\n', '1.1', ERR],
  ['CL empty', 'Content-Length:\r\n', '1.1', ERR],
  ['CL hex', 'Content-Length: 0x5\r\n', '1.1', ERR],
  ['CL exponent', 'Content-Length: 1e3\r\n', '1.1', ERR],
  ['CL decimal', 'Content-Length: 5.0\r\n', '1.1', ERR],
  ['CL 2^53', 'Content-Length: 9007199254740992\r\n', '1.1', ERR],
  ['CL huge', `Content-Length: ${'9'.repeat(400)}\r\n`, '1.1', ERR],
  ['TE chunked', 'Transfer-Encoding: chunked\r\n', '1.1', CHUNKED],
  ['TE Chunked (case-insensitive)', 'transfer-encoding: Chunked\r\n', '1.1', CHUNKED],
  ['TE gzip, chunked', 'Transfer-Encoding: gzip, chunked\r\n', '1.1', CHUNKED],
  ['TE over two fields', 'Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n', '1.1', CHUNKED],
  ['TE xchunked', 'Transfer-Encoding: xchunked\r\n', '1.1', ERR],
  ['TE chunked, identity', 'Transfer-Encoding: chunked, identity\r\n', '1.1', ERR],
  ['TE chunked twice', 'Transfer-Encoding: chunked, chunked\r\n', '1.1', ERR],
  ['TE chunked twice over fields', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '1.1', ERR],
  ['TE identity', 'Transfer-Encoding: identity\r\n', '1.1', ERR],
  ['TE empty', 'Transfer-Encoding:\r\n', '1.1', ERR],
  ['TE with parameter', 'Transfer-Encoding: chunked;q=1\r\n', '1.1', ERR],
  ['CL + TE', 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', '1.1', ERR],
  ['TE + CL', 'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', '1.1', ERR],
  ['TE on HTTP/1.0', 'Transfer-Encoding: chunked\r\n', '1.0', ERR],
];
for (const [name, fields, version, want] of requestRows) {
  t.test(`requestFraming: ${name}`, async (t) => {
    const r: FramingResult = requestFraming(rq(fields, version));
    if (want === ERR) t.match(r, { kind: 'error', detail: String });
    else t.same(r, want);
  });
}

const responseRows: [string, number, string, string, string, object][] = [
  ['HEAD ignores CL', 200, 'Content-Length: 5\r\n', 'HEAD', '1.1', NONE],
  ['HEAD ignores bad TE', 200, 'Transfer-Encoding: chunked, identity\r\n', 'HEAD', '1.1', NONE],
  ['204 ignores CL', 204, 'Content-Length: 5\r\n', 'GET', '1.1', NONE],
  ['304 ignores TE', 304, 'Transfer-Encoding: chunked\r\n', 'GET', '1.1', NONE],
  ['100', 100, '', 'POST', '1.1', NONE],
  ['101', 101, 'Content-Length: 5\r\n', 'GET', '1.1', NONE],
  ['lower-case head is not HEAD', 200, 'Content-Length: 5\r\n', 'head', '1.1', len(5)],
  ['CL', 200, 'Content-Length: 5\r\n', 'GET', '1.1', len(5)],
  ['CL 0', 404, 'Content-Length: 0\r\n', 'GET', '1.1', len(0)],
  ['CL on HTTP/1.0', 200, 'Content-Length: 7\r\n', 'GET', '1.0', len(7)],
  ['no fields', 200, '', 'GET', '1.1', CLOSE],
  ['no fields, 205', 205, '', 'GET', '1.1', CLOSE],
  ['TE chunked', 200, 'Transfer-Encoding: chunked\r\n', 'GET', '1.1', CHUNKED],
  ['TE gzip, chunked', 200, 'Transfer-Encoding: gzip, CHUNKED\r\n', 'GET', '1.1', CHUNKED],
  ['TE gzip', 200, 'Transfer-Encoding: gzip\r\n', 'GET', '1.1', CLOSE],
  ['TE xchunked', 200, 'Transfer-Encoding: xchunked\r\n', 'GET', '1.1', CLOSE],
  ['TE chunked, gzip', 200, 'Transfer-Encoding: chunked, gzip\r\n', 'GET', '1.1', ERR],
  ['TE chunked twice', 200, 'Transfer-Encoding: chunked, chunked\r\n', 'GET', '1.1', ERR],
  ['TE empty', 200, 'Transfer-Encoding: ,\r\n', 'GET', '1.1', ERR],
  ['TE + CL', 200, 'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', 'GET', '1.1', ERR],
  ['TE on HTTP/1.0', 200, 'Transfer-Encoding: chunked\r\n', 'GET', '1.0', ERR],
  ['CL +5', 200, 'Content-Length: +5\r\n', 'GET', '1.1', ERR],
  ['CL differing', 200, 'Content-Length: 5\r\nContent-Length: 50\r\n', 'GET', '1.1', ERR],
];
for (const [name, status, fields, method, version, want] of responseRows) {
  t.test(`responseFraming: ${name}`, async (t) => {
    const r = responseFraming(rs(status, fields, version), method);
    if (want === ERR) t.match(r, { kind: 'error', detail: String });
    else t.same(r, want);
  });
}

t.test('fieldTokens', async (t) => {
  const h = rq('Connection: keep-alive , Upgrade\r\nX: 1\r\nconnection: ,, close,\t\r\nCONNECTION:\r\n');
  t.same(fieldTokens(h, 'connection'), ['keep-alive', 'Upgrade', 'close']);
  t.same(fieldTokens(h, 'CONNECTION'), ['keep-alive', 'Upgrade', 'close']);
  t.same(fieldTokens(h, 'x'), ['1']);
  t.same(fieldTokens(h, 'missing'), []);
});

t.test('keepAliveTimeout: the idle time an origin announces', async (t) => {
  const cases: Array<[string, number | null]> = [
    ['Keep-Alive: timeout=5, max=100\r\n', 5],
    ['keep-alive: max=100, TIMEOUT = 7\r\n', 7],
    ['Keep-Alive: timeout="9"\r\n', 9],
    ['Keep-Alive: timeout=5\r\nKeep-Alive: timeout=3\r\n', 3],
    ['Keep-Alive: timeout=0\r\n', 0],
    ['Keep-Alive: max=100\r\n', null],
    ['Keep-Alive: timeout=abc\r\n', null],
    ['Keep-Alive: timeout=-1\r\n', null],
    ['Keep-Alive: timeout=1.5\r\n', null],
    ['X-Keep-Alive: timeout=5\r\n', null],
    ['', null],
  ];
  for (const [fields, want] of cases) t.equal(keepAliveTimeout(rq(fields)), want, JSON.stringify(fields));
});

// ---- chunked bodies ----
type Push = ReturnType<ChunkedScanner['push']>;
const MSG = L(
  '4;ext=1;q="a b\t;\xe9"\r\nWiki\r\n5 ;x\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n' +
  '000;last\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-T:\t v\xe9 \r\nx:\r\n\r\n',
);
const AFTER = L('GET /next HTTP/1.1\r\n\r\n');

/** Feeds `pieces` (each copied into its own Buffer, so no look-back is possible) and sums what was consumed. */
function feed(pieces: Buffer[]): { consumed: number; doneAt: number; results: Push[] } {
  const s = new ChunkedScanner();
  let consumed = 0;
  let doneAt = -1;
  const results: Push[] = [];
  pieces.forEach((p, i) => {
    const r = s.push(Buffer.from(p), 0, p.length);
    results.push(r);
    if ('error' in r) return;
    consumed += r.consumed;
    if (r.done && doneAt < 0) doneAt = i;
  });
  return { consumed, doneAt, results };
}

t.test('whole chunked message, then nothing more', async (t) => {
  const s = new ChunkedScanner();
  t.same(s.push(MSG, 0, MSG.length), { consumed: MSG.length, done: true });
  t.same(s.push(AFTER, 0, AFTER.length), { consumed: 0, done: true });
  t.same(new ChunkedScanner().push(L('0\r\n\r\n'), 0, 5), { consumed: 5, done: true }, 'empty body');
  t.same(new ChunkedScanner().push(MSG, 0, 0), { consumed: 0, done: false }, 'empty push');
});

t.test('bytes after the end are not consumed; start offset honoured', async (t) => {
  const buf = Buffer.concat([L('xyz'), MSG, AFTER]);
  t.same(new ChunkedScanner().push(buf, 3, buf.length), { consumed: MSG.length, done: true });
  t.same(new ChunkedScanner().push(buf, 3, 3 + MSG.length - 1), { consumed: MSG.length - 1, done: false });
});

t.test('split at every byte boundary', async (t) => {
  const whole = Buffer.concat([MSG, AFTER]);
  let bad = 0;
  for (let k = 0; k <= whole.length; k++) {
    const r = feed([whole.subarray(0, k), whole.subarray(k)]);
    const wantDoneAt = k >= MSG.length ? 0 : 1;
    if (r.consumed !== MSG.length || r.doneAt !== wantDoneAt) {
      bad++;
      t.fail(`split at ${k}: ${JSON.stringify(r)}`);
    }
  }
  t.equal(bad, 0);
});

t.test('1-byte feeding', async (t) => {
  const whole = Buffer.concat([MSG, AFTER]);
  const r = feed(Array.from(whole, (_, i) => whole.subarray(i, i + 1)));
  t.equal(r.consumed, MSG.length);
  t.equal(r.doneAt, MSG.length - 1);
  t.ok(r.results.slice(0, MSG.length - 1).every((x) => 'consumed' in x && x.consumed === 1 && !x.done));
  t.ok(r.results.slice(MSG.length).every((x) => 'consumed' in x && x.consumed === 0 && x.done));
});

t.test('data is skipped in bulk (a huge chunk in 1 MiB pieces)', async (t) => {
  const s = new ChunkedScanner();
  const size = L('1FFFFFFFFFFFFF\r\n'); // 2^53-1, the largest accepted
  t.same(s.push(size, 0, size.length), { consumed: size.length, done: false });
  const mib = Buffer.alloc(1 << 20, 0x0d);
  for (let i = 0; i < 64; i++) t.same(s.push(mib, 0, mib.length), { consumed: mib.length, done: false });
});

const hugeLine = (n: number) => `5;${'a'.repeat(n - 2)}\r\nhello\r\n0\r\n\r\n`;
const trailers = (lines: number, each: number) => `0\r\n${`A:${'v'.repeat(each - 2)}\r\n`.repeat(lines)}\r\n`;
const chunkedOk: [string, string][] = [
  ['size line of exactly 4096 bytes', hugeLine(4096)],
  ['trailer line of exactly 8192 bytes', trailers(1, 8192)],
  ['trailers of exactly 65536 bytes', trailers(8, 8192)],
  ['upper/lower-case hex, leading zeros', '0000A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n'],
  ['BWS before an extension', '1 \t ;a=b\r\nx\r\n0 ;z\r\n\r\n'],
];
for (const [name, body] of chunkedOk) {
  t.test(`chunked accepted: ${name}`, async (t) => {
    t.same(new ChunkedScanner().push(L(body), 0, body.length), { consumed: body.length, done: true });
  });
}

const chunkedBad: [string, string][] = [
  ['no chunk size', '\r\nhello\r\n0\r\n\r\n'],
  ['extension without size', ';x\r\n'],
  ['non-hex size', 'g\r\n'],
  ['negative size', '-5\r\n'],
  ['signed size', '+5\r\n'],
  ['0x prefix', '0x5\r\n'],
  ['size 2^53', '20000000000000\r\n'],
  ['size of 40 hex digits', `${'f'.repeat(40)}\r\n`],
  ['whitespace after size without extension', '5 \r\nhello\r\n0\r\n\r\n'],
  ['whitespace inside size', '5 5\r\n'],
  ['bare LF after size', '5\nhello\r\n0\r\n\r\n'],
  ['bare CR after size', '5\rhello'],
  ['bare LF after last-chunk', '0\n\r\n'],
  ['bare LF in extension', '5;a\nb\r\n'],
  ['NUL in extension', '5;a\x00\r\n'],
  ['size line of 4097 bytes', hugeLine(4097)],
  ['data longer than size', '5\r\nhelloX\r\n0\r\n\r\n'],
  ['bare CR after data', '5\r\nhello\rX'],
  ['bare LF after data', '5\r\nhello\n0\r\n\r\n'],
  ['bare LF in trailer', '0\r\nA: b\n\r\n'],
  ['bare CR in trailer', '0\r\nA: b\rc\r\n\r\n'],
  ['bare LF for the final CRLF', '0\r\nA: b\r\n\n'],
  ['bare CR at the end', '0\r\n\rX'],
  ['obs-fold trailer', '0\r\nA: b\r\n c\r\n\r\n'],
  ['space before colon in trailer', '0\r\nA : b\r\n\r\n'],
  ['trailer without colon', '0\r\nA\r\n\r\n'],
  ['trailer with empty name', '0\r\n: b\r\n\r\n'],
  ['NUL in trailer value', '0\r\nA: b\x00\r\n\r\n'],
  ['DEL in trailer value', '0\r\nA: \x7f\r\n\r\n'],
  ['trailer line of 8193 bytes', trailers(1, 8193)],
  ['trailer name too long', `0\r\n${'A'.repeat(8193)}:\r\n\r\n`],
  ['trailers over the limit at a line start', `${trailers(8, 8192).slice(0, -2)}B:\r\n\r\n`],
  ['trailers over the limit in a name', `${trailers(7, 8192).slice(0, -2)}A:${'v'.repeat(8189)}\r\nB:\r\n\r\n`],
  ['trailers over the limit in a value', `${trailers(7, 8192).slice(0, -2)}A:${'v'.repeat(8188)}\r\nB:x\r\n\r\n`],
];
for (const [name, body] of chunkedBad) {
  t.test(`chunked rejected: ${name}`, async (t) => {
    const s = new ChunkedScanner();
    const r = s.push(L(body), 0, body.length);
    t.match(r, { error: String });
    t.same(s.push(L('0\r\n\r\n'), 0, 5), r, 'the error sticks');
    const b = L(body);
    const bytewise = feed(Array.from(b, (_, i) => b.subarray(i, i + 1)));
    t.ok(bytewise.results.some((x) => 'error' in x) && bytewise.doneAt < 0, 'also rejected when fed byte by byte');
  });
}

t.test('seeded random chunked bodies in random slices', async (t) => {
  const rng = new Rng(0x0c4a11ed);
  const hex = (n: number) => {
    const h = n.toString(16);
    return '0'.repeat(rng.bool(0.1) ? rng.range(1, 3) : 0) + (rng.bool() ? h.toUpperCase() : h);
  };
  const ext = () => (rng.bool(0.3) ? `${rng.bool(0.2) ? ' ' : ''};${rng.str(rng.range(1, 6), 'abc')}${rng.bool() ? `="${rng.str(rng.range(0, 8), 'x y\t;=,')}"` : ''}` : '');
  let failures = 0;
  for (let c = 0; c < 500; c++) {
    const parts: Buffer[] = [];
    for (let n = rng.int(6); n > 0; n--) {
      const size = rng.bool(0.05) ? rng.range(1000, 70000) : rng.range(1, 300);
      parts.push(L(`${hex(size)}${ext()}\r\n`), rng.bytes(size), L('\r\n'));
    }
    parts.push(L(`${rng.bool(0.2) ? '000' : '0'}${ext()}\r\n`));
    for (let n = rng.bool(0.3) ? rng.range(1, 3) : 0; n > 0; n--) {
      parts.push(L(`${rng.str(rng.range(1, 10), 'Xx-_09')}:${rng.str(rng.range(0, 20), ' \tabc,;=\xe9')}\r\n`));
    }
    parts.push(L('\r\n'));
    const msg = Buffer.concat(parts);
    const whole = Buffer.concat([msg, rng.bytes(rng.int(10))]);
    const pieces: Buffer[] = [];
    for (let at = 0; at < whole.length;) {
      const n = rng.bool(0.2) ? rng.range(0, 3) : rng.range(1, 2000);
      pieces.push(whole.subarray(at, at + n));
      at += n;
    }
    const r = feed(pieces);
    const errored = r.results.some((x) => 'error' in x);
    if (errored || r.consumed !== msg.length || r.doneAt < 0) {
      failures++;
      t.fail(`case ${c}: ${JSON.stringify({ consumed: r.consumed, want: msg.length, doneAt: r.doneAt, errored })}`);
    }
  }
  t.equal(failures, 0, '500 random bodies scanned exactly');
});
