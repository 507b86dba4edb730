// Prometheus metrics of CONTRACT.md: exact counter values from known records, parsed from render().
import t from 'tap';
import { createMetrics, catalogRuleCounts } from '../../src/observability/metrics.js';
import { AUTH_OUTCOMES, type AuthOutcome } from '../../src/observability/telemetry.js';
import { connectRec, requestRec, parseExposition, series } from '../helpers/records.js';

const P = 'autopatch_proxy_';

t.test('connections, requests and bytes by decision; inTunnel requests not double-counted', async (t) => {
  const m = createMetrics({ collectDefault: false });
  const s = m.sink;
  s.connect(connectRec({ decision: 'bypass', reason: 'catalog', bytesIn: 100, bytesOut: 1000 }));
  s.connect(connectRec({ decision: 'bypass', reason: 'catalog', bytesIn: 50, bytesOut: 500 }));
  s.connect(connectRec({ decision: 'log', reason: 'default', bytesIn: 7, bytesOut: 70 }));
  s.connect(connectRec({ decision: 'deny', reason: 'port_not_allowed' }));
  s.connect(connectRec({ decision: 'inspect', reason: 'default', bytesIn: 300, bytesOut: 3000 }));
  // two requests inside that inspected tunnel: counted as requests, not as bytes
  s.request(requestRec({ decision: 'inspect', reason: 'default', inTunnel: true, bytesIn: 100, bytesOut: 1500 }));
  s.request(requestRec({ decision: 'inspect', reason: 'default', inTunnel: true, bytesIn: 100, bytesOut: 1400 }));
  // plain forwarded requests: counted with their bytes
  s.request(requestRec({ decision: 'log', reason: 'default', bytesIn: 40, bytesOut: 400 }));
  s.request(requestRec({ decision: 'bypass', reason: 'catalog', bytesIn: 1, bytesOut: 2 }));
  const v = parseExposition(await m.render());

  t.equal(v.get(series(`${P}connections_total`, { decision: 'bypass', reason: 'catalog' })), 2);
  t.equal(v.get(series(`${P}connections_total`, { decision: 'log', reason: 'default' })), 1);
  t.equal(v.get(series(`${P}connections_total`, { decision: 'deny', reason: 'port_not_allowed' })), 1);
  t.equal(v.get(series(`${P}connections_total`, { decision: 'inspect', reason: 'default' })), 1);
  t.equal([...v.keys()].filter((k) => k.startsWith(`${P}connections_total`)).length, 4, 'no other (decision, reason) series');

  t.equal(v.get(series(`${P}requests_total`, { decision: 'inspect' })), 2, 'requests inside tunnels are requests');
  t.equal(v.get(series(`${P}requests_total`, { decision: 'log' })), 1);
  t.equal(v.get(series(`${P}requests_total`, { decision: 'bypass' })), 1);
  t.equal(v.get(series(`${P}requests_total`, { decision: 'deny' })), 0, 'closed label sets exported at 0');

  const bytes = (decision: string, direction: string) => v.get(series(`${P}bytes_total`, { decision, direction }));
  t.equal(bytes('bypass', 'in'), 151);
  t.equal(bytes('bypass', 'out'), 1502);
  t.equal(bytes('log', 'in'), 47);
  t.equal(bytes('log', 'out'), 470);
  t.equal(bytes('inspect', 'in'), 300, 'the tunnel counted once, by its connect record');
  t.equal(bytes('inspect', 'out'), 3000);
  t.equal(bytes('deny', 'in'), 0);
  t.equal(bytes('deny', 'out'), 0);

  t.equal(v.get(`${P}connect_duration_seconds_count`), 5, 'one observation per connect record');
});

t.test('TLS rejections by reason, from connect records of any decision', async (t) => {
  const m = createMetrics({ collectDefault: false });
  const before = parseExposition(await m.render());
  for (const reason of ['tls_version_too_low', 'sni_mismatch', 'not_tls', 'client_rejected_certificate']) {
    t.equal(before.get(series(`${P}tls_rejections_total`, { reason })), 0, `${reason} exported at 0`);
  }
  m.sink.connect(connectRec({ decision: 'deny', reason: 'tls_version_too_low' }));
  m.sink.connect(connectRec({ decision: 'deny', reason: 'tls_version_too_low' }));
  m.sink.connect(connectRec({ decision: 'log', reason: 'sni_mismatch' }));
  m.sink.connect(connectRec({ decision: 'log', reason: 'not_tls' }));
  m.sink.connect(connectRec({ decision: 'inspect', reason: 'client_rejected_certificate' }));
  m.sink.connect(connectRec({ decision: 'deny', reason: 'policy_deny' }));
  m.sink.request(requestRec({ decision: 'deny', reason: 'not_tls' })); // only connect records are tunnels
  const v = parseExposition(await m.render());
  t.equal(v.get(series(`${P}tls_rejections_total`, { reason: 'tls_version_too_low' })), 2);
  t.equal(v.get(series(`${P}tls_rejections_total`, { reason: 'sni_mismatch' })), 1);
  t.equal(v.get(series(`${P}tls_rejections_total`, { reason: 'not_tls' })), 1);
  t.equal(v.get(series(`${P}tls_rejections_total`, { reason: 'client_rejected_certificate' })), 1);
  t.equal([...v.keys()].filter((k) => k.startsWith(`${P}tls_rejections_total`)).length, 4);
});

t.test('active tunnels go up and down per decision', async (t) => {
  const m = createMetrics({ collectDefault: false });
  const active = async (decision: string) => parseExposition(await m.render()).get(series(`${P}active_tunnels`, { decision }));
  t.equal(await active('bypass'), 0);
  m.sink.tunnelOpen('bypass');
  m.sink.tunnelOpen('bypass');
  m.sink.tunnelOpen('bypass');
  m.sink.tunnelOpen('log');
  t.equal(await active('bypass'), 3);
  t.equal(await active('log'), 1);
  m.sink.tunnelClose('bypass');
  m.sink.tunnelClose('log');
  t.equal(await active('bypass'), 2);
  t.equal(await active('log'), 0);
  t.equal(await active('inspect'), 0);
  t.same(m.snapshot().activeTunnels, { bypass: 2, log: 0, inspect: 0, deny: 0 });
});

t.test('durations, certificate minting and cache, catalog rules', async (t) => {
  const m = createMetrics({ collectDefault: false });
  m.sink.connect(connectRec({ durationMs: 12 }));
  m.sink.connect(connectRec({ durationMs: 2000 }));
  m.sink.certMint(0.0012);
  m.sink.certMint(0.03);
  m.sink.certCache('miss');
  m.sink.certCache('hit');
  m.sink.certCache('hit');
  m.setCatalogRules({ autopatch: 12, 'm365-worldwide': 340 });
  m.setCatalogRules(new Map([['m365-worldwide', 341], ['intune', 20]])); // a reload replaces, dropping old sources
  const v = parseExposition(await m.render());
  t.equal(v.get(`${P}connect_duration_seconds_count`), 2);
  t.equal(v.get(`${P}connect_duration_seconds_sum`), 2.012);
  t.equal(v.get(series(`${P}connect_duration_seconds_bucket`, { le: '0.025' })), 1);
  t.equal(v.get(series(`${P}connect_duration_seconds_bucket`, { le: '2.5' })), 2);
  t.equal(v.get(`${P}cert_mint_seconds_count`), 2);
  t.equal(v.get(series(`${P}cert_mint_seconds_bucket`, { le: '0.002' })), 1);
  t.equal(v.get(series(`${P}cert_cache_total`, { result: 'hit' })), 2);
  t.equal(v.get(series(`${P}cert_cache_total`, { result: 'miss' })), 1);
  t.equal(v.get(series(`${P}catalog_rules`, { source: 'm365-worldwide' })), 341);
  t.equal(v.get(series(`${P}catalog_rules`, { source: 'intune' })), 20);
  t.notOk(v.has(series(`${P}catalog_rules`, { source: 'autopatch' })), 'a source gone after reload is dropped');
  t.same(m.snapshot().catalogRules, { 'm365-worldwide': 341, intune: 20 });
  t.same(catalogRuleCounts([{ source: 'a', rules: 2 }, { source: 'b', rules: 1 }, { source: 'a', rules: 3 }]), { a: 5, b: 1 });
});

t.test('authentication checks by result, every result exported at 0 from the start', async (t) => {
  const m = createMetrics({ collectDefault: false });
  const count = async (result: string) => parseExposition(await m.render()).get(series(`${P}auth_checks_total`, { result }));
  t.same(AUTH_OUTCOMES, ['ok', 'auth_required', 'auth_failed', 'auth_throttled']);
  for (const r of AUTH_OUTCOMES) t.equal(await count(r), 0, `${r} at 0`);
  const checks: AuthOutcome[] = ['ok', 'auth_failed', 'auth_throttled', 'auth_failed'];
  for (const o of checks) m.sink.authCheck(o);
  for (const r of AUTH_OUTCOMES) t.equal(await count(r), checks.filter((c) => c === r).length, `${r} counted`);
});

t.test('labels never carry host names, clients, SNI or upstream addresses', async (t) => {
  const m = createMetrics({ collectDefault: false });
  const secret = { host: 'secret-host.contoso.example', sni: 'secret-sni.contoso.example', client: '10.77.66.55', upstream: '192.0.2.99:443' };
  for (const reason of ['catalog', 'sni_mismatch', 'tls_version_too_low', 'default'] as const) {
    m.sink.connect(connectRec({ ...secret, reason, decision: reason === 'catalog' ? 'bypass' : 'deny', bytesIn: 5, bytesOut: 5 }));
    m.sink.request(requestRec({ host: secret.host, client: secret.client, url: '/secret-path', reason, decision: 'log' }));
  }
  const out = await m.render();
  for (const s of [...Object.values(secret), 'secret-path', 'contoso']) t.notOk(out.includes(s), `no "${s}" in /metrics`);
  const labelNames = new Set([...out.matchAll(/[{,](\w+)="/g)].map((x) => x[1]));
  t.same([...labelNames].sort(), ['decision', 'direction', 'le', 'reason', 'result'].sort(), 'only closed label sets');
});

t.test('one registry per instance; default process metrics unless turned off', async (t) => {
  const a = createMetrics();
  const b = createMetrics({ collectDefault: false });
  a.sink.connect(connectRec({ decision: 'bypass', reason: 'catalog' }));
  const va = parseExposition(await a.render());
  const vb = parseExposition(await b.render());
  t.equal(va.get(series(`${P}connections_total`, { decision: 'bypass', reason: 'catalog' })), 1);
  t.notOk(vb.has(series(`${P}connections_total`, { decision: 'bypass', reason: 'catalog' })), 'b is untouched');
  t.ok(va.has('process_cpu_user_seconds_total'), 'default metrics in a');
  t.ok([...va.keys()].some((k) => k.startsWith('nodejs_')), 'nodejs_* metrics in a');
  t.notOk(vb.has('process_cpu_user_seconds_total'), 'none in b');
  t.equal(a.registry.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  t.not(a.registry, b.registry);
});

t.test('malformed figures never throw into the proxy path', async (t) => {
  const m = createMetrics({ collectDefault: false });
  t.doesNotThrow(() => {
    m.sink.connect(connectRec({ decision: 'log', bytesIn: -5, bytesOut: Number.NaN, durationMs: Number.NaN }));
    m.sink.request(requestRec({ decision: 'log', bytesIn: Number.POSITIVE_INFINITY, bytesOut: -1 }));
    m.sink.certMint(-1);
    m.sink.tunnelClose('inspect');
  });
  const v = parseExposition(await m.render());
  t.equal(v.get(series(`${P}bytes_total`, { decision: 'log', direction: 'in' })), 0);
  t.equal(v.get(series(`${P}connections_total`, { decision: 'log', reason: 'default' })), 1);
  t.equal(v.get(`${P}connect_duration_seconds_count`), 0);
  t.equal(m.snapshot().activeTunnels.inspect, 0, 'live state never goes negative');
});
