// Process-level memory tuning, applied once, when plain-HTTP forwarding first carries a bulk upload. No I/O.
//
// Node reads each socket into a freshly allocated 64 KiB buffer unless the reader brings its own (the relay
// does for origin reads, tunnel/read-sink.ts; accepted client sockets cannot), so an upload still does. glibc's malloc
// serves those from the top of its heap and, as they are freed, gives the top back to the kernel as soon as
// more than M_TRIM_THRESHOLD (128 KiB by default) is free there; the next reads grow the heap again and
// fault every page in anew. Forwarding plain-HTTP bulk this way costs one page fault per 4 KiB relayed
// (~80,000 per 256 MiB here) and about half the proxy's CPU.
//
// glibc raises its thresholds by itself when a large mmap'd block is freed (M_MMAP_THRESHOLD becomes the
// block's size, M_TRIM_THRESHOLD twice that, for blocks up to 32 MiB): one 30 MiB buffer, allocated and
// never touched (no resident pages), lets the heap keep up to 60 MiB of free top instead of trimming at
// 128 KiB (16 MiB was not always enough: a GC can free more read buffers than that at once; 32 MiB is past
// glibc's limit and changes nothing). The buffer is freed by the next garbage collection; plain-HTTP bulk
// then runs with ~100 faults per 256 MiB instead of ~80,000 and ~40 % less CPU. Where an operator set malloc tunables (GLIBC_TUNABLES,
// MALLOC_TRIM_THRESHOLD_, …) glibc keeps its thresholds fixed and this has no effect, as it has none on
// other allocators (musl, jemalloc): the allocation is then just freed.
//
// The price: after a burst, up to 2 × 30 MiB of freed heap may stay resident instead of going back to the
// kernel. A proxy that only splices tunnels (recycled buffers, tunnel/user-buffer-relay.ts) gains nothing
// from it and would keep every burst's garbage (~+2.5 KB per idle tunnel in the bench), so the thresholds
// are raised only once the forward relay sees a request body of BULK_BODY_BYTES or more (downloads read the
// origin into recycled buffers and fault ~700-1,400 times per 64 MiB without it).

/** Size of the block whose release raises glibc's thresholds (mmap threshold = this, trim = 2×). */
export const MALLOC_THRESHOLD_BLOCK_BYTES = 30 * 1024 * 1024;

/** A plain-HTTP body at least this large (Content-Length) raises the thresholds. */
export const BULK_BODY_BYTES = 1024 * 1024;

let raised = false;

/**
 * Allocates (and drops) the threshold block; false when the allocation fails (a strict overcommit limit or
 * address-space cap): the tuning is an optimisation, so a request must never fail for it.
 */
export function allocateThresholdBlock(alloc: (size: number) => Buffer = Buffer.allocUnsafeSlow): boolean {
  try {
    // allocUnsafeSlow: a block of its own (not the Buffer pool), left uninitialised so no page is touched
    alloc(MALLOC_THRESHOLD_BLOCK_BYTES);
    return true;
  } catch {
    return false;
  }
}

/** Idempotent: the first call allocates the block, later calls return at once. */
export function raiseMallocTrimThreshold(): void {
  if (raised) return;
  raised = true;
  if (process.platform !== 'linux') return;
  allocateThresholdBlock();
}

/** Whether a Content-Length announces a bulk body (pure; seven digits at least before any parsing). */
export function isBulkLength(contentLength: string | undefined): boolean {
  return contentLength !== undefined && contentLength.length >= 7 && Number(contentLength) >= BULK_BODY_BYTES;
}

/** For a body's Content-Length header: raises the thresholds when the body is bulk. */
export function noteBodyLength(contentLength: string | undefined): void {
  if (!raised && isBulkLength(contentLength)) raiseMallocTrimThreshold();
}
