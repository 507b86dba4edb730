// Starts the real proxy (createApp) in-process on 127.0.0.1:0 and collects its NDJSON records in memory.
import { Writable } from 'node:stream';
import pino from 'pino';
import { createApp, type App } from '../../src/app.js';
import { buildConfig, type RawConfig } from '../../src/config/schema.js';

export interface TestProxy {
  app: App;
  port: number;
  adminPort: number | null;
  url: string;
  records: Record<string, unknown>[];
  /** Waits until `n` records with this event (and optional predicate) have been logged. */
  waitFor(event: string, n?: number, pred?: (r: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

export async function startProxy(raw: RawConfig = {}): Promise<TestProxy> {
  const records: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) records.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const logger = pino({ level: 'info', base: { pid: process.pid }, formatters: { level: (label) => ({ level: label }) } }, sink);
  const config = buildConfig({ listen: '127.0.0.1:0', admin: 'off', ...raw });
  const app = await createApp(config, { logger: { logger, flush() {}, reopen() {} } });
  const { proxy, admin } = await app.start();
  const matching = (event: string, pred?: (r: Record<string, unknown>) => boolean) => records.filter((r) => r.event === event && (!pred || pred(r)));
  return {
    app,
    port: proxy.port,
    adminPort: admin ? admin.port : null,
    url: `http://127.0.0.1:${proxy.port}`,
    records,
    async waitFor(event, n = 1, pred, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (matching(event, pred).length < n) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} ${event} record(s); have ${JSON.stringify(records)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return matching(event, pred);
    },
    stop: () => app.stop(),
  };
}
