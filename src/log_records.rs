//! Records of the `log` crate, as `tracing-log` hands them on: every record of one level
//! comes through one callsite whose target is `log`, with the record's own target, module,
//! file and line as `log.*` fields. Such a record is classified and ignored by the target
//! it names (on the application thread, from the borrowed name: [`verdict_by_named_target`])
//! and shown under it, with its own file and line ([`adopt_origin`], on the flusher).
//!
//! A [`Record`](crate::record::Record) names its target and file with `&'static str`
//! (free to capture for `tracing` events); a `log` record's are borrowed, so the layer
//! captures them as fields, and the flusher interns them: each distinct string is kept once
//! for the life of the program, at most [`INTERNED_MAX`] of them.

use std::collections::HashSet;
use std::sync::Mutex;

use once_cell::sync::Lazy;
use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Metadata};

use crate::record::Record;

/// Distinct targets and file names kept at most: a program that makes up targets at run
/// time cannot grow memory without bound. Past it, records show the `log` target.
pub(crate) const INTERNED_MAX: usize = 4096;

/// Only flusher threads intern, so the lock is never an application thread's to wait for.
static INTERNED: Lazy<Mutex<HashSet<&'static str>>> = Lazy::new(|| Mutex::new(HashSet::new()));

/// `s`, kept for the life of the program; `None` when the interner is full.
fn intern(s: &str) -> Option<&'static str> {
    let mut set = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
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

/// `judge`'s verdict on the target a `log` record names (borrowed, never interned here);
/// `None` when the record names none.
pub(crate) fn verdict_by_named_target<V>(
    event: &Event<'_>,
    judge: impl Fn(&str) -> V,
) -> Option<V> {
    struct Named<V, J> {
        judge: J,
        verdict: Option<V>,
    }
    impl<V, J: Fn(&str) -> V> Visit for Named<V, J> {
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "log.target" {
                self.verdict = Some((self.judge)(value));
            }
        }
        fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
    }
    let mut named = Named {
        judge,
        verdict: None,
    };
    event.record(&mut named);
    named.verdict
}

/// On the flusher: a `log` record takes its target, file and line from its `log.*` fields
/// (the target stays `log` when the interner is full), and every record loses those
/// fields, which are tracing-log's description of the record, not the event's own.
pub(crate) fn adopt_origin(record: &mut Record) {
    let is_log_field = |name: &str| name.starts_with("log.");
    if !record.fields().any(|(name, _)| is_log_field(name)) {
        return;
    }
    if record.target == "log" {
        if let Some(target) = record.field("log.target").and_then(intern) {
            record.target = target;
        }
        if let Some(file) = record.field("log.file").and_then(intern) {
            record.file = Some(file);
        }
        if let Some(line) = record.field("log.line").and_then(|l| l.parse().ok()) {
            record.line = Some(line);
        }
    }
    record.remove_fields(is_log_field);
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
