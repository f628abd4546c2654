//! Records of the `log` crate, as `tracing-log` hands them on: every record of one level
//! comes through one callsite whose target is `log`, with the record's own target, file
//! and line as `log.*` fields. The layer reads those fields first, so that such a record is
//! classified, ignored and shown under its own target, as a `tracing` event would be.
//!
//! A [`Record`](crate::record::Record) names its target and file with `&'static str`
//! (free to capture for `tracing` events); a `log` record's are borrowed, so they are
//! interned: each distinct string is kept once for the life of the program, at most
//! [`INTERNED_MAX`] of them.

use std::collections::HashSet;
use std::sync::RwLock;

use once_cell::sync::Lazy;
use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Metadata};

/// Distinct targets and file names kept at most: a program that makes up targets at run
/// time cannot grow memory without bound. Past it, records show the `log` target.
pub(crate) const INTERNED_MAX: usize = 4096;

static INTERNED: Lazy<RwLock<HashSet<&'static str>>> = Lazy::new(|| RwLock::new(HashSet::new()));

/// `s`, kept for the life of the program; `None` when the interner is full, or busy with
/// another thread's insertion (the application thread never waits for a lock).
fn intern(s: &str) -> Option<&'static str> {
    if let Ok(set) = INTERNED.try_read() {
        if let Some(&kept) = set.get(s) {
            return Some(kept);
        }
    }
    let mut set = INTERNED.try_write().ok()?;
    if let Some(&kept) = set.get(s) {
        return Some(kept);
    }
    if set.len() >= INTERNED_MAX {
        return None;
    }
    let kept: &'static str = Box::leak(s.into());
    set.insert(kept);
    Some(kept)
}

/// Whether events of this callsite are `log` records from `tracing-log`.
pub(crate) fn is_log_callsite(meta: &Metadata<'_>) -> bool {
    meta.target() == "log" && meta.fields().field("log.target").is_some()
}

/// What a `log` record says of itself.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct LogOrigin {
    pub(crate) target: Option<&'static str>,
    pub(crate) file: Option<&'static str>,
    pub(crate) line: Option<u32>,
}

impl LogOrigin {
    /// Reads the `log.*` fields of an event from a `log` callsite. `judge` is handed the
    /// target the record names, borrowed, and says whether the record is captured: the
    /// verdict never depends on the interner (full, or busy with another thread), and only
    /// captured records' target and file are interned.
    pub(crate) fn of(event: &Event<'_>, judge: &mut dyn FnMut(&str) -> bool) -> Self {
        let mut visitor = OriginVisitor {
            origin: LogOrigin::default(),
            judge,
            keep: false,
        };
        event.record(&mut visitor);
        visitor.origin
    }
}

struct OriginVisitor<'a> {
    origin: LogOrigin,
    judge: &'a mut dyn FnMut(&str) -> bool,
    /// Whether the record is captured (tracing-log records `log.target` before `log.file`).
    keep: bool,
}

impl Visit for OriginVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "log.target" => {
                self.keep = (self.judge)(value);
                if self.keep {
                    self.origin.target = intern(value);
                }
            }
            "log.file" if self.keep => self.origin.file = intern(value),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "log.line" {
            self.origin.line = u32::try_from(value).ok();
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_keeps_one_copy_of_each_string() {
        let a = intern("my_bot::interning_test").expect("room");
        let b = intern(&String::from("my_bot::interning_test")).expect("room");
        assert!(std::ptr::eq(a, b));
        assert_eq!(a, "my_bot::interning_test");
    }
}
