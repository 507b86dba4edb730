// The README's branch-office configuration works as written: it validates, and with only its paths and
// addresses pointed at this test's loopback parts, trusted traffic leaves directly without a 407 while
// everything else is authenticated and goes through the parent.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { loadConfig } from '../../src/config/load.js';
import { createTestPki } from '../helpers/pki.js';
import { startHttpOrigin, startHttpsOrigin } from '../helpers/origins.js';
import { startProxy } from '../helpers/proxy.js';
import { curl, rawExchange } from '../helpers/clients.js';
import { repoPath } from '../helpers/paths.js';

const EXAMPLE = repoPath('examples/branch-office.json');
const HTPASSWD = repoPath('test/fixtures/auth/users.htpasswd');
const RULES = repoPath('rules');

t.test('the example validates as a config file', async (t) => {
  const c = await loadConfig({ config: EXAMPLE }, {});
  t.equal(c.mode, 'log');
  t.equal(c.workers, 0);
  t.equal(c.upstreamProxy, 'http://branch-7:change-me@central-proxy.corp.example:8080');
  t.same(c.admin, { host: '127.0.0.1', port: 9090 });
});

t.test('the example, on loopback: Windows Update gets no 407 and goes direct; the rest authenticates via the parent', async (t) => {
  const raw = JSON.parse(await readFile(EXAMPLE, 'utf8')) as Record<string, unknown>;
  const pki = await createTestPki();
  const tlsOrigin = await startHttpsOrigin(await pki.issue(['fe3.delivery.mp.microsoft.com', 'www.example.org']));
  const httpOrigin = await startHttpOrigin();
  const map = ['fe3.delivery.mp.microsoft.com', 'www.example.org', '7.dl.delivery.mp.microsoft.com'].flatMap((h) => [`${h}:443:127.0.0.1:${tlsOrigin.port}`, `${h}:80:127.0.0.1:${httpOrigin.port}`]);
  const parent = await startProxy({ connectTo: map });
  const branch = await startProxy({
    ...raw,
    listen: '127.0.0.1:0',
    admin: 'off',
    rules: RULES,
    auth: HTPASSWD,
    upstreamProxy: `http://branch-7:change-me@127.0.0.1:${parent.port}`,
    logFile: '-',
    workers: 1,
    connectTo: map,
  });
  t.teardown(async () => {
    await branch.stop();
    await parent.stop();
    await tlsOrigin.close();
    await httpOrigin.close();
  });
  const wu = await rawExchange(branch.port, 'CONNECT fe3.delivery.mp.microsoft.com:443 HTTP/1.1\r\nHost: fe3.delivery.mp.microsoft.com:443\r\n\r\n', 300);
  t.match(wu, /^HTTP\/1\.1 200 /, 'Windows Update (SYSTEM, no credentials): no 407');
  const dl = await curl(['-x', branch.url, '-r', '0-99', '-o', '/dev/null', '-w', '%{http_code}', 'http://7.dl.delivery.mp.microsoft.com/bytes/1000']);
  t.equal(dl.stdout.toString(), '206', 'range download without credentials');
  const noCreds = await curl(['-x', branch.url, '-o', '/dev/null', '-w', '%{http_code}', 'http://www.example.org/tiny']);
  t.equal(noCreds.stdout.toString(), '407');
  const user = await curl(['--cacert', pki.caFile, '-x', branch.url, '-U', 'alice:alice-pass', 'https://www.example.org/tiny']);
  t.equal(user.stdout.toString(), 'tiny\n', user.stderr);
  const [viaParent] = await parent.waitFor('connect', 1, (r) => r.host === 'www.example.org');
  t.ok(viaParent, 'the untrusted tunnel went through the parent');
  const [direct] = await branch.waitFor('connect', 1, (r) => r.host === 'fe3.delivery.mp.microsoft.com');
  t.match(direct, { decision: 'bypass', upstream: `127.0.0.1:${tlsOrigin.port}` }, 'dialled directly (local breakout)');
  t.notOk(parent.records.some((r) => String(r.host).includes('delivery.mp.microsoft.com')), 'the parent never saw Windows Update');
});
