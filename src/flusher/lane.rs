//! A lane: one destination's outgoing messages, posted one at a time within Discord's
//! limits, and what happens to each (delivered, retried, or dropped with a reason).
//!
//! Pacing, all local to the lane except the global limit:
//! - the bucket Discord announces (`X-RateLimit-Remaining`, `X-RateLimit-Reset-After`):
//!   batches leave the last request of a window to ERRORs, so an ERROR never waits for a
//!   busy channel's bucket to refill;
//! - webhooks: Discord's hidden 30 messages per 60 s per channel (discord-api.md 1.5),
//!   counted locally, again with one left for ERRORs;
//! - the global pace shared by all lanes, and any global 429 block.
//!
//! A batch message waiting for budget steps aside when an ERROR arrives.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{sleep, sleep_until, Instant};

use super::Flusher;
use crate::config::Target;
use crate::discord::Reply;
use crate::render::Message;
use crate::stats::DropReason;
use crate::Class;

/// Server errors and network failures are retried this many times, with backoff.
const MAX_RETRIES: u32 = 3;
const RETRY_BACKOFF: Duration = Duration::from_millis(500);
/// A message answered 429 this many times in a row is given up on (counted as dropped).
const MAX_RATE_LIMITED: u32 = 20;
/// When a 429 carries no usable wait, wait this long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Discord's hidden webhook limit per channel: 30 messages per 60 s (discord-api.md 1.5).
const WEBHOOK_WINDOW: Duration = Duration::from_secs(60);
const WEBHOOK_WINDOW_MESSAGES: usize = 30;
/// Requests of a window that batches leave to ERRORs.
const URGENT_RESERVE: u32 = 1;

/// A message waiting in a lane.
pub(super) struct Outgoing {
    pub(super) message: Message,
    /// An ERROR: goes ahead of batches and may use the reserved budget.
    pub(super) urgent: bool,
}

/// How Discord took a message.
enum Delivered {
    /// As sent.
    Whole,
    /// Stored without its embeds (no Embed Links permission): their text must be resent.
    EmbedsStripped,
    /// Refused because of its embeds (no Embed Links: 403 50013, or 400 50006 when only
    /// embeds were sent and Discord stripped them all): resent as plain text.
    EmbedsRefused,
}

/// How a delivery attempt ended, when not delivered.
enum Failure {
    /// Given up: count the message's events as dropped for this reason.
    Dropped(DropReason),
    /// A batch message stepped aside for an ERROR; it is posted right after.
    Preempted,
}

/// One destination's outgoing messages and delivery state.
pub(super) struct Lane {
    pub(super) class: Class,
    pub(super) target: Target,
    /// ERRORs first (in emission order), then batch messages.
    outbox: RefCell<VecDeque<Outgoing>>,
    /// How many ERROR messages lead the outbox.
    urgent_queued: Cell<usize>,
    /// A message is being posted.
    busy: Cell<bool>,
    /// Events of the message being posted.
    in_flight_events: Cell<usize>,
    /// Rung when messages are added.
    ready: Notify,
    /// Rung when ERRORs are added.
    urgent_arrived: Notify,
    /// The bucket Discord announced: requests left, and when it refills.
    remaining: Cell<Option<u32>>,
    reset_at: Cell<Option<Instant>>,
    /// When the last webhook messages were sent (webhook lanes only).
    webhook_sends: RefCell<VecDeque<Instant>>,
    /// Set when Discord said this destination is unusable; nothing more is sent to it.
    dead: RefCell<Option<String>>,
    /// Whether a rejection (400) was already reported on stderr.
    rejection_reported: Cell<bool>,
    /// Discord stored a message without its embeds (the bot lacks Embed Links there):
    /// from then on this lane renders content only.
    embeds_stripped: Cell<bool>,
    nonce_counter: Cell<u64>,
}

impl Lane {
    pub(super) fn new(class: Class, target: Target) -> Self {
        Lane {
            class,
            target,
            outbox: RefCell::new(VecDeque::new()),
            urgent_queued: Cell::new(0),
            busy: Cell::new(false),
            in_flight_events: Cell::new(0),
            ready: Notify::new(),
            urgent_arrived: Notify::new(),
            remaining: Cell::new(None),
            reset_at: Cell::new(None),
            webhook_sends: RefCell::new(VecDeque::new()),
            dead: RefCell::new(None),
            rejection_reported: Cell::new(false),
            embeds_stripped: Cell::new(false),
            nonce_counter: Cell::new(0),
        }
    }

    pub(super) fn embeds_stripped(&self) -> bool {
        self.embeds_stripped.get()
    }

    /// Nothing waiting and nothing being posted.
    pub(super) fn idle(&self) -> bool {
        !self.busy.get() && self.outbox.borrow().is_empty()
    }

    pub(super) fn queued_messages(&self) -> usize {
        self.outbox.borrow().len()
    }

    /// Adds ERROR messages after the ERRORs already waiting, ahead of batch messages.
    pub(super) fn push_urgent(&self, messages: Vec<Message>) {
        let mut outbox = self.outbox.borrow_mut();
        let at = self.urgent_queued.get();
        let n = messages.len();
        for (i, message) in messages.into_iter().enumerate() {
            outbox.insert(
                at + i,
                Outgoing {
                    message,
                    urgent: true,
                },
            );
        }
        self.urgent_queued.set(at + n);
        drop(outbox);
        self.ready.notify_one();
        self.urgent_arrived.notify_one();
    }

    /// Adds batch messages at the end.
    pub(super) fn push_batch(&self, messages: Vec<Message>) {
        self.outbox
            .borrow_mut()
            .extend(messages.into_iter().map(|message| Outgoing {
                message,
                urgent: false,
            }));
        self.ready.notify_one();
    }

    fn pop(&self) -> Option<Outgoing> {
        let next = self.outbox.borrow_mut().pop_front()?;
        if next.urgent {
            self.urgent_queued
                .set(self.urgent_queued.get().saturating_sub(1));
        }
        Some(next)
    }

    /// Puts a preempted batch message back, right after the waiting ERRORs.
    fn put_back(&self, outgoing: Outgoing) {
        let at = self.urgent_queued.get();
        self.outbox.borrow_mut().insert(at, outgoing);
    }

    /// Queues what Discord stripped from a delivered message (its embeds) as content-only
    /// messages, next in line; they carry the message's events.
    fn resend_stripped(&self, outgoing: &Outgoing, whole: bool) {
        self.embeds_stripped.set(true);
        let rest = if whole {
            outgoing.message.clone()
        } else {
            Message {
                content: String::new(),
                mention_role: None,
                ..outgoing.message.clone()
            }
        };
        let messages = crate::render::without_embeds(&rest);
        let mut outbox = self.outbox.borrow_mut();
        let at = if outgoing.urgent {
            0
        } else {
            self.urgent_queued.get()
        };
        let n = messages.len();
        for (i, message) in messages.into_iter().enumerate() {
            outbox.insert(
                at + i,
                Outgoing {
                    message,
                    urgent: outgoing.urgent,
                },
            );
        }
        if outgoing.urgent {
            self.urgent_queued.set(self.urgent_queued.get() + n);
        }
    }

    /// Empties the lane at shutdown; returns the events it held (in flight included).
    pub(super) fn abandon(&self) -> u64 {
        let queued: usize = self
            .outbox
            .borrow_mut()
            .drain(..)
            .map(|o| o.message.events)
            .sum();
        self.urgent_queued.set(0);
        let in_flight = if self.busy.get() {
            self.in_flight_events.get()
        } else {
            0
        };
        self.busy.set(false);
        self.in_flight_events.set(0);
        (queued + in_flight) as u64
    }

    /// When the next request may go, for an urgent message or not; `None` for now.
    fn not_before(&self, urgent: bool) -> Option<Instant> {
        let reserve = if urgent { 0 } else { URGENT_RESERVE };
        let mut until: Option<Instant> = None;
        if self.remaining.get().is_some_and(|r| r <= reserve) {
            until = self.reset_at.get();
        }
        if let Target::Webhook(_) = self.target {
            let mut sends = self.webhook_sends.borrow_mut();
            let now = Instant::now();
            while sends.front().is_some_and(|t| *t + WEBHOOK_WINDOW <= now) {
                sends.pop_front();
            }
            let allowed = WEBHOOK_WINDOW_MESSAGES - reserve as usize;
            if sends.len() >= allowed {
                let free_at = sends[sends.len() - allowed] + WEBHOOK_WINDOW;
                until = Some(until.map_or(free_at, |u| u.max(free_at)));
            }
        }
        until.filter(|t| *t > Instant::now())
    }

    fn learn_bucket(&self, reply: &Reply) {
        if let Some(remaining) = reply.remaining {
            self.remaining.set(Some(remaining));
        }
        if let Some(after) = reply.reset_after {
            self.reset_at.set(Some(
                Instant::now() + Duration::from_secs_f64(after.min(3600.0)),
            ));
        }
    }

    /// A nonce unique per message (≤ 25 characters), reused on every retry of it so that
    /// `enforce_nonce` makes a retry after an ambiguous failure return the original.
    fn next_nonce(&self) -> String {
        let n = self.nonce_counter.get() + 1;
        self.nonce_counter.set(n);
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        format!(
            "td{:x}{}{:x}",
            started & 0xFFFF_FFFF_FFFF,
            self.class.index(),
            n
        )
    }
}

impl Flusher {
    /// Posts a lane's messages one at a time, for ever.
    pub(super) async fn drive_lane(self: std::rc::Rc<Self>, lane: std::rc::Rc<Lane>) {
        loop {
            let Some(outgoing) = lane.pop() else {
                self.lane_idle.notify_one();
                lane.ready.notified().await;
                continue;
            };
            lane.busy.set(true);
            lane.in_flight_events.set(outgoing.message.events);
            let outcome = self.deliver(&lane, &outgoing).await;
            let counters = self.queues.counters.class(lane.class);
            let events = outgoing.message.events as u64;
            match outcome {
                Ok(Delivered::Whole) => {
                    counters.delivered.fetch_add(events, Relaxed);
                    counters.messages.fetch_add(1, Relaxed);
                }
                Ok(Delivered::EmbedsStripped) => {
                    counters.messages.fetch_add(1, Relaxed);
                    lane.resend_stripped(&outgoing, false);
                }
                Ok(Delivered::EmbedsRefused) => lane.resend_stripped(&outgoing, true),
                Err(Failure::Dropped(reason)) => counters.drop_events(reason, events),
                Err(Failure::Preempted) => lane.put_back(outgoing),
            }
            lane.busy.set(false);
            lane.in_flight_events.set(0);
        }
    }

    /// Waits until the lane may send; a batch message gives way when an ERROR arrives.
    async fn wait_for_budget(&self, lane: &Lane, urgent: bool) -> Result<(), Failure> {
        loop {
            let global = self
                .global_blocked_until
                .get()
                .filter(|t| *t > Instant::now());
            let Some(until) = [global, lane.not_before(urgent)]
                .into_iter()
                .flatten()
                .max()
            else {
                break;
            };
            if urgent {
                sleep_until(until).await;
            } else {
                tokio::select! {
                    _ = sleep_until(until) => {}
                    _ = lane.urgent_arrived.notified() => {
                        if lane.urgent_queued.get() > 0 {
                            return Err(Failure::Preempted);
                        }
                    }
                }
            }
        }
        while let Err(not_until) = self.global.check() {
            sleep(not_until.wait_time_from(governor::clock::Clock::now(self.global.clock()))).await;
        }
        Ok(())
    }

    /// Posts one message within the rate limits.
    async fn deliver(&self, lane: &Lane, outgoing: &Outgoing) -> Result<Delivered, Failure> {
        let message = &outgoing.message;
        if !message.is_valid() {
            // A renderer bug must not become a 400 from Discord.
            return Err(Failure::Dropped(DropReason::Rejected));
        }
        let nonce = lane.next_nonce();
        let mut failures = 0;
        let mut rate_limited = 0;
        loop {
            let token_gone = self.token_invalid.get() && matches!(lane.target, Target::Channel(_));
            if lane.dead.borrow().is_some() || token_gone {
                return Err(Failure::Dropped(DropReason::Unreachable));
            }
            self.wait_for_budget(lane, outgoing.urgent).await?;
            self.queues.counters.requests.fetch_add(1, Relaxed);
            if let Target::Webhook(_) = lane.target {
                lane.webhook_sends.borrow_mut().push_back(Instant::now());
            }
            let reply = match self
                .client
                .post_message(&lane.target, message, &nonce)
                .await
            {
                Ok(reply) => reply,
                Err(_network) => {
                    failures += 1;
                    if failures > MAX_RETRIES {
                        return Err(Failure::Dropped(DropReason::RetriesExhausted));
                    }
                    sleep(RETRY_BACKOFF * 2u32.pow(failures - 1)).await;
                    continue;
                }
            };
            lane.learn_bucket(&reply);
            match reply.status {
                200..=299 => {
                    let stored = reply
                        .body
                        .get("embeds")
                        .and_then(|e| e.as_array())
                        .map_or(0, Vec::len);
                    if !message.embeds.is_empty()
                        && stored < message.embeds.len()
                        && reply.body.is_object()
                    {
                        if !lane.embeds_stripped.replace(true) {
                            eprintln!(
                                "tracing-discord: Discord dropped the embeds of a message for the {} destination (the bot lacks the Embed Links permission there); sending their text as plain messages from now on",
                                lane.class
                            );
                        }
                        return Ok(Delivered::EmbedsStripped);
                    }
                    return Ok(Delivered::Whole);
                }
                429 => {
                    self.queues.counters.rate_limited.fetch_add(1, Relaxed);
                    rate_limited += 1;
                    if rate_limited > MAX_RATE_LIMITED {
                        return Err(Failure::Dropped(DropReason::RetriesExhausted));
                    }
                    let wait = reply.retry_after.map_or(DEFAULT_RETRY_AFTER, |s| {
                        Duration::from_secs_f64(s.min(3600.0))
                    });
                    let until = Instant::now() + wait;
                    if reply.global {
                        self.global_blocked_until.set(Some(until));
                    } else {
                        lane.remaining.set(Some(0));
                        lane.reset_at.set(Some(until));
                    }
                }
                400 | 403 if !message.embeds.is_empty() && embeds_refused(&reply, message) => {
                    if !lane.embeds_stripped.get() {
                        eprintln!(
                            "tracing-discord: Discord refused embeds for the {} destination ({}; the bot lacks the Embed Links permission there); sending plain messages from now on",
                            lane.class,
                            reply.error_text()
                        );
                    }
                    return Ok(Delivered::EmbedsRefused);
                }
                401 | 403 | 404 => {
                    if reply.status == 401 && matches!(lane.target, Target::Channel(_)) {
                        self.token_invalid.set(true);
                    }
                    let why = reply.error_text();
                    // Said once, on stderr: never through tracing, which would feed the layer.
                    eprintln!(
                        "tracing-discord: giving up the {} destination ({:?}): {why}; its events are counted as dropped (destination unreachable)",
                        lane.class, lane.target
                    );
                    *lane.dead.borrow_mut() = Some(why);
                    return Err(Failure::Dropped(DropReason::Unreachable));
                }
                500..=599 => {
                    failures += 1;
                    if failures > MAX_RETRIES {
                        return Err(Failure::Dropped(DropReason::RetriesExhausted));
                    }
                    sleep(RETRY_BACKOFF * 2u32.pow(failures - 1)).await;
                }
                _ => {
                    if !lane.rejection_reported.replace(true) {
                        eprintln!(
                            "tracing-discord: Discord rejected a message for the {} destination: {}; that message's events are counted as dropped (rejected by Discord)",
                            lane.class,
                            reply.error_text()
                        );
                    }
                    return Err(Failure::Dropped(DropReason::Rejected));
                }
            }
        }
    }
}

/// Whether Discord refused a message because of its embeds: 403 Missing Permissions
/// (50013) for a message with embeds, or 400 Cannot send an empty message (50006) when
/// only embeds were sent (they were stripped, leaving nothing).
fn embeds_refused(reply: &Reply, message: &Message) -> bool {
    let code = reply.body.get("code").and_then(serde_json::Value::as_i64);
    match reply.status {
        403 => code == Some(50013) && message.attachments.is_empty(),
        400 => code == Some(50006) && message.content.trim().is_empty(),
        _ => false,
    }
}
