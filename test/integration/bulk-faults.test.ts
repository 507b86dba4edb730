// Forwarding plain-HTTP bulk does not fault a fresh page in for every 4 KiB relayed, down or up: downloads
// because the relay reads the origin into recycled buffers; uploads (Node reads the client socket into a
// new 64 KiB buffer each time, and glibc trims its heap top as they are freed) because the first bulk upload
// raises malloc's thresholds (src/heap-tuning.ts; without it a 64 MiB upload faulted ~1,100-13,800 times).
// Counted with the process's own minor-fault counter (/proc/PID/stat), not with times.
import t from 'tap';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHttpOrigin } from '../helpers/origins.js';
import { startCli } from '../helpers/spawn-cli.js';
import { curl } from '../helpers/clients.js';
import { tempDirSync } from '../helpers/temp.js';

const minorFaults = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[7]);

// the upload half relies on glibc's dynamic thresholds: other allocators, or an operator's fixed malloc
// settings inherited by the child, leave nothing to measure
const glibc = process.platform === 'linux' && Boolean((process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime);
const tunables = Object.keys(process.env).filter((k) => k === 'GLIBC_TUNABLES' || k.startsWith('MALLOC_'));
const skip = !glibc ? 'needs Linux with glibc' : tunables.length ? `malloc settings in the environment (${tunables.join(', ')})` : false;

t.test('plain-HTTP bulk through the started proxy: far fewer page faults than pages relayed, down and up', { skip }, async (t) => {
  const origin = await startHttpOrigin();
  const dir = tempDirSync('ap-heap-');
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
  const pages = size / 4096;
  await get();
  let before = minorFaults(p.child.pid!);
  await get();
  const downFaults = minorFaults(p.child.pid!) - before;
  t.ok(downFaults < pages / 4, `download: ${downFaults} minor faults while relaying ${pages} pages`);

  // uploads: the first bulk Content-Length allocates the block; a garbage collection during it frees the
  // block, which raises malloc's thresholds
  const file = join(dir, 'upload.bin');
  writeFileSync(file, Buffer.alloc(size, 0x61));
  const post = async () => {
    const r = await curl(['-s', '-o', '/dev/null', '-w', '%{size_upload} %{size_download}', '-x', `http://127.0.0.1:${p.port}`, '--data-binary', `@${file}`, '-H', 'Content-Type: application/octet-stream', `http://bulk.test/echo`], { timeoutMs: 60000 });
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.toString(), `${size} ${size}`, '64 MiB up, echoed back');
  };
  await post();
  before = minorFaults(p.child.pid!);
  await post();
  const upFaults = minorFaults(p.child.pid!) - before;
  // untuned, glibc trims the heap top as the 64 KiB read buffers are freed: up to ~1 fault per page (16,384)
  t.ok(upFaults < pages / 4, `upload: ${upFaults} minor faults while relaying ${pages} pages each way`);
});
