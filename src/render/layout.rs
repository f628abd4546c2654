//! How a batch reads: compact coloured lines for logs and diagnostics, tables for
//! analytics, identical events collapsed into one line with a count.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use tracing_core::Level;

use super::escape::code_block;
use super::pack::Packer;
use super::time::clock_time;
use crate::record::Record;

/// ANSI colour of a level in Discord's `ansi` code blocks (30 grey, 31 red, 32 green,
/// 33 yellow, 34 blue).
fn level_colour(level: Level) -> &'static str {
    match level {
        Level::ERROR => "\u{1b}[31m",
        Level::WARN => "\u{1b}[33m",
        Level::INFO => "\u{1b}[32m",
        Level::DEBUG => "\u{1b}[34m",
        Level::TRACE => "\u{1b}[30m",
    }
}

pub(super) const RESET: &str = "\u{1b}[0m";
pub(super) const BOLD: &str = "\u{1b}[1m";
const NOTICE: &str = "\u{1b}[1;33m";
/// Continuation lines of a multi-line message are indented by this, so they read as part
/// of their event (documented, so it can be undone).
pub const CONTINUATION_INDENT: &str = "    ";
/// A table whose title and column names are longer than this is shown as plain lines.
const HEADER_MAX: usize = 900;
/// A table cell wider than this does not widen its column (it overflows instead).
pub(super) const CELL_MAX: usize = 40;

/// Level names padded to one width, so targets line up.
pub(crate) fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN ",
        Level::INFO => "INFO ",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

/// Events that render identically, collapsed: the first record, how many, and the last time.
pub(crate) struct Entry<'a> {
    pub(crate) record: &'a Record,
    pub(crate) count: usize,
    pub(crate) last: SystemTime,
}

/// What makes two events identical: level, target, message, fields, spans.
type Identity<'a> = (
    Level,
    &'a str,
    (&'a str, usize, &'a [(&'static str, usize)]),
    &'a [std::sync::Arc<str>],
);

/// Collapses identical events (same level, target, message, fields and spans) into their
/// first occurrence, keeping the order of first occurrences.
pub(crate) fn collapse<'a>(records: &[&'a Record]) -> Vec<Entry<'a>> {
    let mut index: HashMap<Identity<'a>, usize> = HashMap::with_capacity(records.len());
    let mut entries: Vec<Entry<'a>> = Vec::with_capacity(records.len());
    for r in records.iter().copied() {
        let key = (r.level, r.target, r.text_key(), r.spans.as_slice());
        match index.get(&key) {
            Some(&i) => {
                entries[i].count += 1;
                entries[i].last = r.time;
            }
            None => {
                index.insert(key, entries.len());
                entries.push(Entry {
                    record: r,
                    count: 1,
                    last: r.time,
                });
            }
        }
    }
    entries
}

/// User text for a log line: escaped, continuation lines indented.
pub fn log_text(text: &str) -> String {
    code_block(text).replace('\n', &format!("\n{CONTINUATION_INDENT}"))
}

/// The suffix of a collapsed line: ` (×37, last 13:04:10)`.
fn repeat_suffix(entry: &Entry<'_>) -> String {
    if entry.count > 1 {
        format!(" (×{}, last {})", entry.count, clock_time(entry.last))
    } else {
        String::new()
    }
}

/// `HH:MM:SS LEVEL target: span: span: message k=v k=v`, the level coloured.
pub(crate) fn log_line(entry: &Entry<'_>) -> String {
    let r = entry.record;
    let mut out = String::with_capacity(64 + r.message().len());
    let _ = write!(
        out,
        "{} {}{}{RESET} {}: ",
        clock_time(r.time),
        level_colour(r.level),
        level_name(r.level),
        log_text(r.target)
    );
    for span in &r.spans {
        out.push_str(&log_text(span));
        out.push_str(": ");
    }
    out.push_str(&log_text(r.message()));
    for (k, v) in r.fields() {
        let _ = write!(out, " {}={}", log_text(k), log_text(v));
    }
    out.push_str(&repeat_suffix(entry));
    out
}

/// A drop notice line, bold yellow.
pub(crate) fn notice_line(text: &str) -> String {
    format!("{NOTICE}{text}{RESET}")
}

/// Logs and diagnostics: one line an entry.
pub(crate) fn pack_lines(packer: &mut Packer, entries: &[Entry<'_>]) {
    for entry in entries {
        packer.push_line(&log_line(entry), entry.count);
    }
}

/// A table cell: escaped, newlines shown as `␊` so a row stays one line.
pub(super) fn cell(text: &str) -> String {
    code_block(text).replace('\n', "\u{240A}")
}

/// Analytics: one table per kind of event (same target, level and message), in order of
/// first appearance; a row an entry; columns are the time and the union of field names.
pub(crate) fn pack_tables(packer: &mut Packer, entries: &[Entry<'_>]) {
    let mut order: Vec<(Level, &str, &str)> = Vec::new();
    let mut groups: HashMap<(Level, &str, &str), Vec<&Entry<'_>>> = HashMap::new();
    for e in entries {
        let key = (e.record.level, e.record.target, e.record.message());
        groups
            .entry(key)
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .push(e);
    }
    for key in order {
        let rows = &groups[&key];
        let (level, target, message) = key;
        // A column per field name; a name an event repeats gets a column per occurrence.
        let mut columns: Vec<(&'static str, usize)> = Vec::new();
        for e in rows {
            for key in occurrences(e.record) {
                if !columns.contains(&key) {
                    columns.push(key);
                }
            }
        }
        let with_spans = rows.iter().any(|e| !e.record.spans.is_empty());
        let with_count = rows.iter().any(|e| e.count > 1);
        let events: usize = rows.iter().map(|e| e.count).sum();
        // Cells, row by row: time, fields..., [context], [count].
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|e| {
                let mut row = vec![clock_time(e.record.time)];
                let keyed: Vec<((&str, usize), &str)> = occurrences(e.record)
                    .into_iter()
                    .zip(e.record.fields().map(|(_, v)| v))
                    .collect();
                for c in &columns {
                    let v = keyed
                        .iter()
                        .find(|(k, _)| k == c)
                        .map_or("-".to_owned(), |(_, v)| cell(v));
                    row.push(v);
                }
                if with_spans {
                    let spans: Vec<String> = e.record.spans.iter().map(|s| cell(s)).collect();
                    row.push(if spans.is_empty() {
                        "-".to_owned()
                    } else {
                        spans.join(" > ")
                    });
                }
                if with_count {
                    row.push(format!("×{}", e.count));
                }
                row
            })
            .collect();
        let mut names: Vec<String> = vec!["time".to_owned()];
        names.extend(columns.iter().map(|(name, nth)| {
            if *nth == 0 {
                cell(name)
            } else {
                format!("{}#{}", cell(name), nth + 1)
            }
        }));
        if with_spans {
            names.push("context".to_owned());
        }
        if with_count {
            names.push("count".to_owned());
        }
        let widths: Vec<usize> = (0..names.len())
            .map(|i| {
                table
                    .iter()
                    .map(|row| super::char_len(&row[i]))
                    .chain(std::iter::once(super::char_len(&names[i])))
                    .filter(|w| *w <= CELL_MAX)
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let title_message = if message.trim().is_empty() {
            "(no message)"
        } else {
            message
        };
        let level_note = if level == Level::INFO {
            String::new()
        } else {
            format!(
                " {}{}{RESET}",
                level_colour(level),
                level_name(level).trim_end()
            )
        };
        let s = if events == 1 { "" } else { "s" };
        let title = format!(
            "{BOLD}{}{RESET}{level_note} · {} · {events} event{s}",
            cell(title_message),
            cell(target)
        );
        let header = format!("{title}\n{}", join_row(&names, &widths));
        if super::char_len(&header) > HEADER_MAX {
            // Too wide to read as a table (and to repeat in every block): plain lines.
            for e in rows {
                packer.push_line(&log_line(e), e.count);
            }
            continue;
        }
        packer.set_header(Some(header));
        for (row, e) in table.iter().zip(rows) {
            packer.push_line(&join_row(row, &widths), e.count);
        }
        packer.set_header(None);
    }
}

/// Cells padded to their column widths, two spaces apart, trailing spaces trimmed.
pub(super) fn join_row(cells: &[String], widths: &[usize]) -> String {
    let mut out = String::new();
    for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
        if i > 0 {
            out.push_str("  ");
        }
        out.push_str(c);
        for _ in super::char_len(c)..*w {
            out.push(' ');
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// Each field's name with how many times the name came before it in the same event.
fn occurrences(record: &Record) -> Vec<(&'static str, usize)> {
    let names: Vec<&'static str> = record.fields().map(|(name, _)| name).collect();
    names
        .iter()
        .enumerate()
        .map(|(i, name)| (*name, names[..i].iter().filter(|n| *n == name).count()))
        .collect()
}
