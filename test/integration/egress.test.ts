// Branch-office egress through the real proxy: Basic auth matrix (bcrypt and {SHA}, CONNECT and plain HTTP),
// client ACL, and a parent proxy (another real instance) that only sees untrusted traffic.
import t from 'tap';
import { createTestPki } from '../helpers/pki.js';
import { startHttpOrigin, startHttpsOrigin } from '../helpers/origins.js';
import { startProxy } from '../helpers/proxy.js';
import { curl, rawExchange } from '../helpers/clients.js';
import { repoPath } from '../helpers/paths.js';

const HTPASSWD = repoPath('test/fixtures/auth/users.htpasswd');
const pki = await createTestPki();
const tlsOrigin = await startHttpsOrigin(await pki.issue(['site.test']));
const httpOrigin = await startHttpOrigin();
const map = [`site.test:443:127.0.0.1:${tlsOrigin.port}`, `site.test:80:127.0.0.1:${httpOrigin.port}`];
const proxy = await startProxy({ connectTo: map, auth: HTPASSWD });
t.teardown(async () => {
  await proxy.stop();
  await tlsOrigin.close();
  await httpOrigin.close();
});

const creds: { name: string; user?: string; status: number; reason?: string }[] = [
  { name: 'missing credentials', status: 407, reason: 'auth_required' },
  { name: 'wrong password', user: 'alice:nope', status: 407, reason: 'auth_failed' },
  { name: 'unknown user', user: 'mallory:x', status: 407, reason: 'auth_failed' },
  { name: 'bcrypt $2y$', user: 'alice:alice-pass', status: 200 },
  { name: 'bcrypt $2a$ with colons in the password', user: 'carol:carol:pass:with:colons', status: 200 },
  { name: '{SHA}', user: 'dave:dave-pass', status: 200 },
];
for (const c of creds) {
  t.test(`CONNECT with ${c.name} → ${c.status}`, async (t) => {
    const auth = c.user ? `Proxy-Authorization: Basic ${Buffer.from(c.user).toString('base64')}\r\n` : '';
    const answer = await rawExchange(proxy.port, `CONNECT site.test:443 HTTP/1.1\r\nHost: site.test:443\r\n${auth}\r\n`, 500);
    t.match(answer, new RegExp(`^HTTP/1\\.1 ${c.status} `));
    if (c.reason) {
      t.match(answer, `X-Proxy-Error: ${c.reason}`);
      t.match(answer, 'Proxy-Authenticate: Basic realm="autopatch-proxy"');
    }
  });
  t.test(`plain HTTP with ${c.name} → ${c.status}`, async (t) => {
    const args = ['-x', proxy.url, '-o', '/dev/null', '-w', '%{http_code}', 'http://site.test/tiny'];
    if (c.user) args.unshift('-U', c.user);
    const r = await curl(args);
    t.equal(r.stdout.toString(), String(c.status));
  });
}

t.test('records carry the user name, never the password', async (t) => {
  const r = await curl(['--cacert', pki.caFile, '-x', proxy.url, '-U', 'dave:dave-pass', 'https://site.test/tiny']);
  t.equal(r.stdout.toString(), 'tiny\n', r.stderr);
  const [rec] = await proxy.waitFor('connect', 1, (x) => x.user === 'dave' && x.decision === 'log');
  t.equal(rec!.host, 'site.test');
  const all = JSON.stringify(proxy.records);
  for (const secret of ['dave-pass', 'alice-pass', Buffer.from('dave:dave-pass').toString('base64')]) t.notMatch(all, secret);
});

t.test('client ACL: a client outside --allow-clients gets 403 client_not_allowed', async (t) => {
  const p = await startProxy({ allowClients: '10.0.0.0/8,fd00::/8' });
  t.teardown(() => p.stop());
  const answer = await rawExchange(p.port, 'CONNECT site.test:443 HTTP/1.1\r\nHost: site.test:443\r\n\r\n', 2000);
  t.match(answer, /^HTTP\/1\.1 403 /);
  t.match(answer, 'X-Proxy-Error: client_not_allowed');
  const [rec] = await p.waitFor('connect', 1, (x) => x.reason === 'client_not_allowed');
  t.equal(rec!.decision, 'deny');
});

t.test('parent proxy: untrusted CONNECT and HTTP go through the parent, which names the original host', async (t) => {
  const parent = await startProxy({ connectTo: map });
  const child = await startProxy({ upstreamProxy: `http://user:pw@127.0.0.1:${parent.port}` });
  t.teardown(async () => {
    await child.stop();
    await parent.stop();
  });
  const a = await curl(['--cacert', pki.caFile, '-x', child.url, 'https://site.test/tiny']);
  t.equal(a.stdout.toString(), 'tiny\n', a.stderr);
  const b = await curl(['-x', child.url, 'http://site.test/tiny']);
  t.equal(b.stdout.toString(), 'tiny\n', b.stderr);
  const [pc] = await parent.waitFor('connect', 1, (x) => x.host === 'site.test');
  t.equal(pc!.port, 443);
  const [pr] = await parent.waitFor('request', 1, (x) => x.host === 'site.test');
  t.equal(pr!.url, 'http://site.test/tiny');
  const [cc] = await child.waitFor('connect', 1, (x) => x.host === 'site.test');
  t.equal(cc!.upstream, `127.0.0.1:${parent.port}`, 'the record names the parent as the upstream');
});

t.test('parent proxy refusing → 502 with a reason', async (t) => {
  const parent = await startProxy({ connectPorts: '8443' });
  const child = await startProxy({ upstreamProxy: `http://127.0.0.1:${parent.port}` });
  t.teardown(async () => {
    await child.stop();
    await parent.stop();
  });
  const answer = await rawExchange(child.port, 'CONNECT site.test:443 HTTP/1.1\r\nHost: site.test:443\r\n\r\n', 2000);
  t.match(answer, /^HTTP\/1\.1 502 /);
  t.match(answer, 'X-Proxy-Error: upstream_unreachable');
});
