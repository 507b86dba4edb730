// Pattern parsing (every form Microsoft publishes, NOTES.md §1), specificity, port lists, and the
// reference matcher that the indexes are checked against.
import t from 'tap';
import {
  normalizeHost,
  parsePattern,
  patternMatches,
  patternText,
  patternToRegExpSource,
  specificity,
  type CompiledPattern,
} from '../../src/catalog/pattern.js';
import { formatPorts, parsePorts, portAllowed } from '../../src/catalog/ports.js';

function ok(text: string): CompiledPattern {
  const r = parsePattern(text);
  if (!r.ok) throw new Error(`${text}: ${r.message}`);
  return r.pattern;
}

t.test('published forms parse to the expected kind and normalised text', async (t) => {
  const table: [string, string, string][] = [
    // written, kind, normalised text
    ['mmdcustomer.microsoft.com', 'exact', 'mmdcustomer.microsoft.com'],
    ['outlook.office365.com', 'exact', 'outlook.office365.com'],
    ['EnterpriseEnrollment.manage.microsoft.com', 'exact', 'enterpriseenrollment.manage.microsoft.com'],
    ['AMSUA0101-RemoteAssistService-pubsub.webpubsub.azure.com', 'exact', 'amsua0101-remoteassistservice-pubsub.webpubsub.azure.com'],
    ['login.live.com.', 'exact', 'login.live.com'],
    ['*.dl.delivery.mp.microsoft.com', 'subdomains', '*.dl.delivery.mp.microsoft.com'],
    ['*.manage.microsoft.com', 'subdomains', '*.manage.microsoft.com'],
    ['*.cloud.microsoft', 'subdomains', '*.cloud.microsoft'],
    ['*cdn.onenote.net', 'labels', '*cdn.onenote.net'],
    ['*-files.sharepoint.com', 'labels', '*-files.sharepoint.com'],
    ['*-myfiles.sharepoint.com', 'labels', '*-myfiles.sharepoint.com'],
    ['*broadcast.officeapps.live.com', 'labels', '*broadcast.officeapps.live.com'],
    ['*displaycatalog.mp.microsoft.com', 'labels', '*displaycatalog.mp.microsoft.com'],
    ['payloadprod*.blob.core.windows.net', 'labels', 'payloadprod*.blob.core.windows.net'],
    ['autodiscover.*.onmicrosoft.com', 'labels', 'autodiscover.*.onmicrosoft.com'],
    ['watson.*.microsoft.com', 'labels', 'watson.*.microsoft.com'],
    ['autodiscover.<tenant>.onmicrosoft.com', 'labels', 'autodiscover.<tenant>.onmicrosoft.com'],
    ['<TENANT>.sharepoint.com', 'labels', '<tenant>.sharepoint.com'], // one label, not `*.` (any depth)
    ['<tenant>-my.sharepoint.com', 'labels', '<tenant>-my.sharepoint.com'],
    ['http://download.windowsupdate.com', 'exact', 'download.windowsupdate.com'],
    ['https://msedge.api.cdp.microsoft.com/some/path', 'exact', 'msedge.api.cdp.microsoft.com'],
    ['13.107.6.152/31', 'cidr', '13.107.6.152/31'],
    ['10.0.0.5/24', 'cidr', '10.0.0.0/24'],
    ['52.238.78.88', 'cidr', '52.238.78.88/32'],
    ['2603:1006::/40', 'cidr', '2603:1006::/40'],
    ['2a01:111:f100:2000::a83e:3019/128', 'cidr', '2a01:111:f100:2000::a83e:3019/128'],
    ['2620:1ec:4::152/48', 'cidr', '2620:1ec:4::/48'],
    ['[2620:1ec:4::152]', 'cidr', '2620:1ec:4::152/128'],
    ['0.0.0.0/0', 'cidr', '0.0.0.0/0'],
  ];
  for (const [written, kind, text] of table) {
    const p = ok(written);
    t.equal(p.kind, kind, `${written} kind`);
    t.equal(patternText(p), text, `${written} text`);
  }
});

t.test('rejected patterns say why', async (t) => {
  const table: [string, RegExp][] = [
    ['', /empty/],
    ['www.bing.com*', /two literal labels/], // the Win11 footnote star: the data file drops it, the parser refuses it
    ['*.com', /two literal labels/],
    ['foo.*', /two literal labels/],
    ['*.*.example.com', /leading "\*\." cannot be combined/],
    ['*.<tenant>.example.com', /leading "\*\." cannot be combined/],
    ['<tenant>.com', /two literal labels/],
    ['a**b.example.com', /at most one/],
    ['a*b*c.example.com', /at most one/],
    ['exa mple.com', /bad label/],
    ['a..b.com', /bad label/],
    ['1.2.3', /dotted-quad/],
    ['1.2.3.4/33', /not an IPv4\/IPv6/],
    ['2603:zz::/40', /not an IPv4\/IPv6/],
    [`${'a'.repeat(64)}.example.com`, /bad label/],
    [`${'abcdefghi.'.repeat(26)}com`, /longer than 253/],
  ];
  for (const [written, why] of table) {
    const r = parsePattern(written);
    t.notOk(r.ok, `${written} rejected`);
    if (!r.ok) t.match(r.message, why, written);
  }
});

t.test('specificity: exact > more labels > more literal characters', async (t) => {
  const order = [
    'a.b.teams.microsoft.com', // exact, more labels than the next
    'x-files.sharepoint.com', // exact, more literal characters than the next
    'outlook.office365.com',
    '*.dl.delivery.mp.microsoft.com', // 5 labels
    'autodiscover.*.onmicrosoft.com', // 4 labels
    '*.manage.microsoft.com', // 4 labels, fewer literal characters
    '*-files.sharepoint.com', // 3 labels, 19 literal characters
    '*.sharepoint.com', // 3 labels, 13
    '*.microsoft.com', // 3 labels, 12
  ];
  for (let i = 1; i < order.length; i++) {
    t.ok(specificity(ok(order[i - 1]!)) > specificity(ok(order[i]!)), `${order[i - 1]} more specific than ${order[i]}`);
  }
  t.ok(specificity(ok('1.2.3.4/32')) > specificity(ok('1.2.3.0/24')), 'longer prefix more specific');
});

t.test('reference matcher: forms, apex, depth, lookalikes', async (t) => {
  const table: [string, string, boolean][] = [
    ['*.manage.microsoft.com', 'a.manage.microsoft.com', true],
    ['*.manage.microsoft.com', 'a.b.manage.microsoft.com', true],
    ['*.manage.microsoft.com', 'manage.microsoft.com', false],
    ['*.manage.microsoft.com', 'amanage.microsoft.com', false],
    ['*.manage.microsoft.com', 'a.manage.microsoft.com.evil.com', false],
    ['*cdn.onenote.net', 'cdn.onenote.net', true], // the star matches zero or more characters
    ['*cdn.onenote.net', 'xyzcdn.onenote.net', true],
    ['*cdn.onenote.net', 'a.cdn.onenote.net', false], // never across a dot
    ['*cdn.onenote.net', 'cdnx.onenote.net', false],
    ['*-files.sharepoint.com', 'contoso-files.sharepoint.com', true],
    ['*-files.sharepoint.com', 'contoso-myfiles.sharepoint.com', false],
    ['*-files.sharepoint.com', 'a.contoso-files.sharepoint.com', false],
    ['payloadprod*.blob.core.windows.net', 'payloadprod12.blob.core.windows.net', true],
    ['payloadprod*.blob.core.windows.net', 'payloadprod.blob.core.windows.net', true],
    ['payloadprod*.blob.core.windows.net', 'xpayloadprod1.blob.core.windows.net', false],
    ['payloadprod*.blob.core.windows.net', 'a.payloadprod1.blob.core.windows.net', false],
    ['autodiscover.*.onmicrosoft.com', 'autodiscover.contoso.onmicrosoft.com', true],
    ['autodiscover.*.onmicrosoft.com', 'autodiscover.a.b.onmicrosoft.com', false], // exactly one label
    ['autodiscover.*.onmicrosoft.com', 'autodiscover.onmicrosoft.com', false],
    ['autodiscover.*.onmicrosoft.com', 'x.autodiscover.contoso.onmicrosoft.com', false],
    ['watson.*.microsoft.com', 'watson.telemetry.microsoft.com', true],
    ['<tenant>-my.sharepoint.com', 'contoso-my.sharepoint.com', true],
    ['<tenant>.sharepoint.com', 'contoso.sharepoint.com', true],
    ['<tenant>.sharepoint.com', 'a.contoso.sharepoint.com', false],
    ['outlook.office365.com', 'OUTLOOK.Office365.com.', true],
    ['outlook.office365.com', 'notoutlook.office365.com', false],
    ['13.107.6.152/31', '13.107.6.153', true],
    ['13.107.6.152/31', '13.107.6.154', false],
    ['13.107.6.152/31', 'example.com', false],
    ['2620:1ec:4::152/128', '2620:1ec:4:0::152', true],
    ['2620:1ec:4::152/128', '[2620:1ec:4::152]', true],
    ['2620:1ec:4::152/128', '2620:1ec:4::153', false],
    ['52.96.0.0/14', '::ffff:52.97.1.1', true], // IPv4-mapped IPv6 is the IPv4 address
    ['2603:1006::/40', '52.96.0.1', false],
    ['*.example.com', '1.2.3.4', false],
  ];
  for (const [pattern, host, expected] of table) t.equal(patternMatches(ok(pattern), host), expected, `${pattern} ~ ${host}`);
});

t.test('regex rendering for exporters has the same semantics', async (t) => {
  const re = (p: string): RegExp => {
    const c = ok(p);
    if (c.kind === 'cidr') throw new Error('cidr');
    return new RegExp(`^${patternToRegExpSource(c)}$`);
  };
  t.ok(re('*.x-y.example.com').test('a.b.x-y.example.com'));
  t.notOk(re('*.x-y.example.com').test('x-y.example.com'));
  t.ok(re('a*b.example.com').test('ab.example.com'));
  t.notOk(re('a*b.example.com').test('a.b.example.com'));
  t.notOk(re('exact.example.com').test('exactXexample.com'), 'dots are escaped');
});

t.test('normalizeHost', async (t) => {
  t.equal(normalizeHost('MMDCustomer.Microsoft.COM.'), 'mmdcustomer.microsoft.com');
  t.equal(normalizeHost('a.com..'), 'a.com.', 'one trailing dot only');
  t.equal(normalizeHost('[2603:1006::1]'), '2603:1006::1');
});

t.test('port lists as published', async (t) => {
  const table: [unknown, string][] = [
    ['80,443', '80,443'],
    ['443, 80', '80,443'],
    ['587,  993', '587,993'],
    ['3478,3479,3480,3481', '3478-3481'],
    ['3478-3481', '3478-3481'],
    ['50000 - 50059,443', '443,50000-50059'],
    [443, '443'],
    [[80, '443', '8000-8001'], '80,443,8000-8001'],
    ['443,,80', '80,443'],
    ['', ''],
    [[], ''],
  ];
  for (const [input, expected] of table) {
    const r = parsePorts(input);
    t.ok(r.ok, JSON.stringify(input));
    if (r.ok) t.equal(formatPorts(r.ranges), expected, JSON.stringify(input));
  }
  for (const bad of ['0', '65536', '80-70', 'https', '443;80', true, null, { a: 1 }, 1.5]) {
    t.notOk(parsePorts(bad).ok, `rejects ${JSON.stringify(bad)}`);
  }
  t.equal(formatPorts(null), 'any');
  t.ok(portAllowed(null, 12345));
  const r = parsePorts('80,443,8000-8080');
  if (r.ok) {
    t.ok(portAllowed(r.ranges, 8000) && portAllowed(r.ranges, 8080) && portAllowed(r.ranges, 443));
    t.notOk(portAllowed(r.ranges, 8081) || portAllowed(r.ranges, 442));
  }
});
