// --workers 2 as a real process tree: shared listener, metrics aggregated by the primary, SIGHUP reaching
// every worker, a killed worker restarted with a logged reason, SIGTERM draining all and exiting 0.
import t from 'tap';
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startCli } from '../helpers/spawn-cli.js';
import { startHttpOrigin } from '../helpers/origins.js';
import { curl } from '../helpers/clients.js';
import { tempDir } from '../helpers/temp.js';

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type LogRecord = { pid: number; event: string } & Record<string, unknown>;
const readLog = async (file: string): Promise<LogRecord[]> =>
  (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogRecord);
/** Polls the log (every 100 ms, at most `ms`) until `enough` holds; a slow machine starts workers late. */
async function waitForLog(file: string, enough: (log: LogRecord[]) => boolean, ms = 15_000): Promise<LogRecord[]> {
  const until = Date.now() + ms;
  for (;;) {
    const log = await readLog(file);
    if (enough(log) || Date.now() > until) return log;
    await sleep(100);
  }
}
const starts = (log: LogRecord[]) => log.filter((r) => r.event === 'start').length;

t.test('two workers share the listener; the primary aggregates; crash restart; SIGHUP; SIGTERM', async (t) => {
  const origin = await startHttpOrigin();
  t.teardown(() => origin.close());
  const dir = await tempDir('ap-workers-');
  const logFile = join(dir, 'log.ndjson');
  const p = await startCli(['--workers', '2', '--admin', '127.0.0.1:0', '--connect-to', `w.test:80:127.0.0.1:${origin.port}`, '--log-file', logFile]);
  t.teardown(() => {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });
  t.ok(p.adminPort, 'the primary serves the admin listener');
  // the first worker to listen lets startCli return; the crash below must leave the other one serving
  t.equal(starts(await waitForLog(logFile, (l) => starts(l) >= 2)), 2, 'both workers started');
  const N = 40;
  for (let i = 0; i < N; i++) {
    const r = await curl(['-x', `http://127.0.0.1:${p.port}`, 'http://w.test/tiny']);
    t.equal(r.stdout.toString(), 'tiny\n');
  }
  const metrics = await get(p.adminPort!, '/metrics');
  t.match(metrics, new RegExp(`autopatch_proxy_requests_total\\{decision="log"\\} ${N}\\b`), 'requests summed across workers');
  const live = JSON.parse(await get(p.adminPort!, '/api/live')) as { requests: { log: number } };
  t.equal(live.requests.log, N, 'dashboard snapshot merged across workers');

  const served = await waitForLog(logFile, (l) => l.filter((r) => r.event === 'request').length >= N);
  const workerPids = [...new Set(served.filter((r) => r.event === 'request').map((r) => r.pid))];
  t.ok(workerPids.length >= 1, `requests served by worker pids ${workerPids.join(',')}`);
  process.kill(workerPids[0]!, 'SIGKILL');
  // once the primary has seen the exit, no connection is handed to the dead worker
  await waitForLog(logFile, (l) => l.some((r) => r.event === 'worker_exit'));
  for (let i = 0; i < 10; i++) {
    const r = await curl(['-x', `http://127.0.0.1:${p.port}`, 'http://w.test/tiny']);
    t.equal(r.stdout.toString(), 'tiny\n', 'still served after a worker crash');
  }
  t.equal(starts(await waitForLog(logFile, (l) => starts(l) >= 3)), 3, 'the killed worker was replaced');
  p.child.kill('SIGHUP');
  await waitForLog(logFile, (l) => l.filter((r) => r.event === 'reload' && r.what === 'rules').length >= 2);
  p.child.kill('SIGTERM');
  t.equal(await p.exited, 0, 'exit 0 after draining');
  const log = await readLog(logFile);
  const exits = log.filter((r) => r.event === 'worker_exit');
  t.equal(exits.length, 1);
  t.match(exits[0], { workerPid: workerPids[0], signal: 'SIGKILL' });
  t.equal(log.filter((r) => r.event === 'reload' && r.what === 'rules').length, 2, 'SIGHUP reached both workers');
});
