//! Reports a bot team reads: the performance report of span timings, the analytics rollup,
//! and analytics events as a JSON Lines file. Packed like every batch (code blocks, then
//! embeds, then the next message), so they keep every Discord limit however many rows or
//! however long the names.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use super::attach;
use super::layout::{cell, join_row, level_name, BOLD, CELL_MAX, RESET};
use super::pack::Packer;
use super::time::{clock_time, file_stamp};
use super::{char_len, iso8601, label_contents, Message, FLAG_SUPPRESS_NOTIFICATIONS};
use crate::record::Record;
use crate::report::{RollupSummary, TimingRow};

/// Options of a report rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOptions {
    /// Send with `SUPPRESS_NOTIFICATIONS`.
    pub suppress_notifications: bool,
    /// Whether embeds may carry text (false where Discord strips them: no Embed Links).
    pub use_embeds: bool,
    /// Shown above each message (a shard or host name), at most 32 characters.
    pub label: Option<String>,
    /// Whether the report's rows count as the events they summarise (delivered when the
    /// report is): span closes always; analytics events when only the rollup is posted.
    pub counts_events: bool,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            suppress_notifications: true,
            use_embeds: true,
            label: None,
            counts_events: true,
        }
    }
}

impl ReportOptions {
    fn packer(&self) -> Packer {
        let flags = if self.suppress_notifications {
            FLAG_SUPPRESS_NOTIFICATIONS
        } else {
            0
        };
        let mut packer = Packer::new(flags, self.use_embeds);
        packer.set_label(self.label.as_deref());
        packer
    }

    fn events(&self, n: u64) -> usize {
        if self.counts_events {
            usize::try_from(n).unwrap_or(usize::MAX)
        } else {
            0
        }
    }
}

/// A duration in human units, about three significant figures: `850µs`, `12.4ms`,
/// `1.25s`, `95.0s`, `3600s`.
pub fn human_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1000 {
        return format!("{us}µs");
    }
    // 999.7 ms would print as "1000ms": such values are shown in seconds.
    let (value, unit) = if us < 999_500 {
        (us as f64 / 1000.0, "ms")
    } else {
        (d.as_secs_f64(), "s")
    };
    // Chosen by the rounded text: 9.996 rounds to "10.00", which takes one decimal less.
    for (limit, decimals) in [(10.0, 2), (100.0, 1)] {
        let text = format!("{value:.decimals$}");
        if text.parse::<f64>().is_ok_and(|v| v < limit) {
            return format!("{text}{unit}");
        }
    }
    format!("{value:.0}{unit}")
}

/// Column widths: the widest cell of each column, cells wider than a table cell allows
/// overflowing rather than widening it.
fn widths(names: &[String], table: &[Vec<String>]) -> Vec<usize> {
    (0..names.len())
        .map(|i| {
            table
                .iter()
                .map(|row| char_len(&row[i]))
                .chain(std::iter::once(char_len(&names[i])))
                .filter(|w| *w <= CELL_MAX)
                .max()
                .unwrap_or(0)
        })
        .collect()
}

fn span_of_time(from: SystemTime, to: SystemTime) -> String {
    format!("{} to {} UTC", clock_time(from), clock_time(to))
}

/// The last line of a performance report: what its `busy` column means.
pub const BUSY_LEGEND: &str =
    "busy: share of the spans' lifetime spent running (entered), not waiting";

/// The performance report: per span name the count, p50, p95, p99 and max duration, the
/// share of time the spans were busy (entered) and how many saw an ERROR; rows in the
/// given order (busiest first), then [`BUSY_LEGEND`] (once, after the last row).
/// `from`..`to` is the interval it covers. Each row counts its spans as events when
/// `options.counts_events`.
pub fn render_timings(
    rows: &[TimingRow],
    from: SystemTime,
    to: SystemTime,
    options: &ReportOptions,
) -> Vec<Message> {
    if rows.is_empty() {
        return Vec::new();
    }
    let closes: u64 = rows.iter().map(|r| r.count).sum();
    let names: Vec<String> = [
        "span", "count", "p50", "p95", "p99", "max", "busy", "errors",
    ]
    .map(str::to_owned)
    .to_vec();
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let busy = if r.total.is_zero() {
                "-".to_owned()
            } else {
                format!(
                    "{:.0}%",
                    r.busy.as_secs_f64() * 100.0 / r.total.as_secs_f64()
                )
            };
            vec![
                cell(&r.name),
                r.count.to_string(),
                human_duration(r.p50),
                human_duration(r.p95),
                human_duration(r.p99),
                human_duration(r.max),
                busy,
                r.errors.to_string(),
            ]
        })
        .collect();
    let widths = widths(&names, &table);
    let s = if closes == 1 { "" } else { "s" };
    let title = format!(
        "{BOLD}performance{RESET} · {closes} span{s} closed · {}",
        span_of_time(from, to)
    );
    let mut packer = options.packer();
    packer.set_header(Some(format!("{title}\n{}", join_row(&names, &widths))));
    for (line, row) in table.iter().zip(rows) {
        packer.push_line(&join_row(line, &widths), options.events(row.count));
    }
    // Not a row: a block it would start alone needs no column names.
    packer.set_header(None);
    packer.push_line(BUSY_LEGEND, 0);
    packer.finish()
}

/// The analytics rollup: events per message, the top values of each configured field with
/// the rest as `other`, and distinct counts of id fields. The per-message rows count the
/// events when `options.counts_events`.
pub fn render_rollup(summary: &RollupSummary, options: &ReportOptions) -> Vec<Message> {
    if summary.events == 0 {
        return Vec::new();
    }
    let mut packer = options.packer();
    let s = if summary.events == 1 { "" } else { "s" };
    let mut title = format!(
        "{BOLD}analytics rollup{RESET} · {} event{s}",
        summary.events
    );
    if let (Some(from), Some(to)) = (summary.from, summary.to) {
        let _ = write!(title, " · {}", span_of_time(from, to));
    }
    packer.push_line(&title, 0);
    let table =
        |packer: &mut Packer, heading: String, column: &str, rows: Vec<(String, u64, usize)>| {
            let names = vec![column.to_owned(), "events".to_owned()];
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|(k, n, _)| vec![cell(k), n.to_string()])
                .collect();
            let widths = widths(&names, &cells);
            packer.set_header(Some(format!("{heading}\n{}", join_row(&names, &widths))));
            for (line, (_, _, events)) in cells.iter().zip(&rows) {
                packer.push_line(&join_row(line, &widths), *events);
            }
            packer.set_header(None);
        };
    let mut rows: Vec<(String, u64, usize)> = summary
        .messages
        .iter()
        .map(|(m, n)| (m.clone(), *n, options.events(*n)))
        .collect();
    if summary.other_messages > 0 {
        rows.push((
            "other".to_owned(),
            summary.other_messages,
            options.events(summary.other_messages),
        ));
    }
    table(
        &mut packer,
        format!("{BOLD}events by message{RESET}"),
        "message",
        rows,
    );
    for field in &summary.fields {
        let mut rows: Vec<(String, u64, usize)> =
            field.top.iter().map(|(v, n)| (v.clone(), *n, 0)).collect();
        if field.other > 0 {
            rows.push(("other".to_owned(), field.other, 0));
        }
        if rows.is_empty() {
            packer.push_line(
                &format!("{}: no event had this field", cell(&field.field)),
                0,
            );
            continue;
        }
        let heading = format!(
            "{BOLD}{}{RESET} · top {} of {} value{}",
            cell(&field.field),
            field.top.len(),
            field.values,
            if field.values == 1 { "" } else { "s" }
        );
        table(&mut packer, heading, "value", rows);
    }
    for (name, n, estimated) in &summary.distinct {
        let about = if *estimated { "about " } else { "" };
        packer.push_line(
            &format!("{BOLD}{}{RESET} · {about}{n} distinct", cell(name)),
            0,
        );
    }
    packer.finish()
}

/// One analytics event as a JSON object: `time` (RFC 3339, UTC), `level`, `target`,
/// `message`, `fields` (name to value: a JSON boolean for a field the event recorded as a
/// `bool`, a JSON number for one recorded as a number that every JSON reader holds exactly,
/// text otherwise) and `spans` (outermost
/// first). Integers beyond ±(2⁵³ − 1), such as Discord ids, stay text, as Discord sends
/// its ids: JavaScript and many other readers would round them.
pub fn jsonl_line(record: &Record) -> String {
    let mut fields = Map::new();
    for (i, (name, value)) in record.fields().enumerate() {
        // A name an event repeats keeps its first value, as `Record::field` does.
        fields.entry(name.to_owned()).or_insert_with(|| {
            if !record.is_typed(i) {
                return Value::from(value);
            }
            match value {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => json_number(value).map_or_else(|| Value::from(value), Value::Number),
            }
        });
    }
    let spans: Vec<&str> = record.spans.iter().map(|s| &**s).collect();
    json!({
        "time": iso8601(record.time),
        "level": level_name(record.level).trim_end(),
        "target": record.target,
        "message": record.message(),
        "fields": fields,
        "spans": spans,
    })
    .to_string()
}

/// The largest integer every JSON reader holds exactly (2⁵³ − 1, a double's integer range).
const JSON_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The JSON number a number field's text stands for, when every reader holds it exactly:
/// an integer within ±(2⁵³ − 1), or a finite float (a double already; NaN and infinities
/// have no JSON number). Parsed by the standard library, which rounds correctly:
/// serde_json's own float parsing is a bit off for many values unless its
/// `float_roundtrip` feature is on.
fn json_number(text: &str) -> Option<serde_json::Number> {
    if let Ok(u) = text.parse::<u64>() {
        return (u <= JSON_SAFE_INTEGER).then(|| u.into());
    }
    if let Ok(i) = text.parse::<i64>() {
        return (i.unsigned_abs() <= JSON_SAFE_INTEGER).then(|| i.into());
    }
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
}

/// Analytics events as JSON Lines files (one object per event, see [`jsonl_line`]) with a
/// short message: files of at most 8 MiB cut between lines, at most three a message (the
/// limits every attachment here keeps). The messages carry no events: the rows or the
/// rollup posted beside them count those.
pub fn render_jsonl(records: &[Record], options: &ReportOptions) -> Vec<Message> {
    let Some(first) = records.first() else {
        return Vec::new();
    };
    let mut files: Vec<String> = vec![String::new()];
    for r in records {
        let mut line = jsonl_line(r);
        line.push('\n');
        attach::push_line(&mut files, &line);
    }
    let stamp = file_stamp(first.time);
    let flags = if options.suppress_notifications {
        FLAG_SUPPRESS_NOTIFICATIONS
    } else {
        0
    };
    let s = if records.len() == 1 { "" } else { "s" };
    let summary = format!(
        "**analytics** · {} event{s} as JSON Lines (one object per event)",
        records.len()
    );
    let stem = format!("analytics-{stamp}");
    // No events: the rows or the rollup posted beside them count those.
    let mut messages = attach::file_messages(&summary, files, (&stem, "jsonl"), flags, 0);
    label_contents(&mut messages, options.label.as_deref());
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_performance_report_ends_with_the_legend_of_its_busy_column() {
        let ms = Duration::from_millis;
        let row = |name: &str, count, busy, total, errors| TimingRow {
            name: name.to_owned(),
            count,
            p50: ms(4),
            p95: ms(9),
            p99: ms(9),
            max: ms(9),
            total: ms(total),
            busy: ms(busy),
            errors,
        };
        let rows = [
            row("command", 2, 13, 26, 1),
            row("db_query", 1, 1, 4, 0),
            row("idle", 1, 0, 0, 0),
        ];
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(13 * 3600 + 57 * 60);
        let messages = render_timings(&rows, t, t, &ReportOptions::default());
        assert_eq!(messages.len(), 1);
        assert_eq!(
            messages[0].content,
            "```ansi\n\u{1b}[1mperformance\u{1b}[0m · 4 spans closed · 13:57:00 to 13:57:00 UTC\n\
             span      count  p50     p95     p99     max     busy  errors\n\
             command   2      4.00ms  9.00ms  9.00ms  9.00ms  50%   1\n\
             db_query  1      4.00ms  9.00ms  9.00ms  9.00ms  25%   0\n\
             idle      1      4.00ms  9.00ms  9.00ms  9.00ms  -     0\n\
             busy: share of the spans' lifetime spent running (entered), not waiting\n```"
        );
        assert_eq!(messages[0].events, 4);
    }

    #[test]
    fn json_lines_keep_numbers_and_booleans_as_such_and_the_rest_as_text() {
        use crate::number::Number;
        use crate::Class;
        use tracing_core::Level;
        let mut r = Record::capture(Class::Analytics, Level::INFO, "analytics", 9, String::new());
        r.write_message(|t| t.push_str("command handled"));
        r.push_number("user_id", Number::U64(80_351_110_224_678_912));
        r.push_number("count", Number::U64((1 << 53) - 1));
        r.push_number("delta", Number::I64(-3));
        r.push_number("latency_ms", Number::F64(3.5));
        r.push_number("ratio", Number::F64(f64::NAN));
        r.write_field("command", |t| t.push_str("42"));
        r.push_bool("cached", true);
        r.write_field("flag", |t| t.push_str("false"));
        r.time = SystemTime::UNIX_EPOCH;
        let line: Value = serde_json::from_str(&jsonl_line(&r)).expect("one JSON object");
        assert_eq!(
            line["fields"],
            json!({
                "user_id": "80351110224678912",
                "count": 9_007_199_254_740_991u64,
                "delta": -3,
                "latency_ms": 3.5,
                "ratio": "NaN",
                "command": "42",
                "cached": true,
                "flag": "false",
            })
        );
    }

    /// A float field's JSON number is the float the event recorded, to the last bit. These
    /// values come out one bit off through serde_json's default float parsing. Its
    /// `float_roundtrip` feature parses them right, and `jsonschema`, a dev-dependency,
    /// turns it on in test builds: with it removed from Cargo.toml, this fails on
    /// parsing with serde_json, as a user's build (without dev-dependencies) does.
    #[test]
    fn json_lines_keep_every_bit_of_a_float() {
        use crate::number::Number;
        use crate::Class;
        use tracing_core::Level;
        let values = [
            398_056.857_142_857_16,
            104_501.285_714_285_71,
            927_770.714_285_714_3,
            -1.819_967_304_027_17e-179,
            1.586_084_611_999_269_7e-265,
        ];
        for v in values {
            let mut r =
                Record::capture(Class::Analytics, Level::INFO, "analytics", 1, String::new());
            r.push_number("v", Number::F64(v));
            // The number as written: serde_json would read it back through the parsing
            // under test.
            let line = jsonl_line(&r);
            let text = line
                .split_once(r#""v":"#)
                .and_then(|(_, rest)| rest.split([',', '}']).next())
                .expect("field v");
            // Read back with the standard library's correctly rounded parser.
            assert_eq!(
                text.parse::<f64>().map(f64::to_bits),
                Ok(v.to_bits()),
                "{v:?} as {text}"
            );
        }
    }

    /// Like 999.7 ms (which reads 1.00s, not 1000ms), a value that rounds up to the next
    /// decade must not gain a fourth figure: 9.996 ms is 10.0ms, not 10.00ms.
    #[test]
    fn durations_rounding_up_to_the_next_decade_keep_three_figures() {
        let cases = [
            (Duration::from_micros(9_996), "10.0ms"),
            (Duration::from_micros(99_960), "100ms"),
            (Duration::from_millis(9_996), "10.0s"),
            (Duration::from_millis(99_960), "100s"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn durations_read_in_human_units_with_about_three_figures() {
        let cases = [
            (Duration::ZERO, "0µs"),
            (Duration::from_nanos(999), "0µs"),
            (Duration::from_micros(850), "850µs"),
            (Duration::from_micros(999), "999µs"),
            (Duration::from_micros(1000), "1.00ms"),
            (Duration::from_micros(12_449), "12.4ms"),
            (Duration::from_micros(250_000), "250ms"),
            (Duration::from_micros(999_499), "999ms"),
            (Duration::from_micros(999_700), "1.00s"),
            (Duration::from_millis(1250), "1.25s"),
            (Duration::from_secs(95), "95.0s"),
            (Duration::from_secs(3600), "3600s"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "{d:?}");
        }
    }
}
