// --workers 2 as a real process tree: shared listener, metrics aggregated by the primary, SIGHUP reaching
// every worker, a killed worker restarted with a logged reason, SIGTERM draining all and exiting 0.
import t from 'tap';
import http from 'node:http';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCli } from '../helpers/spawn-cli.js';
import { startHttpOrigin } from '../helpers/origins.js';
import { curl } from '../helpers/clients.js';

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

t.test('two workers share the listener; the primary aggregates; crash restart; SIGHUP; SIGTERM', async (t) => {
  const origin = await startHttpOrigin();
  t.teardown(() => origin.close());
  const dir = await mkdtemp(join(tmpdir(), 'ap-workers-'));
  const logFile = join(dir, 'log.ndjson');
  const p = await startCli(['--workers', '2', '--admin', '127.0.0.1:0', '--connect-to', `w.test:80:127.0.0.1:${origin.port}`, '--log-file', logFile]);
  t.teardown(() => {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });
  t.ok(p.adminPort, 'the primary serves the admin listener');
  const N = 40;
  for (let i = 0; i < N; i++) {
    const r = await curl(['-x', `http://127.0.0.1:${p.port}`, 'http://w.test/tiny']);
    t.equal(r.stdout.toString(), 'tiny\n');
  }
  const metrics = await get(p.adminPort!, '/metrics');
  t.match(metrics, new RegExp(`autopatch_proxy_requests_total\\{decision="log"\\} ${N}\\b`), 'requests summed across workers');
  const live = JSON.parse(await get(p.adminPort!, '/api/live')) as { requests: { log: number } };
  t.equal(live.requests.log, N, 'dashboard snapshot merged across workers');

  await sleep(300);
  const pidsOf = async () => new Set((await readFile(logFile, 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { pid: number; event: string })).filter((r) => r.event === 'request').map((r) => r.pid));
  const workerPids = [...(await pidsOf())];
  t.ok(workerPids.length >= 1, `requests served by worker pids ${workerPids.join(',')}`);
  process.kill(workerPids[0]!, 'SIGKILL');
  await sleep(1500);
  for (let i = 0; i < 10; i++) {
    const r = await curl(['-x', `http://127.0.0.1:${p.port}`, 'http://w.test/tiny']);
    t.equal(r.stdout.toString(), 'tiny\n', 'still served after a worker crash');
  }
  p.child.kill('SIGHUP');
  await sleep(800);
  p.child.kill('SIGTERM');
  t.equal(await p.exited, 0, 'exit 0 after draining');
  const log = (await readFile(logFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const exits = log.filter((r) => r.event === 'worker_exit');
  t.equal(exits.length, 1);
  t.match(exits[0], { workerPid: workerPids[0], signal: 'SIGKILL' });
  t.equal(log.filter((r) => r.event === 'reload' && r.what === 'rules').length, 2, 'SIGHUP reached both workers');
});
