//! Delivery statistics: lock-free counters written by the layer and the flusher, read as a
//! [`Stats`] snapshot through the guard or a handle.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::Class;

/// Why an event was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Its class queue was full (the flusher could not keep up, or Discord was unreachable).
    QueueFull,
    /// Discord refused the message (a 4xx other than auth, permission or rate limits).
    Rejected,
    /// The destination is unusable: bad token (401), missing permission (403), unknown
    /// channel or webhook (404). Nothing more is sent to it, as Discord asks.
    Unreachable,
    /// Retries after server errors or network failures ran out.
    RetriesExhausted,
    /// The shutdown timeout ran out before it could be posted.
    ShutdownTimeout,
    /// It was emitted after the guard had shut the flusher down.
    AfterShutdown,
    /// It had nothing to show: an empty or whitespace-only message and no fields.
    Blank,
    /// It was emitted while the layer was capturing another event on the same thread
    /// (for example by a field's `Debug` impl); capturing it would recurse.
    Reentrant,
    /// A timed span closed while the span-timing queue was full (the flusher could not
    /// keep up); it is missing from the performance report.
    SpanQueueFull,
}

impl DropReason {
    /// Every reason, in index order.
    pub const ALL: [DropReason; 9] = [
        DropReason::QueueFull,
        DropReason::Rejected,
        DropReason::Unreachable,
        DropReason::RetriesExhausted,
        DropReason::ShutdownTimeout,
        DropReason::AfterShutdown,
        DropReason::Blank,
        DropReason::Reentrant,
        DropReason::SpanQueueFull,
    ];

    fn index(self) -> usize {
        DropReason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }

    /// A short phrase for messages and reports.
    pub fn describe(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue full",
            DropReason::Rejected => "rejected by Discord",
            DropReason::Unreachable => "destination unreachable",
            DropReason::RetriesExhausted => "retries exhausted",
            DropReason::ShutdownTimeout => "shutdown timeout",
            DropReason::AfterShutdown => "emitted after shutdown",
            DropReason::Blank => "nothing to show",
            DropReason::Reentrant => "emitted while capturing another event",
            DropReason::SpanQueueFull => "span timing queue full",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The counters of one class.
#[derive(Default)]
pub(crate) struct ClassCounters {
    /// Events no queue accepted (dropped as they arrived); the queues count the rest.
    pub(crate) events: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) messages: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    /// The last error Discord (or the network) gave for this class; written by the flusher.
    pub(crate) last_error: std::sync::Mutex<Option<String>>,
    dropped: [AtomicU64; DropReason::ALL.len()],
}

impl ClassCounters {
    pub(crate) fn set_last_error(&self, error: String) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error);
        }
    }

    pub(crate) fn drop_events(&self, reason: DropReason, n: u64) {
        self.dropped[reason.index()].fetch_add(n, Relaxed);
    }
}

/// What a class queue reports into the statistics.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Queued {
    /// Events the queue accepted (the rest are counted by [`ClassCounters`]).
    pub(crate) accepted: u64,
    /// Records in the queue now.
    pub(crate) depth: u64,
    /// The deepest the queue has been.
    pub(crate) peak: u64,
}

/// All counters, shared by the layer (events, queue drops) and the flusher (the rest).
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) classes: [ClassCounters; 3],
    pub(crate) requests: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) retries: AtomicU64,
    /// 429s by scope: user, global, shared, cloudflare.
    pub(crate) rate_limited_by_scope: [AtomicU64; 4],
}

impl Counters {
    pub(crate) fn class(&self, class: Class) -> &ClassCounters {
        &self.classes[class.index()]
    }

    /// The counters, with what the queues know: events they accepted, their depth now and
    /// the deepest they have been.
    pub(crate) fn snapshot_with(&self, queued: [Queued; 3]) -> Stats {
        let per_class = Class::ALL.map(|class| {
            let c = self.class(class);
            let q = queued[class.index()];
            ClassStats {
                class,
                events: c.events.load(Relaxed) + q.accepted,
                delivered: c.delivered.load(Relaxed),
                messages: c.messages.load(Relaxed),
                requests: c.requests.load(Relaxed),
                retries: c.retries.load(Relaxed),
                rate_limited: c.rate_limited.load(Relaxed),
                bytes_sent: c.bytes_sent.load(Relaxed),
                queue_depth: q.depth,
                queue_peak: q.peak,
                last_error: c.last_error.lock().ok().and_then(|l| l.clone()),
                dropped: DropReason::ALL
                    .iter()
                    .map(|r| (*r, c.dropped[r.index()].load(Relaxed)))
                    .filter(|(_, n)| *n > 0)
                    .collect(),
            }
        });
        Stats {
            events: per_class.iter().map(|c| c.events).sum(),
            delivered: per_class.iter().map(|c| c.delivered).sum(),
            dropped: per_class.iter().map(ClassStats::dropped_total).sum(),
            messages: per_class.iter().map(|c| c.messages).sum(),
            requests: self.requests.load(Relaxed),
            rate_limited: self.rate_limited.load(Relaxed),
            retries: self.retries.load(Relaxed),
            rate_limited_by_scope: RateLimited {
                user: self.rate_limited_by_scope[0].load(Relaxed),
                global: self.rate_limited_by_scope[1].load(Relaxed),
                shared: self.rate_limited_by_scope[2].load(Relaxed),
                cloudflare: self.rate_limited_by_scope[3].load(Relaxed),
            },
            per_class,
        }
    }
}

/// A snapshot of delivery statistics.
///
/// Once the guard has shut down, `events == delivered + dropped`: every captured event was
/// either posted in a message Discord accepted or counted as dropped with its reason.
///
/// The close of a timed span counts as one event of [`Class::Diagnostics`]: delivered when
/// the performance report that counts it is, or dropped with its reason (such as
/// [`DropReason::SpanQueueFull`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Events captured (queued or dropped), all classes.
    pub events: u64,
    /// Events contained in messages Discord accepted.
    pub delivered: u64,
    /// Events dropped, for any reason (see `per_class` for the reasons).
    pub dropped: u64,
    /// Messages Discord accepted.
    pub messages: u64,
    /// HTTP requests sent to Discord.
    pub requests: u64,
    /// 429 answers received.
    pub rate_limited: u64,
    /// Requests sent again after a server error, a timeout or a network failure.
    pub retries: u64,
    /// 429 answers by the limit that sent them.
    pub rate_limited_by_scope: RateLimited,
    /// The same, per class, with drop reasons.
    pub per_class: [ClassStats; 3],
}

impl Stats {
    /// Events captured but not yet delivered or dropped (queued or in flight).
    pub fn pending(&self) -> u64 {
        self.events.saturating_sub(self.delivered + self.dropped)
    }

    /// The statistics of one class.
    pub fn class(&self, class: Class) -> &ClassStats {
        &self.per_class[class.index()]
    }

    /// The machine-readable summary line the examples print last:
    /// `summary: events=N delivered=N dropped=N messages=N requests=N rate_limited=N`.
    pub fn summary_line(&self) -> String {
        format!(
            "summary: events={} delivered={} dropped={} messages={} requests={} rate_limited={}",
            self.events,
            self.delivered,
            self.dropped,
            self.messages,
            self.requests,
            self.rate_limited
        )
    }
}

/// 429 answers by scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimited {
    /// The bot's own per-route bucket (`X-RateLimit-Scope: user`).
    pub user: u64,
    /// The bot's global limit (`global`): every destination waited.
    pub global: u64,
    /// A limit shared with others on the resource (`shared`), such as the hidden webhook
    /// limit per channel; Discord does not count these as invalid requests.
    pub shared: u64,
    /// Cloudflare blocks (no rate-limit headers, no `Via`, or no JSON).
    pub cloudflare: u64,
}

/// Statistics of one class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassStats {
    /// The class.
    pub class: Class,
    /// Events captured (queued or dropped).
    pub events: u64,
    /// Events in messages Discord accepted.
    pub delivered: u64,
    /// Messages Discord accepted.
    pub messages: u64,
    /// HTTP requests sent for this class.
    pub requests: u64,
    /// Requests sent again after a server error, a timeout or a network failure.
    pub retries: u64,
    /// 429 answers received for this class.
    pub rate_limited: u64,
    /// Bytes of request bodies sent (JSON and files).
    pub bytes_sent: u64,
    /// Events waiting in the class queue now.
    pub queue_depth: u64,
    /// The most events the class queue has held.
    pub queue_peak: u64,
    /// The last error Discord or the network gave, if any.
    pub last_error: Option<String>,
    /// Dropped events by reason; reasons with no drops are left out.
    pub dropped: Vec<(DropReason, u64)>,
}

impl ClassStats {
    /// Dropped events, all reasons.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|(_, n)| n).sum()
    }

    /// Dropped events for one reason.
    pub fn dropped_for(&self, reason: DropReason) -> u64 {
        self.dropped
            .iter()
            .filter(|(r, _)| *r == reason)
            .map(|(_, n)| n)
            .sum()
    }
}
