// Table-driven tests of CONNECT authority and absolute-URL parsing (pure).
import t from 'tap';
import { parseAuthority, parseAbsoluteUrl, redactUrl } from '../../src/proxy/target.js';

const ok: [string, string, number, boolean][] = [
  ['example.com:443', 'example.com', 443, false],
  ['EXAMPLE.com.:443', 'example.com', 443, false],
  ['a-b_c.example.com:8443', 'a-b_c.example.com', 8443, false],
  ['1.2.3.4:443', '1.2.3.4', 443, true],
  ['[2603:1006::1]:443', '2603:1006::1', 443, true],
  ['[::ffff:1.2.3.4]:443', '::ffff:1.2.3.4', 443, true],
  ['x.co:1', 'x.co', 1, false],
  ['x.co:65535', 'x.co', 65535, false],
];
for (const [input, host, port, isIp] of ok) {
  t.test(`accepts ${input}`, async (t) => {
    t.same(parseAuthority(input), { ok: true, target: { host, port, isIp } });
  });
}

const bad = [
  '', 'example.com', 'example.com:', 'example.com:0', 'example.com:65536', 'example.com:-1', 'example.com:44a', 'example.com:+443',
  'exa mple.com:443', 'ex%41mple.com:443', 'user@example.com:443', '::1:443', '[::1:443', '[::1]x:443', '[fe80::1%eth0]:443',
  '-bad.com:443', 'bad-.com:443', 'a..b:443', '999.1.1.1:443', '1.2.3:443', `${'a'.repeat(64)}.com:443`, 'exämple.com:443',
  'example.com:443:443', '[]:443', 'http://example.com:443',
];
for (const input of bad) {
  t.test(`rejects ${JSON.stringify(input)}`, async (t) => {
    t.equal(parseAuthority(input).ok, false);
  });
}

t.test('absolute URLs', async (t) => {
  t.match(parseAbsoluteUrl('http://dl.test/x?y'), { ok: true, target: { host: 'dl.test', port: 80 }, path: '/x?y' });
  t.match(parseAbsoluteUrl('http://dl.test:8080'), { ok: true, target: { port: 8080 }, path: '/' });
  t.match(parseAbsoluteUrl('HTTP://[::1]:81/'), { ok: true, target: { host: '::1', port: 81, isIp: true } });
  t.match(parseAbsoluteUrl('/relative'), { ok: false, why: 'origin-form request to the proxy' });
  t.match(parseAbsoluteUrl('https://dl.test/'), { ok: false });
  t.match(parseAbsoluteUrl('http://user:pw@dl.test/'), { ok: false, why: 'userinfo in URL' });
  t.match(parseAbsoluteUrl('http://bad host/'), { ok: false });
});

t.test('redactUrl drops query and fragment', async (t) => {
  t.equal(redactUrl('http://a/b?token=1'), 'http://a/b');
  t.equal(redactUrl('http://a/b#frag'), 'http://a/b');
  t.equal(redactUrl('http://a/b'), 'http://a/b');
});
