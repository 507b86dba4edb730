// Dashboard live state (/api/live): totals, 60-s rate window, recent ring, savings equal to the report's.
import t from 'tap';
import { createMetrics } from '../../src/observability/metrics.js';
import { RECENT_EVENTS, RATE_WINDOW_SECONDS } from '../../src/observability/live.js';
import { aggregate } from '../../src/report/aggregate.js';
import { computeSavings, DEFAULT_CALIBRATION, type Calibration } from '../../src/report/savings.js';
import type { ConnectRecord, RequestRecord } from '../../src/observability/records.js';
import { connectRec, requestRec } from '../helpers/records.js';

const MIB = 1024 * 1024;
const T0 = Date.UTC(2025, 0, 1, 10, 0, 0);

function clock(start = T0) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

t.test('totals, bytes, bypass share and savings match the report model on the same records', async (t) => {
  const calibration: Calibration = { ...DEFAULT_CALIBRATION, measured: true, measuredAt: '2025-01-01T00:00:00Z', cpuMsPerMiBInspect: 10 };
  const m = createMetrics({ collectDefault: false, calibration, now: clock().now });
  const records: Array<ConnectRecord | RequestRecord> = [
    connectRec({ decision: 'bypass', reason: 'catalog', host: 'A.example', bytesIn: MIB, bytesOut: 3 * MIB }),
    connectRec({ decision: 'bypass', reason: 'catalog', host: 'a.example', bytesIn: 0, bytesOut: 2 * MIB }),
    connectRec({ decision: 'bypass', reason: 'catalog', host: 'b.example', bytesIn: 10, bytesOut: 20 }),
    connectRec({ decision: 'inspect', reason: 'default', host: 'c.example', bytesIn: 1000, bytesOut: 9000 }),
    requestRec({ decision: 'inspect', reason: 'default', host: 'c.example', inTunnel: true, bytesIn: 900, bytesOut: 8000 }),
    requestRec({ decision: 'log', reason: 'default', host: 'd.example', bytesIn: 100, bytesOut: 5 * MIB }),
    connectRec({ decision: 'deny', reason: 'tls_version_too_low', host: 'old.example' }),
  ];
  for (const r of records) if (r.event === 'connect') m.sink.connect(r);
  else m.sink.request(r);
  const s = m.snapshot();

  t.same(s.connections, { bypass: 3, log: 0, inspect: 1, deny: 1 });
  t.same(s.requests, { bypass: 0, log: 1, inspect: 1, deny: 0 });
  t.same(s.decisions, { bypass: 3, log: 1, inspect: 1, deny: 1 }, 'requests inside a tunnel are not decisions of their own');
  t.equal(s.decisionsTotal, 6);
  t.same(s.bytes.bypass, { in: MIB + 10, out: 5 * MIB + 20 });
  t.same(s.bytes.inspect, { in: 1000, out: 9000 }, 'inTunnel request bytes not added');
  t.same(s.bytes.log, { in: 100, out: 5 * MIB });
  const all = MIB + 10 + 5 * MIB + 20 + 10_000 + 100 + 5 * MIB;
  t.equal(s.bypassShare.bytes, (6 * MIB + 30) / all);
  t.equal(s.bypassShare.decisions, 3 / 6);

  const expected = computeSavings(aggregate(records), calibration);
  t.equal(s.savings.cpuSecondsSaved, expected.cpuSecondsSaved, 'CPU saved as `report` computes it');
  t.equal(s.savings.cpuSecondsIfInspected, expected.cpuSecondsIfInspected);
  t.equal(s.savings.handshakesAvoided, 3);
  t.equal(s.savings.certificatesAvoided, 2, 'distinct bypass hosts, case-insensitive');
  t.equal(s.savings.bytesNotDecrypted, 6 * MIB + 30);
  t.equal(s.savings.latencyNotAddedSeconds, expected.latencyNotAddedSeconds);
  t.ok(s.savings.cpuSecondsSaved > 0);
  t.equal(s.savings.warning, null, 'measured calibration: no warning');
  t.match(createMetrics({ collectDefault: false }).snapshot().savings, { calibrationMeasured: false, warning: /built-in estimates/, cpuSecondsSaved: 0 });
  t.doesNotThrow(() => JSON.parse(JSON.stringify(s)), 'plain JSON');
});

t.test('recent denials and TLS rejections: newest first, bounded, hosts kept verbatim', async (t) => {
  const c = clock();
  const m = createMetrics({ collectDefault: false, now: c.now });
  m.sink.connect(connectRec({ decision: 'log', reason: 'sni_mismatch', host: 'sni.example' }));
  c.advance(10);
  m.sink.request(requestRec({ decision: 'deny', reason: 'not_allowlisted', host: '<b>x</b>.example', port: 80 }));
  m.sink.connect(connectRec({ decision: 'bypass', reason: 'catalog', host: 'fine.example' }));
  m.sink.request(requestRec({ decision: 'deny', reason: 'policy_deny', inTunnel: true, host: 'in.example' }));
  let s = m.snapshot();
  t.same(s.recent.map((r) => [r.host, r.reason, r.tls]), [['<b>x</b>.example', 'not_allowlisted', false], ['sni.example', 'sni_mismatch', true]]);
  t.equal(s.recent[0]!.time, T0 + 10);
  t.equal(s.tlsRejections.sni_mismatch, 1);

  for (let i = 0; i < RECENT_EVENTS + 20; i++) m.sink.connect(connectRec({ decision: 'deny', reason: 'tls_version_too_low', host: `h${i}.example`, port: 443 }));
  s = m.snapshot();
  t.equal(s.recent.length, RECENT_EVENTS);
  t.equal(s.recent[0]!.host, `h${RECENT_EVENTS + 19}.example`, 'newest first');
  t.equal(s.recent.at(-1)!.host, `h20.example`, 'oldest dropped');
  t.equal(s.tlsRejections.tls_version_too_low, RECENT_EVENTS + 20, 'counts are not bounded by the ring');
  m.sink.connect(connectRec({ decision: 'deny', reason: 'bad_request', host: null, port: null }));
  t.equal(m.snapshot().recent[0]!.host, null);
});

t.test('decisions per second: 1-s buckets over a sliding 60-s window', async (t) => {
  const c = clock(T0 + 300); // 300 ms into a second
  const m = createMetrics({ collectDefault: false, now: c.now });
  for (let i = 0; i < 5; i++) m.sink.connect(connectRec({ decision: 'bypass', reason: 'catalog' }));
  m.sink.connect(connectRec({ decision: 'log' }));
  c.advance(1000);
  for (let i = 0; i < 3; i++) m.sink.request(requestRec({ decision: 'log' }));
  let r = m.snapshot().rate;
  t.equal(r.windowSeconds, RATE_WINDOW_SECONDS);
  t.equal(r.total.length, RATE_WINDOW_SECONDS);
  t.same(r.total.slice(-2), [6, 3], 'oldest first; current second last');
  t.same(r.byDecision.bypass.slice(-2), [5, 0]);
  t.same(r.byDecision.log.slice(-2), [1, 3]);
  t.equal(r.perSecond, 0.9, '9 decisions over the 10-s average');

  c.advance(58_000); // the first second is now the oldest in the window
  r = m.snapshot().rate;
  t.equal(r.total[0], 6);
  t.equal(r.total.reduce((a, b) => a + b, 0), 9);
  c.advance(1000); // … and now it slid out
  r = m.snapshot().rate;
  t.equal(r.total.reduce((a, b) => a + b, 0), 3);
  t.equal(r.perSecond, 0);
  m.sink.connect(connectRec({ decision: 'deny', reason: 'policy_deny' })); // reuses a stale slot
  r = m.snapshot().rate;
  t.same(r.total.slice(-1), [1]);
  t.equal(r.total.reduce((a, b) => a + b, 0), 4);
  c.advance(3_600_000);
  t.equal(m.snapshot().rate.total.reduce((a, b) => a + b, 0), 0, 'an idle hour later the window is empty');
});
