// Streaming NDJSON reader for the report: splits a byte stream into lines with bounded memory
// (no whole-file buffering, over-long lines discarded) and feeds parsed values to the aggregator.
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { createAggregator, type AggregatorLimits } from './aggregate.js';
import type { ReportData } from './types.js';

/** Lines longer than this are skipped and counted as malformed (a log record is a few hundred bytes). */
export const MAX_LINE_BYTES = 1024 * 1024;
const NEWLINE = 0x0a;

export interface ReadStats {
  lines: number; // non-empty lines seen
  records: number; // lines parsed as JSON and handed to onRecord
  malformed: number; // not JSON, or longer than maxLineBytes
  tooLong: number; // of malformed, those skipped for length
}

export interface ReadOptions {
  maxLineBytes?: number;
}

/**
 * Reads `input` to its end, calling `onRecord` with each JSON-parsed line. Chunks are consumed with
 * async iteration (so backpressure holds); only the current partial line is kept, up to maxLineBytes.
 */
export async function readRecords(
  input: NodeJS.ReadableStream,
  onRecord: (record: unknown) => void,
  options: ReadOptions = {},
): Promise<ReadStats> {
  const maxLine = options.maxLineBytes ?? MAX_LINE_BYTES;
  const stats: ReadStats = { lines: 0, records: 0, malformed: 0, tooLong: 0 };
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let discarding = false; // inside an over-long line: drop bytes until the next newline

  const emit = (line: Buffer): void => {
    let end = line.length;
    if (end > 0 && line[end - 1] === 0x0d) end--; // CRLF
    const text = line.toString('utf8', 0, end).trim();
    if (text === '') return;
    stats.lines++;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      stats.malformed++;
      return;
    }
    stats.records++;
    onRecord(value);
  };
  const overLong = (): void => {
    stats.lines++;
    stats.malformed++;
    stats.tooLong++;
    pending = [];
    pendingBytes = 0;
  };

  for await (const raw of input as AsyncIterable<Buffer | string>) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start);
      const end = nl === -1 ? chunk.length : nl;
      if (discarding) {
        if (nl !== -1) discarding = false;
      } else if (pendingBytes + (end - start) > maxLine) {
        overLong();
        discarding = nl === -1;
      } else if (nl === -1) {
        pending.push(chunk.subarray(start, end));
        pendingBytes += end - start;
      } else if (pendingBytes === 0) {
        emit(chunk.subarray(start, end));
      } else {
        pending.push(chunk.subarray(start, end));
        emit(Buffer.concat(pending, pendingBytes + (end - start)));
        pending = [];
        pendingBytes = 0;
      }
      if (nl === -1) break;
      start = nl + 1;
    }
  }
  if (!discarding && pendingBytes > 0) emit(Buffer.concat(pending));
  return stats;
}

/** Raised for a log file that cannot be opened or read; `message` names the file. */
export class ReportInputError extends Error {
  override readonly name = 'ReportInputError';
  readonly code = 'report_input';
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    const why = (cause as NodeJS.ErrnoException | null)?.code ?? (cause instanceof Error ? cause.message : String(cause));
    super(`cannot read log ${path}: ${why}`);
  }
}

export interface ReportFromFilesOptions extends ReadOptions {
  stdin?: NodeJS.ReadableStream; // what '-' reads (default process.stdin)
  limits?: Partial<AggregatorLimits>;
}

/** Aggregates the given NDJSON logs in order ('-' = stdin; `*.gz` is gunzipped on the fly). */
export async function reportFromFiles(paths: string[], options: ReportFromFilesOptions = {}): Promise<ReportData> {
  const agg = createAggregator(options.limits);
  for (const path of paths.length > 0 ? paths : ['-']) {
    let input: NodeJS.ReadableStream;
    if (path === '-') input = options.stdin ?? process.stdin;
    else {
      const file = createReadStream(path, { highWaterMark: 256 * 1024 });
      input = file;
      if (path.endsWith('.gz')) {
        const gunzip = createGunzip();
        file.on('error', (e) => gunzip.destroy(e)); // pipe() does not forward errors
        input = file.pipe(gunzip);
      }
    }
    try {
      const stats = await readRecords(input, (r) => agg.add(r), options);
      agg.addMalformed(stats.malformed);
    } catch (e) {
      throw new ReportInputError(path, e);
    }
  }
  return agg.result();
}
