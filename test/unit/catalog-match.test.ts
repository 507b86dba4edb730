// Matching semantics of the compiled catalog (DESIGN.md "Matching semantics"), from tables over small
// synthetic catalogs, plus a randomised cross-check of the index against the slow reference matcher
// over the shipped rules.
import t from 'tap';
import { loadRules } from '../../src/catalog/load.js';
import { normalizeHost, patternMatches, patternToRegExpSource, type CompiledPattern } from '../../src/catalog/pattern.js';
import type { CompiledCatalog, CompiledRule } from '../../src/catalog/compile.js';
import { build, POLICY_ALL, project, show } from '../fixtures/catalog/build.js';
import { repoPath } from '../helpers/paths.js';

const policy = {
  ...POLICY_ALL,
  sources: {
    m365: { Optimize: 'bypass', Allow: 'bypass', Default: 'mode' },
    autopatch: { service: 'bypass' },
    intune: { 'no-inspection': 'bypass', service: { decision: 'bypass', detect: false }, dependency: { decision: 'mode', fallback: true } },
    blocked: { '*': 'deny' },
  },
};

const m365 = project('m365', [
  ['outlook.office365.com', 'Optimize', [80, 443]],
  ['outlook.office365.com', 'Allow', [587, 993, 995]],
  ['*.office365.com', 'Default', [80, 443]],
  ['*.sharepoint.com', 'Optimize', [80, 443]],
  ['*-files.sharepoint.com', 'Default', [80, 443]],
  ['*-myfiles.sharepoint.com', 'Default', [80, 443]],
  ['*.microsoft.com', 'Default', [443]],
  ['*.teams.microsoft.com', 'Allow', [80, 443]],
  ['teams.microsoft.com', 'Allow', [80, 443]],
  ['*cdn.onenote.net', 'Default', [443]],
  ['autodiscover.*.onmicrosoft.com', 'Default', [80, 443]],
  ['*.onmicrosoft.com', 'Default', [80, 443]],
  ['watson.*.microsoft.com', 'Allow', [443]],
  ['*.outlook.office.com', 'Allow', [143, 993]],
  ['*.outlook.office.com', 'Default', [80, 443]],
  ['<tenant>-my.sharepoint.com', 'Default', [443]],
  ['*.azureedge.net', 'Default', [443]],
  ['13.107.6.152/31', 'Optimize', [443]],
  ['52.96.0.0/14', 'Allow', [443]],
  ['52.97.0.0/16', 'Default', [443]],
  ['2603:1006::/40', 'Optimize', [443]],
  ['2620:1ec:4::152/128', 'Optimize', [443]],
  ['2a01:111:f100:2000::a83e:3019/128', 'Allow', [443]],
]);

const base = {
  'policy.json': policy,
  'm365.json': m365,
  'autopatch.json': project('autopatch', [
    ['mmdcustomer.microsoft.com', 'service', [443]],
    ['payloadprod*.blob.core.windows.net', 'service', [443]],
  ]),
  'intune.json': project('intune', [
    ['*.manage.microsoft.com', 'no-inspection', [80, 443]],
    ['swda01-mscdn.manage.microsoft.com', 'service', [443]],
    ['*.trouter.teams.microsoft.com', 'dependency', [443]],
    ['config.example.org', 'dependency', [443]],
    ['*.azureedge.net', 'dependency', [443]],
  ]),
  'blocked.json': project('blocked', [['bad.microsoft.com', 'x']]),
  'udp.json': [{ id: 11, category: 'Optimize', ips: ['13.107.64.0/18'], udpPorts: '3478-3481' }],
};

const { catalog, errors } = build(base);

t.test('the synthetic catalog loads cleanly', async (t) => {
  t.same(errors, []);
});

t.test('matching semantics and precedence', async (t) => {
  const table: [string, number, string][] = [
    // exact host, case, trailing dot
    ['mmdcustomer.microsoft.com', 443, 'bypass autopatch/service mmdcustomer.microsoft.com'],
    ['MMDCustomer.Microsoft.COM.', 443, 'bypass autopatch/service mmdcustomer.microsoft.com'],
    // a broad Default never hides a narrower trusted host, never makes one trusted
    ['www.microsoft.com', 443, 'mode m365/Default *.microsoft.com'],
    ['mmdcustomer.microsoft.com', 80, 'null'], // port-aware: listed for 443 only, and *.microsoft.com is 443 only
    // lookalikes
    ['mmdcustomer.microsoft.com.evil.com', 443, 'null'],
    ['microsoft.com.evil.com', 443, 'null'],
    ['notoutlook.office365.com', 443, 'mode m365/Default *.office365.com'],
    ['outlook.office365.com.evil.com', 443, 'null'],
    ['evilmicrosoft.com', 443, 'null'],
    // the apex of a wildcard is not matched by it
    ['microsoft.com', 443, 'null'],
    ['sharepoint.com', 443, 'null'],
    ['teams.microsoft.com', 443, 'bypass m365/Allow teams.microsoft.com'], // listed separately, as Microsoft does
    // any depth below *.
    ['contoso.sharepoint.com', 443, 'bypass m365/Optimize *.sharepoint.com'],
    ['a.b.contoso.sharepoint.com', 443, 'bypass m365/Optimize *.sharepoint.com'],
    // carve-outs: the more specific Default beats the broader Optimize
    ['contoso-files.sharepoint.com', 443, 'mode m365/Default *-files.sharepoint.com'],
    ['contoso-myfiles.sharepoint.com', 443, 'mode m365/Default *-myfiles.sharepoint.com'],
    ['a.contoso-files.sharepoint.com', 443, 'bypass m365/Optimize *.sharepoint.com'], // in-label star never spans a dot
    ['contoso-my.sharepoint.com', 443, 'mode m365/Default <tenant>-my.sharepoint.com'],
    // the same host in several sets: ports pick the set
    ['outlook.office365.com', 443, 'bypass m365/Optimize outlook.office365.com'],
    ['outlook.office365.com', 587, 'bypass m365/Allow outlook.office365.com'],
    ['outlook.office365.com', 25, 'null'],
    ['x.outlook.office.com', 993, 'bypass m365/Allow *.outlook.office.com'],
    ['x.outlook.office.com', 443, 'mode m365/Default *.outlook.office.com'],
    // in-label stars (zero or more characters)
    ['cdn.onenote.net', 443, 'mode m365/Default *cdn.onenote.net'],
    ['xcdn.onenote.net', 443, 'mode m365/Default *cdn.onenote.net'],
    ['a.cdn.onenote.net', 443, 'null'],
    ['payloadprod7.blob.core.windows.net', 443, 'bypass autopatch/service payloadprod*.blob.core.windows.net'],
    ['payloadprod.blob.core.windows.net', 443, 'bypass autopatch/service payloadprod*.blob.core.windows.net'],
    ['notpayloadprod7.blob.core.windows.net', 443, 'null'],
    // middle star: exactly one label
    ['autodiscover.contoso.onmicrosoft.com', 443, 'mode m365/Default autodiscover.*.onmicrosoft.com'],
    ['autodiscover.a.b.onmicrosoft.com', 443, 'mode m365/Default *.onmicrosoft.com'],
    ['watson.telemetry.microsoft.com', 443, 'bypass m365/Allow watson.*.microsoft.com'],
    ['watson.a.b.microsoft.com', 443, 'mode m365/Default *.microsoft.com'],
    // more labels beat fewer
    ['a.manage.microsoft.com', 443, 'bypass intune/no-inspection *.manage.microsoft.com'],
    ['swda01-mscdn.manage.microsoft.com', 443, 'bypass intune/service swda01-mscdn.manage.microsoft.com'],
    ['swda01-mscdn.manage.microsoft.com', 80, 'bypass intune/no-inspection *.manage.microsoft.com'],
    // a fallback list never carves a host out of another list's trusted wildcard …
    ['x.trouter.teams.microsoft.com', 443, 'bypass m365/Allow *.teams.microsoft.com'],
    // … but still names hosts nobody else names
    ['config.example.org', 443, 'mode intune/dependency config.example.org'],
    // equal specificity: deny > bypass > mode; Optimize > Allow > other > Default
    ['bad.microsoft.com', 443, 'deny blocked/x bad.microsoft.com'],
    ['cdn1.azureedge.net', 443, 'mode m365/Default *.azureedge.net'],
    // IP literals: CIDR only, longest prefix first, host bits, /128, IPv4-mapped
    ['13.107.6.152', 443, 'bypass m365/Optimize 13.107.6.152/31'],
    ['13.107.6.153', 443, 'bypass m365/Optimize 13.107.6.152/31'],
    ['13.107.6.154', 443, 'null'],
    ['52.97.1.1', 443, 'mode m365/Default 52.97.0.0/16'],
    ['52.98.1.1', 443, 'bypass m365/Allow 52.96.0.0/14'],
    ['::ffff:52.98.1.1', 443, 'bypass m365/Allow 52.96.0.0/14'],
    ['2603:1006:0:1::5', 443, 'bypass m365/Optimize 2603:1006::/40'],
    ['[2603:1006::5]', 443, 'bypass m365/Optimize 2603:1006::/40'],
    ['2603:1007::5', 443, 'null'],
    ['2620:1ec:4::152', 443, 'bypass m365/Optimize 2620:1ec:4::152/128'],
    ['2620:1ec:4::153', 443, 'null'],
    ['2A01:111:F100:2000::A83E:3019', 443, 'bypass m365/Allow 2a01:111:f100:2000::a83e:3019/128'],
    ['13.107.6.152', 80, 'null'],
    ['13.107.64.1', 3478, 'null'], // UDP-only set: never matches
    ['13.107.64.1', 443, 'null'],
    // names never match CIDRs and vice versa; junk never matches
    ['13.107.6.152.example.com', 443, 'null'],
    ['', 443, 'null'],
    ['.', 443, 'null'],
    ['*.sharepoint.com', 443, 'null'],
    ['a..sharepoint.com', 443, 'null'],
    ['.contoso.sharepoint.com', 443, 'null'],
    ['fe80::zz', 443, 'null'],
  ];
  for (const [host, port, expected] of table) t.equal(show(catalog.lookup(host, port)), expected, `${host}:${port}`);
});

t.test('several label wildcards under one suffix: the most specific wins, whatever the bucket', async (t) => {
  const { catalog: c, errors: e } = build({
    'policy.json': { ...POLICY_ALL, sources: { g: { Optimize: 'bypass', Allow: 'bypass', Default: 'mode' } } },
    'g.json': project('g', [
      ['ab*.x.example.com', 'Default'],
      ['abc*.x.example.com', 'Allow'],
      ['*c.x.example.com', 'Optimize'],
      ['*bc.x.example.com', 'Allow'],
      ['a*c.x.example.com', 'Default'],
      ['<t>.x.example.com', 'Optimize'],
      ['q.*.x.example.com', 'Default'],
      ['*.x.example.com', 'Allow', [80]],
    ]),
  });
  t.same(e, []);
  const table: [string, number, string][] = [
    ['abc.x.example.com', 443, 'bypass g/Allow abc*.x.example.com'], // 3 literal characters
    ['abxbc.x.example.com', 443, 'bypass g/Allow *bc.x.example.com'], // ab* / *bc / a*c tie on 2: Allow > Default
    ['abx.x.example.com', 443, 'mode g/Default ab*.x.example.com'],
    ['zc.x.example.com', 443, 'bypass g/Optimize *c.x.example.com'],
    ['zz.x.example.com', 443, 'bypass g/Optimize <t>.x.example.com'],
    ['zz.x.example.com', 80, 'bypass g/Optimize <t>.x.example.com'], // ties with *.x.example.com (4 labels, same literals): Optimize > Allow
    ['q.zz.x.example.com', 443, 'mode g/Default q.*.x.example.com'],
    ['r.zz.x.example.com', 443, 'null'],
    ['r.zz.x.example.com', 80, 'bypass g/Allow *.x.example.com'],
    ['x.example.com', 80, 'null'],
  ];
  for (const [host, port, expected] of table) t.equal(show(c.lookup(host, port)), expected, `${host}:${port}`);
});

t.test('detect, local flag and stable identity', async (t) => {
  const m = catalog.lookup('swda01-mscdn.manage.microsoft.com', 443);
  t.equal(m?.detect, false, 'policy category detect:false');
  t.equal(m?.local, false);
  t.equal(catalog.lookup('a.manage.microsoft.com', 443)?.detect, true, 'detect defaults to true');
  t.equal(catalog.lookup('a.manage.microsoft.com', 443), catalog.lookup('b.manage.microsoft.com', 80), 'one frozen match object per rule');
  t.ok(Object.isFrozen(m) && Object.isFrozen(m?.rule));
  t.same(m?.rule, { source: 'intune', id: '2', category: 'service', pattern: 'swda01-mscdn.manage.microsoft.com' });
});

t.test('local.json wins whenever one of its rules matches', async (t) => {
  const { catalog: c, errors: e } = build({
    ...base,
    'local.json': {
      meta: {},
      rules: [
        { id: 'site-1', pattern: '*.microsoft.com', action: 'deny' },
        { id: 'site-2', pattern: 'www.microsoft.com', action: 'bypass', detect: false },
        { id: 'site-3', pattern: '*.example.org', action: 'allow', ports: [443] },
        { id: 'site-4', pattern: '13.107.6.0/24', action: 'mode' },
        { id: 'site-5', pattern: 'contoso.sharepoint.com', action: 'mode' },
      ],
    },
  });
  t.same(e, []);
  const table: [string, number, string][] = [
    ['mmdcustomer.microsoft.com', 443, 'deny local/deny *.microsoft.com'], // local wildcard beats catalog exact
    ['www.microsoft.com', 443, 'bypass local/bypass www.microsoft.com'], // most specific local rule
    ['a.manage.microsoft.com', 443, 'deny local/deny *.microsoft.com'],
    ['x.example.org', 443, 'mode local/allow *.example.org'],
    ['x.example.org', 80, 'null'],
    ['13.107.6.152', 443, 'mode local/mode 13.107.6.0/24'],
    ['contoso.sharepoint.com', 443, 'mode local/mode contoso.sharepoint.com'],
    ['other.sharepoint.com', 443, 'bypass m365/Optimize *.sharepoint.com'],
  ];
  for (const [host, port, expected] of table) t.equal(show(c.lookup(host, port)), expected, `${host}:${port}`);
  const m = c.lookup('www.microsoft.com', 443);
  t.equal(m?.local, true);
  t.equal(m?.detect, false);
  t.equal(m?.rule.id, 'site-2');
  t.equal(c.sources.find((s) => s.source === 'local')?.rules, 5);
});

t.test('matchAll explains: every matching rule, best first', async (t) => {
  const all = catalog.matchAll('contoso-files.sharepoint.com', 443).map((r) => `${r.ref.category} ${r.ref.pattern}`);
  t.same(all, ['Default *-files.sharepoint.com', 'Optimize *.sharepoint.com']);
  t.same(catalog.matchAll('13.107.6.153', 443).map((r) => r.ref.pattern), ['13.107.6.152/31']);
  // the fallback rule is listed last although it is the most specific
  t.same(catalog.matchAll('x.trouter.teams.microsoft.com', 443).map((r) => r.ref.pattern), [
    '*.teams.microsoft.com',
    '*.microsoft.com',
    '*.trouter.teams.microsoft.com',
  ]);
  t.same(catalog.matchAll('*.sharepoint.com', 443), []);
});

// --- randomised cross-check: index vs reference over the shipped catalog --------------------------

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function variants(p: CompiledPattern, rand: () => number): string[] {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)]!;
  const word = (): string => pick(['', 'a', 'x1', 'files', '-files', 'cdn', 'prod', 'contoso', 'my', 'payloadprod9', 'teams']);
  if (p.kind === 'cidr') {
    const base = p.cidr.slice(0, p.cidr.lastIndexOf('/'));
    if (p.version === 4) {
      const n = Number(p.network) + Math.floor(rand() * 2 ** (32 - p.prefix) * 1.5);
      const ip = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
      return [base, ip, `::ffff:${ip}`];
    }
    return [base, base.replace(/::$/, '::1'), base.replace(/^([0-9a-f]+)/, (h) => (parseInt(h, 16) ^ 1).toString(16))];
  }
  const text = p.kind === 'subdomains' ? `${word() || 'a'}.${p.suffix}` : p.kind === 'exact' ? p.host : p.host.replace(/<[^>]+>/g, '*').replace(/\*/g, () => word());
  const out = [text, `${word() || 'z'}.${text}`, `${text}.evil.com`, text.slice(1), `x${text}`, text.toUpperCase() + '.'];
  if (p.kind !== 'exact') out.push(p.suffix, `a.b.${p.suffix}`, `${word()}${p.suffix}`);
  return out;
}

/** Brute force over every rule with the reference semantics (regexes compiled once per rule). */
function referenceMatcher(c: CompiledCatalog): (host: string, port: number) => CompiledRule | null {
  const tests = c.rules.map((r) => {
    if (r.pattern.kind === 'cidr') return (h: string) => /^[0-9.]+$|:/.test(h) && patternMatches(r.pattern, h);
    const re = new RegExp(`^${patternToRegExpSource(r.pattern)}$`);
    return (h: string) => re.test(h);
  });
  return (host, port) => {
    const h = normalizeHost(host);
    if (h.includes('*') || h.includes('..') || h.startsWith('.')) return null;
    let best: CompiledRule | null = null;
    c.rules.forEach((r, i) => {
      if (r.ports !== null && !r.ports.some(([lo, hi]) => port >= lo && port <= hi)) return;
      if (!tests[i]!(h)) return;
      if (best === null || r.score > best.score) best = r;
    });
    return best;
  };
}

t.test('index agrees with the reference matcher on the shipped catalog', async (t) => {
  const { catalog: shipped } = await loadRules(repoPath('rules'));
  const rand = rng(20230731);
  const reference = referenceMatcher(shipped);
  let checked = 0;
  let mismatches = 0;
  for (const r of shipped.rules) {
    for (const host of variants(r.pattern, rand)) {
      for (const port of [443, 80]) {
        const want = reference(host, port)?.match ?? null;
        const got = shipped.lookup(host, port);
        checked++;
        if (got !== want && mismatches++ < 10) t.fail(`${host}:${port} index ${show(got)} reference ${show(want)}`);
      }
    }
  }
  t.equal(mismatches, 0, `${checked} lookups agree`);
  t.ok(checked > 5000, "a meaningful sample");
});
