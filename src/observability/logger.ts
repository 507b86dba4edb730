// The pino logger: NDJSON to a file or stdout through an asynchronous destination, credentials redacted.
// Must not format records (observability/records.ts does) and must not be used for the CLI's human output.
import pino, { type Logger } from 'pino';

export type { Logger };

export interface LoggerHandle {
  logger: Logger;
  /** Writes what is buffered (bounded in time: a full disk must not hang shutdown); call before exit. */
  flush(): void | Promise<void>;
  /** Re-open the file (after log rotation); harmless on stdout. */
  reopen(): void;
}

/** Records buffered while the log destination is not writable (a full disk); beyond it they are dropped. */
export const LOG_BUFFER_MAX_BYTES = 2 * 1024 * 1024;
/** The longest a record waits in the destination's buffer before it is written. */
export const LOG_FLUSH_EVERY_MS = 1000;
/** How long shutdown waits for buffered records to reach the destination. */
export const LOG_FLUSH_TIMEOUT_MS = 2000;

export function createLogger(opts: { file: string; level: string }): LoggerHandle {
  const dest = pino.destination({
    dest: opts.file === '-' ? 1 : opts.file,
    sync: false,
    // records leave in writes of 4 KiB or more; on a quiet proxy the timer writes what is buffered within
    // LOG_FLUSH_EVERY_MS (without it the last records of a burst waited for the next burst)
    minLength: 4096,
    periodicFlush: LOG_FLUSH_EVERY_MS,
    // while the destination cannot be written (disk full), keep at most this much; newer records are dropped
    maxLength: LOG_BUFFER_MAX_BYTES,
    mkdir: true,
  });
  // A full disk or a closed pipe must not stop traffic: count and go on (records beyond the buffer are dropped).
  let writeErrors = 0;
  dest.on('error', () => {
    writeErrors++;
  });
  // pino's exit hook calls flushSync, which retries ENOSPC forever: once writes fail, it must not block exit
  const flushSync = dest.flushSync.bind(dest);
  dest.flushSync = () => {
    if (writeErrors === 0) flushSync();
  };
  const logger = pino(
    {
      level: opts.level,
      base: { pid: process.pid },
      redact: {
        paths: ['headers["proxy-authorization"]', 'headers.authorization', 'headers.cookie', 'password', 'proxyAuthorization'],
        censor: '[redacted]',
      },
      formatters: { level: (label) => ({ level: label }) },
    },
    dest,
  );
  return {
    logger,
    async flush() {
      // asynchronous and bounded: sonic-boom's flushSync retries ENOSPC forever with the event loop blocked
      if (writeErrors === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, LOG_FLUSH_TIMEOUT_MS);
          try {
            dest.flush(() => {
              clearTimeout(timer);
              resolve();
            });
          } catch {
            clearTimeout(timer);
            resolve();
          }
        });
      }
      // pino's exit hook would flushSync a destination that still holds records: after this, nothing is left
      // to write that could be written, so let it go
      if (writeErrors > 0 || (dest as unknown as { _len?: number })._len) dest.destroy();
    },
    reopen() {
      if (opts.file !== '-') dest.reopen();
    },
  };
}
