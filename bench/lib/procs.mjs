// Child processes of the benchmark (origin, proxies, curl, wrk) and what we read about them from /proc.
// Every child is started in its own session and process group (detached) and stopped by that id:
// SIGTERM, then SIGKILL after 5 s; also on Ctrl-C, SIGTERM and uncaught errors. Nothing here measures.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const live = new Map(); // pgid (= pid of the child we spawned) -> { label, child }
const KILL_GRACE_MS = 5000;

export const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);

export function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Pins this process (all its threads) to `cpus`; children started later inherit it. */
export function pinSelf(cpus) {
  return spawnSync('taskset', ['-a', '-cp', cpus, String(process.pid)], { stdio: 'ignore' }).status === 0;
}

/**
 * Starts `cmd args` detached (own session + process group, pgid = pid), optionally pinned with taskset
 * (which execs, so the pid stays the program's). stdout/stderr go to `logFile` unless `stdio` is given.
 */
export function startGroup(label, cmd, args, { cpus = null, env = process.env, cwd, logFile, stdio } = {}) {
  const argv = cpus ? ['taskset', '-c', cpus, cmd, ...args] : [cmd, ...args];
  let fd = null;
  if (!stdio) fd = fs.openSync(logFile ?? '/dev/null', 'a');
  const child = spawn(argv[0], argv.slice(1), { detached: true, env, cwd, stdio: stdio ?? ['ignore', fd, fd] });
  if (fd !== null) fs.closeSync(fd);
  child.exited = false;
  child.exitInfo = null;
  child.on('exit', (code, signal) => { child.exited = true; child.exitInfo = { code, signal }; });
  child.on('error', (e) => { child.exited = true; child.exitInfo = { error: e.message }; });
  if (child.pid) live.set(child.pid, { label, child });
  return child;
}

const groupAlive = (pgid) => { try { process.kill(-pgid, 0); return true; } catch { return false; } };

/** SIGTERM to the group, SIGKILL after 5 s if anything of it is left. Idempotent. */
export async function stopGroup(child) {
  if (!child?.pid || !live.has(child.pid)) return;
  const pgid = child.pid;
  try { process.kill(-pgid, 'SIGTERM'); } catch { /* already gone */ }
  const t0 = Date.now();
  while (groupAlive(pgid) && Date.now() - t0 < KILL_GRACE_MS) await sleep(50);
  if (groupAlive(pgid)) { try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ } await sleep(100); }
  live.delete(pgid);
}

export async function stopAll() {
  await Promise.all([...live.values()].map(({ child }) => stopGroup(child)));
}

/** Runs a short-lived command in its own group; resolves {code, out, err}; killed after timeoutMs. */
export function runGroup(label, cmd, args, { timeoutMs, cpus = null, env } = {}) {
  return new Promise((resolve) => {
    const child = startGroup(label, cmd, args, { cpus, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout?.on('data', (d) => { out += d; });
    child.stderr?.on('data', (d) => { err += d; if (err.length > 1 << 16) err = err.slice(-4096); });
    const t = setTimeout(() => { stopGroup(child); }, timeoutMs);
    const done = (code) => { clearTimeout(t); live.delete(child.pid); resolve({ code, out, err }); };
    child.once('close', (code, signal) => done(code ?? (signal ? 128 : -1)));
    child.once('error', (e) => { err += e.message; done(-1); });
  });
}

let installed = false;
/** Ctrl-C / SIGTERM / uncaught errors stop every group before exiting; 'exit' SIGKILLs what is left. */
export function installCleanup(onSignal = () => {}) {
  if (installed) return;
  installed = true;
  let stopping = false;
  const bail = async (code, why) => {
    if (stopping) return;
    stopping = true;
    if (why) log(why);
    onSignal();
    await stopAll().catch(() => {});
    process.exit(code);
  };
  process.on('SIGINT', () => bail(130, 'interrupted: stopping child processes'));
  process.on('SIGTERM', () => bail(143, 'terminated: stopping child processes'));
  process.on('SIGHUP', () => bail(129, 'hangup: stopping child processes'));
  process.on('uncaughtException', (e) => { console.error(e); bail(1); });
  process.on('unhandledRejection', (e) => { console.error(e); bail(1); });
  process.on('exit', () => { for (const pgid of live.keys()) { try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ } } });
}

// ---------- /proc ----------
function statFields(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  return s.slice(s.lastIndexOf(')') + 2).split(' '); // fields from #3 (state) on
}
/** pid plus every process in its session or below it (squid forks helpers; our proxy is one process). */
export function processTree(pid) {
  const rows = [];
  for (const d of fs.readdirSync('/proc')) {
    if (d.charCodeAt(0) > 57) continue;
    try { const f = statFields(d); rows.push({ pid: +d, ppid: +f[1], sid: +f[3] }); } catch { /* exited */ }
  }
  const set = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const r of rows) if (!set.has(r.pid) && (set.has(r.ppid) || r.sid === pid)) { set.add(r.pid); grew = true; }
  }
  return [...set];
}
/** VmRSS in KB from /proc/PID/status (0 if the process is gone). */
export function rssKB(pid) {
  try { const m = fs.readFileSync(`/proc/${pid}/status`, 'latin1').match(/^VmRSS:\s+(\d+)\s+kB/m); return m ? +m[1] : 0; } catch { return 0; }
}
/** Private memory (USS: Private_Clean + Private_Dirty) in KB from /proc/PID/smaps_rollup (0 if unreadable).
 *  Unlike VmRSS it leaves out pages shared with other processes (the node or squid binary, shared libraries),
 *  so summed over --workers processes it is what the replicas really add. */
export function ussKB(pid) {
  try {
    const t = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1');
    const get = (k) => +(t.match(new RegExp(`^${k}:\\s+(\\d+)\\s+kB`, 'm'))?.[1] ?? 0);
    return get('Private_Clean') + get('Private_Dirty');
  } catch { return 0; }
}
const TICK = 100; // USER_HZ on Linux
/** utime+stime (+ reaped children's) in seconds. */
export function cpuSecs(pid) {
  try { const f = statFields(pid); return (+f[11] + +f[12] + +f[13] + +f[14]) / TICK; } catch { return 0; }
}

/** RSS / CPU of one subject: its tree is looked up once (refresh() when helpers may have been forked). */
export class ProcWatch {
  constructor(pid) { this.pid = pid; this.refresh(); }
  refresh() { this.pids = processTree(this.pid); }
  rssKB() { return this.pids.reduce((a, p) => a + rssKB(p), 0); }
  ussKB() { return this.pids.reduce((a, p) => a + ussKB(p), 0); }
  cpuSecs() { return this.pids.reduce((a, p) => a + cpuSecs(p), 0); }
  /** Samples the peak RSS every `ms` until stop() returns it. */
  startPeak(ms = 200) {
    let peak = this.rssKB();
    const t = setInterval(() => { peak = Math.max(peak, this.rssKB()); }, ms);
    return () => { clearInterval(t); return Math.max(peak, this.rssKB()); };
  }
}

/** Raises this process's soft open-files limit towards `need` (up to the hard limit); children inherit it. */
export function raiseNofile(need) {
  const m = fs.readFileSync('/proc/self/limits', 'latin1').match(/^Max open files\s+(\S+)\s+(\S+)/m);
  if (!m) return null;
  const [soft, hard] = [m[1], m[2]].map((x) => (x === 'unlimited' ? Infinity : Number(x)));
  if (soft >= need) return soft;
  const want = Math.min(hard, Math.max(need, soft));
  if (have('prlimit')) spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${want}:${hard === Infinity ? 'unlimited' : hard}`], { stdio: 'ignore' });
  const after = fs.readFileSync('/proc/self/limits', 'latin1').match(/^Max open files\s+(\S+)/m)?.[1];
  return after === 'unlimited' ? Infinity : Number(after);
}
