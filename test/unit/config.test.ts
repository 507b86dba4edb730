// Config validation (pure schema) and the file/env/CLI precedence of config/load.
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildConfig, parseConnectTo, ConfigError, LIMIT_OPTIONS } from '../../src/config/schema.js';
import { loadConfig } from '../../src/config/load.js';
import { tempDir } from '../helpers/temp.js';

t.test('embedded defaults follow CONTRACT.md', async (t) => {
  const c = buildConfig({});
  t.same(c.listen, { host: '0.0.0.0', port: 3128 });
  t.same(c.admin, { host: '127.0.0.1', port: 9090 });
  t.equal(c.mode, 'log');
  t.equal(c.unknown, 'allow');
  t.same(c.connectPorts, [443]);
  t.equal(c.logFile, '-');
  t.equal(c.workers, 1);
  t.ok(c.denyDestinations.includes('169.254.0.0/16'));
  t.ok(c.allowClients.includes('10.0.0.0/8'));
  for (const spec of Object.values(LIMIT_OPTIONS)) t.ok(spec.def >= spec.min && spec.def <= spec.max, spec.option);
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.limits) && Object.isFrozen(c.connectPorts), 'deep-frozen');
});

const bad: [Record<string, unknown>, RegExp][] = [
  [{ listen: 'nope' }, /^--listen: "nope" is not HOST:PORT/],
  [{ listen: 'example.com:3128' }, /^--listen: .* must be an IP address/],
  [{ admin: '127.0.0.1:99999' }, /^--admin:/],
  [{ mode: 'spy' }, /^--mode: "spy" is not one of log, inspect$/],
  [{ unknown: 'maybe' }, /^--unknown:/],
  [{ connectPorts: '443,abc' }, /^--connect-ports: "abc" must be an integer from 1 to 65535$/],
  [{ denyDestinations: '10.0.0.0/33' }, /^--deny-destinations: "10.0.0.0\/33" is not an IP address or CIDR$/],
  [{ allowClients: 'x' }, /^--allow-clients:/],
  [{ connectTo: 'a:443:b' }, /^--connect-to: "a:443:b" is not HOST:PORT:TOHOST:TOPORT$/],
  [{ connectTo: 'a:443:b:0' }, /^--connect-to:/],
  [{ upstreamProxy: 'socks5://x:1' }, /^--upstream-proxy: only http/],
  [{ logLevel: 'loud' }, /^--log-level:/],
  [{ workers: -1 }, /^--workers:/],
  [{ idleTimeout: 5 }, /^--idle-timeout: "5" must be an integer from 100/],
  [{ frobnicate: 1 }, /^--frobnicate: unknown option$/],
];
for (const [raw, msg] of bad) {
  t.test(`rejects ${JSON.stringify(raw)}`, async (t) => {
    let err: unknown = null;
    try {
      buildConfig(raw);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof ConfigError, 'a ConfigError');
    t.match((err as Error).message, msg);
    t.notMatch((err as Error).message, '\n', 'one line');
  });
}

t.test('connect-to parsing', async (t) => {
  t.same(parseConnectTo('a.com:443:127.0.0.1:8443', 'x'), { host: 'a.com', port: 443, toHost: '127.0.0.1', toPort: 8443 });
  t.same(parseConnectTo('::[::1]:8443', 'x'), { host: '*', port: null, toHost: '::1', toPort: 8443 });
  t.same(parseConnectTo('*:80:h:81', 'x'), { host: '*', port: 80, toHost: 'h', toPort: 81 });
});

t.test('precedence: command line > environment > file > default; file errors name file:line', async (t) => {
  const dir = await tempDir('ap-cfg-');
  const file = join(dir, 'c.json');
  await writeFile(file, '{\n  "mode": "inspect",\n  "logLevel": "warn",\n  "connectPorts": "443,8443"\n}\n');
  const c = await loadConfig({ config: file, logLevel: 'debug' }, { AUTOPATCH_PROXY_CONNECT_PORTS: '443,9443', AUTOPATCH_PROXY_LOG_LEVEL: 'error' });
  t.equal(c.mode, 'inspect', 'from file');
  t.equal(c.logLevel, 'debug', 'cli beats env and file');
  t.same(c.connectPorts, [443, 9443], 'env beats file');
  await writeFile(file, '{\n  "mode": "inspect",\n  "workers": "lots"\n}\n');
  await t.rejects(loadConfig({ config: file }, {}), { message: `${file}:3: workers: "lots" must be an integer from 0 to 256` });
  await writeFile(file, '{\n  "mode": "inspect",,\n}\n');
  await t.rejects(loadConfig({ config: file }, {}), { message: new RegExp(`^${file}:2: not valid JSON$`) });
  await t.rejects(loadConfig({}, { AUTOPATCH_PROXY_MODE: 'x' }), { message: /^AUTOPATCH_PROXY_MODE: "x" is not one of/ });
  await t.rejects(loadConfig({ config: join(dir, 'missing.json') }, {}), { message: /^--config: cannot read .*missing\.json \(ENOENT\)$/ });
});
