#!/usr/bin/env node
// Instructions per operation, counted by valgrind's callgrind in each proxy's own process: repeatable
// where seconds are not (on a shared 2-core VM the same build's CPU-s/GiB moved ±40 % between runs; the
// instruction count of the same build, inputs and warm-up repeats within ~1 %). User-space instructions
// only: system calls, page faults and cache misses are not in it, so it complements the CPU rows of
// run.mjs and does not replace them.
//
// Every subject starts under `valgrind --tool=callgrind --instr-atstart=no`; per operation the client runs
// a warm-up uninstrumented (JIT and caches settle), then the counters are zeroed, instrumentation is
// switched on for the measured count, dumped (while still on) and switched off, and the dump's total is
// divided by the count.
// Helper processes (squid's certificate generator) are not traced: squid-bump's minting is not counted.
// Loopback only; every loop is bounded by its count and an operation timeout.
//
//   node bench/instructions.mjs [--path bypass,inspect] [--peers [LIST]] [--ops LIST] [--n N] [--bulk-mib N]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { makePki } from './lib/certs.mjs';
import { parseCli } from './lib/cli.mjs';
import { HttpConn, Route, pool } from './lib/client.mjs';
import { have, installCleanup, log, runGroup, stopAll, stopGroup } from './lib/procs.mjs';
import { oursSubject, PATHS, peerSubjects, startOrigin } from './lib/subjects.mjs';
import { ALL_PEERS } from './lib/peers.mjs';

const USAGE = `usage: node bench/instructions.mjs [--path bypass,inspect] [--peers [${ALL_PEERS.join(',')}]]
  [--ops new_tunnel,keepalive,plain,bulk_http,bulk_https] [--n N (requests per operation, default 200)] [--bulk-mib N (default 64)]`;
const OPS = ['new_tunnel', 'keepalive', 'plain', 'bulk_http', 'bulk_https'];
const OP_TIMEOUT_MS = 120000; // a request under valgrind runs ~50× slower

function parse(argv) {
  const v = parseCli(argv, { path: { type: 'list' }, peers: { type: 'string', optionalValue: true }, ops: { type: 'list' }, n: { type: 'number' }, 'bulk-mib': { type: 'number' } }, USAGE);
  const o = { paths: v.path ?? [], peers: v.peers ?? null, ops: v.ops ?? OPS, n: v.n ?? 200, bulkMiB: v['bulk-mib'] ?? 64, help: v.help };
  if (!o.paths.length) o.paths = ['bypass', 'inspect'];
  for (const p of o.paths) if (!PATHS[p] || p === 'bypass-w2') throw new Error(`--path ${p}: one of bypass, log, inspect`);
  for (const op of o.ops) if (!OPS.includes(op)) throw new Error(`unknown op ${op} (${OPS.join(', ')})`);
  if (!(o.n >= 1 && o.bulkMiB > 0)) throw new Error('--n and --bulk-mib must be positive');
  o.peers = o.peers === null ? [] : o.peers ? o.peers.split(',') : ALL_PEERS;
  return o;
}

/** The callgrind dumps of `prefix` written after `since` (mtime ms): their summed instruction totals. */
function dumpedInstructions(dir, prefix, since) {
  let total = 0;
  for (const f of fs.readdirSync(dir).filter((x) => x.startsWith(prefix))) {
    const file = path.join(dir, f);
    if (fs.statSync(file).mtimeMs < since) continue;
    const m = fs.readFileSync(file, 'utf8').match(/^totals: (\d+)/m);
    if (m) total += Number(m[1]);
    fs.rmSync(file);
  }
  return total;
}

const control = (pid, ...args) => execFileSync('callgrind_control', [...args, String(pid)], { stdio: 'ignore', timeout: 60000 });

async function main() {
  let cfg;
  try { cfg = parse(process.argv.slice(2)); } catch (e) { console.error(e.message); return 2; }
  if (cfg.help) { console.log(USAGE); return 0; }
  for (const c of ['valgrind', 'callgrind_control', 'openssl']) if (!have(c)) { console.error(`${c} not found (apt-get install valgrind openssl)`); return 2; }
  installCleanup();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'autopatch-proxy-instr-'));
  const ctx = { workDir, readyTimeoutMs: 300000, proxyCpus: null, maxClientConnections: 2000 };
  ctx.pki = makePki(path.join(workDir, 'pki'), [...new Set(Object.values(PATHS).map((p) => p.name))]);
  ctx.origin = await startOrigin({ pki: ctx.pki, cpus: null, workDir });
  const subjects = cfg.paths.map((p) => oursSubject(p, ctx));
  if (cfg.peers.length) {
    const peers = await peerSubjects(cfg.peers, ctx);
    subjects.push(...peers.subjects);
    for (const s of peers.skipped) log(`peer ${s.id} skipped: ${s.why}`);
  }
  const bulkBytes = Math.round(cfg.bulkMiB * 1024 * 1024);
  const results = {};
  for (const s of subjects) {
    const prefix = `cg.${s.id}.`;
    const command = s.command.bind(s);
    s.command = async (c, port) => {
      const x = await command(c, port);
      return { ...x, cmd: 'valgrind', args: ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${path.join(workDir, prefix)}%p`, x.cmd, ...x.args] };
    };
    const r = results[s.id] = { kind: s.kind };
    try {
      await s.start(ctx);
      const pem = s.caFiles.map((f) => fs.readFileSync(f, 'utf8'));
      const route = new Route({ label: s.id, proxyPort: s.port, name: s.name, tlsPort: s.tlsPort ?? ctx.origin.tlsPort,
        httpPort: s.httpPort ?? ctx.origin.httpPort, secureContext: tls.createSecureContext({ ca: pem }) });
      route.caBundle = path.join(workDir, `ca-${s.id}.pem`);
      fs.writeFileSync(route.caBundle, pem.join('\n'));
      for (const op of cfg.ops) {
        const run = opRunner(op, route, cfg, bulkBytes);
        await run(cfg.n, true, { on() {}, off() {} }); // warm-up, uninstrumented, as long as the count
        const t0 = Date.now();
        const done = await run(cfg.n, false, {
          on() { control(s.child.pid, '-z'); control(s.child.pid, '-i', 'on'); },
          // dumped while still on: a dump taken after switching off reads 0 (or garbage)
          off() { control(s.child.pid, '-d'); control(s.child.pid, '-i', 'off'); },
        });
        const instr = dumpedInstructions(workDir, prefix, t0 - 1000);
        r[op] = { count: done.count, instructions: instr, perOp: done.count ? instr / done.count : NaN, unit: done.unit, errors: done.errors };
        log(`${s.id} ${op}: ${(instr / 1e6).toFixed(1)} M instructions over ${done.count} ${done.unit}`);
      }
    } catch (e) { r.error = e.message; log(`${s.id}: ${e.message}`); }
    await s.stop();
    dumpedInstructions(workDir, prefix, 0);
  }
  await stopGroup(ctx.origin.child);
  const out = render(results, cfg, subjects);
  console.log(out);
  fs.writeFileSync(path.join(workDir, 'instructions.json'), JSON.stringify({ date: new Date().toISOString(), cfg, results }, null, 2));
  console.log(`\nJSON: ${path.join(workDir, 'instructions.json')}`);
  return Object.values(results).some((r) => r.error) ? 3 : 0;
}

/**
 * run(count, warm, meter) for one operation: the connections an operation reuses are opened before
 * meter.on() and closed after meter.off(), so only the counted requests are inside. Resolves
 * { count, unit, errors } (bulk: count in GiB).
 */
function opRunner(op, route, cfg, bulkBytes) {
  // keep-alive and plain requests are cheap: five times the count, over ten connections
  const many = (open, target, host) => async (count, _warm, meter) => {
    const cs = [];
    for (let i = 0; i < 10; i++) cs.push(new HttpConn(await open()));
    meter.on();
    const r = await pool({ concurrency: cs.length, total: count * 5, deadlineMs: 30 * 60000, fn: async (w) => {
      const x = await cs[w].request(target, host, OP_TIMEOUT_MS);
      if (x.status !== 200) throw new Error(`HTTP ${x.status}`);
    } });
    meter.off();
    for (const c of cs) c.destroy();
    return { count: r.ok, unit: 'requests', errors: r.errors };
  };
  switch (op) {
    case 'new_tunnel': return async (count, _warm, meter) => {
      meter.on();
      const r = await pool({ concurrency: 1, total: count, deadlineMs: 30 * 60000, fn: () => route.oneHttps('/tiny', OP_TIMEOUT_MS) });
      meter.off();
      return { count: r.ok, unit: 'tunnels', errors: r.errors };
    };
    case 'keepalive': return many(() => route.openTls(OP_TIMEOUT_MS), '/tiny', route.tlsHost);
    case 'plain': return many(() => route.openHttp(OP_TIMEOUT_MS), route.httpTarget('/tiny'), route.httpHost);
    // curl reads at full speed (a Node client under load paused the transfer and made the count vary 3×);
    // the warm-up moves twice the measured size
    case 'bulk_http': case 'bulk_https': return async (_count, warm, meter) => {
      const https = op === 'bulk_https';
      const url = `${https ? 'https' : 'http'}://${https ? route.tlsHost : route.httpHost}/large.bin?bytes=${bulkBytes}`;
      const args = ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', '--cacert', route.caBundle,
        '-x', `http://127.0.0.1:${route.proxyPort}`, '--noproxy', '', '--max-time', '1800', url];
      meter.on();
      let got = 0;
      try {
        for (let i = 0; i < (warm ? 2 : 1); i++) {
          const r = await runGroup('curl', 'curl', args, { timeoutMs: 1800 * 1000 });
          const [code, size] = r.out.trim().split(' ').map(Number);
          if (r.code !== 0 || code !== 200 || size !== bulkBytes) throw new Error(`curl rc=${r.code} http=${code} ${size} of ${bulkBytes} bytes ${r.err.trim().slice(0, 120)}`);
          got += size;
        }
      } finally { meter.off(); }
      return { count: got / 1024 ** 3, unit: 'GiB', errors: 0 };
    };
  }
  throw new Error(op);
}

function render(results, cfg, subjects) {
  const ids = subjects.map((s) => s.id);
  const label = { new_tunnel: 'new tunnel + TLS + GET, k instr/tunnel', keepalive: 'keep-alive tunnel GET, k instr/request', plain: 'plain HTTP GET (keep-alive), k instr/request', bulk_http: 'plain HTTP bulk, M instr/GiB', bulk_https: 'HTTPS bulk via CONNECT, M instr/GiB' };
  const fmt = (op, v) => (!Number.isFinite(v) ? '—' : op.startsWith('bulk') ? (v / 1e6).toFixed(0) : (v / 1e3).toFixed(1));
  const lines = [`instructions per operation in the proxy process (callgrind, user space, after an uninstrumented warm-up of the same count); n=${cfg.n}, bulk ${cfg.bulkMiB} MiB`, '',
    `| operation | ${ids.join(' | ')} |`, `|---|${ids.map(() => '---').join('|')}|`];
  for (const op of cfg.ops) lines.push(`| ${label[op]} | ${ids.map((id) => fmt(op, results[id]?.[op]?.perOp)).join(' | ')} |`);
  const errs = ids.filter((id) => results[id]?.error || cfg.ops.some((op) => results[id]?.[op]?.errors));
  if (errs.length) lines.push('', `errors: ${errs.map((id) => `${id} ${results[id].error ?? cfg.ops.map((op) => results[id]?.[op]?.errors ?? 0).join('/')}`).join('; ')}`);
  return lines.join('\n');
}

main().then((code) => { process.exitCode = code; }, async (e) => { console.error(e); await stopAll(); process.exitCode = 1; });
