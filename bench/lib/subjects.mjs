// What the benchmark measures against the direct baseline: our proxy on one of its paths (bypass, log,
// inspect), and with --peers other forward proxies (bench/peers/). Each subject starts as a fresh process
// on a free loopback port and says which CA files a client must trust to talk through it.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { log, startGroup, stopGroup, ProcWatch } from './procs.mjs';
import { tcpConnect, withTimeout } from './client.mjs';
import { peerDefs } from './peers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The paths of our proxy: the name the client asks for and how the proxy treats it. */
export const PATHS = {
  bypass: { name: 'mmdcustomer.microsoft.com', args: [], targets: 'splice', note: 'trusted catalog host: spliced' },
  log: { name: 'unknown.example.net', args: ['--mode', 'log'], targets: 'splice', note: 'unknown host, --mode log: tunnelled and logged' },
  inspect: { name: 'unknown.example.net', args: ['--mode', 'inspect'], targets: 'inspect', note: 'unknown host, --mode inspect: TLS intercepted' },
  // issue 8's --workers targets: run with --proxy-cpus 0,1 so the two workers can use both cores
  'bypass-w2': { name: 'mmdcustomer.microsoft.com', args: ['--workers', '2'], targets: 'splice', note: 'trusted catalog host, --workers 2 (cluster)' },
};

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

export async function waitListening(port, ms, child) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (child?.exited) throw new Error(`exited before listening on 127.0.0.1:${port} (${JSON.stringify(child.exitInfo)})`);
    try { (await tcpConnect(port, 1000)).destroy(); return Date.now() - t0; } catch { await sleep(25); }
  }
  throw new Error(`nothing listening on 127.0.0.1:${port} after ${ms} ms`);
}

async function waitFile(file, ms) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) { if (fs.existsSync(file) && fs.statSync(file).size > 0) return true; await sleep(50); }
  return false;
}

/** Starts bench/lib/origin-server.mjs; resolves { child, tlsPort, httpPort }. */
export async function startOrigin({ pki, cpus, workDir }) {
  const errFd = fs.openSync(path.join(workDir, 'origin.log'), 'a');
  const child = startGroup('origin', process.execPath, [path.join(ROOT, 'bench/lib/origin-server.mjs'), pki.cert, pki.key], {
    cpus, stdio: ['ignore', 'pipe', errFd],
  });
  fs.closeSync(errFd);
  const line = await withTimeout(new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', () => reject(new Error(`origin exited at start (see ${workDir}/origin.log)`)));
  }), 15000, 'origin start');
  child.stdout.resume();
  return { child, ...JSON.parse(line) };
}

/** A subject of the run. start() launches a fresh process; stop() ends it. */
class Subject {
  constructor(def) { Object.assign(this, def); this.child = null; this.watch = null; }
  async start(ctx, tag = '') {
    this.port = await freePort();
    const { cmd, args, env, cwd } = await this.command(ctx, this.port);
    this.outFile = path.join(ctx.workDir, `${this.id}${tag}.out`);
    this.child = startGroup(this.id, cmd, args, { cpus: ctx.proxyCpus, env: { ...process.env, ...env }, cwd, logFile: this.outFile });
    const readyMs = await waitListening(this.port, ctx.readyTimeoutMs, this.child);
    this.startedAt = Date.now();
    this.caFiles = [ctx.pki.caCert];
    if (this.caFile) {
      const f = this.caFile(ctx);
      if (await waitFile(f, ctx.readyTimeoutMs)) this.caFiles.push(f);
      else log(`${this.id}: no proxy CA at ${f} (intercepted tunnels will fail verification)`);
    }
    await sleep(200); // let helper processes (squid) appear before the tree is looked up
    this.watch = new ProcWatch(this.child.pid);
    log(`${this.id}${tag}: pid ${this.child.pid} listening on 127.0.0.1:${this.port} after ${readyMs} ms`);
    return this;
  }
  async stop() { if (this.child) await stopGroup(this.child); this.child = null; this.watch = null; }
  get alive() { return this.child && !this.child.exited; }
  /** Last lines of the process's stdout/stderr (why it died). */
  outputTail(bytes = 800) {
    try { const t = fs.readFileSync(this.outFile, 'utf8'); return t.slice(-bytes).trim(); } catch { return ''; }
  }
}

export function oursSubject(pathName, ctx) {
  const p = PATHS[pathName];
  if (!p) throw new Error(`unknown --path ${pathName} (bypass, log, inspect)`);
  const certsDir = path.join(ctx.workDir, `certs-${pathName}`);
  fs.mkdirSync(certsDir, { recursive: true, mode: 0o700 });
  return new Subject({
    id: `ours-${pathName}`, kind: 'ours', path: pathName, name: p.name, note: p.note, targets: p.targets,
    tlsPort: 443, httpPort: 80, expectIntercept: pathName === 'inspect',
    logFile: path.join(ctx.workDir, `proxy-${pathName}.ndjson`),
    caFile: pathName === 'inspect' ? () => path.join(certsDir, 'ca.pem') : null,
    async command(c, port) {
      const { tlsPort, httpPort } = c.origin;
      const { NODE_FLAGS } = await import('../../dist/node-flags.js'); // after the dist/ check of run.mjs
      // launched as `npm start` and the image launch it: with src/node-flags.ts's V8 flags
      const args = [...NODE_FLAGS, path.join(ROOT, 'dist/cli.js'), 'start', '--listen', `127.0.0.1:${port}`, '--admin', 'off',
        '--deny-destinations', '', '--log-file', this.logFile,
        '--connect-to', `${p.name}:443:127.0.0.1:${tlsPort}`, '--connect-to', `${p.name}:80:127.0.0.1:${httpPort}`,
        '--certs', certsDir, '--max-client-connections', String(c.maxClientConnections ?? 2000), ...p.args];
      if (pathName === 'inspect') args.push('--upstream-ca', c.pki.caCert);
      return { cmd: process.execPath, args, cwd: ROOT };
    },
  });
}

/** Peers that can run here; `skipped` lists the others with the reason. */
export async function peerSubjects(wanted, ctx) {
  const { available, skipped } = await peerDefs(wanted, ctx);
  return { subjects: available.map((d) => new Subject({ kind: 'peer', name: '127.0.0.1', tlsPort: null, httpPort: null, ...d })), skipped };
}
