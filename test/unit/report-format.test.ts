import t from 'tap';
import { fmtDuration, fmtInt, fmtNum, fmtTime, humanBytes, pct, safeText, textTable } from '../../src/report/format.js';
import { escapeHtml, thin } from '../../src/report/svg-charts.js';

t.test('humanBytes / fmtInt / fmtNum / pct', async (t) => {
  const cases: Array<[string, string]> = [
    [humanBytes(0), '0 B'], [humanBytes(1023), '1023 B'], [humanBytes(1536), '1.50 KiB'], [humanBytes(50 * 1024 * 1024), '50.0 MiB'],
    [humanBytes(300 * 1024 ** 3), '300 GiB'], [humanBytes(2 * 1024 ** 6), '2048 PiB'],
    [fmtInt(1234567), '1,234,567'], [fmtInt(-1000), '-1,000'], [fmtInt(12), '12'],
    [fmtNum(0), '0'], [fmtNum(0.01234), '0.012'], [fmtNum(1.234), '1.23'], [fmtNum(12.34), '12.3'], [fmtNum(123.4), '123'], [fmtNum(12345.6), '12,346'],
    [pct(1, 8), '12.5 %'], [pct(1, 0), '–'],
  ];
  for (const [got, want] of cases) t.equal(got, want);
});

t.test('times and durations are UTC and locale-independent', async (t) => {
  t.equal(fmtTime(Date.UTC(2025, 0, 15, 9, 0, 1, 500)), '2025-01-15 09:00:01Z');
  t.equal(fmtTime(null), '–');
  t.equal(fmtDuration(42_000), '42 s');
  t.equal(fmtDuration(90_000), '1 min 30 s');
  t.equal(fmtDuration(3_600_000 * 26 + 60_000), '1 d 2 h 1 min');
});

t.test('untrusted text is neutralised for terminals and HTML', async (t) => {
  t.equal(safeText('a\u001b[2Jb\u0007'), 'a?[2Jb?');
  t.equal(escapeHtml(`<a href="//x">'&'</a>`), '&#60;a href&#61;&#34;&#47;&#47;x&#34;&#62;&#39;&#38;&#39;&#60;&#47;a&#62;');
  t.same(textTable(['h', 'n'], [['a\u001bb', '1'], ['long-host', '22']], [false, true]).split('\n'), [
    `h${' '.repeat(8)}   n`,
    '---------  --',
    `a?b${' '.repeat(6)}   1`,
    'long-host  22',
  ]);
});

t.test('thin keeps the first and last points', async (t) => {
  const pts = Array.from({ length: 1000 }, (_, i) => ({ t: i, v: i }));
  const th = thin(pts, 10);
  t.equal(th.length, 10);
  t.same(th[0], { t: 0, v: 0 });
  t.same(th.at(-1), { t: 999, v: 999 });
  t.equal(thin(pts.slice(0, 5), 10).length, 5);
});
