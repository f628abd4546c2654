//! A local Discord REST emulator for tests and examples (cargo feature `mock`).
//!
//! [`MockDiscord::start`] serves Discord's message routes on `127.0.0.1` (a free port) from
//! its own thread and its own current-thread tokio runtime, so it works from a plain `fn
//! main`, from inside `#[tokio::main]` of either flavour, and from tests. Point a client at
//! [`MockDiscord::api_base`] and it behaves like `https://discord.com/api/v10` for:
//!
//! - `GET /users/@me`, `GET /channels/{id}`, `GET /channels/{id}/messages`,
//!   `POST /channels/{id}/messages`, `GET /webhooks/{id}`, `GET /webhooks/{id}/{token}`,
//!   `POST /webhooks/{id}/{token}` (`?wait=true` answers 200 with the message, else 204),
//!   under `/api/v10` and `/api/v9`;
//! - authentication (`Authorization: Bot <token>`), unknown or forbidden channels and
//!   webhooks, with Discord's status codes and JSON error codes;
//! - every payload limit with Discord's `50035 Invalid Form Body` error tree, empty
//!   messages, JSON and `multipart/form-data` uploads (`files[n]` + `payload_json`);
//! - per-route buckets, the webhook-per-channel shared limit and the global limit, in real
//!   time, with Discord's `X-RateLimit-*` headers and 429 bodies;
//! - `nonce` + `enforce_nonce` de-duplication;
//! - fault knobs: stalls, latency, forced statuses, a revoked token, and injected faults
//!   ([`MockDiscord::fail_next`] with a [`Fault`]: 5xx and Cloudflare pages, commit-then-fail,
//!   dropped connections, spurious 429s of every scope, Cloudflare blocks), a Discord outage
//!   ([`MockDiscord::set_down`]) and a per-message rejection marker
//!   ([`MockDiscord::reject_marker`]);
//! - the invalid-request counter and its Cloudflare ban (rules 26-27).
//!
//! The rules and their sources are in `discord-api.md` ("Emulator spec"). Accepted messages,
//! the request log and counters are readable from Rust ([`MockDiscord::messages`],
//! [`MockDiscord::requests`], ...) and over HTTP under `/_emu/` (`GET /_emu/messages/{channel_id}`,
//! `GET /_emu/requests`, `GET /_emu/stats`, `POST /_emu/reset`).
//!
//! ```no_run
//! use tracing_discord::mock::MockDiscord;
//!
//! let discord = MockDiscord::start()?;
//! let channel = discord.add_channel("logs");
//! // ... point the client at discord.api_base() with discord.bot_token() ...
//! for message in discord.messages(channel) {
//!     println!("{}", message["content"]);
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Checks run in the spec's order (rule 20): the ban, then the outage switch and injected
//! faults, then authentication, the global limit, the route bucket, shared limits, lookups
//! and permissions, and the body.
//!
//! Not emulated: threads, forum channels, a virtual clock.

mod clock;
mod control;
mod faults;
mod message;
mod multipart;
mod payload;
pub mod permissions;
mod ratelimit;
mod reply;
mod routes;
mod server;
mod state;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

pub use faults::{AfterCommit, Fault, FaultBody, Scope};
use server::{Server, Shared};
use state::{Forced, State};

/// Limits and behaviour switches of the emulator. Defaults follow `discord-api.md`.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::struct_excessive_bools)] // independent switches, each named after the spec's knob
pub struct MockConfig {
    /// `POST /channels/{id}/messages` per (bot, channel): (limit, window). Default 5 per 5 s.
    pub channel_bucket: (u32, Duration),
    /// `POST /webhooks/{id}/{token}` per (webhook id, token). Default 5 per 2 s.
    pub webhook_bucket: (u32, Duration),
    /// The global limit per bot token (and per client IP for webhooks), per second. Default 50.
    pub global_per_second: u32,
    /// Whether webhook requests count against the per-IP global limit. Default `true`.
    pub global_applies_to_webhooks: bool,
    /// Webhook messages per channel, across all webhooks (a `shared` 429). Default 30 per 60 s.
    pub webhook_channel_limit: (u32, Duration),
    /// Send `X-RateLimit-Scope: user` on non-429 answers too (Discord documents it only on
    /// 429; twilight reads bucket headers only when it is present). Default `false`.
    pub scope_header_on_success: bool,
    /// Answer 400 code 40333 to requests whose `User-Agent` lacks `DiscordBot (` (Discord
    /// says such requests "may be blocked"). Default `false`.
    pub strict_user_agent: bool,
    /// Without `EMBED_LINKS`: `true` strips embeds (400 code 50006 if nothing remains),
    /// `false` answers 403 code 50013. Default `true`.
    pub embed_links_missing_strip: bool,
    /// Largest file per attachment, else 413 code 40005. Default 10 MiB.
    pub upload_limit_bytes: usize,
    /// Largest request body, else 413 code 40005. Default 25 MiB.
    pub max_request_bytes: usize,
    /// How long an `enforce_nonce` nonce is remembered. Default 5 minutes.
    pub nonce_window: Duration,
    /// Invalid requests (answers 401, 403 and 429, except `shared`-scope 429s) per client IP
    /// within a sliding 10 minutes that trip the Cloudflare ban (rule 26). Default 10,000.
    pub invalid_request_limit: u32,
    /// How long a ban lasts; its answers do not count as invalid requests. Default 1 hour.
    pub ban_duration: Duration,
    /// The ban's body (rule 27): `false` (default) is Cloudflare's HTML "error code: 1015"
    /// page, `true` the JSON `{"code": 0, "message": "You are being blocked from accessing
    /// our API temporarily ..."}`.
    pub ban_body_json: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            channel_bucket: (5, Duration::from_secs(5)),
            webhook_bucket: (5, Duration::from_secs(2)),
            global_per_second: 50,
            global_applies_to_webhooks: true,
            webhook_channel_limit: (30, Duration::from_secs(60)),
            scope_header_on_success: false,
            strict_user_agent: false,
            embed_links_missing_strip: true,
            upload_limit_bytes: 10 * 1024 * 1024,
            max_request_bytes: 25 * 1024 * 1024,
            nonce_window: Duration::from_secs(5 * 60),
            invalid_request_limit: 10_000,
            ban_duration: Duration::from_secs(60 * 60),
            ban_body_json: false,
        }
    }
}

impl MockConfig {
    /// The defaults with every rate limit lifted, for tests that do not exercise limits.
    #[must_use]
    pub fn with_unlimited_rates() -> Self {
        let unlimited = (u32::MAX, Duration::from_secs(1));
        Self {
            channel_bucket: unlimited,
            webhook_bucket: unlimited,
            global_per_second: u32::MAX,
            webhook_channel_limit: unlimited,
            ..Self::default()
        }
    }
}

/// One Discord-API request the emulator answered (control requests under `/_emu/` excluded).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestLogEntry {
    /// When the request was answered.
    pub received_at: SystemTime,
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// URI path, e.g. `/api/v10/channels/123/messages`.
    pub path: String,
    /// URI query without `?` (`wait=true`), empty when none.
    pub query: String,
    /// The status answered; `0` when no answer was sent (the connection was dropped, or the
    /// answer is held by [`AfterCommit::Hang`]).
    pub status: u16,
    /// Headers sent by the client, names lower-case, in order.
    pub headers: Vec<(String, String)>,
    /// The request's JSON body (for multipart: `payload_json` merged with plain fields);
    /// the raw text when it was not valid JSON; `null` for GET requests.
    pub body: Value,
    /// The effective `allowed_mentions.parse` set of a message that passed validation
    /// (Discord's defaults when the field was absent); empty otherwise.
    pub allowed_mentions_parse: Vec<String>,
    /// Which limiter answered 429: `"user"` (route bucket), `"shared"` (webhooks per
    /// channel), `"global"`, or `"cloudflare"` (a ban or an injected block); for an injected
    /// [`Fault::RateLimited`], its scope. `None` when no limiter fired.
    pub limiter: Option<String>,
    /// File names of the uploaded files, in order.
    pub files: Vec<String>,
    /// The fault behind the answer, if any: `"banned"`, `"down"`, `"status"`,
    /// `"drop_connection"`, `"rate_limited"`, `"cloudflare_block"`, `"commit_then_500"`,
    /// `"commit_then_drop"` or `"commit_then_hang"`.
    pub fault: Option<String>,
}

/// The running emulator. Dropping it stops the server (promptly, also while stalled).
#[derive(Debug)]
pub struct MockDiscord {
    /// State shared with the server thread.
    shared: Arc<Shared>,
    /// The server; dropped last.
    server: Server,
}

impl MockDiscord {
    /// Starts the emulator with [`MockConfig::default`]; returns once the socket is bound.
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound or the server thread cannot start.
    pub fn start() -> std::io::Result<MockDiscord> {
        Self::start_with(MockConfig::default())
    }

    /// Starts the emulator on `127.0.0.1:0` in its own thread with its own current-thread
    /// tokio runtime; returns once the socket is bound.
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound or the server thread cannot start.
    pub fn start_with(config: MockConfig) -> std::io::Result<MockDiscord> {
        let shared = Arc::new(Shared::new(State::new(config)));
        let server = Server::start(Arc::clone(&shared))?;
        Ok(MockDiscord { shared, server })
    }

    /// The socket address the emulator listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The API base URL, `http://127.0.0.1:PORT/api/v10`.
    #[must_use]
    pub fn api_base(&self) -> String {
        format!("http://{}/api/v10", self.server.addr)
    }

    /// The default bot's token (`Authorization: Bot <token>`).
    #[must_use]
    pub fn bot_token(&self) -> String {
        self.shared.lock().bot.token.clone()
    }

    /// The default bot's user id.
    #[must_use]
    pub fn bot_user_id(&self) -> u64 {
        self.shared.lock().bot.user_id
    }

    /// Adds a guild text channel (type 0) in the default guild where the default bot has
    /// every permission; returns its id.
    #[must_use]
    pub fn add_channel(&self, name: &str) -> u64 {
        self.shared.lock().add_channel(name)
    }

    /// Sets the default bot's effective permission bits in a channel (see [`permissions`]).
    /// Unknown channels are ignored.
    pub fn set_channel_permissions(&self, channel_id: u64, perms: u64) {
        if let Some(channel) = self.shared.lock().channels.get_mut(&channel_id) {
            channel.permissions = perms;
        }
    }

    /// Deletes a channel (then 404 code 10003) and its webhooks (then 404 code 10015).
    /// Messages already accepted stay readable through [`MockDiscord::messages`].
    pub fn remove_channel(&self, channel_id: u64) {
        self.shared.lock().remove_channel(channel_id);
    }

    /// Adds a webhook to a channel; returns its full URL, `{api_base}/webhooks/{id}/{token}`.
    #[must_use]
    pub fn add_webhook(&self, channel_id: u64, name: &str) -> String {
        let (id, token) = self.shared.lock().add_webhook(channel_id, name);
        format!("{}/webhooks/{id}/{token}", self.api_base())
    }

    /// Messages accepted in a channel, oldest first, each the message object Discord
    /// returned plus `"_attachment_texts"`: the UTF-8 text (lossy) of each uploaded file.
    #[must_use]
    pub fn messages(&self, channel_id: u64) -> Vec<Value> {
        let state = self.shared.lock();
        state
            .messages
            .iter()
            .filter(|(c, _)| *c == channel_id)
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// Every accepted message as `(channel_id, message)`, in acceptance order.
    #[must_use]
    pub fn all_messages(&self) -> Vec<(u64, Value)> {
        self.shared.lock().messages.clone()
    }

    /// Responses sent to Discord-API requests, by HTTP status (`0`: no answer was sent,
    /// see [`RequestLogEntry::status`]).
    #[must_use]
    pub fn status_counts(&self) -> BTreeMap<u16, u64> {
        self.shared.lock().status_counts.clone()
    }

    /// Discord-API requests answered (control requests under `/_emu/` not counted).
    #[must_use]
    pub fn request_count(&self) -> u64 {
        self.shared.lock().request_count
    }

    /// The request log, oldest first (at most the newest 100,000 requests).
    #[must_use]
    pub fn requests(&self) -> Vec<RequestLogEntry> {
        self.shared.lock().log.iter().cloned().collect()
    }

    /// While `true`, Discord-API requests are held unanswered; they proceed when it turns
    /// `false` again, or are dropped with their connection when the emulator stops.
    pub fn set_stalled(&self, stalled: bool) {
        self.shared.stalled.send_replace(stalled);
    }

    /// Delay before answering each Discord-API request.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency = latency;
    }

    /// The next `n` Discord-API requests are answered with `status` and the JSON `body`
    /// (with `Via: 1.1 google`), before authentication and every later check (after the
    /// ban check, the outage switch and queued [`fail_next`](MockDiscord::fail_next)
    /// faults). `n == 0` cancels. A later call replaces an earlier one; see
    /// [`fail_next`](MockDiscord::fail_next) for a queue of faults.
    pub fn force_status(&self, n: u32, status: u16, body: Value) {
        self.shared.lock().forced = (n > 0).then_some(Forced {
            remaining: n,
            status,
            body,
        });
    }

    /// Revokes the default bot's token: every bot request answers 401 from now on.
    pub fn revoke_token(&self) {
        self.shared.lock().bot.revoked = true;
    }

    /// Clears messages, the request log, counters (including
    /// [`max_in_flight`](MockDiscord::max_in_flight), which restarts from the requests in
    /// flight now), nonces, limiter windows, the invalid-request counter and bans; channels, webhooks,
    /// permissions and fault knobs (queued faults included) stay.
    pub fn reset(&self) {
        self.shared.lock().reset();
    }

    /// Fails the next `n` Discord-API requests with `fault` (emulator spec F).
    ///
    /// Faults are queued: each request takes one use of the oldest queued fault it matches
    /// ([`Fault::CommitThenFail`] matches `POST` requests only). They apply after the ban
    /// check and the outage switch, before authentication and every later check, so an
    /// injected answer consumes no rate-limit bucket. An injected 401, 403 or 429 counts as
    /// an invalid request (except a `shared` 429), like a real one. `n == 0` does nothing.
    pub fn fail_next(&self, n: u32, fault: Fault) {
        self.shared.lock().faults.push(None, n, fault);
    }

    /// Like [`fail_next`](MockDiscord::fail_next), for requests whose URI path contains
    /// `path_contains` only (e.g. `"/webhooks/"` or `"/channels/123/messages"`).
    pub fn fail_next_matching(&self, path_contains: &str, n: u32, fault: Fault) {
        self.shared
            .lock()
            .faults
            .push(Some(path_contains), n, fault);
    }

    /// Forgets every queued fault (not [`force_status`](MockDiscord::force_status), not
    /// [`set_down`](MockDiscord::set_down)).
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Answers every request held by [`AfterCommit::Hang`] so far with the answer it would
    /// have had (its client has usually given up by then).
    pub fn release_hung(&self) {
        self.shared.hung.send_modify(|generation| *generation += 1);
    }

    /// Plays a Discord outage: while `true`, every Discord-API request (after the ban check)
    /// answers `503 {"message": "503: Service Unavailable", "code": 0}` with
    /// `Via: 1.1 google` and no rate-limit headers; nothing is stored and no queued fault is
    /// consumed.
    pub fn set_down(&self, down: bool) {
        self.shared.lock().faults.down = down;
    }

    /// While set, a message (bot or webhook) whose `content` or any embed string contains
    /// `marker` is refused, at the body-validation step (after auth, limits and
    /// permissions; it consumes its bucket and carries bucket headers), with
    /// `400 {"code": 50035, "message": "Invalid Form Body", "errors": {"content": {"_errors":
    /// [{"code": "BASE_TYPE_BAD", "message": "Rejected by test marker"}]}}}`. `None` turns it off.
    pub fn reject_marker(&self, marker: Option<String>) {
        self.shared.lock().faults.reject_marker = marker;
    }

    /// Lowers (or raises) the largest accepted file per attachment; larger files answer
    /// `413` code 40005 ([`MockConfig::upload_limit_bytes`]).
    pub fn set_upload_limit(&self, bytes: usize) {
        self.shared.lock().config.upload_limit_bytes = bytes;
    }

    /// Invalid requests (401, 403, and 429 except `shared` scope) counted in the last
    /// 10 minutes, over every client IP (rule 26). The count restarts when a ban is imposed.
    #[must_use]
    pub fn invalid_request_count(&self) -> u64 {
        self.shared.lock().abuse.count(Instant::now())
    }

    /// Whether a client IP is banned right now (rule 27): its requests all get the
    /// Cloudflare block.
    #[must_use]
    pub fn is_banned(&self) -> bool {
        self.shared.lock().abuse.any_banned(Instant::now())
    }

    /// 429 answers sent, by scope: `"user"`, `"global"`, `"shared"` and `"cloudflare"` (bans
    /// and injected blocks), injected ones included; the four keys are always present.
    /// A 429 injected with [`Fault::Status`] has no scope and is not counted here.
    #[must_use]
    pub fn rate_limited_by_scope(&self) -> BTreeMap<String, u64> {
        self.shared.lock().rate_limited.clone()
    }

    /// The largest number of Discord-API requests handled at once: from the moment the
    /// request's head arrived (stalled and held requests included) until its answer is
    /// handed to the connection, or the connection is dropped.
    #[must_use]
    pub fn max_in_flight(&self) -> u64 {
        self.shared.lock().max_in_flight
    }

    /// Discord-API requests being handled right now (see [`max_in_flight`](MockDiscord::max_in_flight)).
    #[must_use]
    pub fn in_flight(&self) -> u64 {
        self.shared.lock().in_flight
    }
}
