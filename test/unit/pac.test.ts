// The generated PAC evaluated by pac-resolver (QuickJS) and by V8: Optimize DIRECT, Allow per --pac-direct,
// carve-outs PROXY, IP literals, lookalikes, `none`; cross-checked against the matcher over sample hosts
// from every shipped rule, per scheme (http → port 80, https → 443); evaluation time for 1000 hosts.
import t from 'tap';
import vm from 'node:vm';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createPacResolver } from 'pac-resolver';
import { QuickJS } from 'quickjs-wasi';
import { loadRules } from '../../src/catalog/load.js';
import { pacProxyAddress, pacRoute, renderPac, pacDirectRule, type PacDirect } from '../../src/catalog/pac.js';
import type { CompiledCatalog } from '../../src/catalog/compile.js';
import { samples } from '../helpers/catalog-samples.js';
import { repoPath } from '../helpers/paths.js';

const RULES = repoPath('rules');
const { catalog, errors } = await loadRules(RULES);
t.equal(errors.length, 0);
const wasm = await readFile(fileURLToPath(import.meta.resolve('quickjs-wasi/quickjs.wasm')));
const PROXY = 'PROXY 192.0.2.10:3128';

async function resolver(direct: PacDirect, c: CompiledCatalog = catalog): Promise<(url: string) => Promise<string>> {
  const qjs = await QuickJS.create({ wasm });
  const find = createPacResolver(qjs, renderPac(c, { proxy: '192.0.2.10:3128', direct }));
  return (url) => find(url);
}

/** The matcher's answer translated into what the PAC must say. */
function expected(direct: PacDirect, host: string, port: number): string {
  const best = catalog.matchAll(host, port)[0];
  return best !== undefined && pacDirectRule(direct)(best) ? 'DIRECT' : PROXY;
}

const table: [string, Record<PacDirect, 'DIRECT' | 'PROXY'>][] = [
  ['https://outlook.office365.com/owa', { optimize: 'DIRECT', trusted: 'DIRECT', none: 'PROXY' }], // Optimize
  ['https://OUTLOOK.Office365.COM./', { optimize: 'DIRECT', trusted: 'DIRECT', none: 'PROXY' }],
  ['https://contoso.sharepoint.com/', { optimize: 'DIRECT', trusted: 'DIRECT', none: 'PROXY' }], // Optimize *.sharepoint.com
  ['https://contoso-files.sharepoint.com/', { optimize: 'PROXY', trusted: 'PROXY', none: 'PROXY' }], // carve-out (Default)
  ['https://contoso-myfiles.sharepoint.com/', { optimize: 'PROXY', trusted: 'PROXY', none: 'PROXY' }],
  ['https://sharepoint.com/', { optimize: 'PROXY', trusted: 'PROXY', none: 'PROXY' }], // apex: not matched by *.
  ['https://x.officeapps.live.com/', { optimize: 'PROXY', trusted: 'DIRECT', none: 'PROXY' }], // Allow
  ['https://cdn.odc.officeapps.live.com/', { optimize: 'PROXY', trusted: 'PROXY', none: 'PROXY' }], // Default below Allow
  ['https://mmdcustomer.microsoft.com/', { optimize: 'PROXY', trusted: 'DIRECT', none: 'PROXY' }], // Autopatch
  ['https://www.microsoft.com/', { optimize: 'PROXY', trusted: 'PROXY', none: 'PROXY' }], // Default
  ['https://unknown.example.org/', { optimize: 'PROXY', trusted: 'PROXY', none: 'PROXY' }],
  ['https://mmdcustomer.microsoft.com.evil.com/', { optimize: 'PROXY', trusted: 'PROXY', none: 'PROXY' }],
  ['https://notoutlook.office365.com/', { optimize: 'PROXY', trusted: 'PROXY', none: 'PROXY' }],
  ['https://outlook.office365.com.evil.com/', { optimize: 'PROXY', trusted: 'PROXY', none: 'PROXY' }],
  ['https://evilsharepoint.com/', { optimize: 'PROXY', trusted: 'PROXY', none: 'PROXY' }],
  ['https://payloadprod7.blob.core.windows.net/', { optimize: 'PROXY', trusted: 'DIRECT', none: 'PROXY' }], // in-label *
  ['https://payloadprod7.x.blob.core.windows.net/', { optimize: 'PROXY', trusted: 'PROXY', none: 'PROXY' }], // * never crosses a dot
  ['https://13.107.6.152/', { optimize: 'DIRECT', trusted: 'DIRECT', none: 'PROXY' }], // Optimize range, IP literal
  ['https://13.107.6.154/', { optimize: 'PROXY', trusted: 'PROXY', none: 'PROXY' }],
  ['https://[2603:1006::1]/', { optimize: 'DIRECT', trusted: 'DIRECT', none: 'PROXY' }],
  ['https://[::ffff:13.107.6.152]/', { optimize: 'DIRECT', trusted: 'DIRECT', none: 'PROXY' }],
  ['https://10.0.0.1/', { optimize: 'PROXY', trusted: 'PROXY', none: 'PROXY' }],
  ['http://windowsupdate.microsoft.com/', { optimize: 'PROXY', trusted: 'DIRECT', none: 'PROXY' }], // bypass on port 80 only
  ['https://windowsupdate.microsoft.com/', { optimize: 'PROXY', trusted: 'PROXY', none: 'PROXY' }],
];

for (const direct of ['optimize', 'trusted', 'none'] as PacDirect[]) {
  t.test(`--pac-direct ${direct}: pac-resolver answers`, async (t) => {
    const find = await resolver(direct);
    for (const [url, want] of table) t.equal(await find(url), want[direct] === 'DIRECT' ? 'DIRECT' : PROXY, `${url}`);
  });
}

const HOSTS = samples(catalog.rules);
const url = (scheme: string, h: string): string => `${scheme}://${h.includes(':') ? `[${h}]` : h}/`;

t.test('PAC = matcher for every sample host, both schemes, optimize and trusted (V8)', async (t) => {
  for (const direct of ['optimize', 'trusted'] as PacDirect[]) {
    const find = v8Pac(renderPac(catalog, { proxy: '192.0.2.10:3128', direct }));
    const wrong: string[] = [];
    for (const h of HOSTS) {
      for (const [scheme, port] of [['https', 443], ['http', 80]] as const) {
        if (find(url(scheme, h), h) !== expected(direct, h, port)) wrong.push(`${scheme} ${h}`);
      }
    }
    t.same(wrong, [], `${direct}: ${HOSTS.length} hosts × 2 schemes agree`);
  }
});

t.test('PAC = matcher in pac-resolver too (trusted, both schemes)', async (t) => {
  const find = await resolver('trusted');
  const wrong: string[] = [];
  for (const h of HOSTS) {
    for (const [scheme, port] of [['https', 443], ['http', 80]] as const) {
      if ((await find(url(scheme, h))) !== expected('trusted', h, port)) wrong.push(`${scheme} ${h}`);
    }
  }
  t.same(wrong, []);
});

/** A browser-like evaluation in V8 (vm) with a synchronous isInNet for IP literals. */
function v8Pac(text: string): (url: string, host: string) => string {
  const isInNet = (host: string, net: string, mask: string): boolean => {
    const n = (s: string): number => s.split('.').reduce((a, b) => a * 256 + Number(b), 0);
    const m = n(mask);
    return (n(host) & m) >>> 0 === (n(net) & m) >>> 0;
  };
  const ctx = vm.createContext({ isInNet });
  vm.runInContext(text, ctx);
  return (u, h) => (ctx as { FindProxyForURL: (u: string, h: string) => string }).FindProxyForURL(u, h);
}

t.test('size and evaluation time for 1000 hosts', async (t) => {
  const hosts = HOSTS.slice(0, 1000);
  for (const direct of ['optimize', 'trusted'] as PacDirect[]) {
    const text = renderPac(catalog, { proxy: '192.0.2.10:3128', direct });
    const find = await resolver(direct);
    let started = performance.now();
    for (const h of hosts) await find(url('https', h));
    const qjsMs = performance.now() - started;
    const v8 = v8Pac(text);
    started = performance.now();
    for (const h of hosts) v8(url('https', h), h);
    const v8Ms = performance.now() - started;
    t.comment(`${direct}: ${text.length} bytes; 1000 hosts: pac-resolver ${qjsMs.toFixed(0)} ms, V8 ${v8Ms.toFixed(1)} ms`);
    t.ok(text.length < 64 * 1024, `${direct}: under 64 KiB`);
    t.ok(qjsMs < 5000, `${direct}: pac-resolver evaluates 1000 hosts in ${qjsMs.toFixed(0)} ms`);
    t.ok(v8Ms < 200, `${direct}: V8 evaluates 1000 hosts in ${v8Ms.toFixed(1)} ms`);
  }
});

t.test('the PAC never resolves names and never uses shExpMatch', async (t) => {
  for (const direct of ['optimize', 'trusted'] as PacDirect[]) {
    const text = renderPac(catalog, { proxy: '192.0.2.10:3128', direct, now: new Date('2025-01-01T00:00:00Z') });
    t.notMatch(text, /dnsResolve\(|isResolvable\(|myIpAddress\(|shExpMatch\(/);
    t.match(text, /^\/\/ autopatch-proxy pac --pac-direct/);
    t.match(text, /generated 2025-01-01T00:00:00\.000Z/);
    t.match(text, new RegExp(`m365-worldwide +→ ${catalog.versions['m365-worldwide']}\n`));
    t.notMatch(text, /,\s*[\]}]/, 'no trailing commas (old JScript engines)');
  }
  const none = renderPac(catalog, { proxy: '[2001:db8::1]:3128', direct: 'none' });
  t.match(none, /return PROXY;/);
  t.match(none, /"PROXY \[2001:db8::1\]:3128"/);
});

t.test('pacRoute: content type, cached per catalog, wildcard listen resolved', async (t) => {
  let current: CompiledCatalog | null = catalog;
  const route = pacRoute(() => current, { listen: { host: '127.0.0.1', port: 3128 }, pacDirect: 'optimize' });
  t.equal(route.contentType, 'application/x-ns-proxy-autoconfig');
  const first = route.body();
  t.equal(route.body(), first, 'same catalog, same text');
  t.match(first, /"PROXY 127\.0\.0\.1:3128"/);
  current = (await loadRules(RULES)).catalog;
  t.not(route.body(), first, 'a reloaded catalog renders again (new generation time)');
  current = null;
  t.match(route.body(), /return PROXY;/);
  const none = () => ({});
  t.same(pacProxyAddress({ host: '0.0.0.0', port: 3128 }, none).proxy, '127.0.0.1:3128');
  const eth = () => ({ lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }], eth0: [{ address: '192.0.2.7', family: 'IPv4', internal: false }] }) as never;
  const picked = pacProxyAddress({ host: '::', port: 8080 }, eth);
  t.equal(picked.proxy, '192.0.2.7:8080');
  t.match(picked.note, /pass --proxy HOST:PORT/);
  t.same(pacProxyAddress({ host: '::1', port: 3128 }), { proxy: '[::1]:3128', note: null });
});
