import t from 'tap';
import { aggregate } from '../../src/report/aggregate.js';
import { reportFromFiles } from '../../src/report/read-ndjson.js';
import { renderHtml } from '../../src/report/render-html.js';
import { renderJson } from '../../src/report/render-json.js';
import { renderText } from '../../src/report/render-text.js';
import { computeSavings, DEFAULT_CALIBRATION, type Calibration } from '../../src/report/savings.js';
import { escapeHtml } from '../../src/report/svg-charts.js';
import { makeRecords } from '../fixtures/report/records.js';
import { repoPath } from '../helpers/paths.js';

const SAMPLE = repoPath('test/fixtures/report/sample.ndjson');
const HOSTILE = '<script>alert(1)</script>//x';
const measured: Calibration = { ...DEFAULT_CALIBRATION, measured: true, measuredAt: '2025-01-15T08:00:00Z' };

async function sample() {
  const data = await reportFromFiles([SAMPLE]);
  return { data, savings: computeSavings(data, DEFAULT_CALIBRATION) };
}

t.test('JSON: one object; totals exactly as CONTRACT.md', async (t) => {
  const { data, savings } = await sample();
  const out = renderJson(data, savings);
  t.equal(out.trimEnd().split('\n').length, 1, 'one line');
  const doc = JSON.parse(out) as Record<string, unknown>;
  const totals = doc.totals as Record<string, Record<string, unknown>>;
  t.same(Object.keys(totals), ['bypass', 'log', 'inspect', 'deny']);
  for (const [d, v] of Object.entries(totals)) {
    t.same(Object.keys(v), ['connections', 'requests', 'bytesIn', 'bytesOut'], `${d} has exactly the contract fields`);
    t.ok(Object.values(v).every((n) => Number.isInteger(n)));
  }
  t.same(totals.inspect, { connections: 2, requests: 2, bytesIn: 4517, bytesOut: 93000 });
  t.match(doc, {
    malformedLines: 2,
    period: { first: '2025-01-15T09:00:01.000Z', last: '2025-01-15T09:01:11.000Z' },
    savings: { measured: false, handshakesAvoided: 2, certificatesAvoided: 1, warning: String },
    pinningCandidates: { count: 1 },
    notAllowlisted: { count: 3 },
    tlsRejections: { tls_version_too_low: { count: 1 }, sni_mismatch: { count: 1 }, not_tls: { count: 1 } },
    series: { bucketSeconds: 60 },
  });
  t.ok((doc.savings as { cpuSecondsSaved: number }).cpuSecondsSaved > 0);
});

t.test('HTML: self-contained, charts inline, hostile host names escaped', async (t) => {
  const { data, savings } = await sample();
  const html = renderHtml(data, savings);
  t.match(html, /^<!DOCTYPE html>/);
  t.notMatch(html, /(?:https?:)?\/\//i, 'no URL and no protocol-relative reference anywhere');
  t.notMatch(html, /xmlns|<script|<link|<img|<iframe|@import|url\(|\bsrc=|\bhref=/i, 'nothing that could fetch or run');
  t.ok((html.match(/<svg /g) ?? []).length >= 3, 'donuts, savings over time and destinations are inline SVG');
  t.match(html, /<style>/);
  t.match(html, /Bypass saved [\d.,]+ CPU-seconds, 2 TLS handshakes and 11\.0 MiB not decrypted/);
  t.match(html, /No calibration measured/, 'says the figures are estimates');
  t.ok(html.includes(escapeHtml(HOSTILE)));
  t.ok(html.includes('&#60;script&#62;alert(1)&#60;&#47;script&#62;'));
  t.notOk(html.includes('</script>'));
  t.notMatch(renderHtml(data, computeSavings(data, measured)), /No calibration measured/);
});

t.test('HTML and text render an empty log', async (t) => {
  const data = aggregate([]);
  const s = computeSavings(data, DEFAULT_CALIBRATION);
  const html = renderHtml(data, s);
  t.match(html, /no data/);
  t.match(html, /no timestamped records/);
  t.notMatch(html, /(?:https?:)?\/\//);
  t.match(renderText(data, s), /No bypassed tunnels in these logs/);
});

t.test('HTML over a long log thins the chart and stays free of URLs', async (t) => {
  const data = aggregate(makeRecords(5000, { stepMs: 30_000 }));
  const html = renderHtml(data, computeSavings(data, DEFAULT_CALIBRATION));
  t.ok(data.series.buckets.length > 600);
  t.notMatch(html, /(?:https?:)?\/\//);
  const polyline = /<polyline points="([^"]*)"/.exec(html)?.[1] ?? '';
  t.ok(polyline.split(' ').length <= 600, 'at most 600 points per line');
});

t.test('text: tables, humanised bytes, shares, sections, warnings', async (t) => {
  const { data, savings } = await sample();
  const text = renderText(data, savings);
  t.match(text, /^bypass\s+2\s+1\s+3\.29 KiB\s+11\.5 MiB\s+11\.5 MiB\s+99\.0 %\s+18\.2 %$/m);
  t.match(text, /^deny\s+5\s+0\s+140 B\s+7 B\s+147 B\s+0\.0 %\s+45\.5 %$/m);
  for (const title of ['Decisions', 'Savings of bypass', 'By rule source and category', 'Top destinations', 'TLS rejections',
    'Certificate pinning candidates', 'not_allowlisted', 'Model assumptions']) t.match(text, title);
  t.match(text, /WARNING: No calibration measured/);
  t.match(text, /^tracker\.example:443\s+2$/m);
  t.match(text, /^pinned\.example\.com\s+1$/m);
  t.match(text, /Malformed lines skipped: 2/);
  t.match(text, /TLS handshakes avoided\s+2/);
  t.match(text, /bytes not decrypted\s+11\.0 MiB/);
  const evil = aggregate([{ event: 'connect', decision: 'log', host: 'a\u001b[31mred\u0007.example', bytesIn: 1, bytesOut: 1 }]);
  const out = renderText(evil, computeSavings(evil, measured));
  t.notMatch(out, /[\u0000-\u0008\u000b-\u001f]/, 'terminal control characters from host names are neutralised');
  t.notMatch(out, /WARNING/);
});
