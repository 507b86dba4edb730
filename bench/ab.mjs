#!/usr/bin/env node
// A/B of two builds of the proxy in one run, interleaved: for effects smaller than this VM's run-to-run
// noise (10–25 % between two runs of the same build; bench/RESULTS.md "Noise on this VM"). Both builds run
// side by side against one origin, each pinned to the same proxy CPU; every round measures every phase on
// A then B (B then A on odd rounds), so a drift of the machine lands on both.
//
//   node bench/ab.mjs --a DIR --b DIR [--phases latency,new_cpu,bulk_https,bulk_http] [--rounds N] [--path bypass|log]
//
// DIR is a checkout with dist/ built and its node_modules installed, e.g. the session's base:
//   git worktree add /tmp/base REV && (cd /tmp/base && npm ci && npx tsc -p tsconfig.json)
//   node bench/ab.mjs --a /tmp/base --b .
// Loopback only; every loop is bounded by its count and a per-operation timeout. A benchmark, not a test.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { makePki } from './lib/certs.mjs';
import { parseCli } from './lib/cli.mjs';
import { Route, pool, median, pct } from './lib/client.mjs';
import { bulk } from './lib/phases.mjs';
import { have, installCleanup, log, pinSelf, startGroup, stopAll, stopGroup, cpuSecs } from './lib/procs.mjs';
import { PATHS, freePort, startOrigin, waitListening } from './lib/subjects.mjs';

const PHASES = ['latency', 'new_cpu', 'bulk_https', 'bulk_http'];
const USAGE = `usage: node bench/ab.mjs --a DIR --b DIR [--phases ${PHASES.join(',')}] [--rounds N (default 6)] [--path bypass|log]`;
const OP_TIMEOUT_MS = 10000;

function parse(argv) {
  const v = parseCli(argv, { a: { type: 'string' }, b: { type: 'string' }, phases: { type: 'list' }, rounds: { type: 'number' }, path: { type: 'string' } }, USAGE);
  const o = { a: v.a && path.resolve(v.a), b: v.b && path.resolve(v.b), phases: v.phases ?? PHASES, rounds: v.rounds ?? 6, path: v.path ?? 'bypass', help: v.help };
  if (o.help) return o;
  if (!o.a || !o.b) throw new Error(`--a and --b are required\n${USAGE}`);
  for (const d of [o.a, o.b]) if (!fs.existsSync(path.join(d, 'dist', 'cli.js'))) throw new Error(`${d}/dist/cli.js missing (npx tsc -p tsconfig.json there)`);
  for (const p of o.phases) if (!PHASES.includes(p)) throw new Error(`unknown phase ${p} (${PHASES.join(', ')})`);
  if (!(o.rounds >= 1 && o.rounds <= 50)) throw new Error('--rounds: 1-50');
  if (o.path !== 'bypass' && o.path !== 'log') throw new Error('--path: bypass or log');
  return o;
}

async function main() {
  let cfg;
  try { cfg = parse(process.argv.slice(2)); } catch (e) { console.error(e.message); return 2; }
  if (cfg.help) { console.log(USAGE); return 0; }
  if (!have('openssl')) { console.error('openssl not found'); return 2; }
  installCleanup();
  const pinned = have('taskset');
  if (pinned) pinSelf('0');
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'autopatch-proxy-ab-'));
  const { name, args: pathArgs } = PATHS[cfg.path];
  const pki = makePki(path.join(workDir, 'pki'), [name]);
  const origin = await startOrigin({ pki, cpus: pinned ? '0' : null, workDir });
  const secureContext = tls.createSecureContext({ ca: fs.readFileSync(pki.caCert) });
  const sides = {};
  for (const [id, dir] of [['A', cfg.a], ['B', cfg.b]]) {
    const port = await freePort();
    // each build launched as its `npm start` launches it: with its own src/node-flags.ts V8 flags
    const flagsFile = path.join(dir, 'dist', 'node-flags.js');
    const flags = fs.existsSync(flagsFile) ? (await import(flagsFile)).NODE_FLAGS : [];
    const child = startGroup(id, process.execPath, [...flags, path.join(dir, 'dist', 'cli.js'), 'start', '--listen', `127.0.0.1:${port}`, '--admin', 'off',
      '--deny-destinations', '', '--log-file', path.join(workDir, `${id}.ndjson`), '--certs', path.join(workDir, `certs-${id}`),
      '--connect-to', `${name}:443:127.0.0.1:${origin.tlsPort}`, '--connect-to', `${name}:80:127.0.0.1:${origin.httpPort}`, ...pathArgs],
    { cpus: pinned ? '1' : null, cwd: dir, logFile: path.join(workDir, `${id}.out`) });
    await waitListening(port, 30000, child);
    sides[id] = { dir, flags, child, route: new Route({ label: id, proxyPort: port, name, tlsPort: 443, httpPort: 80, secureContext }), lat: [], newCpu: [], bulk: { https: [], http: [] }, bulkCpu: { https: 0, http: 0 }, bulkBytes: { https: 0, http: 0 } };
  }
  const desc = (id) => `${id} ${sides[id].dir}${sides[id].flags.length ? ` [${sides[id].flags.join(' ')}]` : ''} (pid ${sides[id].child.pid})`;
  log(`${desc('A')}, ${desc('B')}; work dir ${workDir}`);
  const cpuOf = (s) => cpuSecs(s.child.pid);
  // JIT and caches settle before anything counts (a few thousand tunnels, bench/RESULTS.md)
  for (const s of Object.values(sides)) await pool({ concurrency: 20, total: 2000, deadlineMs: 60000, fn: () => s.route.oneHttps('/tiny', OP_TIMEOUT_MS) });
  const bulkCfg = { bulkBytes: 128 * 1024 * 1024, bulkReps: 1, deadlineMs: 60000, curl: have('curl'), opTimeoutMs: 60000 };
  for (let round = 0; round < cfg.rounds; round++) {
    const order = round % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
    for (const phase of cfg.phases) {
      for (const id of order) {
        const s = sides[id];
        if (phase === 'latency') {
          for (let i = 0; i < 100; i++) s.lat.push((await s.route.oneHttps('/tiny', OP_TIMEOUT_MS)).total);
        } else if (phase === 'new_cpu') {
          const c0 = cpuOf(s);
          const r = await pool({ concurrency: 20, total: 500, deadlineMs: 60000, fn: () => s.route.oneHttps('/tiny', OP_TIMEOUT_MS) });
          if (r.ok) s.newCpu.push(((cpuOf(s) - c0) * 1e6) / r.ok);
        } else {
          const scheme = phase === 'bulk_https' ? 'https' : 'http';
          const c0 = cpuOf(s);
          const r = await bulk(s.route, scheme, bulkCfg, pki.caCert);
          s.bulkCpu[scheme] += cpuOf(s) - c0;
          s.bulkBytes[scheme] += r.bytes;
          if (Number.isFinite(r.MBps)) s.bulk[scheme].push(r.MBps);
        }
      }
    }
    log(`round ${round + 1}/${cfg.rounds} done`);
  }
  const rows = [];
  const row = (metric, f) => {
    const [a, b] = [f(sides.A), f(sides.B)];
    if (Number.isFinite(a) && Number.isFinite(b)) rows.push([metric, a.toFixed(2), b.toFixed(2), (b / a).toFixed(3)]);
  };
  if (cfg.phases.includes('latency')) {
    row('new conn+CONNECT+TLS+GET p50, ms (c=1)', (s) => median(s.lat));
    row('new conn+CONNECT+TLS+GET p90, ms (c=1)', (s) => pct(s.lat, 90));
  }
  if (cfg.phases.includes('new_cpu')) row('proxy CPU per new tunnel, µs (c=20, median of rounds)', (s) => median(s.newCpu));
  for (const scheme of ['https', 'http']) {
    if (!cfg.phases.includes(`bulk_${scheme}`)) continue;
    row(`${scheme.toUpperCase()} bulk, MB/s (median of rounds)`, (s) => median(s.bulk[scheme]));
    row(`proxy CPU per GiB, ${scheme.toUpperCase()} bulk, s`, (s) => (s.bulkBytes[scheme] ? s.bulkCpu[scheme] / (s.bulkBytes[scheme] / 2 ** 30) : NaN));
  }
  console.log(`\nA/B, ${cfg.rounds} interleaved rounds, path ${cfg.path}: A = ${cfg.a}, B = ${cfg.b}\n`);
  console.log('| metric | A | B | B/A |\n|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  for (const s of Object.values(sides)) await stopGroup(s.child);
  await stopGroup(origin.child);
  return 0;
}

main().then(async (code) => { await stopAll(); process.exit(code); }, async (e) => { console.error(e?.stack ?? e); await stopAll(); process.exit(1); });
