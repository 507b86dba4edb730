// Seeded fuzz of the catalog loader's pure core (catalogFromFiles in src/catalog/load.ts) on mutated copies of
// the shipped rules: text edits (syntax errors) and tree edits (wrong types, huge values, __proto__ keys).
// Properties: never throws; every problem is reported as file:line inside the file; the catalog still answers;
// catalog files are data only (no prototype pollution).
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { catalogFromFiles, type RulesFile } from '../../src/catalog/load.js';
import { Rng, FUZZ_SEED, fuzzCases, mutateString, bug } from '../helpers/fuzz.js';
import { repoPath } from '../helpers/paths.js';

const CASES = fuzzCases(0.125); // 500 of the default 4,000
const rulesDir = repoPath('rules/');
const shipped = new Map(
  readdirSync(rulesDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => [f, readFileSync(rulesDir + f, 'utf8')] as const),
);
const DIR = '/fuzz-rules';
const file = (name: string, text: string): RulesFile => ({ name, path: `${DIR}/${name}`, text });
// the small files (the 32 KB web-service list is parsed in the sanity test only, to keep the loop fast)
const SMALL = [...shipped.keys()].filter((n) => n !== 'policy.json' && shipped.get(n)!.length < 14_000);
const JSON_INSERTS = ['{', '}', '[', ']', ',', ':', '"', '\\', '\\u12', 'null', '1e999', '-', '/*', '\n', '\r\n', '\ufeff', '\0', '"__proto__":', 'NaN', "'"];
const HOSTS = ['mmdcustomer.microsoft.com', 'outlook.office365.com', 'example.org', '__proto__', 'constructor', 'a.b.c.d.e.f', '13.107.6.152', '::1'];

function randomValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 2 ? 8 : 11)) {
    case 0: return null;
    case 1: return rng.pick([0, -1, 1.5, 1e308, 65536, 443, -0]);
    case 2: return rng.pick(['', ' ', '*', '*.*', '**', 'a'.repeat(10_000), '..', 'mmdcustomer.microsoft.com', '10.0.0.0/33', '::/0', '0.0.0.0/0', 'bypass', 'deny', 'Optimize']);
    case 3: return rng.bool();
    case 4: return '__proto__';
    case 5: return rng.pick(['constructor', 'prototype', 'toString', 'hasOwnProperty']);
    case 6: return [];
    case 7: return {};
    case 8: return Array.from({ length: rng.range(1, 4) }, () => randomValue(rng, depth + 1));
    case 9: return JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}}');
    default: return Object.fromEntries(Array.from({ length: rng.range(1, 3) }, () => [rng.pick(['id', 'pattern', 'patterns', 'category', 'ports', 'detect', 'action', 'rules', 'meta', 'source', '__proto__', 'x']), randomValue(rng, depth + 1)]));
  }
}

/** Replaces, deletes or adds one node somewhere in a parsed JSON tree. */
function mutateTree(rng: Rng, v: unknown): unknown {
  if (v === null || typeof v !== 'object' || rng.bool(0.15)) return randomValue(rng);
  if (Array.isArray(v)) {
    if (v.length === 0 || rng.bool(0.2)) return [...v, randomValue(rng)];
    const i = rng.int(v.length);
    const copy = [...v];
    if (rng.bool(0.1)) copy.splice(i, 1);
    else copy[i] = mutateTree(rng, v[i]);
    return copy;
  }
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 0 || rng.bool(0.2)) entries.push([rng.pick(['__proto__', 'constructor', 'rules', 'meta', 'extra', 'default', 'sources']), randomValue(rng)]);
  else {
    const i = rng.int(entries.length);
    entries[i] = [entries[i]![0], mutateTree(rng, entries[i]![1])];
  }
  // JSON text keeps "__proto__" as an ordinary member (JSON.parse defines own properties)
  return JSON.parse(`{${entries.map(([k, x]) => `${JSON.stringify(k)}:${JSON.stringify(x) ?? 'null'}`).join(',')}}`);
}

function mutateFile(rng: Rng, text: string): string {
  if (rng.bool(0.5)) return mutateString(rng, text, JSON_INSERTS, 3);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return text;
  }
  for (let k = rng.range(1, 3); k > 0; k--) v = mutateTree(rng, v);
  return JSON.stringify(v, null, rng.pick([0, 1, 2, '\t'])) ?? 'null';
}

const lineCount = (s: string): number => s.split('\n').length;

t.test('the shipped rules load with no errors (sanity for the fuzz below)', async (t) => {
  const files = [...shipped].map(([n, s]) => file(n, s));
  const r = catalogFromFiles({ policyPath: `${DIR}/policy.json`, files });
  t.same(r.errors, []);
  t.equal(r.catalog.lookup('mmdcustomer.microsoft.com', 443)?.trust, 'bypass');
});

t.test(`${CASES} mutated rule sets (seed ${FUZZ_SEED}): no throw, file:line errors, catalog still answers`, async (t) => {
  const rng = new Rng(FUZZ_SEED);
  const failures: string[] = [];
  let errorsSeen = 0;
  let slowest = 0;
  for (let i = 0; i < CASES; i++) {
    const r = rng.fork(i);
    const names = new Set(['policy.json', ...Array.from({ length: r.range(1, 3) }, () => r.pick(SMALL))]);
    if (names.has('teams.json') && r.bool()) names.add('teams.meta.json');
    const victims = new Set([r.pick([...names])]);
    if (r.bool(0.2)) victims.add(r.pick([...names]));
    const files = [...names].map((n) => file(n, victims.has(n) ? mutateFile(r, shipped.get(n)!) : shipped.get(n)!));
    const byPath = new Map(files.map((f) => [f.path, f.text]));
    const t0 = performance.now();
    let out: ReturnType<typeof catalogFromFiles>;
    try {
      out = catalogFromFiles({ policyPath: `${DIR}/policy.json`, files });
      for (const h of HOSTS) out.catalog.lookup(h, r.pick([443, 80, 1, 65535]));
    } catch (e) {
      failures.push(`case ${i} (${[...victims]}): threw ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}`);
      continue;
    }
    slowest = Math.max(slowest, performance.now() - t0);
    errorsSeen += out.errors.length;
    for (const e of out.errors) {
      const text = byPath.get(e.file);
      if (typeof e.message !== 'string' || e.message.length === 0) failures.push(`case ${i}: empty message`);
      if (text === undefined) failures.push(`case ${i}: error names an unknown file ${e.file}`);
      else if (!Number.isInteger(e.line) || e.line < 0 || e.line > lineCount(text) + 1) failures.push(`case ${i}: ${e.file}:${e.line} outside 0..${lineCount(text) + 1}`);
    }
    for (const f of files) {
      let valid = true;
      try {
        JSON.parse(f.text.replace(/^\ufeff/, ''));
      } catch {
        valid = false;
      }
      if (!valid && !out.errors.some((e) => e.file === f.path && e.line >= 1)) failures.push(`case ${i}: ${f.name} is not JSON but no file:line error names it`);
    }
  }
  t.comment(`${CASES} rule sets, ${errorsSeen} errors reported, slowest ${slowest.toFixed(1)} ms`);
  t.same(failures.slice(0, 10), [], `no failures (rerun with FUZZ_SEED=${FUZZ_SEED})`);
  t.equal(Object.keys(Object.prototype).length, 0, 'Object.prototype untouched');
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no pollution');
});

t.test('__proto__ / constructor keys in every catalog file are data, never prototype pollution', async (t) => {
  const evil = '{"__proto__": {"polluted": "yes", "rules": [{"id": "p", "pattern": "proto.example", "category": "service"}]}, "constructor": {"prototype": {"polluted": "yes"}}';
  const files = [
    file('policy.json', `${evil}, "default": "mode", "sources": {"__proto__": {"service": "bypass", "__proto__": "bypass"}, "named": {"__proto__": "bypass"}}, "rules": {"__proto__": "bypass"}}`),
    file('evil.json', `${evil}, "meta": {"__proto__": {"source": "x"}}, "rules": [{"id": "1", "pattern": "evil.example", "category": "__proto__", "__proto__": {"detect": false}}, {"id": "2", "pattern": "ctor.example", "category": "constructor"}]}`),
    file('named.json', '{"rules": [{"id": "1", "pattern": "named.example", "category": "__proto__"}]}'),
    file('local.json', `${evil}, "rules": [{"id": "l1", "pattern": "local.example", "action": "bypass", "__proto__": {"ports": [1]}}]}`),
    file('web.json', '[{"id": 1, "serviceArea": "Exchange", "urls": ["web.example"], "category": "__proto__", "__proto__": {"category": "Optimize"}}]'),
    file('web.meta.json', '{"__proto__": {"version": "x"}, "version": "2024010100"}'),
  ];
  const out = catalogFromFiles({ policyPath: `${DIR}/policy.json`, files });
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype.polluted is not set');
  t.equal(Object.keys(Object.prototype).length, 0);
  t.equal(out.catalog.lookup('proto.example', 443), null, 'a "rules" array smuggled in through __proto__ is not read');
  t.equal(out.catalog.lookup('evil.example', 443)?.trust, 'mode', 'category "__proto__" is just a name: not trusted');
  t.equal(out.catalog.lookup('ctor.example', 443)?.trust, 'mode', 'category "constructor" is just a name: not trusted');
  t.equal(out.catalog.lookup('web.example', 443)?.trust, 'mode');
  t.equal(out.catalog.lookup('named.example', 443)?.trust, 'bypass', 'policy keys are plain data: a category the policy names "__proto__" is looked up like any other');
  t.equal(out.catalog.lookup('local.example', 1)?.trust, 'bypass', 'a ports list smuggled in through __proto__ is not read (any port)');
  t.equal(out.catalog.lookup('__proto__', 443), null);
  t.equal(out.catalog.lookup('constructor', 443), null);
  const evilInfo = out.sources.find((s) => s.source === 'evil');
  t.ok(evilInfo, 'the evil source loaded');
});

t.test(
  'per-source category counts count categories named like Object.prototype members',
  async (t) => {
    const files = [
      file('policy.json', shipped.get('policy.json')!),
      file('odd.json', '{"rules": [{"id": "1", "pattern": "a.example", "category": "constructor"}, {"id": "2", "pattern": "b.example", "category": "__proto__"}]}'),
    ];
    const out = catalogFromFiles({ policyPath: `${DIR}/policy.json`, files });
    const info = out.sources.find((s) => s.source === 'odd')!;
    t.equal(Object.getOwnPropertyDescriptor(info.categories, 'constructor')?.value, 1);
    t.equal(Object.getOwnPropertyDescriptor(info.categories, '__proto__')?.value, 1);
  },
);

t.test('pathological JSON: deep nesting, huge arrays, BOM + CRLF never throw', async (t) => {
  const policy = file('policy.json', shipped.get('policy.json')!);
  const cases: [string, string][] = [
    ['deep arrays', '['.repeat(100_000) + ']'.repeat(100_000)],
    ['deep objects', '{"rules":'.repeat(20_000) + '[]' + '}'.repeat(20_000)],
    ['unterminated deep', '['.repeat(100_000)],
    ['many rules', JSON.stringify({ rules: Array.from({ length: 20_000 }, (_, i) => ({ id: String(i), pattern: `h${i}.example`, category: 'service' })) })],
    ['BOM + CRLF', '\ufeff{\r\n"rules": [\r\n{"id": "1", "pattern": "bad host", "category": "x"}\r\n]\r\n}'],
  ];
  for (const [name, text] of cases) {
    const t0 = performance.now();
    let out: ReturnType<typeof catalogFromFiles> | undefined;
    t.doesNotThrow(() => {
      out = catalogFromFiles({ policyPath: `${DIR}/policy.json`, files: [policy, file('p.json', text)] });
    }, name);
    t.ok(performance.now() - t0 < 5000, `${name}: ${(performance.now() - t0).toFixed(0)} ms`);
    if (name === 'BOM + CRLF') t.match(out?.errors, [{ file: `${DIR}/p.json`, line: 3 }], 'CRLF lines counted');
  }
});
