// Measures the savings model's figures (report/savings.ts Calibration) on this machine: one proxy process in
// --mode inspect (catalog names spliced, unknown names inspected), its CPU read from its own /metrics, so the
// clients' and origins' CPU (this process) is not counted. Must not print; writes a file only when asked.
import { randomBytes } from 'node:crypto';
import { access, constants, rename, writeFile } from 'node:fs/promises';
import { cpuUsage } from 'node:process';
import { calibrationPath, parseCalibration, type Calibration } from '../report/index.js';
import { loadCa } from '../tls/ca.js';
import { createMinter } from '../tls/mint.js';
import { fetchOnce, type RequestSpec, type Via } from './client.js';
import { percentile } from './driver.js';
import { CALIBRATION_BYPASS_HOST, CALIBRATION_INSPECT_HOST, demoHosts } from './mix.js';
import { spawnDemoOrigins, type DemoOrigins } from './origins.js';
import { sampleDelta, startProxyProcess, type ProxyProcess, type ProxySample } from './proxy-process.js';
import { createWorkspace, type DemoWorkspace } from './workspace.js';

export type DemoDuration = 'short' | 'normal';

/** Work per phase, and the time after which a phase stops early (the figures are per unit, so still valid). */
const SIZES = {
  short: { tunnels: 80, bulkCount: 2, bulkMiB: 16, mints: 40, budgetMs: 10_000 },
  normal: { tunnels: 400, bulkCount: 4, bulkMiB: 64, mints: 200, budgetMs: 40_000 },
} as const;

export interface CalibrateOptions {
  duration?: DemoDuration;
  /** Also write calibrationPath(writeTo) (atomically: temp file + rename). */
  writeTo?: string | null;
  /** Shared with the demo; made (and removed) here when absent. */
  origins?: DemoOrigins;
  workspace?: DemoWorkspace;
  signal?: AbortSignal;
  onProgress?: (step: string, fraction: number) => void;
}

export interface CalibrationDetails {
  tunnelsPerPath: number;
  bulkMiBPerPath: number;
  cpuMsPerTunnelBypass: number; // new tunnel + tiny request, spliced
  cpuMsPerTunnelInspect: number; // the same, inspected (two TLS handshakes, HTTP relay)
  ttfbMedianMs: { direct: number; bypass: number; inspect: number };
  mintSamples: number;
  failedRequests: number; // tolerated: at most 1 in 20 per phase
}

export interface CalibrationRun {
  calibration: Calibration;
  details: CalibrationDetails;
  /** Where the figures were written, or null. */
  path: string | null;
}

const MiB = 1024 * 1024;
const round = (x: number): number => Math.round(Math.max(0, x) * 1000) / 1000;

/** Writes `rulesDir/.calibration.json` atomically (a reader never sees half a file). */
export async function writeCalibrationFile(rulesDir: string, calibration: Calibration): Promise<string> {
  const path = calibrationPath(rulesDir);
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(calibration, null, 2) + '\n', { mode: 0o644 });
  await rename(tmp, path);
  return path;
}

interface Phase {
  ttfb: number[];
  bytes: number;
  cpuMs: number;
  delta: ProxySample | null; // null when the proxy's CPU was not sampled
}

export async function calibrate(opts: CalibrateOptions = {}): Promise<CalibrationRun> {
  const size = SIZES[opts.duration ?? 'normal'];
  if (opts.writeTo) {
    // before measuring, not after: a mistyped --rules must not cost the whole run
    await access(opts.writeTo, constants.W_OK).catch((e: NodeJS.ErrnoException) => {
      throw new Error(`cannot store the calibration in ${opts.writeTo}: ${e.code ?? e.message}`);
    });
  }
  const ownWs = opts.workspace ? null : await createWorkspace(demoHosts());
  const ws = opts.workspace ?? ownWs!;
  let ownOrigins: DemoOrigins | null = null;
  let proxy: ProxyProcess | null = null;
  try {
    const origins = opts.origins ?? (ownOrigins = await spawnDemoOrigins(ws.dir, demoHosts()));
    proxy = await startProxyProcess({
      mode: 'inspect', rulesDir: ws.rulesOn, certsDir: ws.certsDir, logFile: ws.log('calibration'),
      upstreamCa: origins.caFile, connectTo: origins.connectTo,
    });
    const p = proxy;
    const ca = [origins.caPem, p.caPem!];
    const deadline = Date.now() + size.budgetMs;
    const steps = 7;
    let step = 0;
    const progress = (what: string): void => opts.onProgress?.(what, step++ / steps);
    const check = (): void => {
      if (opts.signal?.aborted) throw new Error('aborted');
    };
    const viaProxy: Via = { kind: 'proxy', port: p.port };
    const direct: Via = { kind: 'direct', httpsPort: origins.httpsPort, httpPort: origins.httpPort };
    const tiny = (host: string): RequestSpec => ({ scheme: 'https', host, path: '/checkin' });
    const bulk = (host: string): RequestSpec => ({ scheme: 'https', host, path: `/bytes/${size.bulkMiB * MiB}` });

    let errors = 0;
    let scrapeCpuMs = 0; // rendering /metrics once, subtracted from every sampled phase
    // One request at a time: CPU is per unit of work, and latencies carry no queueing.
    const serial = async (spec: RequestSpec, via: Via, n: number, measured: boolean): Promise<Phase> => {
      const before = measured ? await p.sample() : null;
      const ttfb: number[] = [];
      let bytes = 0;
      let failed = 0;
      for (let i = 0; i < n && (i === 0 || Date.now() < deadline); i++) {
        check();
        try {
          const o = await fetchOnce(spec, via, ca, 30_000, opts.signal);
          if (o.status !== 200) throw new Error(`answered ${o.status}`);
          ttfb.push(o.ttfbMs);
          bytes += o.bytes;
        } catch (e) {
          // a lone reset on a busy machine is noise (its CPU stays in the phase; the unit count excludes it)
          errors++;
          if (++failed > Math.max(2, n / 20) || opts.signal?.aborted) throw new Error(`calibration: https://${spec.host}${spec.path} via ${via.kind}: ${(e as Error).message}`);
        }
      }
      if (ttfb.length === 0) throw new Error(`calibration: no request to ${spec.host} succeeded`);
      if (!before) return { ttfb, bytes, cpuMs: 0, delta: null };
      await new Promise((r) => setTimeout(r, 30)); // let the proxy see the last close
      const delta = sampleDelta(before, await p.settle());
      return { ttfb, bytes, cpuMs: delta.cpuSeconds * 1000 - scrapeCpuMs, delta };
    };

    progress('warm-up');
    for (const host of [CALIBRATION_BYPASS_HOST, CALIBRATION_INSPECT_HOST]) {
      await serial(tiny(host), viaProxy, 10, false); // JIT, the leaf for the inspected name, upstream sessions
      await serial(tiny(host), direct, 10, false);
    }
    const s1 = await p.sample();
    scrapeCpuMs = (await p.sample()).cpuSeconds * 1000 - s1.cpuSeconds * 1000;

    progress('direct tunnels');
    const d = await serial(tiny(CALIBRATION_INSPECT_HOST), direct, size.tunnels, false);
    progress('bypassed tunnels');
    const b = await serial(tiny(CALIBRATION_BYPASS_HOST), viaProxy, size.tunnels, true);
    progress('inspected tunnels');
    const i = await serial(tiny(CALIBRATION_INSPECT_HOST), viaProxy, size.tunnels, true);
    if ((b.delta?.connections.bypass ?? 0) < b.ttfb.length || (i.delta?.connections.inspect ?? 0) < i.ttfb.length) {
      throw new Error(
        `calibration: expected ${CALIBRATION_BYPASS_HOST} bypassed and ${CALIBRATION_INSPECT_HOST} inspected, the proxy recorded ` +
          `${JSON.stringify(b.delta?.connections)} and ${JSON.stringify(i.delta?.connections)}`,
      );
    }
    const perTunnelB = b.cpuMs / b.ttfb.length;
    const perTunnelI = i.cpuMs / i.ttfb.length;

    progress('bulk through bypass');
    const bb = await serial(bulk(CALIBRATION_BYPASS_HOST), viaProxy, size.bulkCount, true);
    progress('bulk through inspection');
    const bi = await serial(bulk(CALIBRATION_INSPECT_HOST), viaProxy, size.bulkCount, true);
    // the per-tunnel share measured above is not payload work
    const perMiB = (ph: Phase, perTunnel: number): number => (ph.cpuMs - ph.ttfb.length * perTunnel) / (ph.bytes / MiB);

    progress('certificate minting');
    const minter = await createMinter(await loadCa(ws.certsDir));
    minter.mintSync('warm-up.mint.invalid');
    const c0 = cpuUsage();
    const mints = size.mints; // ~1 ms each: bounded by count alone
    for (let n = 0; n < mints; n++) minter.mintSync(`host-${n}.mint.invalid`); // what a cache miss costs, CPU only
    const mintCpu = cpuUsage(c0);

    const med = (v: number[]): number => percentile(v, 50);
    const calibration = parseCalibration({
      measured: true,
      measuredAt: new Date().toISOString(),
      cpuMsPerHandshakeInspect: round(perTunnelI - perTunnelB),
      cpuMsPerMiBInspect: round(perMiB(bi, perTunnelI)),
      cpuMsPerMiBBypass: round(perMiB(bb, perTunnelB)),
      addedLatencyMsInspect: round(med(i.ttfb) - med(d.ttfb)),
      addedLatencyMsBypass: round(med(b.ttfb) - med(d.ttfb)),
      certMintMs: round((mintCpu.user + mintCpu.system) / 1000 / mints),
    });
    opts.onProgress?.('done', 1);
    const details: CalibrationDetails = {
      tunnelsPerPath: Math.min(b.ttfb.length, i.ttfb.length),
      bulkMiBPerPath: Math.min(bb.bytes, bi.bytes) / MiB,
      cpuMsPerTunnelBypass: round(perTunnelB),
      cpuMsPerTunnelInspect: round(perTunnelI),
      ttfbMedianMs: { direct: round(med(d.ttfb)), bypass: round(med(b.ttfb)), inspect: round(med(i.ttfb)) },
      mintSamples: mints,
      failedRequests: errors,
    };
    const path = opts.writeTo ? await writeCalibrationFile(opts.writeTo, calibration) : null;
    return { calibration, details, path };
  } finally {
    await proxy?.stop();
    await ownOrigins?.close();
    await ownWs?.remove();
  }
}
