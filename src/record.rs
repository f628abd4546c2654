//! The owned event: everything the renderer needs, captured on the application thread
//! and completed on the flusher.
//!
//! A [`Record`] borrows nothing from the event it came from. Static metadata (target,
//! file, field names) stays `&'static str`: tracing keeps it alive forever, so keeping it
//! costs nothing. The layer does not queue records but smaller captures
//! ([`crate::capture`]) that the flusher turns into records as it drains.
//!
//! The message and every field value share one text buffer, and field names sit in a
//! small index beside it, inside the record for up to four fields.

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::SystemTime;

use smallvec::SmallVec;
use tracing_core::Level;

use crate::number::Number;
use crate::Class;

/// Field names and where their values end; most events have at most four fields.
type FieldIndex = SmallVec<[(&'static str, u64); 4]>;

/// One captured tracing event.
///
/// The message and field values are read with [`Record::message`], [`Record::fields`] and
/// [`Record::field`]; a record made by hand (tests, tools feeding the renderer) starts
/// with [`Record::new`] and gains fields with [`Record::with_field`].
#[derive(Clone)]
#[non_exhaustive]
pub struct Record {
    /// When the event was captured (wall clock).
    pub time: SystemTime,
    /// The event's level.
    pub level: Level,
    /// The event's target (`analytics`, `my_bot::commands`, ...).
    pub target: &'static str,
    /// The class the layer routed the event to.
    pub class: Class,
    /// The span chain, outermost first, each formatted once when the span was created.
    pub spans: Vec<Arc<str>>,
    /// Source file, when the callsite recorded it.
    pub file: Option<&'static str>,
    /// Source line, when the callsite recorded it.
    pub line: Option<u32>,
    /// The message, then each field value, back to back.
    text: String,
    /// Where the message ends in `text`.
    message_end: usize,
    /// Each field's name and where its value ends in `text` (it starts where the previous
    /// value ended).
    fields: FieldIndex,
    /// Which of the first 32 fields were recorded as numbers or booleans, one bit a field:
    /// their text is a JSON literal's (for JSON output).
    typed: u32,
}

impl Record {
    /// A record with the given essentials and no fields, spans or location; for tests,
    /// benches and tools that feed the renderer directly.
    pub fn new(
        class: Class,
        level: Level,
        target: &'static str,
        message: impl Into<String>,
    ) -> Self {
        let mut record = Record::capture(class, level, target, 0, message.into());
        record.time = SystemTime::now();
        record.message_end = record.text.len();
        record
    }

    /// An empty record to fill, dated at the Unix epoch: room for `fields` field names, and
    /// `text` (empty) for the message and values.
    pub(crate) fn capture(
        class: Class,
        level: Level,
        target: &'static str,
        fields: usize,
        text: String,
    ) -> Self {
        Record {
            time: SystemTime::UNIX_EPOCH,
            level,
            target,
            class,
            spans: Vec::new(),
            file: None,
            line: None,
            text,
            message_end: 0,
            fields: FieldIndex::with_capacity(fields),
            typed: 0,
        }
    }

    /// The `message` field (empty when the event had none).
    pub fn message(&self) -> &str {
        &self.text[..self.message_end]
    }

    /// Every other field, `(name, value)`, in the order the event recorded them.
    pub fn fields(&self) -> Fields<'_> {
        Fields {
            record: self,
            next: 0,
        }
    }

    /// The value of the first field called `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Whether the event had fields besides its message.
    pub fn has_fields(&self) -> bool {
        !self.fields.is_empty()
    }

    /// Adds a field after the existing ones.
    pub fn with_field(mut self, name: &'static str, value: impl fmt::Display) -> Self {
        self.push_field(name, value);
        self
    }

    /// Adds a field after the existing ones.
    pub fn push_field(&mut self, name: &'static str, value: impl fmt::Display) {
        // Writing into a String cannot fail; a failing `Display` leaves what it wrote.
        self.write_field(name, |text| {
            let _ = write!(text, "{value}");
        });
    }

    /// Appends to the message with `write`. The message usually arrives first (tracing's
    /// macros record it first) and is written in place; one recorded after fields is
    /// written aside and inserted before them.
    pub(crate) fn write_message(&mut self, write: impl FnOnce(&mut String)) {
        if self.fields.is_empty() {
            write(&mut self.text);
            self.message_end = self.text.len();
        } else {
            let mut late = String::new();
            write(&mut late);
            self.text.insert_str(self.message_end, &late);
            self.message_end += late.len();
            for (_, end) in &mut self.fields {
                *end += late.len() as u64;
            }
        }
    }

    /// Adds field `name` with the value `write` appends.
    pub(crate) fn write_field(&mut self, name: &'static str, write: impl FnOnce(&mut String)) {
        write(&mut self.text);
        self.fields.push((name, self.text.len() as u64));
    }

    /// Adds field `name` holding `number`, written as `{:?}` would write it.
    pub(crate) fn push_number(&mut self, name: &'static str, number: Number) {
        self.mark_typed();
        self.write_field(name, |text| number.write(text));
    }

    /// Marks the next field as a number or boolean (see [`Record::is_typed`]).
    fn mark_typed(&mut self) {
        let i = self.fields.len();
        if i < 32 {
            self.typed |= 1 << i;
        }
    }

    /// Adds field `name` holding a boolean (`true` or `false`, a JSON literal).
    pub(crate) fn push_bool(&mut self, name: &'static str, value: bool) {
        self.mark_typed();
        self.write_field(name, |text| {
            text.push_str(if value { "true" } else { "false" })
        });
    }

    /// Whether field `i` (in [`Record::fields`] order) was recorded as a number or a
    /// boolean, so that its text is a JSON literal (a float's `NaN` and infinities aside).
    /// Redacted values are text.
    pub(crate) fn is_typed(&self, i: usize) -> bool {
        i < 32 && self.typed & (1 << i) != 0
    }

    /// The message and fields as one key: two records with equal keys have the same
    /// message and the same fields in the same order.
    pub(crate) fn text_key(&self) -> (&str, usize, &[(&'static str, u64)]) {
        (&self.text, self.message_end, &self.fields)
    }

    /// Rewrites the message and each field value with `f` (`None` keeps the text); for
    /// redaction, which runs on the flusher.
    pub(crate) fn rewrite(
        &mut self,
        mut f: impl FnMut(Option<&'static str>, &str) -> Option<String>,
    ) {
        let message = f(None, self.message());
        let values: Vec<Option<String>> = self.fields().map(|(n, v)| f(Some(n), v)).collect();
        if message.is_none() && values.iter().all(Option::is_none) {
            return;
        }
        let mut text = String::with_capacity(self.text.len());
        text.push_str(message.as_deref().unwrap_or(self.message()));
        let message_end = text.len();
        let mut fields = FieldIndex::with_capacity(self.fields.len());
        let mut typed = self.typed;
        for (i, ((name, value), new)) in self.fields().zip(&values).enumerate() {
            text.push_str(new.as_deref().unwrap_or(value));
            fields.push((name, text.len() as u64));
            if new.is_some() && i < 32 {
                typed &= !(1 << i);
            }
        }
        self.typed = typed;
        self.text = text;
        self.message_end = message_end;
        self.fields = fields;
    }
}

impl Record {
    /// Removes the fields whose name `remove` picks (on the flusher).
    pub(crate) fn remove_fields(&mut self, remove: impl Fn(&str) -> bool) {
        if !self.fields().any(|(name, _)| remove(name)) {
            return;
        }
        let mut text = String::with_capacity(self.text.len());
        text.push_str(self.message());
        let mut fields = FieldIndex::with_capacity(self.fields.len());
        let mut typed = 0;
        for (i, (name, value)) in self.fields().enumerate() {
            if remove(name) {
                continue;
            }
            if self.is_typed(i) && fields.len() < 32 {
                typed |= 1 << fields.len();
            }
            text.push_str(value);
            fields.push((name, text.len() as u64));
        }
        self.typed = typed;
        self.text = text;
        self.fields = fields;
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("time", &self.time)
            .field("level", &self.level)
            .field("target", &self.target)
            .field("class", &self.class)
            .field("message", &self.message())
            .field("fields", &self.fields().collect::<Vec<_>>())
            .field("spans", &self.spans)
            .field("file", &self.file)
            .field("line", &self.line)
            .finish()
    }
}

/// The fields of a [`Record`], `(name, value)`, in order; from [`Record::fields`].
#[derive(Clone)]
pub struct Fields<'a> {
    record: &'a Record,
    next: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = (&'static str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let fields = &self.record.fields;
        let &(name, end) = fields.get(self.next)?;
        let start = match self.next {
            0 => self.record.message_end,
            i => fields[i - 1].1 as usize,
        };
        self.next += 1;
        Some((name, &self.record.text[start..end as usize]))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.record.fields.len() - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Fields<'_> {}

impl fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_and_fields_share_one_buffer() {
        let r = Record::new(Class::Log, Level::INFO, "t", "hello")
            .with_field("a", 1)
            .with_field("b", "")
            .with_field("c", "three");
        assert_eq!(r.message(), "hello");
        let fields: Vec<_> = r.fields().collect();
        assert_eq!(fields, [("a", "1"), ("b", ""), ("c", "three")]);
        assert_eq!(r.fields().len(), 3);
        assert_eq!(r.field("c"), Some("three"));
        assert_eq!(r.field("z"), None);
    }

    #[test]
    fn a_message_recorded_after_fields_goes_before_them() {
        let mut r = Record::capture(Class::Log, Level::INFO, "t", 2, String::new());
        r.write_field("a", |t| t.push('1'));
        r.write_message(|t| t.push_str("late"));
        r.write_field("b", |t| t.push('2'));
        r.write_message(|t| t.push('!'));
        assert_eq!(r.message(), "late!");
        let fields: Vec<_> = r.fields().collect();
        assert_eq!(fields, [("a", "1"), ("b", "2")]);
    }

    #[test]
    fn numbers_and_a_late_message_land_between_the_text_fields() {
        let mut r = Record::capture(Class::Log, Level::INFO, "t", 5, String::new());
        r.write_field("a", |t| t.push_str("one"));
        r.push_number("b", Number::F64(3.5));
        r.push_number("c", Number::I64(-2));
        r.write_message(|t| t.push_str("late"));
        r.write_field("d", |t| t.push_str("four"));
        r.push_number("e", Number::U64(42));
        assert_eq!(r.message(), "late");
        let fields: Vec<_> = r.fields().collect();
        assert_eq!(
            fields,
            [
                ("a", "one"),
                ("b", "3.5"),
                ("c", "-2"),
                ("d", "four"),
                ("e", "42")
            ]
        );
        let numbers: Vec<_> = (0..5).map(|i| r.is_typed(i)).collect();
        assert_eq!(numbers, [false, true, true, false, true]);
        r.rewrite(|name, _| (name == Some("c")).then(|| "[redacted]".to_owned()));
        let numbers: Vec<_> = (0..5).map(|i| r.is_typed(i)).collect();
        assert_eq!(numbers, [false, true, false, false, true]);
    }

    #[test]
    fn removed_fields_leave_the_others_and_their_kinds() {
        let mut r = Record::capture(Class::Log, Level::INFO, "log", 4, String::new());
        r.write_message(|t| t.push('m'));
        r.write_field("log.target", |t| t.push_str("my_bot::db"));
        r.push_number("n", Number::U64(7));
        r.write_field("log.file", |t| t.push_str("src/db.rs"));
        r.push_bool("ok", true);
        r.remove_fields(|name| name.starts_with("log."));
        assert_eq!(r.message(), "m");
        assert_eq!(r.fields().collect::<Vec<_>>(), [("n", "7"), ("ok", "true")]);
        assert_eq!((r.is_typed(0), r.is_typed(1)), (true, true));
    }

    #[test]
    fn rewrite_replaces_only_what_changed() {
        let mut r = Record::new(Class::Log, Level::INFO, "t", "token=abc")
            .with_field("password", "hunter2")
            .with_field("user", "ann");
        r.rewrite(|name, value| match name {
            None => Some(value.replace("abc", "***")),
            Some("password") => Some("[redacted]".into()),
            Some(_) => None,
        });
        assert_eq!(r.message(), "token=***");
        let fields: Vec<_> = r.fields().collect();
        assert_eq!(fields, [("password", "[redacted]"), ("user", "ann")]);
    }
}
