// Graceful behaviour under load (in-process proxy, loopback origins): reloads (SIGHUP's app.reload()) while
// 200 requests and tunnels run, some reloads reading a broken rules file; stop (SIGTERM's app.stop()) with
// requests in flight and with an idle tunnel past the grace period; a log file on a full disk (/dev/full).
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { createApp } from '../../src/app.js';
import { buildConfig } from '../../src/config/schema.js';
import { createLogger } from '../../src/observability/logger.js';
import { createTestPki } from '../helpers/pki.js';
import { startHttpOrigin, startHttpsOrigin, patternBytes, sha256 } from '../helpers/origins.js';
import { startProxy } from '../helpers/proxy.js';
import { openTunnel, tlsOverTunnel, getOver } from '../helpers/clients.js';
import { pool, settle, sleep, bug } from '../helpers/fuzz.js';
import { repoPath } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

const pki = await createTestPki();
const tlsOrigin = await startHttpsOrigin(await pki.issue(['mmdcustomer.microsoft.com', 'slow.test']));
const origin = await startHttpOrigin();
const connectTo = [`mmdcustomer.microsoft.com:443:127.0.0.1:${tlsOrigin.port}`, `slow.test:443:127.0.0.1:${tlsOrigin.port}`, `*::127.0.0.1:${origin.port}`];
t.teardown(async () => {
  await origin.close();
  await tlsOrigin.close();
});

/** A plain GET through the proxy; resolves with status and body. */
function get(proxyPort: number, url: string, agent: http.Agent | false): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, path: url, agent, headers: { Host: new URL(url).host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** CONNECT + verified TLS + one GET (Connection: close). */
async function tunnelGet(proxyPort: number, host: string, path: string): Promise<{ status: number; body: Buffer }> {
  const { socket } = await openTunnel(proxyPort, `${host}:443`);
  const s = await tlsOverTunnel(socket, host, pki.caPem);
  return getOver(s, host, path);
}

t.test('reload under load (SIGHUP): 200 requests and tunnels while the rules are reloaded, some reads broken; nothing dropped', async (t) => {
  const rulesDir = await tempDir('ap-reload-rules-');
  await cp(repoPath('rules/'), rulesDir, { recursive: true });
  const autopatch = join(rulesDir, 'autopatch.json');
  const good = await readFile(autopatch, 'utf8');
  const proxy = await startProxy({ rules: rulesDir, connectTo });
  t.teardown(() => proxy.stop());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 24 });
  t.teardown(() => agent.destroy());

  let done = false;
  let reloads = 0;
  const reloader = (async () => {
    while (!done && reloads < 500) {
      // every other reload reads a broken autopatch.json: the previous catalog must stay in force
      await writeFile(autopatch, reloads % 2 ? '{"rules": [ broken' : good);
      await proxy.app.reload();
      reloads++;
      await sleep(2);
    }
    await writeFile(autopatch, good);
  })();
  const jobs = Array.from({ length: 200 }, (_, i) => i);
  const results = await pool(jobs, 8, async (i) => {
    // jobs 50, 100 and 150 start only after the 1st, 2nd and 3rd reload: reloads fall inside the load
    // however fast it runs (a fast run once finished its 200 requests within two reloads)
    while (reloads < Math.floor(i / 50) && reloads < 500) await sleep(1);
    try {
      if (i % 5 === 4) {
        const r = await tunnelGet(proxy.port, 'mmdcustomer.microsoft.com', '/tiny');
        return r.status === 200 && r.body.toString() === 'tiny\n' ? 'ok' : `tunnel ${i}: ${r.status}`;
      }
      const size = 20_000 + i;
      const r = await get(proxy.port, i % 2 ? 'http://fwd.test/tiny' : `http://fwd.test/bytes/${size}`, agent);
      const want = i % 2 ? 'tiny\n' : null;
      if (r.status !== 200) return `request ${i}: ${r.status}`;
      if (want ? r.body.toString() !== want : sha256(r.body) !== sha256(patternBytes(0, size))) return `request ${i}: body`;
      return 'ok';
    } catch (e) {
      return `job ${i}: ${(e as Error).message}`;
    }
  });
  done = true;
  await reloader;
  const failed = results.filter((r) => r !== 'ok');
  t.same(failed, [], `all 200 succeeded across ${reloads} reloads`);
  t.ok(reloads >= 3, `${reloads} reloads happened during the load`);
  const tunnels = proxy.records.filter((r) => r.event === 'connect' && r.host === 'mmdcustomer.microsoft.com');
  t.equal(tunnels.length, 40, '40 tunnel records');
  t.ok(tunnels.every((r) => r.decision === 'bypass'), 'every tunnel kept its catalog trust (a broken reload keeps the previous catalog)');
  t.ok(proxy.records.some((r) => r.event === 'reload' && r.level === 'warn'), 'the broken reloads were reported');
});

t.test('stop under load (SIGTERM): in-flight requests and tunnels complete within the grace period; new ones are refused', async (t) => {
  const proxy = await startProxy({ connectTo, gracePeriod: 5000 });
  const before = origin.seen.filter((s) => s.url === '/slow').length;
  const plain = Array.from({ length: 50 }, () => get(proxy.port, 'http://fwd.test/slow', false));
  const tunnels = Array.from({ length: 10 }, () => tunnelGet(proxy.port, 'slow.test', '/slow'));
  // every request has reached the origin (which answers after 600 ms) before stopping
  t.ok(await settle(() => origin.seen.filter((s) => s.url === '/slow').length - before >= 50, 3000), 'all plain requests in flight');
  await sleep(50);
  const t0 = Date.now();
  const stopped = proxy.app.stop().then(() => Date.now() - t0);
  await sleep(20);
  const late = await new Promise<string>((resolve) => {
    const s = net.connect(proxy.port, '127.0.0.1');
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    s.on('connect', () => {
      s.write('GET http://fwd.test/tiny HTTP/1.1\r\nHost: fwd.test\r\n\r\n');
      s.once('data', (d: Buffer) => resolve(d.toString('latin1').split('\r\n')[0]!));
      s.once('close', () => resolve('closed'));
    });
  });
  t.ok(/ECONNREFUSED|503|closed/.test(late), `a new connection after stop is refused (${late})`);
  const p = await Promise.allSettled(plain);
  const tn = await Promise.allSettled(tunnels);
  t.equal(p.filter((r) => r.status === 'fulfilled' && r.value.status === 200).length, 50, 'all 50 in-flight plain requests completed with 200');
  t.equal(tn.filter((r) => r.status === 'fulfilled' && r.value.status === 200).length, 10, 'all 10 in-flight tunnel requests completed with 200');
  const ms = await stopped;
  t.ok(ms < 5000, `stop() returned after ${ms} ms, before the 5000 ms grace period ran out`);
  t.equal(proxy.records.filter((r) => r.event === 'request' && r.url === 'http://fwd.test/slow' && r.status === 200).length, 50, 'each has its record');
});

t.test('stop with an idle tunnel: it is closed when the grace period ends', async (t) => {
  const proxy = await startProxy({ connectTo, gracePeriod: 300 });
  const { socket } = await openTunnel(proxy.port, 'slow.test:443');
  socket.on('error', () => {});
  const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
  const t0 = Date.now();
  await proxy.app.stop();
  const ms = Date.now() - t0;
  t.ok(ms >= 250 && ms < 2000, `stop() took ${ms} ms (grace 300 ms)`);
  t.ok((await closed) - t0 < 2500, 'the tunnel was closed');
});

t.test('a log file on a full disk (/dev/full) does not stop traffic', async (t) => {
  const handle = createLogger({ file: '/dev/full', level: 'info' });
  // flush() is replaced: sonic-boom's flushSync never returns on ENOSPC (see the child-process test below)
  const app = await createApp(buildConfig({ listen: '127.0.0.1:0', admin: 'off', connectTo }), { logger: { logger: handle.logger, reopen: handle.reopen, flush() {} } });
  const { proxy } = await app.start();
  t.teardown(async () => {
    await app.stop();
    (handle.logger as unknown as Record<symbol, { destroy(): void }>)[pino.symbols.streamSym]!.destroy();
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  t.teardown(() => agent.destroy());
  const results = await pool(Array.from({ length: 300 }, (_, i) => i), 16, async (i) => {
    if (i % 10 === 9) return (await tunnelGet(proxy.port, 'mmdcustomer.microsoft.com', '/tiny')).status;
    return (await get(proxy.port, 'http://fwd.test/tiny', agent)).status;
  });
  t.equal(results.filter((s) => s === 200).length, 300, '300 requests and tunnels served while every log write fails with ENOSPC');
});

/** Runs a script in a child process with the test's TypeScript loader; killed after `timeoutMs`. */
function child(code: string, timeoutMs: number): Promise<{ out: string; killed: boolean }> {
  const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'));
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [...loader, '--expose-gc', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      c.kill('SIGKILL');
    }, timeoutMs);
    c.on('exit', () => {
      clearTimeout(timer);
      resolve({ out, killed });
    });
  });
}

// the child runs the built modules (dist/, compiled by `npm test` before tap), not the TypeScript sources
const src = (p: string) => JSON.stringify(pathToFileURL(repoPath(`dist/${p}`)).href);

t.test('full disk, in a child process (a hang there cannot take the test process with it)', async (t) => {
  const fullDisk = await child(
    `
    const { createLogger } = await import(${src('observability/logger.js')});
    const { createApp } = await import(${src('app.js')});
    const { buildConfig } = await import(${src('config/schema.js')});
    const { default: pino } = await import('pino');
    const h = createLogger({ file: '/dev/full', level: 'info' });
    gc(); const h0 = process.memoryUsage().heapUsed;
    // traffic over time: 4 bursts of 10,000 records (~2.3 MiB each), every write failing with ENOSPC
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 10000; i++) h.logger.info({ event: 'request', i, url: 'http://example.com/' + 'x'.repeat(150) });
      await new Promise((r) => setTimeout(r, 50));
    }
    gc(); console.log('heap-growth', process.memoryUsage().heapUsed - h0, 'buffered', h.logger[pino.symbols.streamSym]._len);
    const app = await createApp(buildConfig({ listen: '127.0.0.1:0', admin: 'off', logFile: '/dev/full' }));
    await app.start();
    const t0 = Date.now();
    await app.stop();
    console.log('stopped', Date.now() - t0);
    process.exit(0);
    `,
    5000,
  );
  const growth = Number(/heap-growth (\d+)/.exec(fullDisk.out)?.[1] ?? NaN);
  const buffered = Number(/buffered (\d+)/.exec(fullDisk.out)?.[1] ?? NaN);
  t.comment(`after 40,000 unwritable records (~9 MiB of NDJSON): heap +${(growth / 1048576).toFixed(1)} MiB, ${(buffered / 1048576).toFixed(1)} MiB held by the log destination; child ${fullDisk.killed ? 'killed after 5 s (stop() hung)' : 'exited'}`);
  t.ok(Number.isFinite(growth), 'the child ran');

  t.test(
    'memory for unwritten records is bounded',
    async (t) => {
      t.ok(growth < 4 * 1048576, 'under 4 MiB');
    },
  );
  t.test(
    'stop() (SIGTERM) still returns',
    async (t) => {
      t.notOk(fullDisk.killed, 'the child finished on its own (it is killed after 5 s)');
      t.match(fullDisk.out, /stopped \d+/);
    },
  );
});
