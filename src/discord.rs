//! The Discord REST client: create message (bot token), execute webhook, and the rate-limit
//! facts each answer carries. Knows nothing about tracing or records.

use std::time::Duration;

use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::config::Target;
use crate::render::Message;

/// `User-Agent: DiscordBot ($url, $versionNumber)`, as Discord asks (Discord's API documentation; the project's discord-api.md 2.1).
const USER_AGENT_VALUE: &str = concat!(
    "DiscordBot (https://crates.io/crates/tracing-discord, ",
    env!("CARGO_PKG_VERSION"),
    ")"
);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Which limit a 429 came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The bot's own per-route bucket.
    User,
    /// The bot's global limit: every destination waits.
    Global,
    /// A limit shared with others on the resource (not counted as invalid by Discord).
    Shared,
    /// Cloudflare's block: no rate-limit headers, no `Via`, or no JSON. Discord answers so
    /// after too many invalid requests; back off for minutes.
    Cloudflare,
}

/// What one answer from Discord says.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    /// `X-RateLimit-Remaining`.
    pub(crate) remaining: Option<u32>,
    /// `X-RateLimit-Reset-After`, seconds (preferred over `Reset`: client clocks drift).
    pub(crate) reset_after: Option<f64>,
    /// On a 429: the body's `retry_after` (float seconds), else the `Retry-After` header.
    pub(crate) retry_after: Option<f64>,
    /// On a 429: which limit answered.
    pub(crate) scope: Option<Scope>,
    /// The JSON body (`Null` for 204 or a non-JSON body).
    pub(crate) body: Value,
}

impl Reply {
    /// Discord's error text for reports: `message (code N)`.
    pub(crate) fn error_text(&self) -> String {
        let message = self
            .body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        match self.body.get("code").and_then(Value::as_i64) {
            Some(code) => format!("HTTP {}: {message} (code {code})", self.status),
            None => format!("HTTP {}: {message}", self.status),
        }
    }
}

/// The HTTP side: one `reqwest::Client` (one connection pool) for the whole process.
pub(crate) struct Client {
    http: reqwest::Client,
    token: Option<String>,
    api_base: String,
}

impl Client {
    pub(crate) fn new(
        token: Option<String>,
        api_base: String,
        timeout: Duration,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(USER_AGENT_VALUE)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Client {
            http,
            token,
            api_base,
        })
    }

    /// Reads a destination without posting: `GET /channels/{id}` with the bot token, or
    /// `GET /webhooks/{id}/{token}` (no authentication).
    pub(crate) async fn get_destination(&self, target: &Target) -> Result<Reply, reqwest::Error> {
        let request = match target {
            Target::Channel(id) => {
                let mut r = self.http.get(format!("{}/channels/{id}", self.api_base));
                if let Some(token) = &self.token {
                    r = r.header(AUTHORIZATION, format!("Bot {token}"));
                }
                r
            }
            Target::Webhook(hook) => self.http.get(format!(
                "{}/webhooks/{}/{}",
                hook.api_base, hook.id, hook.token
            )),
        };
        let response = request.header(USER_AGENT, USER_AGENT_VALUE).send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(parse_reply(status, &headers, body))
    }

    fn message_url(&self, target: &Target) -> String {
        match target {
            Target::Channel(id) => format!("{}/channels/{id}/messages", self.api_base),
            Target::Webhook(hook) => {
                // wait=true: Discord answers 200 with the message, or the error, instead of
                // a 204 that hides failures after validation.
                let mut url = format!(
                    "{}/webhooks/{}/{}?wait=true",
                    hook.api_base, hook.id, hook.token
                );
                if let Some(thread) = hook.thread_id {
                    url.push_str(&format!("&thread_id={thread}"));
                }
                url
            }
        }
    }

    /// The JSON body [`post_body`](Self::post_body) sends for `message` to `target`: with
    /// `nonce` and `enforce_nonce` on the bot route (webhooks do not de-duplicate).
    pub(crate) fn body(&self, target: &Target, message: &Message, nonce: &str) -> Vec<u8> {
        let nonce = matches!(target, Target::Channel(_)).then_some(nonce);
        message.json_body(nonce)
    }

    /// Posts one message: JSON, or multipart (`payload_json` + `files[n]`) when it carries
    /// files. `nonce` is used on the bot route only (webhooks do not dedupe).
    pub(crate) async fn post_message(
        &self,
        target: &Target,
        message: &Message,
        nonce: &str,
    ) -> Result<Reply, reqwest::Error> {
        self.post_body(target, message, self.body(target, message, nonce))
            .await
    }

    /// Posts one message whose JSON body (from [`body`](Self::body)) is already written, so
    /// that retries and the byte count do not write it again.
    pub(crate) async fn post_body(
        &self,
        target: &Target,
        message: &Message,
        body: Vec<u8>,
    ) -> Result<Reply, reqwest::Error> {
        let mut request = self
            .http
            .post(self.message_url(target))
            .header(USER_AGENT, USER_AGENT_VALUE);
        if let (Target::Channel(_), Some(token)) = (target, &self.token) {
            request = request.header(AUTHORIZATION, format!("Bot {token}"));
        }
        let request = if message.attachments.is_empty() {
            request.header(CONTENT_TYPE, "application/json").body(body)
        } else {
            // Written from text and ASCII punctuation: always UTF-8, so nothing is replaced.
            let payload = String::from_utf8_lossy(&body).into_owned();
            let mut form = Form::new().text("payload_json", payload);
            for (i, file) in message.attachments.iter().enumerate() {
                let part = Part::text(file.text.clone())
                    .file_name(file.filename.clone())
                    .mime_str("text/plain; charset=utf-8")?;
                form = form.part(format!("files[{i}]"), part);
            }
            request.multipart(form)
        };
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(parse_reply(status, &headers, body))
    }
}

fn header<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn parse_reply(status: u16, headers: &HeaderMap, body: Value) -> Reply {
    let retry_after = if status == 429 {
        body.get("retry_after")
            .and_then(Value::as_f64)
            .or_else(|| header::<f64>(headers, "retry-after"))
            .filter(|s| s.is_finite() && *s >= 0.0)
    } else {
        None
    };
    let scope_header: Option<String> = header(headers, "x-ratelimit-scope");
    let scope = (status == 429).then(|| {
        let has_limit_headers = headers.contains_key("retry-after")
            || headers
                .keys()
                .any(|k| k.as_str().starts_with("x-ratelimit-"));
        if !headers.contains_key("via") || !body.is_object() || !has_limit_headers {
            Scope::Cloudflare
        } else if scope_header.as_deref() == Some("global")
            || header::<String>(headers, "x-ratelimit-global").as_deref() == Some("true")
            || body.get("global").and_then(Value::as_bool) == Some(true)
        {
            Scope::Global
        } else if scope_header.as_deref() == Some("shared") {
            Scope::Shared
        } else {
            Scope::User
        }
    });
    Reply {
        status,
        remaining: header(headers, "x-ratelimit-remaining"),
        reset_after: header::<f64>(headers, "x-ratelimit-reset-after")
            .filter(|s| s.is_finite() && *s >= 0.0),
        retry_after,
        scope,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use serde_json::json;

    #[test]
    fn user_agent_has_discords_shape() {
        assert!(USER_AGENT_VALUE.starts_with("DiscordBot (https://"));
        assert!(USER_AGENT_VALUE.ends_with(&format!(", {})", env!("CARGO_PKG_VERSION"))));
    }

    #[test]
    fn a_429_prefers_the_float_body_value() {
        let mut h = HeaderMap::new();
        h.insert("via", HeaderValue::from_static("1.1 google"));
        h.insert("retry-after", HeaderValue::from_static("2"));
        h.insert("x-ratelimit-scope", HeaderValue::from_static("user"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset-after", HeaderValue::from_static("1.250"));
        let r = parse_reply(
            429,
            &h,
            json!({"message": "You are being rate limited.", "retry_after": 1.25, "global": false}),
        );
        assert_eq!(
            (r.retry_after, r.scope, r.remaining, r.reset_after),
            (Some(1.25), Some(Scope::User), Some(0), Some(1.25))
        );
    }

    #[test]
    fn a_headerless_429_is_a_cloudflare_block() {
        let r = parse_reply(429, &HeaderMap::new(), Value::Null);
        assert_eq!((r.scope, r.retry_after), (Some(Scope::Cloudflare), None));
        let mut h = HeaderMap::new();
        h.insert("via", HeaderValue::from_static("1.1 google"));
        h.insert("x-ratelimit-scope", HeaderValue::from_static("shared"));
        h.insert("retry-after", HeaderValue::from_static("40"));
        let r = parse_reply(
            429,
            &h,
            json!({"message": "The resource is being rate limited.", "retry_after": 39.5, "global": false}),
        );
        assert_eq!((r.scope, r.retry_after), (Some(Scope::Shared), Some(39.5)));
    }

    #[test]
    fn a_global_429_is_recognised_by_its_scope() {
        let mut h = HeaderMap::new();
        h.insert("via", HeaderValue::from_static("1.1 google"));
        h.insert("retry-after", HeaderValue::from_static("1"));
        h.insert("x-ratelimit-scope", HeaderValue::from_static("global"));
        let r = parse_reply(
            429,
            &h,
            json!({"message": "You are being rate limited.", "retry_after": 1.0, "global": true}),
        );
        assert_eq!(
            (r.retry_after, r.scope, r.remaining),
            (Some(1.0), Some(Scope::Global), None)
        );
    }
}
