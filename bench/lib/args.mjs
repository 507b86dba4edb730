// Command-line settings of bench/run.mjs: full-run defaults, --quick sizes, explicit overrides.
// Returns one plain object; nothing else reads process.argv.
import { parseCli } from './cli.mjs';

export const USAGE = `usage: node bench/run.mjs [--quick] [--path bypass,log,inspect,bypass-w2] [--peers [squid,squid-bump,tinyproxy,proxy-chain,http-mitm-proxy]]
  sizes:   --bulk-mib N  --bulk-reps N  --lat-n N  --conc N  --conc-n N  --ka-n N  --plain-conns N  --plain-secs S
           --idle-n N  --idle-hold-s S  --deadline-s S (per phase, round and side, default 30; --quick: 10)
           --cold-runs N (fresh starts for the cold first request, median; default 3, --quick: 1)
           --rounds N (interleaved rounds of the latency, concurrency and plain-HTTP phases, each with 1/N of
           the counts; default 3, --quick: 1; bulk phases run --bulk-reps rounds of one transfer)
  clients: --no-wrk (Node loop for plain HTTP even when wrk is installed)  --no-curl (Node client for bulk)
  cpus:    --no-pin (let everything float)  --load-cpus LIST (default 0)  --proxy-cpus LIST (default 1)
  select:  --phases bulk_https,bulk_http,latency,conc_new,conc_keepalive,http_plain (default all)  --no-idle
  output:  --out DIR (default: a new temp dir)  --keep-logs (keep the proxies' NDJSON logs)`;

const FULL = {
  bulkMiB: 256, bulkReps: 3, latN: 300, latWarmup: 30, conc: 200, concN: 3000, kaN: 30000,
  plainConns: 50, plainSecs: 5, plainWarmupSecs: 1, plainMaxN: 5_000_000, idleN: 2000, idleHoldS: 3, idleSettleMs: 1000,
  deadlineS: 30, opTimeoutMs: 20000, readyTimeoutMs: 30000, coldRuns: 3, rounds: 3,
};
const QUICK = {
  bulkMiB: 32, bulkReps: 1, latN: 60, latWarmup: 10, concN: 400, kaN: 4000, plainSecs: 1, plainWarmupSecs: 0.5,
  idleN: 200, idleHoldS: 0.5, idleSettleMs: 300, deadlineS: 10, opTimeoutMs: 10000, coldRuns: 1, rounds: 1,
};
const NUMERIC = {
  'bulk-mib': 'bulkMiB', 'bulk-reps': 'bulkReps', 'lat-n': 'latN', conc: 'conc', 'conc-n': 'concN', 'ka-n': 'kaN',
  'plain-conns': 'plainConns', 'plain-secs': 'plainSecs', 'idle-n': 'idleN', 'idle-hold-s': 'idleHoldS', 'deadline-s': 'deadlineS', 'cold-runs': 'coldRuns', rounds: 'rounds',
};
const FLAGS = { quick: 'quick', 'no-pin': 'noPin', 'no-wrk': 'noWrk', 'no-curl': 'noCurl', 'keep-logs': 'keepLogs', 'no-idle': 'noIdle', help: 'help' };

export function parseArgs(argv) {
  const spec = {
    ...Object.fromEntries(Object.keys(NUMERIC).map((k) => [k, { type: 'number' }])),
    ...Object.fromEntries(Object.keys(FLAGS).filter((k) => k !== 'help').map((k) => [k, { type: 'boolean' }])),
    path: { type: 'list' }, peers: { type: 'string', optionalValue: true }, out: { type: 'string' }, phases: { type: 'list' },
    'load-cpus': { type: 'string' }, 'proxy-cpus': { type: 'string' },
  };
  const v = parseCli(argv, spec, USAGE);
  const o = { paths: v.path ?? [], phases: v.phases ?? null, peers: v.peers === undefined ? null : v.peers.split(',').filter(Boolean), out: v.out ?? null, loadCpus: v['load-cpus'] ?? '0', proxyCpus: v['proxy-cpus'] ?? '1' };
  for (const [k, key] of Object.entries(FLAGS)) if (v[k]) o[key] = true;
  const given = {};
  for (const [k, key] of Object.entries(NUMERIC)) {
    if (v[k] === undefined) continue;
    if (!(v[k] >= 0)) throw new Error(`--${k}: not a number`);
    given[key] = v[k];
  }
  // with peers, the inspect path too: it is the one the intercepting peers (squid-bump, http-mitm-proxy) compete with
  if (!o.paths.length) o.paths = o.peers ? ['bypass', 'log', 'inspect'] : ['bypass', 'log'];
  const sizes = { ...FULL, ...(o.quick ? QUICK : {}), ...given };
  const cfg = { ...o, ...sizes };
  cfg.mode = o.quick ? 'quick' : 'full';
  cfg.bulkBytes = Math.round(cfg.bulkMiB * 1024 * 1024);
  cfg.deadlineMs = cfg.deadlineS * 1000;
  cfg.idleHoldMs = cfg.idleHoldS * 1000;
  cfg.opTimeoutMs = Math.min(cfg.opTimeoutMs, cfg.deadlineMs);
  return cfg;
}
