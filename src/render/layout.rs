//! How a batch reads: compact coloured lines for logs and diagnostics, tables for
//! analytics, identical events collapsed into one line with a count.

use std::collections::hash_map::{Entry as Slot, HashMap};
use std::fmt::Write as _;
use std::time::SystemTime;

use tracing_core::Level;

use super::escape::push_code_block;
use super::hash::FastState;
use super::pack::Packer;
use super::time::push_clock_time;
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
/// What a newline of user text becomes in a log line: itself, then the indent.
const LOG_NEWLINE: &str = "\n    ";
/// What a newline of user text becomes in a table cell, so that a row stays one line.
const CELL_NEWLINE: &str = "\u{240A}";
/// A table whose title and column names are longer than this is shown as plain lines.
const HEADER_MAX: usize = 900;
/// A table cell wider than this does not widen its column (it overflows instead).
pub(super) const CELL_MAX: usize = 40;
/// Bytes reserved for the line being written: most lines fit, so it rarely grows.
const LINE_RESERVE: usize = 512;
/// Bytes reserved for a batch's table cells.
const TABLE_RESERVE: usize = 4096;
/// `CELL_MAX` spaces: the most padding a cell takes.
const PADDING: &str = "                                        ";

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
    (&'a str, usize, &'a [(&'static str, u64)]),
    &'a [std::sync::Arc<str>],
);

/// Collapses identical events (same level, target, message, fields and spans) into their
/// first occurrence, keeping the order of first occurrences.
pub(crate) fn collapse<'a>(records: &[&'a Record]) -> Vec<Entry<'a>> {
    let mut index: HashMap<Identity<'a>, usize, FastState> =
        HashMap::with_capacity_and_hasher(records.len(), FastState::new());
    let mut entries: Vec<Entry<'a>> = Vec::with_capacity(records.len());
    for r in records.iter().copied() {
        let key = (r.level, r.target, r.text_key(), r.spans.as_slice());
        match index.entry(key) {
            Slot::Occupied(i) => {
                let entry = &mut entries[*i.get()];
                entry.count += 1;
                entry.last = r.time;
            }
            Slot::Vacant(slot) => {
                slot.insert(entries.len());
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
    let mut out = String::with_capacity(text.len());
    push_code_block(&mut out, text, LOG_NEWLINE);
    out
}

/// Appends the suffix of a collapsed line: ` (×37, last 13:04:10)`.
fn push_repeat_suffix(out: &mut String, entry: &Entry<'_>) {
    if entry.count > 1 {
        let _ = write!(out, " (×{}, last ", entry.count);
        push_clock_time(out, entry.last);
        out.push(')');
    }
}

/// Writes `HH:MM:SS LEVEL target: span: span: message k=v k=v`, the level coloured, into
/// `out` (cleared first).
pub(crate) fn write_log_line(out: &mut String, entry: &Entry<'_>) {
    let r = entry.record;
    out.clear();
    push_clock_time(out, r.time);
    out.push(' ');
    out.push_str(level_colour(r.level));
    out.push_str(level_name(r.level));
    out.push_str(RESET);
    out.push(' ');
    push_code_block(out, r.target, LOG_NEWLINE);
    out.push_str(": ");
    for span in &r.spans {
        push_code_block(out, span, LOG_NEWLINE);
        out.push_str(": ");
    }
    push_code_block(out, r.message(), LOG_NEWLINE);
    for (k, v) in r.fields() {
        out.push(' ');
        push_code_block(out, k, LOG_NEWLINE);
        out.push('=');
        push_code_block(out, v, LOG_NEWLINE);
    }
    push_repeat_suffix(out, entry);
}

/// A drop notice line, bold yellow.
pub(crate) fn notice_line(text: &str) -> String {
    format!("{NOTICE}{text}{RESET}")
}

/// Logs and diagnostics: one line an entry.
pub(crate) fn pack_lines(packer: &mut Packer, entries: &[Entry<'_>]) {
    let mut line = String::with_capacity(LINE_RESERVE);
    for entry in entries {
        write_log_line(&mut line, entry);
        packer.push_line(&line, entry.count);
    }
}

/// Appends a table cell: escaped, newlines shown as `␊` so a row stays one line.
fn push_cell(out: &mut String, text: &str) {
    push_code_block(out, text, CELL_NEWLINE);
}

/// A table cell as a string (for the reports' tables; batches use [`Table`]).
pub(super) fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_cell(&mut out, text);
    out
}

/// The cells of one table, row by row (the column names first), in one text buffer: each
/// cell is where it lies in `text` and how many characters it has. Reused from table to
/// table, so a batch's tables cost a few allocations, not several per cell.
#[derive(Default)]
struct Table {
    text: String,
    /// `(start, end, characters)` of each cell, `columns` to a row.
    cells: Vec<(usize, usize, usize)>,
    columns: usize,
}

impl Table {
    fn clear(&mut self, columns: usize) {
        self.text.clear();
        self.cells.clear();
        self.columns = columns;
    }

    /// Ends the cell that `text` grew by since `start`.
    fn end_cell(&mut self, start: usize) {
        let cell = &self.text[start..];
        // Most cells are ASCII, told apart a word at a time; counting code points of
        // short strings goes byte by byte.
        let chars = if cell.is_ascii() {
            cell.len()
        } else {
            super::char_len(cell)
        };
        self.cells.push((start, self.text.len(), chars));
    }

    fn push_str(&mut self, text: &str) {
        let start = self.text.len();
        self.text.push_str(text);
        self.end_cell(start);
    }

    fn rows(&self) -> std::slice::Chunks<'_, (usize, usize, usize)> {
        self.cells.chunks(self.columns.max(1))
    }

    /// Column widths into `widths`: the widest cell of each column up to [`CELL_MAX`]
    /// characters (a wider cell overflows instead).
    fn widths(&self, widths: &mut Vec<usize>) {
        widths.clear();
        widths.resize(self.columns, 0);
        for row in self.rows() {
            for (w, &(_, _, chars)) in widths.iter_mut().zip(row) {
                if chars <= CELL_MAX && chars > *w {
                    *w = chars;
                }
            }
        }
    }

    /// Writes row `row` into `out` (cleared first): cells padded to their column widths,
    /// two spaces apart, trailing spaces trimmed.
    fn write_row(&self, out: &mut String, row: &[(usize, usize, usize)], widths: &[usize]) {
        out.clear();
        for (i, (&(start, end, chars), &w)) in row.iter().zip(widths).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(&self.text[start..end]);
            // Widths are at most CELL_MAX, so the padding is a slice of PADDING.
            out.push_str(&PADDING[..w.saturating_sub(chars)]);
        }
        out.truncate(out.trim_end().len());
    }
}

/// Cells padded to their column widths, two spaces apart, trailing spaces trimmed (for the
/// reports' tables; batches use [`Table::write_row`]).
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

/// Analytics: one table per kind of event (same target, level and message), in order of
/// first appearance; a row an entry; columns are the time and the union of field names.
pub(crate) fn pack_tables(packer: &mut Packer, entries: &[Entry<'_>]) {
    let mut kinds: Vec<Vec<&Entry<'_>>> = Vec::new();
    let mut index: HashMap<(Level, &str, &str), usize, FastState> =
        HashMap::with_hasher(FastState::new());
    for e in entries {
        let key = (e.record.level, e.record.target, e.record.message());
        let i = *index.entry(key).or_insert_with(|| {
            kinds.push(Vec::new());
            kinds.len() - 1
        });
        kinds[i].push(e);
    }
    let mut table = Table {
        text: String::with_capacity(TABLE_RESERVE),
        cells: Vec::with_capacity(64),
        columns: 0,
    };
    let mut widths = Vec::new();
    let mut columns: Vec<(&'static str, usize)> = Vec::new();
    let mut keyed: Vec<((&'static str, usize), &str)> = Vec::new();
    let mut row_ends: Vec<usize> = Vec::new();
    let mut line = String::with_capacity(LINE_RESERVE);
    for rows in &kinds {
        let first = rows[0].record;
        let (level, target, message) = (first.level, first.target, first.message());
        // A column per field name; a name an event repeats gets a column per occurrence.
        // Each row's fields, keyed so, are kept for the cells below (`row_ends` says where
        // each row's end in `keyed`).
        columns.clear();
        keyed.clear();
        row_ends.clear();
        for e in rows {
            let row_start = keyed.len();
            occurrences(e.record, &mut keyed);
            for (key, _) in &keyed[row_start..] {
                if !columns.contains(key) {
                    columns.push(*key);
                }
            }
            row_ends.push(keyed.len());
        }
        let with_spans = rows.iter().any(|e| !e.record.spans.is_empty());
        let with_count = rows.iter().any(|e| e.count > 1);
        let events: usize = rows.iter().map(|e| e.count).sum();
        table.clear(1 + columns.len() + usize::from(with_spans) + usize::from(with_count));
        // The column names: time, fields..., [context], [count].
        table.push_str("time");
        for (name, nth) in &columns {
            let start = table.text.len();
            push_cell(&mut table.text, name);
            if *nth > 0 {
                let _ = write!(table.text, "#{}", nth + 1);
            }
            table.end_cell(start);
        }
        if with_spans {
            table.push_str("context");
        }
        if with_count {
            table.push_str("count");
        }
        // The cells, row by row, in the same order.
        let mut row_start = 0;
        for (e, &row_end) in rows.iter().zip(&row_ends) {
            let start = table.text.len();
            push_clock_time(&mut table.text, e.record.time);
            table.end_cell(start);
            let fields = &keyed[row_start..row_end];
            row_start = row_end;
            for c in &columns {
                let start = table.text.len();
                match fields.iter().find(|(k, _)| k == c) {
                    Some((_, v)) => push_cell(&mut table.text, v),
                    None => table.text.push('-'),
                }
                table.end_cell(start);
            }
            if with_spans {
                let start = table.text.len();
                if e.record.spans.is_empty() {
                    table.text.push('-');
                }
                for (i, span) in e.record.spans.iter().enumerate() {
                    if i > 0 {
                        table.text.push_str(" > ");
                    }
                    push_cell(&mut table.text, span);
                }
                table.end_cell(start);
            }
            if with_count {
                let start = table.text.len();
                let _ = write!(table.text, "×{}", e.count);
                table.end_cell(start);
            }
        }
        table.widths(&mut widths);
        let title_message = if message.trim().is_empty() {
            "(no message)"
        } else {
            message
        };
        // The title, then the column names: `message [LEVEL] · target · N events`.
        let mut table_rows = table.rows();
        let names = table_rows.next().unwrap_or_default();
        table.write_row(&mut line, names, &widths);
        let mut header =
            String::with_capacity(title_message.len() + target.len() + line.len() + 48);
        header.push_str(BOLD);
        push_cell(&mut header, title_message);
        header.push_str(RESET);
        if level != Level::INFO {
            header.push(' ');
            header.push_str(level_colour(level));
            header.push_str(level_name(level).trim_end());
            header.push_str(RESET);
        }
        header.push_str(" · ");
        push_cell(&mut header, target);
        header.push_str(" · ");
        header.push_str(itoa::Buffer::new().format(events));
        header.push_str(if events == 1 { " event\n" } else { " events\n" });
        header.push_str(&line);
        if super::char_len(&header) > HEADER_MAX {
            // Too wide to read as a table (and to repeat in every block): plain lines.
            for e in rows {
                write_log_line(&mut line, e);
                packer.push_line(&line, e.count);
            }
            continue;
        }
        packer.set_header(Some(header));
        for (row, e) in table_rows.zip(rows) {
            table.write_row(&mut line, row, &widths);
            packer.push_line(&line, e.count);
        }
        packer.set_header(None);
    }
}

/// Appends each field's name with how many times the name came before it in the same
/// event, and its value, to `out`.
fn occurrences<'a>(record: &'a Record, out: &mut Vec<((&'static str, usize), &'a str)>) {
    let start = out.len();
    for (name, value) in record.fields() {
        let nth = out[start..].iter().filter(|((n, _), _)| *n == name).count();
        out.push(((name, nth), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newline_replacements_match_the_documented_indent() {
        assert_eq!(LOG_NEWLINE, format!("\n{CONTINUATION_INDENT}"));
        assert_eq!(PADDING, " ".repeat(CELL_MAX));
        assert_eq!(log_text("a\nb``c"), "a\n    b`\u{200B}`c");
        let mut cell = String::new();
        push_cell(&mut cell, "a\nb");
        assert_eq!(cell, "a\u{240A}b");
    }
}
