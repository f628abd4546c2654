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
        record.push_field("thread", thread.name().unwrap_or("<unnamed>"));
        if let Some(location) = info.location() {
            record.push_field(
                "location",
                format_args!(
                    "{}:{}:{}",
                    location.file(),
                    location.line(),
                    location.column()
                ),
            );
        }
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            record.push_field("backtrace", trim_backtrace(&backtrace.to_string()));
        }
        queues.push(record);
        // Bounded: if the flusher itself panicked, nobody answers.
        let _ = handle.flush(DELIVERY_WAIT);
        previous(info);
    }));
}

/// Frames of the panic machinery (this hook, std's and core's panicking) say nothing about
/// the bug: the backtrace starts after them, and is cut to what one embed field holds.
fn trim_backtrace(text: &str) -> String {
    const FIELD: usize = 1000;
    let lines: Vec<&str> = text.lines().collect();
    let machinery = |l: &str| {
        [
            "tracing_discord::panic_hook",
            "std::panicking",
            "core::panicking",
            "rust_begin_unwind",
            "std::backtrace",
        ]
        .iter()
        .any(|m| l.contains(m))
    };
    // Each frame is a numbered line, optionally followed by an "at file:line" line.
    let start = lines.iter().rposition(|l| machinery(l)).map_or(0, |i| {
        let next = i + 1;
        if lines
            .get(next)
            .is_some_and(|l| l.trim_start().starts_with("at "))
        {
            next + 1
        } else {
            next
        }
    });
    let kept = &lines[start.min(lines.len())..];
    let mut out = String::new();
    for (n, line) in kept.iter().enumerate() {
        if out.chars().count() + line.chars().count() + 1 > FIELD - 40 {
            out.push_str(&format!("… {} more lines", kept.len() - n));
            break;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::trim_backtrace;

    #[test]
    fn the_backtrace_starts_at_the_bug() {
        let bt = "   0: std::backtrace::Backtrace::capture\n             at /rustc/x/backtrace.rs:1\n   1: tracing_discord::panic_hook::install::{{closure}}\n             at src/panic_hook.rs:40\n   2: std::panicking::rust_panic_with_hook\n   3: my_bot::handler\n             at src/main.rs:9\n   4: main";
        assert_eq!(
            trim_backtrace(bt),
            "   3: my_bot::handler\n             at src/main.rs:9\n   4: main"
        );
    }
}
