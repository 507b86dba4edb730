// Merges the dashboard snapshots of several worker processes (--workers) into one (pure).
// Counts add up, 1-s rate buckets add element-wise, recent events interleave by time; shares are recomputed.
import type { DashboardSnapshot } from './live.js';

function mergeValue(a: unknown, b: unknown): unknown {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return a && b;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.every((x) => typeof x === 'number') && b.every((x) => typeof x === 'number') && a.length === b.length) {
      return a.map((x, i) => (x as number) + (b[i] as number));
    }
    return [...a, ...b];
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
    for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = k in out ? mergeValue(out[k], v) : v;
    return out;
  }
  return a ?? b;
}

export function mergeSnapshots(parts: readonly DashboardSnapshot[]): DashboardSnapshot | null {
  if (parts.length === 0) return null;
  let m = parts[0]!;
  for (const p of parts.slice(1)) m = mergeValue(m, p) as DashboardSnapshot;
  if (parts.length === 1) return m;
  const merged: DashboardSnapshot = {
    ...m,
    time: Math.max(...parts.map((p) => p.time)),
    startedAt: Math.min(...parts.map((p) => p.startedAt)),
    recent: [...m.recent].sort((x, y) => y.time - x.time).slice(0, parts[0]!.recent.length || 50),
    rate: { ...m.rate, windowSeconds: parts[0]!.rate.windowSeconds, perSecond: parts.reduce((s, p) => s + p.rate.perSecond, 0) },
    catalogRules: parts[0]!.catalogRules, // every worker loads the same catalog
  };
  const bytesOf = (d: keyof DashboardSnapshot['bytes']) => merged.bytes[d].in + merged.bytes[d].out;
  const allBytes = bytesOf('bypass') + bytesOf('log') + bytesOf('inspect') + bytesOf('deny');
  merged.bypassShare = {
    bytes: allBytes > 0 ? bytesOf('bypass') / allBytes : 0,
    decisions: merged.decisionsTotal > 0 ? merged.decisions.bypass / merged.decisionsTotal : 0,
  };
  return merged;
}
