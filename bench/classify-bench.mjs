// Catalog lookup rate: the compiled shipped catalog (rules/) against a mix of hits, misses and
// lookalikes, single-threaded. A benchmark, not a test: it prints figures and asserts nothing.
// Uses dist/catalog/ when it is at least as new as src/catalog/, else compiles src/catalog/ into a temp dir.
//   node bench/classify-bench.mjs [--seconds 2] [--rules DIR] [--fresh (always compile into a temp dir)]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
};
const seconds = Number(opt('seconds', '2'));
const rulesDir = resolve(opt('rules', join(root, 'rules')));

function newest(dir, ext) {
  let t = 0;
  for (const f of readdirSync(dir)) if (f.endsWith(ext)) t = Math.max(t, statSync(join(dir, f)).mtimeMs);
  return t;
}

let loadModule;
let cleanup = () => {};
const dist = join(root, 'dist', 'catalog', 'load.js');
if (!args.includes('--fresh') && existsSync(dist) && newest(join(root, 'dist', 'catalog'), '.js') >= newest(join(root, 'src', 'catalog'), '.ts')) {
  loadModule = dist;
} else {
  const out = mkdtempSync(join(tmpdir(), 'classify-bench-'));
  cleanup = () => rmSync(out, { recursive: true, force: true });
  const files = readdirSync(join(root, 'src', 'catalog')).filter((f) => f.endsWith('.ts')).map((f) => join(root, 'src', 'catalog', f));
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '--outDir', out, '--rootDir', join(root, 'src'), '--module', 'nodenext', '--moduleResolution', 'nodenext',
    '--target', 'es2022', '--strict', '--skipLibCheck', '--esModuleInterop', '--types', 'node', ...files], { stdio: 'inherit' });
  symlinkSync(join(root, 'node_modules'), join(out, 'node_modules'), 'dir'); // so ipaddr.js resolves from the temp dir
  loadModule = join(out, 'catalog', 'load.js');
}

const { loadRules, catalogFromFiles } = await import(pathToFileURL(loadModule).href);
const t0 = performance.now();
const { catalog, errors } = await loadRules(rulesDir);
const loadMs = performance.now() - t0;
cleanup();
if (errors.length > 0) console.log(`warning: ${errors.length} catalog errors, e.g. ${errors[0].file}:${errors[0].line} ${errors[0].message}`);

// The mix: what a device behind the proxy asks for, plus misses and hostile lookalikes.
const hits = [
  ['mmdcustomer.microsoft.com', 443], ['outlook.office365.com', 443], ['contoso.sharepoint.com', 443], ['contoso-my.sharepoint.com', 443],
  ['contoso-files.sharepoint.com', 443], ['2.dl.delivery.mp.microsoft.com', 80], ['kv801.prod.do.dsp.mp.microsoft.com', 443],
  ['fe2.update.microsoft.com', 443], ['au.download.windowsupdate.com', 80], ['a.manage.microsoft.com', 443], ['login.microsoftonline.com', 443],
  ['payloadprod3.blob.core.windows.net', 443], ['autodiscover.contoso.onmicrosoft.com', 443], ['watson.telemetry.microsoft.com', 443],
  ['www.microsoft.com', 443], ['EnterpriseEnrollment.manage.microsoft.com.', 443], ['teams.microsoft.com', 443], ['xcdn.onenote.net', 443],
  ['13.107.6.152', 443], ['2620:1ec:4::152', 443],
];
const misses = [
  ['random.example.com', 443], ['www.google.com', 443], ['api.github.com', 443], ['registry.npmjs.org', 443], ['a.b.c.d.e.example.net', 443],
  ['intranet', 80], ['10.1.2.3', 443], ['outlook.office365.com', 8443],
];
const lookalikes = [
  ['mmdcustomer.microsoft.com.evil.com', 443], ['notoutlook.office365.com', 443], ['microsoft.com.evil.com', 443], ['sharepoint.com', 443],
  ['manage.microsoft.com.attacker.net', 443], ['outlook-office365.com', 443],
];
const mix = [];
for (let i = 0; i < 4; i++) mix.push(...hits); // 4 : 2 : 1 hits : misses : lookalikes
for (let i = 0; i < 2; i++) mix.push(...misses);
mix.push(...lookalikes);
const hosts = mix.map((m) => m[0]);
const ports = mix.map((m) => m[1]);

function run(ms, catalog) {
  let n = 0;
  let found = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < hosts.length; i++) if (catalog.lookup(hosts[i], ports[i]) !== null) found++;
    n += hosts.length;
  }
  return { n, found };
}

run(300, catalog); // warm up the JIT
const start = performance.now();
const { n, found } = run(seconds * 1000, catalog);
const elapsed = (performance.now() - start) / 1000;
const rules = catalog.sources.reduce((s, x) => s + x.rules, 0);
console.log(`catalog: ${rules} rules from ${catalog.sources.length} sources, loaded in ${loadMs.toFixed(1)} ms (${loadModule.includes('classify-bench-') ? 'temp build' : 'dist'})`);
console.log(`mix: ${hosts.length} targets (${hits.length * 4} hits, ${misses.length * 2} misses, ${lookalikes.length} lookalikes), ${(found / n * 100).toFixed(0)}% matched`);
console.log(`lookups: ${n} in ${elapsed.toFixed(2)} s = ${(n / elapsed / 1e6).toFixed(2)} M/s (${(elapsed / n * 1e9).toFixed(0)} ns each), target >= 2 M/s`);

// Scaling: the same mix against the shipped catalog plus 100 000 synthetic rules (exact, `*.`, in-label
// stars, under the same Microsoft suffixes). The rate should stay in the same range.
const { readFileSync } = await import('node:fs');
const files = readdirSync(rulesDir)
  .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
  .map((name) => ({ name, path: join(rulesDir, name), text: readFileSync(join(rulesDir, name), 'utf8') }));
const suffixes = ['microsoft.com', 'sharepoint.com', 'office365.com', 'manage.microsoft.com', 'example.net', 'windows.net'];
const synthetic = [];
for (let i = 0; i < 100_000; i++) {
  const sfx = suffixes[i % suffixes.length];
  const pattern = i % 3 === 0 ? `host${i}.${sfx}` : i % 3 === 1 ? `*.zone${i}.${sfx}` : `pre${i}*.${sfx}`;
  synthetic.push({ id: `s${i}`, pattern, category: 'synthetic', ports: [443] });
}
files.push({ name: 'zz-synthetic.json', path: 'zz-synthetic.json', text: JSON.stringify({ meta: { source: 'zz-synthetic' }, rules: synthetic }) });
const t1 = performance.now();
const big = catalogFromFiles({ policyPath: join(rulesDir, 'policy.json'), files }).catalog;
const buildMs = performance.now() - t1;
run(300, big);
const start2 = performance.now();
const r2 = run(seconds * 1000, big);
const elapsed2 = (performance.now() - start2) / 1000;
const rules2 = big.sources.reduce((s, x) => s + x.rules, 0);
console.log(`scaling: ${rules2} rules (built in ${buildMs.toFixed(0)} ms): ${(r2.n / elapsed2 / 1e6).toFixed(2)} M/s (${(elapsed2 / r2.n * 1e9).toFixed(0)} ns each)`);
