// TCP port lists as Microsoft publishes them ("80,443", "3478-3481", "443, 80", 443, [80, "8080-8090"])
// → sorted, merged ranges, and the per-lookup membership test. Pure; no I/O, never throws.

/** Inclusive range [low, high]. */
export type PortRange = readonly [number, number];

export type PortsResult = { ok: true; ranges: PortRange[] } | { ok: false; message: string };

const RANGE = /^(\d{1,5})\s*-\s*(\d{1,5})$/;
const SINGLE = /^\d{1,5}$/;

/**
 * Parses a port list. An empty string or array gives `[]`; callers decide what "no ports" means
 * (web-service shape: the key is treated as absent; project format: an error).
 */
export function parsePorts(value: unknown): PortsResult {
  const items: unknown[] = Array.isArray(value) ? value : [value];
  const ranges: [number, number][] = [];
  for (const item of items) {
    if (typeof item === 'number') {
      if (!isPort(item)) return { ok: false, message: `port ${item} is not an integer in 1-65535` };
      ranges.push([item, item]);
      continue;
    }
    if (typeof item !== 'string') return { ok: false, message: `ports must be numbers or strings, not ${typeOf(item)}` };
    for (const raw of item.split(',')) {
      const part = raw.trim();
      if (part === '') continue; // "443,,80" and "" are tolerated: the web service leaves keys blank
      const r = RANGE.exec(part);
      if (r !== null) {
        const lo = Number(r[1]);
        const hi = Number(r[2]);
        if (!isPort(lo) || !isPort(hi) || lo > hi) return { ok: false, message: `bad port range "${part}"` };
        ranges.push([lo, hi]);
      } else if (SINGLE.test(part) && isPort(Number(part))) {
        ranges.push([Number(part), Number(part)]);
      } else {
        return { ok: false, message: `bad port "${part}"` };
      }
    }
  }
  return { ok: true, ranges: merge(ranges) };
}

/** `null` means "any TCP port" (the source listed none). */
export function portAllowed(ranges: readonly PortRange[] | null, port: number): boolean {
  if (ranges === null) return true;
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i]!;
    if (port >= r[0] && port <= r[1]) return true;
  }
  return false;
}

/** "80,443,8000-8080" — the rendering used by exports and `rules list`. */
export function formatPorts(ranges: readonly PortRange[] | null): string {
  if (ranges === null) return 'any';
  return ranges.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`)).join(',');
}

function merge(ranges: [number, number][]): PortRange[] {
  ranges.sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last !== undefined && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out.map((r) => Object.freeze(r) as PortRange);
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

function typeOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}
