// Context cache (hits, misses, eviction, coalescing, expiry, loop delay under 100 concurrent mints),
// SNI/no-SNI handshakes on loopback, and the TLS options of both legs (verification always on).
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import tls from 'node:tls';
import t from 'tap';
import { initCa } from '../../src/tls/ca.js';
import { createContextCache, EXPIRY_MARGIN_MS } from '../../src/tls/context-cache.js';
import { createMinter, type Minter } from '../../src/tls/mint.js';
import { repoPath } from '../helpers/paths.js';
import {
  createSessionCache, serverContextOptions, serverSocketOptions, TLS_MIN_VERSION, trackUpstreamSession,
  upstreamSecureContext, upstreamTlsOptions,
} from '../../src/tls/options.js';
import { tempDir } from '../helpers/temp.js';

const dir = await tempDir('autopatch-ctx-');
t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
const ca = await initCa(dir);
const minter = await createMinter(ca);

t.test('hits, misses, normalised keys and hooks', async (t) => {
  const lookups: string[] = [];
  const mintMs: number[] = [];
  const cache = createContextCache({ minter, onLookup: (r) => lookups.push(r), onMint: (ms) => mintMs.push(ms) });
  const a = await cache.get('a.test');
  t.equal(await cache.get('A.TEST.'), a, 'same context for the normalised name');
  t.equal(await cache.get('a.test'), a);
  t.not(await cache.get('b.test'), a);
  t.match(cache.stats(), { hits: 2, misses: 2, mints: 2, size: 2, coalesced: 0, pending: 0 });
  t.same(lookups, ['miss', 'hit', 'hit', 'miss']);
  t.equal(mintMs.length, 2);
  t.ok(mintMs.every((ms) => ms > 0 && ms < 1000));
  cache.clear();
  t.equal(cache.stats().size, 0);
});

t.test('LRU eviction at max', async (t) => {
  const cache = createContextCache({ minter, max: 2 });
  await cache.get('1.test');
  await cache.get('2.test');
  await cache.get('1.test'); // 1 is now most recent
  await cache.get('3.test'); // evicts 2
  t.equal(cache.stats().size, 2);
  await cache.get('1.test');
  t.equal(cache.stats().mints, 3, '1 survived');
  await cache.get('2.test');
  t.equal(cache.stats().mints, 4, '2 was evicted and minted again');
});

t.test('concurrent first requests for one host share one mint', async (t) => {
  const cache = createContextCache({ minter });
  const contexts = await Promise.all(Array.from({ length: 20 }, () => cache.get('same.test')));
  t.equal(new Set(contexts).size, 1);
  t.match(cache.stats(), { mints: 1, misses: 20, coalesced: 19, hits: 0 });
});

t.test('expiry: ttl, and never past the leaf', async (t) => {
  let now = Date.now();
  const clock = () => now;
  const cache = createContextCache({ minter, ttlMs: 1000, now: clock });
  const first = await cache.get('ttl.test');
  now += 999;
  t.equal(await cache.get('ttl.test'), first, 'fresh within ttl');
  now += 2;
  t.not(await cache.get('ttl.test'), first, 're-minted after ttl');
  t.equal(cache.stats().mints, 2);

  const shortLived = await createMinter(ca, { validityDays: 1, backdateMinutes: 60, now: clock });
  const c2 = createContextCache({ minter: shortLived, ttlMs: 7 * 864e5, now: clock });
  const ctx = await c2.get('short.test');
  const keep = 864e5 - 60 * 60e3 - EXPIRY_MARGIN_MS; // leaf life left minus the margin
  now += keep - 1000;
  t.equal(await c2.get('short.test'), ctx, 'kept until shortly before the leaf expires');
  now += 2000;
  t.not(await c2.get('short.test'), ctx, 'dropped before the leaf expires');
});

t.test('errors: bad names and failed mints are not cached', async (t) => {
  const cache = createContextCache({ minter });
  await t.rejects(cache.get('bad host'), { code: 'invalid_host' });
  let fail = true;
  const flaky: Minter = { ...minter, mint: (h) => (fail ? Promise.reject(new Error('boom')) : minter.mint(h)) };
  const c2 = createContextCache({ minter: flaky });
  await t.rejects(Promise.all([c2.get('x.test'), c2.get('x.test')]), /boom/);
  t.match(c2.stats(), { mintErrors: 1, size: 0, pending: 0 });
  fail = false;
  t.ok(await c2.get('x.test'), 'retried on the next request');
  const noHost = await new Promise<Error | null>((r) => c2.sniCallbackFor(undefined)('', (err) => r(err)));
  t.match(noHost, { code: 'invalid_host' });
});

t.test('100 distinct hosts at once do not stall the event loop', async (t) => {
  const cache = createContextCache({ minter });
  await cache.get('warmup.test');
  // Baseline of an idle loop in this process: parallel test files on a small machine preempt us too.
  const idle = monitorEventLoopDelay({ resolution: 1 });
  idle.enable();
  await new Promise((r) => setTimeout(r, 150));
  idle.disable();
  const idleP99 = idle.percentile(99) / 1e6;
  const idleMax = idle.max / 1e6;
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const started = performance.now();
  const contexts = await Promise.all(Array.from({ length: 100 }, (_, i) => cache.get(`host${i}.load.test`)));
  const wall = performance.now() - started;
  h.disable();
  const p99 = h.percentile(99) / 1e6;
  const max = h.max / 1e6;
  t.comment(`100 mints in ${wall.toFixed(0)} ms; loop delay p50 ${(h.percentile(50) / 1e6).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${max.toFixed(2)} ms (idle p99 ${idleP99.toFixed(2)}, max ${idleMax.toFixed(2)})`);
  t.equal(new Set(contexts).size, 100);
  t.equal(cache.stats().mints, 101);
  // forge's own signing would block 26–63 ms per mint, on every turn of the loop: p90 would be above 26 ms
  // and the 100 mints would take at least 2.6 s. Bounds a few preemptions by parallel test files cannot
  // move (a p99 bound failed once at 25 ms in a loaded clean-clone run: five slow samples of ~500)
  const p90 = h.percentile(90) / 1e6;
  t.ok(p90 < 15 + idle.percentile(90) / 1e6, `loop delay p90 ${p90.toFixed(2)} ms < 15 ms (+ idle p90)`);
  t.ok(wall < 2000, `100 mints in ${wall.toFixed(0)} ms < 2,000 ms`);
});

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return (server.address() as AddressInfo).port;
}

function handshake(opts: tls.ConnectionOptions, read = false): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect(opts, () => (read ? s.resume().once('end', () => resolve(s)) : resolve(s)));
    s.once('error', reject);
  });
}

t.test('SNICallback server: minted per name, TLS < 1.2 refused', async (t) => {
  const cache = createContextCache({ minter });
  const server = tls.createServer({ ...serverSocketOptions(), SNICallback: cache.sniCallback }, (s) => s.on('error', () => {}).end('ok'));
  const port = await listen(server);
  for (const name of ['one.sni.test', 'two.sni.test']) {
    const s = await handshake({ host: '127.0.0.1', port, servername: name, ca: [ca.certPem], ALPNProtocols: ['h2', 'http/1.1'] });
    t.equal(s.authorized, true, `${name} verified`);
    t.equal(s.alpnProtocol, 'http/1.1', 'ALPN: http/1.1 only');
    t.equal(new crypto.X509Certificate(s.getPeerX509Certificate()!.raw).subjectAltName, `DNS:${name}`);
    s.destroy();
  }
  await t.rejects(handshake({ host: '127.0.0.1', port, servername: 'one.sni.test', ca: [ca.certPem], minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }),
    { code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' }, 'TLS 1.1 answered with protocol_version');
  t.equal(TLS_MIN_VERSION, 'TLSv1.2');
  t.equal(serverContextOptions().minVersion, 'TLSv1.2');
});

t.test('per-connection TLSSocket without SNI (IP CONNECT) uses the CONNECT host context', async (t) => {
  const cache = createContextCache({ minter });
  const server = net.createServer(async (raw) => {
    raw.on('error', () => {});
    const connectHost = '127.0.0.1'; // what the CONNECT named
    const s = new tls.TLSSocket(raw, {
      isServer: true, ...serverSocketOptions(),
      secureContext: await cache.get(connectHost), // Node calls SNICallback only when SNI is present
      SNICallback: cache.sniCallbackFor(connectHost),
    });
    s.on('error', () => {});
    s.on('secure', () => s.end('ok'));
  });
  const port = await listen(server);
  const s = await handshake({ host: '127.0.0.1', port, ca: [ca.certPem] });
  t.equal(s.authorized, true, 'IP SAN verified, no SNI sent');
  t.equal(new crypto.X509Certificate(s.getPeerX509Certificate()!.raw).subjectAltName, 'IP Address:127.0.0.1');
  s.destroy();
  const named = await handshake({ host: '127.0.0.1', port, servername: 'named.test', ca: [ca.certPem] });
  t.equal(named.authorized, true, 'SNI still selects by name');
  named.destroy();
});

t.test('upstream options: verification always on, extra CA, identity, session resumption', async (t) => {
  const leaf = await minter.mint('up.example.test');
  const ipLeaf = await minter.mint('127.0.0.1');
  const seen: Array<string | false> = [];
  const origin = tls.createServer({ ...serverSocketOptions(), key: leaf.keyPem, cert: leaf.certPem,
    SNICallback: (_n, cb) => cb(null, undefined) }, (s) => s.on('error', () => {}).end('ok'));
  origin.on('secureConnection', (s) => seen.push((s as tls.TLSSocket & { servername: string | false }).servername));
  const port = await listen(origin);
  const ipOrigin = tls.createServer({ ...serverSocketOptions(), key: ipLeaf.keyPem, cert: ipLeaf.certPem }, (s) => s.on('error', () => {}).end('ok'));
  const ipPort = await listen(ipOrigin);

  const opts = upstreamTlsOptions({ host: '127.0.0.1', port, servername: 'up.example.test', ca: [ca.certPem] });
  t.equal(opts.rejectUnauthorized, true);
  t.equal(opts.minVersion ?? TLS_MIN_VERSION, 'TLSv1.2');
  t.equal(opts.secureContext, upstreamSecureContext([ca.certPem]), 'one shared context per trust set');
  const ok = await handshake(opts, true);
  t.equal(ok.authorized, true, '--connect-to style: dial 127.0.0.1, verify up.example.test');
  t.equal(seen.at(-1), 'up.example.test', 'SNI sent');

  await t.rejects(handshake(upstreamTlsOptions({ host: '127.0.0.1', port, servername: 'up.example.test' })),
    { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'system roots only: refused');
  await t.rejects(handshake(upstreamTlsOptions({ host: '127.0.0.1', port, servername: 'evil.example.test', ca: [ca.certPem] })),
    { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'identity checked');
  const ip = await handshake(upstreamTlsOptions({ host: '127.0.0.1', port: ipPort, ca: [ca.certPem] }), true);
  t.equal(ip.authorized, true, 'IP identity verified against the iPAddress SAN');
  t.equal(upstreamTlsOptions({ host: '[::1]', port: 1 }).servername, undefined, 'no IP literal in SNI');

  const sessions = createSessionCache(4);
  const p = { host: '127.0.0.1', port, servername: 'up.example.test', ca: [ca.certPem], sessions };
  const first = tls.connect(upstreamTlsOptions(p));
  trackUpstreamSession(first, p);
  await new Promise<void>((resolve, reject) => first.on('error', reject).resume().on('end', resolve));
  t.equal(first.isSessionReused(), false);
  t.equal(sessions.size, 1, 'session kept');
  const second = await handshake(upstreamTlsOptions(p), true);
  t.equal(second.isSessionReused(), true, 'resumed');
  t.equal(second.authorized, true);
  t.equal(sessions.size, 0, 'tickets are used once');
});

// Built from parts so that this guard does not itself contain the setting it looks for.
const VERIFICATION_OFF = new RegExp(['reject', 'Unauthorized\\s*:\\s*false|NODE_TLS_', 'REJECT_UNAUTHORIZED'].join(''));

t.test('no src/ file turns upstream verification off', async (t) => {
  t.ok(VERIFICATION_OFF.test(['rejectUnauth', 'orized: false'].join('')), 'the guard recognises the setting');
  const srcDir = repoPath('src/');
  const files = (await fs.readdir(srcDir, { recursive: true })).filter((f) => /\.[cm]?[jt]s$/.test(f));
  const offenders: string[] = [];
  for (const f of files) {
    const text = await fs.readFile(path.join(srcDir, f), 'utf8');
    if (VERIFICATION_OFF.test(text)) offenders.push(f);
  }
  t.same(offenders, []);
});
