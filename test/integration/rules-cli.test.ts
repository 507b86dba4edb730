// The built CLI's `rules list|check|export|update` and `pac`: exit codes, file:line errors, export headers,
// and `rules update` against a local server speaking the endpoints web-service protocol (no internet).
import t, { type Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../helpers/spawn-cli.js';
import { loadRules } from '../../src/catalog/load.js';
import { repoPath } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

const RULES = repoPath('rules');
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function rulesCopy(t: Test): Promise<string> {
  const dir = await tempDir('apx-rules-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(RULES, dir, { recursive: true, filter: (src) => !src.endsWith('.clientrequestid') && !src.endsWith('.calibration.json') });
  return dir;
}

const oneLine = (t: Test, stderr: string): void => {
  t.equal(stderr.trim().split('\n').length, 1, `one line: ${stderr}`);
  t.notMatch(stderr, /\n\s+at /, 'no stack trace');
};

const shipped = await loadRules(RULES);
const info = (source: string) => shipped.sources.find((s) => s.source === source)!;
const totalNonMatching = shipped.sources.reduce((n, s) => n + s.nonMatching, 0);

t.test('rules list: table and --json', async (t) => {
  const [human, json] = await Promise.all([runCli(['rules', 'list', '--rules', RULES]), runCli(['rules', 'list', '--json', '--rules', RULES])]);
  t.equal(human.code, 0, human.stderr);
  const m365 = info('m365-worldwide');
  const trust = (x: string) => shipped.catalog.rules.filter((r) => r.ref.source === 'm365-worldwide' && r.trust === x).length;
  t.match(human.stdout, new RegExp(`m365-worldwide +${m365.rules} +${trust('bypass')} +${trust('mode')} +0 +${m365.version}`));
  t.match(human.stdout, new RegExp(`Optimize ${m365.categories.Optimize} bypass, Allow ${m365.categories.Allow} bypass, Default ${m365.categories.Default} mode`));
  t.match(human.stdout, new RegExp(`cannot match at an HTTP proxy: ${totalNonMatching} documented entries \\(.*adds-ports ${info('adds-ports').nonMatching}.*\\) — UDP flows`));
  const v = JSON.parse(json.stdout) as { sources: { source: string; rules: number; version: string }[]; totals: { rules: number; nonMatching: number }; errors: number };
  t.equal(v.errors, 0);
  t.equal(v.totals.rules, shipped.catalog.rules.length);
  t.equal(v.totals.rules, v.sources.reduce((n, s) => n + s.rules, 0));
  t.equal(v.totals.nonMatching, totalNonMatching);
  t.match(v.sources.find((s) => s.source === 'autopatch'), { rules: info('autopatch').rules, version: info('autopatch').version });
});

t.test('rules check: ok, then every error as file:line and a non-zero exit', async (t) => {
  const ok = await runCli(['rules', 'check', '--rules', RULES]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, new RegExp(`: ok \\(${shipped.sources.length} sources, ${shipped.catalog.rules.length} rules`));
  const dir = await rulesCopy(t);
  await writeFile(join(dir, 'broken.json'), ['{', '  "meta": {"source": "broken"},', '  "rules": [', '    {"id": "1", "category": "x", "pattern": "*.com"}', '  ]', '}', ''].join('\n'));
  await writeFile(join(dir, 'syntax.json'), ['{', '  "rules": [', '    {"id": "1",, }', '  ]', '}'].join('\n'));
  const r = await runCli(['rules', 'check', '--rules', dir]);
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`${join(dir, 'broken.json')}:4: rule "1": pattern "\\*\\.com": a wildcard needs at least two literal labels`));
  t.match(r.stderr, new RegExp(`${join(dir, 'syntax.json')}:3: invalid JSON`));
  t.match(r.stderr, /rules check: 2 problem\(s\)/);
  const start = await runCli(['rules', 'export', '--format', 'domains', '--rules', dir]);
  t.equal(start.code, 1, 'exports refuse a broken catalog');
  oneLine(t, start.stderr);
});

t.test('rules export: every format, with its header; usage errors', async (t) => {
  // independent runs of the CLI: started together (each is a process start), checked in order
  const formats = ['squid', 'domains', 'cidrs', 'pac', 'json'];
  const bad = [['--format', 'xml'], [], ['--format', 'squid', '--decision', 'some'], ['--format', 'cidrs', '--port', '0']];
  const [exports, [allowed, port80], usage] = await Promise.all([
    Promise.all(formats.map((format) => runCli(['rules', 'export', '--format', format, '--rules', RULES, '--proxy', '192.0.2.1:3128']))),
    Promise.all([
      runCli(['rules', 'export', '--format', 'domains', '--decision', 'allowed', '--rules', RULES]),
      runCli(['rules', 'export', '--format', 'domains', '--port', '80', '--rules', RULES]),
    ]),
    Promise.all(bad.map((args) => runCli(['rules', 'export', ...args, '--rules', RULES]))),
  ]);
  formats.forEach((format, i) => {
    const r = exports[i]!;
    t.equal(r.code, 0, `${format}: ${r.stderr}`);
    if (format === 'json') t.match(JSON.parse(r.stdout), { decision: 'bypass', versions: { 'm365-worldwide': info('m365-worldwide').version } });
    else t.match(r.stdout, /^(#|\/\/) autopatch-proxy .*\n(#|\/\/) generated \d{4}-\d\d-\d\dT/);
  });
  t.match(allowed!.stdout, /^\*\.microsoft\.com$/m, 'allowed includes mode rules');
  t.match(port80!.stdout, /^windowsupdate\.microsoft\.com$/m);
  bad.forEach((args, i) => {
    t.equal(usage[i]!.code, 2, args.join(' '));
    oneLine(t, usage[i]!.stderr);
  });
});

t.test('pac: proxy address, --pac-direct, wildcard listen note', async (t) => {
  // independent runs, started together
  const [r, trusted, wildcard, bad, badDirect] = await Promise.all([
    runCli(['pac', '--proxy', '10.1.2.3:3128', '--rules', RULES]),
    runCli(['pac', '--pac-direct', 'trusted', '--listen', '127.0.0.1:8080', '--rules', RULES]),
    runCli(['pac', '--rules', RULES]),
    runCli(['pac', '--proxy', 'nope', '--rules', RULES]),
    runCli(['pac', '--pac-direct', 'all', '--rules', RULES]),
  ]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /var PROXY = "PROXY 10\.1\.2\.3:3128";/);
  t.match(r.stdout, /"outlook\.office365\.com"/);
  t.notMatch(r.stdout, /"mmdcustomer\.microsoft\.com"/, 'optimize: Autopatch hosts stay proxied');
  t.equal(trusted.stderr, '');
  t.match(trusted.stdout, /"PROXY 127\.0\.0\.1:8080"/);
  t.match(trusted.stdout, /"mmdcustomer\.microsoft\.com"/);
  t.equal(wildcard.code, 0);
  t.match(wildcard.stderr, /listens on 0\.0\.0\.0:3128; the PAC names .*pass --proxy HOST:PORT/);
  t.equal(bad.code, 2);
  oneLine(t, bad.stderr);
  t.not(badDirect.code, 0);
  t.match(badDirect.stderr, /--pac-direct: "all" is not one of optimize, trusted, none/);
});

/** A local endpoints web service: /version/{instance} and /endpoints/{instance}, every request recorded. */
async function webService(t: Test) {
  const state = { latest: info('m365-worldwide').version, versionStatus: 200, endpointsStatus: 200, endpoints: '[]', requests: [] as string[] };
  const server = http.createServer((req, res) => {
    state.requests.push(req.url ?? '');
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const send = (status: number, body: string) => res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    if (path === '/version/Worldwide') return send(state.versionStatus, JSON.stringify({ instance: 'Worldwide', latest: state.latest }));
    if (path === '/endpoints/Worldwide') return send(state.endpointsStatus, state.endpointsStatus === 200 ? state.endpoints : '{"error":"slow down"}');
    send(404, '{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { state, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

t.test('rules update against a local web service', async (t) => {
  const dir = await rulesCopy(t);
  const svc = await webService(t);
  const update = (...extra: string[]) => runCli(['rules', 'update', '--rules', dir, '--service-url', svc.url, ...extra]);
  const snapshot = async () => [await readFile(join(dir, 'm365-worldwide.json'), 'utf8'), await readFile(join(dir, 'm365-worldwide.meta.json'), 'utf8')];
  const original = await snapshot();

  // 1. same version: /endpoints is not fetched; the client request id is created once and reused
  let r = await update();
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, `m365-worldwide: version ${info('m365-worldwide').version} is current; nothing fetched`);
  t.same(svc.state.requests.map((u) => u.split('?')[0]), ['/version/Worldwide'], 'endpoints not fetched');
  const id = (await readFile(join(dir, '.clientrequestid'), 'utf8')).trim();
  t.match(id, GUID);
  r = await update('--instance', 'Worldwide');
  t.equal(r.code, 0);
  const ids = svc.state.requests.map((u) => new URL(u, 'http://x').searchParams.get('clientrequestid'));
  t.same(ids, [id, id], 'the same GUID on every request, across runs');

  // 2. newer version, rate limited: clear message, files untouched
  svc.state.latest = '2099010100';
  svc.state.endpointsStatus = 429;
  r = await update();
  t.equal(r.code, 1);
  t.match(r.stderr, /rate limited by the endpoints web service \(HTTP 429 on \/endpoints\/Worldwide\): wait an hour \(Microsoft's guidance\)/);
  oneLine(t, r.stderr);
  t.same(await snapshot(), original, '429 leaves the files untouched');

  // 3. broken answers: not JSON, an invalid pattern: files untouched
  svc.state.endpointsStatus = 200;
  for (const body of ['{not json', JSON.stringify([{ id: 1, urls: ['*.com'], tcpPorts: '443', category: 'Optimize' }]), '[]']) {
    svc.state.endpoints = body;
    r = await update();
    t.equal(r.code, 1, body);
    t.match(r.stderr, /nothing was changed/);
    oneLine(t, r.stderr);
    t.same(await snapshot(), original, `files untouched after ${body.slice(0, 20)}`);
  }

  // 4. a good answer: written atomically, the diff printed, the meta version updated, loads cleanly
  const sets = JSON.parse(original[0]!) as { id: number; urls?: string[] }[];
  const changed = [...sets.filter((s) => s.id !== 125), { id: 999, serviceArea: 'Common', urls: ['new.example.com'], tcpPorts: '443', expressRoute: false, category: 'Allow', required: true }];
  svc.state.endpoints = JSON.stringify(changed, null, 2);
  svc.state.requests.length = 0;
  r = await update();
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, `m365-worldwide: ${info('m365-worldwide').version} → 2099010100; wrote m365-worldwide.json and m365-worldwide.meta.json`);
  t.match(r.stdout, /patterns: 1 added, \d+ removed/);
  t.match(r.stdout, /\+ new\.example\.com/);
  t.match(r.stdout, /the running proxy picks it up on SIGHUP/);
  t.same(svc.state.requests.map((u) => u.split('?')[0]), ['/version/Worldwide', '/endpoints/Worldwide']);
  t.equal(await readFile(join(dir, 'm365-worldwide.json'), 'utf8'), svc.state.endpoints, 'the answer is kept verbatim');
  const meta = JSON.parse(await readFile(join(dir, 'm365-worldwide.meta.json'), 'utf8')) as Record<string, unknown>;
  t.match(meta, { source: 'm365-worldwide', version: '2099010100', instance: 'Worldwide' });
  const loaded = await loadRules(dir);
  t.same(loaded.errors, [], 'the written files load with zero errors');
  t.equal(loaded.catalog.lookup('new.example.com', 443)?.trust, 'bypass');
  t.same((await readdir(dir)).filter((f) => f.startsWith('.')), ['.clientrequestid'], 'no temp files left');
  const check = await runCli(['rules', 'check', '--rules', dir]);
  t.equal(check.code, 0, check.stderr);

  // 5. now current: nothing fetched again
  svc.state.requests.length = 0;
  r = await update();
  t.match(r.stdout, /version 2099010100 is current/);
  t.same(svc.state.requests.map((u) => u.split('?')[0]), ['/version/Worldwide']);
});

t.test('rules update: unreachable service, HTTP errors, bad options', async (t) => {
  const dir = await rulesCopy(t);
  const svc = await webService(t);
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  let r = await runCli(['rules', 'update', '--rules', dir, '--service-url', `http://127.0.0.1:${port}`]);
  t.equal(r.code, 1);
  t.match(r.stderr, /cannot reach the endpoints web service at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  oneLine(t, r.stderr);
  svc.state.versionStatus = 503;
  r = await runCli(['rules', 'update', '--rules', dir, '--service-url', svc.url]);
  t.equal(r.code, 1);
  t.match(r.stderr, /answered HTTP 503 on \/version\/Worldwide/);
  r = await runCli(['rules', 'update', '--rules', dir, '--service-url', svc.url, '--instance', 'World wide']);
  t.equal(r.code, 2);
  r = await runCli(['rules', 'update', '--rules', dir, '--service-url', 'ftp://example.org']);
  t.equal(r.code, 2);
  oneLine(t, r.stderr);
});
