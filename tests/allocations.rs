//! Heap allocations the application thread makes per event, counted by a global allocator
//! that counts only the calling thread's allocations (the flusher and the emulator run on
//! their own threads).
//!
//! The figures: none in the steady state, inside spans too (the flusher hands drained
//! events' value buffers back, and an event shares its span's chain), one when no spare
//! buffer is left (the value buffer), and one more when the values outgrow a new buffer.

#![cfg(feature = "mock")]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use common::Setup;
use tracing::{info, info_span};
use tracing_discord::mock::MockConfig;
use tracing_subscriber::prelude::*;

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the thread-local may be gone while a thread exits.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is passed to the system allocator unchanged; counting touches only a
// const-initialised thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations `emit` makes on this thread.
fn allocations(emit: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    emit();
    ALLOCATIONS.with(Cell::get) - before
}

const N: u64 = 1_000;

fn analytics(i: u64) {
    info!(target: "analytics", user_id = i, command = "ping", latency_ms = 3.5f64, "command handled");
}

fn ten_fields(i: u64) {
    info!(
        target: "diagnostics",
        shard = 3u64,
        guild_id = 81_384_788_765_712_384u64,
        user_id = i,
        command = "play",
        query = "never gonna give you up",
        queue_len = 12i64,
        latency_ms = 41.5f64,
        cached = true,
        region = ?"eu-west",
        voice = %"connected",
        "track queued"
    );
}

#[test]
fn allocations_per_event() {
    let s = Setup::with_config(MockConfig::with_unlimited_rates());
    let (layer, guard) = s
        .builder(Duration::from_secs(120))
        // Far above what a phase emits between two flushes (2,000 events), even split into
        // eight shards: no shard reaches its high-water mark, so the flusher never drains
        // (and hands buffers back) in the middle of a phase.
        .queue_capacity(64 * N as usize)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        // First use of each callsite and of this thread's state: not counted.
        analytics(0);
        ten_fields(0);
        info_span!("shard", id = 3).in_scope(|| analytics(0));
        guard.flush(Duration::from_secs(30)).unwrap();

        // Cold: no spare buffers (the three above are the only ones, and the first
        // analytics events take them). A ten-field event's values (about 160 bytes) outgrow
        // a new buffer once.
        let cold = allocations(|| (0..N).for_each(analytics));
        let cold_ten = allocations(|| (0..N).for_each(ten_fields));
        guard.flush(Duration::from_secs(30)).unwrap();

        // Steady: each flush hands every drained event's buffer back (2,000 spares now,
        // the analytics events' first: lanes drain in class order). So the ten-field
        // events get the buffers that the cold ten-field events grew, and need no more.
        let steady = allocations(|| (0..N).for_each(analytics));
        let steady_ten = allocations(|| (0..N).for_each(ten_fields));
        guard.flush(Duration::from_secs(30)).unwrap();
        let span = info_span!("shard", id = 3);
        let steady_in_span = allocations(|| span.in_scope(|| (0..N).for_each(analytics)));
        guard.flush(Duration::from_secs(30)).unwrap();
        // A span that records a field after it was made (as a handler fills in the user):
        // its chain is made again once, by the record, not by its events.
        let recorded = info_span!("command", user = tracing::field::Empty);
        recorded.record("user", 7);
        let steady_recorded = allocations(|| recorded.in_scope(|| (0..N).for_each(analytics)));
        guard.flush(Duration::from_secs(30)).unwrap();

        assert_eq!(
            [
                cold,
                cold_ten,
                steady,
                steady_ten,
                steady_in_span,
                steady_recorded
            ],
            [N - 3, 2 * N, 0, 0, 0, 0],
            "cold, cold ten fields, steady, steady ten fields, steady in a span, \
             steady in a recorded span"
        );
    });
    let stats = guard.shutdown();
    assert_eq!((stats.events, stats.dropped), (3 + 6 * N, 0));
    assert_eq!(stats.delivered, stats.events);
}
