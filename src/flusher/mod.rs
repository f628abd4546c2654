//! The flusher: a background thread with its own current-thread tokio runtime that drains
//! the queues, renders batches and posts them; and the guard and handle that talk to it.
//!
//! The thread is named `tracing-discord-flusher`. It wakes on each class's batch interval,
//! at once for ERRORs, when a queue is half full, on [`DiscordHandle::flush`] and on
//! shutdown. Each destination has a lane: a task that posts its messages one at a time,
//! waits when the bucket Discord announced is spent, and retries what may be retried.
//! Lanes of different destinations post side by side.
//!
//! Delivery guarantee: once the guard's shutdown returns, every captured event was either
//! in a message Discord accepted or counted in [`Stats`] as dropped with its reason.

mod lane;
mod pacing;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tokio::task::LocalSet;
use tokio::time::{sleep, sleep_until, Instant};

use crate::config::{Config, Target};
use crate::discord::Client;
use crate::layer::{mark_flusher_thread, DiscordLayer};
use crate::queue::Queues;
use crate::render::{self, BatchOptions, ReportOptions};
use crate::report::{Rollup, SpanTimings};
use crate::stats::{DropReason, Stats};
use crate::{Class, ConfigError};
use lane::Lane;

const THREAD_NAME: &str = "tracing-discord-flusher";
/// ERROR messages a lane may hold before further ERRORs are dropped (and counted); bounds
/// memory while a destination does not answer.
const URGENT_OUTBOX_MAX: usize = 100;
/// ERRORs arriving together that would take more messages than this go as an attachment.
const URGENT_INLINE_MESSAGES: usize = 5;
/// How often a shutdown looks whether the lanes are idle.
const IDLE_POLL: Duration = Duration::from_millis(5);

enum Command {
    Check {
        post_test: bool,
        reply: tokio::sync::oneshot::Sender<Vec<crate::ChannelCheck>>,
    },
    Flush {
        reply: std_mpsc::SyncSender<()>,
    },
    Shutdown {
        deadline: std::time::Instant,
        reply: std_mpsc::SyncSender<()>,
    },
}

/// A cheap, cloneable handle to the flusher: statistics and flushing.
#[derive(Clone)]
pub struct DiscordHandle {
    queues: Arc<Queues>,
    commands: mpsc::UnboundedSender<Command>,
}

impl fmt::Debug for DiscordHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordHandle")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Why [`DiscordHandle::flush`] or [`DiscordGuard::flush`] could not confirm delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushError {
    /// It did not finish within its timeout; what was not delivered stays queued (or in
    /// flight) and is still posted later.
    TimedOut,
    /// The guard was already dropped: the flusher is gone and events emitted since are
    /// counted as dropped ([`DropReason::AfterShutdown`]).
    ShutDown,
}

impl fmt::Display for FlushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlushError::TimedOut => f.write_str("tracing-discord: flush did not finish within its timeout"),
            FlushError::ShutDown => f.write_str(
                "tracing-discord: the guard was dropped, so nothing is delivered any more (keep the guard alive until the end of main)",
            ),
        }
    }
}

impl std::error::Error for FlushError {}

impl DiscordHandle {
    /// Checks every configured destination and says, one row each, whether it is usable
    /// and if not why. Reads each channel or webhook; with `post_test`, also posts one
    /// short test message to each readable destination, since only a post proves that the
    /// bot may post there. Works from any async runtime (the checks run on the flusher).
    pub async fn check_channels(&self, post_test: bool) -> Vec<crate::ChannelCheck> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if self
            .commands
            .send(Command::Check { post_test, reply })
            .is_err()
        {
            return Vec::new();
        }
        answer.await.unwrap_or_default()
    }

    /// [`check_channels`](Self::check_channels) for code without an async runtime: blocks
    /// at most `timeout`; `None` when it ran out (or the guard was dropped).
    pub fn check_channels_blocking(
        &self,
        post_test: bool,
        timeout: Duration,
    ) -> Option<Vec<crate::ChannelCheck>> {
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        self.commands
            .send(Command::Check { post_test, reply })
            .ok()?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match answer.try_recv() {
                Ok(rows) => return Some(rows),
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => return None,
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {
                    if std::time::Instant::now() >= deadline {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }

    /// A snapshot of the delivery statistics.
    pub fn stats(&self) -> Stats {
        self.queues.stats()
    }

    /// Posts everything queued so far and waits (blocking this thread, at most `timeout`)
    /// until it is delivered or counted as dropped. Safe to call from any thread, inside an
    /// async runtime or not; for programs that end with `std::process::exit`.
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        let (reply, done) = std_mpsc::sync_channel(1);
        if self.commands.send(Command::Flush { reply }).is_err() {
            return Err(FlushError::ShutDown);
        }
        done.recv_timeout(timeout).map_err(|e| match e {
            std_mpsc::RecvTimeoutError::Timeout => FlushError::TimedOut,
            std_mpsc::RecvTimeoutError::Disconnected => FlushError::ShutDown,
        })
    }
}

/// Keeps the flusher running; dropping it flushes what is pending, waiting at most the
/// shutdown timeout, then stops the flusher.
///
/// Bind it to a named variable (`let _guard = ...`): `let _ = ...` drops it at once.
/// Dropping it is safe anywhere: in a plain `fn main`, inside an async context of either
/// tokio flavour, or after the application's runtime is gone (the flusher has its own).
#[must_use = "dropping the guard stops the flusher; keep it alive until the program ends"]
pub struct DiscordGuard {
    handle: DiscordHandle,
    timeout: Duration,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for DiscordGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordGuard")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl DiscordGuard {
    /// A handle for statistics and flushing.
    pub fn handle(&self) -> DiscordHandle {
        self.handle.clone()
    }

    /// A snapshot of the delivery statistics.
    pub fn stats(&self) -> Stats {
        self.handle.stats()
    }

    /// See [`DiscordHandle::check_channels`].
    pub async fn check_channels(&self, post_test: bool) -> Vec<crate::ChannelCheck> {
        self.handle.check_channels(post_test).await
    }

    /// See [`DiscordHandle::check_channels_blocking`].
    pub fn check_channels_blocking(
        &self,
        post_test: bool,
        timeout: Duration,
    ) -> Option<Vec<crate::ChannelCheck>> {
        self.handle.check_channels_blocking(post_test, timeout)
    }

    /// See [`DiscordHandle::flush`].
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        self.handle.flush(timeout)
    }

    /// Flushes (at most the shutdown timeout), stops the flusher and returns the final
    /// statistics: after it, `events == delivered + dropped`.
    pub fn shutdown(mut self) -> Stats {
        self.stop();
        self.handle.stats()
    }

    fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        let (reply, done) = std_mpsc::sync_channel(1);
        let deadline = std::time::Instant::now() + self.timeout;
        let sent = self
            .handle
            .commands
            .send(Command::Shutdown { deadline, reply })
            .is_ok();
        // A little grace beyond the deadline for the flusher to count what it gave up on.
        if sent
            && done
                .recv_timeout(self.timeout + Duration::from_secs(1))
                .is_ok()
        {
            let _ = thread.join();
        }
        // Otherwise the flusher is stuck past its own deadline; leave the thread detached
        // rather than hang the application's exit.
    }
}

impl Drop for DiscordGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Validated configuration in, running flusher out.
pub(crate) fn start(config: Config) -> Result<(DiscordLayer, DiscordGuard), ConfigError> {
    let queues = Arc::new(Queues::new(config.queue_capacity));
    let (commands, receiver) = mpsc::unbounded_channel();
    let handle = DiscordHandle {
        queues: Arc::clone(&queues),
        commands,
    };
    let client = Client::new(
        config.token.clone(),
        config.api_base.clone(),
        config.request_timeout,
    )
    .map_err(ConfigError::Spawn)?;
    // Built here, not on the new thread, so a failure is an error from build().
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name(THREAD_NAME)
        .build()
        .map_err(|e| ConfigError::Spawn(e.to_string()))?;
    let enabled = config.targets.clone().map(|t| t.is_some());
    // Timings go to the diagnostics report: without a diagnostics destination, none.
    let timed = (config.reports.span_timings && enabled[Class::Diagnostics.index()]).then(|| {
        crate::timing::TimedSpans {
            names: config.reports.timed_spans.clone(),
        }
    });
    let layer = DiscordLayer::new(
        Arc::clone(&queues),
        config.prefixes.clone(),
        enabled,
        handle.clone(),
    )
    .with_timing(timed);
    let timeout = config.shutdown_timeout;
    if config.capture_panics {
        // Panics go to the Log class, or the first class that has a destination.
        let class = [Class::Log, Class::Diagnostics, Class::Analytics]
            .into_iter()
            .find(|c| config.targets[c.index()].is_some())
            .unwrap_or(Class::Log);
        crate::panic_hook::install(Arc::clone(&queues), handle.clone(), class);
    }
    let thread = std::thread::Builder::new()
        .name(THREAD_NAME.to_owned())
        .spawn(move || {
            mark_flusher_thread();
            let flusher = Rc::new(Flusher::new(config, queues, client));
            LocalSet::new().block_on(&runtime, flusher.run(receiver));
        })
        .map_err(|e| ConfigError::Spawn(e.to_string()))?;
    Ok((
        layer,
        DiscordGuard {
            handle,
            timeout,
            thread: Some(thread),
        },
    ))
}

/// The flusher's state; lives on the flusher thread only (shared by `Rc` among its tasks).
struct Flusher {
    config: Config,
    queues: Arc<Queues>,
    client: Client,
    lanes: Vec<Rc<Lane>>,
    /// The pace, blocks and invalid-request circuit every destination shares.
    global: pacing::Global,
    /// Whether a Cloudflare block was already reported on stderr.
    cloudflare_reported: Cell<bool>,
    /// Set by a 401: the token is invalid, so no channel lane sends any more.
    token_invalid: Cell<bool>,
    /// Drops already announced in a message, per class and reason.
    announced_drops: [RefCell<Vec<(DropReason, u64)>>; 3],
    /// Rung by a lane that has posted everything it had.
    lane_idle: Notify,
    /// Keeps secrets out of messages.
    redactor: crate::redact::Redactor,
    /// Set when shutdown starts: nothing is reserved for ERRORs any more, and batches are
    /// sized to the time left before this deadline.
    closing: Cell<bool>,
    deadline: Cell<Option<Instant>>,
    /// Span timings of the current diagnostics interval.
    timings: RefCell<SpanTimings>,
    /// The analytics rollup of the current interval (when its mode posts one).
    rollup: RefCell<Rollup>,
    /// When each class's current report interval began (wall clock, for the report).
    report_since: [Cell<std::time::SystemTime>; 3],
}

impl Flusher {
    fn new(config: Config, queues: Arc<Queues>, client: Client) -> Self {
        let redactor = config.redactor();
        let mut buckets: Vec<Rc<pacing::Bucket>> = Vec::new();
        let lanes = Class::ALL
            .iter()
            .filter_map(|&class| {
                let target = config.targets[class.index()].clone()?;
                // Classes routed to one destination share its bucket.
                let bucket = match buckets
                    .iter()
                    .find(|b: &&Rc<pacing::Bucket>| b.target == target)
                {
                    Some(b) => Rc::clone(b),
                    None => {
                        let b = Rc::new(pacing::Bucket::new(target));
                        buckets.push(Rc::clone(&b));
                        b
                    }
                };
                Some(Rc::new(Lane::new(class, bucket)))
            })
            .collect();
        let now = std::time::SystemTime::now();
        Flusher {
            queues,
            client,
            lanes,
            global: pacing::Global::new(),
            cloudflare_reported: Cell::new(false),
            token_invalid: Cell::new(false),
            announced_drops: Default::default(),
            lane_idle: Notify::new(),
            redactor,
            closing: Cell::new(false),
            deadline: Cell::new(None),
            timings: RefCell::new(SpanTimings::new()),
            rollup: RefCell::new(Rollup::new(
                config.reports.rollup_fields.clone(),
                config.reports.rollup_distinct.clone(),
                config.reports.rollup_top,
            )),
            report_since: [(); 3].map(|_| Cell::new(now)),
            config,
        }
    }

    fn lane(&self, class: Class) -> Option<&Rc<Lane>> {
        self.lanes.iter().find(|l| l.class == class)
    }

    async fn run(self: Rc<Self>, mut commands: mpsc::UnboundedReceiver<Command>) {
        for lane in &self.lanes {
            tokio::task::spawn_local(Rc::clone(&self).drive_lane(Rc::clone(lane)));
        }
        let start = Instant::now();
        let mut due: Vec<Instant> = self
            .lanes
            .iter()
            .map(|l| start + self.interval(l.class))
            .collect();
        // Reports keep their own clock: batches drained early (queue half full) restart
        // `due`, and must not postpone the report of the interval.
        let mut report_due = due.clone();
        // Each flush waits until as many events as existed when it was asked are settled.
        let mut flush_waiters: Vec<(std_mpsc::SyncSender<()>, u64)> = Vec::new();
        let mut next_report = self.config.self_report.map(|every| start + every);
        loop {
            // Only idle lanes have a deadline: a busy lane is looked at again when it goes
            // idle (`lane_idle`), so a due batch never spins the loop.
            let next = self
                .lanes
                .iter()
                .zip(due.iter().zip(&report_due))
                .filter(|(lane, _)| lane.ready_for_batch())
                .map(|(_, (due, report))| *due.min(report))
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let next = next_report.map_or(next, |r| r.min(next));
            let command = tokio::select! {
                _ = sleep_until(next) => None,
                _ = self.queues.woken() => None,
                _ = self.lane_idle.notified() => None,
                c = commands.recv() => Some(c),
            };
            if let (Some(due), Some(every)) = (next_report, self.config.self_report) {
                if Instant::now() >= due {
                    self.report_self();
                    next_report = Some(Instant::now() + every);
                }
            }
            self.take_urgent();
            self.take_span_closes();
            match command {
                None => {}
                Some(Some(Command::Check { post_test, reply })) => {
                    let me = Rc::clone(&self);
                    tokio::task::spawn_local(async move {
                        let mut rows = Vec::new();
                        for lane in &me.lanes {
                            rows.push(
                                crate::check::check(
                                    &me.client,
                                    lane.class,
                                    lane.target(),
                                    post_test,
                                )
                                .await,
                            );
                        }
                        let _ = reply.send(rows);
                    });
                }
                Some(Some(Command::Flush { reply })) => {
                    flush_waiters.push((reply, self.queues.stats().events))
                }
                Some(Some(Command::Shutdown { deadline, reply })) => {
                    self.shutdown(deadline.into()).await;
                    let _ = reply.send(());
                    return;
                }
                // Every handle and the guard are gone: nothing can ask for more.
                Some(None) => {
                    self.shutdown(Instant::now() + self.config.shutdown_timeout)
                        .await;
                    return;
                }
            }
            let now = Instant::now();
            for ((lane, due), report) in self
                .lanes
                .iter()
                .zip(due.iter_mut())
                .zip(report_due.iter_mut())
            {
                // Backpressure: a class is drained only when its lane has posted everything
                // before, so a stuck Discord fills the bounded queue (and drops are counted
                // there) instead of growing the outbox without bound.
                let report_now = !flush_waiters.is_empty() || now >= *report;
                let wanted = report_now || now >= *due || self.queues.over_high_water(lane.class);
                if lane.ready_for_batch() && wanted {
                    self.take_batch(lane.class);
                    if report_now {
                        self.take_reports(lane.class);
                        *report = now + self.interval(lane.class);
                    }
                    *due = now + self.interval(lane.class);
                }
            }
            if !flush_waiters.is_empty() {
                let stats = self.queues.stats();
                let settled = stats.delivered + stats.dropped;
                let idle = self.all_idle();
                flush_waiters.retain(|(reply, target)| {
                    let done = idle || settled >= *target;
                    if done {
                        let _ = reply.send(());
                    }
                    !done
                });
            }
        }
    }

    /// Queues the crate's own statistics as a diagnostics event.
    fn report_self(&self) {
        let class = [Class::Diagnostics, Class::Log, Class::Analytics]
            .into_iter()
            .find(|c| self.lane(*c).is_some())
            .unwrap_or(Class::Diagnostics);
        let stats = self.queues.stats();
        let peak = stats
            .per_class
            .iter()
            .map(|c| c.queue_peak)
            .max()
            .unwrap_or(0);
        let record = crate::Record::new(
            class,
            tracing_core::Level::INFO,
            "tracing_discord",
            "delivery statistics",
        )
        .with_field("events", stats.events)
        .with_field("delivered", stats.delivered)
        .with_field("dropped", stats.dropped)
        .with_field("messages", stats.messages)
        .with_field("requests", stats.requests)
        .with_field("retries", stats.retries)
        .with_field("rate_limited", stats.rate_limited)
        .with_field("queue_peak", peak);
        self.queues.push(record);
    }

    fn interval(&self, class: Class) -> Duration {
        self.config.intervals[class.index()]
    }

    fn all_idle(&self) -> bool {
        self.lanes.iter().all(|l| l.idle())
            && !self.queues.has_urgent()
            && self
                .lanes
                .iter()
                .all(|l| self.queues.class_len(l.class) == 0)
    }

    /// ERRORs go to the front of their lane, in emission order, ahead of any batch.
    fn take_urgent(&self) {
        let mut urgent = self.queues.drain_urgent();
        if urgent.is_empty() {
            return;
        }
        self.redactor.apply_all(&mut urgent);
        for lane in &self.lanes {
            // Each record belongs to one lane: taken out, not copied.
            let (records, rest): (Vec<_>, Vec<_>) =
                urgent.into_iter().partition(|r| r.class == lane.class);
            urgent = rest;
            if records.is_empty() {
                continue;
            }
            if lane.queued_messages() >= URGENT_OUTBOX_MAX {
                // Discord is not keeping up (or not answering): keep memory bounded.
                let counters = self.queues.counters.class(lane.class);
                counters.drop_events(DropReason::QueueFull, records.len() as u64);
                continue;
            }
            let options = render::ErrorOptions {
                label: self.config.label.clone(),
                use_embeds: !lane.embeds_stripped(),
                mention_role: self.config.error_mention_role,
                max_inline_messages: if lane.attachments_refused() {
                    usize::MAX
                } else {
                    URGENT_INLINE_MESSAGES
                },
            };
            lane.push_urgent(render::render_errors(lane.class, &records, &options).messages);
        }
    }

    fn take_batch(&self, class: Class) {
        let Some(lane) = self.lane(class) else { return };
        let mut records = self.queues.drain_class(class);
        self.redactor.apply_all(&mut records);
        let (records, files) = self.roll_up(class, records, lane);
        let now_dropped = self.queues.stats().class(class).dropped.clone();
        let mut announced = self.announced_drops[class.index()].borrow_mut();
        // Drops since the last announcement, by reason: "96 queue full, 2 rejected by Discord".
        // Blank events are counted but not announced: there was nothing to show.
        let fresh: Vec<(u64, &str)> = now_dropped
            .iter()
            .map(|(reason, n)| {
                let before = announced
                    .iter()
                    .find(|(r, _)| r == reason)
                    .map_or(0, |(_, b)| *b);
                (n.saturating_sub(before), *reason)
            })
            .filter(|(n, reason)| *n > 0 && *reason != DropReason::Blank)
            .map(|(n, reason)| (n, reason.describe()))
            .collect();
        if records.is_empty() && fresh.is_empty() {
            lane.push_batch(files);
            return;
        }
        *announced = now_dropped;
        drop(announced);
        let total: u64 = fresh.iter().map(|(n, _)| n).sum();
        let why = if fresh.len() == 1 {
            fresh[0].1.to_owned()
        } else {
            fresh
                .iter()
                .map(|(n, r)| format!("{n} {r}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let options = BatchOptions {
            label: self.config.label.clone(),
            use_embeds: !lane.embeds_stripped(),
            suppress_notifications: self.config.suppress_notifications,
            dropped_since_last: (total > 0).then_some((total, why)),
            max_inline_messages: self.inline_budget(lane),
        };
        let rendered = render::render_batch(class, &records, &options);
        if rendered.blank > 0 {
            self.queues
                .counters
                .class(class)
                .drop_events(DropReason::Blank, rendered.blank as u64);
        }
        lane.push_batch(rendered.messages);
        lane.push_batch(files);
    }

    fn report_options(&self, lane: &Lane, counts_events: bool) -> ReportOptions {
        ReportOptions {
            suppress_notifications: self.config.suppress_notifications,
            use_embeds: !lane.embeds_stripped(),
            label: self.config.label.clone(),
            counts_events,
        }
    }

    /// Analytics records into the rollup (when the mode posts one) and the JSON Lines
    /// file (when asked); returns the records to post as rows (none in rollup mode, where
    /// the rollup counts them) and the file messages.
    fn roll_up(
        &self,
        class: Class,
        records: Vec<crate::Record>,
        lane: &Lane,
    ) -> (Vec<crate::Record>, Vec<render::Message>) {
        let reports = &self.config.reports;
        if class != Class::Analytics || records.is_empty() {
            return (records, Vec::new());
        }
        let files = if reports.analytics_jsonl {
            render::render_jsonl(&records, &self.report_options(lane, false))
        } else {
            Vec::new()
        };
        // ERRORs are not in the rollup: these overflowed the urgent queue and are posted
        // as rows with the batch, whatever the mode.
        let is_error = |r: &crate::Record| r.level == tracing_core::Level::ERROR;
        if reports.analytics_mode.rollup() {
            let mut rollup = self.rollup.borrow_mut();
            records
                .iter()
                .filter(|r| !is_error(r))
                .for_each(|r| rollup.add(r));
        }
        if reports.analytics_mode.lines() {
            (records, files)
        } else {
            // The rest were counted by the rollup.
            let errors = records.into_iter().filter(is_error).collect();
            (errors, files)
        }
    }

    /// Span closes into the interval's timings (they wait there for the report).
    fn take_span_closes(&self) {
        let closes = self.queues.drain_span_closes();
        if closes.is_empty() {
            return;
        }
        let mut timings = self.timings.borrow_mut();
        for c in closes {
            timings.record(
                c.name,
                Duration::from_nanos(c.busy_ns),
                Duration::from_nanos(c.idle_ns),
                c.error,
            );
        }
    }

    /// At the end of a class's interval: the performance report (diagnostics) or the
    /// rollup (analytics), when there is something to report.
    fn take_reports(&self, class: Class) {
        let Some(lane) = self.lane(class) else { return };
        let since = self.report_since[class.index()].replace(std::time::SystemTime::now());
        let now = std::time::SystemTime::now();
        match class {
            Class::Diagnostics => {
                let messages = self.timings.borrow_mut().take_report(
                    since,
                    now,
                    &self.report_options(lane, true),
                );
                lane.push_batch(messages);
            }
            Class::Analytics if self.config.reports.analytics_mode.rollup() => {
                let mut rollup = self.rollup.borrow_mut();
                if rollup.events() == 0 {
                    return;
                }
                let counts = !self.config.reports.analytics_mode.lines();
                let summary = rollup.take_summary();
                lane.push_batch(render::render_rollup(
                    &summary,
                    &self.report_options(lane, counts),
                ));
            }
            _ => {}
        }
    }

    /// Messages a batch may take before it goes as an attachment: what the destination's
    /// documented rate can post in one interval (channel: 5 per 5 s; webhook: the hidden
    /// 30 per 60 s channel limit, discord-api.md 1.5), at least one.
    fn inline_budget(&self, lane: &Lane) -> usize {
        if lane.attachments_refused() {
            return usize::MAX;
        }
        if let Some(n) = self.config.max_inline_messages {
            return n.max(1);
        }
        let per_second = match lane.target() {
            Target::Channel(_) => 1.0,
            Target::Webhook(_) => 0.5,
        };
        // At shutdown, what can be posted before the deadline.
        let window = match self.deadline.get() {
            Some(deadline) => deadline
                .saturating_duration_since(Instant::now())
                .min(self.interval(lane.class)),
            None => self.interval(lane.class),
        };
        ((window.as_secs_f64() * per_second) as usize).max(1)
    }

    async fn shutdown(&self, deadline: Instant) {
        self.closing.set(true);
        self.deadline.set(Some(deadline));
        self.queues.close();
        self.take_urgent();
        self.take_span_closes();
        for lane in &self.lanes {
            self.take_batch(lane.class);
            self.take_reports(lane.class);
            lane.fold_unsent(self.inline_budget(lane), self.config.label.as_deref());
        }
        while !self.all_idle() && Instant::now() < deadline {
            sleep(IDLE_POLL).await;
        }
        // Whatever is left could not be posted in time: count it.
        for lane in &self.lanes {
            let counters = self.queues.counters.class(lane.class);
            let left = lane.abandon() + self.queues.drain_class(lane.class).len() as u64;
            counters.drop_events(DropReason::ShutdownTimeout, left);
        }
        // Closes that passed the `closed` check just before it was set and landed after
        // the drain above: nothing will report them any more.
        let closes = self.queues.drain_span_closes().len() as u64;
        if closes > 0 {
            self.queues
                .counters
                .class(Class::Diagnostics)
                .drop_events(DropReason::ShutdownTimeout, closes);
        }
        for record in self.queues.drain_urgent() {
            self.queues
                .counters
                .class(record.class)
                .drop_events(DropReason::ShutdownTimeout, 1);
        }
    }
}
