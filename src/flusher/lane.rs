//! A lane: one class's outgoing messages to its destination, posted one at a time within
//! Discord's limits (see [`pacing`](super::pacing)), and what happens to each: delivered,
//! retried, split, or dropped with a reason.
//!
//! ERRORs go first, in emission order; a batch message waiting for budget steps aside when
//! one arrives. Server errors, timeouts and network failures are retried with backoff for
//! up to four minutes (within Discord's nonce memory) with the same `nonce` (so a retry never posts twice on the bot route;
//! webhooks have no nonce and are at-least-once). A message Discord refuses (400) is split
//! in halves until the part at fault is alone; only that part is dropped.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{sleep, sleep_until, Instant};

use super::pacing::{backoff, Bucket, CLOUDFLARE_PAUSE};
use super::Flusher;
use crate::config::Target;
use crate::discord::{Reply, Scope};
use crate::render::{self, Message};
use crate::stats::DropReason;
use crate::Class;

/// Retries of one message stop after this many attempts or this long, whichever first.
const MAX_ATTEMPTS: u32 = 30;
/// Under Discord's nonce memory ("a few minutes", discord-api.md 2.5): a retry later than
/// that could post twice.
const MAX_RETRY_TIME: Duration = Duration::from_secs(240);
/// When a 429 carries no usable wait, wait this long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A message waiting in a lane.
pub(super) struct Outgoing {
    pub(super) message: Message,
    /// An ERROR: goes ahead of batches and may use the reserved budget.
    pub(super) urgent: bool,
    /// The nonce of this message, fixed at its first attempt and kept when it steps aside
    /// for an ERROR, so that no retry of it can post twice.
    nonce: RefCell<Option<String>>,
    /// Requests sent for it so far; a message already tried is never merged with others.
    attempts: Cell<u32>,
}

impl Outgoing {
    fn new(message: Message, urgent: bool) -> Self {
        Outgoing {
            message,
            urgent,
            nonce: RefCell::new(None),
            attempts: Cell::new(0),
        }
    }
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
    /// Refused because of its files (no Attach Files: 403 50013): resent inline.
    AttachmentsRefused,
    /// Refused (400) as a whole: resent as two halves, to find the part at fault.
    Split(Box<(Message, Message)>),
}

/// How a delivery attempt ended, when not delivered.
enum Failure {
    /// Given up: count the message's events as dropped for this reason.
    Dropped(DropReason),
    /// A batch message stepped aside for an ERROR; it is posted right after.
    Preempted,
}

/// One class's outgoing messages and delivery state.
pub(super) struct Lane {
    pub(super) class: Class,
    /// The destination's rate-limit state, shared with other classes routed there.
    bucket: Rc<Bucket>,
    /// ERRORs first (in emission order), then batch messages.
    outbox: RefCell<VecDeque<Outgoing>>,
    /// How many ERROR messages lead the outbox.
    urgent_queued: Cell<usize>,
    /// A message is being posted.
    busy: Cell<bool>,
    /// Events of the message being posted.
    in_flight_events: Cell<usize>,
    /// Whether the message being posted is an ERROR message.
    in_flight_urgent: Cell<bool>,
    /// Rung when messages are added.
    ready: Notify,
    /// Rung when ERRORs are added.
    urgent_arrived: Notify,
    /// Set when Discord said this destination is unusable; nothing more is sent to it.
    dead: RefCell<Option<String>>,
    /// Whether a rejection (400) was already reported on stderr.
    rejection_reported: Cell<bool>,
    /// Discord stored a message without its embeds (the bot lacks Embed Links there):
    /// from then on this lane renders content only.
    embeds_stripped: Cell<bool>,
    /// Discord refused a file here (no Attach Files): big batches stay inline from then on.
    attachments_refused: Cell<bool>,
    nonce_counter: Cell<u64>,
}

impl Lane {
    pub(super) fn new(class: Class, bucket: Rc<Bucket>) -> Self {
        Lane {
            class,
            bucket,
            outbox: RefCell::new(VecDeque::new()),
            urgent_queued: Cell::new(0),
            busy: Cell::new(false),
            in_flight_events: Cell::new(0),
            in_flight_urgent: Cell::new(false),
            ready: Notify::new(),
            urgent_arrived: Notify::new(),
            dead: RefCell::new(None),
            rejection_reported: Cell::new(false),
            embeds_stripped: Cell::new(false),
            attachments_refused: Cell::new(false),
            nonce_counter: Cell::new(0),
        }
    }

    pub(super) fn target(&self) -> &Target {
        &self.bucket.target
    }

    pub(super) fn embeds_stripped(&self) -> bool {
        self.embeds_stripped.get()
    }

    pub(super) fn attachments_refused(&self) -> bool {
        self.attachments_refused.get()
    }

    /// Nothing waiting and nothing being posted.
    pub(super) fn idle(&self) -> bool {
        !self.busy.get() && self.outbox.borrow().is_empty()
    }

    /// No batch message waiting or being posted (ERRORs may be): the next batch may be
    /// drained. ERRORs arriving steadily must not starve batches.
    pub(super) fn ready_for_batch(&self) -> bool {
        let posting_batch = self.busy.get() && !self.in_flight_urgent.get();
        !posting_batch && self.outbox.borrow().iter().all(|o| o.urgent)
    }

    pub(super) fn queued_messages(&self) -> usize {
        self.outbox.borrow().len()
    }

    /// Adds ERROR messages after the ERRORs already waiting, ahead of batch messages.
    /// Merges into the last waiting ERROR message when they fit together, so that ERRORs
    /// arriving while the lane waits stay few messages.
    pub(super) fn push_urgent(&self, messages: Vec<Message>) {
        let mut rest = Vec::new();
        {
            let mut outbox = self.outbox.borrow_mut();
            let at = self.urgent_queued.get();
            for message in messages {
                let last = at.checked_sub(1).and_then(|i| outbox.get_mut(i));
                match last {
                    Some(last)
                        if rest.is_empty()
                            && last.attempts.get() == 0
                            && render::can_merge(&last.message, &message) =>
                    {
                        render::merge(&mut last.message, message);
                    }
                    _ => rest.push(message),
                }
            }
        }
        self.insert_front(rest, true);
        self.ready.notify_one();
        self.urgent_arrived.notify_one();
    }

    /// Puts a message that stepped aside back, right after the waiting ERRORs, with its
    /// nonce and attempts.
    fn put_back(&self, outgoing: Outgoing) {
        let at = self.urgent_queued.get();
        self.outbox.borrow_mut().insert(at, outgoing);
    }

    /// Adds batch messages at the end.
    pub(super) fn push_batch(&self, messages: Vec<Message>) {
        self.outbox.borrow_mut().extend(
            messages
                .into_iter()
                .map(|message| Outgoing::new(message, false)),
        );
        self.ready.notify_one();
    }

    /// Inserts messages next in line for their kind: urgent ones after the waiting ERRORs,
    /// others right after all ERRORs.
    fn insert_front(&self, messages: Vec<Message>, urgent: bool) {
        let mut outbox = self.outbox.borrow_mut();
        let at = self.urgent_queued.get();
        let n = messages.len();
        for (i, message) in messages.into_iter().enumerate() {
            outbox.insert(at + i, Outgoing::new(message, urgent));
        }
        if urgent {
            self.urgent_queued.set(at + n);
        }
    }

    /// Like [`insert_front`](Self::insert_front), but ahead of the waiting ERRORs too: for
    /// the remains of an ERROR being posted, which must stay together.
    fn insert_head(&self, messages: Vec<Message>, urgent: bool) {
        let mut outbox = self.outbox.borrow_mut();
        let n = messages.len();
        for (i, message) in messages.into_iter().enumerate() {
            outbox.insert(i, Outgoing::new(message, urgent));
        }
        if urgent {
            self.urgent_queued.set(self.urgent_queued.get() + n);
        }
    }

    /// The next message. ERRORs are merged when they arrive (`push_urgent`), never here:
    /// the halves of a refused message also wait at the front and must stay apart.
    fn pop(&self) -> Option<Outgoing> {
        let next = self.outbox.borrow_mut().pop_front()?;
        if next.urgent {
            self.urgent_queued
                .set(self.urgent_queued.get().saturating_sub(1));
        }
        Some(next)
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

    /// At shutdown: when more batch messages wait untried than `budget` (what can still be
    /// posted before the deadline), those made of code blocks are folded into a summary with
    /// their lines attached; a burst queued just before exit then takes one request instead
    /// of being dropped by the shutdown timeout.
    pub(super) fn fold_unsent(&self, budget: usize, label: Option<&str>) {
        if self.attachments_refused.get() {
            return;
        }
        let mut outbox = self.outbox.borrow_mut();
        let untried = |o: &Outgoing| !o.urgent && o.attempts.get() == 0;
        if outbox.iter().filter(|o| untried(o)).count() <= budget {
            return;
        }
        let (fold, keep): (Vec<Outgoing>, Vec<Outgoing>) = outbox.drain(..).partition(|o| {
            // Code blocks only (batches and reports): nothing else would survive the fold.
            untried(o)
                && o.message.attachments.is_empty()
                && o.message.embeds.iter().all(|e| e.title.is_none())
        });
        outbox.extend(keep);
        let messages: Vec<Message> = fold.into_iter().map(|o| o.message).collect();
        if messages.is_empty() {
            return;
        }
        outbox.extend(
            render::fold_into_attachment(self.class, &messages, label)
                .into_iter()
                .map(|message| Outgoing::new(message, false)),
        );
        drop(outbox);
        self.ready.notify_one();
    }

    /// Replaces a message Discord stripped or refused for its embeds by plain messages.
    fn resend_without_embeds(&self, outgoing: &Outgoing, whole: bool) {
        self.embeds_stripped.set(true);
        // What is already waiting would meet the same fate: make it plain now.
        let waiting: Vec<Outgoing> = self.outbox.borrow_mut().drain(..).collect();
        let mut plain = VecDeque::with_capacity(waiting.len());
        for o in waiting {
            if o.message.embeds.is_empty() {
                plain.push_back(o);
            } else {
                let urgent = o.urgent;
                plain.extend(
                    render::without_embeds(&o.message)
                        .into_iter()
                        .map(|message| Outgoing::new(message, urgent)),
                );
            }
        }
        self.urgent_queued
            .set(plain.iter().take_while(|o| o.urgent).count());
        *self.outbox.borrow_mut() = plain;
        let rest = if whole {
            outgoing.message.clone()
        } else {
            Message {
                content: String::new(),
                mention_role: None,
                ..outgoing.message.clone()
            }
        };
        self.insert_head(render::without_embeds(&rest), outgoing.urgent);
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
    pub(super) async fn drive_lane(self: Rc<Self>, lane: Rc<Lane>) {
        loop {
            let Some(outgoing) = lane.pop() else {
                self.lane_idle.notify_one();
                lane.ready.notified().await;
                continue;
            };
            lane.busy.set(true);
            lane.in_flight_urgent.set(outgoing.urgent);
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
                    lane.resend_without_embeds(&outgoing, false);
                }
                Ok(Delivered::EmbedsRefused) => lane.resend_without_embeds(&outgoing, true),
                Ok(Delivered::AttachmentsRefused) => {
                    lane.attachments_refused.set(true);
                    let inline =
                        render::without_attachments(&outgoing.message, !lane.embeds_stripped());
                    lane.insert_head(inline, outgoing.urgent);
                }
                Ok(Delivered::Split(halves)) => {
                    let (a, b) = *halves;
                    lane.insert_head(vec![a, b], outgoing.urgent);
                }
                Err(Failure::Dropped(reason)) => counters.drop_events(reason, events),
                Err(Failure::Preempted) => lane.put_back(outgoing),
            }
            lane.busy.set(false);
            lane.in_flight_events.set(0);
            // The last batch message is out while ERRORs still wait: the next batch may go.
            if lane.ready_for_batch() && !lane.idle() {
                self.lane_idle.notify_one();
            }
        }
    }

    /// Waits until the lane may send; a batch message gives way when an ERROR arrives.
    async fn wait_for_budget(&self, lane: &Lane, urgent: bool) -> Result<(), Failure> {
        loop {
            // Once shutting down no ERROR can come any more: nothing is held in reserve.
            let reserve_free = urgent || self.closing.get();
            let until = [
                self.global.not_before(),
                lane.bucket.not_before(reserve_free),
            ]
            .into_iter()
            .flatten()
            .max();
            if let Some(until) = until {
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
                continue;
            }
            match self.global.pace_wait() {
                Some(wait) => sleep(wait).await,
                None => return Ok(()),
            }
        }
    }

    /// Posts one message within the rate limits.
    async fn deliver(&self, lane: &Lane, outgoing: &Outgoing) -> Result<Delivered, Failure> {
        let nonce = outgoing
            .nonce
            .borrow_mut()
            .get_or_insert_with(|| lane.next_nonce())
            .clone();
        let message = &outgoing.message;
        if !message.is_valid() {
            // A renderer bug must not become a 400 from Discord.
            return Err(Failure::Dropped(DropReason::Rejected));
        }
        // Written once: every attempt sends the same bytes (and the same nonce).
        let body = self.client.body(lane.target(), message, &nonce);
        let body_bytes = body.len()
            + message
                .attachments
                .iter()
                .map(|a| a.text.len())
                .sum::<usize>();
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            let token_gone =
                self.token_invalid.get() && matches!(lane.target(), Target::Channel(_));
            if lane.dead.borrow().is_some() || token_gone {
                return Err(Failure::Dropped(DropReason::Unreachable));
            }
            if attempts >= MAX_ATTEMPTS || (attempts > 0 && started.elapsed() >= MAX_RETRY_TIME) {
                return Err(Failure::Dropped(DropReason::RetriesExhausted));
            }
            let class_counters = self.queues.counters.class(lane.class);
            if attempts > 0 {
                self.queues.counters.retries.fetch_add(1, Relaxed);
                class_counters.retries.fetch_add(1, Relaxed);
            }
            attempts += 1;
            // One request at a time per destination, whichever class sends it. The gate is
            // taken only once there is budget, so a batch waiting for its bucket never holds
            // up another class's ERROR; with the gate, the budget is looked at again.
            let permit = loop {
                self.wait_for_budget(lane, outgoing.urgent).await?;
                let permit = lane.bucket.gate.acquire().await;
                if lane
                    .bucket
                    .not_before(outgoing.urgent || self.closing.get())
                    .is_none()
                {
                    break permit;
                }
            };
            outgoing.attempts.set(outgoing.attempts.get() + 1);
            self.queues.counters.requests.fetch_add(1, Relaxed);
            class_counters.requests.fetch_add(1, Relaxed);
            class_counters
                .bytes_sent
                .fetch_add(body_bytes as u64, Relaxed);
            lane.bucket.sending();
            let sent = self
                .client
                .post_body(lane.target(), message, body.clone())
                .await;
            drop(permit);
            let reply = match sent {
                Ok(reply) => reply,
                Err(network) => {
                    class_counters.set_last_error(format!("network: {}", network.without_url()));
                    sleep(backoff(attempts)).await;
                    continue;
                }
            };
            lane.bucket.learn(&reply);
            if !(200..300).contains(&reply.status) {
                class_counters.set_last_error(reply.error_text());
            }
            match reply.status {
                200..=299 => return Ok(self.check_embeds(lane, message, &reply)),
                429 => self.rate_limited(lane, &reply),
                403 if !message.attachments.is_empty()
                    && reply.body.get("code").and_then(serde_json::Value::as_i64)
                        == Some(50013) =>
                {
                    if !lane.attachments_refused.get() {
                        eprintln!(
                            "tracing-discord: Discord refused a file for the {} destination ({}; the bot lacks the Attach Files permission there); posting big batches inline from now on",
                            lane.class,
                            reply.error_text()
                        );
                    }
                    return Ok(Delivered::AttachmentsRefused);
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
                    if reply.status != 404 {
                        self.global.invalid_request();
                    }
                    if reply.status == 401 && matches!(lane.target(), Target::Channel(_)) {
                        self.token_invalid.set(true);
                    }
                    let why = reply.error_text();
                    // Said once, on stderr: never through tracing, which would feed the layer.
                    eprintln!(
                        "tracing-discord: giving up the {} destination ({}): {why}; its events are counted as dropped (destination unreachable)",
                        lane.class,
                        lane.target()
                    );
                    *lane.dead.borrow_mut() = Some(why);
                    return Err(Failure::Dropped(DropReason::Unreachable));
                }
                500..=599 => sleep(backoff(attempts)).await,
                _ => {
                    if let Some((a, b)) = render::halve(message) {
                        return Ok(Delivered::Split(Box::new((a, b))));
                    }
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

    /// A 429: wait as its scope says, and count it.
    fn rate_limited(&self, lane: &Lane, reply: &Reply) {
        let counters = &self.queues.counters;
        counters.rate_limited.fetch_add(1, Relaxed);
        counters
            .class(lane.class)
            .rate_limited
            .fetch_add(1, Relaxed);
        let scope = reply.scope.unwrap_or(Scope::User);
        let index = match scope {
            Scope::User => 0,
            Scope::Global => 1,
            Scope::Shared => 2,
            Scope::Cloudflare => 3,
        };
        counters.rate_limited_by_scope[index].fetch_add(1, Relaxed);
        if scope != Scope::Shared {
            self.global.invalid_request();
        }
        let wait = reply.retry_after.map_or(DEFAULT_RETRY_AFTER, |s| {
            Duration::from_secs_f64(s.min(3600.0))
        });
        let until = Instant::now() + wait;
        match scope {
            Scope::Global => self.global.block_until(until),
            Scope::Cloudflare => {
                if !self.cloudflare_reported.replace(true) {
                    eprintln!(
                        "tracing-discord: Discord's edge is blocking this IP (a 429 without rate-limit headers); pausing all sending for {} s",
                        CLOUDFLARE_PAUSE.as_secs()
                    );
                }
                self.global.block_until(Instant::now() + CLOUDFLARE_PAUSE);
            }
            Scope::User | Scope::Shared => lane.bucket.exhausted_until(until),
        }
    }

    /// Whether Discord kept the embeds of an accepted message.
    fn check_embeds(&self, lane: &Lane, message: &Message, reply: &Reply) -> Delivered {
        let stored = reply
            .body
            .get("embeds")
            .and_then(|e| e.as_array())
            .map_or(0, Vec::len);
        if message.embeds.is_empty() || stored >= message.embeds.len() || !reply.body.is_object() {
            return Delivered::Whole;
        }
        if !lane.embeds_stripped.get() {
            eprintln!(
                "tracing-discord: Discord dropped the embeds of a message for the {} destination (the bot lacks the Embed Links permission there); sending their text as plain messages from now on",
                lane.class
            );
        }
        Delivered::EmbedsStripped
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
