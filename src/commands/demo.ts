// `demo [--duration short|normal] [--html FILE]`: the CLI's wrapper over demo/run.ts. Prints the measured
// difference on stdout (progress on stderr); Ctrl-C / SIGTERM abort the run, which stops what it started.
import { runDemo, DEFAULT_DEMO_HTML, type DemoDuration } from '../demo/run.js';
import { formatDemo } from '../demo/format.js';
import { fail } from '../main.js';

export async function runDemoCommand(opts: { duration: DemoDuration; html: string | null }): Promise<void> {
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await runDemo({ duration: opts.duration, html: opts.html ?? DEFAULT_DEMO_HTML, progress: process.stderr, signal: abort.signal });
    process.stdout.write(formatDemo(result));
  } catch (e) {
    if (abort.signal.aborted) fail('demo interrupted; every origin and proxy it started was stopped', 130);
    fail(`demo failed: ${(e as Error).message}`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
