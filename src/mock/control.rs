//! The emulator's own control API under `/_emu/` (not Discord): read stored messages, the
//! request log and counters, or reset. Handy with `curl` while a bot runs against the emulator.

use serde_json::{json, Value};

use super::reply::{self, Reply};
use super::routes::Request;
use super::state::State;
use super::RequestLogEntry;

/// Paths starting with this are control requests; they are neither logged nor counted.
pub(crate) const PREFIX: &str = "/_emu/";

/// Answers a control request.
pub(crate) fn answer(state: &mut State, request: &Request) -> Reply {
    let path = request
        .path
        .trim_start_matches(PREFIX)
        .trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["messages"]) => {
            let all = state.messages.iter().map(|(channel, message)| json!({ "channel_id": channel.to_string(), "message": message }));
            Reply::json(200, Value::Array(all.collect()))
        }
        ("GET", ["messages", channel]) => match channel.parse::<u64>() {
            Ok(channel_id) => {
                let list = state
                    .messages
                    .iter()
                    .filter(|(c, _)| *c == channel_id)
                    .map(|(_, m)| m.clone());
                Reply::json(200, Value::Array(list.collect()))
            }
            Err(_) => reply::route_not_found(),
        },
        ("GET", ["requests"]) => Reply::json(
            200,
            Value::Array(state.log.iter().map(log_entry_json).collect()),
        ),
        ("GET", ["stats"]) => {
            let by_status: serde_json::Map<String, Value> = state
                .status_counts
                .iter()
                .map(|(status, n)| (status.to_string(), Value::from(*n)))
                .collect();
            let now = std::time::Instant::now();
            Reply::json(
                200,
                json!({
                    "request_count": state.request_count,
                    "status_counts": by_status,
                    "rate_limited_by_scope": state.rate_limited,
                    "invalid_request_count": state.abuse.count(now),
                    "banned": state.abuse.any_banned(now),
                    "in_flight": state.in_flight,
                    "max_in_flight": state.max_in_flight,
                }),
            )
        }
        ("POST", ["reset"]) => {
            state.reset();
            Reply::no_content()
        }
        _ => reply::route_not_found(),
    }
}

/// A request-log entry as JSON.
fn log_entry_json(entry: &RequestLogEntry) -> Value {
    json!({
        "received_at_ms": super::clock::unix_millis(entry.received_at),
        "method": entry.method,
        "path": entry.path,
        "query": entry.query,
        "status": entry.status,
        "headers": entry.headers,
        "body": entry.body,
        "allowed_mentions_parse": entry.allowed_mentions_parse,
        "limiter": entry.limiter,
        "files": entry.files,
        "fault": entry.fault,
    })
}
