//! The collector's heap, kept close to what it holds.
//!
//! With glibc's defaults a collector that once held a large backlog (ten thousand agents
//! reconnecting, millions of series created at once) keeps that much resident for good:
//! - every thread that meets contention gets an arena of its own (up to eight per core),
//!   and freed memory stays in the arena it came from;
//! - the mmap threshold rises to the largest block ever freed (up to 32 MiB), so
//!   RocksDB's memtable blocks (megabytes each) come from the heap instead of mmap after
//!   the first one is freed, and a heap with one live block near its top cannot shrink.
//!
//! So: a few arenas, a fixed mmap threshold (large blocks are mapped and unmapped whole),
//! and [`release`] after each housekeeping round returns free heap pages (inside the heap
//! too, not only at its top) to the kernel. Measured with `tests/bench/fleet_scale.sh`.
//!
//! On Linux with glibc this now governs RocksDB's C++ allocations (memtables, the block
//! cache, table readers): the collector binary's Rust heap is jemalloc's, set up in its
//! `main.rs` with a background thread that returns freed pages by itself.

/// Arenas for the whole process: enough that the async workers and the ingest threads
/// rarely wait for each other, few enough that free memory is shared.
const ARENAS: i32 = 4;

/// Blocks this large and larger are mmapped, and unmapped when freed.
const MMAP_THRESHOLD: i32 = 256 << 10;

/// Free memory at the heap's top past this is given back at once.
const TRIM_THRESHOLD: i32 = 8 << 20;

/// Sets glibc malloc's parameters (see the module doc). Call before any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn tune_malloc() {
    // SAFETY: mallopt only changes glibc malloc's parameters; called from `main` before
    // the runtime starts its threads. A parameter it refuses stays at its default.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// Other platforms keep their allocator's defaults.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune_malloc() {}

/// Returns free heap pages to the kernel (every arena, not only the heap's top).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release() {
    // SAFETY: malloc_trim only returns free heap memory to the kernel; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other platforms: nothing to do.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release() {}
