//! ERRORs: each its own red embed, with the message as description, fields as embed
//! fields, the span chain, source location and timestamp; several to a message when they
//! fit. An ERROR too big for one embed is split whole over several, titled `(i/n)`.

use std::fmt::Write as _;

use super::escape::markdown;
use super::time::iso8601;
use super::{
    char_len, split_chars, truncate, Embed, Message, Part, DESCRIPTION_MAX, EMBEDS_MAX,
    EMBED_TOTAL_MAX, ERROR_COLOR, FIELDS_MAX, FIELD_NAME_MAX, FIELD_VALUE_MAX, FOOTER_MAX,
    TITLE_MAX,
};
use crate::record::Record;

/// Longest text of one embed in the split layout, leaving room for its title.
const PIECE_MAX: usize = 3900;
/// Field values up to this length are shown side by side (inline).
const INLINE_MAX: usize = 40;

/// Renders ERROR records as embeds, packed into messages (≤ 10 embeds, ≤ 6000 characters).
/// `mention_role` adds an opt-in role ping to each message.
pub(crate) fn render(
    records: &[&Record],
    mention_role: Option<u64>,
    label: Option<&str>,
) -> Vec<Message> {
    let mut messages: Vec<Message> = Vec::new();
    let new_message = || Message {
        content: mention_role.map(|r| format!("<@&{r}>")).unwrap_or_default(),
        mention_role,
        ..Message::default()
    };
    let mut current = new_message();
    for record in records {
        let embeds = embeds_of(record, label);
        let last = embeds.len() - 1;
        for (i, embed) in embeds.into_iter().enumerate() {
            let len = embed.text_len();
            if current.embeds.len() == EMBEDS_MAX
                || current.embed_text_len() + len > EMBED_TOTAL_MAX
            {
                messages.push(std::mem::replace(&mut current, new_message()));
            }
            current.embeds.push(embed);
            let events = usize::from(i == last);
            current.events += events;
            current.parts.push(Part { lines: 0, events });
        }
    }
    if !current.embeds.is_empty() {
        messages.push(current);
    }
    messages
}

/// One ERROR as one rich embed when it fits, else split whole.
fn embeds_of(record: &Record, label: Option<&str>) -> Vec<Embed> {
    let title = truncate(&format!("ERROR {}", markdown(record.target)), TITLE_MAX);
    let timestamp = Some(iso8601(record.time));
    let mut footer = String::new();
    if let Some(label) = label {
        footer.push_str(&truncate(label, super::pack::LABEL_MAX / 2));
        footer.push_str(" · ");
    }
    if let Some(file) = record.file {
        footer.push_str(file);
        if let Some(line) = record.line {
            let _ = write!(footer, ":{line}");
        }
    }
    if footer.ends_with(" · ") {
        footer.truncate(footer.len() - " · ".len());
    }
    let mut description = if record.message().trim().is_empty() {
        "(no message)".to_owned()
    } else {
        markdown(record.message())
    };
    if !record.spans.is_empty() {
        let chain: Vec<String> = record.spans.iter().map(|s| markdown(s)).collect();
        let _ = write!(description, "\n-# in {}", chain.join(" › "));
    }
    let mut fields = Vec::new();
    let mut folded = String::new();
    for (k, v) in record.fields() {
        let name = markdown(k);
        let value = if v.trim().is_empty() {
            "(empty)".to_owned()
        } else {
            markdown(v)
        };
        let fits = fields.len() < FIELDS_MAX
            && char_len(&name) <= FIELD_NAME_MAX
            && char_len(&value) <= FIELD_VALUE_MAX;
        if fits {
            let inline = char_len(&value) <= INLINE_MAX;
            fields.push((name, value, inline));
        } else {
            // More than 25 fields, or one too long for a field: folded into the description.
            let _ = write!(folded, "\n**{name}** = {value}");
        }
    }
    description.push_str(&folded);
    let single = Embed {
        title: Some(title.clone()),
        description: Some(description.clone()),
        color: Some(ERROR_COLOR),
        fields,
        footer: (!footer.is_empty()).then(|| truncate(&footer, FOOTER_MAX)),
        timestamp: timestamp.clone(),
    };
    // Untrimmed: Discord trims before it measures, but its published schema measures the
    // text as sent, and a payload within both is never refused.
    if char_len(&description) <= DESCRIPTION_MAX && single.text_len() <= EMBED_TOTAL_MAX {
        return vec![single];
    }
    // Too big for one embed: the whole text, fields included, split at characters.
    let mut text = description;
    for (k, v, _) in &single.fields {
        let _ = write!(text, "\n**{k}** = {v}");
    }
    if !footer.is_empty() {
        let _ = write!(text, "\n{footer}");
    }
    let pieces = split_escaped(&text, PIECE_MAX);
    let n = pieces.len();
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| Embed {
            // The part number survives truncation: the title is cut, not "(i/n)".
            title: Some({
                let part = format!(" ({}/{n})", i + 1);
                format!("{}{part}", truncate(&title, TITLE_MAX - char_len(&part)))
            }),
            description: Some(piece.to_owned()),
            color: Some(ERROR_COLOR),
            fields: Vec::new(),
            footer: None,
            timestamp: timestamp.clone(),
        })
        .collect()
}

/// Splits escaped text like [`split_chars`], but never between a backslash and the
/// character it escapes.
fn split_escaped(text: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut piece = split_chars(rest, max)[0];
        let trailing = piece.len() - piece.trim_end_matches('\\').len();
        if trailing % 2 == 1 && piece.len() < rest.len() && piece.len() > 1 {
            piece = &piece[..piece.len() - 1];
        }
        pieces.push(piece);
        rest = &rest[piece.len()..];
    }
    if pieces.is_empty() {
        pieces.push(text);
    }
    pieces
}

/// Splits an ERROR message into two of about half its embeds each; `None` with one embed.
pub(crate) fn halve(message: &Message) -> Option<(Message, Message)> {
    if message.embeds.len() < 2 || message.parts.len() != message.embeds.len() {
        return None;
    }
    let half = message.embeds.len() / 2;
    let make = |range: std::ops::Range<usize>, first: bool| Message {
        content: if first {
            message.content.clone()
        } else {
            String::new()
        },
        embeds: message.embeds[range.clone()].to_vec(),
        parts: message.parts[range.clone()].to_vec(),
        events: message.parts[range].iter().map(|p| p.events).sum(),
        mention_role: message.mention_role.filter(|_| first),
        flags: message.flags,
        attachments: Vec::new(),
    };
    Some((make(0..half, true), make(half..message.embeds.len(), false)))
}
