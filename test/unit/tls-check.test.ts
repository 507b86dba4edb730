// Table-driven tests of the tunnel TLS check (version floor, SNI vs CONNECT host) and the protocol_version
// alert bytes. Pure: parsed hellos and fixtures in, verdicts out; no sockets.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkTls, MIN_OFFERED_TLS_VERSION, type TlsVerdict } from '../../src/policy/tls-check.js';
import { parseClientHello, versionName, type ClientHello } from '../../src/tls/client-hello.js';
import { protocolVersionAlert } from '../../src/tls/alert.js';
import { repoPath } from '../helpers/paths.js';

const HOST = 'fixture.example.com';
const trustedBy = (sni: string) => sni === 'edge.example.com';

const mk = (v: number, sni: string | null, over: Partial<ClientHello> = {}): ClientHello => ({
  kind: 'hello', recordVersion: 0x0301, legacyVersion: Math.min(v, 0x0303), highestVersion: v,
  versionName: versionName(v), sslv2: v === 0x0002, sni, sniValid: true, alpn: ['h2'], bytesConsumed: 200, ...over,
});

t.test('each version × SNI equal / different / absent / trusted by the rule', async (t) => {
  const versions = [0x0002, 0x0300, 0x0301, 0x0302, 0x0303, 0x0304];
  const snis: [string, string | null][] = [
    ['equal', HOST], ['different', 'other.example.net'], ['absent', null], ['trusted by rule', 'edge.example.com'],
  ];
  for (const v of versions) {
    for (const [label, sni] of snis) {
      const r = checkTls(mk(v, sni), { host: HOST, isIp: false }, { sniTrusted: trustedBy });
      const want = v < MIN_OFFERED_TLS_VERSION ? 'tls_version_too_low' : label === 'different' ? 'sni_mismatch' : 'ok';
      t.equal(r.ok ? 'ok' : r.reason, want, `${versionName(v)} SNI ${label}`);
      t.match(r, { sni, tlsVersion: versionName(v), alpn: ['h2'] }, `${versionName(v)} SNI ${label}: facts carried`);
    }
  }
});

t.test('version floor details', async (t) => {
  const host = { host: HOST, isIp: false };
  t.match(checkTls(mk(0x0303, HOST, { sslv2: true }), host), { ok: false, reason: 'tls_version_too_low', sslv2: true },
    'SSLv2 format is refused whatever version it names (RFC 6176 §3)');
  t.match(checkTls(mk(0x0300, HOST, { recordVersion: 0x0300 }), host), { reason: 'tls_version_too_low', recordVersion: 0x0300, highestVersion: 0x0300 });
  t.match(checkTls(mk(0, HOST), host), { reason: 'tls_version_too_low', tlsVersion: null }, 'only GREASE offered');
  t.match(checkTls(mk(0x0305, HOST), host), { ok: true, tlsVersion: null }, 'a future version is above the floor');
  t.match(checkTls(mk(0x0301, 'other.example.net'), host), { reason: 'tls_version_too_low' }, 'version is checked before SNI');
});

t.test('SNI comparison: case, trailing dot, IP literals, invalid names', async (t) => {
  let asked: string[] = [];
  const sniTrusted = (sni: string) => (asked.push(sni), sni === 'edge.example.com');
  const rows: [string, ClientHello, { host: string; isIp: boolean }, string][] = [
    ['CONNECT host upper case', mk(0x0304, HOST), { host: 'FIXTURE.Example.COM', isIp: false }, 'ok'],
    ['CONNECT host trailing dot', mk(0x0304, HOST), { host: `${HOST}.`, isIp: false }, 'ok'],
    ['parent domain is not equal', mk(0x0304, 'example.com'), { host: HOST, isIp: false }, 'sni_mismatch'],
    ['subdomain is not equal', mk(0x0304, `a.${HOST}`), { host: HOST, isIp: false }, 'sni_mismatch'],
    ['IP CONNECT, name SNI', mk(0x0304, HOST), { host: '203.0.113.7', isIp: true }, 'sni_mismatch'],
    ['IP CONNECT, SNI trusted by rule', mk(0x0304, 'edge.example.com'), { host: '203.0.113.7', isIp: true }, 'ok'],
    ['IP CONNECT, SNI the same literal', mk(0x0303, '203.0.113.7'), { host: '203.0.113.7', isIp: true }, 'ok'],
    ['IP CONNECT, no SNI', mk(0x0303, null), { host: '203.0.113.7', isIp: true }, 'ok'],
    ['IPv6 CONNECT in brackets, same literal', mk(0x0303, '2001:db8::1', { sniValid: false }), { host: '[2001:DB8::1]', isIp: true }, 'ok'],
    ['invalid SNI never reaches the matcher', mk(0x0304, 'edge.example.com!', { sniValid: false }), { host: HOST, isIp: false }, 'sni_mismatch'],
  ];
  for (const [label, hello, target, want] of rows) {
    asked = [];
    const r = checkTls(hello, target, { sniTrusted });
    t.equal(r.ok ? 'ok' : r.reason, want, label);
    if (!hello.sniValid) t.same(asked, [], `${label}: sniTrusted not consulted`);
  }
  const r = checkTls(mk(0x0304, 'b.example.org'), { host: HOST, isIp: false }, {});
  t.match(r, { ok: false, reason: 'sni_mismatch', sni: 'b.example.org', host: HOST }, 'no sniTrusted: mismatch');
  t.match(checkTls(mk(0x0304, 'b.example.org'), { host: HOST, isIp: false }, { sniTrusted: () => false }), { reason: 'sni_mismatch' });
  t.equal(checkTls(mk(0x0304, HOST), { host: HOST, isIp: false }).ok, true, 'opts may be omitted');
});

t.test('not TLS and incomplete hellos', async (t) => {
  const target = { host: HOST, isIp: false };
  const rows: [string, Buffer][] = [
    ['HTTP', Buffer.from('GET / HTTP/1.1\r\n\r\n')],
    ['incomplete (peek bound reached)', Buffer.from([22, 3, 1, 0, 200, 1])],
    ['empty', Buffer.alloc(0)],
  ];
  for (const [label, b] of rows) {
    const r: TlsVerdict = checkTls(parseClientHello(b), target);
    t.match(r, { ok: false, reason: 'not_tls', why: String, sni: null, tlsVersion: null, alpn: [] }, label);
  }
});

t.test('captured fixtures end to end', async (t) => {
  const dir = repoPath('test/fixtures/client-hello');
  const rows: [string, string, string][] = [
    ['openssl-tls1_0-sni', HOST, 'tls_version_too_low'],
    ['openssl-tls1_1-sni-alpn', HOST, 'tls_version_too_low'],
    ['node-tls1_0-1_1-sni', HOST, 'tls_version_too_low'],
    ['openssl-tls1_2-sni-alpn', HOST, 'ok'],
    ['openssl-tls1_3-sni-alpn', 'other.example.com', 'sni_mismatch'],
    ['node-default-sni-alpn', 'FIXTURE.example.com.', 'ok'],
    ['node-default-nosni', '127.0.0.1', 'ok'],
    ['openssl-tls1_2-nosni', HOST, 'ok'],
  ];
  for (const [name, host, want] of rows) {
    const r = checkTls(parseClientHello(readFileSync(join(dir, `${name}.bin`))), { host, isIp: host === '127.0.0.1' });
    t.equal(r.ok ? 'ok' : r.reason, want, name);
  }
});

t.test('protocol_version alert record (RFC 8446 §6.2, RFC 5246 §7.2)', async (t) => {
  const rows: [number | undefined, string][] = [
    [undefined, '15030100020246'],
    [0x0301, '15030100020246'],
    [0x0300, '15030000020246'],
    [0x0302, '15030200020246'],
    [0x0303, '15030300020246'],
    [0x0304, '15030100020246'], // not a record version a client sends: fall back to 0x0301
    [0x0002, '15030100020246'], // SSLv2-format hello
  ];
  for (const [v, hex] of rows) t.equal(protocolVersionAlert(v).toString('hex'), hex, `record version ${v?.toString(16)}`);
  const a = protocolVersionAlert();
  a[6] = 0;
  t.equal(protocolVersionAlert()[6], 70, 'a fresh buffer per call');
});
