// The rules-directory loader: file:line errors on malformed files, web-service oddities accepted,
// sidecars, local overrides, and the shipped rules/ directory (zero errors + concrete expectations).
import { readFileSync } from 'node:fs';
import t from 'tap';
import { loadCatalog, loadRules } from '../../src/catalog/load.js';
import { build, show } from '../fixtures/catalog/build.js';
import { repoPath } from '../helpers/paths.js';

const fixtures = repoPath('test/fixtures/catalog/');
const shippedDir = repoPath('rules');

/** 1-based line of the first line containing `needle` in a fixture file. */
function lineOf(file: string, needle: string): number {
  const i = readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`${needle} not in ${file}`);
  return i + 1;
}

t.test('malformed files: every error names file and line, nothing throws', async (t) => {
  const dir = `${fixtures}bad`;
  const { catalog, errors } = await loadCatalog(dir);
  const got = errors.map((e) => `${e.file.slice(dir.length + 1)}:${e.line} ${e.message}`);
  const f = (name: string): string => `${dir}/${name}`;
  const expect: [string, number, RegExp][] = [
    ['policy.json', lineOf(f('policy.json'), 'trust-me'), /decision must be one of bypass, mode, deny/],
    ['broken-json.json', lineOf(f('broken-json.json'), '"id": "3"'), /invalid JSON: expected ',' or ']'/],
    ['trailing-comma.json', 3, /invalid JSON: unexpected "\]"/],
    ['bad-entry.json', lineOf(f('bad-entry.json'), 'bad-pattern'), /rule "bad-pattern": pattern "www.bing.com\*"/],
    ['bad-entry.json', lineOf(f('bad-entry.json'), 'bad-ports'), /bad port "https"/],
    ['bad-entry.json', lineOf(f('bad-entry.json'), 'no-category'), /"category" \(string\) is required/],
    ['bad-entry.json', lineOf(f('bad-entry.json'), 'not an object'), /rule #5 must be an object/],
    ['bad-entry.json', lineOf(f('bad-entry.json'), 'bad-detect'), /"detect" must be true or false/],
    ['bad-entry.json', lineOf(f('bad-entry.json'), 'empty-ports'), /"ports" is empty/],
    ['bad-entry.json', lineOf(f('bad-entry.json'), 'two..example.com'), /rule "multi": pattern "two..example.com"/],
    ['bad-web.json', lineOf(f('bad-web.json'), 'noid.example.com') - 1, /"id" is missing/],
    ['bad-web.json', lineOf(f('bad-web.json'), '"https"'), /endpoint set 3: tcpPorts: bad port "https"/],
    ['bad-web.json', lineOf(f('bad-web.json'), 'bad host.example.com'), /bad label "bad host"/],
    ['bad-web.json', lineOf(f('bad-web.json'), '300.1.1.1/8'), /not an IPv4 address/],
    ['bad-web.json', lineOf(f('bad-web.json'), '"yes"'), /"expressRoute" must be true or false/],
    ['bad-web.json', lineOf(f('bad-web.json'), '42,'), /endpoint set #5 must be an object/],
    ['bad-web.json', lineOf(f('bad-web.json'), '"endpointSetId"') - 2, /\/changes record/],
    ['bad-web.json', lineOf(f('bad-web.json'), 'nocategory') - 2, /endpoint set 7: "category" is missing/],
    ['bad-web.meta.json', 3, /YYYYMMDDNN/],
    ['unknown-shape.json', 1, /not a catalog file/],
    ['orphan.meta.json', 1, /sidecar without its array/],
    ['dup-source.json', 1, /source "bad-entry" is already defined/],
  ];
  for (const [file, line, message] of expect) {
    t.ok(
      errors.some((e) => e.file === f(file) && e.line === line && message.test(e.message)),
      `${file}:${line} ${message}`,
    );
  }
  if (errors.length !== expect.length) t.comment(got.join('\n'));
  t.equal(errors.length, expect.length, 'no other errors');
  t.notOk(errors.some((e) => e.file.includes('.calibration') || e.file.includes('README')), 'dotfiles and non-JSON files are not read');
  // The good parts of bad files still load.
  t.equal(show(catalog.lookup('good.example.com', 443)), 'bypass bad-entry/service good.example.com');
  t.equal(show(catalog.lookup('a.good.example.com', 80)), 'bypass bad-entry/service *.good.example.com');
  t.equal(show(catalog.lookup('three.example.com', 80)), 'bypass bad-entry/service three.example.com');
  t.equal(show(catalog.lookup('fine.example.com', 443)), 'mode bad-web/Allow fine.example.com', 'policy.json names other sources only: default applies');
  t.equal(catalog.lookup('c.example.com', 443), null, 'a file with a syntax error contributes nothing');
});

t.test('web-service shape with the oddities of real answers', async (t) => {
  const { catalog, sources, errors } = await loadRules(`${fixtures}web-service`, { localFile: `${fixtures}alt/site.json` });
  t.same(
    errors.map((e) => `${e.file.slice(fixtures.length)}:${e.line}`),
    [`alt/site.json:${lineOf(`${fixtures}alt/site.json`, 'site-2')}`, `alt/site.json:${lineOf(`${fixtures}alt/site.json`, 'site-3')}`],
    'only the broken local rules are reported',
  );
  const src = sources.find((s) => s.source === 'endpoints');
  t.match(src, { version: '2020120100', product: 'fixture web-service answer', rules: 16, nonMatching: 1, categories: { Optimize: 6, Allow: 7, Default: 3 } });
  const table: [string, number, string][] = [
    ['outlook.office.com', 443, 'bypass endpoints/Optimize outlook.office.com'], // "optimize" canonicalised
    ['outlook.office365.com', 443, 'deny local/deny outlook.office365.com'], // local file given by option
    ['smtp.office365.com', 993, 'bypass endpoints/Allow smtp.office365.com'], // "587,  993, 995"
    ['smtp.office365.com', 443, 'null'],
    ['13.107.6.153', 80, 'bypass endpoints/Optimize 13.107.6.152/31'],
    ['10.0.0.77', 443, 'bypass endpoints/Optimize 10.0.0.5/24'], // host bits set: cleared, pattern kept as written
    ['2a01:111:f100:2000::a83e:3019', 443, 'bypass endpoints/Optimize 2a01:111:f100:2000::a83e:3019/128'],
    ['52.112.0.1', 443, 'null'], // set 11: UDP only
    ['autodiscover.contoso.onmicrosoft.com', 80, 'mode endpoints/Default autodiscover.<tenant>.onmicrosoft.com'],
    ['x.broadcast.officeapps.live.com', 443, 'bypass endpoints/Allow *.officeapps.live.com'],
    ['xbroadcast.officeapps.live.com', 8080, 'bypass endpoints/Allow *broadcast.officeapps.live.com'], // no port keys: any port
    ['20.43.129.9', 443, 'bypass endpoints/Allow 20.43.129.0/24'],
    ['range.example.net', 8001, 'bypass endpoints/Allow range.example.net'],
    ['range.example.net', 8003, 'null'],
    ['copilot.cloud.microsoft', 443, 'mode endpoints/Default *.cloud.microsoft'],
  ];
  for (const [host, port, expected] of table) t.equal(show(catalog.lookup(host, port)), expected, `${host}:${port}`);
  t.equal(catalog.lookup('xcdn.onenote.net', 443)?.detect, false, 'policy rules["endpoints/46"].detect');
  t.equal(catalog.versions.endpoints, '2020120100');
});

t.test('missing directory, missing policy, missing local file', async (t) => {
  const r = await loadRules(`${fixtures}does-not-exist`, { localFile: `${fixtures}nope.json` });
  t.match(r.errors, [
    { file: `${fixtures}does-not-exist`, line: 0, message: /ENOENT/ },
    { file: `${fixtures}nope.json`, line: 0, message: /ENOENT/ },
    { file: `${fixtures}does-not-exist/policy.json`, line: 0, message: /missing/ },
  ]);
  t.equal(r.catalog.lookup('outlook.office365.com', 443), null);
  t.same(r.sources, []);
  // Without policy.json nothing is trusted.
  const { catalog } = build({ 'a.json': [{ id: 1, urls: ['a.example.com'], category: 'Optimize' }] });
  t.equal(show(catalog.lookup('a.example.com', 443)), 'mode a/Optimize a.example.com');
});

t.test('the shipped rules/ directory', async (t) => {
  const { catalog, sources, errors } = await loadRules(shippedDir);
  t.same(errors, [], 'loads with zero errors');
  const by = Object.fromEntries(sources.map((s) => [s.source, s]));
  for (const name of ['autopatch', 'm365-worldwide', 'm365-carveouts', 'windows11-enterprise', 'windows-update', 'delivery-optimization', 'intune', 'entra', 'edge', 'teams', 'adds-ports', 'local']) {
    t.ok(by[name], `source ${name}`);
  }
  t.equal(by['m365-worldwide']?.version, '2023073100');
  t.equal(by['m365-worldwide']?.nonMatching, 1, 'set 11 (UDP media)');
  t.equal(by['adds-ports']?.rules, 0);
  t.equal(by['adds-ports']?.nonMatching, 19);
  t.equal(by['entra']?.nonMatching, 23);
  t.equal(by['delivery-optimization']?.nonMatching, 15, '4 port rows, Teredo, 10 Connected Cache content groups');
  t.equal(by['local']?.rules, 0);

  const table: [string, number, string][] = [
    ['mmdcustomer.microsoft.com', 443, 'bypass autopatch/service mmdcustomer.microsoft.com'],
    ['outlook.office365.com', 443, 'bypass m365-worldwide/Optimize outlook.office365.com'],
    ['contoso.sharepoint.com', 443, 'bypass m365-worldwide/Optimize *.sharepoint.com'],
    ['x-files.sharepoint.com', 443, 'mode m365-carveouts/Default *-files.sharepoint.com'],
    ['www.microsoft.com', 443, 'mode m365-worldwide/Default www.microsoft.com'],
    ['random.example.com', 443, 'null'],
    ['fef.msuc03.manage.microsoft.com', 443, 'bypass intune/no-inspection *.manage.microsoft.com'],
    ['2.dl.delivery.mp.microsoft.com', 80, 'bypass delivery-optimization/delivery *.dl.delivery.mp.microsoft.com'],
    ['payloadprod0.blob.core.windows.net', 443, 'bypass autopatch/service payloadprod*.blob.core.windows.net'],
    ['login.microsoftonline.com', 443, 'bypass m365-worldwide/Allow login.microsoftonline.com'], // entra's copy ties; Allow ranks higher
    ['manage.microsoft.com', 443, 'bypass intune/unauthenticated manage.microsoft.com'],
    ['intunemaape7.neu.attest.azure.net', 443, 'bypass intune/no-inspection intunemaape7.neu.attest.azure.net'],
    ['au.download.windowsupdate.com', 80, 'bypass windows-update/update *.download.windowsupdate.com'],
    ['ctldl.windowsupdate.com', 80, 'bypass windows-update/update ctldl.windowsupdate.com'],
    ['msedge.b.tlu.dl.delivery.mp.microsoft.com', 80, 'bypass edge/update msedge.b.tlu.dl.delivery.mp.microsoft.com'],
    ['www.bing.com', 443, 'mode m365-worldwide/Default www.bing.com'],
    ['config.teams.microsoft.com', 443, 'bypass m365-worldwide/Allow *.teams.microsoft.com'], // Win11 row is a fallback
    ['evoke-windowsservices-tas.msedge.net', 443, 'mode windows11-enterprise/Default evoke-windowsservices-tas.msedge.net'],
    ['cdn1.azureedge.net', 443, 'mode intune/unauthenticated-shared *.azureedge.net'], // shared CDN domain: never bypassed wholesale
    ['naprodimedatapri.azureedge.net', 443, 'bypass intune/service naprodimedatapri.azureedge.net'],
    ['time.windows.com', 123, 'null'], // NTP: UDP only
    ['mmdcustomer.microsoft.com.evil.com', 443, 'null'],
    ['notoutlook.office365.com', 443, 'mode m365-worldwide/Default *.office365.com'],
    ['microsoft.com.evil.com', 443, 'null'],
    ['manage.microsoft.com.attacker.net', 443, 'null'],
    ['13.107.6.152', 443, 'bypass m365-worldwide/Optimize 13.107.6.152/31'],
    ['2620:1ec:4::152', 443, 'bypass m365-worldwide/Optimize 2620:1ec:4::152/128'],
    ['20.43.129.200', 443, 'bypass intune/service 20.43.129.0/24'],
  ];
  for (const [host, port, expected] of table) t.equal(show(catalog.lookup(host, port)), expected, `${host}:${port}`);
  t.equal(catalog.lookup('mmdcustomer.microsoft.com', 443)?.rule.source, 'autopatch');
  t.equal(catalog.lookup('x-files.sharepoint.com', 443)?.trust === 'bypass', false);

  // Microsoft's own carve-outs are the only places where a narrower non-bypass rule hides a bypass one.
  const hidden = new Set<string>();
  for (const r of catalog.rules) {
    if (r.pattern.kind === 'cidr') continue;
    const p = r.pattern;
    const host = p.kind === 'exact' ? p.host : p.kind === 'subdomains' ? `x.${p.suffix}` : p.host.replace(/<[^>]+>|\*/g, 'x');
    const all = catalog.matchAll(host, r.ports?.[0]?.[0] ?? 443);
    if (all[0] !== undefined && all[0].trust !== 'bypass' && all.some((x) => x.trust === 'bypass')) hidden.add(`${all[0].ref.source}/${all[0].ref.pattern}`);
  }
  t.same([...hidden].sort(), [
    'm365-carveouts/*-files.sharepoint.com',
    'm365-carveouts/*-myfiles.sharepoint.com',
    'm365-worldwide/cdn.odc.officeapps.live.com',
    'm365-worldwide/cdn.uci.officeapps.live.com',
  ]);
});

t.test('the web-service array in rules/ is kept verbatim', async (t) => {
  const shipped = JSON.parse(readFileSync(`${shippedDir}/m365-worldwide.json`, 'utf8')) as unknown[];
  t.ok(Array.isArray(shipped));
  t.equal(shipped.length, 77);
  const meta = JSON.parse(readFileSync(`${shippedDir}/m365-worldwide.meta.json`, 'utf8')) as { version: string };
  t.equal(meta.version, '2023073100');
});
