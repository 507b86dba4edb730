// Text renderings of a demo result and of a calibration, for the CLI to print (pure: values in, text out).
// Must not print or measure anything.
import type { Calibration } from '../report/index.js';
import type { CalibrationRun } from './calibrate.js';
import type { DemoResult, DemoRunFigures } from './run.js';

const f1 = (x: number): string => x.toFixed(1);
const f2 = (x: number): string => x.toFixed(2);
const f3 = (x: number): string => x.toFixed(3);
const pad = (s: string, n: number): string => s.padEnd(n);
const lpad = (s: string, n: number): string => s.padStart(n);

export function formatCalibration(c: Calibration): string[] {
  return [
    `  inspected TLS handshakes (both legs) ${lpad(f3(c.cpuMsPerHandshakeInspect), 9)} CPU-ms each`,
    `  inspected payload                    ${lpad(f3(c.cpuMsPerMiBInspect), 9)} CPU-ms per MiB`,
    `  bypassed payload (splice)            ${lpad(f3(c.cpuMsPerMiBBypass), 9)} CPU-ms per MiB`,
    `  added time to first byte, inspect    ${lpad(f3(c.addedLatencyMsInspect), 9)} ms per tunnel (vs direct)`,
    `  added time to first byte, bypass     ${lpad(f3(c.addedLatencyMsBypass), 9)} ms per tunnel (vs direct)`,
    `  certificate minting                  ${lpad(f3(c.certMintMs), 9)} CPU-ms per host`,
  ];
}

export function formatCalibrationRun(run: CalibrationRun, opts: { showPath?: boolean } = {}): string {
  const d = run.details;
  const lines = [
    `calibration measured ${run.calibration.measuredAt ?? ''} (proxy process CPU from its /metrics; ${d.tunnelsPerPath} tunnels and ${f1(d.bulkMiBPerPath)} MiB per path, ${d.mintSamples} mints):`,
    ...formatCalibration(run.calibration),
    `  per tunnel with a small request: bypass ${f3(d.cpuMsPerTunnelBypass)} CPU-ms, inspect ${f3(d.cpuMsPerTunnelInspect)} CPU-ms; ` +
      `median time to first byte: direct ${f2(d.ttfbMedianMs.direct)} ms, bypass ${f2(d.ttfbMedianMs.bypass)} ms, inspect ${f2(d.ttfbMedianMs.inspect)} ms`,
  ];
  if (run.path && opts.showPath !== false) lines.push(`stored in ${run.path} (report and the dashboard use it)`);
  return lines.join('\n') + '\n';
}

function row(label: string, on: string, off: string, note = ''): string {
  return `  ${pad(label, 42)} ${lpad(on, 14)} ${lpad(off, 14)}${note ? '   ' + note : ''}`;
}

function latencyRows(on: DemoRunFigures, off: DemoRunFigures): string[] {
  const rows: string[] = [];
  for (const p of on.drive.paths) {
    const o = off.drive.paths.find((x) => x.path === p.path);
    const cell = (x: { ttfbMs: { p50: number; p95: number }; requests: number } | undefined) =>
      x && x.requests > 0 ? `${f1(x.ttfbMs.p50)} / ${f1(x.ttfbMs.p95)}` : '-';
    const speed = (x: { mibPerSecond: number; bytes: number } | undefined) => (x && x.bytes >= 1024 * 1024 ? ` ${f1(x.mibPerSecond)}` : '');
    const mibs = speed(p) || speed(o) ? `MiB/s per request: ${speed(p).trim() || '-'} → ${speed(o).trim() || '-'}` : '';
    rows.push(row(`${p.path} (${p.requests})`, cell(p), cell(o), mibs));
  }
  return rows;
}

export function formatDemo(r: DemoResult): string {
  const { on, off, saving } = r;
  const same = on.drive.requests === off.drive.requests;
  const out = [
    `autopatch-proxy demo (${r.duration}, ${f1(r.elapsedMs / 1000)} s): the same device-like mix through one proxy process in --mode inspect,`,
    `with the shipped catalog (bypass on), then with every name inspected (bypass off). Loopback origins, certificates verified.`,
    '',
    row('', 'bypass on', 'bypass off'),
    row('requests completed (errors)', `${on.drive.requests} (${on.drive.errors})`, `${off.drive.requests} (${off.drive.errors})`),
    row('proxy CPU', `${f3(on.cpuSeconds)} s`, `${f3(off.cpuSeconds)} s`, `saved ${f3(saving.cpuSeconds)} s (${f1(saving.cpuShare * 100)} %)${same ? '' : ', per request'}`),
    row('TLS handshakes intercepted', String(on.handshakesIntercepted), String(off.handshakesIntercepted), `${saving.handshakes} avoided`),
    row('certificates minted', String(on.certificatesMinted), String(off.certificatesMinted), `${saving.certificates} avoided`),
    row('CONNECT tunnels bypassed / inspected', `${on.tunnels.bypass ?? 0} / ${on.tunnels.inspect ?? 0}`, `${off.tunnels.bypass ?? 0} / ${off.tunnels.inspect ?? 0}`),
    row('throughput (all requests)', `${f1(on.drive.mibPerSecond)} MiB/s`, `${f1(off.drive.mibPerSecond)} MiB/s`),
    row('requests per second', f1(on.drive.requestsPerSecond), f1(off.drive.requestsPerSecond)),
    row('wall time of the mix', `${f2(on.drive.elapsedMs / 1000)} s`, `${f2(off.drive.elapsedMs / 1000)} s`),
    '',
    `time to first byte p50 / p95 in ms, per path (requests), ${r.concurrency} requests at a time:`,
    row('', 'bypass on', 'bypass off'),
    ...latencyRows(on, off),
    '',
    'Each request is a new connection with a full TLS handshake (many devices checking in once each).',
    'Plain-HTTP paths (Windows Update, Delivery Optimization ranges) are forwarded in both runs: no TLS to save there.',
    `Clients, origins and the proxy share ${r.cpus} CPU(s): latency and throughput under load include that contention;`,
    'the proxy CPU above and the calibration below (one request at a time) are the proxy\'s own.',
  ];
  for (const run of [on, off]) {
    if (run.drive.cut) out.push(`note: the ${run.label} run hit its time cap after ${run.drive.requests + run.drive.errors} requests`);
    if (run.drive.firstError) out.push(`note: ${run.label}: ${run.drive.errors} request(s) failed, first: ${run.drive.firstError}`);
  }
  out.push('', formatCalibrationRun(r.calibration, { showPath: false }).trimEnd(), '', `HTML report of the bypass-on log: ${r.htmlPath}`);
  if (r.workDir) out.push(`logs and catalogs kept in ${r.workDir}`);
  return out.join('\n') + '\n';
}
