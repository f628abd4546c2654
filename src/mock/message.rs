//! Builds the message object Discord returns for an accepted message (emulator spec rule 16).

use std::time::SystemTime;

use serde_json::{json, Map, Value};

use super::clock::{iso8601, Snowflakes};
use super::payload::Upload;
use super::validate::Draft;

/// The extra key holding each upload's bytes as UTF-8 text, for test assertions.
pub(crate) const ATTACHMENT_TEXTS: &str = "_attachment_texts";

/// What varies between a bot's message and a webhook's.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// The `author` object.
    pub author: Value,
    /// `webhook_id` for webhook messages.
    pub webhook_id: Option<u64>,
    /// Whether `@everyone` / `@here` may ping (bot: `MENTION_EVERYONE`; webhooks: always).
    pub may_mention_everyone: bool,
    /// Whether `tts` is honoured (`SEND_TTS_MESSAGES`).
    pub may_tts: bool,
}

/// Builds the stored message, including the [`ATTACHMENT_TEXTS`] key.
pub(crate) fn build(
    ids: &mut Snowflakes,
    channel_id: u64,
    draft: &Draft,
    uploads: &[Upload],
    origin: Origin,
) -> Value {
    let id = ids.next();
    let attachments: Vec<Value> = uploads
        .iter()
        .map(|upload| attachment(ids, channel_id, draft, upload))
        .collect();
    let texts: Vec<String> = uploads
        .iter()
        .map(|u| String::from_utf8_lossy(&u.data).into_owned())
        .collect();
    let mentions = &draft.mentions;
    let parses = |kind: &str| mentions.parse.iter().any(|p| p == kind);
    let users: Vec<Value> = mentioned(&draft.content, "<@")
        .into_iter()
        .filter(|id| parses("users") || mentions.users.contains(id))
        .map(|id| json!({ "id": id, "username": format!("user-{id}"), "discriminator": "0", "global_name": null, "avatar": null, "public_flags": 0 }))
        .collect();
    let roles: Vec<Value> = mentioned(&draft.content, "<@&")
        .into_iter()
        .filter(|id| parses("roles") || mentions.roles.contains(id))
        .map(Value::from)
        .collect();
    let everyone = origin.may_mention_everyone
        && parses("everyone")
        && (draft.content.contains("@everyone") || draft.content.contains("@here"));
    let mut message = json!({
        "id": id.to_string(),
        "type": 0,
        "channel_id": channel_id.to_string(),
        "content": draft.content,
        "attachments": attachments,
        "embeds": draft.embeds,
        "mentions": users,
        "mention_roles": roles,
        "mention_everyone": everyone,
        "pinned": false,
        "tts": draft.tts && origin.may_tts,
        "timestamp": iso8601(SystemTime::now()),
        "edited_timestamp": null,
        "flags": draft.flags,
        "components": [],
        ATTACHMENT_TEXTS: texts,
    });
    if let Some(object) = message.as_object_mut() {
        object.insert("author".to_string(), origin.author);
        if let Some(nonce) = &draft.nonce {
            object.insert("nonce".to_string(), nonce.clone());
        }
        if let Some(webhook_id) = origin.webhook_id {
            object.insert(
                "webhook_id".to_string(),
                Value::from(webhook_id.to_string()),
            );
        }
    }
    message
}

/// The message as the HTTP API shows it: without [`ATTACHMENT_TEXTS`].
pub(crate) fn public_view(message: &Value) -> Value {
    let mut view = message.clone();
    if let Some(object) = view.as_object_mut() {
        object.remove(ATTACHMENT_TEXTS);
    }
    view
}

/// One attachment object.
fn attachment(ids: &mut Snowflakes, channel_id: u64, draft: &Draft, upload: &Upload) -> Value {
    let id = ids.next();
    let mut object = Map::new();
    object.insert("id".into(), Value::from(id.to_string()));
    object.insert("filename".into(), Value::from(upload.filename.clone()));
    object.insert("size".into(), Value::from(upload.data.len()));
    let url = format!(
        "https://cdn.discordapp.com/attachments/{channel_id}/{id}/{}",
        upload.filename
    );
    let proxy_url = format!(
        "https://media.discordapp.net/attachments/{channel_id}/{id}/{}",
        upload.filename
    );
    object.insert("url".into(), Value::from(url));
    object.insert("proxy_url".into(), Value::from(proxy_url));
    if let Some(content_type) = upload
        .content_type
        .clone()
        .or_else(|| guess_content_type(&upload.filename))
    {
        object.insert("content_type".into(), Value::from(content_type));
    }
    if let Some((_, description)) = draft
        .descriptions
        .iter()
        .find(|(index, _)| *index == upload.index)
    {
        object.insert("description".into(), Value::from(description.clone()));
    }
    Value::Object(object)
}

/// Discord's content type for common extensions, when the part did not name one.
fn guess_content_type(filename: &str) -> Option<String> {
    let extension = filename.rsplit_once('.')?.1.to_ascii_lowercase();
    let mime = match extension.as_str() {
        "txt" | "log" => "text/plain; charset=utf-8",
        "json" => "application/json; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        _ => return None,
    };
    Some(mime.to_string())
}

/// Ids of `<@id>` / `<@!id>` (prefix `<@`) or `<@&id>` (prefix `<@&`) mentions in `content`.
fn mentioned(content: &str, prefix: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for (start, _) in content.match_indices(prefix) {
        let mut rest = &content[start + prefix.len()..];
        if prefix == "<@" {
            if rest.starts_with('&') {
                continue;
            }
            rest = rest.strip_prefix('!').unwrap_or(rest);
        }
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() && rest[digits.len()..].starts_with('>') && !ids.contains(&digits) {
            ids.push(digits);
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_user_and_role_mentions() {
        let content = "hi <@1> <@!2> <@&3> <@x> <@4";
        assert_eq!(mentioned(content, "<@"), ["1", "2"]);
        assert_eq!(mentioned(content, "<@&"), ["3"]);
    }
}
