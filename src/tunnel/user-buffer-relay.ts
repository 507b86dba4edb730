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
  return new Relay();
}

// The relay's state is one object; what listens on the sockets is shared by every relay and finds it
// through a symbol property of the socket it is called on (an idle tunnel holds no closure of its own here
// beyond the two `onread` functions: Node calls `buffer()` without a receiver, and the receiver of
// `callback` is not documented).
const RELAY = Symbol('relay');
type WithRelay<T> = T & { [RELAY]: Relay };

class Relay implements UserBufferRelay {
  source: Socket | null = null;
  dest: Duplex | null = null;
  early: Buffer[] | null = [];
  waiting = false;
  bulk = false;
  readonly onread: UserBufferRelay['onread'];

  constructor() {
    // called for the first read and after every read: the buffer the next read goes into
    this.onread = { buffer: () => (this.bulk ? takeBulkBuffer() : shared), callback: (n, buf) => this.read(n, buf) };
  }

  bind(socket: Socket): void {
    this.source = socket;
    (socket as WithRelay<Socket>)[RELAY] = this;
  }

  pipeTo(d: Duplex): void {
    this.dest = d;
    (d as WithRelay<Duplex>)[RELAY] = this;
    for (const b of this.early ?? []) d.write(b);
    this.early = null;
    this.source?.on('end', onSourceEnd);
    if (d.writableLength > RELAY_HIGH_WATER) {
      this.waiting = true;
      this.source?.pause();
      d.once('drain', onDestDrain);
    }
  }

  private read(n: number, buf: Buffer): boolean {
    const dest = this.dest;
    if (buf === shared) {
      // small mode: copy out now (exactly what Node's own reads allocate); a full read means bulk from here on
      this.bulk = readFilled(n, buf);
      const copy = Buffer.from(buf.subarray(0, n));
      if (!dest) {
        this.early!.push(copy);
        return true;
      }
      dest.write(copy);
      return this.backpressure(dest);
    }
    if (!dest) {
      this.early!.push(Buffer.from(buf.subarray(0, n)));
      recycleBulkBuffer(buf);
      return true;
    }
    // bulk mode, zero copy: the buffer is referenced until its write completes, then recycled. A read
    // that does not fill it ends the burst (readFilled): the next read goes to the shared buffer, so a
    // tunnel idle after a download holds no 128 KiB buffer.
    this.bulk = readFilled(n, buf);
    dest.write(buf.subarray(0, n), () => recycleBulkBuffer(buf));
    return this.backpressure(dest);
  }

  private backpressure(d: Duplex): boolean {
    if (d.writableLength <= RELAY_HIGH_WATER) return true;
    if (!this.waiting) {
      this.waiting = true;
      d.once('drain', onDestDrain);
    }
    return false;
  }
}

function onDestDrain(this: WithRelay<Duplex>): void {
  const r = this[RELAY];
  r.waiting = false;
  r.source?.resume();
}

function onSourceEnd(this: WithRelay<Socket>): void {
  this[RELAY].dest?.end();
}
