// Catalog diffs for hot-reload logging: added, removed, recategorised patterns and version changes.
import t from 'tap';
import { diffCatalogs } from '../../src/catalog/diff.js';
import { build, POLICY_ALL } from '../fixtures/catalog/build.js';

const v1 = [
  { id: 1, urls: ['outlook.office365.com', 'keep.example.com'], tcpPorts: '80,443', category: 'Optimize' },
  { id: 2, urls: ['gone.example.com', '*.moved.example.com'], ips: ['10.0.0.0/8'], tcpPorts: '443', category: 'Allow' },
];
const v2 = [
  { id: 1, urls: ['outlook.office365.com', 'keep.example.com'], tcpPorts: '80,443', category: 'Optimize' },
  { id: 2, urls: ['*.moved.example.com'], ips: ['10.0.0.0/8'], tcpPorts: '443,587', category: 'Allow' },
  { id: 3, urls: ['new.example.com', 'KEEP.example.com.'], tcpPorts: '443', category: 'Default' },
  { id: 4, urls: ['*.moved.example.com'], tcpPorts: '443', category: 'Default' },
];

t.test('diff between two versions of a source', async (t) => {
  const a = build({ 'policy.json': POLICY_ALL, 'm365.json': v1, 'm365.meta.json': { version: '2023073100' } }).catalog;
  const b = build({ 'policy.json': POLICY_ALL, 'm365.json': v2, 'm365.meta.json': { version: '2023080100' } }).catalog;
  const d = diffCatalogs(a, b);
  t.same(d.added.map((e) => e.pattern), ['new.example.com']);
  t.same(d.removed.map((e) => e.pattern), ['gone.example.com']);
  t.same(
    d.recategorised.map((r) => [r.pattern, r.before, r.after]),
    [
      ['keep.example.com', ['id=1 Optimize bypass ports=80,443'], ['id=1 Optimize bypass ports=80,443', 'id=3 Default mode ports=443']],
      ['*.moved.example.com', ['id=2 Allow bypass ports=443'], ['id=2 Allow bypass ports=443,587', 'id=4 Default mode ports=443']],
      ['10.0.0.0/8', ['id=2 Allow bypass ports=443'], ['id=2 Allow bypass ports=443,587']],
    ],
  );
  t.same(d.versions, [{ source: 'm365', before: '2023073100', after: '2023080100' }]);
  t.equal(d.same, false);
});

t.test('policy changes show up as recategorised; identical catalogs are the same', async (t) => {
  const a = build({ 'policy.json': POLICY_ALL, 'm365.json': v1 }).catalog;
  const stricter = { ...POLICY_ALL, rules: { 'm365/1': { decision: 'mode', detect: false } } };
  const b = build({ 'policy.json': stricter, 'm365.json': v1 }).catalog;
  const d = diffCatalogs(a, b);
  t.same(d.recategorised.map((r) => [r.pattern, r.after]), [
    ['outlook.office365.com', ['id=1 Optimize mode ports=80,443 detect=false']],
    ['keep.example.com', ['id=1 Optimize mode ports=80,443 detect=false']],
  ]);
  const same = diffCatalogs(a, build({ 'policy.json': POLICY_ALL, 'm365.json': v1 }).catalog);
  t.same(same, { added: [], removed: [], recategorised: [], versions: [], same: true });
  const dropped = diffCatalogs(a, build({ 'policy.json': POLICY_ALL }).catalog);
  t.equal(dropped.removed.length, 5);
  t.same(dropped.versions, [{ source: 'm365', before: '', after: null }]);
});
