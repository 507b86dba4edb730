// Start-up warm-up: before the proxy listens, one tunnel of each kind runs through a private copy of the
// real handlers: a spliced (catalog-trusted) CONNECT and, in --mode inspect, an inspected one with a GET.
// V8 compiles a function on its first call and Node sets up TLS lazily; without this the first device
// after a start pays for all of it (measured: a first inspected request 10.6 → ~4 ms, a first spliced
// tunnel 7 → ~3 ms on a 2-core VM). The copy has its own loopback listener and origins, writes no record
// and counts no metric; nothing leaves 127.0.0.1; every step is bounded by one timeout.
import net from 'node:net';
import tls from 'node:tls';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { ProxyContext } from './context.js';
import { createProxyServer } from './server.js';
import type { Catalog, CatalogMatch } from '../catalog/types.js';
import type { CompiledCatalog } from '../catalog/compile.js';
import { createTelemetry } from '../observability/telemetry.js';
import { createIdleSweeper } from '../tunnel/idle-sweeper.js';
import { createInterceptor } from '../tunnel/intercept.js';
import { createUpstreamPool, UPSTREAM_POOL_DEFAULTS } from '../tunnel/upstream-pool.js';
import { openTlsUpstream } from '../tunnel/upstream.js';
import { createContextCache } from '../tls/context-cache.js';
import { createSessionCache, serverSocketOptions } from '../tls/options.js';
import type { Minter } from '../tls/mint.js';

const SPLICED = 'splice.warmup.autopatch-proxy.invalid';
const INSPECTED = 'inspect.warmup.autopatch-proxy.invalid';

export interface WarmupInspect {
  minter: Minter;
  /** the proxy CA: the warm client verifies the minted certificate with it, the warm upstream leg its origin */
  caPem: string;
}

/** The match of a catalog rule that bypasses (so the warm tunnel takes the splice path), if any. */
function bypassMatch(catalog: Catalog | null): CatalogMatch | null {
  const rules = (catalog as CompiledCatalog | null)?.rules;
  const r = rules?.find((x) => x.trust === 'bypass' && x.detect);
  return r ? r.match : null;
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // exclusive: in a --workers process the listener must stay private, not be shared by (nor reported
    // to) the cluster primary
    server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** CONNECT name:443 through the proxy at port; the raw socket once the 200 arrived. */
function connectVia(port: number, name: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let got = '';
    s.on('error', reject);
    s.once('close', () => reject(new Error('closed during CONNECT')));
    s.on('data', function onData(d: Buffer) {
      got += d.toString('latin1');
      if (!got.includes('\r\n\r\n')) return;
      s.removeListener('data', onData);
      if (!got.startsWith('HTTP/1.1 200')) return reject(new Error(got.slice(0, 40)));
      s.pause();
      resolve(s);
    });
    s.write(`CONNECT ${name}:443 HTTP/1.1\r\nHost: ${name}:443\r\n\r\n`);
  });
}

/** A spliced tunnel: a real ClientHello goes through the peek and the splice; the origin answers and closes. */
async function spliced(port: number): Promise<void> {
  const raw = await connectVia(port, SPLICED);
  await new Promise<void>((resolve) => {
    const c = tls.connect({ socket: raw, servername: SPLICED });
    c.on('error', () => resolve()); // the origin answers with bytes that are not TLS, as intended
    c.once('close', () => resolve());
  });
  raw.destroy();
}

/** An inspected tunnel: TLS verified against the proxy CA, two requests over the relay. */
async function inspected(port: number, caPem: string): Promise<void> {
  const raw = await connectVia(port, INSPECTED);
  const c = tls.connect({ socket: raw, servername: INSPECTED, ca: caPem, ALPNProtocols: ['http/1.1'] });
  try {
    await new Promise<void>((resolve, reject) => {
      c.once('secureConnect', () => resolve());
      c.once('error', reject);
    });
    for (let i = 0; i < 2; i++) {
      await new Promise<void>((resolve, reject) => {
        let got = '';
        const onData = (d: Buffer) => {
          got += d.toString('latin1');
          if (!got.endsWith('\r\n\r\nok')) return;
          c.removeListener('data', onData);
          resolve();
        };
        c.on('data', onData);
        c.once('close', () => reject(new Error('closed')));
        c.write(`GET /warm-${i} HTTP/1.1\r\nHost: ${INSPECTED}\r\n\r\n`);
      });
    }
  } finally {
    c.destroy();
    raw.destroy();
  }
}

/**
 * Runs the warm-up tunnels through a private copy of `ctx`. Resolves false when a step failed or timed
 * out (the proxy starts anyway, only colder); never throws.
 */
export async function warmProxyPaths(ctx: ProxyContext, inspect: WarmupInspect | null, timeoutMs = 3000): Promise<boolean> {
  const match = bypassMatch(ctx.catalog);
  const closers: Array<() => unknown> = [];
  try {
    // the spliced tunnel's origin: reads the ClientHello, answers a few bytes, closes
    const rawOrigin = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => s.end('not tls'));
    });
    const rawPort = await listen(rawOrigin);
    closers.push(() => rawOrigin.close());
    let tlsPort = 0;
    if (inspect) {
      const leaf = await inspect.minter.mint(INSPECTED);
      const secureContext = tls.createSecureContext({ key: leaf.keyPem, cert: leaf.certPem });
      const origin = net.createServer((rawSocket) => {
        const s = new tls.TLSSocket(rawSocket, { isServer: true, ...serverSocketOptions(), secureContext });
        s.on('error', () => rawSocket.destroy());
        s.on('data', (d: Buffer) => {
          if (d.includes('\r\n\r\n')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        });
      });
      tlsPort = await listen(origin);
      closers.push(() => origin.close());
    }

    const config = {
      ...ctx.config,
      allowClients: ['127.0.0.1/32'],
      connectPorts: [443],
      connectTo: [
        { host: SPLICED, port: 443, toHost: '127.0.0.1', toPort: rawPort },
        { host: INSPECTED, port: 443, toHost: '127.0.0.1', toPort: tlsPort },
      ],
    };
    // records go through pino to nowhere: the serialiser is warmed, nothing is written
    const logger = pino({ level: 'info' }, new Writable({ write: (_c, _e, cb) => cb() }));
    const telemetry = createTelemetry(logger);
    const pool = createUpstreamPool(UPSTREAM_POOL_DEFAULTS);
    closers.push(() => pool.close());
    const idle = createIdleSweeper(config.limits.idleTimeoutMs);
    closers.push(() => idle.stop());
    const warmCtx: ProxyContext = {
      config,
      policy: { mode: ctx.policy.mode, unknown: 'allow' },
      telemetry,
      deny: ctx.deny,
      parent: null,
      catalog: { sources: [], lookup: (host, port) => (host === SPLICED ? match : ctx.catalog?.lookup(host, port) ?? null) },
      auth: null,
      interceptor: inspect
        ? createInterceptor({
            cache: createContextCache({ minter: inspect.minter, max: 4 }),
            telemetry,
            maxHeaderBytes: config.limits.maxHeaderBytes,
            pool,
            open: (target, servername) => openTlsUpstream(target, servername, config, ctx.deny, null, { ca: [inspect.caPem], sessions: createSessionCache() }),
          })
        : null,
      idle,
      tunnels: new Set(),
      draining: false,
    };
    const proxy = createProxyServer(warmCtx);
    const port = await listen(proxy.server);
    closers.push(() => proxy.drain(0));

    let timer: NodeJS.Timeout | undefined;
    const run = async () => {
      if (match) await spliced(port);
      if (inspect) await inspected(port, inspect.caPem);
    };
    return await Promise.race([
      run().then(() => true, () => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]).finally(() => clearTimeout(timer));
  } catch {
    return false;
  } finally {
    for (const close of closers.reverse()) await close();
  }
}
