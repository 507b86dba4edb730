// Process-level memory tuning, run once when `start` begins. No I/O, nothing on the connection path.
//
// Node's HTTP client and server read each socket into a freshly allocated 64 KiB buffer. glibc's malloc
// serves those from the top of its heap and, as they are freed, gives the top back to the kernel as soon as
// more than M_TRIM_THRESHOLD (128 KiB by default) is free there; the next reads grow the heap again and
// fault every page in anew. Forwarding plain-HTTP bulk this way costs one page fault per 4 KiB relayed
// (~80,000 per 256 MiB here) and about half the proxy's CPU.
//
// glibc raises its thresholds by itself when a large mmap'd block is freed (M_MMAP_THRESHOLD becomes the
// block's size, M_TRIM_THRESHOLD twice that, up to 32 MiB): one 16 MiB buffer, allocated and never
// touched (no resident pages), lets the heap keep up to 32 MiB of free top instead of trimming at 128 KiB.
// The buffer is freed by the next garbage collection; plain-HTTP bulk then runs with ~1,000 faults per
// 256 MiB instead of ~80,000 and ~45 % less CPU. Where an operator set malloc tunables (GLIBC_TUNABLES,
// MALLOC_TRIM_THRESHOLD_, …) glibc keeps its thresholds fixed and this has no effect, as it has none on
// other allocators (musl, jemalloc): the allocation is then just freed.

/** Size of the block whose release raises glibc's thresholds (mmap threshold = this, trim = 2×). */
export const MALLOC_THRESHOLD_BLOCK_BYTES = 30 * 1024 * 1024;

export function raiseMallocTrimThreshold(): void {
  if (process.platform !== 'linux') return;
  // allocUnsafeSlow: a block of its own (not the Buffer pool), left uninitialised so no page is touched
  Buffer.allocUnsafeSlow(MALLOC_THRESHOLD_BLOCK_BYTES);
}
