// `demo [--duration short|normal] [--html FILE]`: the CLI's wrapper over demo/run.ts. Prints the measured
// difference on stdout (progress on stderr); Ctrl-C / SIGTERM abort the run, which stops what it started.
import { runDemo, DEFAULT_DEMO_HTML, type DemoDuration } from '../demo/run.js';
import { formatDemo } from '../demo/format.js';
import { interruptible } from './interruptible.js';

export async function runDemoCommand(opts: { duration: DemoDuration; html: string | null }): Promise<void> {
  await interruptible('demo', async (signal) =>
    formatDemo(await runDemo({ duration: opts.duration, html: opts.html ?? DEFAULT_DEMO_HTML, progress: process.stderr, signal })),
  );
}
