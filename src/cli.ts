#!/usr/bin/env node
// The command line (yargs): parses arguments, builds the frozen config and hands over to main/app.
// Usage errors: one line on stderr and a non-zero exit, never the whole help text or a stack trace.
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { loadConfig } from './config/load.js';
import { ConfigError, LIMIT_OPTIONS, DEFAULTS, camel, type RawConfig } from './config/schema.js';
import { runStart, fail, exit } from './main.js';

type Opt = { describe: string; type: 'string' | 'number' | 'boolean' | 'array'; def?: string };
const START_OPTIONS: Record<string, Opt> = {
  listen: { describe: 'proxy listener HOST:PORT', type: 'string', def: DEFAULTS.listen },
  admin: { describe: 'admin listener HOST:PORT or off', type: 'string', def: DEFAULTS.admin },
  mode: { describe: 'treatment of untrusted destinations: log | inspect', type: 'string', def: DEFAULTS.mode },
  unknown: { describe: 'destinations no rule names: allow | deny', type: 'string', def: DEFAULTS.unknown },
  rules: { describe: 'catalog and policy directory', type: 'string', def: "the package's rules/" },
  certs: { describe: 'inspection CA directory', type: 'string', def: DEFAULTS.certs },
  'connect-to': { describe: 'HOST:PORT:TOHOST:TOPORT (repeatable, curl semantics)', type: 'array' },
  'upstream-ca': { describe: 'extra PEM bundle trusted for upstream servers', type: 'string' },
  'upstream-proxy': { describe: 'parent proxy http://[user:pass@]host:port for untrusted traffic', type: 'string' },
  auth: { describe: 'htpasswd file (bcrypt, {SHA}) for Basic proxy auth', type: 'string' },
  'allow-clients': { describe: 'client CIDRs allowed to use the proxy', type: 'string', def: 'loopback and private ranges' },
  'connect-ports': { describe: 'ports a CONNECT may target', type: 'string', def: DEFAULTS.connectPorts },
  'deny-destinations': { describe: 'destination CIDRs never dialled', type: 'string', def: 'loopback, link-local, unspecified' },
  'pac-direct': { describe: 'PAC DIRECT set: optimize | trusted | none', type: 'string', def: DEFAULTS.pacDirect },
  'log-file': { describe: 'NDJSON log destination (- = stdout)', type: 'string', def: DEFAULTS.logFile },
  'log-level': { describe: 'pino level', type: 'string', def: DEFAULTS.logLevel },
  workers: { describe: 'processes sharing the listener (0 = one per core)', type: 'number', def: String(DEFAULTS.workers) },
};
for (const spec of Object.values(LIMIT_OPTIONS)) {
  START_OPTIONS[spec.option] = { describe: spec.describe, type: 'number', def: String(spec.def) };
}

function withOptions(y: Argv, names: readonly string[]): Argv {
  for (const n of names) {
    const o = START_OPTIONS[n]!;
    y = y.option(n, { describe: o.describe, type: o.type, ...(o.def ? { defaultDescription: o.def } : {}) });
  }
  return y.option('config', { describe: 'JSON file of options (camelCase names)', type: 'string' });
}

/** Only the options actually given, under their camelCase names (defaults are applied by the schema). */
export function givenOptions(argv: Record<string, unknown>, names: readonly string[]): RawConfig {
  const raw: RawConfig = {};
  for (const n of [...names, 'config']) {
    const v = argv[n];
    if (v !== undefined) raw[camel(n)] = typeof v === 'number' && Number.isNaN(v) ? 'NaN' : v;
  }
  return raw;
}

async function config(argv: Record<string, unknown>, names: readonly string[]) {
  try {
    return await loadConfig(givenOptions(argv, names));
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }
}

const ALL = Object.keys(START_OPTIONS);

export async function run(args: string[]): Promise<void> {
  await yargs(args)
    .scriptName('autopatch-proxy')
    .parserConfiguration({ 'camel-case-expansion': false, 'strip-dashed': false })
    .command(['start', '$0'], 'run the proxy (SIGTERM drains, SIGHUP reloads rules/)', (y) => withOptions(y, ALL), async (argv) => {
      await runStart(await config(argv, ALL));
    })
    .command('ca <action>', 'inspection CA: init [--force] | export [--der]', (y) =>
      y
        .positional('action', { choices: ['init', 'export'] as const, describe: 'init creates ca.pem/ca.key; export prints the certificate' })
        .option('certs', { type: 'string', describe: 'CA directory', defaultDescription: DEFAULTS.certs })
        .option('force', { type: 'boolean', describe: 'init: replace an existing CA' })
        .option('der', { type: 'boolean', describe: 'export: DER instead of PEM' })
        .option('config', { type: 'string', describe: 'JSON file of options' }), async (argv) => {
      const cfg = await config(argv, ['certs']);
      const { runCa } = await import('./commands/ca.js');
      await runCa(argv.action as 'init' | 'export', cfg.certsDir, { force: Boolean(argv.force), der: Boolean(argv.der) });
    })
    .command('classify <targets..>', 'print the decision for HOST[:PORT]… (no network)', (y) =>
      withOptions(
        y
          .positional('targets', { type: 'string', array: true, describe: 'HOST[:PORT], IPv6 as [addr]:port; port defaults to 443' })
          .option('sni', { type: 'string', describe: 'the SNI a client would send' })
          .option('json', { type: 'boolean', describe: 'one JSON object per target per line' }),
        ['rules', 'mode', 'unknown'],
      ), async (argv) => {
      const cfg = await config(argv, ['rules', 'mode', 'unknown']);
      const { runClassify } = await import('./commands/classify.js');
      await runClassify(argv.targets as string[], cfg, { sni: (argv.sni as string | undefined) ?? null, json: Boolean(argv.json) });
    })
    .command('report [logs..]', 'savings report from NDJSON logs (- = stdin)', (y) =>
      y
        .positional('logs', { type: 'string', array: true, describe: 'NDJSON log files' })
        .option('json', { type: 'boolean', describe: 'one JSON object instead of the table' })
        .option('html', { type: 'string', describe: 'write a self-contained HTML page to FILE' })
        .option('rules', { type: 'string', describe: 'rules directory (holds .calibration.json)' })
        .option('config', { type: 'string', describe: 'JSON file of options' }), async (argv) => {
      const cfg = await config(argv, ['rules']);
      const { runReportCommand } = await import('./commands/report.js');
      await runReportCommand((argv.logs as string[] | undefined) ?? ['-'], { json: Boolean(argv.json), html: (argv.html as string | undefined) ?? null, rulesDir: cfg.rulesDir });
    })
    .command('rules <action>', 'catalog: list | check | update | export', (y) =>
      withOptions(
        y
          .positional('action', { type: 'string', describe: 'list | check | update | export' })
          .option('json', { type: 'boolean', describe: 'list: one JSON object' })
          .option('service-url', { type: 'string', describe: 'update: endpoints web service base URL', defaultDescription: 'https://endpoints.office.com' })
          .option('instance', { type: 'string', describe: 'update: Worldwide | China | USGovDoD | USGovGCCHigh', defaultDescription: 'Worldwide' })
          .option('format', { type: 'string', describe: 'export: squid | domains | cidrs | pac | json' })
          .option('decision', { type: 'string', describe: 'export: bypass | allowed | all', defaultDescription: 'bypass' })
          .option('port', { type: 'number', describe: 'export: TCP port the rules are evaluated at', defaultDescription: '443' })
          .option('proxy', { type: 'string', describe: 'export --format pac: HOST:PORT for PROXY', defaultDescription: 'the --listen address' }),
        ['rules', 'listen', 'pac-direct'],
      ), async (argv) => {
      const cfg = await config(argv, ['rules', 'listen', 'pac-direct']);
      const { runRules } = await import('./commands/rules.js');
      const code = await runRules(String(argv.action), cfg, {
        json: Boolean(argv.json),
        serviceUrl: argv['service-url'] as string | undefined,
        instance: argv.instance as string | undefined,
        format: argv.format as string | undefined,
        decision: argv.decision as string | undefined,
        port: argv.port as number | undefined,
        proxy: (argv.proxy as string | undefined) ?? null,
      });
      if (code !== 0) exit(code);
    })
    .command('pac', 'print the PAC file (M365 Optimize DIRECT by default, the rest PROXY to this proxy)', (y) =>
      withOptions(y.option('proxy', { type: 'string', describe: 'HOST:PORT the PAC sends traffic to', defaultDescription: 'the --listen address' }), ['rules', 'listen', 'pac-direct']), async (argv) => {
      const cfg = await config(argv, ['rules', 'listen', 'pac-direct']);
      const { runPac } = await import('./commands/pac.js');
      const code = await runPac(cfg, { proxy: (argv.proxy as string | undefined) ?? null });
      if (code !== 0) exit(code);
    })
    .command('demo', 'local origins + a device-like mix through the proxy with bypass on and off: the measured savings', (y) =>
      y
        .option('duration', { choices: ['short', 'normal'] as const, default: 'normal' as const, describe: 'short: about 20 s (CI); normal: at most 2 minutes' })
        .option('html', { type: 'string', describe: 'write the HTML report of the bypass-on run to FILE', defaultDescription: './autopatch-proxy-demo.html' }), async (argv) => {
      const { runDemoCommand } = await import('./commands/demo.js');
      await runDemoCommand({ duration: argv.duration, html: argv.html ?? null });
    })
    .command('calibrate', 'measure the savings model on this machine; stores <rules>/.calibration.json', (y) =>
      y
        .option('rules', { type: 'string', describe: 'rules directory that receives .calibration.json', defaultDescription: "the package's rules/" })
        .option('duration', { choices: ['short', 'normal'] as const, default: 'normal' as const, describe: 'short: about 10 s; normal: about a minute' })
        .option('config', { type: 'string', describe: 'JSON file of options' }), async (argv) => {
      const cfg = await config(argv, ['rules']);
      const { runCalibrateCommand } = await import('./commands/calibrate.js');
      await runCalibrateCommand({ rulesDir: cfg.rulesDir, duration: argv.duration });
    })
    .strict()
    .env(false)
    .help()
    .version()
    .showHelpOnFail(false)
    .fail((msg, err) => {
      if (err && !(err instanceof ConfigError)) fail(err.stack ?? err.message, 1);
      fail(msg || (err ? err.message : 'bad usage') + ' (see --help)', 2);
    })
    .parseAsync();
}

run(hideBin(process.argv)).catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
