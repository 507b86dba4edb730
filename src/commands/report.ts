// `report LOG… [--json] [--html FILE]`: the CLI's thin wrapper over report/index.ts.
import { runReport, calibrationPath, CalibrationError, ReportInputError } from '../report/index.js';
import { fail } from '../main.js';

export async function runReportCommand(paths: string[], opts: { json: boolean; html: string | null; rulesDir: string }): Promise<void> {
  try {
    const r = await runReport({ paths, json: opts.json, html: opts.html, calibration: calibrationPath(opts.rulesDir) });
    process.stdout.write(r.stdout.endsWith('\n') ? r.stdout : r.stdout + '\n');
  } catch (e) {
    if (e instanceof CalibrationError || e instanceof ReportInputError) fail(e.message);
    throw e;
  }
}
