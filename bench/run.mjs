#!/usr/bin/env node
// `npm run bench`: our proxy (and with --peers other proxies) against a direct connection to the same
// local origin, in one run, phase by phase, with ratios proxy/direct and the foundation issue's targets.
// A benchmark, not a test: it prints figures and asserts nothing. Loopback only; every load loop is
// bounded by a count and a deadline; every child process is stopped by its process-group id. See README.md.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs, USAGE } from './lib/args.mjs';
import { makePki } from './lib/certs.mjs';
import { Route, median } from './lib/client.mjs';
import * as P from './lib/phases.mjs';
import { have, installCleanup, log, pinSelf, raiseNofile, stopAll, stopGroup } from './lib/procs.mjs';
import { combinedTable, errorCount, subjectTable } from './lib/report.mjs';
import { oursSubject, PATHS, peerSubjects, startOrigin } from './lib/subjects.mjs';
import { ALL_PEERS } from './lib/peers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function routeFor(s, ctx) {
  const pem = s.caFiles.map((f) => fs.readFileSync(f, 'utf8'));
  const caBundle = path.join(ctx.workDir, `ca-${s.id}.pem`);
  fs.writeFileSync(caBundle, pem.join('\n'));
  s.caBundle = caBundle;
  return new Route({ label: s.id, proxyPort: s.port, name: s.name, tlsPort: s.tlsPort ?? ctx.origin.tlsPort,
    httpPort: s.httpPort ?? ctx.origin.httpPort, secureContext: tls.createSecureContext({ ca: pem }) });
}

/** Decisions our proxy logged (its whole NDJSON log, up to 512 MB): { "connect bypass/catalog": 12, … }. */
function loggedDecisions(file) {
  if (!file || !fs.existsSync(file)) return null;
  const n = new Map();
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(8 << 20);
  let rest = '', pos = 0;
  const count = (line) => {
    if (!line.includes('"decision"')) return;
    try { const r = JSON.parse(line); if (r.event && r.decision) { const k = `${r.event} ${r.decision}/${r.reason}`; n.set(k, (n.get(k) ?? 0) + 1); } } catch { /* partial line */ }
  };
  for (let got; pos < 512 << 20 && (got = fs.readSync(fd, buf, 0, buf.length, pos)) > 0; pos += got) {
    const lines = (rest + buf.toString('utf8', 0, got)).split('\n');
    rest = lines.pop();
    lines.forEach(count);
  }
  count(rest);
  fs.closeSync(fd);
  return Object.fromEntries(n);
}

// Every phase runs in rounds, interleaved across the sides (direct, proxies, direct, proxies, ...), so that
// a drift of the machine during the run hits every side alike: bulk in --bulk-reps rounds of one transfer,
// the others in --rounds rounds, each with its share of the counts (or of the seconds). `round(cfg, i, n)`
// is round i's settings; `merge` combines a side's rounds into one result.
const share = (total, i, n) => Math.floor(total / n) + (i < total % n ? 1 : 0);
const bulkRounds = { rounds: (c) => Math.max(1, c.bulkReps), round: (c) => ({ ...c, bulkReps: 1 }), merge: P.mergeBulk };
const PHASES = [
  ['bulk_https', 'HTTPS bulk', (r, c, side) => P.bulk(r, 'https', c, side.caBundle), bulkRounds],
  ['bulk_http', 'HTTP bulk', (r, c, side) => P.bulk(r, 'http', c, side.caBundle), bulkRounds],
  // after the first round, a short warm-up: the proxy sat idle while the others were measured
  ['latency', 'sequential new connections', (r, c) => P.latency(r, c),
    { round: (c, i, n) => ({ ...c, latN: share(c.latN, i, n), latWarmup: i === 0 ? c.latWarmup : Math.min(5, c.latWarmup) }), merge: P.mergeLatency }],
  ['conc_new', 'concurrent new tunnels', (r, c) => P.concNew(r, c), { round: (c, i, n) => ({ ...c, concN: share(c.concN, i, n) }), merge: P.mergeRate }],
  ['conc_keepalive', 'keep-alive tunnels', (r, c, _s, m) => P.concKeepAlive(r, c, m), { round: (c, i, n) => ({ ...c, kaN: share(c.kaN, i, n) }), merge: P.mergeRate }],
  ['http_plain', 'plain HTTP keep-alive', (r, c, _s, m) => P.plainHttp(r, c, m), { round: (c, _i, n) => ({ ...c, plainSecs: Math.max(1, c.plainSecs / n) }), merge: P.mergeRate }],
];

async function main() {
  let cfg;
  try { cfg = parseArgs(process.argv.slice(2)); } catch (e) { console.error(e.message); process.exit(2); }
  if (cfg.help) { console.log(USAGE); return 0; }
  installCleanup();
  for (const p of cfg.paths) if (!PATHS[p]) { console.error(`unknown --path ${p} (${Object.keys(PATHS).join(", ")})`); return 2; }
  for (const p of cfg.phases ?? []) if (!PHASES.some(([k]) => k === p)) { console.error(`unknown phase ${p} (${PHASES.map(([k]) => k).join(', ')})`); return 2; }
  if (!fs.existsSync(path.join(ROOT, 'dist/cli.js'))) { console.error('dist/cli.js missing: run `npm run bench` (builds first) or `npx tsc -p tsconfig.json`'); return 2; }
  if (!have('openssl')) { console.error('openssl CLI not found (apt-get install openssl)'); return 2; }
  cfg.curl = !cfg.noCurl && have('curl');
  cfg.wrk = !cfg.noWrk && have('wrk');
  const workDir = cfg.out ? path.resolve(cfg.out) : fs.mkdtempSync(path.join(os.tmpdir(), 'autopatch-proxy-bench-'));
  fs.mkdirSync(workDir, { recursive: true });
  cfg.workDir = workDir;
  const nofile = raiseNofile(cfg.idleN * 3 + 1000);
  if (nofile < cfg.idleN + 500) log(`warning: open-files limit ${nofile} is low for ${cfg.idleN} idle tunnels`);
  const cpus = os.cpus().length;
  const pin = !cfg.noPin && cpus >= 2 && have('taskset') && pinSelf(cfg.loadCpus);
  // every bench connection comes from 127.0.0.1: our per-client limit (default 2000) must not cap the idle phase
  const ctx = { workDir, readyTimeoutMs: cfg.readyTimeoutMs, proxyCpus: pin ? cfg.proxyCpus : null, maxClientConnections: Math.max(2000, cfg.idleN + 500) };
  log(`work dir ${workDir}; mode ${cfg.mode}; ${pin ? `load on CPU ${cfg.loadCpus}, proxies on CPU ${cfg.proxyCpus}` : 'no CPU pinning'}; bulk client ${cfg.curl ? 'curl' : 'node'}; plain HTTP client ${cfg.wrk ? 'wrk' : 'node'}`);

  const names = [...new Set(Object.values(PATHS).map((p) => p.name))];
  ctx.pki = makePki(path.join(workDir, 'pki'), names);
  const origin = await startOrigin({ pki: ctx.pki, cpus: pin ? cfg.loadCpus : null, workDir });
  ctx.origin = origin;
  log(`origin pid ${origin.child.pid}: https 127.0.0.1:${origin.tlsPort}, http 127.0.0.1:${origin.httpPort}`);
  const direct = new Route({ label: 'direct', name: '127.0.0.1', tlsPort: origin.tlsPort, httpPort: origin.httpPort,
    secureContext: tls.createSecureContext({ ca: fs.readFileSync(ctx.pki.caCert) }) });
  const directSide = { id: 'direct', caBundle: ctx.pki.caCert };

  const subjects = cfg.paths.map((p) => oursSubject(p, ctx));
  let skipped = [];
  if (cfg.peers) {
    const peers = await peerSubjects(cfg.peers.length ? cfg.peers : ALL_PEERS, ctx);
    subjects.push(...peers.subjects); skipped = peers.skipped;
    for (const s of skipped) log(`peer ${s.id} skipped: ${s.why}`);
  }
  const res = {
    date: new Date().toISOString(), mode: cfg.mode, workDir,
    machine: { cpus, model: os.cpus()[0]?.model, node: process.version, pinned: pin, loadCpus: cfg.loadCpus, proxyCpus: cfg.proxyCpus, loadAvgStart: os.loadavg()[0] },
    cfg: { ...cfg, workDir: undefined }, origin: { tlsPort: origin.tlsPort, httpPort: origin.httpPort },
    subjects: {}, phases: {}, skippedPeers: skipped,
  };

  // 1. fresh processes: cold first request, then the interception check
  for (const s of subjects) {
    const info = res.subjects[s.id] = { kind: s.kind, path: s.path, name: s.name, note: s.note, targets: s.targets, expectIntercept: s.expectIntercept, crashes: [] };
    try {
      // one request is one sample: the median over cfg.coldRuns fresh processes (the last one stays up)
      const colds = [];
      for (let i = 0; i < cfg.coldRuns; i++) {
        if (i > 0) await s.stop();
        await s.start(ctx, i > 0 ? `-cold${i}` : '');
        s.route = routeFor(s, ctx);
        if (i === 0) {
          info.startRssKB = s.watch.rssKB();
          info.startUssKB = s.watch.ussKB();
        }
        colds.push(await P.cold(s.route, cfg, origin.tlsPort));
      }
      const ok = colds.filter((c) => Number.isFinite(c.ms)).map((c) => c.ms);
      info.cold = ok.length ? { ms: median(ok), runs: colds.map((c) => c.ms) } : colds[0];
      info.interception = await P.interception(direct, s.route, cfg);
      log(`${s.id}: cold ${info.cold.ms?.toFixed(1)} ms${info.cold.runs ? ` (median of ${info.cold.runs.map((x) => x.toFixed(1)).join(', ')})` : ''}${info.cold.error ? ` (${info.cold.error})` : ''}; intercepted: ${info.interception.intercepted ?? info.interception.error}`);
    } catch (e) { info.startError = e.message; log(`${s.id}: could not start: ${e.message}`); await s.stop(); }
  }
  const running = () => subjects.filter((s) => s.route && s.alive);

  // 2. load phases: direct first, then every subject, back to back, in interleaved rounds (PHASES).
  const measure = async (key, what, fn, s, c) => {
    log(`${what}: ${s.id}`);
    s.watch.refresh();
    let cpu0 = s.watch.cpuSecs(); const stopPeak = s.watch.startPeak();
    const meter = { begin: () => { cpu0 = s.watch.cpuSecs(); } }; // CPU counts from here (after a warm-up)
    const r = await fn(s.route, c, s, meter);
    r.peakRssKB = stopPeak(); r.cpuSecs = s.alive ? s.watch.cpuSecs() - cpu0 : NaN;
    if (!s.alive) {
      const crash = { phase: key, exit: s.child?.exitInfo, output: s.outputTail() };
      res.subjects[s.id].crashes.push(crash);
      log(`${s.id} EXITED during ${what} (${JSON.stringify(crash.exit)}):\n${crash.output}`);
    }
    return r;
  };
  for (const [key, what, fn, split] of PHASES) {
    if (cfg.phases && !cfg.phases.includes(key)) continue;
    const rounds = split.rounds ? split.rounds(cfg) : Math.max(1, cfg.rounds);
    const parts = {};
    const add = (id, r) => { (parts[id] ??= []).push(r); };
    for (let i = 0; i < rounds; i++) {
      const c = split.round(cfg, i, rounds);
      const w = rounds > 1 ? `${what} (${i + 1}/${rounds})` : what;
      log(`${w}: direct`);
      add('direct', await fn(direct, c, directSide));
      for (const s of subjects.filter((x) => x.route && !x.alive)) { // crashed earlier: a fresh process for the rest
        try { await s.start(ctx, `-restart${res.subjects[s.id].crashes.length}`); s.route = routeFor(s, ctx); } catch (e) { log(`${s.id}: restart failed: ${e.message}`); }
      }
      for (const s of running()) add(s.id, await measure(key, w, fn, s, c));
    }
    res.phases[key] = Object.fromEntries(Object.entries(parts).map(([id, a]) => [id, split.merge(a)]));
  }
  for (const s of subjects) { if (s.watch) res.subjects[s.id].endRssKB = s.watch.rssKB(); await s.stop(); }

  // 3. idle tunnels, each subject in a fresh process
  if (!cfg.noIdle && cfg.idleN > 0) {
    for (const s of subjects.filter((x) => x.route)) {
      try {
        await s.start(ctx, '-idle');
        s.route = routeFor(s, ctx);
        log(`idle: ${s.id}: ${cfg.idleN} tunnels with a TLS handshake each`);
        res.subjects[s.id].idle = await P.idleTunnels(s.route, s.watch, cfg);
      } catch (e) { res.subjects[s.id].idle = { error: e.message, openErrors: 1 }; }
      await s.stop();
    }
  }
  await stopGroup(origin.child);
  for (const s of subjects) if (s.kind === 'ours') res.subjects[s.id].decisions = loggedDecisions(s.logFile);
  return finish(res, subjects, cfg);
}

function finish(res, subjects, cfg) {
  res.machine.loadAvgEnd = os.loadavg()[0]; // includes this run's own load
  const ids = subjects.filter((s) => res.subjects[s.id] && !res.subjects[s.id].startError).map((s) => s.id);
  const out = [];
  const m = res.machine;
  out.push(`autopatch-proxy bench, ${res.date}, mode ${res.mode}: ${m.cpus} CPU (${m.model}), Node ${m.node}, ${m.pinned ? `load+origin on CPU ${m.loadCpus}, proxy on CPU ${m.proxyCpus}` : 'no pinning'}`);
  out.push(`bulk client ${cfg.curl ? 'curl' : 'node'}, plain HTTP client ${cfg.wrk ? 'wrk' : 'a Node keep-alive loop (wrk not installed or --no-wrk)'}; origin: Node (bench/lib/origin-server.mjs)`);
  out.push(`1-min load average before the run ${m.loadAvgStart.toFixed(1)}${m.loadAvgStart > 1 ? ' (the machine was busy with other work: expect noisy figures)' : ''}`);
  for (const id of ids.filter((i) => res.subjects[i].kind === 'ours')) {
    const s = res.subjects[id];
    out.push('', `### ${id}: ${s.name} (${s.note})`, '', subjectTable(res, id));
    for (const c of s.crashes) out.push('', `**${id} crashed during ${c.phase}** (${JSON.stringify(c.exit)}), restarted for the next phases; its last output:`, '```', c.output, '```');
    if (s.decisions) out.push('', `proxy log decisions (event decision/reason ×count): ${Object.entries(s.decisions).map(([k, n]) => `${k} ×${n}`).join(', ') || 'none'}`);
    const i = s.interception;
    if (s.expectIntercept && i?.intercepted === false) out.push('note: the inspect path did not intercept (certificate seen through the tunnel is the origin\'s): inspect targets do not apply yet');
    if (!s.expectIntercept && i?.intercepted) out.push('note: this path was expected to splice but the certificate seen through the tunnel is not the origin\'s');
    if (s.path === 'bypass' && s.decisions) {
      for (const [event, what] of [['connect', 'tunnels'], ['request', 'plain-HTTP requests']]) {
        const seen = Object.keys(s.decisions).filter((k) => k.startsWith(`${event} `));
        if (seen.length && !seen.some((k) => k.startsWith(`${event} bypass`))) out.push(`note: ${what} to ${s.name} were not bypassed (${seen.map((k) => k.split(' ')[1]).join(', ')}): those rows measure that path, not bypass`);
      }
    }
  }
  if (cfg.peers) {
    out.push('', '### all subjects: value (ratio proxy/direct)', '', combinedTable(res, ids));
    if (res.skippedPeers.length) out.push('', `skipped peers: ${res.skippedPeers.map((s) => `${s.id} (${s.why})`).join('; ')}`);
  }
  for (const s of subjects) if (res.subjects[s.id]?.startError) out.push(`${s.id}: did not start: ${res.subjects[s.id].startError}`);
  const cut = Object.entries(res.phases).flatMap(([k, p]) => Object.entries(p).filter(([, x]) => x?.cut).map(([side]) => `${k}/${side}`));
  if (cut.length) out.push('', `stopped by the deadline (--deadline-s ${cfg.deadlineS}) before the full count, rate from what completed: ${cut.join(', ')}`);
  const errs = ids.map((id) => [id, errorCount(res, id)]).filter(([, n]) => n);
  if (errs.length) out.push('', `errors: ${errs.map(([id, n]) => `${id} ${n}`).join(', ')} (samples in results.json: errorSamples)`);
  const resultsFile = path.join(res.workDir, 'results.json');
  fs.writeFileSync(resultsFile, JSON.stringify(res, null, 1));
  fs.writeFileSync(path.join(res.workDir, 'summary.md'), `${out.join('\n')}\n`);
  if (!cfg.keepLogs) for (const s of subjects) if (s.logFile) fs.rmSync(s.logFile, { force: true });
  console.log(out.join('\n'));
  console.log(`\nJSON results: ${resultsFile} (and summary.md beside it)`);
  const failed = subjects.some((s) => res.subjects[s.id]?.startError || res.subjects[s.id]?.crashes.length) || errs.length;
  return failed ? 3 : 0;
}

main().then(async (code) => { await stopAll(); process.exit(code ?? 0); }, async (e) => { console.error(e); await stopAll(); process.exit(1); });
