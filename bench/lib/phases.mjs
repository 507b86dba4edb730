// The measured phases. Each takes a Route (direct to the origin, or through a proxy) and the run's
// settings, and returns plain figures; every loop is bounded by a count AND cfg.deadlineMs.
// The caller samples the proxy's CPU and RSS around them (a phase with a warm-up calls meter.begin() where
// the counted part starts); nothing here knows which proxy it talks to.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpConn, Route, median, now, pct, pool, startWarmRelay } from './client.mjs';
import { log, runGroup } from './procs.mjs';

const MB = 1e6;
const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(https?|all|no)_proxy$/i.test(k)));

async function curlOnce(route, url, caBundle, cfg) {
  const args = ['-sS', '--max-time', String(Math.ceil(cfg.deadlineMs / 1000)), '-o', '/dev/null',
    '-w', '%{http_code} %{size_download} %{time_total}', '--cacert', caBundle];
  args.push(...(route.viaProxy ? ['-x', `http://127.0.0.1:${route.proxyPort}`, '--noproxy', ''] : ['--noproxy', '*']));
  args.push(url);
  const r = await runGroup('curl', 'curl', args, { timeoutMs: cfg.deadlineMs + 5000, env: cleanEnv() });
  const [code, size, secs] = r.out.trim().split(' ').map(Number);
  if (r.code !== 0 || code !== 200) throw new Error(`curl rc=${r.code} http=${code} ${r.err.trim().slice(0, 120)}`);
  return { bytes: size, secs };
}

async function nodeOnce(route, scheme, target, cfg) {
  const t0 = now();
  const sock = scheme === 'https' ? await route.openTls(cfg.opTimeoutMs) : await route.openHttp(cfg.opTimeoutMs);
  const c = new HttpConn(sock);
  try {
    const host = scheme === 'https' ? route.tlsHost : route.httpHost;
    const r = await c.request(scheme === 'https' ? target : route.httpTarget(target), host, cfg.deadlineMs);
    if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
    return { bytes: r.bytes, secs: (now() - t0) / 1000 };
  } finally { c.destroy(); }
}

/** Bulk download of cfg.bulkBytes, cfg.bulkReps times; median MB/s (1 MB = 10^6 bytes). */
export async function bulk(route, scheme, cfg, caBundle) {
  const target = `/large.bin?bytes=${cfg.bulkBytes}`;
  const url = `${scheme}://${scheme === 'https' ? route.tlsHost : route.httpHost}${target}`;
  const speeds = []; let errors = 0, bytes = 0; const errorSamples = [];
  const deadline = now() + cfg.deadlineMs;
  for (let i = 0; i < cfg.bulkReps && now() < deadline; i++) {
    try {
      const r = cfg.curl ? await curlOnce(route, url, caBundle, cfg) : await nodeOnce(route, scheme, target, cfg);
      if (r.bytes !== cfg.bulkBytes) throw new Error(`got ${r.bytes} of ${cfg.bulkBytes} bytes`);
      speeds.push(r.bytes / r.secs / MB); bytes += r.bytes;
    } catch (e) { errors++; errorSamples.push(e.message); }
  }
  return { MBps: median(speeds), all: speeds.map((x) => +x.toFixed(1)), bytes, errors, errorSamples, client: cfg.curl ? 'curl' : 'node' };
}

/** Combines interleaved single-repetition bulk results: median over all repetitions, sums, peak. */
export function mergeBulk(parts) {
  const all = parts.flatMap((p) => p.all);
  return { ...parts[0], MBps: median(all), all, bytes: sumOf(parts, 'bytes'), errors: sumOf(parts, 'errors'), errorSamples: parts.flatMap((p) => p.errorSamples), ...cpuOf(parts) };
}

/** Sequential new connection (+ CONNECT) + full TLS handshake + GET /tiny + close. */
export async function latency(route, cfg) {
  for (let i = 0; i < cfg.latWarmup; i++) await route.oneHttps('/tiny', cfg.opTimeoutMs).catch(() => {});
  const total = [], hs = []; let errors = 0; const errorSamples = new Set();
  const deadline = now() + cfg.deadlineMs;
  for (let i = 0; i < cfg.latN && now() < deadline; i++) {
    try { const r = await route.oneHttps('/tiny', cfg.opTimeoutMs); total.push(r.total); hs.push(r.handshake); } catch (e) { errors++; errorSamples.add(e.message); }
  }
  return { ...latencyStats(total, hs), errors, errorSamples: [...errorSamples].slice(0, 3), samples: total, hsSamples: hs };
}
const latencyStats = (total, hs) => ({ n: total.length, p50: pct(total, 50), p90: pct(total, 90), p99: pct(total, 99), handshakeP50: pct(hs, 50) });

/** Latency rounds combined: percentiles over all rounds' samples (the samples are dropped from the result). */
export function mergeLatency(parts) {
  const total = parts.flatMap((p) => p.samples ?? []); const hs = parts.flatMap((p) => p.hsSamples ?? []);
  const errorSamples = [...new Set(parts.flatMap((p) => p.errorSamples ?? []))].slice(0, 3);
  return { ...latencyStats(total, hs), rounds: parts.length, errors: sumOf(parts, 'errors'), errorSamples, ...cpuOf(parts) };
}

/** Load rounds combined (pool and wrk results): counts summed, req/s over the summed load time. */
export function mergeRate(parts) {
  const ok = sumOf(parts, 'ok');
  // wrk reports req/s, not its seconds: ok / rps is the round's load time
  const secs = parts.reduce((a, p) => a + (Number.isFinite(p.secs) ? p.secs : p.rps > 0 ? p.ok / p.rps : 0), 0);
  const m = { ...parts[0], rounds: parts.length, ok, errors: sumOf(parts, 'errors'), secs, rps: secs > 0 ? ok / secs : NaN, cut: parts.some((p) => p.cut), ...cpuOf(parts) };
  for (const k of ['openErrors', 'reconnects']) if (k in parts[0]) m[k] = sumOf(parts, k);
  if ('conns' in parts[0]) m.conns = Math.min(...parts.map((p) => p.conns));
  if ('p50' in parts[0]) { m.p50 = median(parts.map((p) => p.p50)); m.p99 = median(parts.map((p) => p.p99)); } // wrk's own percentiles: median of the rounds'
  m.errorSamples = parts.reduce((acc, p) => { for (const [k, v] of Object.entries(p.errorSamples ?? {})) acc[k] = (acc[k] ?? 0) + v; return acc; }, {});
  return m;
}
const sumOf = (parts, k) => parts.reduce((a, p) => a + (p[k] ?? 0), 0);
const cpuOf = (parts) => (parts.some((p) => 'cpuSecs' in p) ? { cpuSecs: sumOf(parts, 'cpuSecs'), peakRssKB: Math.max(...parts.map((p) => p.peakRssKB ?? 0)) } : {});

/** cfg.conc workers, each request on a new tunnel + TLS handshake. */
export async function concNew(route, cfg) {
  return pool({ concurrency: cfg.conc, total: cfg.concN, deadlineMs: cfg.deadlineMs, fn: () => route.oneHttps('/tiny', cfg.opTimeoutMs) });
}

/** cfg.conc tunnels opened first (50 at a time), then cfg.kaN GETs over them, sequential per tunnel. */
export async function concKeepAlive(route, cfg, meter) {
  const conns = []; let reconnects = 0;
  const open = async () => new HttpConn(await route.openTls(cfg.opTimeoutMs));
  const opened = await pool({ concurrency: Math.min(50, cfg.conc), total: cfg.conc, deadlineMs: cfg.deadlineMs, fn: async () => { conns.push(await open()); } });
  if (!conns.length) return { ok: 0, errors: opened.errors, rps: NaN, conns: 0, openErrors: opened.errors, errorSamples: opened.errorSamples };
  const fn = async (w) => {
    if (conns[w].closed) { reconnects++; conns[w] = await open(); }
    const x = await conns[w].request('/tiny', route.tlsHost, cfg.opTimeoutMs);
    if (x.status !== 200) throw new Error(`HTTP ${x.status}`);
  };
  // warm-up (not counted): one request per tunnel plus a tenth of the run, so JIT and buffers settle
  await pool({ concurrency: conns.length, total: conns.length + Math.floor(cfg.kaN / 10), deadlineMs: cfg.deadlineMs / 4, fn });
  reconnects = 0;
  meter?.begin();
  const r = await pool({ concurrency: conns.length, total: cfg.kaN, deadlineMs: cfg.deadlineMs, fn });
  for (const c of conns) c.destroy();
  return { ...r, conns: conns.length, openErrors: opened.errors, reconnects };
}

const toMs = (s) => { if (!s) return NaN; const v = parseFloat(s); return s.endsWith('us') ? v / 1000 : s.endsWith('ms') ? v : s.endsWith('s') ? v * 1000 : v; };

async function wrkPlain(route, cfg, meter) {
  const r = await runWrk(route, cfg, cfg.plainWarmupSecs); // warm-up, not counted
  if (r.code !== 0) log(`wrk warm-up rc=${r.code} ${r.err.trim()}`);
  meter?.begin();
  return parseWrk(await runWrk(route, cfg, cfg.plainSecs));
}
function runWrk(route, cfg, secs) {
  const args = ['-t1', `-c${cfg.plainConns}`, `-d${Math.max(1, Math.round(secs))}s`, '--latency', '--timeout', '5s'];
  if (route.viaProxy) {
    const lua = path.join(cfg.workDir, `wrk-${route.label}.lua`);
    fs.writeFileSync(lua, `wrk.path = "${route.httpTarget('/tiny')}"\nwrk.headers["Host"] = "${route.httpHost}"\n`);
    args.push('-s', lua, `http://127.0.0.1:${route.proxyPort}/`);
  } else args.push(`http://127.0.0.1:${route.httpPort}/tiny`);
  return runGroup('wrk', 'wrk', args, { timeoutMs: (secs + 15) * 1000, env: cleanEnv() });
}
function parseWrk(r) {
  const m = (re) => r.out.match(re)?.[1];
  const ok = Number(m(/(\d+) requests in/) ?? 0); const non2xx = Number(m(/Non-2xx or 3xx responses:\s+(\d+)/) ?? 0);
  const sock = m(/Socket errors: (.*)/);
  const sockErrs = sock ? sock.split(',').reduce((a, x) => a + Number(x.trim().split(' ')[1] ?? 0), 0) : 0;
  if (r.code !== 0) log(`wrk rc=${r.code} ${r.err.trim()}`);
  return { client: 'wrk', rps: Number(m(/Requests\/sec:\s+([\d.]+)/)), ok: ok - non2xx, errors: non2xx + sockErrs, p50: toMs(m(/50%\s+(\S+)/)), p99: toMs(m(/99%\s+(\S+)/)) };
}

async function nodePlain(route, cfg, meter) {
  const conns = [];
  for (let i = 0; i < cfg.plainConns; i++) { try { conns.push(new HttpConn(await route.openHttp(cfg.opTimeoutMs))); } catch { /* counted below */ } }
  let lat = []; let reconnects = 0;
  const fn = async (w) => {
    if (conns[w].closed) { reconnects++; conns[w] = new HttpConn(await route.openHttp(cfg.opTimeoutMs)); }
    const t0 = now();
    const x = await conns[w].request(route.httpTarget('/tiny'), route.httpHost, cfg.opTimeoutMs);
    if (x.status !== 200) throw new Error(`HTTP ${x.status}`);
    if (lat.length < 200000) lat.push(now() - t0);
  };
  await pool({ concurrency: conns.length, total: cfg.plainMaxN, deadlineMs: cfg.plainWarmupSecs * 1000, fn }); // warm-up, not counted
  lat = []; reconnects = 0;
  meter?.begin();
  const r = await pool({ concurrency: conns.length, total: cfg.plainMaxN, deadlineMs: cfg.plainSecs * 1000, fn });
  for (const c of conns) c.destroy();
  // time-bound by design (like wrk -d): not "cut" unless the safety count was reached
  return { client: 'node', ...r, cut: false, p50: pct(lat, 50), p99: pct(lat, 99), reconnects, openErrors: cfg.plainConns - conns.length };
}

/** Plain-HTTP keep-alive load (absolute-form through a proxy) at cfg.plainConns connections. */
export const plainHttp = (route, cfg, meter) => (cfg.wrk ? wrkPlain(route, cfg, meter) : nodePlain(route, cfg, meter));

/**
 * First request through a freshly started proxy. The bench client first runs the same CONNECT + TLS
 * request three times through an in-process relay (same name, same trust store), so the figure holds
 * the proxy's cold costs only, whichever subject comes first.
 */
export async function cold(route, cfg, originTlsPort) {
  const relay = await startWarmRelay(originTlsPort);
  try {
    const warm = new Route({ label: 'warm', proxyPort: relay.port, name: route.name, tlsPort: route.tlsPort, httpPort: route.httpPort, secureContext: route.secureContext });
    for (let i = 0; i < 3; i++) await warm.oneHttps('/tiny', cfg.opTimeoutMs);
  } catch { /* a failed warm-up only makes the figure pessimistic */ } finally { await relay.close(); }
  try { return { ms: (await route.oneHttps('/tiny', Math.max(cfg.opTimeoutMs, 30000))).total }; } catch (e) { return { ms: NaN, error: e.message }; }
}

/** Compares the certificate seen through the tunnel with the origin's (verification on both times). */
export async function interception(direct, route, cfg) {
  try {
    const [d, p] = [await direct.peerCert(cfg.opTimeoutMs), await route.peerCert(cfg.opTimeoutMs)];
    return { intercepted: d.fingerprint !== p.fingerprint, issuerSeen: p.issuer, originIssuer: d.issuer };
  } catch (e) { return { intercepted: null, error: `${e.code ?? ''} ${e.message}`.trim() }; }
}

/** Fresh proxy: RSS baseline, then cfg.idleN tunnels each with a TLS handshake, held; KB per tunnel. */
export async function idleTunnels(route, watch, cfg) {
  for (let i = 0; i < 5; i++) await route.oneHttps('/tiny', cfg.opTimeoutMs).catch(() => {});
  await sleep(cfg.idleSettleMs);
  const sample = async () => { const a = []; for (let i = 0; i < 5; i++) { a.push(watch.rssKB()); await sleep(cfg.idleSettleMs / 5); } return median(a); };
  const baseKB = await sample();
  const socks = []; let dropped = 0;
  const t0 = now();
  const r = await pool({ concurrency: 50, total: cfg.idleN, deadlineMs: cfg.deadlineMs, fn: async () => {
    const s = await route.openTls(cfg.opTimeoutMs);
    s.on('error', () => {}); s.once('close', () => { dropped++; }); s.resume();
    socks.push(s);
  } });
  const openSecs = (now() - t0) / 1000;
  await sleep(cfg.idleHoldMs);
  const heldKB = await sample();
  const alive = socks.length - dropped;
  for (const s of socks) s.destroy();
  return { requested: cfg.idleN, opened: socks.length, alive, openErrors: r.errors, errorSamples: r.errorSamples, openSecs,
    rssBaseKB: baseKB, rssHeldKB: heldKB, kbPerTunnel: alive ? (heldKB - baseKB) / alive : NaN };
}
