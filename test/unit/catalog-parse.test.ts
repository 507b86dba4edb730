// Parsers below the loader: JSON with line numbers, policy.json, the project format and the
// web-service shape, each from small inline texts.
import t from 'tap';
import { lineAt, parseLocated } from '../../src/catalog/json-located.js';
import { parseSidecar, parseWebServiceText } from '../../src/catalog/parse-m365.js';
import { parseProjectText } from '../../src/catalog/parse-project.js';
import { parsePolicyText, resolvePolicy } from '../../src/catalog/policy.js';

t.test('JSON syntax errors carry the line, even when V8 gives no position', async (t) => {
  const table: [string, number, RegExp][] = [
    ['{\n  "a": 1,\n}', 3, /property name/],
    ['[\n1,\n2,\n]', 4, /a value was expected/],
    ['{\n "a": tru\n}', 2, /a value was expected/],
    ['{\n "a" 1}', 2, /expected ':'/],
    ['[1,\n2]\nx', 3, /after the JSON value/],
    ['', 1, /end of input/],
    ['{"a": "b\nc"}', 1, /control character/],
    ['{"a":\n 01}', 2, /bad number/],
    ['["\\x"]', 1, /bad escape/],
    ['["\\u12"]', 1, /bad \\u escape/],
    ['["abc', 1, /unterminated string/],
    ['[1 2]', 1, /expected ',' or '\]'/],
    ['{"a":1 "b":2}', 1, /expected ',' or '}'/],
  ];
  for (const [text, line, message] of table) {
    const r = parseLocated(text);
    t.notOk(r.ok, JSON.stringify(text));
    if (!r.ok) {
      t.equal(r.line, line, `${JSON.stringify(text)} line`);
      t.match(r.message, message, JSON.stringify(text));
    }
  }
});

t.test('JSON values: lines of nested entries, BOM, escapes', async (t) => {
  const text = '\uFEFF{\n  "rules": [\n    {"id": "a"},\n    {"id": "b",\n     "x": [1,\n           {"deep": {"deeper": [true]}}]}\n  ],\n  "s": "q\\"\\u00e9\\n"\n}';
  const r = parseLocated(text);
  t.ok(r.ok);
  if (!r.ok) return;
  t.equal(r.line(['rules', 0]), 3);
  t.equal(r.line(['rules', 1]), 4);
  t.equal(r.line(['rules', 1, 'x']), 5);
  t.equal(r.line(['rules', 1, 'x', 1]), 6);
  t.equal(r.line(['rules', 1, 'x', 1, 'deep', 'deeper', 0]), 6, 'deeper than recorded: nearest recorded ancestor');
  t.equal(r.line(['nope']), 1);
  t.equal(r.line([]), 1);
  t.same((r.value as { s: string }).s, 'q"é\n');
  t.equal(lineAt('a\nb\nc', 4), 3);
  t.equal(parseLocated('[1e5, -0.5, 0, null, false, {}, []]').ok, true);
});

t.test('policy.json: shapes, resolution order and errors', async (t) => {
  const text = `{
  "default": "mode",
  "webService": { "Optimize": "bypass", "Default": "mode" },
  "sources": {
    "autopatch": { "service": "bypass" },
    "intune": { "service": { "decision": "bypass", "detect": false }, "*": "mode", "dependency": { "decision": "mode", "fallback": true } },
    "m365": { "Allow": "bypass" }
  },
  "rules": { "autopatch/7": { "detect": false }, "intune/x": "deny" }
}`;
  const { policy, errors } = parsePolicyText(text, 'p.json');
  t.same(errors, []);
  const r = (source: string, id: string, category: string, web = false, detect?: boolean) =>
    resolvePolicy(policy, { source, id, category, detect }, web);
  t.same(r('autopatch', '1', 'service'), { trust: 'bypass', detect: true, fallback: false });
  t.same(r('autopatch', '7', 'service'), { trust: 'bypass', detect: false, fallback: false }, 'per-rule override');
  t.same(r('autopatch', '1', 'service', false, false), { trust: 'bypass', detect: false, fallback: false }, 'the rule’s own detect');
  t.same(r('intune', '1', 'service'), { trust: 'bypass', detect: false, fallback: false });
  t.same(r('intune', '1', 'other'), { trust: 'mode', detect: true, fallback: false }, '"*" category');
  t.same(r('intune', '2', 'dependency'), { trust: 'mode', detect: true, fallback: true });
  t.same(r('intune', 'x', 'service'), { trust: 'deny', detect: false, fallback: false }, 'override decision, category detect');
  t.same(r('downloaded', '1', 'Optimize', true), { trust: 'bypass', detect: true, fallback: false }, 'webService table for unnamed arrays');
  t.same(r('downloaded', '1', 'Optimize', false), { trust: 'mode', detect: true, fallback: false }, 'not for project files');
  t.same(r('m365', '1', 'Optimize', true), { trust: 'mode', detect: true, fallback: false }, 'a named source does not fall back to webService');

  const bad = parsePolicyText(
    `{
  "default": "allow",
  "sources": {
    "a": { "x": "trusted", "y": { "decision": "bypass", "detect": "no", "fallback": 1, "extra": true } },
    "b": []
  },
  "rules": { "no-slash": "bypass" },
  "webService": 5
}`,
    'p.json',
  );
  t.same(
    bad.errors.map((e) => `${e.line} ${e.message}`),
    [
      '2 "default" must be one of bypass, mode, deny',
      '4 decision must be one of bypass, mode, deny, not "trusted"',
      '4 "detect" must be true or false',
      '4 "fallback" must be true or false',
      '4 unknown key "extra" (decision, detect, fallback)',
      '5 expected an object, not an array',
      '7 rule override key "no-slash" must be "source/id"',
      '8 expected an object, not number',
    ],
  );
  t.equal(bad.policy.default, 'mode');
  for (const [text, message] of [
    ['[]', /expected an object/],
    ['{"sources": 3}', /"sources" must be an object/],
    ['{', /invalid JSON/],
  ] as const) {
    t.match(parsePolicyText(text, 'p.json').errors[0]?.message, message, text);
  }
});

t.test('project format: shapes and defaults', async (t) => {
  const text = JSON.stringify({
    meta: { product: 'P', version: 'v1' },
    rules: [
      { id: 7, pattern: 'a.example.com', category: 'c', ports: [443], detect: false },
      { id: 'x', patterns: ['b.example.com', 'B.example.com', '10.1.0.0/16'], category: 'c' },
      { id: 'x', pattern: 'b.example.com', category: 'c' },
    ],
    nonMatching: [{ id: 'n1' }, { id: 'n2' }],
  });
  const { source, errors } = parseProjectText(text, 'f.json', { defaultSource: 'stem' });
  t.same(errors, []);
  t.match(source, { source: 'stem', product: 'P', version: 'v1', format: 'project', nonMatching: 2 });
  t.same(
    source?.rules.map((r) => [r.id, r.pattern, r.detect]),
    [
      ['7', 'a.example.com', false],
      ['x', 'b.example.com', undefined],
      ['x', '10.1.0.0/16', undefined],
    ],
    'numeric ids become strings; duplicates in one source are kept once',
  );
  const errs = (doc: unknown, local = false) =>
    parseProjectText(JSON.stringify(doc), 'f.json', { defaultSource: 's', local }).errors.map((e) => e.message);
  t.match(errs({ meta: { source: 'Bad Name' }, rules: [] }), [/source name "Bad Name"/]);
  t.match(errs({ meta: 'x', rules: [] }), [/"meta" must be an object/]);
  t.match(errs({ rules: {} }), [/"rules" array/]);
  t.match(errs({ rules: [], nonMatching: {} }), [/"nonMatching" must be an array/]);
  t.match(errs({ rules: [{ pattern: 'a.example.com', category: 'c' }] }), [/"id" \(string\) is required/]);
  t.match(errs({ rules: [{ id: '1', category: 'c' }] }), [/"pattern" or "patterns" is required/]);
  t.match(errs({ rules: [{ id: '1', category: 'c', patterns: 'a.example.com' }] }), [/"patterns" must be an array/]);
  t.match(errs({ rules: [{ id: '1', category: 'c', patterns: [5] }] }), [/a pattern must be a string, not number/]);
  t.match(errs({ rules: [{ id: '1', pattern: 'a.example.com', category: 'c' }] }, true), [/"action" must be one of/]);
  const local = parseProjectText(JSON.stringify({ rules: [{ id: 's', pattern: '*.example.org', action: 'allow' }] }), 'l.json', {
    defaultSource: 'x',
    local: true,
  });
  t.match(local.source, { source: 'local', format: 'local', product: 'site overrides', rules: [{ category: 'allow', action: 'allow' }] });
});

t.test('web-service shape: oddities accepted, nonsense reported', async (t) => {
  const text = JSON.stringify([
    { id: 1, urls: 'single.example.com', tcpPorts: 443, category: 'ALLOW', expressRoute: 'False', required: 'TRUE' },
    { id: 2, ips: ['13.107.64.0/18'], udpPorts: '3478-3481', category: 'Optimize' },
    { id: 3, urls: ['a.example.com'], category: 'NewCategory' },
    { id: 4, urls: ['10.0.0.0/8'], ips: ['b.example.com'], category: 'Allow' },
    { id: 5, urls: [7], category: 'Allow' },
    { id: 6, urls: ['c.example.com'], tcpPorts: '80', udpPorts: 'x', category: 'Allow' },
    { id: '', urls: ['d.example.com'], category: 'Allow' },
  ]);
  const { source, errors } = parseWebServiceText(text, 'w.json', { source: 'w' });
  t.same(
    source?.rules.map((r) => `${r.id} ${r.category} ${r.pattern}`),
    ['1 Allow single.example.com', '3 NewCategory a.example.com'],
  );
  t.equal(source?.nonMatching, 1);
  t.match(
    errors.map((e) => e.message),
    [/"10.0.0.0\/8" in urls is an IP range/, /"b.example.com" in ips is not an IP range/, /urls entries must be strings/, /udpPorts: bad port "x"/, /"id" is missing/],
  );
  t.match(parseWebServiceText('{}', 'w.json', { source: 'w' }).errors, [{ message: /expected a JSON array/ }]);
  t.match(parseWebServiceText('[', 'w.json', { source: 'w' }).errors, [{ line: 1, message: /invalid JSON/ }]);
  // Python-literal copies (True/False) are not JSON: a clear error, not a crash.
  t.match(parseWebServiceText('[{"id": 1, "expressRoute": True}]', 'w.json', { source: 'w' }).errors, [{ message: /invalid JSON/ }]);

  t.same(parseSidecar('{"version": "2023073100", "source": "m365"}', 's.json').errors, []);
  t.match(parseSidecar('{"version": 2023073100}', 's.json').errors, [{ message: /"version" must be a string/ }]);
  t.match(parseSidecar('[]', 's.json').errors, [{ message: /expected an object/ }]);
  t.match(parseSidecar('{', 's.json').errors, [{ message: /invalid JSON/ }]);
});
