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

/// Frames of the panic machinery (the backtrace capture, this hook, std's and core's
/// panicking) and of the runtime below the code (thread start, `main`'s caller,
/// `catch_unwind`) say nothing about the bug: the backtrace keeps the frames between them,
/// as Rust's own short backtraces do, and is cut to what one embed field holds.
fn trim_backtrace(text: &str) -> String {
    const FIELD: usize = 1000;
    // Each frame is a numbered line, then optionally "at file:line" lines.
    let mut frames: Vec<Vec<&str>> = Vec::new();
    for line in text.lines() {
        match frames.last_mut() {
            Some(frame) if line.trim_start().starts_with("at ") => frame.push(line),
            _ => frames.push(vec![line]),
        }
    }
    fn name<'a>(frame: &[&'a str]) -> &'a str {
        frame.first().copied().unwrap_or("")
    }
    let machinery = |frame: &[&str]| {
        let name = name(frame);
        [
            "std::backtrace",
            "tracing_discord::panic_hook",
            // std's call of the boxed hook (debug builds), between the hook and std.
            "std::panic::PanicHookInfo",
            "std::panicking",
            "core::panicking",
            "rust_begin_unwind",
            "__rust_end_short_backtrace",
        ]
        .iter()
        .any(|m| name.contains(m))
    };
    // The code starts after the machinery: after std's marker of where short backtraces
    // end when there is one (the hook's own frames above it vary), else after the first
    // run of machinery frames. It ends where the runtime that called it begins.
    let first = frames
        .iter()
        .position(|f| name(f).contains("__rust_end_short_backtrace"))
        .or_else(|| frames.iter().position(|f| machinery(f)))
        .unwrap_or(0);
    let start = frames[first..]
        .iter()
        .position(|f| !machinery(f))
        .map_or(frames.len(), |i| first + i);
    let end = frames[start..]
        .iter()
        .position(|f| name(f).contains("__rust_begin_short_backtrace"))
        // In a release build a thread's closure (or `main`) can be inlined into std's
        // marker frame: that frame is then where the code is, and is kept rather than
        // nothing at all.
        .map_or(frames.len(), |i| start + i.max(1));
    let kept: Vec<&str> = frames[start..end].iter().flatten().copied().collect();
    let mut out = String::new();
    for (n, line) in kept.iter().enumerate() {
        if out.chars().count() + line.chars().count() + 1 > FIELD - 40 {
            let left = kept.len() - n;
            let s = if left == 1 { "" } else { "s" };
            out.push_str(&format!("… {left} more line{s}"));
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

    /// The order Rust prints a thread's panic in (1.9x): the unwinder, the hook and the
    /// panic entry points on top, the code in the middle, the thread's start below.
    #[test]
    fn the_backtrace_keeps_the_code_between_the_panic_and_the_runtime() {
        let bt = "   0: std::backtrace_rs::backtrace::libunwind::trace
             at /rustc/x/library/std/src/../../backtrace/src/backtrace/libunwind.rs:117:9
   1: std::backtrace::Backtrace::create
   2: tracing_discord::panic_hook::install::{{closure}}
             at src/panic_hook.rs:43:25
   3: <alloc::boxed::Box<dyn Fn(&PanicHookInfo)> as core::ops::function::Fn>::call
   3: std::panicking::panic_with_hook
   4: std::panicking::panic_handler::{{closure}}
   5: std::sys::backtrace::__rust_end_short_backtrace
   6: __rustc::rust_begin_unwind
   7: core::panicking::panic_fmt
   8: my_bot::db::query
             at src/db.rs:12:5
   9: my_bot::worker::{{closure}}
             at src/main.rs:30:9
  10: std::sys::backtrace::__rust_begin_short_backtrace
  11: std::thread::Builder::spawn_unchecked_::{{closure}}
  12: std::panicking::catch_unwind::do_call
  13: std::panicking::catch_unwind
  14: std::panic::catch_unwind
  15: std::sys::pal::unix::thread::Thread::new::thread_start
  16: clone3";
        assert_eq!(
            trim_backtrace(bt),
            "   8: my_bot::db::query
             at src/db.rs:12:5
   9: my_bot::worker::{{closure}}
             at src/main.rs:30:9"
        );
    }

    /// A release build (no debug info) of `thread::spawn(|| panic!(..))`, as Rust 1.95
    /// prints it: the closure is inlined into std's marker frame, so no frame names it.
    /// The marker frame holds the code; an empty backtrace would say nothing.
    #[test]
    fn code_inlined_into_the_thread_start_keeps_its_frame() {
        let bt = "   0: tracing_discord::panic_hook::install::{{closure}}
   1: std::panicking::panic_with_hook
   2: std::panicking::panic_handler::{closure#0}
   3: std::sys::backtrace::__rust_end_short_backtrace::<std::panicking::panic_handler::{closure#0}, !>
   4: __rustc::rust_begin_unwind
   5: core::panicking::panic_fmt
   6: std::sys::backtrace::__rust_begin_short_backtrace
   7: core::ops::function::FnOnce::call_once{{vtable.shim}}
   8: <std::sys::thread::unix::Thread>::new::thread_start
   9: start_thread
             at ./nptl/pthread_create.c:442:8
  10: clone3
             at ./misc/../sysdeps/unix/sysv/linux/x86_64/clone3.S:81:0
";
        assert_eq!(
            trim_backtrace(bt),
            "   6: std::sys::backtrace::__rust_begin_short_backtrace"
        );
    }

    /// Without std's end marker (the fallback: the first run of machinery frames), a debug
    /// build's call of the boxed hook between the hook and std's panicking is part of the
    /// machinery, not the start of the code. The frames of a real debug build under Rust
    /// 1.95, the marker taken out.
    #[test]
    fn without_the_end_marker_the_boxed_hook_call_is_machinery() {
        let bt = "   0: tracing_discord::panic_hook::install::{{closure}}
             at ./src/panic_hook.rs:43:25
   1: <alloc::boxed::Box<dyn for<'a, 'b> core::ops::function::Fn<(&'a std::panic::PanicHookInfo<'b>,), Output = ()> + core::marker::Sync + core::marker::Send> as core::ops::function::Fn<(&std::panic::PanicHookInfo,)>>::call
   2: std::panicking::panic_with_hook
   3: std::panicking::panic_handler::{closure#0}
   5: __rustc::rust_begin_unwind
   6: core::panicking::panic_fmt
   7: my_bot::user_fails
             at ./src/main.rs:73:16
   8: my_bot::main
             at ./src/main.rs:83:21
   9: core::ops::function::FnOnce::call_once
  10: std::sys::backtrace::__rust_begin_short_backtrace
  11: std::rt::lang_start::{{closure}}
";
        assert_eq!(
            trim_backtrace(bt),
            "   7: my_bot::user_fails
             at ./src/main.rs:73:16
   8: my_bot::main
             at ./src/main.rs:83:21
   9: core::ops::function::FnOnce::call_once"
        );
    }

    #[test]
    fn a_long_backtrace_is_cut_with_a_count_of_what_was_left() {
        let mut bt = String::from("   0: core::panicking::panic_fmt\n");
        for i in 1..=40 {
            bt.push_str(&format!(
                "  {i:2}: my_bot::frame_number_{i}\n             at src/lib.rs:{i}\n"
            ));
        }
        let cut = trim_backtrace(&bt);
        assert!(cut.chars().count() <= 1000, "{}", cut.chars().count());
        let last = cut.lines().last().unwrap();
        let shown = cut.lines().count() - 1;
        assert_eq!(last, format!("… {} more lines", 80 - shown));
        assert!(cut.starts_with("   1: my_bot::frame_number_1\n"), "{cut}");
    }
}
