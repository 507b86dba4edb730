// Builders of ConnectRecord / RequestRecord values for metrics and dashboard tests (defaults + overrides).
import type { ConnectRecord, RequestRecord } from '../../src/observability/records.js';

let id = 1;

export function connectRec(over: Partial<ConnectRecord> = {}): ConnectRecord {
  return {
    event: 'connect', connId: id++, decision: 'log', reason: 'default', client: '10.9.8.7', host: 'origin.test', port: 443,
    rule: null, bytesIn: 0, bytesOut: 0, durationMs: 1, sni: null, tlsVersion: null, alpn: null, upstream: null, ...over,
  };
}

export function requestRec(over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    event: 'request', connId: id++, decision: 'log', reason: 'default', client: '10.9.8.7', host: 'origin.test', port: 80,
    rule: null, bytesIn: 0, bytesOut: 0, durationMs: 1, method: 'GET', url: '/', status: 200, range: null, ...over,
  };
}

/** Parses Prometheus text exposition into `name{a="x",b="y"}` (labels sorted) → value. */
export function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels = m[2] ? [...m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => `${x[1]}="${x[2]}"`).sort() : [];
    out.set(labels.length ? `${m[1]}{${labels.join(',')}}` : m[1]!, Number(m[3]));
  }
  return out;
}

/** Key for parseExposition's map: `series('x_total', {decision: 'bypass'})`. */
export function series(name: string, labels: Record<string, string> = {}): string {
  const l = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort();
  return l.length ? `${name}{${l.join(',')}}` : name;
}
