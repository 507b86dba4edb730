// Leaf minting benchmark (not a test: prints figures, asserts nothing): mint ms p50/p99 (sync and async
// signing), the context cache under N distinct concurrent hosts with event-loop delay, and forge's own
// pure-JS signing for reference. Uses dist/tls/*.js when newer than src/, else transpiles src/tls/{ca,mint,options,context-cache}.ts.
// Usage: node bench/mint-bench.mjs [iterations, default 500] [concurrent hosts, default 1000]
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const iterations = Number(process.argv[2] ?? 500);
const concurrentHosts = Number(process.argv[3] ?? 1000);
const FILES = ['ca', 'mint', 'options', 'context-cache'];

function tlsModulesDir() {
  const dist = join(root, 'dist/tls');
  const fresh = (f) => existsSync(join(dist, `${f}.js`))
    && statSync(join(dist, `${f}.js`)).mtimeMs >= statSync(join(root, `src/tls/${f}.ts`)).mtimeMs;
  if (FILES.every(fresh)) return dist;
  // Inside node_modules so that node-forge and lru-cache resolve from the transpiled files.
  const out = join(root, 'node_modules/.cache/autopatch-proxy-bench/tls');
  mkdirSync(out, { recursive: true });
  const ts = createRequire(import.meta.url)('typescript');
  for (const f of FILES) {
    const src = readFileSync(join(root, `src/tls/${f}.ts`), 'utf8');
    const js = ts.transpileModule(src, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    writeFileSync(join(out, `${f}.js`), js.outputText);
  }
  return out;
}

const dir = tlsModulesDir();
const load = (f) => import(pathToFileURL(join(dir, `${f}.js`)).href);
const { initCa } = await load('ca');
const { createMinter } = await load('mint');
const { createContextCache } = await load('context-cache');
const forge = (await import('node-forge')).default;

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const fmt = (ms) => `${ms.toFixed(3)} ms`;
function summary(label, samples) {
  const s = [...samples].sort((a, b) => a - b);
  process.stdout.write(`${label.padEnd(44)} p50 ${fmt(pct(s, 50)).padStart(10)}  p99 ${fmt(pct(s, 99)).padStart(10)}  max ${fmt(s.at(-1)).padStart(10)}  (n=${s.length})\n`);
}
function loopDelay(label, h) {
  process.stdout.write(`${label.padEnd(44)} p50 ${fmt(h.percentile(50) / 1e6).padStart(10)}  p99 ${fmt(h.percentile(99) / 1e6).padStart(10)}  max ${fmt(h.max / 1e6).padStart(10)}\n`);
}

const caDir = mkdtempSync(join(tmpdir(), 'autopatch-mint-bench-'));
try {
  process.stdout.write(`modules: ${dir}\nnode ${process.version}, ${iterations} iterations, ${concurrentHosts} concurrent hosts\n\n`);
  const ca = await initCa(caDir);
  let t0 = performance.now();
  const minter = await createMinter(ca);
  process.stdout.write(`${'leaf key generation (async, once)'.padEnd(44)} ${fmt(performance.now() - t0)}\n`);

  for (let i = 0; i < 50; i++) minter.mintSync(`warm${i}.bench.test`);
  const sync = [];
  for (let i = 0; i < iterations; i++) {
    t0 = performance.now();
    minter.mintSync(`s${i}.bench.test`);
    sync.push(performance.now() - t0);
  }
  summary('mintSync (build + Node sign + PEM)', sync);

  const asyncLat = [];
  const h1 = monitorEventLoopDelay({ resolution: 1 });
  h1.enable();
  for (let i = 0; i < iterations; i++) {
    t0 = performance.now();
    await minter.mint(`a${i}.bench.test`);
    asyncLat.push(performance.now() - t0);
  }
  h1.disable();
  summary('mint (async, sign in threadpool) latency', asyncLat);
  loopDelay('  event-loop delay during sequential mint', h1);

  const mintMs = [];
  const cache = createContextCache({ minter, max: concurrentHosts + 10, onMint: (ms) => mintMs.push(ms) });
  await cache.get('warm.bench.test');
  const h2 = monitorEventLoopDelay({ resolution: 1 });
  h2.enable();
  t0 = performance.now();
  await Promise.all(Array.from({ length: concurrentHosts }, (_, i) => cache.get(`c${i}.bench.test`)));
  const wall = performance.now() - t0;
  h2.disable();
  summary('context cache: mint → SecureContext', mintMs.slice(1));
  process.stdout.write(`${`  ${concurrentHosts} distinct hosts concurrently`.padEnd(44)} ${fmt(wall)} wall, ${(concurrentHosts / (wall / 1000)).toFixed(0)} contexts/s\n`);
  loopDelay('  event-loop delay during the burst', h2);
  const hits = [];
  for (let i = 0; i < iterations; i++) {
    t0 = performance.now();
    await cache.get(`c${i % concurrentHosts}.bench.test`);
    hits.push(performance.now() - t0);
  }
  summary('context cache hit', hits);

  // Reference: what DESIGN.md rules out (forge's pure-JS RSA signature, all of it loop time).
  const forgeKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const forgeMs = [];
  for (let i = 0; i < 20; i++) {
    const cert = forge.pki.certificateFromPem(minter.mintSync(`f${i}.bench.test`).certPem);
    t0 = performance.now();
    cert.sign(forgeKey, forge.md.sha256.create());
    forgeMs.push(performance.now() - t0);
  }
  summary('reference: forge pure-JS sign only', forgeMs);
} finally {
  rmSync(caDir, { recursive: true, force: true });
}
