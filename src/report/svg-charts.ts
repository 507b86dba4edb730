// Inline SVG charts (donut, area over time, bar list) and HTML escaping for the self-contained HTML report.
// Returns markup strings; must never reference anything external (no URLs, fonts, scripts, xmlns).

/** Escapes text for HTML element content and quoted attributes; '/' too, so no "//" can appear. */
export function escapeHtml(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '?')
    .replace(/[&<>"'/`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const n2 = (x: number): string => (Number.isFinite(x) ? Number(x.toFixed(2)).toString() : '0');

export interface Slice {
  label: string;
  value: number;
  color: string; // a CSS colour literal chosen by the caller (never untrusted input)
}

/** Ring chart of shares with a legend on the right; `format` renders a slice's value. */
export function donut(title: string, slices: Slice[], format: (v: number) => string): string {
  const W = 320;
  const H = 160;
  const cx = 80;
  const cy = 80;
  const r = 56;
  const C = 2 * Math.PI * r;
  const total = slices.reduce((s, x) => s + Math.max(0, x.value), 0);
  const parts: string[] = [];
  parts.push(`<circle cx="${cx}" cy="${cy}" r="${r}" fill="none" stroke="#e4e7eb" stroke-width="28"></circle>`);
  let offset = 0;
  for (const s of slices) {
    if (total <= 0 || s.value <= 0) continue;
    const f = s.value / total;
    parts.push(
      `<circle cx="${cx}" cy="${cy}" r="${r}" fill="none" stroke="${s.color}" stroke-width="28" ` +
        `stroke-dasharray="${n2(f * C)} ${n2(C)}" stroke-dashoffset="${n2(-offset * C)}" ` +
        `transform="rotate(-90 ${cx} ${cy})"><title>${escapeHtml(`${s.label}: ${format(s.value)} (${(f * 100).toFixed(1)} %)`)}</title></circle>`,
    );
    offset += f;
  }
  parts.push(`<text x="${cx}" y="${cy + 5}" text-anchor="middle" class="c-center">${total > 0 ? escapeHtml(format(total)) : 'no data'}</text>`);
  slices.forEach((s, i) => {
    const y = 28 + i * 30;
    const share = total > 0 ? `${((100 * Math.max(0, s.value)) / total).toFixed(1)} %` : '–';
    parts.push(
      `<rect x="170" y="${y - 11}" width="14" height="14" rx="3" fill="${s.color}"></rect>` +
        `<text x="192" y="${y}" class="c-label">${escapeHtml(s.label)} ${escapeHtml(share)}</text>` +
        `<text x="192" y="${y + 13}" class="c-small">${escapeHtml(format(s.value))}</text>`,
    );
  });
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(title)}"><title>${escapeHtml(title)}</title>${parts.join('')}</svg>`;
}

export interface Point {
  t: number; // epoch ms
  v: number;
}

/** At most `max` points: keeps the first, the last and evenly spaced ones between (fine for cumulative series). */
export function thin(points: Point[], max = 600): Point[] {
  if (points.length <= max) return points;
  const step = (points.length - 1) / (max - 1);
  return Array.from({ length: max }, (_, i) => points[Math.round(i * step)] as Point);
}

/** Filled line chart over time; x labels in UTC, y from 0 to the maximum. */
export function areaChart(title: string, input: Point[], color: string, format: (v: number) => string, timeLabel: (t: number) => string): string {
  const W = 720;
  const H = 260;
  const L = 70;
  const R = 16;
  const T = 16;
  const B = 40;
  const head = `<svg class="chart wide" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(title)}"><title>${escapeHtml(title)}</title>`;
  if (input.length === 0) return `${head}<text x="${W / 2}" y="${H / 2}" text-anchor="middle" class="c-label">no timestamped records</text></svg>`;
  const pts = thin(input);
  const first = pts[0] as Point;
  const last = pts[pts.length - 1] as Point;
  const t0 = first.t;
  const t1 = last.t > t0 ? last.t : t0 + 60_000;
  const vmax = Math.max(...pts.map((p) => p.v), 0) || 1;
  const x = (t: number): number => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v: number): number => T + (1 - Math.max(0, v) / vmax) * (H - T - B);
  const coords = pts.map((p) => `${n2(x(p.t))},${n2(y(p.v))}`);
  if (pts.length === 1) coords.push(`${n2(x(t1))},${n2(y(first.v))}`);
  const base = n2(y(0));
  const parts: string[] = [];
  for (const f of [0, 0.5, 1]) {
    const gy = n2(y(vmax * f));
    parts.push(`<line x1="${L}" y1="${gy}" x2="${W - R}" y2="${gy}" class="c-grid"></line>`);
    parts.push(`<text x="${L - 6}" y="${gy}" dy="4" text-anchor="end" class="c-small">${escapeHtml(format(vmax * f))}</text>`);
  }
  const lastX = pts.length === 1 ? n2(x(t1)) : n2(x(last.t));
  parts.push(`<path d="M${n2(x(t0))},${base} L${coords.join(' L')} L${lastX},${base} Z" fill="${color}" fill-opacity="0.25"></path>`);
  parts.push(`<polyline points="${coords.join(' ')}" fill="none" stroke="${color}" stroke-width="2"></polyline>`);
  parts.push(`<text x="${L}" y="${H - 12}" class="c-small">${escapeHtml(timeLabel(t0))}</text>`);
  parts.push(`<text x="${W - R}" y="${H - 12}" text-anchor="end" class="c-small">${escapeHtml(timeLabel(last.t))}</text>`);
  return `${head}${parts.join('')}</svg>`;
}

/** One horizontal bar per row (value relative to the largest); labels are escaped. */
export function barList(title: string, rows: Array<{ label: string; value: number; color: string }>, format: (v: number) => string): string {
  const W = 720;
  const rowH = 26;
  const H = Math.max(1, rows.length) * rowH + 8;
  const max = Math.max(...rows.map((r) => r.value), 0) || 1;
  const parts = rows.map((r, i) => {
    const y = 4 + i * rowH;
    const w = n2((Math.max(0, r.value) / max) * 380);
    const label = r.label.length > 48 ? `${r.label.slice(0, 47)}…` : r.label;
    return `<text x="250" y="${y + 16}" text-anchor="end" class="c-label">${escapeHtml(label)}</text>` +
      `<rect x="258" y="${y + 4}" width="${w}" height="16" rx="2" fill="${r.color}"><title>${escapeHtml(`${r.label}: ${format(r.value)}`)}</title></rect>` +
      `<text x="${n2(264 + Number(w))}" y="${y + 16}" class="c-small">${escapeHtml(format(r.value))}</text>`;
  });
  return `<svg class="chart wide" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(title)}"><title>${escapeHtml(title)}</title>${parts.join('')}</svg>`;
}
