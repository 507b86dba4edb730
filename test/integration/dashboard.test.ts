// The live dashboard in a real headless Chromium (playwright-core driving Debian's /usr/bin/chromium):
// figures change as records arrive, host names stay text, nothing is fetched from outside 127.0.0.1.
// Screenshot: .tap/dashboard.png (git-ignored).
import t from 'tap';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createAdminServer } from '../../src/observability/admin.js';
import { adminRoutes } from '../../src/observability/admin-routes.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { connectRec, requestRec } from '../helpers/records.js';
import { repoPath } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = repoPath('.tap/dashboard.png');
const HOSTILE = '<img src=x onerror="window.__pwned=1">.evil.example';
const MIB = 1024 * 1024;

if (!existsSync(CHROMIUM)) {
  t.plan(0, `${CHROMIUM} not found (apt-get install -y chromium): dashboard browser test skipped`);
} else {
  const { chromium } = await import('playwright-core');
  const metrics = createMetrics({ collectDefault: false });
  const server = createAdminServer(adminRoutes(metrics), () => true);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const profile = await tempDir('autopatch-dashboard-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    timeout: 15_000,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic', '--no-proxy-server',
    ],
  });
  t.teardown(async () => {
    await context.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(profile, { recursive: true, force: true });
  });

  t.test('figures follow the records; hosts are text; no request leaves 127.0.0.1', async (t) => {
    const page = context.pages()[0] ?? (await context.newPage());
    const requested: string[] = [];
    page.on('request', (r) => requested.push(r.url()));
    const consoleErrors: string[] = [];
    page.on('console', (m) => void (m.type() === 'error' && consoleErrors.push(m.text())));
    page.on('pageerror', (e) => consoleErrors.push(String(e)));

    await page.goto(`${base}/`, { waitUntil: 'load', timeout: 10_000 });
    await page.waitForFunction(() => Number(document.body.dataset.updates) >= 1, null, { timeout: 5000 });
    const value = (id: string) => page.$eval(`#${id}`, (e) => Number(e.getAttribute('data-value')));
    const text = (id: string) => page.$eval(`#${id}`, (e) => e.textContent ?? '');
    t.equal(await value('decisions-total'), 0, 'empty proxy: no decisions yet');
    t.equal(await text('active-tunnels'), '0');
    t.match(await text('recent-denials'), /none yet/);

    // Traffic: 3 bypassed tunnels (2 still open), one logged, a plain request, a refusal with a hostile
    // host name, an old-TLS rejection.
    for (let i = 0; i < 3; i++) metrics.sink.tunnelOpen('bypass');
    metrics.sink.tunnelClose('bypass');
    metrics.sink.tunnelOpen('log');
    metrics.sink.connect(connectRec({ decision: 'bypass', reason: 'catalog', host: 'payloadprod1.blob.core.windows.net', bytesIn: MIB, bytesOut: 7 * MIB }));
    metrics.sink.connect(connectRec({ decision: 'log', reason: 'default', host: 'example.org', bytesIn: MIB, bytesOut: MIB }));
    metrics.sink.request(requestRec({ decision: 'log', reason: 'default', host: 'plain.example' }));
    metrics.sink.request(requestRec({ decision: 'deny', reason: 'not_allowlisted', host: HOSTILE, port: 80 }));
    metrics.sink.connect(connectRec({ decision: 'deny', reason: 'tls_version_too_low', host: 'legacy.example' }));

    await page.waitForFunction(() => document.getElementById('decisions-total')?.getAttribute('data-value') === '5', null, { timeout: 5000 });
    t.equal(await text('decisions-total'), '5');
    t.equal(await text('active-tunnels'), '3', '2 bypass + 1 log open');
    t.equal(await text('tunnels-bypass'), '2');
    t.equal(await value('bypass-share'), 0.8, 'bypass carries 8 of 10 MiB');
    t.equal(await text('bypass-share'), '80.0 %');
    t.equal(await text('savings-handshakes'), '1');
    t.equal(await text('savings-bytes'), '8.00 MiB');
    t.ok((await value('savings-cpu')) > 0, 'savings so far are positive');
    t.ok((await value('decisions-per-second')) > 0, 'decision rate shows the burst');
    const points = await page.$eval('#spark-total', (e) => e.getAttribute('points') ?? '');
    t.equal(points.split(' ').length, 60, 'sparkline has 60 one-second points');
    t.ok(points.split(' ').some((p) => Number(p.split(',')[1]) < 46), 'sparkline rises above the baseline');

    const rows = await page.$$eval('#recent-denials tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    t.equal(rows.length, 2);
    t.same(rows[0]!.slice(1), ['legacy.example:443', 'deny', 'tls_version_too_low'], 'newest first');
    t.same(rows[1]!.slice(1), [`${HOSTILE}:80`, 'deny', 'not_allowlisted'], 'hostile host shown literally');
    t.equal(await page.$$eval('#recent-denials img', (x) => x.length), 0, 'no element made from a host name');
    t.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined, 'no script ran from data');

    // More traffic: the page keeps up on its own.
    metrics.sink.tunnelClose('log');
    metrics.sink.connect(connectRec({ decision: 'bypass', reason: 'catalog', host: 'tenant.manage.microsoft.com', bytesIn: 10, bytesOut: 20 }));
    await page.waitForFunction(() => document.getElementById('decisions-total')?.getAttribute('data-value') === '6', null, { timeout: 5000 });
    t.equal(await text('active-tunnels'), '2');
    t.equal(await text('savings-handshakes'), '2');
    t.match(await text('status'), /^updated \d\d:\d\d:\d\d/);

    await mkdir(join(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    t.ok(existsSync(SCREENSHOT), `screenshot at ${SCREENSHOT}`);

    const outside = requested.filter((u) => !u.startsWith(`${base}/`) && !u.startsWith('data:'));
    t.same(outside, [], 'every request went to the local admin server');
    t.ok(requested.filter((u) => u === `${base}/api/live`).length >= 2, 'the page polled /api/live');
    t.same(consoleErrors, [], 'no script errors or CSP violations');
  });
}
