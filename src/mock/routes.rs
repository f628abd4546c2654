//! Discord's REST routes over the emulator's state: the ban and injected faults, auth, the
//! global limit, route buckets, lookups and permissions, then the body (emulator spec rules
//! 1-10, 16-27, F).

use std::net::IpAddr;
use std::time::{Instant, SystemTime};

use serde_json::{json, Value};

use super::faults::{self, AfterCommit, Fault};
use super::message::{self, Origin};
use super::payload::{self, Body, Payload};
use super::permissions as perm;
use super::ratelimit::{self, Admission};
use super::reply::{self, Delivery, Reply};
use super::state::State;
use super::validate::{self, Draft, Sender};
use super::RequestLogEntry;

/// How much of a body that is not valid JSON the request log keeps, as text.
const LOGGED_RAW_BODY_BYTES: usize = 64 * 1024;

/// One request as the server read it.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// HTTP method.
    pub method: String,
    /// URI path.
    pub path: String,
    /// URI query string, without `?`.
    pub query: String,
    /// Headers as sent (names lower-case).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
    /// The client's address (the global limit of unauthenticated requests is per IP).
    pub peer: IpAddr,
}

impl Request {
    /// The first value of a header.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a query parameter, percent-decoded.
    fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then(|| super::multipart::percent_decode(value))
        })
    }
}

/// What the request log learns while a request is handled.
#[derive(Debug, Default)]
struct Trace {
    /// The decoded body (the payload JSON for multipart).
    body: Value,
    /// The effective `allowed_mentions.parse` set.
    parse: Vec<String>,
    /// Uploaded file names.
    files: Vec<String>,
}

/// A handler's result: `Err` short-circuits with an error answer.
type Step<T> = Result<T, Reply>;

/// What happens to a request, decided before its body is read: the ban check (rule 20
/// step 1), then the outage switch, then the queue of injected faults.
#[derive(Debug, Clone)]
pub(crate) enum Triage {
    /// The client's IP is banned: the Cloudflare block (rule 27).
    Banned,
    /// The emulator plays a Discord outage: 503.
    Down,
    /// An injected fault.
    Fault(Fault),
    /// Normal handling.
    Proceed,
}

impl Triage {
    /// Whether the body is never read (the connection is dropped first).
    pub(crate) fn skips_body(&self) -> bool {
        matches!(self, Triage::Fault(Fault::DropConnection))
    }
}

/// Decides a request's [`Triage`], consuming one use of a matching queued fault.
pub(crate) fn triage(
    state: &mut State,
    method: &str,
    path: &str,
    peer: IpAddr,
    now: Instant,
) -> Triage {
    if state.abuse.is_banned(peer, now) {
        Triage::Banned
    } else if state.faults.down {
        Triage::Down
    } else {
        state
            .faults
            .take(method, path)
            .map_or(Triage::Proceed, Triage::Fault)
    }
}

/// Answers one Discord-API request (not `/_emu/`) and records it.
pub(crate) fn answer(state: &mut State, request: &Request, now: Instant, triage: Triage) -> Reply {
    let mut trace = Trace::default();
    let banned = matches!(triage, Triage::Banned);
    let reply = match triage {
        Triage::Banned => {
            let mut reply = faults::cloudflare_block(state.config.ban_body_json);
            reply.fault = Some("banned");
            reply
        }
        Triage::Down => {
            let mut reply = faults::outage();
            reply.fault = Some("down");
            reply
        }
        Triage::Fault(fault) => inject(state, request, now, fault, &mut trace),
        Triage::Proceed => match forced(state) {
            Some(reply) => reply,
            None => handle(state, request, now, &mut trace),
        },
    };
    if trace.body.is_null() {
        // Answered before the body was needed (auth, limits, permissions): log it anyway.
        describe_body(request, &mut trace);
    }
    let sent = reply.delivery == Delivery::Send;
    if sent && reply.status == 429 {
        if let Some(scope) = reply.limiter {
            *state.rate_limited.entry(scope.to_string()).or_default() += 1;
        }
    }
    let invalid = matches!(reply.status, 401 | 403 | 429) && reply.limiter != Some("shared");
    if sent && invalid && !banned {
        let (limit, ban) = (
            state.config.invalid_request_limit,
            state.config.ban_duration,
        );
        state.abuse.note(request.peer, now, limit, ban);
    }
    state.record(RequestLogEntry {
        received_at: SystemTime::now(),
        method: request.method.clone(),
        path: request.path.clone(),
        query: request.query.clone(),
        status: if sent { reply.status } else { 0 },
        headers: request.headers.clone(),
        body: trace.body,
        allowed_mentions_parse: trace.parse,
        limiter: reply.limiter.map(str::to_string),
        files: trace.files,
        fault: reply.fault.map(str::to_string),
    });
    reply
}

/// Normal handling: the `User-Agent` check, then the route.
fn handle(state: &mut State, request: &Request, now: Instant, trace: &mut Trace) -> Reply {
    if state.config.strict_user_agent && !has_bot_user_agent(request) {
        reply::user_agent_blocked()
    } else {
        dispatch(state, request, now, trace)
    }
}

/// Applies an injected fault.
fn inject(
    state: &mut State,
    request: &Request,
    now: Instant,
    fault: Fault,
    trace: &mut Trace,
) -> Reply {
    let (mut reply, name) = match fault {
        Fault::Status { status, body } => (faults::status(status, &body), "status"),
        Fault::DropConnection => (faults::dropped(), "drop_connection"),
        Fault::CloudflareBlock { json } => (faults::cloudflare_block(json), "cloudflare_block"),
        Fault::RateLimited {
            scope,
            retry_after,
            code,
            remaining,
        } => {
            let bucket = route_bucket(state, request);
            let reply = faults::rate_limited(scope, retry_after, code, remaining, bucket);
            (reply, "rate_limited")
        }
        Fault::CommitThenFail(after) => {
            let stored_before = state.messages.len();
            let reply = handle(state, request, now, trace);
            if state.messages.len() == stored_before {
                // Nothing was committed: the normal answer (the fault is used up all the same).
                return reply;
            }
            match after {
                AfterCommit::Status500 => (
                    Reply::error(500, 0, "500: Internal Server Error"),
                    "commit_then_500",
                ),
                AfterCommit::DropConnection => (faults::dropped(), "commit_then_drop"),
                AfterCommit::Hang => {
                    let mut held = reply;
                    held.delivery = Delivery::Hang;
                    (held, "commit_then_hang")
                }
            }
        }
    };
    reply.fault = Some(name);
    reply
}

/// The route's bucket `(limit, window, hash)`, for injected 429s.
fn route_bucket(state: &State, request: &Request) -> (u32, std::time::Duration, &'static str) {
    let rest = ["/api/v10/", "/api/v9/"]
        .iter()
        .find_map(|prefix| request.path.strip_prefix(prefix))
        .unwrap_or("");
    let segments: Vec<&str> = rest.split('/').collect();
    let (get_limit, get_window) = ratelimit::GET_ROUTE_LIMIT;
    match (segments.as_slice(), request.method.as_str()) {
        (["channels", _, "messages"], "POST") => {
            let (limit, window) = state.config.channel_bucket;
            (limit, window, ratelimit::CHANNEL_MESSAGES_BUCKET)
        }
        (["webhooks", _, _], "POST") => {
            let (limit, window) = state.config.webhook_bucket;
            (limit, window, ratelimit::WEBHOOK_EXECUTE_BUCKET)
        }
        (["channels", _, "messages"], _) => (get_limit, get_window, ratelimit::GET_MESSAGES_BUCKET),
        (["channels", _], _) => (get_limit, get_window, ratelimit::GET_CHANNEL_BUCKET),
        (["webhooks", ..], _) => (get_limit, get_window, ratelimit::GET_WEBHOOK_BUCKET),
        _ => (get_limit, get_window, ratelimit::USERS_ME_BUCKET),
    }
}

/// Whether the `User-Agent` has Discord's required shape, `DiscordBot ($url, $version)`.
fn has_bot_user_agent(request: &Request) -> bool {
    request
        .header("user-agent")
        .is_some_and(|agent| agent.contains("DiscordBot ("))
}

/// The `force_status` knob.
fn forced(state: &mut State) -> Option<Reply> {
    let forced = state.forced.as_mut()?;
    let reply = Reply::json(forced.status, forced.body.clone());
    forced.remaining = forced.remaining.saturating_sub(1);
    if forced.remaining == 0 {
        state.forced = None;
    }
    Some(reply)
}

/// Routes by path and method (rule 1).
fn dispatch(state: &mut State, request: &Request, now: Instant, trace: &mut Trace) -> Reply {
    let Some(rest) = ["/api/v10/", "/api/v9/"]
        .iter()
        .find_map(|prefix| request.path.strip_prefix(prefix))
    else {
        return reply::route_not_found();
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let method = request.method.as_str();
    let result =
        match (segments.as_slice(), method) {
            (["users", "@me"], "GET") => get_me(state, request, now),
            (["channels", id], "GET") => {
                snowflake("channel_id", id).and_then(|id| get_channel(state, request, id, now))
            }
            (["channels", id, "messages"], "GET") => {
                snowflake("channel_id", id).and_then(|id| list_messages(state, request, id, now))
            }
            (["channels", id, "messages"], "POST") => snowflake("channel_id", id)
                .and_then(|id| create_message(state, request, id, now, trace)),
            (["webhooks", id], "GET") => snowflake("webhook_id", id)
                .and_then(|id| get_webhook_by_id(state, request, id, now)),
            (["webhooks", id, token], "GET") => snowflake("webhook_id", id)
                .and_then(|id| get_webhook(state, request, id, token, now)),
            (["webhooks", id, token], "POST") => snowflake("webhook_id", id)
                .and_then(|id| execute_webhook(state, request, id, token, now, trace)),
            (path, _) if is_route(path) => Err(reply::method_not_allowed()),
            _ => Err(reply::route_not_found()),
        };
    result.unwrap_or_else(|error| error)
}

/// Whether a path (after `/api/vN/`) names a route the emulator serves, with any method.
fn is_route(path: &[&str]) -> bool {
    matches!(
        path,
        ["users", "@me"]
            | ["channels", _]
            | ["channels", _, "messages"]
            | ["webhooks", _]
            | ["webhooks", _, _]
    )
}

/// Parses a snowflake path parameter; 50035 `NUMBER_TYPE_COERCE` otherwise.
fn snowflake(name: &str, text: &str) -> Step<u64> {
    text.parse().map_err(|_| {
        reply::invalid_form_body(json!({ name: { "_errors": [{
            "code": "NUMBER_TYPE_COERCE",
            "message": format!("Value \"{text}\" is not snowflake."),
        }]}}))
    })
}

/// Checks `Authorization: Bot <token>` (rule 4).
fn authenticate(state: &State, request: &Request) -> Step<()> {
    let token = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bot "));
    match token {
        Some(token) if token == state.bot.token && !state.bot.revoked => Ok(()),
        _ => Err(reply::unauthorized()),
    }
}

/// The global limit: per bot token, or per client IP for unauthenticated requests (rule 25).
fn global(state: &mut State, key: String, now: Instant) -> Step<()> {
    let limit = state.config.global_per_second;
    match state
        .limiters
        .admit(key, limit, ratelimit::GLOBAL_WINDOW, now)
    {
        Admission::Admitted(_) => Ok(()),
        Admission::Refused(bucket) => Err(ratelimit::global_limited(bucket.reset_after)),
    }
}

/// The global limit for a bot-token request.
fn global_for_bot(state: &mut State, now: Instant) -> Step<()> {
    let key = format!("global:bot:{}", state.bot.token);
    global(state, key, now)
}

/// The global limit for a webhook request (per IP, when configured so).
fn global_for_webhook(state: &mut State, request: &Request, now: Instant) -> Step<()> {
    if state.config.global_applies_to_webhooks {
        global(state, format!("global:ip:{}", request.peer), now)
    } else {
        Ok(())
    }
}

/// Counts the request against a route bucket; returns the headers for the answer (rule 22).
fn bucket(
    state: &mut State,
    key: String,
    (limit, period): (u32, std::time::Duration),
    hash: &str,
    now: Instant,
) -> Step<Vec<(&'static str, String)>> {
    match state.limiters.admit(key, limit, period, now) {
        Admission::Admitted(bucket) => {
            let mut headers = ratelimit::bucket_headers(bucket, hash);
            if state.config.scope_header_on_success {
                headers.push(("X-RateLimit-Scope", "user".to_string()));
            }
            Ok(headers)
        }
        Admission::Refused(bucket) => Err(ratelimit::user_limited(bucket, hash)),
    }
}

/// Looks up a channel the bot can see (rule 7).
fn visible_channel(state: &State, channel_id: u64) -> Step<u64> {
    let channel = state
        .channels
        .get(&channel_id)
        .ok_or_else(reply::unknown_channel)?;
    if channel.permissions & perm::VIEW_CHANNEL == 0 {
        return Err(reply::missing_access());
    }
    Ok(channel.permissions)
}

/// `GET /users/@me` (rule 6).
fn get_me(state: &mut State, request: &Request, now: Instant) -> Step<Reply> {
    authenticate(state, request)?;
    global_for_bot(state, now)?;
    let key = format!("me:{}", state.bot.token);
    let headers = bucket(
        state,
        key,
        ratelimit::GET_ROUTE_LIMIT,
        ratelimit::USERS_ME_BUCKET,
        now,
    )?;
    Ok(Reply::json(200, state.bot_user()).with_headers(&headers))
}

/// `GET /channels/{id}` (rule 7).
fn get_channel(state: &mut State, request: &Request, channel_id: u64, now: Instant) -> Step<Reply> {
    authenticate(state, request)?;
    global_for_bot(state, now)?;
    let key = format!("channel:{}:{channel_id}", state.bot.token);
    let headers = bucket(
        state,
        key,
        ratelimit::GET_ROUTE_LIMIT,
        ratelimit::GET_CHANNEL_BUCKET,
        now,
    )?;
    let found = visible_channel(state, channel_id).and_then(|_| {
        let channel = state
            .channels
            .get(&channel_id)
            .ok_or_else(reply::unknown_channel)?;
        Ok(Reply::json(200, state.channel_json(channel)))
    });
    Ok(found.unwrap_or_else(|e| e).with_headers(&headers))
}

/// `GET /channels/{id}/messages?limit=N`: newest first, as Discord lists them.
fn list_messages(
    state: &mut State,
    request: &Request,
    channel_id: u64,
    now: Instant,
) -> Step<Reply> {
    authenticate(state, request)?;
    global_for_bot(state, now)?;
    let key = format!("messages:{}:{channel_id}", state.bot.token);
    let headers = bucket(
        state,
        key,
        ratelimit::GET_ROUTE_LIMIT,
        ratelimit::GET_MESSAGES_BUCKET,
        now,
    )?;
    let listed = visible_channel(state, channel_id).map(|permissions| {
        if permissions & perm::READ_MESSAGE_HISTORY == 0 {
            return Reply::json(200, json!([]));
        }
        let limit = request
            .query_param("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .unwrap_or(50)
            .clamp(1, 100);
        let newest_first: Vec<Value> = state
            .messages
            .iter()
            .rev()
            .filter(|(channel, _)| *channel == channel_id)
            .take(limit)
            .map(|(_, m)| message::public_view(m))
            .collect();
        Reply::json(200, Value::Array(newest_first))
    });
    Ok(listed.unwrap_or_else(|e| e).with_headers(&headers))
}

/// `GET /webhooks/{id}` with a bot token (needs `MANAGE_WEBHOOKS`).
fn get_webhook_by_id(
    state: &mut State,
    request: &Request,
    webhook_id: u64,
    now: Instant,
) -> Step<Reply> {
    authenticate(state, request)?;
    global_for_bot(state, now)?;
    let key = format!("webhook:{}:{webhook_id}", state.bot.token);
    let headers = bucket(
        state,
        key,
        ratelimit::GET_ROUTE_LIMIT,
        ratelimit::GET_WEBHOOK_BUCKET,
        now,
    )?;
    let found = (|| -> Step<Reply> {
        let webhook = state
            .webhooks
            .get(&webhook_id)
            .ok_or_else(reply::unknown_webhook)?;
        let permissions = state
            .channels
            .get(&webhook.channel_id)
            .map_or(0, |c| c.permissions);
        if permissions & perm::MANAGE_WEBHOOKS == 0 || permissions & perm::VIEW_CHANNEL == 0 {
            return Err(reply::missing_permissions());
        }
        let mut body = state.webhook_json(webhook);
        body["user"] = state.bot_user();
        Ok(Reply::json(200, body))
    })();
    Ok(found.unwrap_or_else(|e| e).with_headers(&headers))
}

/// Finds a webhook by id and token (rule 4).
fn webhook_with_token(state: &State, webhook_id: u64, token: &str) -> Step<super::state::Webhook> {
    let webhook = state
        .webhooks
        .get(&webhook_id)
        .ok_or_else(reply::unknown_webhook)?;
    if webhook.token != token {
        return Err(reply::invalid_webhook_token());
    }
    Ok(webhook.clone())
}

/// `GET /webhooks/{id}/{token}`: no auth, no `user` (rule 8).
fn get_webhook(
    state: &mut State,
    request: &Request,
    webhook_id: u64,
    token: &str,
    now: Instant,
) -> Step<Reply> {
    global_for_webhook(state, request, now)?;
    let key = format!("webhook:{webhook_id}:{token}");
    let headers = bucket(
        state,
        key,
        ratelimit::GET_ROUTE_LIMIT,
        ratelimit::GET_WEBHOOK_BUCKET,
        now,
    )?;
    let found = webhook_with_token(state, webhook_id, token)
        .map(|w| Reply::json(200, state.webhook_json(&w)));
    Ok(found.unwrap_or_else(|e| e).with_headers(&headers))
}

/// Parses the body, remembering it for the request log.
fn read_payload(state: &State, request: &Request, trace: &mut Trace) -> Step<Payload> {
    let limit = state.config.upload_limit_bytes;
    let parsed = payload::parse(request.header("content-type"), &request.body, limit);
    remember_body(request, &parsed, trace);
    parsed
}

/// Fills the request log's view of a body nobody parsed yet.
fn describe_body(request: &Request, trace: &mut Trace) {
    if matches!(&request.body, Body::Complete(bytes) if !bytes.is_empty()) {
        let parsed = payload::parse(request.header("content-type"), &request.body, usize::MAX);
        remember_body(request, &parsed, trace);
    }
}

/// Records a parsed body (or its raw text, when it did not parse) for the request log.
fn remember_body(request: &Request, parsed: &Step<Payload>, trace: &mut Trace) {
    match parsed {
        Ok(payload) => {
            trace.body = payload.json.clone();
            trace.files = payload.uploads.iter().map(|u| u.filename.clone()).collect();
        }
        Err(_) => {
            if let Body::Complete(bytes) = &request.body {
                trace.body = Value::String(
                    String::from_utf8_lossy(&bytes[..bytes.len().min(LOGGED_RAW_BODY_BYTES)])
                        .into_owned(),
                );
            }
        }
    }
}

/// Whether a message would show nothing (rule 14).
fn is_empty(draft: &Draft, payload: &Payload) -> bool {
    draft.content.trim().is_empty()
        && !draft.embeds.iter().any(validate::embed_has_content)
        && payload.uploads.is_empty()
        && !draft.has_other_content
}

/// The key of an `enforce_nonce` nonce: ints and strings compare by their text.
fn nonce_key(nonce: &Value) -> String {
    match nonce {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `POST /channels/{id}/messages` (rules 9, 16, 19, 20-23).
fn create_message(
    state: &mut State,
    request: &Request,
    channel_id: u64,
    now: Instant,
    trace: &mut Trace,
) -> Step<Reply> {
    authenticate(state, request)?;
    global_for_bot(state, now)?;
    let key = format!("create:{}:{channel_id}", state.bot.token);
    let limit = state.config.channel_bucket;
    let headers = bucket(state, key, limit, ratelimit::CHANNEL_MESSAGES_BUCKET, now)?;
    let created = (|| -> Step<Reply> {
        let permissions = visible_channel(state, channel_id)?;
        if permissions & perm::SEND_MESSAGES == 0 {
            return Err(reply::missing_permissions());
        }
        let payload = read_payload(state, request, trace)?;
        if !payload.uploads.is_empty() && permissions & perm::ATTACH_FILES == 0 {
            return Err(reply::missing_permissions());
        }
        let mut draft = validate::validate(&payload.json, Sender::Bot, &payload.uploads)?;
        trace.parse.clone_from(&draft.mentions.parse);
        if state.faults.rejects(&draft.content, &draft.embeds) {
            return Err(faults::rejected_by_marker());
        }
        if !draft.embeds.is_empty() && permissions & perm::EMBED_LINKS == 0 {
            if !state.config.embed_links_missing_strip {
                return Err(reply::missing_permissions());
            }
            draft.embeds.clear();
        }
        if is_empty(&draft, &payload) {
            return Err(reply::empty_message());
        }
        let dedupe_key = draft
            .nonce
            .as_ref()
            .filter(|_| draft.enforce_nonce)
            .map(|n| (channel_id, nonce_key(n)));
        if let Some(key) = &dedupe_key {
            if let Some(record) = state
                .nonces
                .get(key)
                .filter(|r| now.duration_since(r.at) < state.config.nonce_window)
            {
                return match state.messages.get(record.message) {
                    Some((_, original)) => Ok(Reply::json(200, message::public_view(original))),
                    None => Err(reply::unknown_message()),
                };
            }
        }
        let origin = Origin {
            author: state.bot_author(),
            webhook_id: None,
            may_mention_everyone: permissions & perm::MENTION_EVERYONE != 0,
            may_tts: permissions & perm::SEND_TTS_MESSAGES != 0,
        };
        let stored = message::build(&mut state.ids, channel_id, &draft, &payload.uploads, origin);
        let view = message::public_view(&stored);
        let index = state.store(channel_id, stored);
        if let Some(key) = dedupe_key {
            state.nonces.insert(
                key,
                super::state::NonceRecord {
                    message: index,
                    at: now,
                },
            );
        }
        Ok(Reply::json(200, view))
    })();
    Ok(created.unwrap_or_else(|e| e).with_headers(&headers))
}

/// Parses the `wait` query parameter (D-REF "Boolean Query Strings").
fn wait_param(request: &Request) -> Step<bool> {
    match request.query_param("wait").as_deref() {
        None | Some("false" | "False" | "0") => Ok(false),
        Some("true" | "True" | "1") => Ok(true),
        Some(other) => Err(reply::invalid_form_body(json!({ "wait": { "_errors": [{
            "code": "BASE_TYPE_BOOLEAN",
            "message": format!("Value \"{other}\" is not a boolean."),
        }]}}))),
    }
}

/// `POST /webhooks/{id}/{token}` (rules 17, 24).
fn execute_webhook(
    state: &mut State,
    request: &Request,
    webhook_id: u64,
    token: &str,
    now: Instant,
    trace: &mut Trace,
) -> Step<Reply> {
    global_for_webhook(state, request, now)?;
    let key = format!("execute:{webhook_id}:{token}");
    let limit = state.config.webhook_bucket;
    let headers = bucket(state, key, limit, ratelimit::WEBHOOK_EXECUTE_BUCKET, now)?;
    let executed = (|| -> Step<Reply> {
        let webhook = webhook_with_token(state, webhook_id, token)?;
        let (limit, period) = state.config.webhook_channel_limit;
        let shared_key = format!("webhook-channel:{}", webhook.channel_id);
        if let Admission::Refused(shared) = state.limiters.admit(shared_key, limit, period, now) {
            return Err(ratelimit::shared_limited(shared.reset_after));
        }
        let wait = wait_param(request)?;
        let payload = read_payload(state, request, trace)?;
        let draft = validate::validate(&payload.json, Sender::Webhook, &payload.uploads)?;
        trace.parse.clone_from(&draft.mentions.parse);
        if state.faults.rejects(&draft.content, &draft.embeds) {
            return Err(faults::rejected_by_marker());
        }
        if let Some(thread_id) = request.query_param("thread_id") {
            return Err(reply::invalid_form_body(
                json!({ "thread_id": { "_errors": [{
                    "code": "GUILD_THREAD_INVALID",
                    "message": format!("Thread {thread_id} is not a thread of this webhook's channel."),
                }]}}),
            ));
        }
        if is_empty(&draft, &payload) {
            return Err(reply::empty_message());
        }
        let author = json!({
            "id": webhook.id.to_string(),
            "username": draft.username.clone().unwrap_or_else(|| webhook.name.clone()),
            "avatar": null,
            "discriminator": "0000",
            "bot": true,
        });
        let origin = Origin {
            author,
            webhook_id: Some(webhook.id),
            may_mention_everyone: true,
            may_tts: true,
        };
        let stored = message::build(
            &mut state.ids,
            webhook.channel_id,
            &draft,
            &payload.uploads,
            origin,
        );
        let view = message::public_view(&stored);
        state.store(webhook.channel_id, stored);
        Ok(if wait {
            Reply::json(200, view)
        } else {
            Reply::no_content()
        })
    })();
    Ok(executed.unwrap_or_else(|e| e).with_headers(&headers))
}
