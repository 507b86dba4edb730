// An idle proxy sleeps: its event-loop thread wakes a few times a second at most (the log's periodic flush,
// the event-loop delay sample), not 100 times (prom-client's default 10 ms sampling did). Counted as the
// main thread's voluntary context switches (/proc/PID/task/PID/status) of the real CLI process.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { startCli } from '../helpers/spawn-cli.js';
import { sleep } from '../helpers/fuzz.js';

const switches = async (pid: number): Promise<number> => {
  const status = await readFile(`/proc/${pid}/task/${pid}/status`, 'utf8');
  return Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)?.[1]);
};

t.test('an idle proxy (admin and metrics on) wakes its event loop fewer than 25 times a second', async (t) => {
  const p = await startCli(['--admin', '127.0.0.1:0']);
  t.teardown(async () => {
    p.child.kill('SIGTERM');
    await p.exited;
  });
  const r = await fetch(`http://127.0.0.1:${p.adminPort}/metrics`);
  t.match(await r.text(), /nodejs_eventloop_lag_p99_seconds/, 'the event-loop delay metrics are there');
  await sleep(1000); // start-up work (warm-up, first scrape) settles
  const pid = p.child.pid!;
  const before = await switches(pid);
  const seconds = 3;
  await sleep(seconds * 1000);
  const perSecond = ((await switches(pid)) - before) / seconds;
  t.comment(`${perSecond.toFixed(1)} wake-ups per second while idle`);
  t.ok(perSecond < 25, `${perSecond.toFixed(1)} voluntary context switches per second < 25 (10 ms sampling: ~100)`);
});
