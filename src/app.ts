// Composition root: builds the logger, catalog, policy, handlers and listeners from a frozen Config.
// Knows nothing of the CLI and never exits the process (main.ts does).
import type { AddressInfo, Server as NetServer } from 'node:net';
import type http from 'node:http';
import type { Config } from './config/schema.js';
import { createLogger, type LoggerHandle } from './observability/logger.js';
import { createTelemetry } from './observability/telemetry.js';
import { createAddressSet } from './policy/address-set.js';
import { createProxyServer, type ProxyServer } from './proxy/server.js';
import type { ProxyContext } from './proxy/context.js';
import { parseParent } from './tunnel/upstream.js';
import { createAdminServer, type AdminRoute } from './observability/admin.js';
import { createMetrics, catalogRuleCounts } from './observability/metrics.js';
import { adminRoutes, caPemRoute } from './observability/admin-routes.js';
import { loadCalibration, calibrationPath } from './report/index.js';
import { openTlsUpstream } from './tunnel/upstream.js';
import { createUpstreamPool, UPSTREAM_POOL_DEFAULTS } from './tunnel/upstream-pool.js';
import { createIdleSweeper } from './tunnel/idle-sweeper.js';
import { createInterceptor, type Interceptor } from './tunnel/intercept.js';
import { createContextCache } from './tls/context-cache.js';
import { warmProxyPaths, type WarmupInspect } from './proxy/warmup.js';
import { createSessionCache, upstreamSecureContext } from './tls/options.js';
import { loadHtpasswd, formatHtpasswdIssue } from './proxy/htpasswd.js';
import { createAuthenticator, type Authenticator } from './proxy/auth.js';
import { readFile } from 'node:fs/promises';
import { loadRules } from './catalog/load.js';
import { pacRoute } from './catalog/pac.js';
import { diffCatalogs } from './catalog/diff.js';
import type { CompiledCatalog } from './catalog/compile.js';
import type { ProxyContext as Ctx } from './proxy/context.js';
import type { Telemetry } from './observability/telemetry.js';

/** Thrown for start-up problems the operator must fix (bad CA, unreadable files): one clear line. */
export class StartError extends Error {
  readonly code = 'start_failed';
}

async function buildInterceptor(config: Config, ctx: Ctx, telemetry: Telemetry, notice: (msg: string) => void): Promise<{ interceptor: Interceptor; warm: WarmupInspect }> {
  // node-forge (5-10 MB resident) is loaded only here, in --mode inspect (tls/cert-host.ts)
  const [{ ensureCa }, { createMinter }] = await Promise.all([import('./tls/ca.js'), import('./tls/mint.js')]);
  const ca = await ensureCa(config.certsDir);
  if (ca.created) notice(`created the inspection CA in ${ca.certPath} (enrol it on devices: autopatch-proxy ca export)`);
  const minter = await createMinter(ca);
  const cache = createContextCache({
    minter,
    max: config.limits.certCacheSize,
    onLookup: (r) => telemetry.certCache(r),
    onMint: (ms) => telemetry.certMint(ms / 1000),
  });
  let upstreamCa: string[] = [];
  if (config.upstreamCa) {
    try {
      upstreamCa = [await readFile(config.upstreamCa, 'utf8')];
    } catch (e) {
      throw new StartError(`--upstream-ca: cannot read ${config.upstreamCa} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  // the upstream trust store (~140 roots) is parsed once, here rather than on the first inspected request;
  // the rest of that request's first-use costs are paid by the warm-up tunnels (proxy/warmup.ts)
  upstreamSecureContext(upstreamCa);
  const trust = { ca: upstreamCa, sessions: createSessionCache() };
  const interceptor = createInterceptor({
    cache,
    telemetry,
    maxHeaderBytes: config.limits.maxHeaderBytes,
    pool: createUpstreamPool(UPSTREAM_POOL_DEFAULTS),
    open: (target, servername) => openTlsUpstream(target, servername, config, ctx.deny, ctx.parent, trust),
  });
  return { interceptor, warm: { minter, caPem: ca.certPem } };
}

async function buildAuth(file: string, maxFailures: number, notice: (msg: string) => void, telemetry: Telemetry): Promise<Authenticator> {
  let parsed;
  try {
    parsed = await loadHtpasswd(file);
  } catch (e) {
    throw new StartError(`--auth: ${(e as Error).message}`);
  }
  for (const issue of [...parsed.errors, ...parsed.warnings]) notice(formatHtpasswdIssue(issue));
  if (parsed.users.size === 0) throw new StartError(`--auth: ${file} has no usable entries`);
  return createAuthenticator({ users: parsed.users, maxFailures, onResult: (o) => telemetry.authCheck(o) });
}

export interface App {
  readonly ctx: ProxyContext;
  readonly metrics: ReturnType<typeof createMetrics>;
  start(): Promise<{ proxy: AddressInfo; admin: AddressInfo | null }>;
  /** Graceful: stop accepting, let in-flight work finish within the grace period. */
  stop(): Promise<void>;
  reload(): Promise<void>;
}

function listen(server: NetServer, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, backlog: 4096 }, () => {
      server.removeListener('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

export async function createApp(config: Config, opts: { logger?: LoggerHandle; notice?: (msg: string) => void } = {}): Promise<App> {
  const notice = opts.notice ?? (() => {});
  const log = opts.logger ?? createLogger({ file: config.logFile, level: config.logLevel });
  let calibration;
  try {
    calibration = await loadCalibration(calibrationPath(config.rulesDir));
  } catch (e) {
    notice(`${(e as Error).message}; using the default (unmeasured) savings model`);
  }
  const metrics = createMetrics(calibration ? { calibration } : {});
  const telemetry = createTelemetry(log.logger, metrics.sink);
  const ctx: ProxyContext = {
    config,
    policy: { mode: config.mode, unknown: config.unknown },
    telemetry,
    deny: createAddressSet(config.denyDestinations),
    parent: parseParent(config.upstreamProxy),
    catalog: null,
    auth: null,
    interceptor: null,
    tunnels: new Set(),
    idle: createIdleSweeper(config.limits.idleTimeoutMs),
    draining: false,
  };
  let warmInspect: WarmupInspect | null = null;
  if (config.mode === 'inspect') {
    try {
      const built = await buildInterceptor(config, ctx, telemetry, notice);
      ctx.interceptor = built.interceptor;
      warmInspect = built.warm;
    } catch (e) {
      if (e instanceof StartError) throw e;
      const err = e as NodeJS.ErrnoException;
      throw new StartError(`inspection CA in ${config.certsDir}: ${err.message}`);
    }
  }
  const loaded = await loadRules(config.rulesDir);
  if (loaded.errors.length > 0) {
    const e = loaded.errors[0]!;
    const more = loaded.errors.length > 1 ? ` (and ${loaded.errors.length - 1} more; run: autopatch-proxy rules check --rules ${config.rulesDir})` : '';
    throw new StartError(`${e.file}:${e.line}: ${e.message}${more}`);
  }
  let catalog: CompiledCatalog = loaded.catalog;
  ctx.catalog = catalog;
  metrics.setCatalogRules(catalogRuleCounts(loaded.sources));
  let authenticator: Authenticator | null = null;
  if (config.auth) {
    authenticator = await buildAuth(config.auth, config.limits.authMaxFailures, notice, telemetry);
    ctx.auth = authenticator;
  }
  let proxy: ProxyServer | null = null;
  let admin: http.Server | null = null;
  let listening = false;

  const extraRoutes = (): Record<string, AdminRoute> => {
    const routes: Record<string, AdminRoute> = {};
    // the certificate only, for device enrolment; the key is never served
    routes['/ca.pem'] = caPemRoute(config.certsDir);
    return routes;
  };

  return {
    ctx,
    metrics,
    async start() {
      // the first device after a start finds warm code: one spliced and one inspected tunnel, privately
      const warmStarted = performance.now();
      const warmed = await warmProxyPaths(ctx, warmInspect);
      const warmupMs = Math.round(performance.now() - warmStarted);
      proxy = createProxyServer(ctx);
      const p = await listen(proxy.server, config.listen.host, config.listen.port);
      listening = true;
      let a: AddressInfo | null = null;
      if (config.admin) {
        const pac = pacRoute(() => catalog, { listen: { host: p.address, port: p.port }, pacDirect: config.pacDirect });
        admin = createAdminServer({ ...adminRoutes(metrics), ...extraRoutes(), '/proxy.pac': pac }, () => listening);
        a = await listen(admin, config.admin.host, config.admin.port);
      }
      log.logger.info({ event: 'start', listen: `${p.address}:${p.port}`, admin: a ? `${a.address}:${a.port}` : null, mode: config.mode, warmed, warmupMs }, 'autopatch-proxy listening');
      return { proxy: p, admin: a };
    },
    async stop() {
      listening = false;
      if (admin) admin.close();
      if (proxy) await proxy.drain(config.limits.graceMs);
      ctx.idle.stop();
      ctx.interceptor?.close();
      log.logger.info({ event: 'stop' }, 'autopatch-proxy stopped');
      await log.flush();
    },
    async reload() {
      log.reopen();
      const next = await loadRules(config.rulesDir);
      if (next.errors.length > 0) {
        log.logger.warn({ event: 'reload', what: 'rules', errors: next.errors.slice(0, 20) }, 'rules reload failed; keeping the previous catalog');
      } else {
        const diff = diffCatalogs(catalog, next.catalog);
        catalog = next.catalog;
        ctx.catalog = catalog; // open tunnels keep the decision they were made with
        metrics.setCatalogRules(catalogRuleCounts(next.sources));
        log.logger.info(
          {
            event: 'reload',
            what: 'rules',
            counts: { added: diff.added.length, removed: diff.removed.length, recategorised: diff.recategorised.length },
            added: diff.added.slice(0, 50),
            removed: diff.removed.slice(0, 50),
            recategorised: diff.recategorised.slice(0, 50),
            versions: diff.versions,
          },
          diff.same ? 'rules reloaded (no change)' : 'rules reloaded',
        );
      }
      if (config.auth && authenticator) {
        try {
          const parsed = await loadHtpasswd(config.auth);
          if (parsed.users.size > 0) authenticator.replaceUsers(parsed.users);
          log.logger.info({ event: 'reload', what: 'auth', users: parsed.users.size, errors: parsed.errors.length }, 'htpasswd reloaded');
        } catch (e) {
          log.logger.warn({ event: 'reload', what: 'auth', error: (e as Error).message }, 'htpasswd reload failed; keeping the old users');
        }
      }
    },
  };
}
