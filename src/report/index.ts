// Entry point of `autopatch-proxy report`: reads logs and calibration, renders text/JSON/HTML, writes the
// HTML file. Returns what the CLI prints; must not print, exit or parse argv (the CLI does that).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { reportFromFiles, type ReportFromFilesOptions } from './read-ndjson.js';
import { renderHtml } from './render-html.js';
import { renderJson } from './render-json.js';
import { renderText } from './render-text.js';
import { computeSavings, DEFAULT_CALIBRATION, parseCalibration, type Calibration } from './savings.js';

export { createAggregator, aggregate, DEFAULT_LIMITS, type Aggregator, type AggregatorLimits } from './aggregate.js';
export { readRecords, reportFromFiles, MAX_LINE_BYTES, ReportInputError } from './read-ndjson.js';
export { computeSavings, DEFAULT_CALIBRATION, parseCalibration, type Calibration, type Savings } from './savings.js';
export { renderText, renderJson, renderHtml };
export type { ReportData, DecisionTotals, Totals } from './types.js';

/** File name of a calibration inside the rules directory (git-ignored: it is machine-specific). */
export const CALIBRATION_FILE = '.calibration.json';
export const calibrationPath = (rulesDir: string): string => join(rulesDir, CALIBRATION_FILE);

export interface RunReportOptions {
  paths: string[]; // NDJSON logs; '-' = stdin; empty = stdin
  json?: boolean; // stdout is the JSON object instead of the text table
  html?: string | null; // write the HTML page to this path
  /** A Calibration, or the path of a calibration JSON file (a missing file falls back to DEFAULT_CALIBRATION). */
  calibration?: Calibration | string | null;
  stdin?: NodeJS.ReadableStream;
  limits?: ReportFromFilesOptions['limits'];
}

export interface RunReportResult {
  stdout: string;
  htmlPath?: string;
}

/** Raised for an unreadable or invalid calibration file; `message` names the file and field. */
export class CalibrationError extends Error {
  override readonly name = 'CalibrationError';
  readonly code = 'calibration_invalid';
}

/** Reads a calibration file; a missing file yields DEFAULT_CALIBRATION (measured:false), anything else invalid throws. */
export async function loadCalibration(path: string): Promise<Calibration> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ...DEFAULT_CALIBRATION };
    throw new CalibrationError(`cannot read calibration ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CalibrationError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  try {
    return parseCalibration(value, path);
  } catch (err) {
    throw new CalibrationError((err as Error).message);
  }
}

export async function runReport(options: RunReportOptions): Promise<RunReportResult> {
  const c = options.calibration;
  const calibration = typeof c === 'string' ? await loadCalibration(c) : c ? parseCalibration(c) : { ...DEFAULT_CALIBRATION };
  const readOptions: ReportFromFilesOptions = {};
  if (options.stdin) readOptions.stdin = options.stdin;
  if (options.limits) readOptions.limits = options.limits;
  const data = await reportFromFiles(options.paths, readOptions);
  const savings = computeSavings(data, calibration);
  const result: RunReportResult = { stdout: options.json ? renderJson(data, savings) : renderText(data, savings) };
  if (options.html) {
    await writeFile(options.html, renderHtml(data, savings), 'utf8');
    result.htmlPath = options.html;
    if (!options.json) result.stdout += `HTML report written to ${options.html}\n`;
  }
  return result;
}
