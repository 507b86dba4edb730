// Composition root: builds the logger, catalog, policy, handlers and listeners from a frozen Config.
// Knows nothing of the CLI and never exits the process (main.ts does).
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import type { Config } from './config/schema.js';
import { createLogger, type LoggerHandle } from './observability/logger.js';
import { createTelemetry } from './observability/telemetry.js';
import { createAddressSet } from './policy/address-set.js';
import { createProxyServer, type ProxyServer } from './proxy/server.js';
import type { ProxyContext } from './proxy/context.js';
import { parseParent } from './tunnel/upstream.js';
import { createAdminServer } from './observability/admin.js';

export interface App {
  readonly ctx: ProxyContext;
  start(): Promise<{ proxy: AddressInfo; admin: AddressInfo | null }>;
  /** Graceful: stop accepting, let in-flight work finish within the grace period. */
  stop(): Promise<void>;
  reload(): Promise<void>;
}

function listen(server: http.Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, backlog: 4096 }, () => {
      server.removeListener('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

export async function createApp(config: Config, opts: { logger?: LoggerHandle } = {}): Promise<App> {
  const log = opts.logger ?? createLogger({ file: config.logFile, level: config.logLevel });
  const telemetry = createTelemetry(log.logger);
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
    draining: false,
  };
  let proxy: ProxyServer | null = null;
  let admin: http.Server | null = null;
  let listening = false;

  return {
    ctx,
    async start() {
      proxy = createProxyServer(ctx);
      const p = await listen(proxy.server, config.listen.host, config.listen.port);
      listening = true;
      let a: AddressInfo | null = null;
      if (config.admin) {
        admin = createAdminServer({}, () => listening);
        a = await listen(admin, config.admin.host, config.admin.port);
      }
      log.logger.info({ event: 'start', listen: `${p.address}:${p.port}`, admin: a ? `${a.address}:${a.port}` : null, mode: config.mode }, 'autopatch-proxy listening');
      return { proxy: p, admin: a };
    },
    async stop() {
      listening = false;
      if (admin) admin.close();
      if (proxy) await proxy.drain(config.limits.graceMs);
      log.logger.info({ event: 'stop' }, 'autopatch-proxy stopped');
      log.flush();
    },
    async reload() {
      log.reopen();
    },
  };
}
