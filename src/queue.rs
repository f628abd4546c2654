//! The bounded lock-free queues between application threads and the flusher, and the
//! lock-free wake-up that tells the flusher to look at them.
//!
//! Pushing never blocks and never allocates beyond the record itself: a full queue drops
//! the record and bumps a counter. Nothing on this path emits a tracing event.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use atomic_waker::AtomicWaker;
use crossbeam_queue::ArrayQueue;
use tracing_core::Level;

use crate::record::Record;
use crate::stats::{Counters, DropReason};
use crate::timing::SpanClose;
use crate::Class;

/// ERRORs waiting to be posted at once, all classes together. Bounded so a flood of ERRORs
/// cannot grow memory; overflow falls back to the class queue (and is posted with the batch).
const URGENT_CAPACITY: usize = 1024;

/// What the layer and the flusher share.
pub(crate) struct Queues {
    classes: [ArrayQueue<Record>; 3],
    urgent: ArrayQueue<Record>,
    /// Closes of timed spans, for the performance report (see `push_span_close`).
    spans: ArrayQueue<SpanClose>,
    /// Queue length at which the flusher is woken before the batch interval.
    high_water: usize,
    wake: Wake,
    closed: AtomicBool,
    pub(crate) counters: Counters,
}

impl Queues {
    pub(crate) fn new(capacity: usize) -> Self {
        Queues {
            classes: [(); 3].map(|_| ArrayQueue::new(capacity)),
            urgent: ArrayQueue::new(URGENT_CAPACITY.min(capacity)),
            spans: ArrayQueue::new(capacity),
            high_water: (capacity / 2).max(1),
            wake: Wake::default(),
            closed: AtomicBool::new(false),
            counters: Counters::default(),
        }
    }

    /// The hot path: queue a record or count it as dropped. Never blocks.
    pub(crate) fn push(&self, mut record: Record) {
        let class = record.class;
        let counters = self.counters.class(class);
        counters.events.fetch_add(1, Ordering::Relaxed);
        if self.closed.load(Ordering::Acquire) {
            counters.drop_events(DropReason::AfterShutdown, 1);
            return;
        }
        if record.level == Level::ERROR {
            match self.urgent.push(record) {
                Ok(()) => {
                    self.wake.wake();
                    return;
                }
                Err(back) => record = back,
            }
        }
        let queue = &self.classes[class.index()];
        match queue.push(record) {
            Ok(()) => {
                let depth = queue.len();
                counters
                    .queue_peak
                    .fetch_max(depth as u64, Ordering::Relaxed);
                if depth >= self.high_water {
                    self.wake.wake();
                }
            }
            Err(_dropped) => counters.drop_events(DropReason::QueueFull, 1),
        }
    }

    /// The statistics, with the queues' depth now.
    pub(crate) fn stats(&self) -> crate::Stats {
        let mut stats = self.counters.snapshot();
        for c in &mut stats.per_class {
            c.queue_depth = self.class_len(c.class) as u64;
        }
        stats
    }

    /// Counts an event that was seen but could not be captured.
    pub(crate) fn count_dropped(&self, class: Class, reason: DropReason) {
        let counters = self.counters.class(class);
        counters.events.fetch_add(1, Ordering::Relaxed);
        counters.drop_events(reason, 1);
    }

    /// Takes every queued record of `class`, oldest first.
    pub(crate) fn drain_class(&self, class: Class) -> Vec<Record> {
        drain(&self.classes[class.index()])
    }

    /// Takes every urgent record, oldest first.
    pub(crate) fn drain_urgent(&self) -> Vec<Record> {
        drain(&self.urgent)
    }

    pub(crate) fn class_len(&self, class: Class) -> usize {
        self.classes[class.index()].len()
    }

    pub(crate) fn over_high_water(&self, class: Class) -> bool {
        self.class_len(class) >= self.high_water
    }

    pub(crate) fn has_urgent(&self) -> bool {
        !self.urgent.is_empty()
    }

    /// Stops accepting records; later pushes are counted as dropped after shutdown.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Resolves once `wake` was called since the previous `woken().await` returned.
    pub(crate) async fn woken(&self) {
        self.wake.wait().await;
    }
}

/// Span timings: closes of timed spans travel in their own queue of small `Copy` values,
/// so that a close allocates nothing. Each counts as one diagnostics event (delivered with
/// the performance report that counts it).
impl Queues {
    /// Queues a span close or counts it as dropped. Never blocks.
    pub(crate) fn push_span_close(&self, close: SpanClose) {
        let counters = self.counters.class(Class::Diagnostics);
        counters.events.fetch_add(1, Ordering::Relaxed);
        if self.closed.load(Ordering::Acquire) {
            counters.drop_events(DropReason::AfterShutdown, 1);
            return;
        }
        match self.spans.push(close) {
            Ok(()) => {
                if self.spans.len() >= self.high_water {
                    self.wake.wake();
                }
            }
            Err(_) => counters.drop_events(DropReason::SpanQueueFull, 1),
        }
    }

    /// Takes every queued span close, oldest first (at most what the queue holds now).
    pub(crate) fn drain_span_closes(&self) -> Vec<SpanClose> {
        drain(&self.spans)
    }
}

/// Takes the records a queue holds now, oldest first. At most one queue's worth: while
/// producers keep pushing, popping until empty could take without end, and what the
/// flusher holds must stay bounded by the capacity.
fn drain<T>(queue: &ArrayQueue<T>) -> Vec<T> {
    let n = queue.len();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match queue.pop() {
            Some(r) => out.push(r),
            None => break,
        }
    }
    out
}

/// A lock-free, coalescing wake-up: many pushes between two flusher passes cost one wake.
#[derive(Default)]
struct Wake {
    pending: AtomicBool,
    waker: AtomicWaker,
}

impl Wake {
    fn wake(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            self.waker.wake();
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            if self.pending.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            if self.pending.swap(false, Ordering::AcqRel) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(msg: &str) -> Record {
        Record::new(Class::Log, Level::INFO, "t", msg)
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let q = Queues::new(4);
        for i in 0..100 {
            q.push(info(&i.to_string()));
        }
        let s = q.counters.snapshot();
        assert_eq!(s.events, 100);
        assert_eq!(s.class(Class::Log).dropped_for(DropReason::QueueFull), 96);
        let kept: Vec<String> = q
            .drain_class(Class::Log)
            .into_iter()
            .map(|r| r.message().to_owned())
            .collect();
        assert_eq!(kept, ["0", "1", "2", "3"]);
    }

    #[test]
    fn errors_take_the_urgent_queue_then_fall_back() {
        let q = Queues::new(2);
        for _ in 0..3 {
            q.push(Record::new(Class::Log, Level::ERROR, "t", "e"));
        }
        assert_eq!(q.drain_urgent().len(), 2);
        assert_eq!(q.class_len(Class::Log), 1);
    }

    #[test]
    fn a_full_span_queue_counts_closes_as_diagnostics_drops() {
        let q = Queues::new(2);
        let close = SpanClose {
            name: "s",
            busy_ns: 1,
            idle_ns: 2,
            error: false,
        };
        for _ in 0..5 {
            q.push_span_close(close);
        }
        let s = q.counters.snapshot();
        let d = s.class(Class::Diagnostics);
        assert_eq!((d.events, d.dropped_for(DropReason::SpanQueueFull)), (5, 3));
        assert_eq!(q.drain_span_closes(), [close, close]);
        assert_eq!(q.class_len(Class::Diagnostics), 0);
    }

    #[test]
    fn closed_queue_counts_after_shutdown() {
        let q = Queues::new(2);
        q.close();
        q.push(info("late"));
        let s = q.counters.snapshot();
        assert_eq!(
            s.class(Class::Log).dropped_for(DropReason::AfterShutdown),
            1
        );
        assert_eq!(q.class_len(Class::Log), 0);
    }
}
