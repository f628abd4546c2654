//! `check_channels`: whether every configured destination is reachable and usable, with a
//! reason a person can act on. Reading a channel (`GET /channels/{id}`) cannot prove the
//! right to post (Discord returns no computed permissions to bots), so an opt-in mode posts
//! one short test message per destination.

use std::fmt;

use serde_json::Value;

use crate::config::Target;
use crate::discord::{Client, Reply};
use crate::render::Message;
use crate::Class;

/// Channel types that cannot hold messages directly (Discord's API documentation).
const GUILD_CATEGORY: i64 = 4;
const GUILD_VOICE: i64 = 2;
const GUILD_FORUM: i64 = 15;
const GUILD_MEDIA: i64 = 16;

/// The outcome of checking one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckStatus {
    /// Reachable; the channel's or webhook's name as Discord reports it.
    Ok {
        /// The name.
        name: String,
    },
    /// The bot token was refused (401).
    BadToken,
    /// No channel with that id (404, code 10003).
    UnknownChannel,
    /// The bot cannot see the channel, or is not in its server (403, code 50001).
    NoAccess,
    /// The bot can see the channel but may not post there (403, code 50013, test post).
    NoPermission,
    /// No webhook with that id (404, code 10015).
    UnknownWebhook,
    /// The webhook exists but its token is wrong (401, code 50027).
    InvalidWebhookToken,
    /// A forum, media, voice or category channel: messages need a thread.
    NotATextChannel {
        /// Discord's channel type number.
        channel_type: i64,
    },
    /// Discord answered 429: try again later.
    RateLimited,
    /// The request did not get an answer.
    Network(String),
    /// Any other answer.
    Other(String),
}

impl CheckStatus {
    /// Whether the destination can be used.
    pub fn is_ok(&self) -> bool {
        matches!(self, CheckStatus::Ok { .. })
    }
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckStatus::Ok { name } => write!(f, "ok ({name})"),
            CheckStatus::BadToken => f.write_str("bad token: Discord refused the bot token (401)"),
            CheckStatus::UnknownChannel => f.write_str("unknown channel: no channel with this id (404 10003)"),
            CheckStatus::NoAccess => f.write_str("no access: the bot cannot see this channel or is not in its server (403 50001)"),
            CheckStatus::NoPermission => f.write_str("no permission: the bot may not post here (403 50013); grant Send Messages, Embed Links and Attach Files"),
            CheckStatus::UnknownWebhook => f.write_str("unknown webhook: it was deleted or never existed (404 10015)"),
            CheckStatus::InvalidWebhookToken => f.write_str("invalid webhook token: the URL's token is wrong (401 50027)"),
            CheckStatus::NotATextChannel { channel_type } => write!(
                f,
                "not a text channel (type {channel_type}): forum, media, voice and category channels need a thread; use a thread's id"
            ),
            CheckStatus::RateLimited => f.write_str("rate limited (429): try again in a moment"),
            CheckStatus::Network(e) => write!(f, "network error: {e}"),
            CheckStatus::Other(e) => write!(f, "unexpected answer: {e}"),
        }
    }
}

/// One row of [`check_channels`](crate::DiscordHandle::check_channels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelCheck {
    /// The class routed there.
    pub class: Class,
    /// The destination, without secrets: `channel 123` or `webhook 456`.
    pub destination: String,
    /// What the check found.
    pub status: CheckStatus,
    /// Whether a test message was posted there (with `post_test`, when it was readable).
    pub test_posted: bool,
}

impl fmt::Display for ChannelCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<12} {:<28} {}",
            self.class.name(),
            self.destination,
            self.status
        )?;
        if self.test_posted {
            f.write_str(", test message posted")?;
        }
        Ok(())
    }
}

pub(crate) fn describe(target: &Target) -> String {
    match target {
        Target::Channel(id) => format!("channel {id}"),
        Target::Webhook(hook) => format!("webhook {}", hook.id),
    }
}

fn code(reply: &Reply) -> Option<i64> {
    reply.body.get("code").and_then(Value::as_i64)
}

/// What an answer says about a destination.
fn status_of(reply: &Reply) -> CheckStatus {
    match (reply.status, code(reply)) {
        (200..=299, _) => {
            let kind = reply.body.get("type").and_then(Value::as_i64);
            if let Some(t @ (GUILD_CATEGORY | GUILD_VOICE | GUILD_FORUM | GUILD_MEDIA)) = kind {
                // A webhook's type is 1 or 2 too; only channels carry "guild_id" + "position".
                if reply.body.get("position").is_some() {
                    return CheckStatus::NotATextChannel { channel_type: t };
                }
            }
            let name = reply
                .body
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            CheckStatus::Ok { name }
        }
        (401, Some(50027)) => CheckStatus::InvalidWebhookToken,
        (401, _) => CheckStatus::BadToken,
        (403, Some(50013)) => CheckStatus::NoPermission,
        (403, _) => CheckStatus::NoAccess,
        (404, Some(10015)) => CheckStatus::UnknownWebhook,
        (404, _) => CheckStatus::UnknownChannel,
        (429, _) => CheckStatus::RateLimited,
        _ => CheckStatus::Other(reply.error_text()),
    }
}

/// Checks one destination; with `post_test`, a readable destination also gets a short test
/// message (the only proof that the bot may post there).
pub(crate) async fn check(
    client: &Client,
    class: Class,
    target: &Target,
    post_test: bool,
) -> ChannelCheck {
    let destination = describe(target);
    let status = match client.get_destination(target).await {
        Err(e) => CheckStatus::Network(error_chain(&e.without_url())),
        Ok(reply) => status_of(&reply),
    };
    let mut test_posted = false;
    let status = match status {
        CheckStatus::Ok { name } if post_test => {
            let message = Message {
                content: format!(
                    "tracing-discord: test message for the {class} class; this destination works."
                ),
                flags: crate::render::FLAG_SUPPRESS_NOTIFICATIONS,
                ..Message::default()
            };
            match client
                .post_message(target, &message, &format!("tdcheck{}", class.index()))
                .await
            {
                Err(e) => CheckStatus::Network(error_chain(&e.without_url())),
                Ok(reply) if (200..300).contains(&reply.status) => {
                    test_posted = true;
                    CheckStatus::Ok { name }
                }
                Ok(reply) => status_of(&reply),
            }
        }
        other => other,
    };
    ChannelCheck {
        class,
        destination,
        status,
        test_posted,
    }
}

/// An error and its causes: `error sending request: ... : Connection refused`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(status: u16, body: Value) -> Reply {
        Reply {
            status,
            remaining: None,
            reset_after: None,
            retry_after: None,
            scope: None,
            body,
        }
    }

    #[test]
    fn a_forum_channel_needs_a_thread() {
        let forum = reply(
            200,
            json!({"id": "1", "type": 15, "guild_id": "2", "name": "help", "position": 3}),
        );
        assert_eq!(
            status_of(&forum),
            CheckStatus::NotATextChannel { channel_type: 15 }
        );
        assert_eq!(
            status_of(&forum).to_string(),
            "not a text channel (type 15): forum, media, voice and category channels need a thread; use a thread's id"
        );
        // A webhook object has a type too (1, incoming) but no position: it is fine.
        let hook = reply(
            200,
            json!({"id": "1", "type": 1, "channel_id": "2", "name": "logs"}),
        );
        assert_eq!(
            status_of(&hook),
            CheckStatus::Ok {
                name: "logs".into()
            }
        );
        let text = reply(
            200,
            json!({"id": "1", "type": 0, "guild_id": "2", "name": "log", "position": 0}),
        );
        assert_eq!(status_of(&text), CheckStatus::Ok { name: "log".into() });
    }
}
