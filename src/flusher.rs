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

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{mpsc, Notify};
use tokio::task::LocalSet;
use tokio::time::{sleep, sleep_until, Instant};

use crate::config::{Config, Target};
use crate::discord::{Client, Reply};
use crate::layer::{mark_flusher_thread, DiscordLayer};
use crate::queue::Queues;
use crate::render::{self, BatchOptions, Message};
use crate::stats::{DropReason, Stats};
use crate::{Class, ConfigError};

const THREAD_NAME: &str = "tracing-discord-flusher";
/// Discord allows 50 requests a second per bot (discord-api.md 1.3). One request every
/// 21 ms with no burst keeps any one-second window at 48 at most, so a fixed window on
/// Discord's side never sees 50.
const GLOBAL_SPACING: Duration = Duration::from_millis(21);
/// Server errors and network failures are retried this many times, with backoff.
const MAX_RETRIES: u32 = 3;
const RETRY_BACKOFF: Duration = Duration::from_millis(500);
/// A message answered 429 this many times in a row is given up on (counted as dropped).
const MAX_RATE_LIMITED: u32 = 20;
/// When a 429 carries no usable wait, wait this long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// ERROR messages a lane may hold before further ERRORs are dropped (and counted); bounds
/// memory while a destination does not answer.
const URGENT_OUTBOX_MAX: usize = 100;
/// How often a shutdown looks whether the lanes are idle.
const IDLE_POLL: Duration = Duration::from_millis(5);

enum Command {
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

/// [`DiscordHandle::flush`] or [`DiscordGuard::flush`] did not finish in time; what was not
/// delivered stays queued (or in flight) and is still posted later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushTimedOut;

impl fmt::Display for FlushTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tracing-discord: flush did not finish within its timeout")
    }
}

impl std::error::Error for FlushTimedOut {}

impl DiscordHandle {
    /// A snapshot of the delivery statistics.
    pub fn stats(&self) -> Stats {
        self.queues.counters.snapshot()
    }

    /// Posts everything queued so far and waits (blocking this thread, at most `timeout`)
    /// until it is delivered or counted as dropped. Safe to call from any thread, inside an
    /// async runtime or not; for programs that end with `std::process::exit`.
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushTimedOut> {
        let (reply, done) = std_mpsc::sync_channel(1);
        if self.commands.send(Command::Flush { reply }).is_err() {
            // The flusher has shut down: nothing is pending any more.
            return Ok(());
        }
        done.recv_timeout(timeout).map_err(|_| FlushTimedOut)
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

    /// See [`DiscordHandle::flush`].
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushTimedOut> {
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
    let client =
        Client::new(config.token.clone(), config.api_base.clone()).map_err(ConfigError::Spawn)?;
    // Built here, not on the new thread, so a failure is an error from build().
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name(THREAD_NAME)
        .build()
        .map_err(|e| ConfigError::Spawn(e.to_string()))?;
    let enabled = config.targets.clone().map(|t| t.is_some());
    let layer = DiscordLayer::new(
        Arc::clone(&queues),
        config.prefixes.clone(),
        enabled,
        handle.clone(),
    );
    let timeout = config.shutdown_timeout;
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

/// One destination's outgoing messages and its delivery state.
struct Lane {
    class: Class,
    target: Target,
    outbox: RefCell<VecDeque<Message>>,
    /// Events of the message being posted right now (0 when idle).
    in_flight: Cell<usize>,
    /// Rung when messages are added.
    ready: Notify,
    /// The bucket Discord announced: requests left, and when it refills.
    remaining: Cell<Option<u32>>,
    reset_at: Cell<Option<Instant>>,
    /// Set when Discord said this destination is unusable; nothing more is sent to it.
    dead: RefCell<Option<String>>,
    nonce_counter: Cell<u64>,
}

impl Lane {
    fn idle(&self) -> bool {
        self.in_flight.get() == 0 && self.outbox.borrow().is_empty()
    }
}

/// The flusher's state; lives on the flusher thread only (shared by `Rc` among its tasks).
struct Flusher {
    config: Config,
    queues: Arc<Queues>,
    client: Client,
    lanes: Vec<Rc<Lane>>,
    global: DefaultDirectRateLimiter,
    /// Set by a global 429: every lane waits until then.
    global_blocked_until: Cell<Option<Instant>>,
    /// Set by a 401: the token is invalid, so no channel lane sends any more.
    token_invalid: Cell<bool>,
    /// Drops already announced in a message, per class and reason.
    announced_drops: [RefCell<Vec<(DropReason, u64)>>; 3],
    /// Rung by a lane that has posted everything it had.
    lane_idle: Notify,
}

impl Flusher {
    fn new(config: Config, queues: Arc<Queues>, client: Client) -> Self {
        let lanes = Class::ALL
            .iter()
            .filter_map(|&class| {
                let target = config.targets[class.index()].clone()?;
                Some(Rc::new(Lane {
                    class,
                    target,
                    outbox: RefCell::new(VecDeque::new()),
                    in_flight: Cell::new(0),
                    ready: Notify::new(),
                    remaining: Cell::new(None),
                    reset_at: Cell::new(None),
                    dead: RefCell::new(None),
                    nonce_counter: Cell::new(0),
                }))
            })
            .collect();
        let quota = Quota::with_period(GLOBAL_SPACING)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        Flusher {
            config,
            queues,
            client,
            lanes,
            global: RateLimiter::direct(quota),
            global_blocked_until: Cell::new(None),
            token_invalid: Cell::new(false),
            announced_drops: Default::default(),
            lane_idle: Notify::new(),
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
        let mut flush_waiters: Vec<std_mpsc::SyncSender<()>> = Vec::new();
        loop {
            // Only idle lanes have a deadline: a busy lane is looked at again when it goes
            // idle (`lane_idle`), so a due batch never spins the loop.
            let next = self
                .lanes
                .iter()
                .zip(&due)
                .filter(|(lane, _)| lane.idle())
                .map(|(_, due)| *due)
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let command = tokio::select! {
                _ = sleep_until(next) => None,
                _ = self.queues.woken() => None,
                _ = self.lane_idle.notified() => None,
                c = commands.recv() => Some(c),
            };
            self.take_urgent();
            match command {
                None => {}
                Some(Some(Command::Flush { reply })) => flush_waiters.push(reply),
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
            for (lane, due) in self.lanes.iter().zip(due.iter_mut()) {
                // Backpressure: a class is drained only when its lane has posted everything
                // before, so a stuck Discord fills the bounded queue (and drops are counted
                // there) instead of growing the outbox without bound.
                let wanted = !flush_waiters.is_empty()
                    || now >= *due
                    || self.queues.over_high_water(lane.class);
                if lane.idle() && wanted {
                    self.take_batch(lane.class);
                    *due = now + self.interval(lane.class);
                }
            }
            if !flush_waiters.is_empty() && self.all_idle() {
                for reply in flush_waiters.drain(..) {
                    let _ = reply.send(());
                }
            }
        }
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
        let urgent = self.queues.drain_urgent();
        if urgent.is_empty() {
            return;
        }
        for lane in &self.lanes {
            let records: Vec<_> = urgent
                .iter()
                .filter(|r| r.class == lane.class)
                .cloned()
                .collect();
            if records.is_empty() {
                continue;
            }
            if lane.outbox.borrow().len() >= URGENT_OUTBOX_MAX {
                // Discord is not keeping up (or not answering): keep memory bounded.
                let counters = self.queues.counters.class(lane.class);
                counters.drop_events(DropReason::QueueFull, records.len() as u64);
                continue;
            }
            let messages = render::render_errors(&records, self.config.error_mention_role).messages;
            let mut outbox = lane.outbox.borrow_mut();
            for m in messages.into_iter().rev() {
                outbox.push_front(m);
            }
            drop(outbox);
            lane.ready.notify_one();
        }
    }

    fn take_batch(&self, class: Class) {
        let Some(lane) = self.lane(class) else { return };
        let records = self.queues.drain_class(class);
        let now_dropped = self.queues.counters.snapshot().class(class).dropped.clone();
        let mut announced = self.announced_drops[class.index()].borrow_mut();
        // Drops since the last announcement, by reason: "96 queue full, 2 rejected by Discord".
        let fresh: Vec<(u64, &str)> = now_dropped
            .iter()
            .map(|(reason, n)| {
                let before = announced
                    .iter()
                    .find(|(r, _)| r == reason)
                    .map_or(0, |(_, b)| *b);
                (n.saturating_sub(before), reason.describe())
            })
            .filter(|(n, _)| *n > 0)
            .collect();
        if records.is_empty() && fresh.is_empty() {
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
        lane.outbox.borrow_mut().extend(rendered.messages);
        lane.ready.notify_one();
    }

    /// Messages a batch may take before it goes as an attachment: what the destination's
    /// documented rate can post in one interval (channel: 5 per 5 s; webhook: the hidden
    /// 30 per 60 s channel limit, discord-api.md 1.5), at least one.
    fn inline_budget(&self, lane: &Lane) -> usize {
        if let Some(n) = self.config.max_inline_messages {
            return n.max(1);
        }
        let per_second = match lane.target {
            Target::Channel(_) => 1.0,
            Target::Webhook(_) => 0.5,
        };
        ((self.interval(lane.class).as_secs_f64() * per_second) as usize).max(1)
    }

    async fn shutdown(&self, deadline: Instant) {
        self.queues.close();
        self.take_urgent();
        for lane in &self.lanes {
            self.take_batch(lane.class);
        }
        while !self.all_idle() && Instant::now() < deadline {
            sleep(IDLE_POLL).await;
        }
        // Whatever is left could not be posted in time: count it.
        for lane in &self.lanes {
            let counters = self.queues.counters.class(lane.class);
            let mut left: u64 = lane.in_flight.get() as u64;
            left += lane
                .outbox
                .borrow_mut()
                .drain(..)
                .map(|m| m.events as u64)
                .sum::<u64>();
            left += self.queues.drain_class(lane.class).len() as u64;
            counters.drop_events(DropReason::ShutdownTimeout, left);
            lane.in_flight.set(0);
        }
        for record in self.queues.drain_urgent() {
            self.queues
                .counters
                .class(record.class)
                .drop_events(DropReason::ShutdownTimeout, 1);
        }
    }

    /// Posts a lane's messages one at a time, for ever.
    async fn drive_lane(self: Rc<Self>, lane: Rc<Lane>) {
        loop {
            let next = lane.outbox.borrow_mut().pop_front();
            let Some(message) = next else {
                self.lane_idle.notify_one();
                lane.ready.notified().await;
                continue;
            };
            lane.in_flight.set(message.events.max(1));
            let outcome = self.deliver(&lane, &message).await;
            let counters = self.queues.counters.class(lane.class);
            let events = message.events as u64;
            match outcome {
                Ok(()) => {
                    counters
                        .delivered
                        .fetch_add(events, std::sync::atomic::Ordering::Relaxed);
                    counters
                        .messages
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Err(reason) => counters.drop_events(reason, events),
            }
            lane.in_flight.set(0);
        }
    }

    /// Posts one message within the rate limits; `Err` says why it was given up.
    async fn deliver(&self, lane: &Lane, message: &Message) -> Result<(), DropReason> {
        if !message.is_valid() {
            // A renderer bug must not become a 400 from Discord.
            return Err(DropReason::Rejected);
        }
        let nonce = self.next_nonce(lane);
        let mut failures = 0;
        let mut rate_limited = 0;
        loop {
            if lane.dead.borrow().is_some()
                || (self.token_invalid.get() && matches!(lane.target, Target::Channel(_)))
            {
                return Err(DropReason::Unreachable);
            }
            self.wait_for_budget(lane).await;
            self.queues
                .counters
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let reply = match self
                .client
                .post_message(&lane.target, message, &nonce)
                .await
            {
                Ok(reply) => reply,
                Err(_network) => {
                    failures += 1;
                    if failures > MAX_RETRIES {
                        return Err(DropReason::RetriesExhausted);
                    }
                    sleep(RETRY_BACKOFF * 2u32.pow(failures - 1)).await;
                    continue;
                }
            };
            self.learn_bucket(lane, &reply);
            match reply.status {
                200..=299 => return Ok(()),
                429 => {
                    self.queues
                        .counters
                        .rate_limited
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    rate_limited += 1;
                    if rate_limited > MAX_RATE_LIMITED {
                        return Err(DropReason::RetriesExhausted);
                    }
                    let wait = reply
                        .retry_after
                        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
                        .unwrap_or(DEFAULT_RETRY_AFTER);
                    let until = Instant::now() + wait;
                    if reply.global {
                        self.global_blocked_until.set(Some(until));
                    } else {
                        lane.remaining.set(Some(0));
                        lane.reset_at.set(Some(until));
                    }
                    sleep_until(until).await;
                }
                401 => {
                    if matches!(lane.target, Target::Channel(_)) {
                        self.token_invalid.set(true);
                    }
                    *lane.dead.borrow_mut() = Some(reply.error_text());
                    return Err(DropReason::Unreachable);
                }
                403 | 404 => {
                    *lane.dead.borrow_mut() = Some(reply.error_text());
                    return Err(DropReason::Unreachable);
                }
                500..=599 => {
                    failures += 1;
                    if failures > MAX_RETRIES {
                        return Err(DropReason::RetriesExhausted);
                    }
                    sleep(RETRY_BACKOFF * 2u32.pow(failures - 1)).await;
                }
                _ => return Err(DropReason::Rejected),
            }
        }
    }

    /// Waits until the lane's bucket, a global block and the global pace all allow a request.
    async fn wait_for_budget(&self, lane: &Lane) {
        if let Some(until) = self.global_blocked_until.get() {
            sleep_until(until).await;
        }
        if lane.remaining.get() == Some(0) {
            if let Some(reset) = lane.reset_at.get() {
                sleep_until(reset).await;
            }
            lane.remaining.set(None);
        }
        while let Err(not_until) = self.global.check() {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(self.global.clock()));
            sleep(wait).await;
        }
    }

    fn learn_bucket(&self, lane: &Lane, reply: &Reply) {
        if let Some(remaining) = reply.remaining {
            lane.remaining.set(Some(remaining));
        }
        if let Some(after) = reply.reset_after {
            lane.reset_at.set(Some(
                Instant::now() + Duration::from_secs_f64(after.min(3600.0)),
            ));
        }
    }

    /// A nonce unique per message (≤ 25 characters), reused on every retry of it so that
    /// `enforce_nonce` makes a retry after an ambiguous failure return the original.
    fn next_nonce(&self, lane: &Lane) -> String {
        let n = lane.nonce_counter.get() + 1;
        lane.nonce_counter.set(n);
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        format!(
            "td{:x}{}{:x}",
            started & 0xFFFF_FFFF_FFFF,
            lane.class.index(),
            n
        )
    }
}
