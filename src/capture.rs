//! What the layer queues for one event: a small, owned capture that the flusher turns into
//! a [`Record`].
//!
//! Every event writes its capture whole into a queue slot that nobody has touched since the
//! flusher last drained it, so the capture's size is what the hot path pays in memory
//! traffic: queueing this instead of a 256-byte record took the analytics event in the
//! hot-path bench from 184-203 ns to 151-171 ns (alternating runs). A
//! [`Captured`] is 80 bytes. It keeps the callsite's metadata by pointer
//! (level, target, file, line and field names are all there, for free) and writes the
//! message and field values into one byte buffer: per field its index in the callsite and
//! its value, a number as its eight bytes and text as a length and its bytes. Everything
//! else (names, number digits, the `log` crate's origin) is worked out on the flusher, in
//! [`Captured::into_record`].

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Level, Metadata};

use crate::number::Number;
use crate::record::Record;
use crate::Class;

/// Tags of the entries in a capture's buffer. Each entry is the tag, the field's index in
/// its callsite (two bytes, little-endian), then the value.
mod tag {
    /// Text: its length in bytes (four, little-endian), then the bytes (UTF-8).
    pub const TEXT: u8 = 0;
    /// A `u64`, `i64` or `f64`: its eight bytes, little-endian.
    pub const U64: u8 = 1;
    pub const I64: u8 = 2;
    pub const F64: u8 = 3;
    /// A boolean, no value bytes.
    pub const TRUE: u8 = 4;
    pub const FALSE: u8 = 5;
}

/// Bytes of an entry before its value.
const HEAD: usize = 3;

thread_local! {
    static NEXT_SEQ: Cell<u64> = const { Cell::new(0) };
}

/// The next sequence number of the calling thread.
fn next_seq() -> u64 {
    NEXT_SEQ.with(|n| {
        let seq = n.get();
        n.set(seq.wrapping_add(1));
        seq
    })
}

/// One event as the layer captured it, on its way through the queue.
pub(crate) struct Captured {
    /// When it was captured: the queue merges its shards by it.
    pub(crate) time: SystemTime,
    /// The capturing thread's count of captures so far: orders one thread's captures whose
    /// `time` ties (coarse clocks) when the queue merges its shards.
    pub(crate) seq: u64,
    body: Body,
    /// The span chain, outermost first, each formatted once when the span was created;
    /// shared with the innermost span, which keeps it for all its events.
    pub(crate) spans: Option<Arc<[Arc<str>]>>,
    pub(crate) class: Class,
    /// The capturing thread's home shard: the buffer goes back to that shard's spares,
    /// where the same thread takes its next one.
    pub(crate) home: u16,
    /// The queue's drain count when it was pushed, wrapping (see `ClassQueue::drain`).
    pub(crate) epoch: u16,
}

enum Body {
    /// A tracing event: its callsite, and its values encoded as the module docs say.
    Event {
        meta: &'static Metadata<'static>,
        values: Vec<u8>,
    },
    /// A record the crate made itself (a panic, the statistics self-report), whose field
    /// names belong to no callsite. Rare, so boxed: it would triple a capture's size.
    Made(Box<Record>),
}

impl Captured {
    /// A capture of `event`, its values written into `values` (an empty buffer, maybe a
    /// spare). The span chain is the layer's to add.
    #[inline]
    pub(crate) fn event(class: Class, event: &Event<'_>, home: u16, mut values: Vec<u8>) -> Self {
        let time = crate::clock::now();
        event.record(&mut Encoder(&mut values));
        Captured {
            time,
            seq: next_seq(),
            body: Body::Event {
                meta: event.metadata(),
                values,
            },
            spans: None,
            class,
            home,
            epoch: 0,
        }
    }

    /// A record made by the crate itself, queued as it is.
    pub(crate) fn made(record: Record) -> Self {
        Captured {
            time: record.time,
            seq: next_seq(),
            class: record.class,
            spans: None,
            body: Body::Made(Box::new(record)),
            home: 0,
            epoch: 0,
        }
    }

    /// The event's level.
    pub(crate) fn level(&self) -> Level {
        match &self.body {
            Body::Event { meta, .. } => *meta.level(),
            Body::Made(record) => record.level,
        }
    }

    /// The record, on the flusher: names looked up, numbers written as text, a `log`
    /// record's origin adopted. Also the value buffer, emptied, for reuse.
    pub(crate) fn into_record(self) -> (Record, Option<Vec<u8>>) {
        let (meta, mut values) = match self.body {
            Body::Made(record) => return (*record, None),
            Body::Event { meta, values } => (meta, values),
        };
        let fields = meta.fields();
        let mut record = Record::capture(
            self.class,
            *meta.level(),
            meta.target(),
            fields.len(),
            String::with_capacity(values.len()),
        );
        record.time = self.time;
        record.file = meta.file();
        record.line = meta.line();
        record.spans = self.spans.map_or_else(Vec::new, |chain| chain.to_vec());
        let name = |index: usize| fields.iter().nth(index).map_or("?", |f| f.name());
        let mut rest = values.as_slice();
        while let Some(entry) = Entry::next(&mut rest) {
            let name = name(entry.index);
            match entry.value {
                Value::Text(text) if name == "message" => {
                    record.write_message(|t| t.push_str(&text));
                }
                Value::Text(text) => record.write_field(name, |t| t.push_str(&text)),
                Value::Number(n) if name == "message" => record.write_message(|t| n.write(t)),
                Value::Number(n) => record.push_number(name, n),
                Value::Bool(b) if name == "message" => {
                    record.write_message(|t| t.push_str(if b { "true" } else { "false" }));
                }
                Value::Bool(b) => record.push_bool(name, b),
            }
        }
        crate::log_records::adopt_origin(&mut record);
        values.clear();
        (record, Some(values))
    }
}

/// A decoded entry of a capture's buffer.
struct Entry<'a> {
    index: usize,
    value: Value<'a>,
}

enum Value<'a> {
    Text(std::borrow::Cow<'a, str>),
    Number(Number),
    Bool(bool),
}

impl<'a> Entry<'a> {
    /// Reads the next entry off the front of `rest`; `None` at the end (or at a buffer cut
    /// short, which the encoder never writes).
    fn next(rest: &mut &'a [u8]) -> Option<Self> {
        let (&[tag, i0, i1], tail) = rest.split_first_chunk::<HEAD>()?;
        let index = usize::from(u16::from_le_bytes([i0, i1]));
        let (value, tail) = match tag {
            tag::TEXT => {
                let (len, tail) = tail.split_first_chunk::<4>()?;
                let len = u32::from_le_bytes(*len) as usize;
                let bytes = tail.get(..len)?;
                // Written from `str`s, so valid; lossy rather than a panic all the same.
                (Value::Text(String::from_utf8_lossy(bytes)), &tail[len..])
            }
            tag::U64 | tag::I64 | tag::F64 => {
                let (bits, tail) = tail.split_first_chunk::<8>()?;
                let bits = u64::from_le_bytes(*bits);
                let number = match tag {
                    tag::U64 => Number::U64(bits),
                    tag::I64 => Number::I64(bits as i64),
                    _ => Number::F64(f64::from_bits(bits)),
                };
                (Value::Number(number), tail)
            }
            tag::TRUE => (Value::Bool(true), tail),
            tag::FALSE => (Value::Bool(false), tail),
            _ => return None,
        };
        *rest = tail;
        Some(Entry { index, value })
    }
}

/// Writes an event's values into its capture's buffer (the `Visit` that
/// [`Captured::event`] passes to `Event::record`). 64-bit numbers, and 128-bit integers that fit in 64 bits, keep their
/// bits; larger ones go through `itoa`, which gives the text `{:?}` would.
struct Encoder<'a>(&'a mut Vec<u8>);

/// The two-byte index of a field in its callsite (tracing's callsites hold at most 32).
fn index_bytes(field: &Field) -> [u8; 2] {
    u16::try_from(field.index())
        .unwrap_or(u16::MAX)
        .to_le_bytes()
}

impl Encoder<'_> {
    #[inline]
    fn number(&mut self, field: &Field, tag: u8, bits: u64) {
        let [i0, i1] = index_bytes(field);
        let b = bits.to_le_bytes();
        self.0
            .extend_from_slice(&[tag, i0, i1, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    }

    fn integer(&mut self, field: &Field, value: impl itoa::Integer) {
        let mut digits = itoa::Buffer::new();
        self.record_str(field, digits.format(value));
    }

    /// A text entry whose value `write` appends; its length is filled in after.
    fn text_with(&mut self, field: &Field, write: impl FnOnce(&mut Vec<u8>)) {
        let [i0, i1] = index_bytes(field);
        self.0.extend_from_slice(&[tag::TEXT, i0, i1, 0, 0, 0, 0]);
        let start = self.0.len();
        write(self.0);
        let len = self.0.len() - start;
        // No value of 4 GiB is captured whole: cut at a character boundary.
        let len = match u32::try_from(len) {
            Ok(len) => len,
            Err(_) => {
                let keep = floor_char_boundary(&self.0[start..], u32::MAX as usize);
                self.0.truncate(start + keep);
                keep as u32
            }
        };
        self.0[start - 4..start].copy_from_slice(&len.to_le_bytes());
    }
}

/// The largest `n <= max` at which `bytes` (UTF-8) can be cut without splitting a character.
fn floor_char_boundary(bytes: &[u8], max: usize) -> usize {
    let mut n = max.min(bytes.len());
    // Continuation bytes are 0b10xx_xxxx.
    while n > 0 && n < bytes.len() && bytes[n] & 0xC0 == 0x80 {
        n -= 1;
    }
    n
}

/// `fmt::Write` into a byte buffer (what `Debug` values are written through).
struct Bytes<'a>(&'a mut Vec<u8>);

impl fmt::Write for Bytes<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl Visit for Encoder<'_> {
    #[inline]
    fn record_str(&mut self, field: &Field, value: &str) {
        // The length is known: written up front, in one reservation.
        let Ok(len) = u32::try_from(value.len()) else {
            return self.text_with(field, |buf| buf.extend_from_slice(value.as_bytes()));
        };
        let [i0, i1] = index_bytes(field);
        let [l0, l1, l2, l3] = len.to_le_bytes();
        self.0.reserve(HEAD + 4 + value.len());
        self.0
            .extend_from_slice(&[tag::TEXT, i0, i1, l0, l1, l2, l3]);
        self.0.extend_from_slice(value.as_bytes());
    }

    #[inline]
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.number(field, tag::U64, value);
    }

    #[inline]
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.number(field, tag::I64, value as u64);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        match u64::try_from(value) {
            Ok(value) => self.record_u64(field, value),
            Err(_) => self.integer(field, value),
        }
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        match i64::try_from(value) {
            Ok(value) => self.record_i64(field, value),
            Err(_) => self.integer(field, value),
        }
    }

    #[inline]
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.number(field, tag::F64, value.to_bits());
    }

    #[inline]
    fn record_bool(&mut self, field: &Field, value: bool) {
        let [i0, i1] = index_bytes(field);
        let tag = if value { tag::TRUE } else { tag::FALSE };
        self.0.extend_from_slice(&[tag, i0, i1]);
    }

    #[inline]
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text_with(field, |buf| {
            // Writing into a buffer cannot fail; a failing `Debug` leaves what it wrote.
            let _ = fmt::write(&mut Bytes(buf), format_args!("{value:?}"));
        });
    }
}

#[cfg(test)]
impl From<Captured> for Record {
    fn from(captured: Captured) -> Record {
        captured.into_record().0
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Mutex;

    use tracing_subscriber::layer::{Context, SubscriberExt as _};
    use tracing_subscriber::Layer;

    use super::*;

    /// Keeps a capture of every event, as the layer makes them (a new buffer each).
    struct Keep(Arc<Mutex<Vec<Captured>>>);

    impl<S: tracing_core::Subscriber> Layer<S> for Keep {
        fn on_event(&self, event: &tracing_core::Event<'_>, _: Context<'_, S>) {
            let captured = Captured::event(Class::Log, event, 0, Vec::new());
            self.0.lock().unwrap().push(captured);
        }
    }

    /// The captures of the events `emit` emits on this thread.
    pub(crate) fn captures(emit: impl FnOnce()) -> Vec<Captured> {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Keep(Arc::clone(&kept)));
        tracing::subscriber::with_default(subscriber, emit);
        let captures = std::mem::take(&mut *kept.lock().unwrap());
        captures
    }

    fn record(emit: impl FnOnce()) -> Record {
        let mut captures = captures(emit);
        assert_eq!(captures.len(), 1);
        captures.remove(0).into()
    }

    #[test]
    fn every_kind_of_value_comes_back_as_the_text_fmt_would_write() {
        let r = record(|| {
            tracing::warn!(
                target: "my_bot::music",
                user_id = 80_351_110_224_678_912u64,
                delta = -3i64,
                latency_ms = 3.5f64,
                big = u128::MAX,
                small = -5i128,
                cached = true,
                stale = false,
                name = "ann",
                shards = ?[3u8, 4],
                shown = %"é€ text",
                "track {} queued", 7
            )
        });
        assert_eq!(
            (r.level, r.target, r.class),
            (Level::WARN, "my_bot::music", Class::Log)
        );
        assert_eq!(r.file, Some(file!()));
        assert!(r.line.is_some());
        assert_eq!(r.message(), "track 7 queued");
        assert_eq!(
            r.fields().collect::<Vec<_>>(),
            [
                ("user_id", "80351110224678912"),
                ("delta", "-3"),
                ("latency_ms", "3.5"),
                ("big", "340282366920938463463374607431768211455"),
                ("small", "-5"),
                ("cached", "true"),
                ("stale", "false"),
                ("name", "ann"),
                ("shards", "[3, 4]"),
                ("shown", "é€ text"),
            ]
        );
        let typed: Vec<bool> = (0..10).map(|i| r.is_typed(i)).collect();
        assert_eq!(
            typed,
            [true, true, true, false, true, true, true, false, false, false]
        );
    }

    #[test]
    fn a_message_that_is_a_number_or_comes_after_the_fields_is_the_message() {
        let r = record(|| tracing::info!(a = 1u64, message = 42u64));
        assert_eq!(r.message(), "42");
        assert_eq!(r.fields().collect::<Vec<_>>(), [("a", "1")]);
        let r = record(|| tracing::info!(a = "x", message = "late"));
        assert_eq!(r.message(), "late");
        assert_eq!(r.fields().collect::<Vec<_>>(), [("a", "x")]);
    }

    #[test]
    fn the_buffer_comes_back_empty_for_reuse() {
        let captured = captures(|| tracing::info!(k = "some text")).remove(0);
        let (record, buffer) = captured.into_record();
        assert_eq!(record.field("k"), Some("some text"));
        let buffer = buffer.expect("an event's buffer");
        assert!(buffer.is_empty() && buffer.capacity() > 0);
        let made = Captured::made(Record::new(Class::Log, Level::INFO, "t", "m"));
        assert!(made.into_record().1.is_none());
    }

    #[test]
    fn a_capture_stays_at_80_bytes() {
        // What every event writes into its queue slot; see the module docs.
        #[cfg(target_pointer_width = "64")]
        assert_eq!(std::mem::size_of::<Captured>(), 80);
    }

    #[test]
    fn cutting_never_splits_a_character() {
        let s = "aé€"; // 1, 2 and 3 bytes
        let b = s.as_bytes();
        assert_eq!(
            (0..=b.len())
                .map(|m| floor_char_boundary(b, m))
                .collect::<Vec<_>>(),
            [0, 1, 1, 3, 3, 3, 6]
        );
    }

    #[test]
    fn a_buffer_cut_short_decodes_what_is_whole() {
        let mut buf = vec![tag::U64, 1, 0];
        buf.extend_from_slice(&7u64.to_le_bytes());
        buf.extend_from_slice(&[tag::TEXT, 2, 0, 9, 0, 0, 0, b'a']);
        let mut rest = buf.as_slice();
        let first = Entry::next(&mut rest).expect("a whole entry");
        assert_eq!(first.index, 1);
        assert!(matches!(first.value, Value::Number(Number::U64(7))));
        assert!(Entry::next(&mut rest).is_none());
        let mut unknown: &[u8] = &[9, 0, 0];
        assert!(Entry::next(&mut unknown).is_none());
    }
}
