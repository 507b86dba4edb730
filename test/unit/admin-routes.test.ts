// Admin routes of the metrics/dashboard: content types through the real admin server, and a page that
// names no external URL and writes no data as HTML.
import t from 'tap';
import type { AddressInfo } from 'node:net';
import { createAdminServer } from '../../src/observability/admin.js';
import { adminRoutes } from '../../src/observability/admin-routes.js';
import { dashboardHtml } from '../../src/observability/dashboard.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { connectRec } from '../helpers/records.js';

t.test('/, /metrics and /api/live through createAdminServer', async (t) => {
  const metrics = createMetrics({ collectDefault: false });
  const server = createAdminServer(adminRoutes(metrics), () => true);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  metrics.sink.connect(connectRec({ decision: 'bypass', reason: 'catalog', bytesIn: 3, bytesOut: 4 }));

  const page = await fetch(`${base}/`);
  t.equal(page.status, 200);
  t.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  t.equal(await page.text(), dashboardHtml());

  const prom = await fetch(`${base}/metrics`);
  t.equal(prom.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  t.match(await prom.text(), /^autopatch_proxy_connections_total\{decision="bypass",reason="catalog"\} 1$/m);

  const live = await fetch(`${base}/api/live`);
  t.equal(live.headers.get('content-type'), 'application/json; charset=utf-8');
  t.equal(live.headers.get('cache-control'), 'no-store');
  const body = (await live.json()) as { decisionsTotal: number; bytes: { bypass: { in: number; out: number } } };
  t.equal(body.decisionsTotal, 1);
  t.same(body.bytes.bypass, { in: 3, out: 4 });
});

t.test('the page is self-contained and never renders data as HTML', async (t) => {
  const html = dashboardHtml();
  t.notMatch(html, /(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i, 'no absolute or protocol-relative URL');
  t.notMatch(html, /<(?:script|link|img|iframe)[^>]+(?:src|href)=["'](?!data:)/i, 'no external script, stylesheet or image');
  t.notMatch(html, /@import|url\(/i, 'no CSS fetches');
  t.notMatch(html, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/, 'data goes through textContent');
  t.match(html, /Content-Security-Policy" content="default-src 'none';[^"]*connect-src 'self'/);
  for (const id of ['active-tunnels', 'decisions-total', 'decisions-per-second', 'bypass-share', 'recent-denials', 'savings-cpu', 'rate-sparkline']) {
    t.match(html, new RegExp(`id="${id}"`), `#${id}`);
  }
  t.match(html, /fetch\('api\/live'/, 'polls /api/live');
});
