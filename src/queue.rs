//! The bounded lock-free queues between application threads and the flusher, and the
//! lock-free wake-up that tells the flusher to look at them.
//!
//! Pushing never blocks and never allocates beyond the record itself: a full queue drops
//! the record and bumps a counter. Nothing on this path emits a tracing event.
//!
//! Each class queue is split into shards, one per core (at most [`MAX_SHARDS`]), and each
//! application thread pushes to its own shard first: two threads logging at once then
//! touch different cache lines instead of fighting over one queue's tail and counters.
//! A full shard passes the record on to the next, so one busy thread can still use the
//! whole capacity. The flusher merges the shards back into time order.
//!
//! What the queues hold are [`Captured`] events, not records: the flusher turns them into
//! [`Record`]s as it drains, and hands each capture's value buffer back to the spare list
//! of the capturing thread's home shard, where that thread takes its next buffer: in a
//! steady state the hot path does not allocate at all.

use std::cell::Cell;
use std::future::poll_fn;
use std::sync::atomic::{fence, AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::Poll;

use atomic_waker::AtomicWaker;
use crossbeam_queue::ArrayQueue;
use tracing_core::Level;

use crate::capture::Captured;
use crate::record::Record;
use crate::stats::{Counters, DropReason, Queued};
use crate::timing::SpanClose;
use crate::Class;

/// ERRORs waiting to be posted at once, all classes together. Bounded so a flood of ERRORs
/// cannot grow memory; overflow falls back to the class queue (and is posted with the batch).
const URGENT_CAPACITY: usize = 1024;

/// Most shards a class queue is split into.
const MAX_SHARDS: usize = 8;

/// Value buffers larger than this are freed rather than kept as spares, so a rare huge
/// event does not pin its memory.
const SPARE_MAX_CAPACITY: usize = 512;

/// Bytes reserved for a new value buffer when no spare is left: most events fit, so the
/// buffer is allocated once.
pub(crate) const TEXT_CAPACITY: usize = 96;

/// The least common multiple of 1 to `MAX_SHARDS` (8).
const HOME_CYCLE: usize = 840;

/// Hands each thread its home shard, round robin.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's home shard (`usize::MAX` until its first push).
    static HOME_SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's place in the round robin of homes, below [`HOME_CYCLE`]; see
/// [`Queues::home_shard`].
fn home_number() -> usize {
    HOME_SHARD.with(|home| {
        let mut shard = home.get();
        if shard == usize::MAX {
            // Kept below 840, a multiple of every shard count up to `MAX_SHARDS`: the
            // round robin stays even, and a record keeps its home in two bytes.
            shard = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % HOME_CYCLE;
            home.set(shard);
        }
        shard
    })
}

/// One shard of a class queue, on its own cache lines.
#[repr(align(128))]
struct Shard {
    records: ArrayQueue<Captured>,
    /// Records the flusher has taken from this shard. With the length, what the shard
    /// accepted: counted by the flusher once a drain rather than by every push, which
    /// would cost the hot path an atomic read-modify-write.
    taken: AtomicU64,
    signalled: FillSignal,
    /// Length at which the flusher is woken before the batch interval (half the shard).
    high_water: usize,
}

/// One wake a fill, not one a push: the first producer to find a queue at its high-water
/// mark asks for a wake; the flag is cleared when the flusher has drained.
#[derive(Default)]
struct FillSignal(AtomicBool);

impl FillSignal {
    /// After a push: whether this push should wake the flusher. The flag is read before
    /// the length, so a length read before a drain cannot set the flag once the queue
    /// has been emptied.
    fn after_push(&self, len: impl FnOnce() -> usize, high_water: usize) -> bool {
        !self.0.load(Ordering::Acquire)
            && len() >= high_water
            && !self.0.swap(true, Ordering::AcqRel)
    }

    /// After the flusher has popped, not before: a push landing during the drain while
    /// the queue is still above its mark would set the flag again, and the drain would then
    /// empty the queue with the flag left set, so the next fill would wake nobody. (A queue
    /// left above its mark by such pushes is seen when the flusher looks next.)
    fn drained(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// A class queue: its shards and the flusher's record of how deep it has been.
struct ClassQueue {
    shards: Box<[Shard]>,
    peak: AtomicU64,
    /// Odd while the flusher moves records out of the shards (popped, not yet counted as
    /// taken), so that [`ClassQueue::queued`] can wait for the count to be whole.
    moving: AtomicU64,
    /// The drain count: each record is stamped with it as it is pushed, and a drain first
    /// moves it on, so that it can tell the records pushed while it pops (see `drain`).
    epoch: AtomicU16,
    /// Records a drain popped that were pushed while it popped, one run a shard (each in
    /// its shard's order, which the merge relies on): they go with the next drain. Only
    /// the flusher touches it.
    held: Mutex<Vec<Vec<Captured>>>,
    /// How many records `held` holds, for the statistics' depth (they are counted as
    /// taken, but wait as much as the records in the shards).
    held_len: AtomicUsize,
}

/// Marks records moving out of a queue's shards: `moving` is odd until it is dropped.
struct Moving<'a>(&'a AtomicU64);

impl<'a> Moving<'a> {
    fn start(moving: &'a AtomicU64) -> Self {
        moving.fetch_add(1, Ordering::Relaxed);
        // Whoever sees a pop or a `taken` of this drain sees `moving` odd.
        fence(Ordering::Release);
        Moving(moving)
    }
}

impl Drop for Moving<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Release);
    }
}

impl ClassQueue {
    fn new(capacity: usize, shards: usize) -> Self {
        let shards = shards.clamp(1, capacity.max(1));
        ClassQueue {
            shards: (0..shards)
                .map(|i| {
                    // The shards' sizes add up to the capacity exactly.
                    let size = shard_size(capacity, shards, i);
                    Shard {
                        records: ArrayQueue::new(size),
                        taken: AtomicU64::new(0),
                        signalled: FillSignal::default(),
                        high_water: (size / 2).max(1),
                    }
                })
                .collect(),
            peak: AtomicU64::new(0),
            moving: AtomicU64::new(0),
            epoch: AtomicU16::new(0),
            held: Mutex::new(Vec::new()),
            held_len: AtomicUsize::new(0),
        }
    }

    /// Pushes to the home shard, or the next that has room: `Some(true)` when the flusher
    /// should be woken, `None` (the record dropped) when every shard is full.
    #[inline(always)]
    fn push(&self, home: usize, mut record: Captured) -> Option<bool> {
        // Sequentially consistent, as the shards' own tail updates are: a push that lands
        // after a drain has looked at a shard is ordered after that drain's new epoch, and
        // so is every later push of the same thread.
        record.epoch = self.epoch.load(Ordering::SeqCst);
        let n = self.shards.len();
        // Wrapped by comparison: a division by the shard count costs tens of cycles.
        let mut next = if home < n { home } else { home % n };
        for _ in 0..n {
            let shard = &self.shards[next];
            next += 1;
            if next == n {
                next = 0;
            }
            match shard.records.push(record) {
                Ok(()) => {
                    // The flag first: a length read before a drain that then clears the
                    // flag must not set it again once the shard is empty.
                    let wake = shard
                        .signalled
                        .after_push(|| shard.records.len(), shard.high_water);
                    return Some(wake);
                }
                Err(back) => record = back,
            }
        }
        None
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.records.len()).sum()
    }

    fn over_high_water(&self) -> bool {
        self.shards.iter().any(|s| s.records.len() >= s.high_water)
    }

    /// What the shards accepted and hold. Records the flusher is moving out (popped, not
    /// yet counted as taken) would be in neither count: read while it does, the counts are
    /// read again once it is done (a drain pops at most one queue's worth).
    fn queued(&self) -> Queued {
        loop {
            let before = self.moving.load(Ordering::Acquire);
            if before % 2 == 0 {
                let depth = self.len() as u64;
                let taken: u64 = self
                    .shards
                    .iter()
                    .map(|s| s.taken.load(Ordering::Relaxed))
                    .sum();
                fence(Ordering::Acquire);
                if self.moving.load(Ordering::Relaxed) == before {
                    // Held back by the last drain: accepted and taken, still waiting.
                    let waiting = depth + self.held_len.load(Ordering::Relaxed) as u64;
                    return Queued {
                        accepted: taken + depth,
                        depth: waiting,
                        peak: self.peak.load(Ordering::Relaxed).max(waiting),
                    };
                }
            }
            std::thread::yield_now();
        }
    }

    /// Takes what the shards hold, merged into time order (each shard's own order kept;
    /// equal times in the order their threads made them, then to the lower shard).
    ///
    /// One thread's events must not be split across batches out of order. A thread whose
    /// home shard is full goes on to the next one, so while the flusher pops shard by shard,
    /// a thread can leave events in a shard already popped and then push later ones to a
    /// shard not popped yet. So the drain first moves the epoch on, pops every shard
    /// (at most its capacity, so that it ends while producers keep pushing), and holds back
    /// what was pushed after that: those go with the next drain, with what comes after
    /// them. Every earlier event of the same thread was pushed before, so it is taken now.
    fn drain(&self) -> Vec<Captured> {
        self.drain_holding(true, &mut |_| {})
    }

    /// Takes everything, holding nothing back: at shutdown, when no drain follows.
    fn drain_all(&self) -> Vec<Captured> {
        self.drain_holding(false, &mut |_| {})
    }

    /// The drain; `between` runs after each shard is popped (tests push there).
    fn drain_holding(&self, hold_late: bool, between: &mut dyn FnMut(usize)) -> Vec<Captured> {
        let depth: usize = self.shards.iter().map(|s| s.records.len()).sum();
        self.peak.fetch_max(depth as u64, Ordering::Relaxed);
        let now = self.epoch.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let earlier = std::mem::take(&mut *held);
        let moving = Moving::start(&self.moving);
        let popped: Vec<Vec<Captured>> = self
            .shards
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let records = take(&s.records, s.records.capacity());
                s.taken.fetch_add(records.len() as u64, Ordering::Relaxed);
                s.signalled.drained();
                between(i);
                records
            })
            .collect();
        drop(moving);
        let mut runs: Vec<std::collections::VecDeque<Captured>> =
            Vec::with_capacity(earlier.len() + popped.len());
        // What the previous drain held back comes before anything pushed since (on equal
        // times), each shard's run apart: joined, a thread that overflowed past the last
        // shard into a lower one would have its later events first.
        runs.extend(earlier.into_iter().map(Into::into));
        for records in popped {
            let (late, now_run): (Vec<Captured>, Vec<Captured>) = records
                .into_iter()
                .partition(|r| hold_late && r.epoch == now);
            if !late.is_empty() {
                held.push(late);
            }
            runs.push(now_run.into());
        }
        self.held_len
            .store(held.iter().map(Vec::len).sum(), Ordering::Relaxed);
        drop(held);
        runs.retain(|run| !run.is_empty());
        if runs.len() <= 1 {
            return runs.pop().map(Vec::from).unwrap_or_default();
        }
        let mut out = Vec::with_capacity(runs.iter().map(|r| r.len()).sum());
        loop {
            let next = runs
                .iter()
                .enumerate()
                .filter_map(|(i, run)| run.front().map(|r| (r.time, r.seq, i)))
                .min();
            match next.and_then(|(_, _, i)| runs[i].pop_front()) {
                Some(record) => out.push(record),
                None => return out,
            }
        }
    }
}

/// The size of shard `i` of `shards` sharing `capacity` (at least one each): the first
/// `capacity % shards` shards take one more.
fn shard_size(capacity: usize, shards: usize, i: usize) -> usize {
    (capacity / shards + usize::from(i < capacity % shards)).max(1)
}

/// A shard's spare value buffers, on its own cache lines.
#[repr(align(128))]
struct Spares(ArrayQueue<Vec<u8>>);

/// What the layer and the flusher share.
pub(crate) struct Queues {
    classes: [ClassQueue; 3],
    spares: Box<[Spares]>,
    /// The shard of each home number (see [`Queues::home_shard`]).
    shard_of_home: Box<[u8; HOME_CYCLE]>,
    urgent: ArrayQueue<Captured>,
    /// Closes of timed spans, for the performance report (see `push_span_close`).
    spans: ArrayQueue<SpanClose>,
    spans_signalled: FillSignal,
    wake: Wake,
    closed: AtomicBool,
    /// Whether stderr was told that events arrive after shutdown (once).
    told_after_shutdown: AtomicBool,
    pub(crate) counters: Counters,
}

impl Queues {
    pub(crate) fn new(capacity: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::with_shards(capacity, cores.min(MAX_SHARDS))
    }

    fn with_shards(capacity: usize, shards: usize) -> Self {
        let classes = [(); 3].map(|_| ClassQueue::new(capacity, shards));
        let shards = classes[0].shards.len();
        Queues {
            spares: (0..shards)
                // As many spares as records: buffers stay within twice the capacity.
                .map(|i| Spares(ArrayQueue::new(shard_size(capacity, shards, i))))
                .collect(),
            // At most `MAX_SHARDS` (8) shards: each index fits in a byte.
            shard_of_home: Box::new(std::array::from_fn(|home| (home % shards) as u8)),
            classes,
            urgent: ArrayQueue::new(URGENT_CAPACITY.min(capacity)),
            spans: ArrayQueue::new(capacity),
            spans_signalled: FillSignal::default(),
            wake: Wake::default(),
            closed: AtomicBool::new(false),
            told_after_shutdown: AtomicBool::new(false),
            counters: Counters::default(),
        }
    }

    /// The calling thread's home shard: where it pushes first and takes its spare buffers.
    /// Looked up in a table, as the division by the shard count costs tens of cycles.
    #[inline]
    pub(crate) fn home_shard(&self) -> usize {
        usize::from(self.shard_of_home[home_number()])
    }

    /// An empty value buffer for the next capture: a spare from the home shard (from
    /// [`Queues::home_shard`]), or new.
    pub(crate) fn value_buffer(&self, home: usize) -> Vec<u8> {
        self.spares
            .get(home)
            .and_then(|spares| spares.0.pop())
            .unwrap_or_else(|| Vec::with_capacity(TEXT_CAPACITY))
    }

    /// Keeps the value buffer of a drained capture as a spare of its home shard (the
    /// flusher's side).
    fn recycle(&self, home: u16, buffer: Vec<u8>) {
        if (TEXT_CAPACITY..=SPARE_MAX_CAPACITY).contains(&buffer.capacity()) {
            // A full spare list frees it instead.
            let _ = self.spares[usize::from(home) % self.spares.len()]
                .0
                .push(buffer);
        }
    }

    /// Queue a record the crate made itself (a panic, the statistics self-report), or count
    /// it as dropped. Never blocks.
    pub(crate) fn push(&self, record: Record) {
        self.push_from(self.home_shard(), Captured::made(record));
    }

    /// The hot path: queue a capture from a thread whose home shard is `home`. Inlined, as
    /// is the shard push: each call that takes a capture by value would copy it.
    #[inline(always)]
    pub(crate) fn push_from(&self, home: usize, mut record: Captured) {
        let class = record.class;
        if self.closed.load(Ordering::Acquire) {
            self.dropped_after_shutdown(class);
            return;
        }
        if record.level() == Level::ERROR {
            match self.urgent.push(record) {
                Ok(()) => {
                    self.counters
                        .class(class)
                        .events
                        .fetch_add(1, Ordering::Relaxed);
                    self.wake.wake();
                    return;
                }
                Err(back) => record = back,
            }
        }
        match self.classes[class.index()].push(home, record) {
            Some(true) => self.wake.wake(),
            Some(false) => {}
            None => self.count_dropped(class, DropReason::QueueFull),
        }
    }

    /// The statistics, with the queues' depth now.
    pub(crate) fn stats(&self) -> crate::Stats {
        self.counters
            .snapshot_with(Class::ALL.map(|c| self.classes[c.index()].queued()))
    }

    /// Counts an event that came after shutdown. The first one also says so on stderr
    /// (never through `tracing`, which would feed the layer): a guard dropped early, by
    /// `let _ = ...` or a guard scoped to a block, otherwise loses every event quietly.
    #[cold]
    fn dropped_after_shutdown(&self, class: Class) {
        self.count_dropped(class, DropReason::AfterShutdown);
        if !self.told_after_shutdown.swap(true, Ordering::Relaxed) {
            eprintln!(
                "tracing-discord: an event came after the DiscordGuard was dropped or shut \
                 down; it and every later one are counted as dropped (after shutdown). Keep \
                 the guard for the life of the program (`let _guard = ...`, not `let _ = ...`)."
            );
        }
    }

    /// Counts an event that was seen but could not be captured.
    pub(crate) fn count_dropped(&self, class: Class, reason: DropReason) {
        let counters = self.counters.class(class);
        counters.events.fetch_add(1, Ordering::Relaxed);
        counters.drop_events(reason, 1);
    }

    /// Takes every queued event of `class`, oldest first, as records. Events pushed while
    /// it pops wait for the next drain, unless the queues are closed (no drain follows).
    pub(crate) fn drain_class(&self, class: Class) -> Vec<Record> {
        let queue = &self.classes[class.index()];
        if self.closed.load(Ordering::Acquire) {
            self.records_of(queue.drain_all())
        } else {
            self.records_of(queue.drain())
        }
    }

    /// Takes every urgent event, oldest first, as records.
    pub(crate) fn drain_urgent(&self) -> Vec<Record> {
        self.records_of(drain(&self.urgent))
    }

    /// The records of drained captures (see [`Captured::into_record`]); their buffers go
    /// back to the spares.
    fn records_of(&self, captures: Vec<Captured>) -> Vec<Record> {
        captures
            .into_iter()
            .map(|captured| {
                let home = captured.home;
                let (record, buffer) = captured.into_record();
                if let Some(buffer) = buffer {
                    self.recycle(home, buffer);
                }
                record
            })
            .collect()
    }

    pub(crate) fn class_len(&self, class: Class) -> usize {
        self.classes[class.index()].len()
    }

    pub(crate) fn over_high_water(&self, class: Class) -> bool {
        self.classes[class.index()].over_high_water()
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
                // Half full wakes the flusher to drain.
                let half = self.spans.capacity() / 2;
                if self.spans_signalled.after_push(|| self.spans.len(), half) {
                    self.wake.wake();
                }
            }
            Err(_) => counters.drop_events(DropReason::SpanQueueFull, 1),
        }
    }

    /// Takes every queued span close, oldest first (at most what the queue holds now).
    pub(crate) fn drain_span_closes(&self) -> Vec<SpanClose> {
        let closes = drain(&self.spans);
        self.spans_signalled.drained();
        closes
    }
}

/// Takes the records a queue holds now, oldest first. At most one queue's worth: while
/// producers keep pushing, popping until empty could take without end, and what the
/// flusher holds must stay bounded by the capacity.
fn drain<T>(queue: &ArrayQueue<T>) -> Vec<T> {
    take(queue, queue.len())
}

/// Takes at most `n` records from the front of a queue.
fn take<T>(queue: &ArrayQueue<T>, n: usize) -> Vec<T> {
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
    use std::time::{Duration, SystemTime};

    use super::*;

    fn info(msg: &str) -> Captured {
        Captured::made(Record::new(Class::Log, Level::INFO, "t", msg))
    }

    fn at(secs: u64) -> Captured {
        let mut r = Record::new(Class::Log, Level::INFO, "t", secs.to_string());
        r.time = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        Captured::made(r)
    }

    fn messages<R: Into<Record>>(records: Vec<R>) -> Vec<String> {
        records
            .into_iter()
            .map(|r| r.into().message().to_owned())
            .collect()
    }

    /// The interleaving that split a thread's events out of order: the drain pops the home
    /// shard, the thread fills it again and overflows into the next shard, which the drain
    /// pops next. The overflowed event must wait for the events before it.
    #[test]
    fn pushes_during_a_drain_wait_for_the_next_one() {
        fn fill_home_then_overflow(queue: &ClassQueue) -> impl FnMut(usize) + '_ {
            let mut next = 1;
            move |shard: usize| {
                if shard == 0 {
                    // "1" and "2" fill shard 0 again; "3" overflows into shard 1.
                    for _ in 0..3 {
                        assert!(queue.push(0, info(&next.to_string())).is_some());
                        next += 1;
                    }
                }
            }
        }
        let queue = ClassQueue::new(4, 2);
        assert!(queue.push(0, info("0")).is_some());
        let first = queue.drain_holding(true, &mut fill_home_then_overflow(&queue));
        assert_eq!(messages(first), ["0"]);
        assert_eq!(messages(queue.drain()), ["1", "2", "3"]);
        // Without holding back, "3" would go before "1" and "2" (what shutdown's last drain
        // does, when nothing can be pushed any more).
        let queue = ClassQueue::new(4, 2);
        assert!(queue.push(0, info("0")).is_some());
        let first = queue.drain_holding(false, &mut fill_home_then_overflow(&queue));
        assert_eq!(messages(first), ["0", "3"]);
    }

    /// Records held back from several shards keep each shard's run apart: one thread that
    /// filled its home shard and overflowed (past the last shard, to a lower one) during a
    /// drain has its later event in a lower shard, and joined into one run in shard order,
    /// that event would go before the earlier ones.
    #[test]
    fn held_back_records_of_several_shards_keep_one_threads_order() {
        let queue = ClassQueue::new(6, 3);
        let mut pushed = false;
        let first = queue.drain_holding(true, &mut |_| {
            if !pushed {
                pushed = true;
                // Shard 0, just popped, is filled again by another thread.
                assert!(queue.push(0, at(1)).is_some());
                assert!(queue.push(0, at(2)).is_some());
                // A thread at home in shard 2: "3" and "4" fill it, "5" overflows past
                // shard 0 (full) into shard 1. Shards 1 and 2 are popped next.
                for secs in 3..=5 {
                    assert!(queue.push(2, at(secs)).is_some());
                }
            }
        });
        assert!(first.is_empty());
        assert_eq!(messages(queue.drain()), ["1", "2", "3", "4", "5"]);
    }

    /// A drain of the log queue during which "late" is pushed to home shard 1, popped
    /// after the push: held back, not left in shard 0.
    fn drain_while_late_arrives(q: &Queues) -> Vec<Captured> {
        let class = &q.classes[Class::Log.index()];
        let mut pushed = false;
        class.drain_holding(true, &mut |_| {
            if !pushed {
                pushed = true;
                assert!(class.push(1, info("late")).is_some());
            }
        })
    }

    /// Records held back for the next drain still wait: the statistics' queue depth
    /// counts them (and `events` counts them once).
    #[test]
    fn held_back_records_count_in_the_queue_depth() {
        let q = Queues::with_shards(4, 2);
        assert!(drain_while_late_arrives(&q).is_empty());
        let log = q.stats().class(Class::Log).clone();
        assert_eq!((log.events, log.queue_depth), (1, 1));
        assert_eq!(messages(q.drain_class(Class::Log)), ["late"]);
        let log = q.stats().class(Class::Log).clone();
        assert_eq!((log.events, log.queue_depth), (1, 0));
    }

    #[test]
    fn held_back_records_are_taken_by_the_last_drain_at_shutdown() {
        let q = Queues::with_shards(4, 2);
        assert!(drain_while_late_arrives(&q).is_empty());
        q.close();
        assert_eq!(messages(q.drain_class(Class::Log)), ["late"]);
        assert_eq!(q.stats().class(Class::Log).events, 1);
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let q = Queues::with_shards(4, 1);
        for i in 0..100 {
            q.push(Record::new(Class::Log, Level::INFO, "t", i.to_string()));
        }
        let s = q.stats();
        assert_eq!(s.events, 100);
        assert_eq!(s.class(Class::Log).dropped_for(DropReason::QueueFull), 96);
        assert_eq!(s.class(Class::Log).queue_depth, 4);
        assert_eq!(messages(q.drain_class(Class::Log)), ["0", "1", "2", "3"]);
        let s = q.stats();
        assert_eq!(s.class(Class::Log).queue_depth, 0);
        assert_eq!(s.class(Class::Log).queue_peak, 4);
    }

    #[test]
    fn a_full_shard_passes_records_to_the_next() {
        let q = Queues::with_shards(4, 2);
        for secs in 1..=5 {
            q.push_from(0, at(secs));
        }
        let s = q.stats();
        assert_eq!(s.events, 5);
        assert_eq!(s.class(Class::Log).dropped_for(DropReason::QueueFull), 1);
        assert_eq!(messages(q.drain_class(Class::Log)), ["1", "2", "3", "4"]);
    }

    #[test]
    fn shards_merge_back_into_time_order() {
        let queue = ClassQueue::new(8, 2);
        for (shard, secs) in [(0, 1), (1, 2), (0, 3), (1, 4), (0, 5)] {
            assert!(queue.push(shard, at(secs)).is_some());
        }
        assert_eq!(queue.shards[0].records.len(), 3);
        assert_eq!(queue.shards[1].records.len(), 2);
        assert_eq!(messages(queue.drain()), ["1", "2", "3", "4", "5"]);
    }

    #[test]
    fn the_flusher_is_woken_once_a_fill() {
        let queue = ClassQueue::new(8, 1);
        let wakes: Vec<bool> = (0..6)
            .map(|i| queue.push(0, at(i)).expect("room"))
            .collect();
        // High water is half the shard (4): woken on reaching it, not again until drained.
        assert_eq!(wakes, [false, false, false, true, false, false]);
        assert_eq!(queue.drain().len(), 6);
        let wakes: Vec<bool> = (0..4)
            .map(|i| queue.push(0, at(i)).expect("room"))
            .collect();
        assert_eq!(wakes, [false, false, false, true]);
    }

    #[test]
    fn drained_captures_give_their_value_buffers_back() {
        let q = Queues::with_shards(8, 1);
        let mut captures = crate::capture::tests::captures(|| {
            tracing::info!(k = "v".repeat(100).as_str());
            tracing::info!(k = "v".repeat(SPARE_MAX_CAPACITY + 1).as_str());
        });
        // One more whose buffer is too small to keep.
        captures.push(crate::capture::tests::captures(|| tracing::info!("small")).remove(0));
        for c in captures {
            q.push_from(0, c);
        }
        let records = q.drain_class(Class::Log);
        assert_eq!(records[0].field("k").map(str::len), Some(100));
        let spare = q.value_buffer(0);
        assert!(spare.is_empty());
        assert!(spare.capacity() >= 100 && spare.capacity() <= SPARE_MAX_CAPACITY);
        // Only one was kept; the next buffer is new.
        assert_eq!(q.value_buffer(0).capacity(), TEXT_CAPACITY);
    }

    #[test]
    fn errors_take_the_urgent_queue_then_fall_back() {
        let q = Queues::new(2);
        for _ in 0..3 {
            q.push(Record::new(Class::Log, Level::ERROR, "t", "e"));
        }
        assert_eq!(q.drain_urgent().len(), 2);
        assert_eq!(q.class_len(Class::Log), 1);
        assert_eq!(q.stats().events, 3);
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
        let s = q.stats();
        let d = s.class(Class::Diagnostics);
        assert_eq!((d.events, d.dropped_for(DropReason::SpanQueueFull)), (5, 3));
        assert_eq!(q.drain_span_closes(), [close, close]);
        assert_eq!(q.class_len(Class::Diagnostics), 0);
    }

    #[test]
    fn closed_queue_counts_after_shutdown_and_says_so_once() {
        let q = Queues::new(2);
        q.close();
        assert!(!q.told_after_shutdown.load(Ordering::Relaxed));
        q.push_from(0, info("late"));
        assert!(q.told_after_shutdown.load(Ordering::Relaxed));
        q.push_from(0, info("later"));
        let s = q.stats();
        assert_eq!(
            s.class(Class::Log).dropped_for(DropReason::AfterShutdown),
            2
        );
        assert_eq!(s.events, 2);
        assert_eq!(q.class_len(Class::Log), 0);
    }
}

#[cfg(test)]
mod review_tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant, SystemTime};

    use super::*;

    fn info(msg: &str) -> Captured {
        Captured::made(Record::new(Class::Log, Level::INFO, "t", msg))
    }

    /// A push that lands while the flusher drains a shard at or above its high-water mark
    /// must not leave `signalled` set once the drain has emptied the shard: otherwise the
    /// next fill wakes nobody, and the queue fills up (and drops) until the batch interval.
    #[test]
    fn a_push_during_a_drain_does_not_leave_the_shard_signalled() {
        let queue = Arc::new(ClassQueue::new(64, 1));
        let high_water = queue.shards[0].high_water;
        let stop = Arc::new(AtomicBool::new(false));
        let producer = {
            let (queue, stop) = (Arc::clone(&queue), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = queue.push(0, info("x"));
                    for _ in 0..50 {
                        std::hint::spin_loop();
                    }
                }
            })
        };
        let end = Instant::now() + Duration::from_secs(3);
        let mut stuck = None;
        let mut rounds = 0;
        while Instant::now() < end && stuck.is_none() {
            // Wait for a fill, then drain it while the producer keeps pushing.
            // Drain well above the mark, so that pushes land while it is still reached.
            while queue.len() < high_water + high_water / 2 && Instant::now() < end {
                std::hint::spin_loop();
            }
            let _ = queue.drain();
            rounds += 1;
            // After a drain, `signalled` may only be set by a push that found the shard at
            // its high-water mark, and only a drain shortens a shard: so if it is set now,
            // the shard must be that deep now.
            let signalled = queue.shards[0].signalled.0.load(Ordering::Acquire);
            let len = queue.shards[0].records.len();
            if signalled && len < high_water {
                stuck = Some((rounds, len));
            }
        }
        stop.store(true, Ordering::Relaxed);
        producer.join().unwrap();
        if let Some((round, len)) = stuck {
            // Show the consequence: fill the shard to its mark; no push asks for a wake.
            let wakes = (len..high_water)
                .filter(|_| queue.push(0, info("y")) == Some(true))
                .count();
            panic!(
                "round {round}: drain left `signalled` set with {len} < {high_water} \
                 records; filling the shard to its high-water mark woke the flusher {wakes} times"
            );
        }
    }

    /// The span-close queue has the same one-wake-a-fill flag: a close pushed while the
    /// flusher drains must not leave it set once the queue is empty.
    #[test]
    fn a_span_close_during_a_drain_does_not_leave_the_span_queue_signalled() {
        let q = Arc::new(Queues::with_shards(64, 1));
        let half = q.spans.capacity() / 2;
        let stop = Arc::new(AtomicBool::new(false));
        let close = SpanClose {
            name: "s",
            busy_ns: 1,
            idle_ns: 1,
            error: false,
        };
        let producer = {
            let (q, stop) = (Arc::clone(&q), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    q.push_span_close(close);
                    for _ in 0..50 {
                        std::hint::spin_loop();
                    }
                }
            })
        };
        let end = Instant::now() + Duration::from_secs(3);
        let mut stuck = None;
        let mut rounds = 0;
        while Instant::now() < end && stuck.is_none() {
            // Drain well above the mark, so that pushes land while it is still reached.
            while q.spans.len() < half + half / 2 && Instant::now() < end {
                std::hint::spin_loop();
            }
            let _ = q.drain_span_closes();
            rounds += 1;
            let signalled = q.spans_signalled.0.load(Ordering::Acquire);
            let len = q.spans.len();
            if signalled && len < half {
                stuck = Some((rounds, len));
            }
        }
        stop.store(true, Ordering::Relaxed);
        producer.join().unwrap();
        assert_eq!(
            stuck, None,
            "(round, closes left): the next fill wakes nobody"
        );
    }

    /// One thread whose home is the last shard overflows into shard 0. When its events
    /// have equal timestamps (coarse clocks: macOS `SystemTime` has microsecond
    /// resolution), the merge must still keep that thread's order.
    #[test]
    fn overflow_past_the_last_shard_keeps_one_threads_order_when_times_tie() {
        let queue = ClassQueue::new(4, 2);
        let time = SystemTime::now();
        for i in 1..=4 {
            let mut r = Record::new(Class::Log, Level::INFO, "t", i.to_string());
            r.time = time;
            assert!(queue.push(1, Captured::made(r)).is_some());
        }
        assert_eq!(queue.shards[1].records.len(), 2, "home shard full");
        assert_eq!(queue.shards[0].records.len(), 2, "overflowed to shard 0");
        let got: Vec<String> = queue
            .drain()
            .into_iter()
            .map(|r| Record::from(r).message().to_owned())
            .collect();
        assert_eq!(got, ["1", "2", "3", "4"]);
    }

    /// `queue_capacity` is "how many events each class queue holds": shards must not add up
    /// to more than that.
    #[test]
    fn shards_hold_no_more_than_the_configured_capacity() {
        let q = Queues::with_shards(10, 8);
        for i in 0..20 {
            q.push_from(i % 8, info(&i.to_string()));
        }
        let s = q.stats();
        let log = s.class(Class::Log);
        assert_eq!(log.events, 20);
        assert_eq!(log.queue_depth, 10, "the queue holds its capacity");
        assert_eq!(log.dropped_for(DropReason::QueueFull), 10);
    }
}

#[cfg(test)]
mod review_order_tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;

    /// One thread's events come out of successive drains in the order it emitted them,
    /// even when its home shard overflows into the next while the flusher drains. (A race:
    /// it rarely fails without the fix; `pushes_during_a_drain_wait_for_the_next_one` makes
    /// the interleaving happen every time.)
    #[test]
    fn one_threads_events_keep_their_order_across_drains_of_small_shards() {
        let queue = Arc::new(ClassQueue::new(4, 2));
        let stop = Arc::new(AtomicBool::new(false));
        let producer = {
            let (queue, stop) = (Arc::clone(&queue), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let r = Record::new(Class::Log, Level::INFO, "t", i.to_string());
                    if queue.push(0, Captured::made(r)).is_some() {
                        i += 1;
                    }
                }
            })
        };
        let end = Instant::now() + Duration::from_secs(2);
        let mut last: Option<u64> = None;
        let mut inversion = None;
        while Instant::now() < end && inversion.is_none() {
            for r in queue.drain() {
                let i: u64 = Record::from(r).message().parse().unwrap();
                if last.is_some_and(|l| i <= l) {
                    inversion = Some((last, i));
                }
                last = Some(i);
            }
        }
        stop.store(true, Ordering::Relaxed);
        producer.join().unwrap();
        assert_eq!(inversion, None, "(event before, event after)");
    }
}

#[cfg(test)]
mod review_clock_tests {
    use super::*;

    /// An event a thread emits after another thread's event (it waited for it: a task that
    /// moved to another worker thread, a reply to a request) comes after it in the batch,
    /// though the two threads push to different shards. Each thread's sequence numbers
    /// order only that thread's events: when the two timestamps tie, they say nothing about
    /// which of the two came first.
    #[test]
    fn an_event_that_follows_another_threads_event_comes_after_it() {
        for round in 0..20 {
            let queue = ClassQueue::new(8, 2);
            let first = std::thread::spawn(|| {
                // A busy thread: many records made before this one.
                for _ in 0..1000 {
                    let _ = Captured::made(Record::new(Class::Log, Level::INFO, "t", ""));
                }
                Captured::made(Record::new(Class::Log, Level::INFO, "t", "first"))
            })
            .join()
            .unwrap();
            assert!(queue.push(0, first).is_some());
            let then = std::thread::spawn(|| {
                Captured::made(Record::new(Class::Log, Level::INFO, "t", "then"))
            })
            .join()
            .unwrap();
            assert!(queue.push(1, then).is_some());
            let order: Vec<String> = queue
                .drain()
                .into_iter()
                .map(|r| Record::from(r).message().to_owned())
                .collect();
            assert_eq!(order, ["first", "then"], "round {round}");
        }
    }
}

#[cfg(test)]
mod review_stats_tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;

    /// Read while the flusher drains, what a queue accepted stays what it accepted: the
    /// statistics' `events` never goes back, and `pending()` never reads 0 while the
    /// records being taken are still to be posted.
    #[test]
    fn accepted_stays_exact_while_the_flusher_drains() {
        const N: usize = 40_000;
        for round in 0..3 {
            let queue = Arc::new(ClassQueue::new(N, 2));
            for i in 0..N {
                let r = Record::new(Class::Log, Level::INFO, "t", "");
                assert!(queue.push(i % 2, Captured::made(r)).is_some());
            }
            let reading = Arc::new(AtomicBool::new(false));
            let stop = Arc::new(AtomicBool::new(false));
            let reader = {
                let (queue, reading, stop) =
                    (Arc::clone(&queue), Arc::clone(&reading), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let (mut low, mut high) = (u64::MAX, 0);
                    while !stop.load(Ordering::Relaxed) {
                        let accepted = queue.queued().accepted;
                        low = low.min(accepted);
                        high = high.max(accepted);
                        reading.store(true, Ordering::Relaxed);
                    }
                    (low, high)
                })
            };
            while !reading.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
            assert_eq!(queue.drain().len(), N);
            stop.store(true, Ordering::Relaxed);
            let seen = reader.join().unwrap();
            assert_eq!(
                seen,
                (N as u64, N as u64),
                "round {round}: (lowest, highest)"
            );
        }
    }
}
