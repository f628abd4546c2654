//! The JSON body of a message, written straight into bytes: what the client posts (as the
//! request, or as `payload_json` beside files). Same members and values as
//! [`Message::to_json`], without building a `serde_json::Value` tree (which copied every
//! text once more) and serialising it.

use super::escape::{has_below, has_byte, word};
use super::{Embed, Message};

/// Appends `text` as a JSON string, escaped exactly as `serde_json` escapes it (quote and
/// backslash with a backslash; control characters as `\n`, `\t`, ... or `\u00XX`). Runs
/// of bytes that need no escape are found eight bytes at a time and copied whole.
fn string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run = 0;
    let mut at = 0;
    while at < bytes.len() {
        if at + 8 <= bytes.len() {
            let w = word(bytes, at);
            if has_below(w, 0x20) | has_byte(w, b'"') | has_byte(w, b'\\') == 0 {
                at += 8;
                continue;
            }
        }
        let end = (at + 8).min(bytes.len());
        while at < end {
            let b = bytes[at];
            let escape: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0C => b"\\f",
                0..=0x1F => b"",
                _ => {
                    at += 1;
                    continue;
                }
            };
            out.extend_from_slice(&bytes[run..at]);
            if escape.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xF)]);
            } else {
                out.extend_from_slice(escape);
            }
            at += 1;
            run = at;
        }
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// Appends `"key":`, with a comma before it unless it opens its object.
fn key(out: &mut Vec<u8>, first: &mut bool, key: &str) {
    if !std::mem::take(first) {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Writes the body (members in `serde_json`'s default order, sorted by name); `nonce` adds
/// `nonce` and `enforce_nonce: true`.
pub(super) fn write(message: &Message, nonce: Option<&str>, out: &mut Vec<u8>) {
    let first = &mut true;
    out.push(b'{');
    key(out, first, "allowed_mentions");
    out.extend_from_slice(b"{\"parse\":[]");
    if let Some(role) = message.mention_role {
        out.extend_from_slice(b",\"roles\":[\"");
        number(out, role);
        out.extend_from_slice(b"\"]");
    }
    out.push(b'}');
    if !message.attachments.is_empty() {
        key(out, first, "attachments");
        out.push(b'[');
        for (i, a) in message.attachments.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"filename\":");
            string(out, &a.filename);
            // A snowflake, so a string (as Discord's request schema types it).
            out.extend_from_slice(b",\"id\":\"");
            number(out, i as u64);
            out.extend_from_slice(b"\"}");
        }
        out.push(b']');
    }
    if !message.content.is_empty() {
        key(out, first, "content");
        string(out, &message.content);
    }
    if !message.embeds.is_empty() {
        key(out, first, "embeds");
        out.push(b'[');
        for (i, e) in message.embeds.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            embed(e, out);
        }
        out.push(b']');
    }
    if nonce.is_some() {
        key(out, first, "enforce_nonce");
        out.extend_from_slice(b"true");
    }
    if message.flags != 0 {
        key(out, first, "flags");
        number(out, message.flags);
    }
    if let Some(nonce) = nonce {
        key(out, first, "nonce");
        string(out, nonce);
    }
    out.push(b'}');
}

fn embed(e: &Embed, out: &mut Vec<u8>) {
    let first = &mut true;
    out.push(b'{');
    if let Some(c) = e.color {
        key(out, first, "color");
        number(out, u64::from(c));
    }
    if let Some(d) = &e.description {
        key(out, first, "description");
        string(out, d);
    }
    if !e.fields.is_empty() {
        key(out, first, "fields");
        out.push(b'[');
        for (i, (name, value, inline)) in e.fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(if *inline {
                b"{\"inline\":true,\"name\":"
            } else {
                b"{\"inline\":false,\"name\":"
            });
            string(out, name);
            out.extend_from_slice(b",\"value\":");
            string(out, value);
            out.push(b'}');
        }
        out.push(b']');
    }
    if let Some(f) = &e.footer {
        key(out, first, "footer");
        out.extend_from_slice(b"{\"text\":");
        string(out, f);
        out.push(b'}');
    }
    if let Some(ts) = &e.timestamp {
        key(out, first, "timestamp");
        string(out, ts);
    }
    if let Some(t) = &e.title {
        key(out, first, "title");
        string(out, t);
    }
    key(out, first, "type");
    out.extend_from_slice(b"\"rich\"}");
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use tracing_core::Level;

    use super::super::{render_batch, render_errors, Attachment, BatchOptions, ErrorOptions};
    use super::*;
    use crate::{Class, Record};

    fn parsed(message: &Message, nonce: Option<&str>) -> Value {
        serde_json::from_slice(&message.json_body(nonce)).expect("valid JSON")
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let all_ascii: String = (0u8..0x80).map(char::from).collect();
        let texts = [
            String::new(),
            "plain text longer than eight bytes".into(),
            "\"\\\u{1b}[0m\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}".into(),
            "日本語 🎉 \u{2028} ok\"".into(),
            all_ascii.clone(),
            all_ascii.repeat(3)[5..].to_owned(),
        ];
        for text in &texts {
            let mut out = Vec::new();
            string(&mut out, text);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(text).unwrap()
            );
        }
    }

    #[test]
    fn the_body_is_to_json_with_the_nonce_added() {
        let hostile = "quote \" backslash \\ tab \t nul \0 esc \u{1b}[31m 日本 🎉 \u{2028}";
        let lines: Vec<Record> = (0..300)
            .map(|i| Record::new(Class::Log, Level::INFO, "bot", format!("{hostile} {i}")))
            .collect();
        let error = Record::new(Class::Log, Level::ERROR, "bot", hostile)
            .with_field("status", 503)
            .with_field("why", "x".repeat(200));
        let mut messages = render_batch(Class::Log, &lines, &BatchOptions::default()).messages;
        let options = ErrorOptions {
            mention_role: Some(42),
            label: Some("shard 1".into()),
            ..ErrorOptions::default()
        };
        messages.extend(render_errors(Class::Log, &[error], &options).messages);
        messages.push(Message {
            content: "files".into(),
            attachments: vec![
                Attachment {
                    filename: "a \"b\".txt".into(),
                    text: "x".into(),
                },
                Attachment {
                    filename: "c.txt".into(),
                    text: "y".into(),
                },
            ],
            ..Message::default()
        });
        assert!(messages
            .iter()
            .any(|m| !m.embeds.is_empty() && !m.content.is_empty()));
        assert!(messages.iter().any(|m| m.mention_role.is_some()));
        for m in &messages {
            assert_eq!(parsed(m, None), m.to_json());
            let mut with_nonce = m.to_json();
            with_nonce["nonce"] = json!("n\"1");
            with_nonce["enforce_nonce"] = json!(true);
            assert_eq!(parsed(m, Some("n\"1")), with_nonce);
            assert_eq!(m.json_body(None).len(), m.to_json().to_string().len());
        }
    }
}
