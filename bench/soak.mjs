#!/usr/bin/env node
// Soak: N requests (default 1e6) through ONE proxy process, half plain-HTTP forward requests on keep-alive
// connections, half HTTPS requests in CONNECT tunnels (each tunnel carries --per-tunnel requests, then is
// closed and a new one opened, so tunnel set-up and teardown are exercised all along). Prints the proxy's
// RSS after 100k requests and at the end (target: end within 10 % of the 100k figure) and exits 3 if missed
// or on errors. Bounded by the request count AND --deadline-s. A benchmark, not a test.
//   node bench/soak.mjs [--requests 1000000] [--path log|bypass|inspect] [--conc 40] [--per-tunnel 50]
//                       [--deadline-s 1200] [--no-pin] [--out DIR]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { makePki } from './lib/certs.mjs';
import { parseCli } from './lib/cli.mjs';
import { HttpConn, Route, now } from './lib/client.mjs';
import { have, installCleanup, log, pinSelf, stopAll } from './lib/procs.mjs';
import { oursSubject, PATHS, startOrigin } from './lib/subjects.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = 'usage: node bench/soak.mjs [--requests N] [--path log|bypass|inspect] [--conc N] [--per-tunnel N] [--deadline-s S] [--checkpoint N] [--no-pin] [--out DIR]';

function parse(argv) {
  const num = { requests: 1e6, conc: 40, 'per-tunnel': 50, 'deadline-s': 1200, checkpoint: 100_000 };
  const v = parseCli(argv, {
    ...Object.fromEntries(Object.keys(num).map((k) => [k, { type: 'number' }])), path: { type: 'string' }, 'no-pin': { type: 'boolean' }, out: { type: 'string' },
  }, USAGE);
  if (v.help) { console.log(USAGE); process.exit(0); }
  for (const k of Object.keys(num)) if (v[k] !== undefined && !(v[k] > 0)) throw new Error(`--${k}: positive number expected`);
  const n = (k) => v[k] ?? num[k];
  const o = { requests: n('requests'), path: v.path ?? 'log', conc: n('conc'), perTunnel: n('per-tunnel'), deadlineS: n('deadline-s'), checkpoint: n('checkpoint'), pin: !v['no-pin'], out: v.out ?? null };
  if (!PATHS[o.path]) throw new Error(`--path: bypass, log or inspect`);
  o.checkpoint = Math.min(o.checkpoint, Math.floor(o.requests / 2));
  return o;
}

async function main() {
  let o;
  try { o = parse(process.argv.slice(2)); } catch (e) { console.error(e.message); return 2; }
  if (!fs.existsSync(path.join(ROOT, 'dist/cli.js'))) { console.error('dist/cli.js missing: build first (npx tsc -p tsconfig.json)'); return 2; }
  installCleanup();
  const workDir = o.out ? path.resolve(o.out) : fs.mkdtempSync(path.join(os.tmpdir(), 'autopatch-proxy-soak-'));
  fs.mkdirSync(workDir, { recursive: true });
  const pin = o.pin && os.cpus().length >= 2 && have('taskset') && pinSelf('0');
  const pki = makePki(path.join(workDir, 'pki'), [PATHS[o.path].name]);
  const origin = await startOrigin({ pki, cpus: pin ? '0' : null, workDir });
  const ctx = { workDir, pki, origin, readyTimeoutMs: 30000, proxyCpus: pin ? '1' : null };
  const s = oursSubject(o.path, ctx);
  await s.start(ctx);
  const ca = s.caFiles.map((f) => fs.readFileSync(f, 'utf8'));
  const route = new Route({ label: s.id, proxyPort: s.port, name: s.name, tlsPort: 443, httpPort: 80, secureContext: tls.createSecureContext({ ca }) });
  const rss = () => s.watch.rssKB();
  const res = { date: new Date().toISOString(), path: o.path, settings: o, startRssKB: rss(), checkpoints: [], errors: 0, errorSamples: {} };
  log(`soak: ${o.requests} requests through ${s.id} (pid ${s.child.pid}), ${o.conc} connections, deadline ${o.deadlineS} s; work dir ${workDir}`);

  let started = 0, done = 0, tunnels = 0, nextMark = o.checkpoint;
  const t0 = now(); const deadline = t0 + o.deadlineS * 1000;
  const fail = (e) => { res.errors++; const k = String(e?.message ?? e).slice(0, 60); res.errorSamples[k] = (res.errorSamples[k] ?? 0) + 1; };
  const mark = () => {
    while (done >= nextMark) {
      const cp = { requests: nextMark, secs: (now() - t0) / 1000, rssKB: rss(), errors: res.errors, tunnels };
      res.checkpoints.push(cp);
      log(`${cp.requests} requests, ${cp.secs.toFixed(0)} s, ${(done / cp.secs).toFixed(0)} req/s, proxy RSS ${(cp.rssKB / 1024).toFixed(1)} MB, tunnels ${tunnels}, errors ${res.errors}`);
      nextMark += o.checkpoint;
    }
  };
  const plainWorker = async () => {
    let c = null;
    while (started < o.requests && now() < deadline && s.alive) {
      started++;
      try {
        if (!c || c.closed) c = new HttpConn(await route.openHttp(10000));
        const r = await c.request(route.httpTarget('/tiny'), route.httpHost, 10000);
        if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
        done++; mark();
      } catch (e) { fail(e); c?.destroy(); c = null; }
    }
    c?.destroy();
  };
  const tunnelWorker = async () => {
    let c = null, used = 0;
    while (started < o.requests && now() < deadline && s.alive) {
      started++;
      try {
        if (!c || c.closed || used >= o.perTunnel) { c?.destroy(); c = new HttpConn(await route.openTls(10000)); used = 0; tunnels++; }
        used++;
        const r = await c.request('/tiny', route.tlsHost, 10000);
        if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
        done++; mark();
      } catch (e) { fail(e); c?.destroy(); c = null; }
    }
    c?.destroy();
  };
  await Promise.all(Array.from({ length: o.conc }, (_, w) => (w % 2 ? tunnelWorker() : plainWorker())));
  res.secs = (now() - t0) / 1000; res.requests = done; res.tunnels = tunnels; res.cut = done + res.errors < o.requests;
  res.endRssKB = rss();
  await sleep(2000);
  res.settledRssKB = rss();
  res.crashed = !s.alive ? { exit: s.child?.exitInfo, output: s.outputTail() } : null;
  await stopAll();

  const at = res.checkpoints[0];
  res.growth = at ? res.endRssKB / at.rssKB - 1 : NaN;
  const ok = at && res.growth <= 0.10 && !res.errors && !res.crashed && !res.cut;
  const mb = (kb) => (kb / 1024).toFixed(1);
  const lines = [
    `soak ${s.id}: ${res.requests} requests (${res.tunnels} tunnels) in ${res.secs.toFixed(0)} s, ${(res.requests / res.secs).toFixed(0)} req/s, errors ${res.errors}${res.cut ? ', CUT by the deadline' : ''}`,
    `proxy RSS: start ${mb(res.startRssKB)} MB, after ${at?.requests ?? '-'} requests ${at ? mb(at.rssKB) : '-'} MB, end ${mb(res.endRssKB)} MB (${(res.growth * 100).toFixed(1)} %), 2 s later ${mb(res.settledRssKB)} MB`,
    `target: end within 10 % of the ${at?.requests ?? o.checkpoint} figure -> ${ok ? 'ok' : 'MISS'}`,
  ];
  if (res.crashed) lines.push(`proxy crashed (${JSON.stringify(res.crashed.exit)}):\n${res.crashed.output}`);
  if (res.errors) lines.push(`error samples: ${JSON.stringify(res.errorSamples)}`);
  fs.writeFileSync(path.join(workDir, 'soak.json'), JSON.stringify(res, null, 1));
  fs.rmSync(s.logFile, { force: true });
  console.log(lines.join('\n'));
  console.log(`JSON: ${path.join(workDir, 'soak.json')}`);
  return ok ? 0 : 3;
}

main().then(async (code) => { await stopAll(); process.exit(code); }, async (e) => { console.error(e); await stopAll(); process.exit(1); });
