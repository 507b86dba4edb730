import t from 'tap';
import { createWriteStream } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { once } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gzipSync } from 'node:zlib';
import { createAggregator } from '../../src/report/aggregate.js';
import { MAX_LINE_BYTES, readRecords, reportFromFiles, ReportInputError } from '../../src/report/read-ndjson.js';
import { makeRecord, rng } from '../fixtures/report/records.js';
import { repoPath } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

const SAMPLE = repoPath('test/fixtures/report/sample.ndjson');

/** Splits `text` into chunks of `size` bytes (so lines and UTF-8 sequences cross chunk boundaries). */
function chunked(text: string | Buffer, size: number): Readable {
  const buf = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
  return Readable.from(parts);
}

async function collect(input: Readable, maxLineBytes?: number) {
  const got: unknown[] = [];
  const stats = await readRecords(input, (r) => got.push(r), maxLineBytes === undefined ? {} : { maxLineBytes });
  return { got, stats };
}

t.test('lines split across chunks, CRLF, blank lines, a last line without newline', async (t) => {
  const text = '{"a":1}\r\n\n{"host":"bücher.example"}\n  \n{"a":3}';
  for (const size of [1, 2, 3, 7, 1000]) {
    const { got, stats } = await collect(chunked(text, size));
    t.same(got, [{ a: 1 }, { host: 'bücher.example' }, { a: 3 }], `chunk size ${size}`);
    t.same(stats, { lines: 3, records: 3, malformed: 0, tooLong: 0 });
  }
});

t.test('malformed lines are skipped and counted', async (t) => {
  const { got, stats } = await collect(chunked('{"ok":1}\nnot json\n{"half":\n{"ok":2}\n}{\n', 5));
  t.same(got, [{ ok: 1 }, { ok: 2 }]);
  t.equal(stats.malformed, 3);
  t.equal(stats.tooLong, 0);
});

t.test('a huge line is skipped (counted as malformed) without buffering it', async (t) => {
  const huge = `{"event":"connect","pad":"${'x'.repeat(MAX_LINE_BYTES + 10)}"}`;
  for (const size of [64 * 1024, 3 * 1024 * 1024]) {
    const { got, stats } = await collect(chunked(`{"a":1}\n${huge}\n{"a":2}\n${huge}`, size));
    t.same(got, [{ a: 1 }, { a: 2 }], `chunk size ${size}`);
    t.same(stats, { lines: 4, records: 2, malformed: 2, tooLong: 2 });
  }
  const small = await collect(chunked('{"a":1}\n{"b":"0123456789"}\n{"c":3}\n', 4), 12);
  t.same(small.got, [{ a: 1 }, { c: 3 }], 'the cap is configurable');
  t.equal(small.stats.tooLong, 1);
});

t.test('reportFromFiles over the fixture log', async (t) => {
  const data = await reportFromFiles([SAMPLE]);
  t.same(data.totals, {
    bypass: { connections: 2, requests: 1, bytesIn: 3372, bytesOut: 12058624 },
    log: { connections: 2, requests: 1, bytesIn: 5700, bytesOut: 22500 },
    inspect: { connections: 2, requests: 2, bytesIn: 4517, bytesOut: 93000 },
    deny: { connections: 5, requests: 0, bytesIn: 140, bytesOut: 7 },
  });
  t.equal(data.malformedLines, 2, 'one non-JSON line, one truncated record');
  t.equal(data.skippedRecords, 3, 'a startup message, an array, an unknown decision');
  t.equal(data.records, 15);
  t.equal(data.pinningCandidates.hosts[0]?.host, 'pinned.example.com');
  t.equal(data.notAllowlisted.hosts[0]?.host, 'tracker.example:443');
});

t.test("several files, '-' for stdin, gzip, and an unreadable file", async (t) => {
  const dir = await tempDir('report-read-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const line = JSON.stringify({ event: 'connect', decision: 'bypass', host: 'z.example', bytesIn: 1, bytesOut: 2 });
  const gz = join(dir, 'old.ndjson.gz');
  await writeFile(gz, gzipSync(`${line}\n${line}\n`));
  const data = await reportFromFiles([SAMPLE, '-', gz], { stdin: Readable.from([`${line}\nbroken\n`]) });
  t.equal(data.totals.bypass.connections, 2 + 1 + 2);
  t.equal(data.malformedLines, 3);
  const missing = await reportFromFiles([join(dir, 'missing.ndjson')]).catch((e: unknown) => e);
  t.ok(missing instanceof ReportInputError);
  t.match(missing, { name: 'ReportInputError', code: 'report_input', message: /missing\.ndjson: ENOENT/ });
  await writeFile(join(dir, 'bad.gz'), 'not gzip at all');
  await t.rejects(reportFromFiles([join(dir, 'bad.gz')]), { code: 'report_input' });
});

t.test('streaming a ~50 MB log keeps the heap bounded', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const dir = await tempDir('report-stream-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'big.ndjson');
  const out = createWriteStream(file);
  const r = rng(7);
  let written = 0;
  let n = 0;
  while (written < 50 * 1024 * 1024) {
    const lines: string[] = [];
    for (let i = 0; i < 2000; i++) lines.push(JSON.stringify(makeRecord(n++, r, { hosts: 3000, stepMs: 50 })));
    const chunk = `${lines.join('\n')}\n`;
    written += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');

  gc();
  // heapUsed catches buffered strings; arrayBuffers catches buffered Buffer chunks.
  const usage = (): number => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = usage();
  let peak = before;
  let seen = 0;
  const agg = createAggregator();
  const { createReadStream } = await import('node:fs');
  const started = Date.now();
  const stats = await readRecords(createReadStream(file), (rec) => {
    agg.add(rec);
    if (++seen % 20_000 === 0) peak = Math.max(peak, usage());
  });
  const data = agg.result();
  peak = Math.max(peak, usage());
  t.equal(stats.records, n);
  t.equal(data.records, n);
  t.equal(stats.malformed, 0);
  const growth = (peak - before) / (1024 * 1024);
  t.comment(`${n} records, ${(written / 1048576).toFixed(0)} MiB in ${Date.now() - started} ms, heap + buffer growth ${growth.toFixed(1)} MiB`);
  t.ok(growth < 50, `heap growth ${growth.toFixed(1)} MiB < 50 MiB`);
});
