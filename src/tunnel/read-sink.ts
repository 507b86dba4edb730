// Reads an upstream socket (an inspected tunnel's TLS, or a plain-HTTP origin) into recycled buffers
// (`onread`) and hands each read to the relay, which writes body bytes on to the client without copying.
// A buffer goes back to its pool only when every write that references it has completed, so no fresh
// ArrayBuffer is made per read: the per-record garbage that made V8 run a mark-compact every ~25 ms
// during bulk transfers.
import type { Socket } from 'node:net';
import type { OnreadReader } from './dial.js';
import { BULK_BUFFER_BYTES, readFilled, recycleBulkBuffer, takeBulkBuffer } from './bulk-buffers.js';

/** One TLS record's plaintext at most: TLS reads never deliver more. */
export const SINK_BUFFER_BYTES = 16 * 1024;
/** Read size of a plain-TCP sink while a body streams (bulk-buffers.ts, shared with the tunnel relay). */
export const SINK_BULK_BUFFER_BYTES = BULK_BUFFER_BYTES;
// small buffers shared by all sinks; bounded (2 MiB): beyond it a read allocates, as Node's own reads do
const SMALL_POOL_MAX = 128;
const small: Buffer[] = [];
const recycle = (buf: Buffer) => {
  if (buf.length !== SINK_BUFFER_BYTES) recycleBulkBuffer(buf);
  else if (small.length < SMALL_POOL_MAX) small.push(buf);
};

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

/**
 * `bulk`: the socket is plain TCP, whose reads can exceed a TLS record: read sizes follow readFilled()
 * (bulk-buffers.ts). The buffer for the next read is held while the connection is idle (pooled, between
 * requests), so an idle connection holds a small buffer unless its last read filled a bulk one exactly.
 */
export function createReadSink(opts: { bulk?: boolean } = {}): ReadSink {
  const adaptive = opts.bulk === true;
  let bulk = false;
  let handler: SinkHandler | null = null;
  let early: Buffer[] = [];
  return {
    onread: {
      // called for the first read and after every read: the buffer the next read goes into
      buffer: () => (bulk ? takeBulkBuffer() : (small.pop() ?? Buffer.allocUnsafe(SINK_BUFFER_BYTES))),
      callback(n: number, buf: Buffer): boolean {
        if (adaptive) bulk = readFilled(n, buf);
        if (!handler) {
          early.push(Buffer.from(buf.subarray(0, n)));
          recycle(buf);
          return true;
        }
        let refs = 1;
        const release = () => {
          if (--refs === 0) recycle(buf);
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
