// Temporary directories for tests: made with mkdtemp under os.tmpdir() and removed, recursively, when the
// test process exits, pass or fail (a failed assertion, a thrown error and process.exit all end in 'exit').
// Several of them hold a generated CA's private key. By 'exit' the test's teardowns have stopped the
// proxies it started, in-process or as CLI children, so nothing is still writing into them. A test that
// removes its directory sooner (rm in a teardown) may go on doing so: removal here is `force`, a directory
// already gone is no error. Not covered: a process killed by a signal (tap's timeout ends a test file
// with SIGALRM), which runs no 'exit' handler.
import { mkdtempSync, rmSync, writeSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = new Set<string>();
let hooked = false;

/** Removes every directory made so far; runs once, at 'exit'. */
function removeTempDirs(): void {
  for (const dir of made) {
    made.delete(dir);
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch (e) {
      // an exit handler must not throw (it would replace the exit code): say so and go on with the rest
      writeSync(2, `test temp dir not removed: ${dir}: ${(e as Error).message}\n`);
    }
  }
}

function track(dir: string): string {
  made.add(dir);
  if (!hooked) {
    hooked = true;
    process.on('exit', removeTempDirs);
  }
  return dir;
}

/** `await tempDir('ap-certs-')`: a new directory /tmp/ap-certs-XXXXXX, removed when the process exits. */
export async function tempDir(prefix: string): Promise<string> {
  return track(await mkdtemp(join(tmpdir(), prefix)));
}

/** The synchronous form of `tempDir`. */
export function tempDirSync(prefix: string): string {
  return track(mkdtempSync(join(tmpdir(), prefix)));
}
