// The recycled 128 KiB read buffers of bulk transfers, shared by the tunnel relay (user-buffer-relay.ts)
// and the plain-HTTP origin reads (read-sink.ts): one bounded pool for the process, so a download in
// either kind of connection reads without a fresh ArrayBuffer per read. No sockets, no policy.

/** Read size once a transfer streams: 128 KiB halves the reads and writes per GiB against 64 KiB
 *  (bench: 0.47 → 0.40 CPU-s/GiB through a tunnel) and takes an eighth of 16 KiB's (plain HTTP). */
export const BULK_BUFFER_BYTES = 128 * 1024;
/** Buffers kept for reuse (16 × 128 KiB = 2 MiB): several bulk transfers' reads in flight; beyond it a
 *  read allocates, as Node's own reads do. */
export const BULK_POOL_MAX = 16;

const pool: Buffer[] = [];

/** A buffer of BULK_BUFFER_BYTES: a recycled one when there is one. */
export function takeBulkBuffer(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafe(BULK_BUFFER_BYTES);
}

/** Gives back a buffer from takeBulkBuffer once nothing references it any more (its write completed). */
export function recycleBulkBuffer(buf: Buffer): void {
  if (pool.length < BULK_POOL_MAX) pool.push(buf);
}

/**
 * The one rule both relays switch read sizes by: a read that filled its buffer means more is waiting in
 * the kernel, so the next read goes to a bulk buffer; any shorter read (the end of a download, a slow
 * origin) ends the burst, so the buffer a connection holds while idle is a small one.
 */
export function readFilled(n: number, buf: Buffer): boolean {
  return n === buf.length;
}
