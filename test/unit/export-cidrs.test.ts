// CIDR export: merging (overlaps, adjacency, host bits, mixed families) from a table, the exact decided
// set at a port (a narrower range decided otherwise is cut out), and the rendered list against the matcher.
import t from 'tap';
import ipaddr from 'ipaddr.js';
import { loadRules } from '../../src/catalog/load.js';
import { exportCidrs, renderCidrs } from '../../src/catalog/export-cidrs.js';
import { cidrInterval, formatAddress, intersect, mergeCidrs, normalize, subtract, toCidrs, v4Mask } from '../../src/catalog/export-ranges.js';
import { build, POLICY_ALL, project } from '../fixtures/catalog/build.js';
import { repoPath } from '../helpers/paths.js';

const merges: [string[], string[]][] = [
  [['10.0.0.0/25', '10.0.0.128/25'], ['10.0.0.0/24']], // adjacent halves
  [['10.0.0.0/24', '10.0.0.0/16'], ['10.0.0.0/16']], // contained
  [['10.0.0.5/24'], ['10.0.0.0/24']], // host bits masked
  [['10.0.0.0/24', '10.0.1.0/25'], ['10.0.0.0/24', '10.0.1.0/25']], // adjacent but not one block
  [['10.0.1.0/24', '10.0.0.0/24'], ['10.0.0.0/23']], // unsorted input
  [['10.0.0.0/24', '10.0.0.128/24'], ['10.0.0.0/24']], // duplicate after masking
  [['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.0'], ['10.0.0.0/30']], // bare addresses are /32
  [['10.0.0.0/23', '10.0.1.0/24', '10.0.2.0/24'], ['10.0.0.0/23', '10.0.2.0/24']], // overlap then adjacent
  [['10.0.0.1/32', '10.0.0.2/32'], ['10.0.0.1/32', '10.0.0.2/32']], // adjacent, misaligned
  [['2603:1006::/40', '2603:1006:100::/40'], ['2603:1006::/39']],
  [['2a01:111:f100:2000::a83e:3019/128', '2a01:111:f100:2000::a83e:3018/128'], ['2a01:111:f100:2000::a83e:3018/127']],
  [['2603:1006::1/40', '13.107.6.152/31', '13.107.6.150/31'], ['13.107.6.150/31', '13.107.6.152/31', '2603:1006::/40']], // v4 first
  [['0.0.0.0/0', '10.0.0.0/8'], ['0.0.0.0/0']],
  [['255.255.255.255/32', '255.255.255.254/32'], ['255.255.255.254/31']],
];
t.test('mergeCidrs', async (t) => {
  for (const [input, want] of merges) t.same(mergeCidrs(input).cidrs, want, input.join(' + '));
  t.same(mergeCidrs(['10.0.0.0/33', 'nope', 'a.example.com']).invalid, ['10.0.0.0/33', 'nope', 'a.example.com']);
});

t.test('interval helpers', async (t) => {
  const i = (a: number, b: number) => ({ lo: BigInt(a), hi: BigInt(b) });
  t.same(normalize([i(5, 9), i(0, 4), i(20, 30), i(25, 26)]), [i(0, 9), i(20, 30)]);
  t.same(intersect([i(0, 10), i(20, 30)], [i(5, 25)]), [i(5, 10), i(20, 25)]);
  t.same(subtract([i(0, 30)], [i(5, 9), i(20, 40)]), [i(0, 4), i(10, 19)]);
  t.same(subtract([i(0, 3)], [i(0, 3)]), []);
  t.same(toCidrs(4, [i(1, 6)]).map((c) => `${c.network}/${c.prefix}`), ['1/32', '2/31', '4/31', '6/32']);
  t.equal(v4Mask(31), '255.255.255.254');
  t.equal(v4Mask(0), '0.0.0.0');
  t.equal(v4Mask(20), '255.255.240.0');
  t.same(cidrInterval(4, 0, 0), { lo: 0n, hi: (1n << 32n) - 1n });
  t.equal(formatAddress(6, 1n), '::1');
});

t.test('a narrower range decided otherwise is cut out; ports and tiers respected', async (t) => {
  const policy = { ...POLICY_ALL, sources: { m365: { Optimize: 'bypass', Allow: 'bypass', Default: 'mode' } } };
  const { catalog, errors } = build({
    'policy.json': policy,
    'm365.json': project('m365', [
      ['52.96.0.0/14', 'Allow', [443]],
      ['52.97.0.0/16', 'Default', [443]], // carve-out
      ['52.97.128.0/24', 'Optimize', [443]], // trusted again inside it
      ['40.96.0.0/13', 'Allow', [25]], // another port
      ['2603:1006::/40', 'Optimize', [443]],
    ]),
    'local.json': { meta: {}, rules: [{ id: 'l', pattern: '52.96.1.0/24', action: 'mode' }] },
  });
  t.same(errors, []);
  const got = exportCidrs(catalog, { decision: 'bypass' });
  t.same(got, [
    '52.96.0.0/24', // 52.96.1.0/24 is local mode
    '52.96.2.0/23', '52.96.4.0/22', '52.96.8.0/21', '52.96.16.0/20', '52.96.32.0/19', '52.96.64.0/18', '52.96.128.0/17',
    '52.97.128.0/24', // Optimize inside the Default 52.97.0.0/16
    '52.98.0.0/15',
    '2603:1006::/40',
  ]);
  for (const ip of ['52.96.0.1', '52.96.1.1', '52.96.2.1', '52.97.0.1', '52.97.128.9', '52.99.255.255', '52.100.0.0', '40.96.0.1', '2603:1006::5']) {
    const inList = got.some((c) => {
      const [net, len] = ipaddr.parseCIDR(c);
      const a = ipaddr.parse(ip);
      return a.kind() === net.kind() && a.match(net, len);
    });
    t.equal(inList, catalog.lookup(ip, 443)?.trust === 'bypass', ip);
  }
  t.same(exportCidrs(catalog, { decision: 'bypass', port: 25 }), ['40.96.0.0/13']);
  t.same(exportCidrs(catalog, { decision: 'allowed' }), ['52.96.0.0/14', '2603:1006::/40']);
});

t.test('shipped rules: rendered list, header, order', async (t) => {
  const { catalog } = await loadRules(repoPath('rules'));
  const text = renderCidrs(catalog, { decision: 'bypass', now: new Date('2025-01-01T00:00:00Z') });
  t.match(text, /^# autopatch-proxy rules export --format cidrs --decision bypass \(rules evaluated at TCP port 443\)\n# generated 2025-01-01T00:00:00\.000Z/);
  const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const firstV6 = lines.findIndex((l) => l.includes(':'));
  t.ok(firstV6 > 0 && lines.slice(firstV6).every((l) => l.includes(':')), 'IPv4 then IPv6');
  t.same(mergeCidrs(lines).cidrs, lines, 'already merged and sorted');
  t.ok(lines.includes('13.107.6.152/31'));
});
