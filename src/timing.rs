//! Span timings, the application-thread side: which spans are timed, the per-span clock
//! kept in the span's extensions, and the small record of a close that crosses to the
//! flusher. Aggregation (histograms, the report) happens on the flusher, in
//! [`report`](crate::report).
//!
//! Busy and idle time are as tracing-subscriber's `fmt` span timings define them: busy is
//! the time the span was entered (on any thread, nested entries counted once), idle is the
//! rest of its life from creation to close. Nothing here allocates: the clock lives in
//! the span's extensions behind its own small lock (taken under the registry's read lock),
//! and a close is a `Copy` struct pushed into a bounded lock-free queue.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// One closed timed span, as the flusher receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpanClose {
    /// The span's name (its callsite's, `'static` like all tracing metadata).
    pub(crate) name: &'static str,
    /// Nanoseconds the span was entered.
    pub(crate) busy_ns: u64,
    /// Nanoseconds of its life it was not entered.
    pub(crate) idle_ns: u64,
    /// An ERROR event happened inside it.
    pub(crate) error: bool,
}

/// Which spans are timed, besides those whose target classifies as diagnostics.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimedSpans {
    /// Span names timed whatever their target.
    pub(crate) names: Vec<String>,
}

impl TimedSpans {
    pub(crate) fn named(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }
}

/// The clock of one timed span, stored in its extensions. Behind its own small lock, so
/// that entering and leaving need only the registry's read lock (a span may be entered on
/// several threads); uncontended unless one span is entered on several threads at once.
pub(crate) struct SpanTiming {
    created: Instant,
    /// One lock for the depth and the start of the current stretch: as separate atomics,
    /// an exit could read a start that another thread's enter had just overwritten.
    clock: Mutex<Clock>,
    error: AtomicBool,
}

#[derive(Default)]
struct Clock {
    /// When the outermost current entry began, in nanoseconds since `created`.
    entered_at: u64,
    /// Entries not yet left (nested or on other threads): busy time is counted once.
    depth: u32,
    busy_ns: u64,
}

fn nanos_since(start: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(start).as_nanos()).unwrap_or(u64::MAX)
}

impl SpanTiming {
    pub(crate) fn new() -> Self {
        SpanTiming {
            created: Instant::now(),
            clock: Mutex::new(Clock::default()),
            error: AtomicBool::new(false),
        }
    }

    fn clock(&self) -> MutexGuard<'_, Clock> {
        // Nothing panics while holding it; a poisoned clock is still a clock.
        self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn enter(&self) {
        let mut clock = self.clock();
        if clock.depth == 0 {
            clock.entered_at = nanos_since(self.created, Instant::now());
        }
        clock.depth = clock.depth.saturating_add(1);
    }

    pub(crate) fn exit(&self) {
        let mut clock = self.clock();
        // One exit too many is ignored.
        if clock.depth == 0 {
            return;
        }
        clock.depth -= 1;
        if clock.depth == 0 {
            let now = nanos_since(self.created, Instant::now());
            clock.busy_ns = clock
                .busy_ns
                .saturating_add(now.saturating_sub(clock.entered_at));
        }
    }

    pub(crate) fn mark_error(&self) {
        self.error.store(true, Relaxed);
    }

    /// The close of this span, now. A span closed while still entered (possible when a
    /// guard outlives `close`) counts the open entry as busy.
    pub(crate) fn close(&self, name: &'static str) -> SpanClose {
        let clock = self.clock();
        let total = nanos_since(self.created, Instant::now());
        let mut busy = clock.busy_ns;
        if clock.depth > 0 {
            busy = busy.saturating_add(total.saturating_sub(clock.entered_at));
        }
        let busy = busy.min(total);
        SpanClose {
            name,
            busy_ns: busy,
            idle_ns: total - busy,
            error: self.error.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn busy_counts_entered_time_once_and_idle_the_rest() {
        let t = SpanTiming::new();
        std::thread::sleep(Duration::from_millis(20));
        t.enter();
        t.enter(); // nested: counted once
        std::thread::sleep(Duration::from_millis(30));
        t.exit();
        t.exit();
        t.exit(); // one exit too many is ignored
        std::thread::sleep(Duration::from_millis(10));
        let c = t.close("work");
        assert_eq!(c.name, "work");
        assert!(c.busy_ns >= 30_000_000, "{c:?}");
        assert!(c.idle_ns >= 30_000_000, "{c:?}");
        assert!(!c.error);
        t.mark_error();
        assert!(t.close("work").error);
    }
}

#[cfg(test)]
mod review_tests {
    use super::*;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// A span entered on two threads at once: busy time is at least what either thread
    /// spent inside it. Depth and `entered_at` are separate atomics: an exit that reads
    /// `entered_at` after another thread's enter overwrote it loses the busy stretch that
    /// just ended, and an enter preempted between its depth increment and its store starts
    /// the stretch late. Racy by nature: several rounds, any one of which may catch it.
    #[test]
    fn busy_time_of_a_span_entered_on_two_threads_is_not_lost() {
        for round in 0..6 {
            let t = Arc::new(SpanTiming::new());
            let run = Duration::from_millis(150);
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let t = Arc::clone(&t);
                    std::thread::spawn(move || {
                        let end = Instant::now() + run;
                        let mut inside = Duration::ZERO;
                        while Instant::now() < end {
                            let start = Instant::now();
                            t.enter();
                            while start.elapsed() < Duration::from_micros(20) {
                                std::hint::spin_loop();
                            }
                            t.exit();
                            inside += start.elapsed();
                            for _ in 0..20 {
                                std::hint::spin_loop();
                            }
                        }
                        inside
                    })
                })
                .collect();
            let inside: Vec<Duration> = workers.into_iter().map(|w| w.join().unwrap()).collect();
            let busy = Duration::from_nanos(t.close("s").busy_ns);
            let most = *inside.iter().max().unwrap();
            assert!(
                busy.as_secs_f64() >= most.as_secs_f64() * 0.9,
                "round {round}: busy {busy:?}, but one thread alone was inside for {most:?} ({inside:?})"
            );
        }
    }
}
