//! Fault injection (emulator spec F) and the invalid-request ban (emulator spec rules
//! 26-27, discord-api.md 1.6).
//!
//! Faults are queued with [`MockDiscord::fail_next`](super::MockDiscord::fail_next) and
//! consumed by the next matching Discord-API requests, after the ban check and before
//! authentication.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::ratelimit::{self, BucketState};
use super::reply::{Delivery, Reply};

/// The window of the invalid-request counter: "10,000 per 10 minutes" (Discord's API documentation; the project's discord-api.md 1.6).
pub(crate) const INVALID_REQUEST_WINDOW: Duration = Duration::from_secs(10 * 60);

/// The body of Cloudflare's "error 1015" page, as the HTML flavour of a ban answers it.
pub(crate) const CLOUDFLARE_1015_HTML: &str = "<!DOCTYPE html>\n<html>\n<head><title>Access denied | discord.com used Cloudflare to restrict access</title></head>\n<body>\n<h1>You are being rate limited</h1>\n<p>error code: 1015</p>\n</body>\n</html>\n";

/// The JSON body of a Cloudflare ban (discord-api.md 1.6, #5810).
pub(crate) const CLOUDFLARE_BLOCK_MESSAGE: &str = "You are being blocked from accessing our API temporarily due to exceeding our rate limits frequently. Please read our docs at https://discord.com/developers/docs/topics/rate-limits to prevent this moving forward.";

/// A fault injected into Discord-API requests by
/// [`MockDiscord::fail_next`](super::MockDiscord::fail_next).
///
/// Injected faults are applied after the invalid-request ban check and before every other
/// check (authentication, limits, lookups, validation), so an injected answer consumes no
/// rate-limit bucket and needs no valid token.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer `status` with `body`. JSON bodies carry `Content-Type: application/json` and
    /// `Via: 1.1 google`; HTML bodies carry `Content-Type: text/html; charset=UTF-8` and no
    /// `Via`, like Cloudflare's own 502 and 524 pages. No rate-limit headers.
    Status {
        /// The HTTP status, e.g. 500, 502, 503, 504, 524 or 400.
        status: u16,
        /// The body.
        body: FaultBody,
    },
    /// Process the request normally; when it stores a message (it becomes visible in
    /// [`MockDiscord::messages`](super::MockDiscord::messages)), fail afterwards as the
    /// [`AfterCommit`] says. A request that stores nothing (an error, an `enforce_nonce`
    /// duplicate) gets its normal answer and still consumes the fault. Matches `POST`
    /// requests only, so that reads in between do not consume it.
    CommitThenFail(AfterCommit),
    /// Close the TCP connection without answering and without reading the body: nothing
    /// is stored, so a retry is safe.
    DropConnection,
    /// An injected 429 with the headers and body of `scope` (emulator spec rules 23-25).
    /// `X-RateLimit-Limit` and `X-RateLimit-Bucket` are the route's own.
    ///
    /// - [`Scope::User`]: `Retry-After` (`retry_after` rounded up), the bucket headers with
    ///   `X-RateLimit-Remaining: remaining` (default 0) and `X-RateLimit-Reset-After:
    ///   retry_after`, `X-RateLimit-Scope: user`; body `{"message": "You are being rate
    ///   limited.", "retry_after": .., "global": false}`.
    /// - [`Scope::Global`]: only `Retry-After`, `X-RateLimit-Global: true` and
    ///   `X-RateLimit-Scope: global`; body as for `user` with `"global": true`.
    /// - [`Scope::Shared`]: `Retry-After`, the bucket headers with `Remaining: remaining`
    ///   (default 0) and `Reset-After` the smaller of `retry_after` and the route's window,
    ///   `X-RateLimit-Scope: shared`; body `{"message": "The resource is being rate
    ///   limited.", "retry_after": .., "global": false}`.
    ///
    /// `retry_after` appears in the body rounded to milliseconds; `code`, when given, is
    /// added to the body.
    RateLimited {
        /// Which limit the 429 claims to come from.
        scope: Scope,
        /// Seconds to wait.
        retry_after: f64,
        /// A body `code`, e.g. 20016, 20022, 20028 or 40062.
        code: Option<u64>,
        /// `X-RateLimit-Remaining` for `user` and `shared` (default 0); ignored for `global`.
        remaining: Option<u32>,
    },
    /// A Cloudflare block (emulator spec rule 27): 429 without `Via`, without any
    /// `X-RateLimit-*` header and without `Retry-After`. `json: false` answers the HTML
    /// "error code: 1015" page (`text/html`); `json: true` answers `{"code": 0, "message":
    /// "You are being blocked from accessing our API temporarily due to exceeding our rate
    /// limits frequently. Please read our docs at
    /// https://discord.com/developers/docs/topics/rate-limits to prevent this moving
    /// forward."}`. This does not start a ban.
    CloudflareBlock {
        /// JSON body instead of the HTML page.
        json: bool,
    },
}

/// The body of a [`Fault::Status`] answer.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultBody {
    /// A JSON body, sent with `Via: 1.1 google`.
    Json(Value),
    /// An HTML page, sent as `text/html` without `Via` (a Cloudflare error page).
    Html(String),
}

/// What a [`Fault::CommitThenFail`] does once the message is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterCommit {
    /// Answer `500 {"message": "500: Internal Server Error", "code": 0}` (with `Via`).
    Status500,
    /// Close the connection without answering.
    DropConnection,
    /// Hold the answer until [`MockDiscord::release_hung`](super::MockDiscord::release_hung)
    /// (then the normal answer goes out) or until the emulator stops (then the connection
    /// closes): a client timeout fires first.
    Hang,
}

/// The `X-RateLimit-Scope` of an injected 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The bot's own route bucket.
    User,
    /// The bot's (or the IP's) global limit.
    Global,
    /// A per-resource limit shared by every sender; not counted as an invalid request.
    Shared,
}

impl Scope {
    /// The header value and [`rate_limited_by_scope`](super::MockDiscord::rate_limited_by_scope) key.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Global => "global",
            Scope::Shared => "shared",
        }
    }
}

/// A queued fault.
#[derive(Debug, Clone)]
struct Pending {
    /// Only requests whose path contains this match; `None` matches every path.
    path_contains: Option<String>,
    /// Requests still to be failed.
    remaining: u32,
    /// What they get.
    fault: Fault,
}

/// The fault knobs: queued faults, the outage switch and the rejection marker.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// Queued faults, consumed in order.
    queue: VecDeque<Pending>,
    /// While `true`, every Discord-API request answers 503.
    pub down: bool,
    /// Messages containing this are refused with 50035.
    pub reject_marker: Option<String>,
}

impl Faults {
    /// Queues `fault` for the next `n` requests matching the filter.
    pub(crate) fn push(&mut self, path_contains: Option<&str>, n: u32, fault: Fault) {
        if n > 0 {
            self.queue.push_back(Pending {
                path_contains: path_contains.map(str::to_string),
                remaining: n,
                fault,
            });
        }
    }

    /// Forgets every queued fault.
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
    }

    /// Takes one use of the oldest queued fault this request matches.
    pub(crate) fn take(&mut self, method: &str, path: &str) -> Option<Fault> {
        let index = self.queue.iter().position(|pending| {
            pending
                .path_contains
                .as_deref()
                .is_none_or(|needle| path.contains(needle))
                && (method == "POST" || !matches!(pending.fault, Fault::CommitThenFail(_)))
        })?;
        let pending = &mut self.queue[index];
        pending.remaining -= 1;
        let fault = pending.fault.clone();
        if pending.remaining == 0 {
            self.queue.remove(index);
        }
        Some(fault)
    }

    /// Whether a message's content or any embed string contains the rejection marker.
    pub(crate) fn rejects(&self, content: &str, embeds: &[Value]) -> bool {
        let Some(marker) = self.reject_marker.as_deref() else {
            return false;
        };
        content.contains(marker) || embeds.iter().any(|embed| contains_text(embed, marker))
    }
}

/// Whether any string inside `value` contains `needle`.
fn contains_text(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(text) => text.contains(needle),
        Value::Array(items) => items.iter().any(|v| contains_text(v, needle)),
        Value::Object(map) => map.values().any(|v| contains_text(v, needle)),
        _ => false,
    }
}

/// The invalid-request counter and the bans it imposes (rules 26-27).
#[derive(Debug, Default)]
pub(crate) struct Abuse {
    /// When each counted invalid request happened, per client IP, oldest first.
    invalid: HashMap<IpAddr, VecDeque<Instant>>,
    /// Until when each banned IP is banned.
    banned_until: HashMap<IpAddr, Instant>,
}

impl Abuse {
    /// Whether `ip` is banned at `now`.
    pub(crate) fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        self.banned_until.get(&ip).is_some_and(|until| now < *until)
    }

    /// Whether any IP is banned at `now`.
    pub(crate) fn any_banned(&self, now: Instant) -> bool {
        self.banned_until.values().any(|until| now < *until)
    }

    /// Invalid requests counted in the last 10 minutes, over every IP.
    pub(crate) fn count(&self, now: Instant) -> u64 {
        let recent = self
            .invalid
            .values()
            .flatten()
            .filter(|at| now.duration_since(**at) < INVALID_REQUEST_WINDOW)
            .count();
        u64::try_from(recent).unwrap_or(u64::MAX)
    }

    /// Counts one invalid request; bans the IP for `ban` once `limit` are reached within
    /// 10 minutes (and then starts its count afresh).
    pub(crate) fn note(&mut self, ip: IpAddr, now: Instant, limit: u32, ban: Duration) {
        let times = self.invalid.entry(ip).or_default();
        while times
            .front()
            .is_some_and(|at| now.duration_since(*at) >= INVALID_REQUEST_WINDOW)
        {
            times.pop_front();
        }
        times.push_back(now);
        if times.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
            times.clear();
            self.banned_until.insert(ip, now + ban);
        }
    }

    /// Forgets every count and ban.
    pub(crate) fn clear(&mut self) {
        self.invalid.clear();
        self.banned_until.clear();
    }
}

/// A Cloudflare block answer (rule 27): 429, no `Via`, no rate-limit headers.
pub(crate) fn cloudflare_block(json: bool) -> Reply {
    let mut reply = if json {
        Reply::json(
            429,
            json!({ "code": 0, "message": CLOUDFLARE_BLOCK_MESSAGE }),
        )
    } else {
        Reply::html(429, CLOUDFLARE_1015_HTML.to_string())
    };
    reply.via = false;
    reply.limiter = Some("cloudflare");
    reply
}

/// The answer while the emulator plays a Discord outage ([`Faults::down`]).
pub(crate) fn outage() -> Reply {
    Reply::error(503, 0, "503: Service Unavailable")
}

/// The answer of a message containing the rejection marker.
pub(crate) fn rejected_by_marker() -> Reply {
    super::reply::invalid_form_body(json!({ "content": { "_errors": [{
        "code": "BASE_TYPE_BAD",
        "message": "Rejected by test marker",
    }]}}))
}

/// The answer of a [`Fault::Status`].
pub(crate) fn status(status: u16, body: &FaultBody) -> Reply {
    match body {
        FaultBody::Json(value) => Reply::json(status, value.clone()),
        FaultBody::Html(page) => Reply::html(status, page.clone()),
    }
}

/// The answer of a [`Fault::DropConnection`] (or a commit followed by one).
pub(crate) fn dropped() -> Reply {
    let mut reply = Reply::no_content();
    reply.status = 0;
    reply.delivery = Delivery::Drop;
    reply
}

/// An injected 429 for a route whose bucket is `(limit, period, hash)`.
pub(crate) fn rate_limited(
    scope: Scope,
    retry_after: f64,
    code: Option<u64>,
    remaining: Option<u32>,
    (limit, period, hash): (u32, Duration, &str),
) -> Reply {
    let seconds = if retry_after.is_finite() {
        retry_after.max(0.0)
    } else {
        0.0
    };
    let rounded = (seconds * 1000.0).round() / 1000.0;
    let wait = Duration::from_secs_f64(rounded.min(1e9));
    let message = match scope {
        Scope::Shared => "The resource is being rate limited.",
        Scope::User | Scope::Global => "You are being rate limited.",
    };
    let mut body = json!({
        "message": message,
        "retry_after": rounded,
        "global": scope == Scope::Global,
    });
    if let Some(code) = code {
        body["code"] = Value::from(code);
    }
    let mut headers = vec![("Retry-After", format!("{}", seconds.ceil().min(1e15)))];
    match scope {
        Scope::Global => headers.push(("X-RateLimit-Global", "true".to_string())),
        Scope::User | Scope::Shared => {
            let reset_after = if scope == Scope::User {
                wait
            } else {
                wait.min(period)
            };
            let bucket = BucketState {
                limit,
                remaining: remaining.unwrap_or(0),
                reset_after,
            };
            headers.extend(ratelimit::bucket_headers(bucket, hash));
        }
    }
    headers.push(("X-RateLimit-Scope", scope.as_str().to_string()));
    let mut reply = Reply::json(429, body);
    reply.headers = headers;
    reply.limiter = Some(scope.as_str());
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_taken_in_order_and_filtered() {
        let mut faults = Faults::default();
        faults.push(Some("/webhooks/"), 1, Fault::DropConnection);
        faults.push(None, 2, Fault::CloudflareBlock { json: true });
        faults.push(None, 1, Fault::CommitThenFail(AfterCommit::Status500));
        assert_eq!(
            faults.take("GET", "/api/v10/users/@me"),
            Some(Fault::CloudflareBlock { json: true })
        );
        assert_eq!(
            faults.take("POST", "/api/v10/webhooks/1/t"),
            Some(Fault::DropConnection)
        );
        assert_eq!(
            faults.take("GET", "/api/v10/users/@me"),
            Some(Fault::CloudflareBlock { json: true })
        );
        assert_eq!(faults.take("GET", "/api/v10/users/@me"), None);
        assert_eq!(
            faults.take("POST", "/api/v10/channels/1/messages"),
            Some(Fault::CommitThenFail(AfterCommit::Status500))
        );
        assert_eq!(faults.take("POST", "/api/v10/channels/1/messages"), None);
    }

    #[test]
    fn ban_trips_at_the_limit_and_expires() {
        let mut abuse = Abuse::default();
        let ip = IpAddr::from([127, 0, 0, 1]);
        let t0 = Instant::now();
        for i in 0..4 {
            abuse.note(ip, t0 + Duration::from_secs(i), 5, Duration::from_secs(60));
        }
        assert_eq!(abuse.count(t0 + Duration::from_secs(4)), 4);
        assert!(!abuse.is_banned(ip, t0 + Duration::from_secs(4)));
        abuse.note(ip, t0 + Duration::from_secs(4), 5, Duration::from_secs(60));
        assert!(abuse.is_banned(ip, t0 + Duration::from_secs(5)));
        assert!(!abuse.is_banned(ip, t0 + Duration::from_secs(64)));
        // Old entries slide out of the window.
        let mut abuse = Abuse::default();
        abuse.note(ip, t0, 2, Duration::from_secs(60));
        abuse.note(ip, t0 + INVALID_REQUEST_WINDOW, 2, Duration::from_secs(60));
        assert!(!abuse.any_banned(t0 + INVALID_REQUEST_WINDOW));
        assert_eq!(abuse.count(t0 + INVALID_REQUEST_WINDOW), 1);
    }
}
