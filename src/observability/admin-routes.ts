// The metrics and dashboard routes of the admin listener (`/`, `/metrics`, `/api/live`) and `/ca.pem`, for
// app.ts and cluster.ts to merge into createAdminServer's route map. Only maps paths to bodies: no
// listening, no state of its own.
import type { AdminRoute } from './admin.js';
import { exportCa } from '../tls/ca-file.js';
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

/** `/ca.pem`: the inspection CA's certificate for device enrolment (never the key); read per request, without node-forge. */
export function caPemRoute(certsDir: string): AdminRoute {
  return { contentType: 'application/x-pem-file', body: () => exportCa(certsDir, { der: false }) };
}
