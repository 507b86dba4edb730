// `calibrate [--rules DIR] [--duration short|normal]`: measures the savings model's figures on this machine
// (demo/calibrate.ts) and stores them in DIR/.calibration.json; prints the figures and where they went.
import { calibrate, type DemoDuration } from '../demo/calibrate.js';
import { formatCalibrationRun } from '../demo/format.js';
import { interruptible } from './interruptible.js';

export async function runCalibrateCommand(opts: { rulesDir: string; duration: DemoDuration }): Promise<void> {
  await interruptible('calibration', async (signal) => {
    process.stderr.write(`autopatch-proxy: calibrating (${opts.duration}): local origins and one proxy process on 127.0.0.1…\n`);
    return formatCalibrationRun(await calibrate({ duration: opts.duration, writeTo: opts.rulesDir, signal }));
  });
}
