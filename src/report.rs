//! Aggregation on the flusher thread: span timings into a performance report, analytics
//! events into a rollup. Both use bounded memory however much flows through them, and
//! both render through [`render`], so every report is within Discord's
//! limits like any other message.
//!
//! - [`SpanTimings`]: per span name a fixed-size HDR histogram of durations (microseconds,
//!   1 µs to 1 hour, 2 significant figures: a percentile is at most 1 % above the exact
//!   one), at most [`SpanTimings::max_names`] names with the rest in one `other` row. Its
//!   size is fixed: at most `(max_names + 1) × histogram_bytes()` (about 0.7 MB with the
//!   default 24 names) plus the names themselves.
//! - [`Rollup`]: a count per event message (at most [`ROLLUP_MESSAGES_MAX`], then
//!   `other`), the top values of configured fields (at most [`ROLLUP_VALUES_MAX`] distinct
//!   values tracked per field, then `other`), and the distinct count of configured id
//!   fields (exact up to [`DISTINCT_EXACT_MAX`] values, then an estimate from the
//!   smallest hashes, within about 2 %). Messages and values are kept to
//!   [`ROLLUP_KEY_MAX`] bytes, so a rollup holds at most about
//!   `(ROLLUP_MESSAGES_MAX + fields × ROLLUP_VALUES_MAX) × ROLLUP_KEY_MAX` bytes of keys
//!   (about 1 MB a configured field) whatever the events hold.

use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use crate::record::Record;
use crate::render::{self, Message, ReportOptions};

/// Span names shown in one report by default; the others share an `other` row.
pub const DEFAULT_REPORT_NAMES: usize = 24;
/// The longest duration a histogram tells apart (1 hour); longer spans count as 1 hour in
/// percentiles, but the `max` column is exact.
pub const HISTOGRAM_MAX: Duration = Duration::from_secs(3600);
/// Significant figures of the histograms: values within 1 % share a bucket.
pub const HISTOGRAM_SIGFIG: u8 = 2;
/// Distinct event messages counted in one rollup; the rest share an `other` row.
pub const ROLLUP_MESSAGES_MAX: usize = 256;
/// Distinct values tracked per rollup field in one interval; values first seen after that
/// count as `other`.
pub const ROLLUP_VALUES_MAX: usize = 10_000;
/// Distinct ids counted exactly in one interval; beyond, the count is an estimate.
pub const DISTINCT_EXACT_MAX: usize = 4096;

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, micros(HISTOGRAM_MAX), HISTOGRAM_SIGFIG)
        .expect("constant histogram bounds are valid")
}

/// The timings of one span name over one interval.
struct NameTimings {
    /// Total durations (creation to close) in microseconds.
    histogram: Histogram<u64>,
    total: Duration,
    busy: Duration,
    max: Duration,
    errors: u64,
}

impl NameTimings {
    fn new() -> Self {
        NameTimings {
            histogram: new_histogram(),
            total: Duration::ZERO,
            busy: Duration::ZERO,
            max: Duration::ZERO,
            errors: 0,
        }
    }

    fn record(&mut self, busy: Duration, idle: Duration, error: bool) {
        let total = busy + idle;
        self.histogram.saturating_record(micros(total));
        self.total += total;
        self.busy += busy;
        self.max = self.max.max(total);
        self.errors += u64::from(error);
    }

    fn row(&self, name: String) -> TimingRow {
        let q = |q: f64| Duration::from_micros(self.histogram.value_at_quantile(q));
        TimingRow {
            name,
            count: self.histogram.len(),
            // A percentile is the top of its bucket: never above the exact maximum.
            p50: q(0.50).min(self.max),
            p95: q(0.95).min(self.max),
            p99: q(0.99).min(self.max),
            max: self.max,
            total: self.total,
            busy: self.busy,
            errors: self.errors,
        }
    }
}

/// One row of a performance report: the timings of one span name over an interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimingRow {
    /// The span name (`other` for the names beyond the report's limit).
    pub name: String,
    /// Spans of this name that closed.
    pub count: u64,
    /// Median duration (creation to close), from the histogram.
    pub p50: Duration,
    /// 95th percentile duration.
    pub p95: Duration,
    /// 99th percentile duration.
    pub p99: Duration,
    /// Longest duration, exact.
    pub max: Duration,
    /// Sum of the durations: rows are sorted by it.
    pub total: Duration,
    /// Sum of the busy times (the spans were entered).
    pub busy: Duration,
    /// Spans of this name inside which an ERROR event happened.
    pub errors: u64,
}

/// Span timings of one interval, aggregated per span name in bounded memory.
///
/// ```
/// use std::time::Duration;
/// use tracing_discord::report::SpanTimings;
///
/// let mut t = SpanTimings::new();
/// t.record("command", Duration::from_millis(4), Duration::from_millis(1), false);
/// t.record("command", Duration::from_millis(9), Duration::ZERO, true);
/// let rows = t.rows();
/// assert_eq!((rows[0].count, rows[0].errors), (2, 1));
/// assert_eq!(rows[0].max, Duration::from_millis(9));
/// ```
pub struct SpanTimings {
    names: HashMap<String, NameTimings>,
    other: Option<NameTimings>,
    max_names: usize,
    closes: u64,
}

impl Default for SpanTimings {
    fn default() -> Self {
        SpanTimings::new()
    }
}

impl std::fmt::Debug for SpanTimings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanTimings")
            .field("names", &self.names.len())
            .field("closes", &self.closes)
            .finish_non_exhaustive()
    }
}

impl SpanTimings {
    /// Empty, with room for [`DEFAULT_REPORT_NAMES`] names.
    pub fn new() -> Self {
        SpanTimings::with_max_names(DEFAULT_REPORT_NAMES)
    }

    /// Empty, with room for `max_names` names (at least one); later names share `other`.
    pub fn with_max_names(max_names: usize) -> Self {
        SpanTimings {
            names: HashMap::new(),
            other: None,
            max_names: max_names.max(1),
            closes: 0,
        }
    }

    /// Names this aggregator keeps apart.
    pub fn max_names(&self) -> usize {
        self.max_names
    }

    /// Records one closed span: how long it was entered (`busy`) and the rest of its life
    /// (`idle`), and whether an ERROR happened inside it.
    pub fn record(&mut self, name: &str, busy: Duration, idle: Duration, error: bool) {
        self.closes += 1;
        let full = self.names.len() >= self.max_names;
        let timings = match self.names.get_mut(name) {
            Some(t) => t,
            None if full => self.other.get_or_insert_with(NameTimings::new),
            None => self
                .names
                .entry(name.to_owned())
                .or_insert_with(NameTimings::new),
        };
        timings.record(busy, idle, error);
    }

    /// Spans recorded since the last [`take_rows`](Self::take_rows).
    pub fn closes(&self) -> u64 {
        self.closes
    }

    /// Names kept apart now (at most [`max_names`](Self::max_names)).
    pub fn names(&self) -> usize {
        self.names.len()
    }

    /// Histograms held now (names, plus `other` once used): at most `max_names + 1`.
    pub fn histograms(&self) -> usize {
        self.names.len() + usize::from(self.other.is_some())
    }

    /// Bytes of one histogram's counts; every histogram has this fixed size.
    pub fn histogram_bytes() -> usize {
        new_histogram().distinct_values() * std::mem::size_of::<u64>()
    }

    /// The rows, busiest (largest total time) first, `other` last.
    pub fn rows(&self) -> Vec<TimingRow> {
        let mut rows: Vec<TimingRow> = self
            .names
            .iter()
            .map(|(name, t)| t.row(name.clone()))
            .collect();
        rows.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.name.cmp(&b.name)));
        if let Some(other) = &self.other {
            rows.push(other.row("other".to_owned()));
        }
        rows
    }

    /// The rows, and a fresh start for the next interval.
    pub fn take_rows(&mut self) -> Vec<TimingRow> {
        let rows = self.rows();
        self.names.clear();
        self.other = None;
        self.closes = 0;
        rows
    }

    /// The report of what was recorded (see [`render::render_timings`]); none when no span
    /// closed. Starts the next interval.
    pub fn take_report(
        &mut self,
        from: SystemTime,
        to: SystemTime,
        options: &ReportOptions,
    ) -> Vec<Message> {
        if self.closes == 0 {
            return Vec::new();
        }
        let rows = self.take_rows();
        render::render_timings(&rows, from, to, options)
    }
}

/// How the analytics class is posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnalyticsMode {
    /// Every event as a table row, batched (the default).
    #[default]
    Lines,
    /// Only a rollup per interval: counts per message, top field values, distinct ids.
    /// Events count as delivered when the rollup that counts them is.
    Rollup,
    /// Both the rows and the rollup.
    Both,
}

impl AnalyticsMode {
    /// `lines`, `rollup` or `both`.
    pub fn name(self) -> &'static str {
        match self {
            AnalyticsMode::Lines => "lines",
            AnalyticsMode::Rollup => "rollup",
            AnalyticsMode::Both => "both",
        }
    }

    /// Parses `lines`, `rollup` or `both` (any case).
    pub fn parse(text: &str) -> Option<Self> {
        [
            AnalyticsMode::Lines,
            AnalyticsMode::Rollup,
            AnalyticsMode::Both,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(text.trim()))
    }

    /// Whether events are posted as rows.
    pub fn lines(self) -> bool {
        self != AnalyticsMode::Rollup
    }

    /// Whether a rollup is posted.
    pub fn rollup(self) -> bool {
        self != AnalyticsMode::Lines
    }
}

/// Longest key a rollup keeps, in bytes: a longer message or value is cut (at a character
/// boundary, marked `…`), so that memory is bounded by size as well as by count. Keys that
/// agree in their first [`ROLLUP_KEY_MAX`] bytes count together.
pub const ROLLUP_KEY_MAX: usize = 100;

fn bounded_key(key: &str) -> std::borrow::Cow<'_, str> {
    if key.len() <= ROLLUP_KEY_MAX {
        return key.into();
    }
    let mut cut = ROLLUP_KEY_MAX;
    while !key.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &key[..cut]).into()
}

/// Counts per key, at most `max` keys; keys first seen after that count as `other`.
#[derive(Debug, Clone, Default)]
struct BoundedCounts {
    counts: HashMap<String, u64>,
    other: u64,
    max: usize,
}

impl BoundedCounts {
    fn new(max: usize) -> Self {
        BoundedCounts {
            max,
            ..BoundedCounts::default()
        }
    }

    fn add(&mut self, key: &str) {
        let key = bounded_key(key);
        let key = key.as_ref();
        if let Some(n) = self.counts.get_mut(key) {
            *n += 1;
        } else if self.counts.len() < self.max {
            self.counts.insert(key.to_owned(), 1);
        } else {
            self.other += 1;
        }
    }

    /// The `top` largest counts (ties by key), and everything else summed.
    fn top(&self, top: usize) -> (Vec<(String, u64)>, u64, usize) {
        let mut all: Vec<(&String, &u64)> = self.counts.iter().collect();
        all.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let shown: Vec<(String, u64)> = all
            .iter()
            .take(top)
            .map(|(k, n)| ((*k).clone(), **n))
            .collect();
        let rest: u64 = all.iter().skip(top).map(|(_, n)| **n).sum::<u64>() + self.other;
        (shown, rest, self.counts.len())
    }
}

/// Distinct values: exact while at most [`DISTINCT_EXACT_MAX`], then estimated from the
/// `DISTINCT_EXACT_MAX` smallest 64-bit hashes (the k-minimum-values estimate).
#[derive(Debug, Clone, Default)]
struct Distinct {
    smallest: BTreeSet<u64>,
    estimated: bool,
}

impl Distinct {
    fn add(&mut self, value: &str) {
        // `DefaultHasher::new()` has fixed keys: the same value always hashes alike.
        let mut h = std::hash::DefaultHasher::new();
        value.hash(&mut h);
        let hash = h.finish();
        if self.smallest.insert(hash) && self.smallest.len() > DISTINCT_EXACT_MAX {
            self.smallest.pop_last();
            self.estimated = true;
        }
    }

    /// The count, and whether it is an estimate.
    fn count(&self) -> (u64, bool) {
        match (self.estimated, self.smallest.last()) {
            (true, Some(&kth)) => {
                let fraction = (kth as f64 + 1.0) / 2f64.powi(64);
                (
                    ((DISTINCT_EXACT_MAX - 1) as f64 / fraction).round() as u64,
                    true,
                )
            }
            _ => (self.smallest.len() as u64, false),
        }
    }
}

/// One field's section of a rollup: its top values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTop {
    /// The field's name.
    pub field: String,
    /// The most frequent values and their counts, most frequent first.
    pub top: Vec<(String, u64)>,
    /// Events with this field whose value is not among `top`.
    pub other: u64,
    /// Distinct values seen (at most [`ROLLUP_VALUES_MAX`]).
    pub values: usize,
}

/// What a rollup says about one interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupSummary {
    /// Events rolled up.
    pub events: u64,
    /// Events per message, most frequent first (at most [`ROLLUP_MESSAGES_MAX`]).
    pub messages: Vec<(String, u64)>,
    /// Events whose message is not in `messages`.
    pub other_messages: u64,
    /// The top values of each configured field.
    pub fields: Vec<FieldTop>,
    /// Distinct values of each configured id field: name, count, whether estimated.
    pub distinct: Vec<(String, u64, bool)>,
    /// The first and last event's time.
    pub from: Option<SystemTime>,
    /// See `from`.
    pub to: Option<SystemTime>,
}

/// Analytics events of one interval, rolled up in bounded memory.
///
/// ```
/// use tracing_core::Level;
/// use tracing_discord::{report::Rollup, Class, Record};
///
/// let mut rollup = Rollup::new(vec!["command".into()], vec!["user_id".into()], 10);
/// for (command, user) in [("ping", 1), ("ping", 2), ("play", 1)] {
///     let r = Record::new(Class::Analytics, Level::INFO, "analytics", "command used")
///         .with_field("command", command)
///         .with_field("user_id", user);
///     rollup.add(&r);
/// }
/// let s = rollup.take_summary();
/// assert_eq!(s.messages, [("command used".to_owned(), 3)]);
/// assert_eq!(s.fields[0].top, [("ping".to_owned(), 2), ("play".to_owned(), 1)]);
/// assert_eq!(s.distinct, [("user_id".to_owned(), 2, false)]);
/// ```
#[derive(Debug, Clone)]
pub struct Rollup {
    top: usize,
    events: u64,
    messages: BoundedCounts,
    fields: Vec<(String, BoundedCounts)>,
    distinct: Vec<(String, Distinct)>,
    from: Option<SystemTime>,
    to: Option<SystemTime>,
}

impl Rollup {
    /// A rollup of the top `top` values of `fields` and the distinct count of `distinct`.
    pub fn new(fields: Vec<String>, distinct: Vec<String>, top: usize) -> Self {
        Rollup {
            top: top.max(1),
            events: 0,
            messages: BoundedCounts::new(ROLLUP_MESSAGES_MAX),
            fields: fields
                .into_iter()
                .map(|f| (f, BoundedCounts::new(ROLLUP_VALUES_MAX)))
                .collect(),
            distinct: distinct
                .into_iter()
                .map(|f| (f, Distinct::default()))
                .collect(),
            from: None,
            to: None,
        }
    }

    /// Counts one event.
    pub fn add(&mut self, record: &Record) {
        self.events += 1;
        self.from = Some(self.from.map_or(record.time, |f| f.min(record.time)));
        self.to = Some(self.to.map_or(record.time, |t| t.max(record.time)));
        let message = record.message().trim();
        self.messages.add(if message.is_empty() {
            "(no message)"
        } else {
            message
        });
        for (name, counts) in &mut self.fields {
            if let Some(v) = record.field(name) {
                counts.add(v);
            }
        }
        for (name, distinct) in &mut self.distinct {
            if let Some(v) = record.field(name) {
                distinct.add(v);
            }
        }
    }

    /// Events counted since the last [`take_summary`](Self::take_summary).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// What the interval held, and a fresh start for the next.
    pub fn take_summary(&mut self) -> RollupSummary {
        let (messages, other_messages, _) = self.messages.top(ROLLUP_MESSAGES_MAX);
        let summary = RollupSummary {
            events: self.events,
            messages,
            other_messages,
            fields: self
                .fields
                .iter()
                .map(|(name, counts)| {
                    let (top, other, values) = counts.top(self.top);
                    FieldTop {
                        field: name.clone(),
                        top,
                        other,
                        values,
                    }
                })
                .collect(),
            distinct: self
                .distinct
                .iter()
                .map(|(name, d)| {
                    let (n, estimated) = d.count();
                    (name.clone(), n, estimated)
                })
                .collect(),
            from: self.from,
            to: self.to,
        };
        *self = Rollup::new(
            self.fields.drain(..).map(|(n, _)| n).collect(),
            self.distinct.drain(..).map(|(n, _)| n).collect(),
            self.top,
        );
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_core::Level;

    /// The exact nearest-rank percentile, as hdrhistogram ranks: the value at rank
    /// `ceil(q × n)` of the sorted samples.
    fn exact(sorted: &[u64], q: f64) -> u64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted[rank - 1]
    }

    /// A deterministic spread of durations in microseconds: a long tail over six decades.
    fn durations(n: usize) -> Vec<u64> {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let decade = 10u64.pow((x % 6) as u32);
                decade + (x >> 8) % (decade * 9)
            })
            .collect()
    }

    #[test]
    fn percentiles_match_exact_ones_within_the_stated_precision() {
        for n in [1, 2, 7, 100, 1000, 12_345] {
            let samples = durations(n);
            let mut t = SpanTimings::new();
            for &us in &samples {
                t.record("work", Duration::from_micros(us), Duration::ZERO, false);
            }
            let mut sorted = samples.clone();
            sorted.sort_unstable();
            let rows = t.rows();
            assert_eq!(rows.len(), 1);
            let row = &rows[0];
            assert_eq!(row.count, n as u64);
            assert_eq!(row.max, Duration::from_micros(*sorted.last().unwrap()));
            assert_eq!(
                row.total,
                Duration::from_micros(samples.iter().sum::<u64>())
            );
            for (q, got) in [(0.5, row.p50), (0.95, row.p95), (0.99, row.p99)] {
                let want = exact(&sorted, q);
                let got = u64::try_from(got.as_micros()).unwrap();
                // Never below the exact value, at most 1 % (2 significant figures) above.
                assert!(
                    got >= want && got as f64 <= want as f64 * 1.01,
                    "n={n} q={q}: exact {want} µs, reported {got} µs"
                );
            }
        }
    }

    #[test]
    fn small_values_are_exact() {
        let mut t = SpanTimings::new();
        for us in 1..=100u64 {
            t.record("s", Duration::from_micros(us), Duration::ZERO, us % 10 == 0);
        }
        let row = &t.rows()[0];
        let us = |d: Duration| d.as_micros();
        assert_eq!(
            (us(row.p50), us(row.p95), us(row.p99), us(row.max)),
            (50, 95, 99, 100)
        );
        assert_eq!(row.errors, 10);
    }

    #[test]
    fn a_million_closes_over_many_names_keep_a_fixed_size() {
        let mut t = SpanTimings::with_max_names(24);
        let mut sizes = Vec::new();
        for i in 0..1_000_000u64 {
            let name = format!("span{}", i % 1000);
            t.record(
                &name,
                Duration::from_micros(i % 50_000),
                Duration::ZERO,
                false,
            );
            if i % 100_000 == 99_999 {
                sizes.push(t.histograms());
            }
        }
        // 24 names and `other`, from the first hundred thousand on.
        assert_eq!(sizes, [25; 10]);
        assert_eq!(t.names(), 24);
        assert_eq!(t.closes(), 1_000_000);
        // Every histogram has the same fixed size: 25 of them are the whole bound.
        assert_eq!(SpanTimings::histogram_bytes(), 26_624);
        let rows = t.rows();
        assert_eq!(rows.len(), 25);
        assert_eq!(rows.last().unwrap().name, "other");
        assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), 1_000_000);
        assert_eq!(rows.last().unwrap().count, 976_000);
        let report = t.take_report(
            SystemTime::UNIX_EPOCH,
            SystemTime::UNIX_EPOCH,
            &ReportOptions::default(),
        );
        assert!(!report.is_empty() && report.iter().all(Message::is_valid));
        assert_eq!(
            report.iter().map(|m| m.events).sum::<usize>(),
            1_000_000,
            "the report counts every close"
        );
        assert_eq!((t.closes(), t.histograms()), (0, 0));
        assert!(t
            .take_report(
                SystemTime::UNIX_EPOCH,
                SystemTime::UNIX_EPOCH,
                &ReportOptions::default()
            )
            .is_empty());
    }

    fn event(message: &str, command: &str, user: u64) -> Record {
        Record::new(Class::Analytics, Level::INFO, "analytics", message)
            .with_field("command", command)
            .with_field("user_id", user)
    }

    use crate::Class;

    #[test]
    fn rollup_counts_top_values_with_other_and_distinct_ids() {
        let mut r = Rollup::new(vec!["command".into()], vec!["user_id".into()], 2);
        let commands = ["ping", "ping", "ping", "play", "play", "skip", "help"];
        for (i, c) in commands.iter().enumerate() {
            r.add(&event("command used", c, (i % 3) as u64));
        }
        r.add(&Record::new(
            Class::Analytics,
            Level::INFO,
            "analytics",
            "guild joined",
        ));
        let s = r.take_summary();
        assert_eq!(s.events, 8);
        assert_eq!(
            s.messages,
            [
                ("command used".to_owned(), 7),
                ("guild joined".to_owned(), 1)
            ]
        );
        assert_eq!(s.other_messages, 0);
        let f = &s.fields[0];
        assert_eq!(f.top, [("ping".to_owned(), 3), ("play".to_owned(), 2)]);
        assert_eq!((f.other, f.values), (2, 4));
        assert_eq!(s.distinct, [("user_id".to_owned(), 3, false)]);
        assert_eq!(r.events(), 0, "taking starts a new interval");
    }

    #[test]
    fn distinct_counts_are_exact_then_estimated_within_a_few_percent() {
        let mut d = Distinct::default();
        for i in 0..DISTINCT_EXACT_MAX {
            d.add(&i.to_string());
            d.add(&i.to_string());
        }
        assert_eq!(d.count(), (DISTINCT_EXACT_MAX as u64, false));
        for i in DISTINCT_EXACT_MAX..200_000 {
            d.add(&i.to_string());
        }
        let (n, estimated) = d.count();
        assert!(estimated);
        assert!((n as f64 - 200_000.0).abs() < 200_000.0 * 0.05, "{n}");
        assert_eq!(d.smallest.len(), DISTINCT_EXACT_MAX);
    }

    /// "Both use bounded memory however much flows through them": the rollup bounds how
    /// many values it keeps (256 messages, 10,000 values a field), but keeps each whole, so
    /// long values (a query's text, a stack of user input) pin their full size: 20 distinct
    /// 1 MiB values of a rollup field hold 20 MiB until the interval ends (10,000 would
    /// hold 10 GiB).
    #[test]
    fn rollup_memory_is_bounded_whatever_the_size_of_values() {
        let mut r = Rollup::new(vec!["query".into()], Vec::new(), 10);
        for i in 0..20 {
            let value = format!("{i:04}{}", "x".repeat(1 << 20));
            let message = format!("{i:04}{}", "m".repeat(1 << 20));
            r.add(
                &Record::new(Class::Analytics, Level::INFO, "analytics", message)
                    .with_field("query", value),
            );
        }
        let kept: usize = r.messages.counts.keys().map(String::len).sum::<usize>()
            + r.fields[0].1.counts.keys().map(String::len).sum::<usize>();
        assert!(
            kept <= 1 << 20,
            "the rollup keeps {kept} bytes of values for 40 distinct keys"
        );
    }

    #[test]
    fn bounded_counts_send_late_keys_to_other() {
        let mut c = BoundedCounts::new(2);
        for k in ["a", "b", "c", "a", "d"] {
            c.add(k);
        }
        assert_eq!(c.top(10), (vec![("a".into(), 2), ("b".into(), 1)], 2, 2));
    }
}
