// Reads a tunnel's upstream socket into recycled buffers (net `onread`) and writes them straight to the
// client: no fresh ArrayBuffer per read, so bulk tunnels stop driving old-space GCs (bench/RESULTS.md).
// A buffer returns to the shared pool only when its write has completed; reading pauses when the
// client is more than RELAY_HIGH_WATER bytes behind and resumes on its drain.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BULK_BUFFER_BYTES, readFilled, recycleBulkBuffer, takeBulkBuffer } from './bulk-buffers.js';

/** Read size for a tunnel that has shown bulk traffic (a read filled the shared small buffer): the
 *  shared bulk pool's (bulk-buffers.ts). */
export const RELAY_BUFFER_BYTES = BULK_BUFFER_BYTES;
/** The one read buffer all tunnels share until they show bulk traffic; its data is copied out at once. */
export const RELAY_SMALL_BUFFER_BYTES = 16 * 1024;
/** Bytes queued towards the client before reading the upstream pauses (pipe()'s behaviour, bounded). */
export const RELAY_HIGH_WATER = 512 * 1024;
// Bulk buffers return to the shared pool when their write completes, so a tunnel holds none once it is idle.

// Reads are delivered one at a time on the event loop and small-mode callbacks copy before returning,
// so one buffer serves every tunnel that is not (yet) moving bulk data: no memory per idle tunnel.
const shared = Buffer.allocUnsafe(RELAY_SMALL_BUFFER_BYTES);

export interface UserBufferRelay {
  /** For net.connect({ onread }). */
  readonly onread: { buffer: () => Buffer; callback: (n: number, buf: Buffer) => boolean };
  /** The socket the reads come from (set once it exists). */
  bind(socket: Socket): void;
  /** Starts delivering to `dest` (what arrived before is written first, in order). */
  pipeTo(dest: Duplex): void;
}

export function createUserBufferRelay(): UserBufferRelay {
  let source: Socket | null = null;
  let dest: Duplex | null = null;
  let early: Buffer[] | null = [];
  let waiting = false;
  let bulk = false;
  const resume = () => {
    waiting = false;
    source?.resume();
  };
  const backpressure = (d: Duplex): boolean => {
    if (d.writableLength <= RELAY_HIGH_WATER) return true;
    if (!waiting) {
      waiting = true;
      d.once('drain', resume);
    }
    return false;
  };
  return {
    onread: {
      // called for the first read and after every read: the buffer the next read goes into
      buffer: () => (bulk ? takeBulkBuffer() : shared),
      callback(n: number, buf: Buffer): boolean {
        if (buf === shared) {
          // small mode: copy out now (exactly what Node's own reads allocate); a full read means bulk from here on
          bulk = readFilled(n, buf);
          const copy = Buffer.from(buf.subarray(0, n));
          if (!dest) {
            early!.push(copy);
            return true;
          }
          dest.write(copy);
          return backpressure(dest);
        }
        if (!dest) {
          early!.push(Buffer.from(buf.subarray(0, n)));
          recycleBulkBuffer(buf);
          return true;
        }
        // bulk mode, zero copy: the buffer is referenced until its write completes, then recycled. A read
        // that does not fill it ends the burst (readFilled): the next read goes to the shared buffer, so a
        // tunnel idle after a download holds no 128 KiB buffer.
        bulk = readFilled(n, buf);
        dest.write(buf.subarray(0, n), () => recycleBulkBuffer(buf));
        return backpressure(dest);
      },
    },
    bind(socket) {
      source = socket;
    },
    pipeTo(d) {
      dest = d;
      for (const b of early ?? []) d.write(b);
      early = null;
      source?.on('end', () => d.end());
      if (d.writableLength > RELAY_HIGH_WATER) {
        waiting = true;
        source?.pause();
        d.once('drain', resume);
      }
    },
  };
}
