// Number, size, time and plain-text table formatting shared by the report renderers.
// Pure and locale-independent (same output on every machine); no HTML escaping here (render-html does it).

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.5 KiB" (binary units, as the report's MiB-based calibration). */
export function humanBytes(n: number): string {
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${UNITS[i]}`;
}

/** 1234567 → "1,234,567". */
export function fmtInt(n: number): string {
  const s = String(Math.round(Math.abs(n)));
  return (n < 0 ? '-' : '') + s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Figures with a sensible number of decimals: 0.0123 → "0.012", 12.34 → "12.3", 1234.5 → "1,235". */
export function fmtNum(n: number): string {
  const a = Math.abs(n);
  if (a === 0) return '0';
  if (a >= 1000) return fmtInt(n);
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toPrecision(2);
}

/** part/whole as "12.3 %"; "–" when whole is 0. */
export function pct(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)} %` : '–';
}

/** Epoch ms → "2024-05-01 12:34:56Z" (UTC, second precision). */
export function fmtTime(ms: number | null): string {
  if (ms === null) return '–';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

/** 90_000 → "1 min 30 s"; for spans and bucket widths. */
export function fmtDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const parts: string[] = [];
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) parts.push(`${d} d`);
  if (h) parts.push(`${h} h`);
  if (m) parts.push(`${m} min`);
  if (s % 60 && !d) parts.push(`${s % 60} s`);
  return parts.join(' ');
}

/** Replaces control characters (terminal escape sequences in untrusted host names) with '?'. */
export function safeText(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
}

/**
 * Fixed-width text table. `right[i]` right-aligns column i (numbers). Cells are passed through
 * safeText; widths count UTF-16 units, which is close enough for host names.
 */
export function textTable(headers: string[], rows: string[][], right: boolean[] = []): string {
  const all = [headers, ...rows].map((r) => r.map(safeText));
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (right[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(all[0] ?? []), rule, ...all.slice(1).map(line)].join('\n');
}
