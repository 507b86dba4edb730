import t from 'tap';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CALIBRATION_FIGURES } from '../fixtures/report/records.js';
import { calibrationPath, CalibrationError, DEFAULT_CALIBRATION, loadCalibration, runReport } from '../../src/report/index.js';
import { repoPath } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

const SAMPLE = repoPath('test/fixtures/report/sample.ndjson');
const CAL = CALIBRATION_FIGURES;

t.test('runReport: text by default, JSON with json:true, HTML written to a file', async (t) => {
  const dir = await tempDir('report-run-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  const text = await runReport({ paths: [SAMPLE] });
  t.match(text.stdout, /autopatch-proxy savings report/);
  t.match(text.stdout, /WARNING: No calibration measured/);
  t.equal(text.htmlPath, undefined);

  const json = await runReport({ paths: [SAMPLE], json: true, calibration: { ...CAL, measured: true } });
  const doc = JSON.parse(json.stdout) as { totals: unknown; savings: { measured: boolean; warning: unknown } };
  t.same(doc.savings.measured, true);
  t.equal(doc.savings.warning, null);

  const htmlPath = join(dir, 'report.html');
  const both = await runReport({ paths: [SAMPLE], json: true, html: htmlPath });
  t.equal(both.htmlPath, htmlPath);
  t.doesNotThrow(() => JSON.parse(both.stdout), 'stdout stays one JSON object when --html is given');
  const html = await readFile(htmlPath, 'utf8');
  t.match(html, /<svg /);
  t.notMatch(html, /(?:https?:)?\/\//);

  const textAndHtml = await runReport({ paths: [SAMPLE], html: htmlPath });
  t.match(textAndHtml.stdout, /HTML report written to /);

  const stdin = await runReport({ paths: ['-'], json: true, stdin: Readable.from(['{"event":"connect","decision":"bypass","bytesIn":1,"bytesOut":2}\n']) });
  t.same((JSON.parse(stdin.stdout) as { totals: { bypass: unknown } }).totals.bypass, { connections: 1, requests: 0, bytesIn: 1, bytesOut: 2 });
});

t.test('calibration files: missing → default (flagged), valid → measured, invalid → error naming the file', async (t) => {
  const dir = await tempDir('report-cal-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = calibrationPath(dir);
  t.equal(path, join(dir, '.calibration.json'));

  t.same(await loadCalibration(path), DEFAULT_CALIBRATION);
  const missing = await runReport({ paths: [SAMPLE], json: true, calibration: path });
  t.equal((JSON.parse(missing.stdout) as { savings: { measured: boolean } }).savings.measured, false);

  await writeFile(path, JSON.stringify(CAL));
  t.same(await loadCalibration(path), { ...CAL, measured: true });
  const ok = await runReport({ paths: [SAMPLE], calibration: path });
  t.notMatch(ok.stdout, /WARNING/);
  t.match(ok.stdout, /Calibration measured 2025-01-15T08:00:00Z/);

  await writeFile(path, '{ not json');
  const bad = await loadCalibration(path).catch((e: unknown) => e);
  t.ok(bad instanceof CalibrationError);
  t.match(bad, { code: 'calibration_invalid', message: new RegExp(`${path.replace(/[.]/g, '\\.')}: not valid JSON`) });
  await writeFile(path, JSON.stringify({ ...CAL, certMintMs: -1 }));
  await t.rejects(runReport({ paths: [SAMPLE], calibration: path }), { name: 'CalibrationError', message: /certMintMs/ });
  await t.rejects(loadCalibration(dir), { name: 'CalibrationError', message: /cannot read calibration/ }, 'a directory is not a file');
});
