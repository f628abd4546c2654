//! When a request may go: Discord's rate limits as the flusher tracks them.
//!
//! - [`Bucket`]: one per destination (the major parameter: channel id, or webhook id and
//!   token), shared by every class routed there. It remembers what Discord's headers said
//!   (`X-RateLimit-Remaining`, `X-RateLimit-Reset-After`; never the wall clock of
//!   `X-RateLimit-Reset`), lets one request at a time through, leaves the last request of
//!   a window to ERRORs, and for webhooks also counts Discord's hidden 30 messages per 60 s
//!   per channel (Discord's API documentation; the project's discord-api.md 1.5).
//! - [`Global`]: the pace all destinations share (50 requests per second, discord-api.md
//!   1.3), a global 429 or a Cloudflare block pausing everyone, and a circuit that stops
//!   sending well before Discord's 10,000 invalid requests per 10 minutes (1.6).
//! - [`backoff`]: exponential, with jitter, for server errors and network failures.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::config::Target;
use crate::discord::Reply;

/// One request every 21 ms with no burst keeps any one-second window at 48 at most, under
/// Discord's 50 per second even for a fixed window on Discord's side (Discord's API documentation; the project's discord-api.md 1.3).
const GLOBAL_SPACING: Duration = Duration::from_millis(21);
/// Discord's hidden webhook limit per channel: 30 messages per 60 s (Discord's API documentation; the project's discord-api.md 1.5).
const WEBHOOK_WINDOW: Duration = Duration::from_secs(60);
const WEBHOOK_WINDOW_MESSAGES: usize = 30;
/// Requests of a window that batches leave to ERRORs.
pub(super) const URGENT_RESERVE: u32 = 1;
/// Discord bans an IP after 10,000 invalid requests (401, 403, 429 but shared) in 10
/// minutes (Discord's API documentation; the project's discord-api.md 1.6); the circuit opens at a tenth of that.
const INVALID_WINDOW: Duration = Duration::from_secs(600);
const INVALID_BUDGET: usize = 1_000;
/// How long everything pauses after a Cloudflare block (it carries no retry time).
pub(super) const CLOUDFLARE_PAUSE: Duration = Duration::from_secs(300);

/// A destination's rate-limit state.
pub(super) struct Bucket {
    pub(super) target: Target,
    remaining: Cell<Option<u32>>,
    reset_at: Cell<Option<Instant>>,
    webhook_sends: RefCell<VecDeque<Instant>>,
    /// One request in flight per destination, whichever class sends it.
    pub(super) gate: Semaphore,
}

impl Bucket {
    pub(super) fn new(target: Target) -> Self {
        Bucket {
            target,
            remaining: Cell::new(None),
            reset_at: Cell::new(None),
            webhook_sends: RefCell::new(VecDeque::new()),
            gate: Semaphore::new(1),
        }
    }

    /// When the next request may go (`None`: now). Batches leave the last request of a
    /// window, and the last webhook message of a minute, to ERRORs.
    pub(super) fn not_before(&self, urgent: bool) -> Option<Instant> {
        let reserve = if urgent { 0 } else { URGENT_RESERVE };
        let now = Instant::now();
        let mut until: Option<Instant> = None;
        if self.remaining.get().is_some_and(|r| r <= reserve) {
            until = self.reset_at.get();
        }
        if let Target::Webhook(_) = self.target {
            let mut sends = self.webhook_sends.borrow_mut();
            while sends.front().is_some_and(|t| *t + WEBHOOK_WINDOW <= now) {
                sends.pop_front();
            }
            let allowed = WEBHOOK_WINDOW_MESSAGES - reserve as usize;
            if sends.len() >= allowed {
                let free_at = sends[sends.len() - allowed] + WEBHOOK_WINDOW;
                until = Some(until.map_or(free_at, |u| u.max(free_at)));
            }
        }
        until.filter(|t| *t > now)
    }

    /// A request is about to go.
    pub(super) fn sending(&self) {
        if let Target::Webhook(_) = self.target {
            self.webhook_sends.borrow_mut().push_back(Instant::now());
        }
    }

    /// What the answer's headers say about the bucket.
    pub(super) fn learn(&self, reply: &Reply) {
        if let Some(remaining) = reply.remaining {
            self.remaining.set(Some(remaining));
        }
        if let Some(after) = reply.reset_after {
            self.reset_at.set(Some(
                Instant::now() + Duration::from_secs_f64(after.min(3600.0)),
            ));
        }
    }

    /// A 429 for this bucket: nothing more until `until`.
    pub(super) fn exhausted_until(&self, until: Instant) {
        self.remaining.set(Some(0));
        self.reset_at.set(Some(until));
    }
}

/// What every destination shares.
pub(super) struct Global {
    pace: DefaultDirectRateLimiter,
    blocked_until: Cell<Option<Instant>>,
    invalid: RefCell<VecDeque<Instant>>,
    circuit_reported: Cell<bool>,
}

impl Global {
    pub(super) fn new() -> Self {
        let quota = Quota::with_period(GLOBAL_SPACING)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        Global {
            pace: RateLimiter::direct(quota),
            blocked_until: Cell::new(None),
            invalid: RefCell::new(VecDeque::new()),
            circuit_reported: Cell::new(false),
        }
    }

    /// Everyone waits until `until` (a global 429, or a Cloudflare block).
    pub(super) fn block_until(&self, until: Instant) {
        let later = self.blocked_until.get().map_or(until, |b| b.max(until));
        self.blocked_until.set(Some(later));
    }

    /// Counts a 401, 403 or (non-shared) 429.
    pub(super) fn invalid_request(&self) {
        self.invalid.borrow_mut().push_back(Instant::now());
    }

    /// When anyone may send again (`None`: now): a block, or the invalid-request circuit.
    pub(super) fn not_before(&self) -> Option<Instant> {
        let now = Instant::now();
        let mut until = self.blocked_until.get().filter(|t| *t > now);
        let mut invalid = self.invalid.borrow_mut();
        while invalid.front().is_some_and(|t| *t + INVALID_WINDOW <= now) {
            invalid.pop_front();
        }
        if invalid.len() >= INVALID_BUDGET {
            let reopen = invalid[invalid.len() - INVALID_BUDGET] + INVALID_WINDOW;
            if !self.circuit_reported.replace(true) {
                eprintln!(
                    "tracing-discord: {} invalid requests (401/403/429) in 10 minutes; pausing all sending so that Discord does not ban this IP",
                    invalid.len()
                );
            }
            until = Some(until.map_or(reopen, |u| u.max(reopen)));
        }
        until
    }

    /// How long until the global pace lets the next request go.
    pub(super) fn pace_wait(&self) -> Option<Duration> {
        self.pace.check().err().map(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(self.pace.clock()))
        })
    }
}

/// The wait before retry number `attempt` (1, 2, ...): 0.5 s doubling up to 30 s, with
/// ±25 % jitter so that many clients recovering from one outage do not retry in step.
pub(super) fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(500).saturating_mul(1 << attempt.saturating_sub(1).min(6));
    let base = base.min(Duration::from_secs(30));
    base.mul_f64(0.75 + 0.5 * jitter())
}

/// A number in [0, 1), different on every call (xorshift seeded from the clock; no need
/// for a random crate to spread retries).
fn jitter() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0x9E37_79B9, |d| d.as_nanos() as u64) | 1,
        );
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_with_jitter() {
        for (attempt, base_ms) in [
            (1, 500.0),
            (2, 1000.0),
            (3, 2000.0),
            (7, 30_000.0),
            (30, 30_000.0),
        ] {
            let d = backoff(attempt).as_secs_f64() * 1000.0;
            assert!(
                d >= base_ms * 0.75 && d < base_ms * 1.25,
                "attempt {attempt}: {d} ms"
            );
        }
    }
}
