// `calibrate [--rules DIR] [--duration short|normal]`: measures the savings model's figures on this machine
// (demo/calibrate.ts) and stores them in DIR/.calibration.json; prints the figures and where they went.
import { calibrate, type DemoDuration } from '../demo/calibrate.js';
import { formatCalibrationRun } from '../demo/format.js';
import { fail } from '../main.js';

export async function runCalibrateCommand(opts: { rulesDir: string; duration: DemoDuration }): Promise<void> {
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    process.stderr.write(`autopatch-proxy: calibrating (${opts.duration}): local origins and one proxy process on 127.0.0.1…\n`);
    const run = await calibrate({ duration: opts.duration, writeTo: opts.rulesDir, signal: abort.signal });
    process.stdout.write(formatCalibrationRun(run));
  } catch (e) {
    if (abort.signal.aborted) fail('calibration interrupted; every origin and proxy it started was stopped', 130);
    fail(`calibration failed: ${(e as Error).message}`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
