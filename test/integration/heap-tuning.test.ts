// The started proxy keeps freed read buffers in malloc's heap (src/heap-tuning.ts): forwarding plain-HTTP
// bulk does not fault a fresh page in for every 4 KiB relayed. Counted with the process's own minor-fault
// counter (/proc/PID/stat), not with times.
import t from 'tap';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHttpOrigin } from '../helpers/origins.js';
import { startCli } from '../helpers/spawn-cli.js';
import { curl } from '../helpers/clients.js';

const minorFaults = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[7]);

// the tuning relies on glibc's dynamic thresholds: other allocators, or an operator's fixed malloc settings
// inherited by the child, leave nothing to measure
const glibc = process.platform === 'linux' && Boolean((process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime);
const tunables = Object.keys(process.env).filter((k) => k === 'GLIBC_TUNABLES' || k.startsWith('MALLOC_'));
const skip = !glibc ? 'needs Linux with glibc' : tunables.length ? `malloc settings in the environment (${tunables.join(', ')})` : false;

t.test('plain-HTTP bulk through the started proxy: far fewer page faults than pages relayed', { skip }, async (t) => {
  const origin = await startHttpOrigin();
  const dir = mkdtempSync(join(tmpdir(), 'ap-heap-'));
  const p = await startCli(['--admin', 'off', '--mode', 'log', '--connect-to', `bulk.test:80:127.0.0.1:${origin.port}`, '--log-file', join(dir, 'log.ndjson')]);
  t.teardown(async () => {
    p.child.kill('SIGTERM');
    await p.exited;
    await origin.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const size = 64 * 1024 * 1024;
  const get = async () => {
    const r = await curl(['-s', '-o', '/dev/null', '-w', '%{size_download}', '-x', `http://127.0.0.1:${p.port}`, `http://bulk.test/bytes/${size}`], { timeoutMs: 60000 });
    t.equal(r.code, 0, r.stderr);
    t.equal(Number(r.stdout.toString()), size, '64 MiB arrived');
  };
  // the first transfer (a bulk Content-Length) allocates the block; a garbage collection during it frees the
  // block, which raises malloc's thresholds
  await get();
  const before = minorFaults(p.child.pid!);
  await get();
  const faults = minorFaults(p.child.pid!) - before;
  const pages = size / 4096;
  // untuned, glibc trims the heap top as the 64 KiB read buffers are freed: ~1 fault per page (16,384)
  t.ok(faults < pages / 8, `${faults} minor faults while relaying ${pages} pages`);
});
