// Runs a long CLI job (demo, calibrate) that Ctrl-C / SIGTERM abort through an AbortSignal; the job stops
// what it started. Failures become one line on stderr (main.fail), an interrupt exits 130.
import { fail } from '../main.js';

export async function interruptible(what: string, job: (signal: AbortSignal) => Promise<string>): Promise<void> {
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    process.stdout.write(await job(abort.signal));
  } catch (e) {
    if (abort.signal.aborted) fail(`${what} interrupted; every origin and proxy it started was stopped`, 130);
    fail(`${what} failed: ${(e as Error).message}`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
