//! Span records racing with other records and events, made deterministic: a global
//! allocator stops one thread inside `on_record`, after it has read the texts it builds a
//! span's chain from and before it stores the chain, while the test does what another
//! thread might do in that window.
//!
//! The stop is the chain's growth past four entries (a `Vec<Arc<str>>` reallocated from 64
//! bytes), on a thread that asked for it; it lasts until the test resumes the thread or two
//! seconds pass, so a layer that grows the chain under a lock only serialises the test.

#![cfg(feature = "mock")]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{wait_until, Setup};
use tracing::{info, info_span, Dispatch, Span};
use tracing_discord::Class;
use tracing_subscriber::prelude::*;

const LONG: Duration = Duration::from_secs(120);

thread_local! {
    /// Set on the thread to stop at its next chain growth.
    static STOP_HERE: Cell<bool> = const { Cell::new(false) };
}

static STOPPED: AtomicBool = AtomicBool::new(false);
static RESUME: AtomicBool = AtomicBool::new(false);
/// One scenario at a time: the flags above are shared.
static SERIAL: Mutex<()> = Mutex::new(());

fn maybe_stop(layout: Layout) {
    if layout.size() != 64 || layout.align() != 8 {
        return;
    }
    if !STOP_HERE.try_with(|s| s.replace(false)).unwrap_or(false) {
        return;
    }
    STOPPED.store(true, Ordering::SeqCst);
    let end = Instant::now() + Duration::from_secs(2);
    while !RESUME.load(Ordering::SeqCst) && Instant::now() < end {
        std::thread::yield_now();
    }
}

struct StoppingAllocator;

// SAFETY: every call is passed to the system allocator unchanged; stopping touches only a
// const-initialised thread-local `Cell` and atomics, which never allocate.
unsafe impl GlobalAlloc for StoppingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        maybe_stop(layout);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: StoppingAllocator = StoppingAllocator;

/// Runs `record` on another thread, stopped inside the layer's `on_record` while `meanwhile`
/// runs here; then lets it finish.
fn record_stopped_while(
    dispatch: &Dispatch,
    record: impl FnOnce() + Send,
    meanwhile: impl FnOnce(),
) {
    STOPPED.store(false, Ordering::SeqCst);
    RESUME.store(false, Ordering::SeqCst);
    std::thread::scope(|scope| {
        let recorder = scope.spawn(|| {
            tracing::dispatcher::with_default(dispatch, || {
                STOP_HERE.with(|s| s.set(true));
                record();
                STOP_HERE.with(|s| s.set(false));
            })
        });
        assert!(
            wait_until(Duration::from_secs(5), || STOPPED.load(Ordering::SeqCst)),
            "the recording thread stopped inside on_record"
        );
        meanwhile();
        RESUME.store(true, Ordering::SeqCst);
        recorder.join().unwrap();
    });
}

/// `root > a > b > c > x`: x has four ancestors, so its chain grows past four entries.
fn four_deep() -> (Span, Span, Span, Span, Span) {
    let root = info_span!("root");
    let a = info_span!(parent: &root, "a", k = tracing::field::Empty);
    let b = info_span!(parent: &a, "b");
    let c = info_span!(parent: &b, "c");
    let x = info_span!(parent: &c, "x", n = tracing::field::Empty, m = tracing::field::Empty);
    (root, a, b, c, x)
}

/// A record on an ancestor, and an event that makes the chain again, both while a record on
/// the span (one without children) is building its chain from the ancestor's old text: the
/// span's later events show the ancestor's new fields.
#[test]
fn an_ancestor_recorded_while_its_descendant_records_shows_in_the_descendants_next_event() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        let (_root, a, _b, _c, x) = four_deep();
        record_stopped_while(
            &dispatch,
            || {
                x.record("n", 1);
            },
            || {
                a.record("k", "new");
                info!(parent: &x, "during");
            },
        );
        info!(parent: &x, "after");
    });
    guard.shutdown();
    assert_eq!(
        s.lines(Class::Log),
        [
            "INFO  span_races: root: a{k=new}: b: c: x{n=1}: during",
            "INFO  span_races: root: a{k=new}: b: c: x{n=1}: after",
        ]
    );
}

/// Two records on one span (without children) at once: its events show both fields, whichever
/// record stores the span's chain last.
#[test]
fn a_span_recorded_on_two_threads_at_once_shows_both_fields() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        let (_root, _a, _b, _c, x) = four_deep();
        record_stopped_while(
            &dispatch,
            || {
                x.record("n", 1);
            },
            || {
                x.record("m", 2);
            },
        );
        info!(parent: &x, "after");
    });
    guard.shutdown();
    assert_eq!(
        s.lines(Class::Log),
        ["INFO  span_races: root: a: b: c: x{n=1 m=2}: after"]
    );
}
