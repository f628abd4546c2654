//! Overflow: a batch too big for the channel's rate budget travels as UTF-8 text files with
//! a short summary message, instead of dozens of messages or minutes of delay.

use std::fmt::Write as _;

use tracing_core::Level;

use super::layout::level_name;
use super::time::{clock_time, file_stamp, full_time};
use super::{Attachment, Message};
use crate::record::Record;
use crate::Class;

/// Bytes of one file: under Discord's 10 MiB per-file limit (Discord's API documentation; the project's discord-api.md 2.2), with room.
pub(crate) const FILE_MAX_BYTES: usize = 8 * 1024 * 1024;
/// Files per message: 3 × 8 MiB stays under the 25 MiB request limit (Discord's API documentation; the project's discord-api.md 2.2).
pub(crate) const FILES_PER_MESSAGE: usize = 3;

/// One line of the file: full date and time, level, target, spans, message, fields.
/// Nothing is escaped: a file renders no markdown.
fn file_line(r: &Record, out: &mut String) {
    let _ = write!(
        out,
        "{} {} {}: ",
        full_time(r.time),
        level_name(r.level),
        r.target
    );
    for span in &r.spans {
        out.push_str(span);
        out.push_str(": ");
    }
    out.push_str(r.message());
    for (k, v) in r.fields() {
        let _ = write!(out, " {k}={v}");
    }
    out.push('\n');
}

/// The batch as files plus summary messages. `notice` (dropped events) leads the summary.
pub(crate) fn render(
    class: Class,
    records: &[&Record],
    notice: Option<&str>,
    flags: u64,
) -> Vec<Message> {
    let first = records.first().map(|r| r.time);
    let last = records.last().map(|r| r.time);
    let mut files: Vec<String> = vec![String::new()];
    let mut line = String::new();
    for r in records {
        line.clear();
        file_line(r, &mut line);
        let current = files.last_mut().expect("files is never empty");
        if !current.is_empty() && current.len() + line.len() > FILE_MAX_BYTES {
            files.push(String::new());
        }
        // A single line over the limit is cut at a character boundary into several files.
        let mut rest = line.as_str();
        while !rest.is_empty() {
            let current = files.last_mut().expect("files is never empty");
            let room = FILE_MAX_BYTES - current.len();
            let mut cut = rest.len().min(room);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            current.push_str(&rest[..cut]);
            rest = &rest[cut..];
            if !rest.is_empty() {
                files.push(String::new());
            }
        }
    }
    let stamp = first.map(file_stamp).unwrap_or_default();
    let total = files.len();
    let errors = records.iter().filter(|r| r.level == Level::ERROR).count();
    let warnings = records.iter().filter(|r| r.level == Level::WARN).count();
    let mut summary = String::new();
    if let Some(n) = notice {
        let _ = writeln!(summary, "⚠️ {n}");
    }
    let _ = write!(summary, "**{}** · {} events", class.name(), records.len());
    if let (Some(f), Some(l)) = (first, last) {
        let _ = write!(summary, " from {} to {} UTC", clock_time(f), clock_time(l));
    }
    if errors + warnings > 0 {
        let _ = write!(summary, " · {errors} ERROR, {warnings} WARN");
    }
    summary.push_str(" · too many for the channel's rate limit, so the full text is attached");
    let mut messages = Vec::new();
    let chunks: Vec<Vec<String>> = files
        .chunks(FILES_PER_MESSAGE)
        .map(<[String]>::to_vec)
        .collect();
    let parts = chunks.len();
    for (i, chunk) in chunks.into_iter().enumerate() {
        let mut content = summary.clone();
        if parts > 1 {
            let _ = write!(content, " (part {}/{parts})", i + 1);
        }
        let attachments = chunk
            .into_iter()
            .enumerate()
            .map(|(j, text)| {
                let n = i * FILES_PER_MESSAGE + j + 1;
                let filename = if total == 1 {
                    format!("{}-{stamp}.txt", class.name())
                } else {
                    format!("{}-{stamp}-{n}of{total}.txt", class.name())
                };
                Attachment { filename, text }
            })
            .collect();
        messages.push(Message {
            content,
            attachments,
            flags,
            events: if i + 1 == parts { records.len() } else { 0 },
            ..Message::default()
        });
    }
    messages
}

/// Splits a message with files Discord refused (too big, or rejected) into two: the files
/// in halves, or one file's lines in halves. Events are shared out by lines.
pub(crate) fn halve(message: &Message) -> Option<(Message, Message)> {
    let (first, second): (Vec<Attachment>, Vec<Attachment>) = if message.attachments.len() >= 2 {
        let half = message.attachments.len() / 2;
        (
            message.attachments[..half].to_vec(),
            message.attachments[half..].to_vec(),
        )
    } else {
        let file = &message.attachments[0];
        let lines: Vec<&str> = file.text.split_inclusive('\n').collect();
        if lines.len() < 2 {
            return None;
        }
        let half = lines.len() / 2;
        let part = |range: &[&str], n: usize| Attachment {
            filename: file.filename.replace(".txt", &format!("-part{n}.txt")),
            text: range.concat(),
        };
        (vec![part(&lines[..half], 1)], vec![part(&lines[half..], 2)])
    };
    let lines = |files: &[Attachment]| files.iter().map(|f| f.text.lines().count()).sum::<usize>();
    let (a, b) = (lines(&first), lines(&second));
    let first_events = (message.events * a).checked_div(a + b).unwrap_or(0);
    let make =
        |attachments: Vec<Attachment>, events: usize, content: String, mention_role| Message {
            content,
            attachments,
            flags: message.flags,
            mention_role,
            events,
            ..Message::default()
        };
    Some((
        make(
            first,
            first_events,
            message.content.clone(),
            message.mention_role,
        ),
        make(
            second,
            message.events - first_events,
            "(continued)".to_owned(),
            None,
        ),
    ))
}
