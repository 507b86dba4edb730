// Reads a tunnel's upstream socket into one reused buffer per socket (net `onread`) and writes straight to
// the client: no 64 KiB ArrayBuffer per read, so bulk tunnels stop driving old-space GCs (bench/RESULTS.md).
// Backpressure: reading pauses while a write still references the buffer, and resumes on the client's drain.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** Per-socket read buffer; pages are only resident once a transfer has touched them. */
export const RELAY_BUFFER_BYTES = 64 * 1024;

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
  let early: Buffer[] = [];
  let waiting = false;
  const resume = () => {
    waiting = false;
    source?.resume();
  };
  return {
    onread: {
      buffer: () => Buffer.allocUnsafe(RELAY_BUFFER_BYTES),
      callback(n: number, buf: Buffer): boolean {
        const chunk = buf.subarray(0, n);
        if (!dest) {
          early.push(Buffer.from(chunk)); // the buffer is reused by the next read: copy
          return true;
        }
        if (dest.writableLength > 0) {
          // the client is already behind: queue a copy and stop reading until it drains
          dest.write(Buffer.from(chunk));
        } else {
          dest.write(chunk);
          if (dest.writableLength === 0) return true; // written synchronously: the buffer is free again
        }
        if (!waiting) {
          waiting = true;
          dest.once('drain', resume);
        }
        return false;
      },
    },
    bind(socket) {
      source = socket;
    },
    pipeTo(d) {
      dest = d;
      for (const b of early) d.write(b);
      early = [];
      source?.once('end', () => d.end());
      if (d.writableLength > 0) {
        waiting = true;
        source?.pause();
        d.once('drain', resume);
      }
    },
  };
}
