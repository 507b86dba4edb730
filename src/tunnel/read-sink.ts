// Reads an upstream TLS socket of an inspected tunnel into recycled buffers (tls `onread`) and hands each
// read to the relay, which writes body bytes on to the client without copying. A buffer goes back to the
// pool only when every write that references it has completed, so no fresh ArrayBuffer is made per TLS
// record: the per-record garbage that made V8 run a mark-compact every ~25 ms during bulk transfers.
import type { Socket } from 'node:net';
import type { OnreadReader } from './dial.js';

/** One TLS record's plaintext at most: reads never deliver more. */
export const SINK_BUFFER_BYTES = 16 * 1024;
// shared by all inspected tunnels; bounded (2 MiB): beyond it a read allocates, as Node's own reads do
const POOL_MAX = 128;
const pool: Buffer[] = [];

/**
 * What the relay does with a read: `data[0..n)` is valid now; to keep referencing it after returning (a
 * zero-copy write), call `retain()` and call the function it returns when done. Return false to pause reading.
 */
export type SinkHandler = (data: Buffer, n: number, retain: () => () => void) => boolean;

export interface ReadSink extends OnreadReader {
  /** Sets who receives the reads; reads that arrived before are delivered first (copies). */
  setHandler(h: SinkHandler): void;
}

const noRetain = () => () => {};

export function createReadSink(): ReadSink {
  let handler: SinkHandler | null = null;
  let early: Buffer[] = [];
  return {
    onread: {
      buffer: () => pool.pop() ?? Buffer.allocUnsafe(SINK_BUFFER_BYTES),
      callback(n: number, buf: Buffer): boolean {
        if (!handler) {
          early.push(Buffer.from(buf.subarray(0, n)));
          if (pool.length < POOL_MAX) pool.push(buf);
          return true;
        }
        let refs = 1;
        const release = () => {
          if (--refs === 0 && pool.length < POOL_MAX) pool.push(buf);
        };
        const more = handler(buf, n, () => {
          refs++;
          return release;
        });
        release();
        return more;
      },
    },
    bind(_socket: Socket) {},
    setHandler(h) {
      handler = h;
      const list = early;
      early = [];
      for (const b of list) h(b, b.length, noRetain);
    },
  };
}
