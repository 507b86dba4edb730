// Domain list and JSON exports: the domain list is sorted, de-duplicated, free of covered entries and names
// carve-outs as comments; the JSON round-trips every rule's provenance and the per-source versions.
import t from 'tap';
import { loadRules } from '../../src/catalog/load.js';
import { renderDomains } from '../../src/catalog/export-domains.js';
import { exportJson, renderJson, type ExportedCatalog } from '../../src/catalog/export-json.js';
import { selects, type ExportDecision } from '../../src/catalog/export-view.js';
import { patternText } from '../../src/catalog/pattern.js';
import { build, POLICY_ALL, project } from '../fixtures/catalog/build.js';
import { repoPath } from '../helpers/paths.js';

const NOW = new Date('2025-01-01T00:00:00Z');
const { catalog } = await loadRules(repoPath('rules'));
const entries = (text: string): string[] => text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));

for (const decision of ['bypass', 'allowed', 'all'] as ExportDecision[]) {
  t.test(`domains --decision ${decision}: sorted, unique, nothing covered twice`, async (t) => {
    const text = renderDomains(catalog, { decision, now: NOW });
    const list = entries(text);
    t.ok(list.length > 50);
    t.same(list, [...new Set(list)], 'no duplicates');
    t.same(list, [...list].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), 'code-point order');
    const suffixes = list.filter((e) => e.startsWith('*.')).map((e) => e.slice(1));
    t.same(list.filter((e) => suffixes.some((s) => e !== `*${s}` && e.endsWith(s))), [], 'no entry under a listed *.suffix');
    t.ok(list.every((e) => /^[a-z0-9_*-]+(\.[a-z0-9_*-]+)+$/.test(e)), 'host patterns only (no IPs, no schemes)');
    t.match(text, /^# autopatch-proxy rules export --format domains/);
  });
}

t.test('domains: what the bypass list holds and what it cannot say', async (t) => {
  const text = renderDomains(catalog, { decision: 'bypass', now: NOW });
  const list = entries(text);
  for (const e of ['mmdcustomer.microsoft.com', '*.sharepoint.com', '*.manage.microsoft.com', 'manage.microsoft.com', 'payloadprod*.blob.core.windows.net', 'outlook.office365.com']) {
    t.ok(list.includes(e), e);
  }
  for (const e of ['sharepoint.com', '*-files.sharepoint.com', 'www.microsoft.com', '*.microsoft.com']) t.notOk(list.includes(e), `not ${e}`);
  t.match(text, /#   m365-carveouts\/Default #39 \*-files\.sharepoint\.com \(mode\)/, 'carve-out named as a comment');
  // every listed pattern's own instances are bypass at 443 unless named as an exception
  const exact = list.filter((e) => !e.includes('*'));
  t.same(exact.filter((h) => catalog.lookup(h, 443)?.trust !== 'bypass'), [], 'exact names are bypass');
});

t.test('json: every selected rule with its provenance, per-source versions', async (t) => {
  for (const decision of ['bypass', 'allowed', 'all'] as ExportDecision[]) {
    const back = JSON.parse(renderJson(catalog, { decision, now: NOW })) as ExportedCatalog;
    const want = catalog.rules.filter((r) => selects(decision, r.trust));
    t.equal(back.rules.length, want.length, `${decision}: rule count`);
    t.same(
      back.rules.map((r) => [r.source, r.id, r.category, r.pattern, r.trust, r.detect, r.normalized]),
      want.map((r) => [r.ref.source, r.ref.id, r.ref.category, r.ref.pattern, r.trust, r.detect, patternText(r.pattern)]),
      `${decision}: provenance round-trips`,
    );
    t.same(back.versions, catalog.versions);
    t.equal(back.generated, '2025-01-01T00:00:00.000Z');
    t.equal(back.decision, decision);
  }
  const back = exportJson(catalog, { decision: 'all' });
  const byRef = (source: string, pattern: string) => back.rules.find((r) => r.source === source && r.pattern === pattern);
  t.match(byRef('m365-worldwide', 'outlook.office365.com'), { category: 'Optimize', trust: 'bypass', ports: [80, 443], kind: 'exact', file: 'm365-worldwide.json' });
  t.match(byRef('autopatch', 'payloadprod*.blob.core.windows.net'), { kind: 'labels', trust: 'bypass' });
  t.ok(back.rules.every((r) => r.line > 0), 'every rule has its file line');
  t.equal(Object.keys(back)[0], 'generator', 'the header members come first');
});

t.test('json: port ranges and "any" as the project format writes them', async (t) => {
  const { catalog: c } = build({
    'policy.json': { ...POLICY_ALL, sources: { s: { '*': 'bypass' } } },
    's.json': project('s', [['a.example.com', 'x', [80, 443]], ['b.example.com', 'x']]),
    'w.json': [{ id: 1, urls: ['c.example.com'], tcpPorts: '3478-3481, 443', category: 'Optimize' }],
  });
  const rules = exportJson(c, { decision: 'all' }).rules;
  t.same(rules.map((r) => [r.pattern, r.ports]), [['a.example.com', [80, 443]], ['b.example.com', null], ['c.example.com', [443, '3478-3481']]]);
});
