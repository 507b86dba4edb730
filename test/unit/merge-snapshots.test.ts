// Merging per-worker dashboard snapshots (pure): sums, element-wise rates, interleaved recent events, shares.
import t from 'tap';
import { createLiveState } from '../../src/observability/live.js';
import { mergeSnapshots } from '../../src/observability/merge-snapshots.js';
import type { ConnectRecord } from '../../src/observability/records.js';

const rec = (decision: ConnectRecord['decision'], bytes: number, reason: ConnectRecord['reason'] = 'catalog'): ConnectRecord => ({
  event: 'connect', connId: 1, decision, reason, client: '10.0.0.1', host: `${decision}.example`, port: 443, rule: null,
  bytesIn: bytes, bytesOut: bytes, durationMs: 5, sni: null, tlsVersion: 'TLSv1.3', alpn: null, upstream: null,
});

t.test('two workers merge into one snapshot', async (t) => {
  const now = () => 1_800_000_000_000;
  const a = createLiveState({ now });
  const b = createLiveState({ now });
  a.connect(rec('bypass', 1000));
  a.connect(rec('log', 100));
  b.connect(rec('bypass', 3000));
  b.connect(rec('deny', 0, 'tls_version_too_low'));
  a.tunnelOpen('bypass');
  b.tunnelOpen('bypass');
  const m = mergeSnapshots([a.snapshot(), b.snapshot()])!;
  t.equal(m.connections.bypass, 2);
  t.equal(m.connections.log, 1);
  t.equal(m.connections.deny, 1);
  t.equal(m.bytes.bypass.in, 4000);
  t.equal(m.activeTunnels.bypass, 2);
  t.equal(m.decisionsTotal, 4);
  t.equal(m.bypassShare.decisions, 0.5);
  t.equal(m.bypassShare.bytes, 8000 / 8200);
  t.equal(m.rate.total.length, a.snapshot().rate.total.length, 'rate buckets added element-wise, not concatenated');
  t.equal(m.rate.total.reduce((x, y) => x + y, 0), 4);
  t.equal(m.recent.length, 1);
  t.equal(m.tlsRejections.tls_version_too_low, 1);
  t.equal(mergeSnapshots([]), null);
  t.same(mergeSnapshots([a.snapshot()]), a.snapshot());
});
