// --workers N: a node:cluster primary that forks N proxy processes sharing the listener, serves the admin
// listener with metrics aggregated across them (prom-client AggregatorRegistry), propagates SIGHUP/SIGTERM
// and restarts a crashed worker with a logged reason. Process lifetime only: no proxy logic here.
import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import promClient from 'prom-client';
import type { Config } from './config/schema.js';
import { createAdminServer } from './observability/admin.js';
import { caPemRoute } from './observability/admin-routes.js';
import { dashboardHtml } from './observability/dashboard.js';
import { mergeSnapshots } from './observability/merge-snapshots.js';
import type { DashboardSnapshot } from './observability/live.js';
import { createLogger } from './observability/logger.js';
import { loadRules } from './catalog/load.js';
import { pacRoute } from './catalog/pac.js';
import type { CompiledCatalog } from './catalog/compile.js';

const SNAPSHOT_TIMEOUT_MS = 1000;
const RESTART_DELAY_MS = 500;
/** A worker dying this soon after its start this many times in a row is a crash loop: give up. */
const EARLY_EXIT_MS = 3000;
const MAX_EARLY_EXITS = 5;

interface SnapshotReply {
  type: 'ap:snapshot-reply';
  id: number;
  snapshot: DashboardSnapshot;
}

export interface PrimaryHooks {
  notice(msg: string): void;
  exit(code: number): never;
}

export async function runPrimary(config: Config, workers: number, hooks: PrimaryHooks): Promise<void> {
  const log = createLogger({ file: config.logFile, level: config.logLevel });
  const aggregator = new promClient.AggregatorRegistry();
  let stopping = false;
  let listening: AddressInfo | null = null;
  const ready = new Set<number>();
  let nextId = 1;
  const started = new Map<number, number>();
  let earlyExits = 0;
  const pending = new Map<number, { replies: DashboardSnapshot[]; expected: number; done: () => void }>();

  const fork = () => {
    const w = cluster.fork();
    started.set(w.id, Date.now());
    w.on('listening', (addr: AddressInfo) => {
      ready.add(w.id);
      if (!listening) {
        listening = addr;
        hooks.notice(`proxy on ${addr.address}:${addr.port}` + (adminAddr ? `, admin on http://${adminAddr.address}:${adminAddr.port}/` : '') + ` (mode ${config.mode}, ${workers} workers)`);
      }
    });
    w.on('message', (msg: SnapshotReply) => {
      if (msg?.type !== 'ap:snapshot-reply') return;
      const p = pending.get(msg.id);
      if (!p) return;
      p.replies.push(msg.snapshot);
      if (p.replies.length >= p.expected) p.done();
    });
    return w;
  };
  cluster.on('exit', (w: Worker, code: number | null, signal: string | null) => {
    ready.delete(w.id);
    if (stopping) return;
    const early = Date.now() - (started.get(w.id) ?? 0) < EARLY_EXIT_MS;
    started.delete(w.id);
    earlyExits = early ? earlyExits + 1 : 0;
    if (earlyExits >= MAX_EARLY_EXITS) {
      log.logger.fatal({ event: 'worker_exit', code, signal }, 'workers keep exiting right after start; giving up');
      hooks.notice(`workers keep exiting right after start (${signal ?? `code ${code}`}); giving up`);
      stopping = true;
      for (const x of Object.values(cluster.workers ?? {})) x?.process.kill('SIGKILL');
      hooks.exit(1);
    }
    log.logger.error({ event: 'worker_exit', workerPid: w.process.pid, code, signal }, `worker ${w.process.pid} exited (${signal ?? `code ${code}`}); restarting`);
    setTimeout(() => {
      if (!stopping) fork();
    }, RESTART_DELAY_MS);
  });

  const liveWorkers = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => Boolean(w && w.isConnected()));
  const snapshot = (): Promise<DashboardSnapshot | null> =>
    new Promise((resolve) => {
      const ws = liveWorkers();
      const id = nextId++;
      const entry = { replies: [] as DashboardSnapshot[], expected: ws.length, done: () => {} };
      const finish = () => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(mergeSnapshots(entry.replies));
      };
      entry.done = finish;
      pending.set(id, entry);
      const timer = setTimeout(finish, SNAPSHOT_TIMEOUT_MS);
      if (ws.length === 0) finish();
      for (const w of ws) w.send({ type: 'ap:snapshot', id });
    });

  // the primary keeps its own copy of the catalog for /proxy.pac (workers classify with theirs)
  let pacCatalog: CompiledCatalog | null = (await loadRules(config.rulesDir)).catalog;
  let adminAddr: AddressInfo | null = null;
  const admin = config.admin
    ? createAdminServer(
        {
          '/': { contentType: 'text/html; charset=utf-8', body: dashboardHtml },
          '/metrics': { contentType: aggregator.contentType, body: () => aggregator.clusterMetrics() },
          '/api/live': { contentType: 'application/json; charset=utf-8', body: async () => JSON.stringify(await snapshot()) },
          '/ca.pem': caPemRoute(config.certsDir),
          '/proxy.pac': pacRoute(() => pacCatalog, { listen: config.listen, pacDirect: config.pacDirect }),
        },
        () => ready.size > 0,
      )
    : null;
  if (admin && config.admin) {
    await new Promise<void>((resolve, reject) => {
      admin.once('error', reject);
      admin.listen(config.admin!.port, config.admin!.host, () => resolve());
    });
    adminAddr = admin.address() as AddressInfo;
  }
  for (let i = 0; i < workers; i++) fork();

  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    hooks.notice(`${signal}: draining ${liveWorkers().length} workers (up to ${config.limits.graceMs} ms)`);
    admin?.close();
    const ws = Object.values(cluster.workers ?? {}).filter((w): w is Worker => Boolean(w));
    let left = ws.length;
    const done = () => {
      log.logger.info({ event: 'stop' }, 'autopatch-proxy stopped');
      void Promise.resolve(log.flush()).then(() => hooks.exit(0));
    };
    if (left === 0) done();
    for (const w of ws) {
      w.once('exit', () => {
        if (--left === 0) done();
      });
      w.process.kill('SIGTERM');
    }
    // a worker that ignores SIGTERM past the grace period is killed
    setTimeout(() => ws.forEach((w) => w.process.kill('SIGKILL')), config.limits.graceMs + 2000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    log.reopen();
    void loadRules(config.rulesDir).then((r) => {
      if (r.errors.length === 0) pacCatalog = r.catalog;
    });
    for (const w of liveWorkers()) w.process.kill('SIGHUP');
  });
}

/** In a worker: answer the primary's snapshot requests and expose the registry to AggregatorRegistry. */
export function serveWorker(metrics: { registry: promClient.Registry; snapshot(): DashboardSnapshot }): void {
  // prom-client adds the worker's IPC listener only when an AggregatorRegistry is constructed
  new promClient.AggregatorRegistry();
  promClient.AggregatorRegistry.setRegistries([metrics.registry]);
  process.on('message', (msg: { type?: string; id?: number }) => {
    if (msg?.type === 'ap:snapshot' && process.send) process.send({ type: 'ap:snapshot-reply', id: msg.id, snapshot: metrics.snapshot() });
  });
}

