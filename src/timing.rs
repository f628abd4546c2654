//! Span timings, the application-thread side: which spans are timed, the per-span clock
//! kept in the span's extensions, and the small record of a close that crosses to the
//! flusher. Aggregation (histograms, the report) happens on the flusher, in
//! [`report`](crate::report).
//!
//! Busy and idle time are as tracing-subscriber's `fmt` span timings define them: busy is
//! the time the span was entered (on any thread, nested entries counted once), idle is the
//! rest of its life from creation to close. Nothing here allocates: the clock lives in
//! atomics updated under the registry's read lock, and a close is a `Copy` struct pushed
//! into a bounded lock-free queue.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
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

/// The clock of one timed span, stored in its extensions. Atomics, so that entering and
/// leaving need only the registry's read lock (a span may be entered on several threads).
pub(crate) struct SpanTiming {
    created: Instant,
    /// When the outermost current entry began, in nanoseconds since `created`.
    entered_at: AtomicU64,
    /// Entries not yet left (nested or on other threads): busy time is counted once.
    depth: AtomicU32,
    busy_ns: AtomicU64,
    error: AtomicBool,
}

fn nanos_since(start: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(start).as_nanos()).unwrap_or(u64::MAX)
}

impl SpanTiming {
    pub(crate) fn new() -> Self {
        SpanTiming {
            created: Instant::now(),
            entered_at: AtomicU64::new(0),
            depth: AtomicU32::new(0),
            busy_ns: AtomicU64::new(0),
            error: AtomicBool::new(false),
        }
    }

    pub(crate) fn enter(&self) {
        if self.depth.fetch_add(1, Relaxed) == 0 {
            self.entered_at
                .store(nanos_since(self.created, Instant::now()), Relaxed);
        }
    }

    pub(crate) fn exit(&self) {
        let left = self
            .depth
            .fetch_update(Relaxed, Relaxed, |d| d.checked_sub(1))
            .unwrap_or(0);
        if left == 1 {
            let now = nanos_since(self.created, Instant::now());
            let busy = now.saturating_sub(self.entered_at.load(Relaxed));
            self.busy_ns.fetch_add(busy, Relaxed);
        }
    }

    pub(crate) fn mark_error(&self) {
        self.error.store(true, Relaxed);
    }

    /// The close of this span, now. A span closed while still entered (possible when a
    /// guard outlives `close`) counts the open entry as busy.
    pub(crate) fn close(&self, name: &'static str) -> SpanClose {
        let total = nanos_since(self.created, Instant::now());
        let mut busy = self.busy_ns.load(Relaxed);
        if self.depth.load(Relaxed) > 0 {
            busy += total.saturating_sub(self.entered_at.load(Relaxed));
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
