//! Overflow: a batch too big for the channel's rate budget travels as UTF-8 text files with
//! a short summary message, instead of dozens of messages or minutes of delay.

use std::fmt::Write as _;

use tracing_core::Level;

use super::layout::level_name;
use super::pack::{FENCE_CLOSE, FENCE_OPEN};
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
        push_line(&mut files, &line);
    }
    let stamp = first.map(file_stamp).unwrap_or_default();
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
    summary.push_str(
        " · more than the channel's rate limit lets through in time, so the full text is attached",
    );
    let stem = format!("{}-{stamp}", class.name());
    file_messages(&summary, files, (&stem, "txt"), flags, records.len())
}

/// Appends `line` to the last file, or to a new one when it would pass the size limit; a
/// single line over the limit is cut at character boundaries across several files.
pub(crate) fn push_line(files: &mut Vec<String>, line: &str) {
    if files
        .last()
        .is_none_or(|f| !f.is_empty() && f.len() + line.len() > FILE_MAX_BYTES)
    {
        files.push(String::new());
    }
    let mut rest = line;
    while !rest.is_empty() {
        let current = files.last_mut().expect("a file was pushed above");
        let mut cut = rest.len().min(FILE_MAX_BYTES - current.len());
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

/// Files as messages of at most [`FILES_PER_MESSAGE`] attachments, each headed by
/// `summary` (with `(part i/n)` when there are several) and named `stem.ext`, or
/// `stem-NofT.ext` when there are several files. `events` count in the last message.
pub(crate) fn file_messages(
    summary: &str,
    files: Vec<String>,
    (stem, ext): (&str, &str),
    flags: u64,
    events: usize,
) -> Vec<Message> {
    let total = files.len();
    let parts = total.div_ceil(FILES_PER_MESSAGE);
    let mut files = files.into_iter().enumerate();
    (0..parts)
        .map(|i| {
            let mut content = summary.to_owned();
            if parts > 1 {
                let _ = write!(content, " (part {}/{parts})", i + 1);
            }
            let attachments = files
                .by_ref()
                .take(FILES_PER_MESSAGE)
                .map(|(j, text)| {
                    let filename = if total == 1 {
                        format!("{stem}.{ext}")
                    } else {
                        format!("{stem}-{}of{total}.{ext}", j + 1)
                    };
                    Attachment { filename, text }
                })
                .collect();
            Message {
                content,
                attachments,
                flags,
                events: if i + 1 == parts { events } else { 0 },
                ..Message::default()
            }
        })
        .collect()
}

/// Batch messages that were rendered but cannot be posted before the shutdown deadline,
/// folded into as few messages as the file limits allow: their code-block lines (colours
/// removed) in a text file, with a summary. All their events count in the last message.
pub(crate) fn fold(class: Class, messages: &[Message], flags: u64) -> Vec<Message> {
    let events: usize = messages.iter().map(|m| m.events).sum();
    let mut files: Vec<String> = vec![String::new()];
    for m in messages {
        let blocks = std::iter::once(m.content.as_str())
            .chain(m.embeds.iter().filter_map(|e| e.description.as_deref()));
        // A label ("-# shard 1") may stand above the block; it cannot contain a fence.
        let bodies = blocks.filter_map(|b| {
            let at = b.find(FENCE_OPEN)?;
            b[at..].strip_prefix(FENCE_OPEN)?.strip_suffix(FENCE_CLOSE)
        });
        for body in bodies {
            for line in body.split('\n') {
                let line = strip_colours(line);
                let current = files.last_mut().expect("files is never empty");
                if !current.is_empty() && current.len() + line.len() + 1 > FILE_MAX_BYTES {
                    files.push(String::new());
                }
                let current = files.last_mut().expect("files is never empty");
                current.push_str(&line);
                current.push('\n');
            }
        }
    }
    let summary = format!(
        "**{}** · {events} events · too many to post before shutdown, so the text is attached",
        class.name()
    );
    let stem = format!("{}-unsent", class.name());
    file_messages(&summary, files, (&stem, "txt"), flags, events)
}

/// A code-block line without the ANSI colour codes the renderer puts in (`ESC[...m`).
fn strip_colours(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains('\u{1b}') {
        return line.into();
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("\u{1b}[") {
        out.push_str(&rest[..at]);
        let code = &rest[at + 2..];
        match code.find('m') {
            Some(end) if code[..end].bytes().all(|b| b.is_ascii_digit() || b == b';') => {
                rest = &code[end + 1..];
            }
            _ => {
                out.push('\u{1b}');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out.into()
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::super::{block_lines, render_batch, BatchOptions};
    use super::*;

    #[test]
    fn unsent_messages_fold_into_one_file_of_their_lines() {
        let records: Vec<Record> = (0..2_000)
            .map(|i| {
                let mut r = Record::new(Class::Log, Level::WARN, "bot", format!("event {i}"));
                r.time = UNIX_EPOCH + Duration::from_secs(1_764_763_200 + 3_723);
                r
            })
            .collect();
        let options = BatchOptions {
            label: Some("shard 1".into()),
            ..BatchOptions::default()
        };
        let messages = render_batch(Class::Log, &records, &options).messages;
        assert!(messages.len() > 5);
        let folded = super::super::fold_into_attachment(Class::Log, &messages, Some("shard 1"));
        assert_eq!(folded.len(), 1);
        assert_eq!(folded[0].events, 2_000);
        assert_eq!(
            folded[0].content,
            "-# shard 1\n**log** · 2000 events · too many to post before shutdown, so the text is attached"
        );
        assert_eq!(folded[0].attachments[0].filename, "log-unsent.txt");
        let text = &folded[0].attachments[0].text;
        assert_eq!(text.lines().count(), 2_000);
        assert_eq!(text.lines().next(), Some("13:02:03 WARN  bot: event 0"));
        assert!(!text.contains('\u{1b}'));
        // The same lines as the messages carried, in order (labels read through).
        let unlabelled = render_batch(Class::Log, &records, &BatchOptions::default()).messages;
        let expected: Vec<String> = block_lines(&unlabelled)
            .iter()
            .map(|l| strip_colours(l).into_owned())
            .collect();
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
        assert!(folded[0].is_valid());
    }

    #[test]
    fn only_the_renderers_colour_codes_are_removed() {
        assert_eq!(strip_colours("\u{1b}[1;33mnotice\u{1b}[0m x"), "notice x");
        assert_eq!(
            strip_colours("keep \u{1b}[2J and \u{1b}x"),
            "keep \u{1b}[2J and \u{1b}x"
        );
    }
}
