//! Fixed-window rate limiting with Discord's headers and 429 bodies
//! (discord-api.md section 1 and emulator spec E).
//!
//! A window starts at the first request after the previous one ended and admits `limit`
//! requests; a request refused with 429 does not consume anything.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::clock::epoch_seconds_after;
use super::reply::Reply;

/// `X-RateLimit-Bucket` of `POST /channels/{id}/messages`: one hash for every channel.
pub(crate) const CHANNEL_MESSAGES_BUCKET: &str = "41f9cd5d28af77da04563bcb1d67fdfd";
/// `X-RateLimit-Bucket` of `POST /webhooks/{id}/{token}`: one hash for every webhook.
pub(crate) const WEBHOOK_EXECUTE_BUCKET: &str = "d0b8a3c9e4f1a2b7c6d5e8f9a0b1c2d3";
/// Bucket of `GET /users/@me`.
pub(crate) const USERS_ME_BUCKET: &str = "7a3e1c0f9b8d2e4a6c5b1f0e9d8c7b6a";
/// Bucket of `GET /channels/{id}`.
pub(crate) const GET_CHANNEL_BUCKET: &str = "3c5e7a9b1d2f4e6a8c0b2d4f6e8a0c1e";
/// Bucket of `GET /channels/{id}/messages`.
pub(crate) const GET_MESSAGES_BUCKET: &str = "5e2f8a1b7c4d9e0f3a6b2c8d1e7f4a9b";
/// Bucket of `GET /webhooks/...`.
pub(crate) const GET_WEBHOOK_BUCKET: &str = "9a1b2c3d4e5f60718293a4b5c6d7e8f9";
/// The generous limit of the GET routes (emulator spec rule 21).
pub(crate) const GET_ROUTE_LIMIT: (u32, Duration) = (50, Duration::from_secs(1));
/// The global limit's window (discord-api.md 1.3: "50 requests per second").
pub(crate) const GLOBAL_WINDOW: Duration = Duration::from_secs(1);

/// One fixed window.
#[derive(Debug)]
struct Window {
    /// When the current window started; `None` before the first request.
    started: Option<Instant>,
    /// Requests admitted in the current window.
    used: u32,
}

/// A bucket's state as the headers describe it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BucketState {
    /// `X-RateLimit-Limit`.
    pub limit: u32,
    /// `X-RateLimit-Remaining`.
    pub remaining: u32,
    /// Time until the window ends (`X-RateLimit-Reset-After`).
    pub reset_after: Duration,
}

/// The outcome of asking a limiter for one request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Admission {
    /// Admitted; the state after counting this request.
    Admitted(BucketState),
    /// Refused: the window is exhausted until `reset_after`.
    Refused(BucketState),
}

/// All windows of the emulator, keyed by a string naming the limit and its major resource.
#[derive(Debug, Default)]
pub(crate) struct Limiters {
    /// Windows by key.
    windows: HashMap<String, Window>,
}

impl Limiters {
    /// Counts one request against the window `key` (`limit` per `period`).
    pub(crate) fn admit(
        &mut self,
        key: String,
        limit: u32,
        period: Duration,
        now: Instant,
    ) -> Admission {
        let window = self.windows.entry(key).or_insert(Window {
            started: None,
            used: 0,
        });
        let start = match window.started {
            Some(start) if now < start + period => start,
            _ => {
                window.started = Some(now);
                window.used = 0;
                now
            }
        };
        let reset_after = (start + period).saturating_duration_since(now);
        if window.used < limit {
            window.used += 1;
            Admission::Admitted(BucketState {
                limit,
                remaining: limit - window.used,
                reset_after,
            })
        } else {
            Admission::Refused(BucketState {
                limit,
                remaining: 0,
                reset_after,
            })
        }
    }

    /// Forgets every window.
    pub(crate) fn clear(&mut self) {
        self.windows.clear();
    }
}

/// Seconds with millisecond precision, rounded up so that waiting this long is enough.
fn seconds_3dp(d: Duration) -> f64 {
    let millis = u64::try_from(d.as_micros().div_ceil(1000).max(1)).unwrap_or(u64::MAX);
    Duration::from_millis(millis).as_secs_f64()
}

/// `Retry-After`: whole seconds, the body's `retry_after` rounded up (Discord's API documentation; the project's discord-api.md 1.1).
fn retry_after_header(d: Duration) -> String {
    let millis = d.as_micros().div_ceil(1000).max(1);
    millis.div_ceil(1000).to_string()
}

/// The five bucket headers of a bucketed route.
pub(crate) fn bucket_headers(state: BucketState, hash: &str) -> Vec<(&'static str, String)> {
    vec![
        ("X-RateLimit-Limit", state.limit.to_string()),
        ("X-RateLimit-Remaining", state.remaining.to_string()),
        ("X-RateLimit-Reset", epoch_seconds_after(state.reset_after)),
        (
            "X-RateLimit-Reset-After",
            format!("{:.3}", seconds_3dp(state.reset_after)),
        ),
        ("X-RateLimit-Bucket", hash.to_string()),
    ]
}

/// The 429 of an exhausted route bucket (scope `user`, emulator spec rule 23).
pub(crate) fn user_limited(state: BucketState, hash: &str) -> Reply {
    let mut headers = vec![("Retry-After", retry_after_header(state.reset_after))];
    headers.extend(bucket_headers(state, hash));
    headers.push(("X-RateLimit-Scope", "user".to_string()));
    limited(
        headers,
        json!({
            "message": "You are being rate limited.",
            "retry_after": seconds_3dp(state.reset_after),
            "global": false,
        }),
        "user",
    )
}

/// The 429 of a limit shared by every sender (scope `shared`, emulator spec rule 24).
/// The caller adds the sender's own bucket headers, whose `Remaining` may be above 0.
pub(crate) fn shared_limited(retry_after: Duration) -> Reply {
    limited(
        vec![
            ("Retry-After", retry_after_header(retry_after)),
            ("X-RateLimit-Scope", "shared".to_string()),
        ],
        json!({
            "message": "The resource is being rate limited.",
            "retry_after": seconds_3dp(retry_after),
            "global": false,
        }),
        "shared",
    )
}

/// The global 429: no bucket headers at all (emulator spec rule 25).
pub(crate) fn global_limited(retry_after: Duration) -> Reply {
    limited(
        vec![
            ("Retry-After", retry_after_header(retry_after)),
            ("X-RateLimit-Global", "true".to_string()),
            ("X-RateLimit-Scope", "global".to_string()),
        ],
        json!({
            "message": "You are being rate limited.",
            "retry_after": seconds_3dp(retry_after),
            "global": true,
        }),
        "global",
    )
}

/// A 429 from `limiter` with these headers and body.
fn limited(headers: Vec<(&'static str, String)>, body: Value, limiter: &'static str) -> Reply {
    let mut reply = Reply::json(429, body);
    reply.headers = headers;
    reply.limiter = Some(limiter);
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_window_admits_limit_then_refuses_until_reset() {
        let mut limiters = Limiters::default();
        let t0 = Instant::now();
        let period = Duration::from_secs(5);
        for expected_remaining in (0..5).rev() {
            match limiters.admit("k".into(), 5, period, t0) {
                Admission::Admitted(s) => assert_eq!(s.remaining, expected_remaining),
                Admission::Refused(_) => panic!("refused too early"),
            }
        }
        let later = t0 + Duration::from_secs(2);
        match limiters.admit("k".into(), 5, period, later) {
            Admission::Refused(s) => assert_eq!(s.reset_after, Duration::from_secs(3)),
            Admission::Admitted(_) => panic!("admitted a 6th request"),
        }
        assert!(matches!(
            limiters.admit("k".into(), 5, period, t0 + period),
            Admission::Admitted(_)
        ));
        assert!(matches!(
            limiters.admit("other".into(), 5, period, later),
            Admission::Admitted(_)
        ));
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_header(Duration::from_millis(4001)), "5");
        assert_eq!(retry_after_header(Duration::from_millis(4000)), "4");
        assert_eq!(retry_after_header(Duration::ZERO), "1");
        assert!((seconds_3dp(Duration::from_micros(4_000_001)) - 4.001).abs() < 1e-9);
    }
}
