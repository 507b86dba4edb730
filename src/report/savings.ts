// Pure savings model: aggregated report data + a Calibration → what bypassing trusted traffic saved.
// Must not read files or measure anything; calibration figures come from outside (a file or the default).
import { humanBytes } from './format.js';
import { DECISIONS, type ReportData } from './types.js';

/**
 * Costs measured on the proxy's own machine (by a benchmark or the demo, written as JSON, e.g.
 * `rules/.calibration.json`). All figures are per tunnel or per MiB of tunnel payload (both directions).
 */
export interface Calibration {
  measured: boolean; // false only for DEFAULT_CALIBRATION (estimates, not measurements)
  measuredAt: string | null; // ISO-8601 time of the measurement
  cpuMsPerHandshakeInspect: number; // CPU ms for both TLS handshakes of one inspected tunnel (client + upstream legs)
  cpuMsPerMiBInspect: number; // CPU ms to decrypt, parse and re-encrypt 1 MiB through an inspected tunnel
  cpuMsPerMiBBypass: number; // CPU ms to splice 1 MiB through a bypassed tunnel
  addedLatencyMsInspect: number; // time-to-first-byte added per tunnel by inspection, vs a direct connection
  addedLatencyMsBypass: number; // time-to-first-byte added per tunnel by bypass (splice), vs direct
  certMintMs: number; // CPU ms to mint one leaf certificate (once per host: the context cache keeps it)
}

/** Used only when no calibration file exists; every report built on it says so. */
export const DEFAULT_CALIBRATION: Readonly<Calibration> = Object.freeze({
  measured: false,
  measuredAt: null,
  cpuMsPerHandshakeInspect: 4, // two RSA-2048/ECDHE handshakes in Node, order of magnitude
  cpuMsPerMiBInspect: 6, // AES-GCM twice + HTTP parsing in JS streams
  cpuMsPerMiBBypass: 0.5, // socket-to-socket pipe
  addedLatencyMsInspect: 25, // one extra TLS handshake round trip to the upstream + first-byte buffering
  addedLatencyMsBypass: 1,
  certMintMs: 3, // forge TBS + Node crypto signature (DESIGN.md: signing ≈1 ms)
});

const NUMERIC_FIELDS = [
  'cpuMsPerHandshakeInspect', 'cpuMsPerMiBInspect', 'cpuMsPerMiBBypass',
  'addedLatencyMsInspect', 'addedLatencyMsBypass', 'certMintMs',
] as const;

/** Validates a parsed calibration file; throws an Error naming `where` and the field at fault. */
export function parseCalibration(value: unknown, where = 'calibration'): Calibration {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where}: expected a JSON object`);
  const v = value as Record<string, unknown>;
  const out: Partial<Calibration> = {};
  for (const f of NUMERIC_FIELDS) {
    const n = v[f];
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new Error(`${where}: "${f}" must be a non-negative number`);
    out[f] = n;
  }
  const at = v.measuredAt;
  if (at !== undefined && at !== null && (typeof at !== 'string' || Number.isNaN(Date.parse(at)))) {
    throw new Error(`${where}: "measuredAt" must be an ISO-8601 date`);
  }
  // A file is a measurement unless it says otherwise.
  return { ...(out as Calibration), measured: v.measured !== false, measuredAt: typeof at === 'string' ? at : null };
}

export interface SavingsPoint {
  t: number; // bucket start, epoch ms
  cpuSecondsSaved: number; // in this bucket
  cumulativeCpuSecondsSaved: number;
  bytesNotDecrypted: number; // in this bucket
}

export interface Savings {
  calibration: Calibration;
  /** Set when the figures rest on DEFAULT_CALIBRATION or on a calibration marked measured:false. */
  warning: string | null;
  cpuSecondsIfInspected: number;
  cpuSecondsActual: number;
  cpuSecondsSaved: number;
  handshakesAvoided: number; // bypassed CONNECT tunnels
  certificatesAvoided: number; // distinct bypassed hosts
  certificatesAvoidedIsLowerBound: boolean; // the distinct-host set hit its memory cap
  bytesNotDecrypted: number; // bytes of bypassed tunnels
  latencyNotAddedSeconds: number; // summed over tunnels
  latencyNotAddedMsPerTunnel: number;
  bypassShareOfBytes: number; // 0..1
  series: SavingsPoint[];
  assumptions: string[];
}

const MIB = 1024 * 1024;

/**
 * The model. Only bypassed CONNECT tunnels are counted: plain-HTTP requests would not be decrypted if
 * inspected, so bypassing them saves no TLS work. With
 *   H = bypassed tunnels (connect records, decision bypass)
 *   C = distinct hosts among them (inspection mints one leaf per host; the context cache reuses it)
 *   M = their bytes (in + out) / 2^20
 * the figures are
 *   CPU if inspected   = H·cpuMsPerHandshakeInspect + C·certMintMs + M·cpuMsPerMiBInspect
 *   CPU actually spent = M·cpuMsPerMiBBypass
 *   CPU saved          = the difference (seconds)
 *   handshakes avoided = H;  certificates avoided = C;  bytes not decrypted = M·2^20
 *   latency not added  = H·(addedLatencyMsInspect − addedLatencyMsBypass)
 * Costs are linear in tunnels and bytes; idle tunnel memory and the operator's risk are not modelled.
 * Without bypass traffic every figure is zero.
 */
export function computeSavings(data: ReportData, calibration: Calibration): Savings {
  const c = calibration;
  const tunnels = data.totals.bypass.connections;
  const bytes = data.tunnelBytes.bypass;
  const hosts = data.bypassHosts.distinct;
  const cpuIfInspected = (tunnels * c.cpuMsPerHandshakeInspect + hosts * c.certMintMs + (bytes / MIB) * c.cpuMsPerMiBInspect) / 1000;
  const cpuActual = ((bytes / MIB) * c.cpuMsPerMiBBypass) / 1000;
  const latencyPerTunnel = c.addedLatencyMsInspect - c.addedLatencyMsBypass;
  const bucketSaved = (conns: number, b: number, newHosts: number): number =>
    (conns * c.cpuMsPerHandshakeInspect + newHosts * c.certMintMs + (b / MIB) * (c.cpuMsPerMiBInspect - c.cpuMsPerMiBBypass)) / 1000;
  let cumulative = 0;
  const series = data.series.buckets.map((b) => {
    const saved = bucketSaved(b.connections.bypass, b.bypassTunnelBytes, b.newBypassHosts);
    cumulative += saved;
    return { t: b.t, cpuSecondsSaved: saved, cumulativeCpuSecondsSaved: cumulative, bytesNotDecrypted: b.bypassTunnelBytes };
  });
  const allBytes = DECISIONS.reduce((s, d) => s + data.totals[d].bytesIn + data.totals[d].bytesOut, 0);
  const bypassBytes = data.totals.bypass.bytesIn + data.totals.bypass.bytesOut;
  return {
    calibration: { ...c },
    warning: c.measured
      ? null
      : 'No calibration measured on this machine: the savings below use built-in estimates (DEFAULT_CALIBRATION, measured:false).',
    cpuSecondsIfInspected: cpuIfInspected,
    cpuSecondsActual: cpuActual,
    cpuSecondsSaved: cpuIfInspected - cpuActual,
    handshakesAvoided: tunnels,
    certificatesAvoided: hosts,
    certificatesAvoidedIsLowerBound: data.bypassHosts.capped,
    bytesNotDecrypted: bytes,
    latencyNotAddedSeconds: (tunnels * latencyPerTunnel) / 1000,
    latencyNotAddedMsPerTunnel: latencyPerTunnel,
    bypassShareOfBytes: allBytes > 0 ? bypassBytes / allBytes : 0,
    series,
    assumptions: [
      `Only bypassed CONNECT tunnels count; plain-HTTP bypass (${humanBytes(bypassBytes - bytes)}) would not be decrypted either.`,
      `Inspection: ${c.cpuMsPerHandshakeInspect} CPU-ms per tunnel for its two TLS handshakes, ${c.certMintMs} ms per certificate (one per host), ${c.cpuMsPerMiBInspect} CPU-ms per MiB.`,
      `Bypass: ${c.cpuMsPerMiBBypass} CPU-ms per MiB spliced.`,
      `Added time to first byte per tunnel: inspect ${c.addedLatencyMsInspect} ms, bypass ${c.addedLatencyMsBypass} ms.`,
      c.measured ? `Calibration measured ${c.measuredAt ?? '(time not recorded)'}.` : 'Calibration: built-in estimates, not measured.',
    ],
  };
}

/** The savings figures every rendering shows (report JSON, the dashboard's live snapshot). */
export function savingsFigures(s: Savings) {
  return {
    warning: s.warning,
    cpuSecondsSaved: s.cpuSecondsSaved,
    cpuSecondsIfInspected: s.cpuSecondsIfInspected,
    cpuSecondsActual: s.cpuSecondsActual,
    handshakesAvoided: s.handshakesAvoided,
    certificatesAvoided: s.certificatesAvoided,
    certificatesAvoidedIsLowerBound: s.certificatesAvoidedIsLowerBound,
    bytesNotDecrypted: s.bytesNotDecrypted,
    latencyNotAddedSeconds: s.latencyNotAddedSeconds,
  };
}
