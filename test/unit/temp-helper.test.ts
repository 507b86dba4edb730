// test/helpers/temp.ts: a directory made by tempDir / tempDirSync is gone once the process that made it has
// exited, whether it ended normally, by an uncaught error, or after removing the directory itself. Each case
// runs in a child `node` that imports the compiled helper (build/test/helpers/temp.js, next to this file's
// build/test/unit/), makes a directory, writes a file into it, prints the path and exits.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

const HELPER = new URL('../helpers/temp.js', import.meta.url).href;

interface ChildRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runChild(body: string): Promise<ChildRun> {
  const script = `import { tempDir, tempDirSync } from ${JSON.stringify(HELPER)};
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
${body}`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The directory the child printed: under os.tmpdir(), named by the prefix, and made (the child checked). */
function printedDir(t: Test, r: ChildRun, prefix: string): string {
  const m = /^made (.+)$/m.exec(r.stdout);
  t.ok(m, m ? 'the child printed its directory' : `no directory printed: ${r.stdout} ${r.stderr}`);
  const dir = m ? m[1]! : '';
  t.equal(dirname(dir), tmpdir(), 'under os.tmpdir()');
  t.ok(basename(dir).startsWith(prefix), `named ${prefix}XXXXXX: ${dir}`);
  // should the helper ever leave one behind, this run's copy does not stay in /tmp
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('tempDir: removed with its contents when the process exits normally', async (t) => {
  const r = await runChild(`const dir = await tempDir('ap-temp-helper-');
writeFileSync(join(dir, 'ca.key'), 'secret');
if (existsSync(join(dir, 'ca.key'))) console.log('made ' + dir);`);
  t.equal(r.code, 0, r.stderr);
  const dir = printedDir(t, r, 'ap-temp-helper-');
  t.equal(existsSync(dir), false, `${dir} is gone`);
});

t.test('tempDirSync: removed as well when the process dies of an uncaught error', async (t) => {
  const r = await runChild(`const dir = tempDirSync('ap-temp-helper-sync-');
writeFileSync(join(dir, 'log.ndjson'), '{}\\n');
if (existsSync(join(dir, 'log.ndjson'))) console.log('made ' + dir);
throw new Error('the test failed');`);
  t.equal(r.code, 1, 'the child failed');
  t.match(r.stderr, /the test failed/);
  const dir = printedDir(t, r, 'ap-temp-helper-sync-');
  t.equal(existsSync(dir), false, `${dir} is gone`);
});

t.test('a directory the test removed itself (rm in a teardown) is no error at exit', async (t) => {
  const r = await runChild(`const a = await tempDir('ap-temp-helper-gone-');
const b = await tempDir('ap-temp-helper-kept-');
writeFileSync(join(a, 'x'), 'x');
writeFileSync(join(b, 'y'), 'y');
rmSync(a, { recursive: true, force: true });
console.log('made ' + b);`);
  t.equal(r.code, 0, 'exit code unchanged');
  t.equal(r.stderr, '', 'nothing reported');
  const dir = printedDir(t, r, 'ap-temp-helper-kept-');
  t.equal(existsSync(dir), false, `${dir}, made after the removed one, is gone too`);
});
