//! Pure rendering: records in, Discord messages out. No I/O, no clock, no tracing.
//!
//! Every [`Message`] this module returns is within Discord's limits as Discord counts them
//! (Unicode code points, embed text trimmed): content at most 2000, at most 10 embeds,
//! description at most 4096, at most 6000 embed characters per message, field and title
//! limits. Lines are never split unless one line alone exceeds a limit; then each piece is
//! visibly marked. No character is ever split and no message is empty.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use tracing_core::Level;

use crate::record::Record;
use crate::Class;

/// `content` limit in code points (discord-api.md 2.2; the spec's 4000 is the Nitro limit).
pub const CONTENT_MAX: usize = 2000;
/// Rich embeds per message (discord-api.md 2.2).
pub const EMBEDS_MAX: usize = 10;
/// Embed title limit (discord-api.md 2.3).
pub const TITLE_MAX: usize = 256;
/// Embed description limit (discord-api.md 2.3).
pub const DESCRIPTION_MAX: usize = 4096;
/// Embed fields per embed (discord-api.md 2.3).
pub const FIELDS_MAX: usize = 25;
/// Embed field name limit (discord-api.md 2.3).
pub const FIELD_NAME_MAX: usize = 256;
/// Embed field value limit (discord-api.md 2.3).
pub const FIELD_VALUE_MAX: usize = 1024;
/// Embed footer text limit (discord-api.md 2.3).
pub const FOOTER_MAX: usize = 2048;
/// Sum of all embed text in one message (discord-api.md 2.3).
pub const EMBED_TOTAL_MAX: usize = 6000;
/// `SUPPRESS_NOTIFICATIONS` message flag (`1 << 12`, discord-api.md 2.2).
pub const FLAG_SUPPRESS_NOTIFICATIONS: u64 = 1 << 12;
/// Colour of ERROR embeds.
pub const ERROR_COLOR: u32 = 0xE7_4C_3C;

/// Code fence around batch text: "```\n" + body + "\n```".
const FENCE_OPEN: &str = "```\n";
const FENCE_CLOSE: &str = "\n```";
const FENCE_LEN: usize = 8;
/// Longest piece of one line; longer lines are split into marked pieces of this size, which
/// fit in a fresh content block (2000 - 8 for the fence - 4 for the markers).
const PIECE_MAX: usize = CONTENT_MAX - FENCE_LEN - 2 * MARK_LEN;
/// Marks the end of a piece that continues, and the start of a continuation.
pub const CONTINUES: &str = " ↩";
/// See [`CONTINUES`].
pub const CONTINUED: &str = "↪ ";
const MARK_LEN: usize = 2;
/// Longest text of one ERROR embed in the fallback layout, leaving room for its title.
const ERROR_PIECE_MAX: usize = 3900;

/// One Discord message, ready to post.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The `content` text (may be empty when there are embeds).
    pub content: String,
    /// Rich embeds.
    pub embeds: Vec<Embed>,
    /// Message flags (only `SUPPRESS_NOTIFICATIONS` is used).
    pub flags: u64,
    /// How many events end in this message: counted as delivered when Discord accepts it.
    pub events: usize,
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
    /// Characters of embed text in this message (the 6000 total).
    pub fn embed_text_len(&self) -> usize {
        self.embeds.iter().map(Embed::text_len).sum()
    }

    /// The JSON body of Create Message / Execute Webhook, with `allowed_mentions`
    /// `{"parse": []}` so log text never pings anyone.
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
        m.insert("allowed_mentions".into(), json!({ "parse": [] }));
        if self.flags != 0 {
            m.insert("flags".into(), json!(self.flags));
        }
        Value::Object(m)
    }

    /// Whether this message is within every Discord limit and not empty; the renderer's
    /// own invariant, checked by tests and before sending.
    pub fn is_valid(&self) -> bool {
        let has_text =
            !self.content.trim().is_empty() || self.embeds.iter().any(|e| e.text_len() > 0);
        let within =
            |s: &Option<String>, max| s.as_deref().is_none_or(|s| char_len(s.trim()) <= max);
        has_text
            && char_len(&self.content) <= CONTENT_MAX
            && self.embeds.len() <= EMBEDS_MAX
            && self.embed_text_len() <= EMBED_TOTAL_MAX
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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchOptions {
    /// Send with `SUPPRESS_NOTIFICATIONS`.
    pub suppress_notifications: bool,
    /// Events of this class dropped since its last message, and why; shown first.
    pub dropped_since_last: Option<(u64, String)>,
}

/// Counts length as Discord does: Unicode code points.
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// Renders a batch of one class as compact lines in code blocks, packed into as few
/// messages as the limits allow (content first, then up to 10 embeds of 6000 characters).
pub fn render_batch(class: Class, records: &[Record], options: &BatchOptions) -> Vec<Message> {
    let _ = class;
    let mut packer = Packer::new(if options.suppress_notifications {
        FLAG_SUPPRESS_NOTIFICATIONS
    } else {
        0
    });
    if let Some((n, why)) = &options.dropped_since_last {
        if *n > 0 {
            let s = if *n == 1 { "" } else { "s" };
            packer.push_line(
                &format!("!! {n} event{s} dropped since the last message ({why})"),
                false,
            );
        }
    }
    let mut line = String::new();
    for record in records {
        line.clear();
        format_line(record, &mut line);
        packer.push_line(&escape_code_block(&line), true);
    }
    packer.finish()
}

/// Renders ERROR records as red embeds, several to a message when they fit.
pub fn render_errors(records: &[Record]) -> Vec<Message> {
    let mut messages: Vec<Message> = Vec::new();
    let mut current = Message::default();
    for record in records {
        let embeds = error_embeds(record);
        let last = embeds.len() - 1;
        for (i, embed) in embeds.into_iter().enumerate() {
            let len = embed.text_len();
            if current.embeds.len() == EMBEDS_MAX
                || current.embed_text_len() + len > EMBED_TOTAL_MAX
            {
                messages.push(std::mem::take(&mut current));
            }
            current.embeds.push(embed);
            if i == last {
                current.events += 1;
            }
        }
    }
    if !current.embeds.is_empty() {
        messages.push(current);
    }
    messages
}

/// One ERROR as embeds: a single rich embed when it fits, else its full text split over
/// several embeds titled `(i/n)`, so nothing is cut.
fn error_embeds(record: &Record) -> Vec<Embed> {
    let title = truncate(&format!("ERROR {}", record.target), TITLE_MAX);
    let timestamp = Some(iso8601(record.time));
    let mut footer = String::new();
    if let Some(file) = record.file {
        footer.push_str(file);
        if let Some(line) = record.line {
            let _ = write!(footer, ":{line}");
        }
    }
    if !record.spans.is_empty() {
        if !footer.is_empty() {
            footer.push_str(" · ");
        }
        footer.push_str("in ");
        footer.push_str(&record.spans.join(" > "));
    }
    let message = if record.message.trim().is_empty() {
        "(no message)"
    } else {
        &record.message
    };
    let single = Embed {
        title: Some(title.clone()),
        description: Some(message.to_owned()),
        color: Some(ERROR_COLOR),
        fields: record
            .fields
            .iter()
            .map(|(k, v)| {
                let v = if v.trim().is_empty() {
                    "(empty)".to_owned()
                } else {
                    v.clone()
                };
                let inline = char_len(&v) <= 40;
                ((*k).to_owned(), v, inline)
            })
            .collect(),
        footer: (!footer.is_empty()).then(|| footer.clone()),
        timestamp: timestamp.clone(),
    };
    let probe = Message {
        embeds: vec![single.clone()],
        ..Message::default()
    };
    if probe.is_valid() {
        return vec![single];
    }
    // Too big for one embed: the whole text, split at character boundaries.
    let mut text = message.to_owned();
    for (k, v) in &record.fields {
        let _ = write!(text, "\n{k} = {v}");
    }
    if !footer.is_empty() {
        let _ = write!(text, "\n{footer}");
    }
    let pieces = split_chars(&text, ERROR_PIECE_MAX);
    let n = pieces.len();
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| Embed {
            title: Some(truncate(&format!("{title} ({}/{n})", i + 1), TITLE_MAX)),
            description: Some(piece.to_owned()),
            color: Some(ERROR_COLOR),
            fields: Vec::new(),
            footer: None,
            timestamp: timestamp.clone(),
        })
        .collect()
}

/// `HH:MM:SS LEVEL target: span{..}:span: message k=v k=v`.
fn format_line(record: &Record, out: &mut String) {
    out.push_str(&clock_time(record.time));
    let _ = write!(out, " {:>5} {}: ", level_name(record.level), record.target);
    for span in &record.spans {
        out.push_str(span);
        out.push_str(": ");
    }
    out.push_str(&record.message);
    for (k, v) in &record.fields {
        let _ = write!(out, " {k}={v}");
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

/// Keeps text inside a code block: no run of backticks can close the fence (a zero-width
/// space separates them), and control characters other than newline and tab become U+FFFD.
pub fn escape_code_block(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev_backtick = false;
    for c in text.chars() {
        if c == '`' && prev_backtick {
            out.push('\u{200B}');
        }
        prev_backtick = c == '`';
        if c.is_control() && c != '\n' && c != '\t' {
            out.push('\u{FFFD}');
        } else {
            out.push(c);
        }
    }
    out
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

fn truncate(text: &str, max: usize) -> String {
    if char_len(text) <= max {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(max - 1).collect();
        s.push('…');
        s
    }
}

/// Which block of the message the packer is filling.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Content,
    Embed,
}

/// Packs lines into code blocks: the content block, then embed descriptions, then the next
/// message.
struct Packer {
    flags: u64,
    done: Vec<Message>,
    current: Message,
    slot: Slot,
    body: String,
    body_len: usize,
    /// Embed text already committed in the current message.
    embed_total: usize,
}

impl Packer {
    fn new(flags: u64) -> Self {
        Packer {
            flags,
            done: Vec::new(),
            current: Message {
                flags,
                ..Message::default()
            },
            slot: Slot::Content,
            body: String::new(),
            body_len: 0,
            embed_total: 0,
        }
    }

    /// Room for body text in the current slot if it were empty.
    fn slot_capacity(&self) -> usize {
        match self.slot {
            Slot::Content => CONTENT_MAX - FENCE_LEN,
            Slot::Embed => DESCRIPTION_MAX
                .min(EMBED_TOTAL_MAX - self.embed_total)
                .saturating_sub(FENCE_LEN),
        }
    }

    /// Adds one line; `ends_event` counts an event in the message that holds its last piece.
    fn push_line(&mut self, line: &str, ends_event: bool) {
        let len = char_len(line);
        if len <= PIECE_MAX + 2 * MARK_LEN {
            self.push_unit(line, len, ends_event);
            return;
        }
        let pieces = split_chars(line, PIECE_MAX);
        let last = pieces.len() - 1;
        for (i, piece) in pieces.into_iter().enumerate() {
            let mut unit = String::with_capacity(piece.len() + 8);
            if i > 0 {
                unit.push_str(CONTINUED);
            }
            unit.push_str(piece);
            if i < last {
                unit.push_str(CONTINUES);
            }
            let len = char_len(&unit);
            self.push_unit(&unit, len, ends_event && i == last);
        }
    }

    fn push_unit(&mut self, unit: &str, len: usize, ends_event: bool) {
        loop {
            let need = len + usize::from(self.body_len > 0);
            if self.body_len + need <= self.slot_capacity() {
                if self.body_len > 0 {
                    self.body.push('\n');
                }
                self.body.push_str(unit);
                self.body_len += need;
                if ends_event {
                    self.current.events += 1;
                }
                return;
            }
            self.advance(len);
        }
    }

    /// Closes the current block and moves to the next that can hold a unit of `len`: an
    /// embed while the message has embed budget left, else a new message.
    fn advance(&mut self, len: usize) {
        let was_empty = self.body_len == 0;
        self.close_block();
        let embeds_full = self.current.embeds.len() == EMBEDS_MAX;
        let room = EMBED_TOTAL_MAX
            .saturating_sub(self.embed_total)
            .min(DESCRIPTION_MAX);
        if embeds_full || room < len + FENCE_LEN || (was_empty && self.slot == Slot::Embed) {
            self.finish_message();
        } else {
            self.slot = Slot::Embed;
        }
    }

    fn close_block(&mut self) {
        if self.body_len == 0 {
            return;
        }
        let block = format!("{FENCE_OPEN}{}{FENCE_CLOSE}", self.body);
        match self.slot {
            Slot::Content => self.current.content = block,
            Slot::Embed => {
                self.embed_total += self.body_len + FENCE_LEN;
                self.current.embeds.push(Embed {
                    description: Some(block),
                    ..Embed::default()
                });
            }
        }
        self.body.clear();
        self.body_len = 0;
    }

    fn finish_message(&mut self) {
        self.close_block();
        let message = std::mem::replace(
            &mut self.current,
            Message {
                flags: self.flags,
                ..Message::default()
            },
        );
        if !message.content.is_empty() || !message.embeds.is_empty() {
            self.done.push(message);
        }
        self.slot = Slot::Content;
        self.embed_total = 0;
    }

    fn finish(mut self) -> Vec<Message> {
        self.finish_message();
        self.done
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// civil-from-days algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn split_time(time: SystemTime) -> (i64, u32, u32, u32, u32, u32, u32) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400) as u32;
    (
        y,
        mo,
        d,
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis(),
    )
}

/// `HH:MM:SS` in UTC.
pub fn clock_time(time: SystemTime) -> String {
    let (_, _, _, h, m, s, _) = split_time(time);
    format!("{h:02}:{m:02}:{s:02}")
}

/// ISO 8601 in UTC with milliseconds, as Discord's embed `timestamp` expects.
pub fn iso8601(time: SystemTime) -> String {
    let (y, mo, d, h, m, s, ms) = split_time(time);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rec(level: Level, msg: &str) -> Record {
        let mut r = Record::new(Class::Log, level, "bot", msg);
        r.time = UNIX_EPOCH + Duration::from_secs(1_764_763_200 + 3_723);
        r
    }

    fn opts() -> BatchOptions {
        BatchOptions {
            suppress_notifications: true,
            dropped_since_last: None,
        }
    }

    /// Every line of every code block, in order, markers kept.
    fn lines_of(messages: &[Message]) -> Vec<String> {
        let mut out = Vec::new();
        for m in messages {
            let blocks = std::iter::once(m.content.as_str())
                .chain(m.embeds.iter().filter_map(|e| e.description.as_deref()));
            for b in blocks.filter(|b| !b.is_empty()) {
                let body = b
                    .strip_prefix(FENCE_OPEN)
                    .unwrap()
                    .strip_suffix(FENCE_CLOSE)
                    .unwrap();
                out.extend(body.split('\n').map(str::to_owned));
            }
        }
        out
    }

    #[test]
    fn dates_and_times_are_utc() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_763_200_000 + 3_723_045);
        assert_eq!(iso8601(t), "2025-12-03T13:02:03.045Z");
        assert_eq!(clock_time(t), "13:02:03");
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn one_event_is_one_compact_line() {
        let mut r = rec(Level::INFO, "command used");
        r.fields.push(("command", "ping".into()));
        r.spans.push("shard{id=3}".into());
        let out = render_batch(Class::Log, &[r], &opts());
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].content,
            "```\n13:02:03  INFO bot: shard{id=3}: command used command=ping\n```"
        );
        assert_eq!(out[0].events, 1);
        assert_eq!(out[0].flags, FLAG_SUPPRESS_NOTIFICATIONS);
        assert_eq!(
            out[0].to_json(),
            json!({"content": out[0].content, "allowed_mentions": {"parse": []}, "flags": 4096})
        );
    }

    #[test]
    fn nothing_to_say_is_no_message() {
        assert!(render_batch(Class::Log, &[], &opts()).is_empty());
        assert!(render_errors(&[]).is_empty());
    }

    #[test]
    fn many_lines_fill_content_then_embeds_within_limits() {
        let records: Vec<Record> = (0..500)
            .map(|i| {
                rec(
                    Level::INFO,
                    &format!("event number {i:04} {}", "x".repeat(80)),
                )
            })
            .collect();
        let out = render_batch(Class::Log, &records, &opts());
        assert!(out.iter().all(Message::is_valid));
        assert_eq!(out.iter().map(|m| m.events).sum::<usize>(), 500);
        let lines = lines_of(&out);
        assert_eq!(lines.len(), 500);
        for (i, l) in lines.iter().enumerate() {
            assert!(
                l.contains(&format!("event number {i:04} ")),
                "line {i}: {l}"
            );
        }
        // Each line is 118 characters. A message holds 16 lines in content (1992), 34 in a
        // first embed (4088) and 16 in a second (the 1939 left of 6000): 66 lines, so 500
        // lines need 8 messages, which is also the lower bound 500 * 119 / 8000 rounded up.
        assert_eq!(char_len(&lines[0]), 118);
        assert_eq!(out.len(), 8);
        assert_eq!(out[0].events, 66);
        assert_eq!(out[0].embeds.len(), 2);
    }

    #[test]
    fn a_long_line_is_split_at_characters_and_joins_back() {
        let text = format!("{}ý{}", "a".repeat(1999), "b".repeat(100));
        let r = rec(Level::WARN, &text);
        let out = render_batch(Class::Log, std::slice::from_ref(&r), &opts());
        assert!(out.iter().all(Message::is_valid));
        let lines = lines_of(&out);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with(CONTINUES) && lines[1].starts_with(CONTINUED));
        let joined = format!(
            "{}{}",
            lines[0].strip_suffix(CONTINUES).unwrap(),
            lines[1].strip_prefix(CONTINUED).unwrap()
        );
        let mut expected = String::new();
        format_line(&r, &mut expected);
        assert_eq!(joined, expected);
        assert_eq!(out.iter().map(|m| m.events).sum::<usize>(), 1);
    }

    #[test]
    fn backticks_cannot_close_the_fence() {
        let out = render_batch(Class::Log, &[rec(Level::INFO, "a ```rust b ``")], &opts());
        let body = &out[0].content[FENCE_OPEN.len()..out[0].content.len() - FENCE_CLOSE.len()];
        assert!(!body.contains("``"));
        assert_eq!(
            body.replace('\u{200B}', ""),
            "13:02:03  INFO bot: a ```rust b ``"
        );
    }

    #[test]
    fn drops_are_announced_first() {
        let o = BatchOptions {
            suppress_notifications: false,
            dropped_since_last: Some((96, "queue full".into())),
        };
        let out = render_batch(Class::Log, &[rec(Level::INFO, "x")], &o);
        assert_eq!(out[0].content, "```\n!! 96 events dropped since the last message (queue full)\n13:02:03  INFO bot: x\n```");
        assert_eq!((out[0].events, out[0].flags), (1, 0));
    }

    #[test]
    fn an_error_is_a_red_embed_with_fields_and_location() {
        let mut r = rec(Level::ERROR, "database unreachable");
        r.fields.push(("attempt", "3".into()));
        r.spans.push("request{id=7}".into());
        r.file = Some("src/db.rs");
        r.line = Some(42);
        let out = render_errors(&[r]);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].to_json(),
            json!({
                "embeds": [{
                    "type": "rich",
                    "title": "ERROR bot",
                    "description": "database unreachable",
                    "color": ERROR_COLOR,
                    "fields": [{"name": "attempt", "value": "3", "inline": true}],
                    "footer": {"text": "src/db.rs:42 · in request{id=7}"},
                    "timestamp": "2025-12-03T13:02:03.000Z"
                }],
                "allowed_mentions": {"parse": []}
            })
        );
    }

    #[test]
    fn a_5000_character_error_is_split_whole() {
        let text: String = (0..5000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let out = render_errors(&[rec(Level::ERROR, &text)]);
        assert!(out.iter().all(Message::is_valid));
        let joined: String = out
            .iter()
            .flat_map(|m| &m.embeds)
            .filter_map(|e| e.description.clone())
            .collect();
        assert_eq!(joined, text);
        assert_eq!(out.iter().map(|m| m.events).sum::<usize>(), 1);
    }

    #[test]
    fn ten_700_character_errors_stay_under_6000_per_message() {
        let records: Vec<Record> = (0..10)
            .map(|_| rec(Level::ERROR, &"e".repeat(700)))
            .collect();
        let out = render_errors(&records);
        assert_eq!(out.len(), 2);
        assert!(out
            .iter()
            .all(|m| m.is_valid() && m.embed_text_len() <= EMBED_TOTAL_MAX));
        assert_eq!(out.iter().map(|m| m.events).sum::<usize>(), 10);
    }
}
