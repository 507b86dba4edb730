// The demo and calibration end to end on loopback: the mix's names classify as the demo claims, calibrate
// measures sane positive figures and stores them, and a short demo shows a saving and writes a self-contained page.
// Needs dist/ (the measured proxy and the origins run as processes from it); `npm test` builds first.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loadRules } from '../../src/catalog/load.js';
import { classify } from '../../src/policy/classify.js';
import { calibrationPath, loadCalibration, type Calibration } from '../../src/report/index.js';
import { calibrate } from '../../src/demo/calibrate.js';
import { DEMO_MIX, demoHosts, planRequests } from '../../src/demo/mix.js';
import { ORIGIN_CHILD_PATH } from '../../src/demo/origins.js';
import { CLI_PATH } from '../../src/demo/proxy-process.js';
import { runDemo } from '../../src/demo/run.js';
import { formatDemo } from '../../src/demo/format.js';
import { createWorkspace } from '../../src/demo/workspace.js';
import { CLI, runCli } from '../helpers/spawn-cli.js';
import { tempDir } from '../helpers/temp.js';

const built = existsSync(CLI_PATH) && existsSync(ORIGIN_CHILD_PATH);
// Until the integrator wires `demo` into src/cli.ts, the in-process test below covers what the CLI calls.
const help = built ? await runCli(['demo', '--help'], { timeoutMs: 10_000 }) : null;
const wired = help !== null && help.code === 0 && help.stdout.includes('--duration');
const tmp = await tempDir('ap-demo-test-');
t.teardown(() => rm(tmp, { recursive: true, force: true }));

function sane(t: Test, c: Calibration): void {
  t.equal(c.measured, true);
  t.ok(!Number.isNaN(Date.parse(c.measuredAt ?? '')), 'measuredAt is a date');
  for (const k of ['cpuMsPerHandshakeInspect', 'cpuMsPerMiBInspect', 'cpuMsPerMiBBypass', 'certMintMs'] as const) {
    t.ok(c[k] > 0 && c[k] < 1000, `${k} = ${c[k]} is positive and below 1 s`);
  }
  for (const k of ['addedLatencyMsInspect', 'addedLatencyMsBypass'] as const) t.ok(c[k] >= 0 && c[k] < 1000, `${k} = ${c[k]}`);
  t.ok(c.cpuMsPerMiBInspect > c.cpuMsPerMiBBypass, `inspecting a MiB (${c.cpuMsPerMiBInspect} ms) costs more than splicing it (${c.cpuMsPerMiBBypass} ms)`);
}

t.test('the mix: names classify as the demo says (shipped catalog), and everything is inspected with bypass off', async (t) => {
  const ws = await createWorkspace(demoHosts());
  t.teardown(() => ws.remove());
  const policy = { mode: 'inspect' as const, unknown: 'allow' as const };
  const on = await loadRules(ws.rulesOn);
  const off = await loadRules(ws.rulesOff);
  t.same(on.errors, []);
  t.same(off.errors, []);
  for (const m of DEMO_MIX) {
    const port = m.scheme === 'https' ? 443 : 80;
    t.equal(classify({ host: m.host, port }, on.catalog, policy).decision, m.expect === 'bypass' ? 'bypass' : 'inspect', `${m.host}:${port} with bypass on`);
    t.equal(classify({ host: m.host, port }, off.catalog, policy).decision, 'inspect', `${m.host}:${port} with bypass off`);
  }
  const a = planRequests(DEMO_MIX, 50, 7);
  t.same(planRequests(DEMO_MIX, 50, 7), a, 'the same seed plans the same requests');
  for (const p of a) if (p.range) t.ok(p.range.end >= p.range.start && p.range.end < p.item.range!.size, 'range inside the file');
});

t.test('calibrate: positive figures measured here, stored atomically in <rules>/.calibration.json', { skip: built ? false : 'dist/ not built' }, async (t) => {
  const rules = join(tmp, 'rules');
  await mkdir(rules);
  const run = await calibrate({ duration: 'short', writeTo: rules });
  t.equal(run.path, calibrationPath(rules));
  sane(t, run.calibration);
  t.same(await loadCalibration(calibrationPath(rules)), run.calibration, 'the stored file reads back the same');
  t.ok(run.details.cpuMsPerTunnelInspect > run.details.cpuMsPerTunnelBypass, 'an inspected tunnel costs more CPU than a bypassed one');
  t.ok(run.details.tunnelsPerPath > 10, `${run.details.tunnelsPerPath} tunnels per path`);
});

t.test('demo --duration short: finishes within 60 s, shows a positive saving, writes a self-contained page', { skip: built ? false : 'dist/ not built' }, async (t) => {
  const html = join(tmp, 'r.html');
  const started = Date.now();
  const r = await runDemo({ duration: 'short', html, progress: null });
  const seconds = (Date.now() - started) / 1000;
  t.ok(seconds < 60, `took ${seconds.toFixed(1)} s`);
  t.equal(r.workDir, null, 'temp dir removed');
  for (const run of [r.on, r.off]) {
    t.ok(run.drive.requests > 100, `${run.label}: ${run.drive.requests} requests`);
    t.ok(run.drive.errors <= run.drive.requests / 50, `${run.label}: ${run.drive.errors} errors (${run.drive.firstError})`);
  }
  t.ok((r.on.tunnels.bypass ?? 0) > 0 && (r.on.tunnels.inspect ?? 0) > 0, 'bypass on: catalog names spliced, the web inspected');
  t.equal(r.off.tunnels.bypass ?? 0, 0, 'bypass off: nothing bypassed');
  t.ok(r.saving.cpuSeconds > 0, `CPU saved: ${r.saving.cpuSeconds.toFixed(3)} s (${(r.saving.cpuShare * 100).toFixed(1)} %)`);
  t.ok(r.saving.handshakes > 0 && r.on.handshakesIntercepted < r.off.handshakesIntercepted, `${r.saving.handshakes} handshakes avoided`);
  t.ok(r.saving.certificates > 0, `${r.saving.certificates} certificates not minted`);
  sane(t, r.calibration.calibration);
  const page = await readFile(html, 'utf8');
  t.equal(r.htmlPath, html);
  t.match(page, /^<!doctype html>/i);
  t.notMatch(page, /https?:\/\//i, 'nothing referenced by URL: the page is self-contained');
  t.notMatch(page, /<(script|img|iframe)[^>]+src=|<link[^>]+href=/i, 'no external script, image or stylesheet');
  t.match(r.reportText, /bypass/);
  // what `demo` prints on stdout (src/commands/demo.ts writes formatDemo of this result)
  const text = formatDemo(r);
  t.match(text, /proxy CPU\s.*saved \d+\.\d+ s/);
  t.match(text, /TLS handshakes intercepted\s+\d+\s+\d+\s+\d+ avoided/);
});

/** Every live process below `pid` (from /proc: Linux, as the demo's own CPU sampling is). */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // the command may contain blanks and parentheses: the fields after the last ')' are fixed
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, pp] of parent) if (pp === p) (out.push(child), walk(child));
  };
  walk(pid);
  return out;
}
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0); // signal 0: an existence check, nothing is sent
    return true;
  } catch {
    return false;
  }
};

t.test('the CLI: demo as a process, SIGTERM while the proxy runs stops everything it started, exit 130', { skip: wired ? false : '`demo` is not wired into dist/cli.js yet' }, async (t) => {
  const html = join(tmp, 'cli.html');
  const child = spawn(process.execPath, [CLI, 'demo', '--duration', 'short', '--html', html], { stdio: ['ignore', 'pipe', 'pipe'] });
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  t.teardown(() => clearTimeout(killer));
  let stderr = '';
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  // phase 2: the origins serve and calibration drives its proxy process (the whole run takes ~15 s)
  const running = new Promise<boolean>((r) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('demo 2/5:')) r(true);
    });
    void exited.then(() => r(false));
  });
  child.stdout.resume();
  t.ok(await running, 'reached the calibration');
  await new Promise((r) => setTimeout(r, 1000));
  const started = descendants(child.pid!);
  t.ok(started.length >= 2, `${started.length} processes started by the demo (origins, proxy)`);
  const t0 = Date.now();
  child.kill('SIGTERM');
  t.equal(await exited, 130, 'exit 130 after an interrupt');
  t.ok(Date.now() - t0 < 10_000, `stopped in ${Date.now() - t0} ms`);
  t.match(stderr, /demo interrupted; every origin and proxy it started was stopped/);
  t.same(started.filter(alive), [], 'none of its processes outlives it');
  t.notOk(existsSync(html), 'no report from an interrupted run');
  t.match(stderr, /^demo 1\/5: starting local origins$/m, 'stderr is not a TTY: one plain line per phase');
  t.notMatch(stderr, /\r/);
});
