// The pino logger: NDJSON to a file or stdout through an asynchronous destination, credentials redacted.
// Must not format records (observability/records.ts does) and must not be used for the CLI's human output.
import pino, { type Logger } from 'pino';

export type { Logger };

export interface LoggerHandle {
  logger: Logger;
  /** Writes what is buffered; call before exit. */
  flush(): void;
  /** Re-open the file (after log rotation); harmless on stdout. */
  reopen(): void;
}

export function createLogger(opts: { file: string; level: string }): LoggerHandle {
  const dest = pino.destination({
    dest: opts.file === '-' ? 1 : opts.file,
    sync: false,
    minLength: 4096,
    mkdir: true,
  });
  // A full disk or a closed pipe must not stop traffic: swallow write errors after counting them once.
  let writeErrors = 0;
  dest.on('error', () => {
    writeErrors++;
  });
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
    flush() {
      try {
        dest.flushSync();
      } catch {
        // destination not ready or closed: nothing more can be written
      }
    },
    reopen() {
      if (opts.file !== '-') dest.reopen();
    },
  };
}
