// Micro-benchmark of parseClientHello over the captured fixtures (not a test: prints ns/parse, asserts nothing).
// Uses dist/tls/client-hello.js, a path given as argv[2], or else transpiles src/tls/client-hello.ts to a temp dir.
// Usage: node bench/client-hello-bench.mjs [path/to/client-hello.js] [iterations per case, default 100000]
import { readFileSync, readdirSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixturesDir = join(root, 'test/fixtures/client-hello');

async function loadParser() {
  const given = process.argv[2] && !/^\d+$/.test(process.argv[2]) ? process.argv[2] : null;
  let path = given ?? join(root, 'dist/tls/client-hello.js');
  if (!given && !existsSync(path)) {
    // The parser imports nothing, so a single-file transpile is a faithful build of it.
    const ts = createRequire(import.meta.url)('typescript');
    const src = readFileSync(join(root, 'src/tls/client-hello.ts'), 'utf8');
    const out = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
    path = join(mkdtempSync(join(tmpdir(), 'client-hello-bench-')), 'client-hello.js');
    writeFileSync(path, out.outputText);
  }
  process.stdout.write(`parser: ${path}\n`);
  return import(pathToFileURL(path).href);
}

/** The same hello re-framed into two records (exercises reassembly). */
function twoRecords(one) {
  const hs = one.subarray(5, 5 + one.readUInt16BE(3));
  const cut = hs.length >> 1;
  const rec = (frag) => Buffer.concat([Buffer.from([22, one[1], one[2], frag.length >> 8, frag.length & 0xff]), frag]);
  return Buffer.concat([rec(hs.subarray(0, cut)), rec(hs.subarray(cut))]);
}

const { parseClientHello } = await loadParser();
const n = Number(process.argv.find((a, i) => i >= 2 && /^\d+$/.test(a)) ?? 100_000);
const cases = readdirSync(fixturesDir).filter((f) => f.endsWith('.bin')).sort()
  .map((f) => [f.slice(0, -4), readFileSync(join(fixturesDir, f))]);
const big = cases.find(([name]) => name === 'node-default-sni-alpn')[1];
cases.push(['(two records) node-default-sni-alpn', twoRecords(big)]);
cases.push(['(need-more, half) node-default-sni-alpn', big.subarray(0, big.length >> 1)]);
cases.push(['(not-tls) HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n')]);

let sink = 0;
const rows = [];
for (const [name, buf] of cases) {
  for (let i = 0; i < 2000; i++) sink += parseClientHello(buf).kind.length; // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink += parseClientHello(buf).kind.length;
  const ns = Number(process.hrtime.bigint() - t0) / n;
  rows.push([name, buf.length, parseClientHello(buf).kind, ns]);
}
const w = Math.max(...rows.map((r) => r[0].length));
for (const [name, len, kind, ns] of rows) {
  process.stdout.write(`${name.padEnd(w)}  ${String(len).padStart(4)} B  ${kind.padEnd(9)}  ${ns.toFixed(0).padStart(6)} ns/parse\n`);
}
const hellos = rows.filter((r) => r[2] === 'hello' && !r[0].startsWith('('));
process.stdout.write(`mean over ${hellos.length} captured hellos: ${(hellos.reduce((s, r) => s + r[3], 0) / hellos.length).toFixed(0)} ns/parse (${n} iterations each, node ${process.version})\n`);
if (sink === 0) process.stdout.write('unreachable\n');
