// Squid ACL export: parsed back by a tiny Squid evaluator (dstdomain exact / leading-dot suffix, dstdom_regex,
// dst) and compared with the proxy's own matcher (catalog.lookup) over a host table and over sample hosts
// derived from every shipped rule; nesting (a trusted rule inside a carve-out) on a synthetic catalog.
import t from 'tap';
import ipaddr from 'ipaddr.js';
import { loadRules } from '../../src/catalog/load.js';
import { renderSquid, squidRegex, SQUID_FILES } from '../../src/catalog/export-squid.js';
import { overlaps, selects, type ExportDecision } from '../../src/catalog/export-view.js';
import type { CompiledCatalog, CompiledRule } from '../../src/catalog/compile.js';
import { parsePattern } from '../../src/catalog/pattern.js';
import { samples as edgeSamples } from '../helpers/catalog-samples.js';

const samples = (rules: readonly CompiledRule[]): string[] => edgeSamples(rules, { fills: ['a', '', 'zz9'], lookalikes: true });
import { build, POLICY_ALL, project } from '../fixtures/catalog/build.js';
import { repoPath } from '../helpers/paths.js';

const RULES = repoPath('rules');
const NOW = new Date('2025-01-01T00:00:00Z');
const { catalog, errors } = await loadRules(RULES);
t.equal(errors.length, 0, 'shipped rules load cleanly');

type Files = Record<string, string[]>;

/** Splits the stream on "# ---- file: NAME" and keeps each file's non-comment lines. */
function parseSquid(text: string): { files: Files; comments: Files } {
  const files: Files = {};
  const comments: Files = {};
  let current: string | null = null;
  for (const line of text.split('\n')) {
    const sep = /^# ---- file: (\S+)$/.exec(line);
    if (sep) {
      current = sep[1]!;
      files[current] = [];
      comments[current] = [];
    } else if (current !== null && line.startsWith('#')) comments[current]!.push(line);
    else if (current !== null && line.trim() !== '') files[current]!.push(line.trim());
  }
  return { files, comments };
}

/** What the suggested squid.conf lines select: first, else (names or regex) and not except; IPs by dst. */
function squidSelects(files: Files, host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (ipaddr.isValid(h) && (h.includes(':') || ipaddr.IPv4.isValidFourPartDecimal(h))) {
    let addr = ipaddr.parse(h);
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
    return files[SQUID_FILES.dst]!.some((c) => {
      const [net, len] = ipaddr.parseCIDR(c);
      return net.kind() === addr.kind() && addr.match(net, len);
    });
  }
  const re = (name: string): boolean => files[name]!.some((r) => new RegExp(r, 'i').test(h));
  if (re(SQUID_FILES.first)) return true;
  if (re(SQUID_FILES.except)) return false;
  const dom = files[SQUID_FILES.dstdomain]!.some((d) => (d.startsWith('.') ? h === d.slice(1) || h.endsWith(d) : h === d));
  return dom || re(SQUID_FILES.regex);
}

const HOSTS = [
  'mmdcustomer.microsoft.com', 'MMDCustomer.Microsoft.com.', 'mmdcustomer.microsoft.com.evil.com', 'xmmdcustomer.microsoft.com',
  'outlook.office365.com', 'notoutlook.office365.com', 'outlook.office365.com.evil.com',
  'sharepoint.com', 'contoso.sharepoint.com', 'a.b.sharepoint.com', 'contoso-files.sharepoint.com', 'contoso-myfiles.sharepoint.com',
  'a.contoso-files.sharepoint.com', 'evilsharepoint.com',
  'manage.microsoft.com', 'x.manage.microsoft.com', 'teams.microsoft.com', 'a.teams.microsoft.com',
  'officeapps.live.com', 'x.officeapps.live.com', 'cdn.odc.officeapps.live.com', 'cdn.uci.officeapps.live.com',
  'payloadprod1.blob.core.windows.net', 'payloadprod.blob.core.windows.net', 'a.payloadprod1.blob.core.windows.net',
  'xpayloadprod1.blob.core.windows.net', 'payloadprod1.x.blob.core.windows.net',
  'www.microsoft.com', 'example.org', 'delivery.mp.microsoft.com', '2.dl.delivery.mp.microsoft.com', 'dl.delivery.mp.microsoft.com',
  '13.107.6.152', '13.107.6.153', '13.107.6.154', '52.96.0.1', '52.97.1.1', '10.0.0.1', '2603:1006::1', '2620:1ec:4::152', '::ffff:13.107.6.152',
];

for (const decision of ['bypass', 'allowed', 'all'] as ExportDecision[]) {
  t.test(`squid --decision ${decision} agrees with the matcher at port 443`, async (t) => {
    const { files } = parseSquid(renderSquid(catalog, { decision, now: NOW }));
    const oracle = (h: string): boolean => {
      const m = catalog.lookup(h, 443);
      return m !== null && selects(decision, m.trust);
    };
    for (const h of HOSTS) t.equal(squidSelects(files, h), oracle(h), `${h}: ${oracle(h)}`);
    const all = samples(catalog.rules);
    const wrong = all.filter((h) => squidSelects(files, h) !== oracle(h));
    t.same(wrong, [], `all ${all.length} sample hosts agree`);
  });
}

t.test('port 80 view: plain-HTTP Windows Update hosts', async (t) => {
  const { files } = parseSquid(renderSquid(catalog, { decision: 'bypass', port: 80, now: NOW }));
  const wrong = samples(catalog.rules).filter((h) => squidSelects(files, h) !== (catalog.lookup(h, 80)?.trust === 'bypass'));
  t.same(wrong, []);
  t.ok(squidSelects(files, 'windowsupdate.microsoft.com'), 'bypass at 80 only');
  const at443 = parseSquid(renderSquid(catalog, { decision: 'bypass', now: NOW })).files;
  t.notOk(squidSelects(at443, 'windowsupdate.microsoft.com'), 'not at 443');
});

t.test('forms Squid cannot express as dstdomain are comments there, regexes elsewhere', async (t) => {
  const text = renderSquid(catalog, { decision: 'bypass', now: NOW });
  const { files, comments } = parseSquid(text);
  t.notOk(files[SQUID_FILES.dstdomain]!.some((d) => d.includes('*')), 'no "*" on a dstdomain line');
  t.ok(files[SQUID_FILES.dstdomain]!.every((d) => /^\.?[a-z0-9_-]+(\.[a-z0-9_-]+)+$/.test(d)), 'only names and .suffixes');
  t.match(comments[SQUID_FILES.dstdomain]!.join('\n'), /# payloadprod\*\.blob\.core\.windows\.net: wildcard inside a label/);
  t.match(comments[SQUID_FILES.dstdomain]!.join('\n'), /# \*\.sharepoint\.com: subdomains only \(apex sharepoint\.com is not selected\)/);
  t.notOk(files[SQUID_FILES.dstdomain]!.includes('.sharepoint.com'), '.sharepoint.com would admit the apex');
  t.ok(files[SQUID_FILES.dstdomain]!.includes('.manage.microsoft.com'), 'apex manage.microsoft.com is trusted: .suffix form');
  t.notOk(files[SQUID_FILES.dstdomain]!.includes('manage.microsoft.com'), 'covered entries are dropped (Squid warns about them)');
  t.ok(files[SQUID_FILES.regex]!.includes('^payloadprod[^.]*\\.blob\\.core\\.windows\\.net$'));
  t.ok(files[SQUID_FILES.except]!.includes('^[^.]*-files\\.sharepoint\\.com$'));
  for (const re of [...files[SQUID_FILES.regex]!, ...files[SQUID_FILES.except]!]) t.match(re, /^[\^\\.a-z0-9_[\]*+$-]+$/, `POSIX ERE: ${re}`);
  t.match(text, /^# autopatch-proxy rules export --format squid --decision bypass/);
  t.match(text, /generated 2025-01-01T00:00:00\.000Z/);
  t.match(text, new RegExp(`m365-worldwide +→ ${catalog.versions['m365-worldwide']}\n`));
  const names = [...text.matchAll(/^# ---- file: (\S+)$/gm)].map((m) => m[1]);
  t.same(names, Object.values(SQUID_FILES), 'every file section, in a stable order');
});

t.test('squidRegex has the matcher semantics', async (t) => {
  const rows: [string, string, boolean][] = [
    ['*.x.com', 'a.x.com', true], ['*.x.com', 'a.b.x.com', true], ['*.x.com', 'x.com', false], ['*.x.com', 'ax.com', false],
    ['*cdn.onenote.net', 'cdn.onenote.net', true], ['*cdn.onenote.net', 'xcdn.onenote.net', true], ['*cdn.onenote.net', 'a.cdn.onenote.net', false],
    ['autodiscover.*.onmicrosoft.com', 'autodiscover.contoso.onmicrosoft.com', true],
    ['autodiscover.*.onmicrosoft.com', 'autodiscover.a.b.onmicrosoft.com', false],
    ['a.x.com', 'a.x.com', true], ['a.x.com', 'aax.com', false],
  ];
  for (const [pattern, host, want] of rows) {
    const p = parsePattern(pattern);
    if (!p.ok || p.pattern.kind === 'cidr') throw new Error(pattern);
    t.equal(new RegExp(squidRegex(p.pattern), 'i').test(host), want, `${pattern} ~ ${host}`);
  }
});

t.test('overlaps: some host matches both patterns (exact, label-wise)', async (t) => {
  const rows: [string, string, boolean][] = [
    ['*.x.com', 'x.com', false], ['*.x.com', 'a.x.com', true], ['*.x.com', '*.a.x.com', true], ['*.x.com', '*.y.com', false],
    ['*-files.sharepoint.com', '*.sharepoint.com', true], ['*-files.sharepoint.com', 'a.b-files.sharepoint.com', false],
    ['*-files.sharepoint.com', '*files.sharepoint.com', true], ['*-files.sharepoint.com', 'pre*.sharepoint.com', true],
    ['pre*.x.com', '*post.x.com', true], ['pre*.x.com', 'pro*.x.com', false], ['*ab.x.com', '*cd.x.com', false],
    ['a*.x.com', 'b.x.com', false], ['a*.x.com', 'abc.x.com', true], ['a*c.x.com', 'ac.x.com', true], ['ab*bc.x.com', 'abc.x.com', false],
    ['autodiscover.*.onmicrosoft.com', '*.onmicrosoft.com', true], ['autodiscover.*.onmicrosoft.com', 'autodiscover.onmicrosoft.com', false],
    ['autodiscover.*.onmicrosoft.com', 'x.a.onmicrosoft.com', false], ['autodiscover.*.onmicrosoft.com', '*.a.onmicrosoft.com', true],
    ['watson.*.microsoft.com', 'a.b.microsoft.com', false], ['a.x.com', 'a.x.com', true], ['a.x.com', 'b.x.com', false],
  ];
  for (const [a, b, want] of rows) {
    const p = parsePattern(a);
    const q = parsePattern(b);
    if (!p.ok || !q.ok || p.pattern.kind === 'cidr' || q.pattern.kind === 'cidr') throw new Error(`${a} ${b}`);
    t.equal(overlaps(p.pattern, q.pattern), want, `${a} ∩ ${b}`);
    t.equal(overlaps(q.pattern, p.pattern), want, `${b} ∩ ${a}`);
  }
});

t.test('nesting: a trusted rule inside a carve-out is listed first; deny carved out of allowed', async (t) => {
  const policy = { ...POLICY_ALL, sources: { m365: { Optimize: 'bypass', Allow: 'bypass', Default: 'mode' } } };
  const built = build({
    'policy.json': policy,
    'm365.json': project('m365', [
      ['*.sharepoint.com', 'Optimize', [443]],
      ['*-files.sharepoint.com', 'Default', [443]],
      ['*.example.com', 'Allow', [443]],
    ]),
    'local.json': {
      meta: {},
      rules: [
        { id: 'l1', pattern: 'special-files.sharepoint.com', action: 'bypass' },
        { id: 'l2', pattern: 'bad.example.com', action: 'deny' },
      ],
    },
  });
  t.same(built.errors, []);
  const c: CompiledCatalog = built.catalog;
  const hosts = ['a.sharepoint.com', 'a-files.sharepoint.com', 'special-files.sharepoint.com', 'sharepoint.com', 'bad.example.com', 'x.bad.example.com', 'ok.example.com', 'example.com'];
  for (const decision of ['bypass', 'allowed'] as ExportDecision[]) {
    const text = renderSquid(c, { decision, now: NOW });
    const { files } = parseSquid(text);
    const wrong = [...hosts, ...samples(c.rules)].filter((h) => {
      const m = c.lookup(h, 443);
      return squidSelects(files, h) !== (m !== null && selects(decision, m.trust));
    });
    t.same(wrong, [], `${decision}: every host agrees`);
    t.equal(squidSelects(files, 'special-files.sharepoint.com'), true, 'the local bypass inside the carve-out');
    t.equal(squidSelects(files, decision === 'bypass' ? 'a-files.sharepoint.com' : 'bad.example.com'), false, 'the carve-out');
    if (decision === 'bypass') {
      t.same(files[SQUID_FILES.first], ['^special-files\\.sharepoint\\.com$']);
      t.match(text, /ACTION autopatch_port autopatch_first/);
    }
  }
});
