// `autopatch-proxy demo`: origins, a short calibration, the device mix through the proxy with bypass on and
// then off (everything inspected), the measured difference and the HTML report of the bypass-on log.
// Its only human output is the progress line on the given stream; every server and child it starts is stopped.
import { access, constants } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { runReport } from '../report/index.js';
import { calibrate, type CalibrationRun, type DemoDuration } from './calibrate.js';
import { drive, type DriveResult } from './driver.js';
import { DEMO_MIX, demoHosts, planRequests } from './mix.js';
import { spawnDemoOrigins, type DemoOrigins } from './origins.js';
import { sampleDelta, startProxyProcess, type ProxyProcess } from './proxy-process.js';
import { createWorkspace, type DemoWorkspace } from './workspace.js';

export type { DemoDuration } from './calibrate.js';
export const DEFAULT_DEMO_HTML = 'autopatch-proxy-demo.html';

/** Requests per run; the time cap keeps `short` near 20 s and `normal` under 2 minutes in all. */
const DRIVE = {
  short: { requests: 480, concurrency: 8, maxMs: 8_000, requestTimeoutMs: 5_000 },
  normal: { requests: 3000, concurrency: 12, maxMs: 35_000, requestTimeoutMs: 10_000 },
} as const;

export interface DemoOptions {
  duration?: DemoDuration;
  /** HTML report path; default ./autopatch-proxy-demo.html. */
  html?: string;
  /** Progress line (stderr in the CLI); null = silent. */
  progress?: (NodeJS.WritableStream & { isTTY?: boolean }) | null;
  signal?: AbortSignal;
  /** Keep the temp dir (NDJSON logs, catalogs) and say where it is. */
  keepWorkDir?: boolean;
}

export interface DemoRunFigures {
  label: 'bypass on' | 'bypass off';
  cpuSeconds: number; // the proxy process's CPU during the drive
  handshakesIntercepted: number; // inspected CONNECT tunnels (the proxy terminated TLS)
  certificatesMinted: number;
  tunnels: Record<string, number>; // CONNECT tunnels by decision
  drive: DriveResult;
}

export interface DemoResult {
  duration: DemoDuration;
  concurrency: number;
  cpus: number; // shared by the clients, the origins and the proxy
  elapsedMs: number;
  calibration: CalibrationRun;
  on: DemoRunFigures;
  off: DemoRunFigures;
  saving: {
    cpuSeconds: number; // off − on, for the same requests (per-request when a run was cut short)
    cpuShare: number; // 0..1 of the bypass-off CPU
    handshakes: number;
    certificates: number;
  };
  htmlPath: string;
  reportText: string;
  workDir: string | null;
}

interface Progress {
  phase(label: string): void;
  update(fraction: number, detail: string): void;
  end(): void;
}

const PHASES = 5;

/** Plain text; `\r` redraws only on a TTY, else one line per phase. */
function createProgress(out: DemoOptions['progress']): Progress {
  let n = 0;
  let label = '';
  let lastDraw = 0;
  const tty = Boolean(out?.isTTY);
  const draw = (fraction: number, detail: string): void => {
    const overall = Math.min(1, (n - 1 + fraction) / PHASES);
    const filled = Math.round(overall * 24);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(24 - filled)}] ${n}/${PHASES} ${label}${detail ? `: ${detail}` : ''}`;
    out!.write(`\r${line.slice(0, 100).padEnd(100)}`);
  };
  return {
    phase(l) {
      n++;
      label = l;
      if (!out) return;
      if (tty) draw(0, '');
      else out.write(`demo ${n}/${PHASES}: ${l}\n`);
    },
    update(fraction, detail) {
      if (!out || !tty || Date.now() - lastDraw < 100) return;
      lastDraw = Date.now();
      draw(fraction, detail);
    },
    end() {
      if (out && tty) out.write(`\r${' '.repeat(100)}\r`);
    },
  };
}

async function measuredRun(
  label: DemoRunFigures['label'], ws: DemoWorkspace, origins: DemoOrigins, rulesDir: string, size: (typeof DRIVE)[DemoDuration],
  progress: Progress, signal: AbortSignal | undefined,
): Promise<DemoRunFigures> {
  let proxy: ProxyProcess | null = null;
  try {
    proxy = await startProxyProcess({
      mode: 'inspect', rulesDir, certsDir: ws.certsDir, logFile: ws.log(label.replace(' ', '-')),
      upstreamCa: origins.caFile, connectTo: origins.connectTo,
    });
    const before = await proxy.sample();
    const result = await drive({
      via: { kind: 'proxy', port: proxy.port },
      ca: [origins.caPem, proxy.caPem!],
      plan: planRequests(DEMO_MIX, size.requests, 1), // the same sequence in both runs
      concurrency: size.concurrency,
      maxMs: size.maxMs,
      requestTimeoutMs: size.requestTimeoutMs,
      ...(signal ? { signal } : {}),
      onProgress: (done, total) => progress.update(done / total, `${done}/${total} requests`),
    });
    if (signal?.aborted) throw new Error('aborted');
    if (result.requests === 0) throw new Error(`demo (${label}): no request succeeded; first error: ${result.firstError}`);
    await new Promise((r) => setTimeout(r, 30));
    const delta = sampleDelta(before, await proxy.settle());
    return {
      label,
      cpuSeconds: delta.cpuSeconds,
      handshakesIntercepted: delta.connections.inspect ?? 0,
      certificatesMinted: delta.certMints,
      tunnels: delta.connections,
      drive: result,
    };
  } finally {
    await proxy?.stop(); // flushes its NDJSON log
  }
}

export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const duration = opts.duration ?? 'normal';
  const html = resolve(opts.html ?? DEFAULT_DEMO_HTML);
  const started = Date.now();
  // checked first: a report that cannot be written must not cost the whole run
  await access(dirname(html), constants.W_OK).catch((e: NodeJS.ErrnoException) => {
    throw new Error(`cannot write the HTML report to ${html}: ${e.code ?? e.message}`);
  });
  const progress = createProgress(opts.progress ?? null);
  const hosts = demoHosts();
  const ws = await createWorkspace(hosts);
  let origins: DemoOrigins | null = null;
  try {
    progress.phase('starting local origins');
    origins = await spawnDemoOrigins(ws.dir, hosts);
    progress.phase('calibrating on this machine');
    const calibration = await calibrate({
      duration: 'short', origins, workspace: ws, writeTo: ws.rulesOn,
      ...(opts.signal ? { signal: opts.signal } : {}),
      onProgress: (step, f) => progress.update(f, step),
    });
    progress.phase('device mix, bypass on (shipped catalog)');
    const on = await measuredRun('bypass on', ws, origins, ws.rulesOn, DRIVE[duration], progress, opts.signal);
    if ((on.tunnels.bypass ?? 0) === 0) throw new Error(`demo: the bypass-on run bypassed nothing (tunnels ${JSON.stringify(on.tunnels)})`);
    progress.phase('device mix, bypass off (everything inspected)');
    const off = await measuredRun('bypass off', ws, origins, ws.rulesOff, DRIVE[duration], progress, opts.signal);
    if ((off.tunnels.bypass ?? 0) !== 0) throw new Error(`demo: the bypass-off run still bypassed (tunnels ${JSON.stringify(off.tunnels)})`);
    progress.phase('writing the report');
    const report = await runReport({ paths: [ws.log('bypass-on')], html, calibration: calibration.calibration });
    // per request, so a run cut short by its time cap is still compared on the same work
    const perRequest = (r: DemoRunFigures): number => r.cpuSeconds / Math.max(1, r.drive.requests);
    const cpuOffSame = perRequest(off) * on.drive.requests;
    return {
      duration,
      concurrency: DRIVE[duration].concurrency,
      cpus: availableParallelism(),
      elapsedMs: Date.now() - started,
      calibration,
      on,
      off,
      saving: {
        cpuSeconds: cpuOffSame - on.cpuSeconds,
        cpuShare: cpuOffSame > 0 ? 1 - on.cpuSeconds / cpuOffSame : 0,
        handshakes: off.handshakesIntercepted - on.handshakesIntercepted,
        certificates: off.certificatesMinted - on.certificatesMinted,
      },
      htmlPath: report.htmlPath ?? html,
      reportText: report.stdout,
      workDir: opts.keepWorkDir ? ws.dir : null,
    };
  } finally {
    progress.end();
    await origins?.close();
    if (!opts.keepWorkDir) await ws.remove();
  }
}
