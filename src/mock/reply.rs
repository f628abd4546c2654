//! What the emulator answers (status, headers, JSON body) and Discord's error bodies
//! (discord-api.md section 3).

use serde_json::{json, Value};

/// How the server delivers an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Send it.
    Send,
    /// Close the connection without answering.
    Drop,
    /// Hold it until `MockDiscord::release_hung` or the emulator stops.
    Hang,
}

/// One answer, before it becomes an HTTP response. The server adds `Content-Type`, and
/// `Via: 1.1 google` unless `via` is off (simulated Cloudflare answers).
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Extra response headers (rate-limit headers mostly).
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body; `None` for an empty body (204).
    pub body: Option<Value>,
    /// An HTML body (`text/html`), sent instead of `body` when set.
    pub html: Option<String>,
    /// Whether to send `Via: 1.1 google`.
    pub via: bool,
    /// The limiter that produced this answer, if it is a 429 from one (`user`, `shared`,
    /// `global`, or `cloudflare` for a block).
    pub limiter: Option<&'static str>,
    /// Send, drop the connection, or hold the answer.
    pub delivery: Delivery,
    /// The injected fault behind this answer, for the request log.
    pub fault: Option<&'static str>,
}

impl Reply {
    /// A JSON answer.
    pub(crate) fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Some(body),
            html: None,
            via: true,
            limiter: None,
            delivery: Delivery::Send,
            fault: None,
        }
    }

    /// `204 No Content`.
    pub(crate) fn no_content() -> Self {
        Self {
            status: 204,
            headers: Vec::new(),
            body: None,
            html: None,
            via: true,
            limiter: None,
            delivery: Delivery::Send,
            fault: None,
        }
    }

    /// An HTML answer without `Via` (a Cloudflare page).
    pub(crate) fn html(status: u16, page: String) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: None,
            html: Some(page),
            via: false,
            limiter: None,
            delivery: Delivery::Send,
            fault: None,
        }
    }

    /// Discord's plain error shape `{"message": ..., "code": ...}`.
    pub(crate) fn error(status: u16, code: u64, message: &str) -> Self {
        Self::json(status, json!({ "message": message, "code": code }))
    }

    /// Adds headers at the front, so headers of an earlier stage come first.
    pub(crate) fn with_headers(mut self, headers: &[(&'static str, String)]) -> Self {
        let mut all = headers.to_vec();
        all.append(&mut self.headers);
        self.headers = all;
        self
    }
}

/// `401: Unauthorized`, code 0: missing, unknown or revoked bot token.
pub(crate) fn unauthorized() -> Reply {
    Reply::error(401, 0, "401: Unauthorized")
}

/// `404: Not Found`, code 0: no such route.
pub(crate) fn route_not_found() -> Reply {
    Reply::error(404, 0, "404: Not Found")
}

/// `405: Method Not Allowed`, code 0.
pub(crate) fn method_not_allowed() -> Reply {
    Reply::error(405, 0, "405: Method Not Allowed")
}

/// 404 code 10003.
pub(crate) fn unknown_channel() -> Reply {
    Reply::error(404, 10003, "Unknown Channel")
}

/// 404 code 10008: an `enforce_nonce` retry whose original message is gone.
pub(crate) fn unknown_message() -> Reply {
    Reply::error(404, 10008, "Unknown Message")
}

/// 404 code 10015.
pub(crate) fn unknown_webhook() -> Reply {
    Reply::error(404, 10015, "Unknown Webhook")
}

/// 401 code 50027: a known webhook id with the wrong token.
pub(crate) fn invalid_webhook_token() -> Reply {
    Reply::error(401, 50027, "Invalid Webhook Token")
}

/// 403 code 50001: no `VIEW_CHANNEL`.
pub(crate) fn missing_access() -> Reply {
    Reply::error(403, 50001, "Missing Access")
}

/// 403 code 50013: e.g. no `SEND_MESSAGES` or `ATTACH_FILES`.
pub(crate) fn missing_permissions() -> Reply {
    Reply::error(403, 50013, "Missing Permissions")
}

/// 400 code 50006.
pub(crate) fn empty_message() -> Reply {
    Reply::error(400, 50006, "Cannot send an empty message")
}

/// 400 code 50109.
pub(crate) fn invalid_json() -> Reply {
    Reply::error(400, 50109, "The request body contains invalid JSON.")
}

/// 400 code 30015 (the status is assumed, see discord-api.md section 3).
pub(crate) fn too_many_attachments() -> Reply {
    Reply::error(
        400,
        30015,
        "Maximum number of attachments in a message reached (10)",
    )
}

/// 413 code 40005: a file over the upload limit or a request over the size limit.
pub(crate) fn entity_too_large() -> Reply {
    Reply::error(413, 40005, "Request entity too large")
}

/// 400 code 40333 for a missing or malformed `User-Agent` (`strict_user_agent`; wording assumed).
pub(crate) fn user_agent_blocked() -> Reply {
    Reply::error(400, 40333, "internal network error")
}

/// 400 code 50035 with the nested `errors` tree.
pub(crate) fn invalid_form_body(errors: Value) -> Reply {
    let mut body = json!({ "code": 50035, "message": "Invalid Form Body" });
    body["errors"] = errors;
    Reply::json(400, body)
}

/// 400 code 50035 for a missing or unsupported `Content-Type` (leaf wording assumed).
pub(crate) fn content_type_invalid() -> Reply {
    invalid_form_body(json!({ "_errors": [{
        "code": "CONTENT_TYPE_INVALID",
        "message": "Expected \"Content-Type\" header to be one of {'application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'}."
    }]}))
}
