import t from 'tap';
import { aggregate } from '../../src/report/aggregate.js';
import { computeSavings, DEFAULT_CALIBRATION, parseCalibration, type Calibration } from '../../src/report/savings.js';
import { makeRecords, CALIBRATION_FIGURES } from '../fixtures/report/records.js';

const MIB = 1024 * 1024;
const measured: Calibration = { measured: true, ...CALIBRATION_FIGURES };

t.test('no bypass traffic: every saving is zero', async (t) => {
  const records = [...makeRecords(400)].filter((r) => r.decision !== 'bypass');
  const s = computeSavings(aggregate(records), measured);
  t.equal(s.cpuSecondsSaved, 0);
  t.equal(s.cpuSecondsIfInspected, 0);
  t.equal(s.handshakesAvoided, 0);
  t.equal(s.certificatesAvoided, 0);
  t.equal(s.bytesNotDecrypted, 0);
  t.equal(s.latencyNotAddedSeconds, 0);
  t.equal(s.bypassShareOfBytes, 0);
  t.ok(s.series.length > 0 && s.series.every((p) => p.cpuSecondsSaved === 0 && p.cumulativeCpuSecondsSaved === 0));
  t.equal(computeSavings(aggregate([]), DEFAULT_CALIBRATION).cpuSecondsSaved, 0, 'empty log');
});

t.test('bypass traffic: positive savings following the documented model', async (t) => {
  const data = aggregate([
    { event: 'connect', decision: 'bypass', host: 'a.example', bytesIn: MIB, bytesOut: 3 * MIB, time: Date.UTC(2025, 0, 1, 10, 0, 5) },
    { event: 'connect', decision: 'bypass', host: 'a.example', bytesIn: 0, bytesOut: 2 * MIB, time: Date.UTC(2025, 0, 1, 10, 1, 5) },
    { event: 'connect', decision: 'bypass', host: 'b.example', bytesIn: 0, bytesOut: 0, time: Date.UTC(2025, 0, 1, 10, 1, 6) },
    { event: 'request', decision: 'bypass', host: 'c.example', bytesIn: 0, bytesOut: 50 * MIB }, // plain HTTP: no TLS to save
    { event: 'connect', decision: 'log', host: 'd.example', bytesIn: 0, bytesOut: 10 * MIB },
  ]);
  const s = computeSavings(data, measured);
  t.equal(s.handshakesAvoided, 3);
  t.equal(s.certificatesAvoided, 2);
  t.equal(s.bytesNotDecrypted, 6 * MIB);
  // if inspected: 3·2 + 2·5 + 6·10 = 76 ms; actual: 6·1 = 6 ms
  t.equal(s.cpuSecondsIfInspected, 0.076);
  t.equal(s.cpuSecondsActual, 0.006);
  t.ok(Math.abs(s.cpuSecondsSaved - 0.07) < 1e-12);
  t.equal(s.latencyNotAddedMsPerTunnel, 28);
  t.equal(s.latencyNotAddedSeconds, 0.084);
  t.equal(s.bypassShareOfBytes, 56 / 66);
  t.equal(s.warning, null, 'a measured calibration carries no warning');
  t.equal(s.series.length, 2);
  t.ok(Math.abs((s.series.at(-1)?.cumulativeCpuSecondsSaved ?? 0) - s.cpuSecondsSaved) < 1e-12, 'series adds up to the total');
  t.ok(s.assumptions.length >= 4);

  const d = computeSavings(aggregate([...makeRecords(400)]), DEFAULT_CALIBRATION);
  t.ok(d.cpuSecondsSaved > 0 && d.handshakesAvoided > 0 && d.bytesNotDecrypted > 0 && d.latencyNotAddedSeconds > 0);
});

t.test('the default calibration is flagged as not measured, and the report says so', async (t) => {
  t.equal(DEFAULT_CALIBRATION.measured, false);
  t.equal(DEFAULT_CALIBRATION.measuredAt, null);
  t.ok(Object.isFrozen(DEFAULT_CALIBRATION));
  const s = computeSavings(aggregate([...makeRecords(10)]), DEFAULT_CALIBRATION);
  t.match(s.warning, /not measured|No calibration/i);
  t.match(s.assumptions.join(' '), /not measured/);
});

t.test('parseCalibration validates a calibration file', async (t) => {
  const { measured: _m, ...file } = measured;
  t.same(parseCalibration(file, 'cal.json'), measured, 'a file is a measurement unless it says otherwise');
  t.equal(parseCalibration({ ...file, measured: false }).measured, false);
  t.equal(parseCalibration({ ...file, measuredAt: undefined }).measuredAt, null);
  t.throws(() => parseCalibration([], 'cal.json'), /cal\.json: expected a JSON object/);
  t.throws(() => parseCalibration({ ...file, certMintMs: undefined }, 'cal.json'), /cal\.json: "certMintMs"/);
  t.throws(() => parseCalibration({ ...file, cpuMsPerMiBInspect: -1 }), /"cpuMsPerMiBInspect" must be a non-negative number/);
  t.throws(() => parseCalibration({ ...file, cpuMsPerMiBInspect: '3' }), /cpuMsPerMiBInspect/);
  t.throws(() => parseCalibration({ ...file, measuredAt: 'last tuesday' }), /measuredAt/);
});
