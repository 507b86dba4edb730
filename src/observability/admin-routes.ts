// The metrics and dashboard routes of the admin listener (`/`, `/metrics`, `/api/live`), for app.ts to
// merge into createAdminServer's route map. Only maps paths to bodies: no listening, no state of its own.
import type { AdminRoute } from './admin.js';
import { dashboardHtml } from './dashboard.js';
import type { Metrics } from './metrics.js';

export function adminRoutes(metrics: Pick<Metrics, 'registry' | 'render' | 'snapshot'>): Record<string, AdminRoute> {
  return {
    '/': { contentType: 'text/html; charset=utf-8', body: dashboardHtml },
    // Prometheus text format 0.0.4 (`text/plain; version=0.0.4; charset=utf-8`).
    '/metrics': { contentType: metrics.registry.contentType, body: () => metrics.render() },
    '/api/live': { contentType: 'application/json; charset=utf-8', body: () => JSON.stringify(metrics.snapshot()) },
  };
}
