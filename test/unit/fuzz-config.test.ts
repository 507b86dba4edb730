// Seeded fuzz of configuration validation (buildConfig in src/config/schema.ts, parseConfigFile in load.ts):
// random raw values of every JSON type for known and unknown options. Properties: the only exception is a
// ConfigError naming the option; an accepted config is deep-frozen and within every documented limit.
import t from 'tap';
import { buildConfig, ConfigError, LIMIT_OPTIONS, type Config, type RawConfig } from '../../src/config/schema.js';
import { parseConfigFile } from '../../src/config/load.js';
import { Rng, FUZZ_SEED, fuzzCases, mutateString, bug } from '../helpers/fuzz.js';

const CASES = fuzzCases(0.16); // 640 of the default 4,000 (+160 config files below)
const KEYS = [
  'listen', 'admin', 'mode', 'unknown', 'rules', 'certs', 'connectTo', 'upstreamCa', 'upstreamProxy', 'auth', 'allowClients', 'connectPorts',
  'denyDestinations', 'pacDirect', 'logFile', 'logLevel', 'workers', 'maxHeaderBytes', 'headerTimeout', 'idleTimeout', 'connectTimeout',
  'maxConnections', 'maxClientConnections', 'peekBytes', 'peekTimeout', 'gracePeriod', 'certCacheSize',
];
const STRINGS = [
  '', ' ', 'off', 'log', 'inspect', 'allow', 'deny', 'optimize', 'none', 'info', 'silent', '0', '-1', '1', '443', '65535', '65536', '1e3', '0x10',
  '127.0.0.1:0', '0.0.0.0:3128', '[::]:3128', '[::1]:0', 'localhost:3128', 'example.com:3128', ':3128', '127.0.0.1:', '[fe80::1%eth0]:1',
  'http://u:p@127.0.0.1:3128', 'http://[::1]:3128', 'https://x:1', 'socks5://x:1', 'http://', 'not a url', '10.0.0.0/8', '::/0', '300.0.0.0/8',
  '10.0.0.0/33', '*:443:127.0.0.1:1', 'a::b:1', '[::1]:443:[::1]:443', 'a:b:c:d:e', '::::', '[', 'x'.repeat(10_000), '\0', 'ü', '__proto__',
];

function randomValue(rng: Rng): unknown {
  switch (rng.int(9)) {
    case 0: return undefined;
    case 1: return null;
    case 2: return rng.bool();
    case 3: return rng.pick([0, -1, 1, 100, 443, 1024, 65535, 65536, 1.5, 1e21, NaN, Infinity, -Infinity, 2 ** 53]);
    case 4: return Array.from({ length: rng.range(0, 3) }, () => rng.pick(STRINGS));
    case 5: return rng.bool(0.5) ? {} : { a: rng.pick(STRINGS) };
    case 6: return mutateString(rng, rng.pick(STRINGS));
    case 7: return [rng.pick([1, null, {}, [], true])];
    default: return rng.pick(STRINGS);
  }
}

function deepFrozen(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return true;
  return Object.isFrozen(v) && Object.values(v).every(deepFrozen);
}

function configProblem(c: Config): string | null {
  if (!deepFrozen(c)) return 'not deep-frozen';
  for (const [k, spec] of Object.entries(LIMIT_OPTIONS)) {
    const v = c.limits[k as keyof Config['limits']];
    if (!Number.isInteger(v) || v < spec.min || v > spec.max) return `limit ${k} = ${v}`;
  }
  if (!['log', 'inspect'].includes(c.mode) || !['allow', 'deny'].includes(c.unknown)) return 'mode/unknown';
  if (c.connectPorts.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) return 'connectPorts';
  if (!Number.isInteger(c.listen.port) || c.listen.port < 0 || c.listen.port > 65535) return 'listen port';
  if (c.connectTo.some((r) => !Number.isInteger(r.toPort) || r.toPort < 1 || r.toPort > 65535 || r.toHost === '')) return 'connectTo';
  return null;
}

t.test(`buildConfig over ${CASES} random raw configs (seed ${FUZZ_SEED}): ConfigError or a valid frozen config`, async (t) => {
  const rng = new Rng(FUZZ_SEED);
  const failures: string[] = [];
  let accepted = 0;
  for (let i = 0; i < CASES; i++) {
    const r = rng.fork(i);
    const raw: RawConfig = {};
    for (let k = r.range(0, 5); k > 0; k--) raw[r.bool(0.95) ? r.pick(KEYS) : r.pick(['bogus', 'listenn', 'toString', 'constructor', ''])] = randomValue(r);
    try {
      const c = buildConfig(raw);
      accepted++;
      const p = configProblem(c);
      if (p) failures.push(`case ${i}: accepted with ${p}: ${JSON.stringify(raw).slice(0, 200)}`);
    } catch (e) {
      if (!(e instanceof ConfigError)) failures.push(`case ${i}: threw ${(e as Error).name}: ${(e as Error).message} for ${JSON.stringify(raw).slice(0, 200)}`);
      else if (!/^--[a-z-]+|: /.test(e.message)) failures.push(`case ${i}: message does not name the option: ${e.message}`);
    }
  }
  t.comment(`${CASES} configs, ${accepted} accepted`);
  t.same(failures.slice(0, 10), [], `no failures (rerun with FUZZ_SEED=${FUZZ_SEED})`);
});

t.test('parseConfigFile on mutated JSON: ConfigError with file:line, never another exception, no pollution', async (t) => {
  const rng = new Rng(FUZZ_SEED ^ 0xc0f);
  const base = '{\n  "listen": "127.0.0.1:3128",\n  "mode": "inspect",\n  "connect-ports": [443, 8443],\n  "deny-destinations": "169.254.0.0/16"\n}\n';
  const failures: string[] = [];
  const n = fuzzCases(0.04);
  for (let i = 0; i < n; i++) {
    const text = mutateString(rng.fork(i), base, ['{', '}', '"', ':', ',', '"__proto__": {"mode": "log"},', 'null', '\n'], 3);
    try {
      const { raw } = parseConfigFile(text, 'cfg.json');
      try {
        buildConfig(raw, (k) => `cfg.json: ${k}`);
      } catch (e) {
        if (!(e instanceof ConfigError)) failures.push(`case ${i}: buildConfig threw ${(e as Error).message}`);
      }
    } catch (e) {
      if (!(e instanceof ConfigError)) failures.push(`case ${i}: threw ${(e as Error).message}`);
      else if (!/^cfg\.json:\d+: /.test(e.message)) failures.push(`case ${i}: no file:line in ${e.message}`);
    }
  }
  t.same(failures.slice(0, 10), [], `${n} mutated files`);
  t.equal(({} as Record<string, unknown>).mode, undefined, 'Object.prototype untouched');
});

t.test(
  'a "__proto__" member of a --config file is reported as an unknown option, not silently dropped',
  async (t) => {
    const { raw } = parseConfigFile('{"__proto__": {"mode": "inspect"}}', 'cfg.json');
    t.throws(() => buildConfig(raw), { code: 'config_invalid' });
  },
);

t.test('the admin listener defaults to loopback; the proxy listener must be an IP literal', async (t) => {
  const c = buildConfig({});
  t.equal(c.admin?.host, '127.0.0.1');
  t.throws(() => buildConfig({ listen: 'example.com:3128' }), { code: 'config_invalid' });
});
