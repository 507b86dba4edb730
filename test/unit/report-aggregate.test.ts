import t from 'tap';
import { aggregate, createAggregator } from '../../src/report/aggregate.js';
import { DECISIONS, zeroTotals } from '../../src/report/types.js';
import { makeRecords, T0 } from '../fixtures/report/records.js';

/** Independent re-statement of CONTRACT.md "Counting". */
function expectedTotals(records: Array<Record<string, unknown>>) {
  const want = zeroTotals();
  let inTunnelBytes = 0;
  for (const r of records) {
    const tot = want[r.decision as keyof typeof want];
    if (r.event === 'connect') tot.connections++;
    else tot.requests++;
    if (r.inTunnel === true) {
      inTunnelBytes += (r.bytesIn as number) + (r.bytesOut as number);
      continue;
    }
    tot.bytesIn += r.bytesIn as number;
    tot.bytesOut += r.bytesOut as number;
  }
  return { want, inTunnelBytes };
}

t.test('totals equal the sums of the log; inTunnel requests are counted but their bytes are not', async (t) => {
  const records = [...makeRecords(1200)];
  const { want, inTunnelBytes } = expectedTotals(records);
  const got = aggregate(records);
  t.ok(inTunnelBytes > 0, 'the generated log has inTunnel bytes that must be ignored');
  t.same(got.totals, want);
  t.equal(got.records, 1200);
  t.equal(got.skippedRecords, 0);
  const requests = records.filter((r) => r.event === 'request').length;
  t.equal(DECISIONS.reduce((s, d) => s + got.totals[d].requests, 0), requests, 'inTunnel requests still count as requests');
  const hostSum = got.topDestinations.rows.reduce((s, r) => s + r.bytesIn + r.bytesOut, 0) + got.topDestinations.other.bytesIn + got.topDestinations.other.bytesOut;
  const allBytes = DECISIONS.reduce((s, d) => s + want[d].bytesIn + want[d].bytesOut, 0);
  t.equal(hostSum, allBytes, 'destinations (listed + other) add up to the totals');
  t.equal(got.bySource.reduce((s, r) => s + r.bytesIn + r.bytesOut, 0), allBytes, 'sources add up to the totals');
  const seriesBytes = got.series.buckets.reduce((s, b) => s + DECISIONS.reduce((x, d) => x + b.bytes[d], 0), 0);
  t.equal(seriesBytes, allBytes, 'time series adds up to the totals');
  t.equal(got.series.bucketMs, 60_000);
  t.equal(got.series.buckets.length, 20, '1200 records one second apart = 20 minutes');
  t.equal(got.firstTime, T0);
  t.equal(got.lastTime, T0 + 1199 * 1000);
  const bypassConnects = records.filter((r) => r.event === 'connect' && r.decision === 'bypass');
  t.equal(got.tunnelBytes.bypass, bypassConnects.reduce((s, r) => s + (r.bytesIn as number) + (r.bytesOut as number), 0));
  t.equal(got.bypassHosts.distinct, new Set(bypassConnects.map((r) => r.host)).size);
  t.equal(got.series.buckets.reduce((s, b) => s + b.newBypassHosts, 0), got.bypassHosts.distinct);
});

t.test('records that are not connect/request events of known shape are skipped', async (t) => {
  const a = createAggregator();
  const junk: unknown[] = [null, 42, 'text', [], { event: 'listening' }, { event: 'connect', decision: 'allow' }, { decision: 'bypass' }];
  for (const j of junk) a.add(j);
  a.add({ event: 'connect', decision: 'log', host: 'ok.example', bytesIn: 10, bytesOut: 20 });
  a.addMalformed(3);
  const got = a.result();
  t.equal(got.skippedRecords, junk.length);
  t.equal(got.records, 1);
  t.equal(got.malformedLines, 3);
  t.same(got.totals.log, { connections: 1, requests: 0, bytesIn: 10, bytesOut: 20 });
});

t.test('bad field values are coerced defensively', async (t) => {
  const got = aggregate([
    { event: 'connect', decision: 'bypass', bytesIn: -5, bytesOut: 'lots', time: 'yesterday', host: 42, rule: 'x' },
    { event: 'request', decision: 'deny', bytesIn: Number.NaN, bytesOut: 1.9, time: 5 },
    { event: 'request', decision: 'log', host: 'A.Example', bytesIn: 1, bytesOut: 1, time: new Date(T0).toISOString() },
  ]);
  t.same(got.totals.bypass, { connections: 1, requests: 0, bytesIn: 0, bytesOut: 0 });
  t.same(got.totals.deny, { connections: 0, requests: 1, bytesIn: 0, bytesOut: 1 });
  t.equal(got.firstTime, T0, 'ISO time accepted, implausible times ignored');
  t.equal(got.series.buckets.length, 1);
  t.ok(got.topDestinations.rows.some((r) => r.host === 'a.example'), 'host lower-cased');
  t.ok(got.topDestinations.rows.some((r) => r.host === '(unknown)'));
  t.ok(got.bySource.every((r) => r.source === '(no rule)'));
});

t.test('TLS rejections, pinning candidates and not_allowlisted per destination', async (t) => {
  const rec = (reason: string, host: string, extra: Record<string, unknown> = {}) => ({ event: 'connect', decision: 'deny', reason, host, port: 443, ...extra });
  const got = aggregate([
    rec('tls_version_too_low', 'old.example'), rec('tls_version_too_low', 'old.example'), rec('tls_version_too_low', 'older.example'),
    rec('sni_mismatch', 'login.microsoftonline.com', { decision: 'log' }),
    rec('not_tls', 'raw.example'),
    rec('client_rejected_certificate', 'pinned.example', { decision: 'inspect' }),
    rec('client_rejected_certificate', 'pinned.example', { decision: 'inspect' }),
    rec('not_allowlisted', 'a.example'), rec('not_allowlisted', 'a.example', { port: 8443 }), rec('not_allowlisted', '2603:1006::1'),
  ]);
  t.equal(got.tlsRejections.tls_version_too_low.count, 3);
  t.same(got.tlsRejections.tls_version_too_low.hosts, [{ host: 'old.example', count: 2 }, { host: 'older.example', count: 1 }]);
  t.equal(got.tlsRejections.sni_mismatch.count, 1);
  t.equal(got.tlsRejections.not_tls.hosts[0]?.host, 'raw.example');
  t.same(got.pinningCandidates.hosts, [{ host: 'pinned.example', count: 2 }]);
  t.same(got.notAllowlisted.hosts.map((h) => h.host).sort(), ['[2603:1006::1]:443', 'a.example:443', 'a.example:8443']);
  t.equal(got.notAllowlisted.count, 3);
  t.same(got.byReason.find((r) => r.reason === 'sni_mismatch'), { decision: 'log', reason: 'sni_mismatch', records: 1 });
});

t.test('memory caps: hosts past the cap go to "other", totals stay exact', async (t) => {
  const records = [...makeRecords(400, { hosts: 100 })];
  const got = aggregate(records, { maxHosts: 5, topN: 3, maxTallyKeys: 2, maxBypassHosts: 4 });
  t.same(got.totals, expectedTotals(records).want);
  t.equal(got.topDestinations.distinct, 5);
  t.equal(got.topDestinations.rows.length, 3);
  t.ok(got.topDestinations.capped);
  const o = got.topDestinations.other;
  const listed = got.topDestinations.rows.reduce((s, r) => s + r.connections + r.requests, 0);
  t.equal(listed + o.connections + o.requests, 400);
  t.same(got.bypassHosts, { distinct: 4, capped: true });

  const many = Array.from({ length: 10 }, (_, i) => ({ event: 'connect', decision: 'deny', reason: 'not_allowlisted', host: `x${i}.example` }));
  const tally = aggregate(many, { maxTallyKeys: 3, topN: 2 }).notAllowlisted;
  t.equal(tally.count, 10);
  t.equal(tally.distinct, 3);
  t.equal(tally.hosts.length, 2);
  t.equal(tally.otherCount, 8);
  t.ok(tally.capped);
});

t.test('the time series coarsens instead of growing without bound', async (t) => {
  const records = [...makeRecords(600, { stepMs: 60_000 })]; // 600 minutes
  const got = aggregate(records, { maxBuckets: 100 });
  t.ok(got.series.buckets.length <= 100);
  t.equal(got.series.bucketMs, 15 * 60_000, '1 min → 5 min (120 buckets, too many) → 15 min (40)');
  const sum = (bs: typeof got.series.buckets) => bs.reduce((s, b) => s + DECISIONS.reduce((x, d) => x + b.bytes[d] + b.connections[d], 0), 0);
  t.equal(sum(got.series.buckets), sum(aggregate(records).series.buckets), 'coarsening keeps every byte and connection');
  for (const b of got.series.buckets) t.equal(b.t % got.series.bucketMs, 0);
});
