//! Pure rendering: records in, Discord messages out. No I/O, no clock, no tracing; it runs
//! on the flusher thread, never on the application's.
//!
//! Every [`Message`] this module returns is within Discord's limits as Discord counts them
//! (Unicode code points, embed text trimmed): content at most 2000, at most 10 embeds,
//! description at most 4096, at most 6000 embed characters per message, title, field and
//! footer limits, at most 10 files of at most 10 MiB and 25 MiB a request. Lines are never
//! split unless one line alone exceeds a limit; then each piece is visibly marked. No
//! character is split, no message is empty, and user text is escaped (see [`escape`]) so it
//! cannot break its block, format itself, or ping anyone.
//!
//! What a reader sees:
//! - logs and diagnostics: compact lines `HH:MM:SS LEVEL target: spans: message k=v` in
//!   `ansi` code blocks, the level coloured, identical events collapsed into one line
//!   ending `(×N, last HH:MM:SS)`;
//! - analytics: a table per kind of event, its fields as columns;
//! - ERRORs: a red embed each (see [`render_errors`]);
//! - a batch larger than the channel's rate budget: a summary with the text attached;
//! - reports: span timings per name (count, percentiles, busy share, errors) and the
//!   analytics rollup, as tables; analytics events as a JSON Lines attachment.

mod attach;
mod body;
mod error;
pub mod escape;
mod hash;
mod layout;
mod pack;
mod report;
mod time;

use serde_json::{json, Map, Value};

pub use layout::{log_text, CONTINUATION_INDENT};
pub use pack::{block_lines, CONTINUED, CONTINUES};
pub use report::{
    human_duration, jsonl_line, render_jsonl, render_rollup, render_timings, ReportOptions,
    BUSY_LEGEND,
};
pub use time::{clock_time, iso8601};

use crate::record::Record;
use crate::Class;

/// `content` limit in code points (discord-api.md 2.2; the spec's 4000 is the Nitro limit).
pub const CONTENT_MAX: usize = 2000;
/// Rich embeds per message (Discord's API documentation; the project's discord-api.md 2.2).
pub const EMBEDS_MAX: usize = 10;
/// Embed title limit (Discord's API documentation; the project's discord-api.md 2.3).
pub const TITLE_MAX: usize = 256;
/// Embed description limit (Discord's API documentation; the project's discord-api.md 2.3).
pub const DESCRIPTION_MAX: usize = 4096;
/// Embed fields per embed (Discord's API documentation; the project's discord-api.md 2.3).
pub const FIELDS_MAX: usize = 25;
/// Embed field name limit (Discord's API documentation; the project's discord-api.md 2.3).
pub const FIELD_NAME_MAX: usize = 256;
/// Embed field value limit (Discord's API documentation; the project's discord-api.md 2.3).
pub const FIELD_VALUE_MAX: usize = 1024;
/// Embed footer text limit (Discord's API documentation; the project's discord-api.md 2.3).
pub const FOOTER_MAX: usize = 2048;
/// Sum of all embed text in one message (Discord's API documentation; the project's discord-api.md 2.3).
pub const EMBED_TOTAL_MAX: usize = 6000;
/// Files per message (Discord's API documentation; the project's discord-api.md 2.2).
pub const FILES_MAX: usize = 10;
/// Bytes of one uploaded file (discord-api.md 2.2, since 2025-01-16).
pub const FILE_BYTES_MAX: usize = 10 * 1024 * 1024;
/// Bytes of one request with files (Discord's API documentation; the project's discord-api.md 2.2).
pub const REQUEST_BYTES_MAX: usize = 25 * 1024 * 1024;
/// `SUPPRESS_NOTIFICATIONS` message flag (`1 << 12`, discord-api.md 2.2).
pub const FLAG_SUPPRESS_NOTIFICATIONS: u64 = 1 << 12;
/// Colour of ERROR embeds.
pub const ERROR_COLOR: u32 = 0xE7_4C_3C;

/// One Discord message, ready to post.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The `content` text (may be empty when there are embeds or files).
    pub content: String,
    /// Rich embeds.
    pub embeds: Vec<Embed>,
    /// Text files uploaded with the message (`files[n]`).
    pub attachments: Vec<Attachment>,
    /// Message flags (only `SUPPRESS_NOTIFICATIONS` is used).
    pub flags: u64,
    /// A role this message may ping (opt-in, ERRORs only); nothing else can ping.
    pub mention_role: Option<u64>,
    /// How many events end in this message: counted as delivered when Discord accepts it.
    pub events: usize,
    /// The message's parts in order (code-block units of a batch, or embeds of ERRORs) and
    /// the events each ends; lets a refused message be split to find the offending part.
    pub(crate) parts: Vec<Part>,
}

/// One part of a [`Message`]: a unit of code-block lines, or one embed (`lines == 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Part {
    /// Code-block lines of the part; 0 for an embed.
    pub(crate) lines: usize,
    /// Events that end in the part.
    pub(crate) events: usize,
}

/// Whether two ERROR messages can travel as one: embeds only, same content (the opt-in
/// mention), within 10 embeds and 6000 characters.
pub(crate) fn can_merge(a: &Message, b: &Message) -> bool {
    a.attachments.is_empty()
        && b.attachments.is_empty()
        && a.content == b.content
        && a.mention_role == b.mention_role
        && a.flags == b.flags
        && !a.embeds.is_empty()
        && !b.embeds.is_empty()
        && a.embeds.len() + b.embeds.len() <= EMBEDS_MAX
        && a.embed_text_len() + b.embed_text_len() <= EMBED_TOTAL_MAX
}

/// Appends `b`'s embeds, parts and events to `a` (see [`can_merge`]).
pub(crate) fn merge(a: &mut Message, b: Message) {
    a.embeds.extend(b.embeds);
    a.parts.extend(b.parts);
    a.events += b.events;
}

/// Splits a message Discord refused into two, each with about half its parts, so that the
/// part at fault can be found and dropped alone; `None` when it cannot be split.
pub(crate) fn halve(message: &Message) -> Option<(Message, Message)> {
    if !message.attachments.is_empty() {
        return attach::halve(message);
    }
    if message.parts.iter().map(|p| p.events).sum::<usize>() != message.events {
        return None;
    }
    if message.embeds.iter().all(|e| e.title.is_none()) {
        pack::halve(message)
    } else {
        error::halve(message)
    }
}

/// A UTF-8 text file sent with a message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attachment {
    /// The file name shown in Discord.
    pub filename: String,
    /// The file's text.
    pub text: String,
}

/// A rich embed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Embed {
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Colour, `0..=0xFFFFFF`.
    pub color: Option<u32>,
    /// Fields: name, value, inline.
    pub fields: Vec<(String, String, bool)>,
    /// Footer text.
    pub footer: Option<String>,
    /// ISO 8601 timestamp.
    pub timestamp: Option<String>,
}

impl Embed {
    /// Characters this embed adds to the 6000 total, counted as Discord counts them.
    pub fn text_len(&self) -> usize {
        let t = |s: &Option<String>| s.as_deref().map_or(0, |s| char_len(s.trim()));
        t(&self.title)
            + t(&self.description)
            + t(&self.footer)
            + self
                .fields
                .iter()
                .map(|(n, v, _)| char_len(n.trim()) + char_len(v.trim()))
                .sum::<usize>()
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), json!("rich"));
        if let Some(t) = &self.title {
            m.insert("title".into(), json!(t));
        }
        if let Some(d) = &self.description {
            m.insert("description".into(), json!(d));
        }
        if let Some(c) = self.color {
            m.insert("color".into(), json!(c));
        }
        if !self.fields.is_empty() {
            let fields: Vec<Value> = self
                .fields
                .iter()
                .map(|(n, v, i)| json!({"name": n, "value": v, "inline": i}))
                .collect();
            m.insert("fields".into(), Value::Array(fields));
        }
        if let Some(f) = &self.footer {
            m.insert("footer".into(), json!({ "text": f }));
        }
        if let Some(ts) = &self.timestamp {
            m.insert("timestamp".into(), json!(ts));
        }
        Value::Object(m)
    }
}

impl Message {
    /// Bytes of the request body: the JSON (without a nonce), plus the files.
    pub fn body_bytes(&self) -> usize {
        self.json_body(None).len() + self.attachments.iter().map(|a| a.text.len()).sum::<usize>()
    }

    /// The JSON body of Create Message / Execute Webhook exactly as posted (for multipart,
    /// the `payload_json` part): the members of [`to_json`](Self::to_json), written straight
    /// into bytes; `nonce` adds `nonce` and `enforce_nonce: true` (the bot route's
    /// de-duplication).
    pub fn json_body(&self, nonce: Option<&str>) -> Vec<u8> {
        let text: usize = self.content.len()
            + self
                .embeds
                .iter()
                .map(|e| e.description.as_ref().map_or(0, String::len) + 64)
                .sum::<usize>();
        // Room for the members, the escapes of a few control characters a line, the nonce.
        let mut out = Vec::with_capacity(text + text / 8 + 256);
        body::write(self, nonce, &mut out);
        out
    }

    /// Characters of embed text in this message (the 6000 total).
    pub fn embed_text_len(&self) -> usize {
        self.embeds.iter().map(Embed::text_len).sum()
    }

    /// The JSON body of Create Message / Execute Webhook (for multipart, `payload_json`).
    /// `allowed_mentions` is always sent: `{"parse": []}`, plus the opt-in role if any.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if !self.content.is_empty() {
            m.insert("content".into(), json!(self.content));
        }
        if !self.embeds.is_empty() {
            m.insert(
                "embeds".into(),
                Value::Array(self.embeds.iter().map(Embed::to_json).collect()),
            );
        }
        if !self.attachments.is_empty() {
            let list: Vec<Value> = self
                .attachments
                .iter()
                .enumerate()
                .map(|(i, a)| json!({"id": i.to_string(), "filename": a.filename}))
                .collect();
            m.insert("attachments".into(), Value::Array(list));
        }
        let mentions = match self.mention_role {
            Some(role) => json!({ "parse": [], "roles": [role.to_string()] }),
            None => json!({ "parse": [] }),
        };
        m.insert("allowed_mentions".into(), mentions);
        if self.flags != 0 {
            m.insert("flags".into(), json!(self.flags));
        }
        Value::Object(m)
    }

    /// Whether this message is within every Discord limit and not empty: the renderer's
    /// invariant, checked by tests and again before sending.
    pub fn is_valid(&self) -> bool {
        let has_text = !self.content.trim().is_empty()
            || self.embeds.iter().any(|e| e.text_len() > 0)
            || !self.attachments.is_empty();
        let within =
            |s: &Option<String>, max| s.as_deref().is_none_or(|s| char_len(s.trim()) <= max);
        let bytes: usize = self.attachments.iter().map(|a| a.text.len()).sum();
        has_text
            && char_len(&self.content) <= CONTENT_MAX
            && self.embeds.len() <= EMBEDS_MAX
            && self.embed_text_len() <= EMBED_TOTAL_MAX
            && self.attachments.len() <= FILES_MAX
            && self.attachments.iter().all(|a| {
                a.text.len() <= FILE_BYTES_MAX && (1..=1024).contains(&char_len(&a.filename))
            })
            && bytes + char_len(&self.content) * 4 + 64 * 1024 <= REQUEST_BYTES_MAX
            && self.embeds.iter().all(|e| {
                within(&e.title, TITLE_MAX)
                    && within(&e.description, DESCRIPTION_MAX)
                    && within(&e.footer, FOOTER_MAX)
                    && e.fields.len() <= FIELDS_MAX
                    && e.color.is_none_or(|c| c <= 0xFF_FF_FF)
                    && e.fields.iter().all(|(n, v, _)| {
                        let (n, v) = (char_len(n.trim()), char_len(v.trim()));
                        (1..=FIELD_NAME_MAX).contains(&n) && (1..=FIELD_VALUE_MAX).contains(&v)
                    })
            })
    }
}

/// Options of a batch rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOptions {
    /// Send with `SUPPRESS_NOTIFICATIONS`.
    pub suppress_notifications: bool,
    /// Events of this class dropped since its last message, and why; shown first.
    pub dropped_since_last: Option<(u64, String)>,
    /// More messages than this and the batch is sent as a text attachment instead.
    pub max_inline_messages: usize,
    /// Whether embeds may carry text (false where Discord strips them: no Embed Links).
    pub use_embeds: bool,
    /// Shown above each message (a shard or host name), at most 32 characters.
    pub label: Option<String>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            suppress_notifications: true,
            dropped_since_last: None,
            max_inline_messages: usize::MAX,
            use_embeds: true,
            label: None,
        }
    }
}

/// What a rendering produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rendered {
    /// The messages, in posting order.
    pub messages: Vec<Message>,
    /// Events with nothing to show (empty or whitespace-only message, no fields): not sent.
    pub blank: usize,
}

/// Counts length as Discord does: Unicode code points.
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

fn is_blank(r: &Record) -> bool {
    r.message().trim().is_empty() && !r.has_fields()
}

/// Renders a batch of one class, packed into as few messages as the limits allow (content
/// first, then up to 10 embeds within 6000 characters), or as an attachment when that
/// would take more than `options.max_inline_messages` messages.
pub fn render_batch(class: Class, records: &[Record], options: &BatchOptions) -> Rendered {
    let flags = if options.suppress_notifications {
        FLAG_SUPPRESS_NOTIFICATIONS
    } else {
        0
    };
    let shown: Vec<&Record> = records.iter().filter(|r| !is_blank(r)).collect();
    let blank = records.len() - shown.len();
    let notice = options
        .dropped_since_last
        .as_ref()
        .filter(|(n, _)| *n > 0)
        .map(|(n, why)| {
            let s = if *n == 1 { "" } else { "s" };
            format!("{n} event{s} dropped since the last message ({why})")
        });
    let mut packer = pack::Packer::new(flags, options.use_embeds);
    packer.set_label(options.label.as_deref());
    if let Some(text) = &notice {
        packer.push_line(&layout::notice_line(text), 0);
    }
    let entries = layout::collapse(&shown);
    match class {
        Class::Analytics => layout::pack_tables(&mut packer, &entries),
        Class::Diagnostics | Class::Log => layout::pack_lines(&mut packer, &entries),
    }
    let mut messages = packer.finish();
    if messages.len() > options.max_inline_messages.max(1) && !shown.is_empty() {
        messages = attach::render(class, &shown, notice.as_deref(), flags);
        label_contents(&mut messages, options.label.as_deref());
    }
    Rendered { messages, blank }
}

/// Batch messages already rendered that cannot all be posted before the shutdown deadline,
/// folded into a summary with their lines attached (colours removed), so that a burst
/// queued just before exit is delivered rather than dropped by the shutdown timeout.
/// Every event of `messages` counts in the last message returned.
pub(crate) fn fold_into_attachment(
    class: Class,
    messages: &[Message],
    label: Option<&str>,
) -> Vec<Message> {
    let flags = messages.first().map_or(0, |m| m.flags);
    let mut folded = attach::fold(class, messages, flags);
    label_contents(&mut folded, label);
    folded
}

/// Options of an ERROR rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorOptions {
    /// A role to ping with each ERROR message (opt-in); nothing else ever pings.
    pub mention_role: Option<u64>,
    /// ERRORs that would take more messages than this go as an attachment instead.
    pub max_inline_messages: usize,
    /// Whether embeds may be used (false where Discord strips them: no Embed Links);
    /// without, an ERROR is bold text in the content.
    pub use_embeds: bool,
    /// Shown in each ERROR's footer (a shard or host name).
    pub label: Option<String>,
}

impl Default for ErrorOptions {
    fn default() -> Self {
        ErrorOptions {
            mention_role: None,
            max_inline_messages: usize::MAX,
            use_embeds: true,
            label: None,
        }
    }
}

/// Renders ERROR records as red embeds, several to a message when they fit, or, when a
/// flood of them would take more than `options.max_inline_messages` messages, as one
/// summary with the full text attached. Blank ERRORs are still shown ("(no message)").
pub fn render_errors(class: Class, records: &[Record], options: &ErrorOptions) -> Rendered {
    let refs: Vec<&Record> = records.iter().collect();
    let mut messages = error::render(&refs, options.mention_role, options.label.as_deref());
    if !options.use_embeds {
        messages = messages.iter().flat_map(without_embeds).collect();
    }
    if messages.len() > options.max_inline_messages.max(1) {
        messages = attach::render(class, &refs, None, 0);
        label_contents(&mut messages, options.label.as_deref());
        if let (Some(role), Some(first)) = (options.mention_role, messages.first_mut()) {
            first.content = format!("<@&{role}> {}", first.content);
            first.mention_role = Some(role);
        }
    }
    Rendered { messages, blank: 0 }
}

/// The same message with its embeds turned into content, for destinations where Discord
/// strips embeds: code-block embeds become more code blocks, rich embeds become bold
/// titles, text and `name: value` lines. The events all count in the last message.
pub(crate) fn without_embeds(message: &Message) -> Vec<Message> {
    let mut packer = pack::Packer::new(message.flags, false);
    for line in block_lines(std::slice::from_ref(message)) {
        packer.push_line(&line, 0);
    }
    let mut out = packer.finish();
    let mut text = String::new();
    for e in message.embeds.iter().filter(|e| e.title.is_some()) {
        if let Some(t) = &e.title {
            text.push_str(&format!("**{t}**\n"));
        }
        if let Some(d) = &e.description {
            text.push_str(d);
            text.push('\n');
        }
        for (k, v, _) in &e.fields {
            text.push_str(&format!("**{k}**: {v}\n"));
        }
        if let Some(f) = &e.footer {
            text.push_str(&format!("-# {f}\n"));
        }
    }
    // Room for the opt-in role mention ("<@&" + 20 digits + "> ") before the first piece.
    for piece in split_chars(text.trim_end(), CONTENT_MAX - 32)
        .into_iter()
        .filter(|p| !p.trim().is_empty())
    {
        let content = match message.mention_role {
            Some(role) if out.is_empty() => format!("<@&{role}> {piece}"),
            _ => piece.to_owned(),
        };
        let mention_role = message.mention_role.filter(|_| out.is_empty());
        out.push(Message {
            content,
            flags: message.flags,
            mention_role,
            ..Message::default()
        });
    }
    carry_events(out, message)
}

/// The same message with its files' lines posted inline instead (for destinations where
/// the bot lacks Attach Files). The events all count in the last message.
pub(crate) fn without_attachments(message: &Message, use_embeds: bool) -> Vec<Message> {
    let mut packer = pack::Packer::new(message.flags, use_embeds);
    for file in &message.attachments {
        for line in file.text.lines() {
            packer.push_line(&escape::code_block(line), 0);
        }
    }
    carry_events(packer.finish(), message)
}

/// The replacement messages of `message`, never none, with all its events on the last one
/// (they count as delivered only when the whole replacement is).
fn carry_events(mut out: Vec<Message>, message: &Message) -> Vec<Message> {
    if out.is_empty() {
        out.push(Message {
            content: "(empty)".into(),
            flags: message.flags,
            ..Message::default()
        });
    }
    if let Some(last) = out.last_mut() {
        last.events = message.events;
    }
    out
}

/// Puts the label in front of attachment summaries.
fn label_contents(messages: &mut [Message], label: Option<&str>) {
    if let Some(label) = label {
        let label = escape::markdown(&truncate(label, pack::LABEL_MAX / 2));
        for m in messages {
            m.content = format!("-# {label}\n{}", m.content);
        }
    }
}

/// Splits `text` into pieces of at most `max` code points, never inside a character.
pub fn split_chars(text: &str, max: usize) -> Vec<&str> {
    let max = max.max(1);
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut count = 0;
    for (i, _) in text.char_indices() {
        if count == max {
            pieces.push(&text[start..i]);
            start = i;
            count = 0;
        }
        count += 1;
    }
    if start < text.len() || pieces.is_empty() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// At most `max` code points, with `…` when cut.
fn truncate(text: &str, max: usize) -> String {
    if char_len(text) <= max {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests;
