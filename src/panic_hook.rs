//! Opt-in panic capture: a panic becomes an ERROR on the urgent path, and the hook waits a
//! bounded time for it to be delivered before the previous hook runs (and, with
//! `panic = "abort"`, before the process aborts).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tracing_core::Level;

use crate::flusher::DiscordHandle;
use crate::queue::Queues;
use crate::record::Record;
use crate::Class;

/// How long a panicking thread waits for its report to be delivered.
const DELIVERY_WAIT: Duration = Duration::from_secs(2);

/// Installs the hook; `class` is where panics are posted.
pub(crate) fn install(queues: Arc<Queues>, handle: DiscordHandle, class: Class) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(a panic without a message)".to_owned());
        let mut record = Record::new(class, Level::ERROR, "panic", format!("panic: {message}"));
        record.time = SystemTime::now();
        let thread = std::thread::current();
        record
            .fields
            .push(("thread", thread.name().unwrap_or("<unnamed>").to_owned()));
        if let Some(location) = info.location() {
            record.fields.push((
                "location",
                format!(
                    "{}:{}:{}",
                    location.file(),
                    location.line(),
                    location.column()
                ),
            ));
        }
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            record.fields.push(("backtrace", backtrace.to_string()));
        }
        queues.push(record);
        // Bounded: if the flusher itself panicked, nobody answers.
        let _ = handle.flush(DELIVERY_WAIT);
        previous(info);
    }));
}
