//! The owned event: everything the flusher needs, captured on the application thread.
//!
//! A [`Record`] borrows nothing from the event it came from, so it can cross into the
//! lock-free queue and be rendered later on the flusher thread. Static metadata
//! (target, file, module) stays `&'static str`: tracing keeps it alive forever, so
//! capturing it costs nothing.

use std::sync::Arc;
use std::time::SystemTime;

use tracing_core::Level;

use crate::Class;

/// One captured tracing event.
#[derive(Debug, Clone)]
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
    /// The `message` field, formatted once (empty when the event had none).
    pub message: String,
    /// Every other field, in the order the event recorded them.
    pub fields: Vec<(&'static str, String)>,
    /// The span chain, outermost first, each formatted once when the span was created.
    pub spans: Vec<Arc<str>>,
    /// Source file, when the callsite recorded it.
    pub file: Option<&'static str>,
    /// Source line, when the callsite recorded it.
    pub line: Option<u32>,
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
        Record {
            time: SystemTime::now(),
            level,
            target,
            class,
            message: message.into(),
            fields: Vec::new(),
            spans: Vec::new(),
            file: None,
            line: None,
        }
    }
}
