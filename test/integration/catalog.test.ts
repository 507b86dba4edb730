// The catalog on the live proxy: trusted hosts bypass with their rule (no auth, origin certificate even in
// inspect mode, direct even with a parent), unknown hosts log, --unknown deny, SIGHUP reload good and broken.
import t from 'tap';
import { cp, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTestPki } from '../helpers/pki.js';
import { startHttpOrigin, startHttpsOrigin } from '../helpers/origins.js';
import { startProxy } from '../helpers/proxy.js';
import { curl, rawExchange, openTunnel, tlsOverTunnel, getOver } from '../helpers/clients.js';
import { startCli } from '../helpers/spawn-cli.js';
import { repoPath } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

const RULES = repoPath('rules');
const HTPASSWD = repoPath('test/fixtures/auth/users.htpasswd');
const TRUSTED = 'mmdcustomer.microsoft.com';
const DEFAULT_CAT = 'www.microsoft.com';
const UNKNOWN = 'unknown.example.net';
const pki = await createTestPki();
const tlsOrigin = await startHttpsOrigin(await pki.issue([TRUSTED, DEFAULT_CAT, UNKNOWN, 'site.example.org']));
const httpOrigin = await startHttpOrigin();
const map = (...hosts: string[]) => hosts.flatMap((h) => [`${h}:443:127.0.0.1:${tlsOrigin.port}`, `${h}:80:127.0.0.1:${httpOrigin.port}`]);
const ALL = map(TRUSTED, DEFAULT_CAT, UNKNOWN, 'site.example.org', '2.dl.delivery.mp.microsoft.com');
t.teardown(async () => {
  await tlsOrigin.close();
  await httpOrigin.close();
});

t.test('log mode: trusted host → bypass with its rule; unknown → log default', async (t) => {
  const p = await startProxy({ connectTo: ALL });
  t.teardown(() => p.stop());
  for (const h of [TRUSTED, UNKNOWN]) {
    const r = await curl(['--cacert', pki.caFile, '-x', p.url, `https://${h}/tiny`]);
    t.equal(r.stdout.toString(), 'tiny\n', r.stderr);
  }
  const [b] = await p.waitFor('connect', 1, (x) => x.host === TRUSTED);
  t.match(b, { decision: 'bypass', reason: 'catalog', rule: { source: 'autopatch', category: 'service', pattern: TRUSTED } });
  const [u] = await p.waitFor('connect', 1, (x) => x.host === UNKNOWN);
  t.match(u, { decision: 'log', reason: 'default', rule: null });
  const r = await curl(['-x', p.url, '-r', '0-9', 'http://2.dl.delivery.mp.microsoft.com/bytes/100']);
  t.equal(r.stdout.length, 10);
  const [d] = await p.waitFor('request', 1, (x) => x.host === '2.dl.delivery.mp.microsoft.com');
  t.match(d, { decision: 'bypass', status: 206, range: 'bytes=0-9', rule: { source: 'delivery-optimization' } });
});

t.test('a bypassed tunnel whose SNI names an untrusted host is not bypassed', async (t) => {
  const p = await startProxy({ connectTo: ALL });
  t.teardown(() => p.stop());
  const { socket } = await openTunnel(p.port, `${TRUSTED}:443`);
  const s = await tlsOverTunnel(socket, UNKNOWN, pki.caPem);
  s.destroy();
  const [rec] = await p.waitFor('connect', 1, (x) => x.host === TRUSTED);
  t.match(rec, { decision: 'log', reason: 'sni_mismatch', sni: UNKNOWN });
});

t.test('inspect mode: a trusted CONNECT whose SNI names an untrusted host is inspected (fresh upstream), not bypassed', async (t) => {
  const certs = await tempDir('ap-c-');
  const p = await startProxy({ connectTo: ALL, mode: 'inspect', certs, upstreamCa: pki.caFile });
  t.teardown(() => p.stop());
  const { socket } = await openTunnel(p.port, `${TRUSTED}:443`);
  const s = await tlsOverTunnel(socket, UNKNOWN, await readFile(join(certs, 'ca.pem'), 'utf8'));
  t.match(s.getPeerCertificate().issuer.CN, /autopatch-proxy CA/, 'a minted certificate for the SNI name');
  const r = await getOver(s, UNKNOWN, '/tiny');
  t.equal(r.status, 200);
  const [rec] = await p.waitFor('connect', 1, (x) => x.host === TRUSTED);
  t.match(rec, { decision: 'inspect', reason: 'sni_mismatch', sni: UNKNOWN });
});

t.test('inspect mode: a trusted host still presents the origin certificate; an unknown one a minted one', async (t) => {
  const p = await startProxy({ connectTo: ALL, mode: 'inspect', certs: await tempDir('ap-c-'), upstreamCa: pki.caFile });
  t.teardown(() => p.stop());
  const a = await openTunnel(p.port, `${TRUSTED}:443`);
  const sa = await tlsOverTunnel(a.socket, TRUSTED, pki.caPem);
  t.equal(sa.getPeerCertificate().issuer.CN, 'autopatch-proxy test CA', 'origin certificate, untouched');
  sa.destroy();
  const b = await openTunnel(p.port, `${UNKNOWN}:443`);
  const ca = await new Promise<string>((resolve) => setTimeout(() => resolve(readFile(join(p.app.ctx.config.certsDir, 'ca.pem'), 'utf8')), 0));
  const sb = await tlsOverTunnel(b.socket, UNKNOWN, await ca);
  t.match(sb.getPeerCertificate().issuer.CN, /autopatch-proxy CA/);
  sb.destroy();
});

t.test('auth: bypass destinations never ask; others get 407 (Windows Update as SYSTEM cannot answer 407)', async (t) => {
  const p = await startProxy({ connectTo: ALL, auth: HTPASSWD });
  t.teardown(() => p.stop());
  const trusted = await rawExchange(p.port, `CONNECT ${TRUSTED}:443 HTTP/1.1\r\nHost: ${TRUSTED}:443\r\n\r\n`, 300);
  t.match(trusted, /^HTTP\/1\.1 200 /);
  const untrusted = await rawExchange(p.port, `CONNECT ${UNKNOWN}:443 HTTP/1.1\r\nHost: ${UNKNOWN}:443\r\n\r\n`, 300);
  t.match(untrusted, /^HTTP\/1\.1 407 /);
  const dl = await curl(['-x', p.url, '-o', '/dev/null', '-w', '%{http_code}', 'http://2.dl.delivery.mp.microsoft.com/tiny']);
  t.equal(dl.stdout.toString(), '200');
  const other = await curl(['-x', p.url, '-o', '/dev/null', '-w', '%{http_code}', `http://${UNKNOWN}/tiny`]);
  t.equal(other.stdout.toString(), '407');
});

t.test('parent proxy: only untrusted traffic reaches it; trusted goes direct (local breakout)', async (t) => {
  const parent = await startProxy({ connectTo: ALL });
  const child = await startProxy({ connectTo: ALL, upstreamProxy: `http://127.0.0.1:${parent.port}` });
  t.teardown(async () => {
    await child.stop();
    await parent.stop();
  });
  for (const h of [TRUSTED, UNKNOWN]) {
    const r = await curl(['--cacert', pki.caFile, '-x', child.url, `https://${h}/tiny`]);
    t.equal(r.stdout.toString(), 'tiny\n', r.stderr);
  }
  await curl(['-x', child.url, 'http://2.dl.delivery.mp.microsoft.com/tiny']);
  await curl(['-x', child.url, `http://${UNKNOWN}/tiny`]);
  await child.waitFor('request', 2);
  await parent.waitFor('connect', 1, (x) => x.host === UNKNOWN);
  await parent.waitFor('request', 1, (x) => x.host === UNKNOWN);
  const seen = parent.records.filter((r) => r.event === 'connect' || r.event === 'request').map((r) => r.host);
  t.notOk(seen.includes(TRUSTED) || seen.includes('2.dl.delivery.mp.microsoft.com'), `parent saw only untrusted hosts: ${seen.join(',')}`);
});

t.test('--unknown deny: trusted bypass, Default passes logged, unknown 403 not_allowlisted; local.json allow + SIGHUP opens it', async (t) => {
  const dir = await tempDir('ap-rules-');
  await cp(RULES, dir, { recursive: true });
  const p = await startCli(['--admin', 'off', '--unknown', 'deny', '--rules', dir, ...ALL.flatMap((m) => ['--connect-to', m]), '--log-file', join(dir, 'log.ndjson')]);
  t.teardown(() => {
    p.child.kill('SIGTERM');
  });
  const url = `http://127.0.0.1:${p.port}`;
  const code = async (u: string) => (await curl(['--cacert', pki.caFile, '-x', url, '-o', '/dev/null', '-w', '%{http_code}', u])).stdout.toString();
  t.equal(await code(`https://${TRUSTED}/tiny`), '200');
  t.equal(await code(`https://${DEFAULT_CAT}/tiny`), '200');
  const denied = await rawExchange(p.port, 'CONNECT site.example.org:443 HTTP/1.1\r\nHost: site.example.org:443\r\n\r\n', 500);
  t.match(denied, /^HTTP\/1\.1 403 /);
  t.match(denied, 'X-Proxy-Error: not_allowlisted');
  t.match(denied, 'site.example.org', 'the body names the host');
  t.match(denied, 'rules/local.json', 'and says how to allow it');
  t.equal(await code('http://site.example.org/tiny'), '403');

  // a broken local.json keeps the old catalog
  await writeFile(join(dir, 'local.json'), '{ "rules": [ { "id": "x", "pattern": "site.example.org", "action": "allow" ,, ] }');
  p.child.kill('SIGHUP');
  await new Promise((r) => setTimeout(r, 500));
  t.equal(await code('http://site.example.org/tiny'), '403', 'still refused after a broken reload');
  t.equal(await code(`https://${TRUSTED}/tiny`), '200', 'and the old catalog still works');

  await writeFile(join(dir, 'local.json'), JSON.stringify({ rules: [{ id: 'site-1', pattern: '*.example.org', action: 'allow', note: 'our web site' }] }));
  p.child.kill('SIGHUP');
  await new Promise((r) => setTimeout(r, 500));
  t.equal(await code('http://site.example.org/tiny'), '200', 'allowed after SIGHUP');
  t.equal(await code('https://site.example.org/tiny'), '200');
  p.child.kill('SIGTERM');
  t.equal(await p.exited, 0);
  const log = (await readFile(join(dir, 'log.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const reloads = log.filter((r) => r.event === 'reload');
  t.equal(reloads.length, 2);
  t.equal(reloads[0]!.level, 'warn', 'the broken file is logged');
  t.match(reloads[1], { level: 'info', counts: { added: 1 } });
  const allowed = log.filter((r) => r.host === 'site.example.org' && r.decision === 'log');
  t.match(allowed[0], { rule: { source: 'local', id: 'site-1', pattern: '*.example.org' } });
});
