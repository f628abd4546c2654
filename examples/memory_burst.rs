//! Memory under an outage, and delivery under a burst: the two checks of BENCHMARKS.md.
//!
//! ```text
//! cargo run --release --example memory_burst
//! ```
//!
//! **Outage.** Discord refuses connections (the API base is a closed port on 127.0.0.1):
//! 1,000,000 events are emitted at full speed into the Log class, and the process's peak
//! resident memory (`VmHWM` in `/proc/self/status`) is read when they are all emitted.
//! Each queue capacity runs in a process of its own (a high-water mark only goes up), and
//! the growth over the memory before the layer was built is fitted as
//! `constant + capacity × bytes per queued event`. Every event must be delivered or
//! counted as dropped.
//!
//! **Burst.** 10,000 INFO events in a tight loop, then the guard dropped, with the
//! built-in emulator's normal rate limits and the default settings: every event must be
//! delivered, the statistics must say so, and the emulator must hold each event once.
//!
//! Lines start with `outage:`, `fit:` or `burst:`; the last is the burst's summary line.
//! The exit code is non-zero when a check fails. Linux only (it reads `/proc`).

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use tracing_discord::mock::MockDiscord;
use tracing_discord::{Class, Destination, DiscordGuard, DiscordLayer, DiscordLayerBuilder};
use tracing_subscriber::prelude::*;

/// Events emitted during the outage.
const OUTAGE_EVENTS: u64 = 1_000_000;
/// Queue capacities measured (the middle one is the default, 16,384).
const CAPACITIES: [usize; 3] = [1_024, 16_384, 65_536];
/// Events of the burst.
const BURST_EVENTS: u64 = 10_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ok = match args.first().map(String::as_str) {
        Some("--outage") => match args.get(1).and_then(|c| c.parse().ok()) {
            Some(capacity) => outage(capacity),
            None => {
                eprintln!("usage: memory_burst [--outage CAPACITY | --burst]");
                false
            }
        },
        Some("--burst") => burst(),
        Some(other) => {
            eprintln!(
                "memory_burst: unknown argument {other:?} (expected --outage CAPACITY or --burst)"
            );
            false
        }
        None => outages() & burst(),
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A `kB` line of `/proc/self/status` (`VmRSS`, `VmHWM`), in KiB.
fn status_kib(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Runs each capacity in a child process and fits the growth of peak memory.
fn outages() -> bool {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("memory_burst: cannot find my own executable: {e}");
            return false;
        }
    };
    let mut points = Vec::new();
    let mut ok = true;
    for capacity in CAPACITIES {
        let out = match Command::new(&exe)
            .args(["--outage", &capacity.to_string()])
            .output()
        {
            Ok(out) => out,
            Err(e) => {
                eprintln!("memory_burst: cannot run the outage child: {e}");
                return false;
            }
        };
        let text = String::from_utf8_lossy(&out.stdout);
        print!("{text}");
        ok &= out.status.success();
        let growth = text
            .split_whitespace()
            .find_map(|w| w.strip_prefix("growth_kib="))
            .and_then(|v| v.parse::<f64>().ok());
        match growth {
            Some(g) => points.push((capacity as f64, g)),
            None => ok = false,
        }
    }
    if points.len() == CAPACITIES.len() {
        // Least squares over the capacities: growth = constant + slope × capacity.
        let n = points.len() as f64;
        let (sx, sy) = points
            .iter()
            .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
        let (mx, my) = (sx / n, sy / n);
        let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
        let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
        let slope = sxy / sxx;
        let constant = my - slope * mx;
        let worst = points
            .iter()
            .map(|(x, y)| (y - constant - slope * x).abs())
            .fold(0.0, f64::max);
        println!(
            "fit: peak_growth_kib = {constant:.0} + capacity * {:.0} bytes / 1024 (worst residual {worst:.0} KiB; a queued event is an 80-byte capture and its value buffer, a drained one a {}-byte Record and its text)",
            slope * 1024.0,
            std::mem::size_of::<tracing_discord::Record>()
        );
    }
    ok
}

/// One outage at `capacity`: prints the peak memory and the event counts.
fn outage(capacity: usize) -> bool {
    // A port nothing listens on: every request is refused at once.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9);
    let start_rss = status_kib("VmRSS");
    let builder = DiscordLayer::builder()
        .bot_token("MTA4NjU0MzIxMDk4NzY1NDMyMQ.GhJkLm.outage-token")
        .api_base(format!("http://127.0.0.1:{port}/api/v10"))
        .queue_capacity(capacity)
        .shutdown_timeout(Duration::from_secs(1));
    let Some((dispatch, guard)) = log_only(builder, 1) else {
        return false;
    };
    let started = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..OUTAGE_EVENTS {
            tracing::info!(
                user_id = 80_351_110_224_678_912 + i,
                command = "play",
                latency_ms = i % 250,
                "command handled in guild 613425648685547040 after a cache miss"
            );
        }
    });
    let emitted_in = started.elapsed();
    let peak_rss = status_kib("VmHWM");
    let stats = guard.shutdown();
    drop(dispatch);
    let settled = stats.delivered + stats.dropped == stats.events;
    println!(
        "outage: capacity={capacity} events={} delivered={} dropped={} emitted_in_ms={} start_rss_kib={start_rss} peak_rss_kib={peak_rss} growth_kib={}",
        stats.events,
        stats.delivered,
        stats.dropped,
        emitted_in.as_millis(),
        peak_rss.saturating_sub(start_rss)
    );
    if stats.events != OUTAGE_EVENTS || !settled {
        eprintln!("memory_burst: events lost without being counted: {stats:?}");
        return false;
    }
    true
}

/// `builder` with the log class routed to `channel` and the others skipped, as a
/// dispatcher; a configuration error is printed.
fn log_only(
    builder: DiscordLayerBuilder,
    channel: u64,
) -> Option<(tracing::Dispatch, DiscordGuard)> {
    let built = builder
        .route(Class::Log, Destination::channel(channel))
        .skip(Class::Analytics)
        .skip(Class::Diagnostics)
        .build();
    match built {
        Ok((layer, guard)) => Some((
            tracing::Dispatch::new(tracing_subscriber::registry().with(layer)),
            guard,
        )),
        Err(e) => {
            eprintln!("memory_burst: {e}");
            None
        }
    }
}

/// The burst against the emulator with its normal rate limits.
fn burst() -> bool {
    let emulator = match MockDiscord::start() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("memory_burst: emulator: {e}");
            return false;
        }
    };
    let channel = emulator.add_channel("log");
    let builder = DiscordLayer::builder()
        .bot_token(emulator.bot_token())
        .api_base(emulator.api_base());
    let Some((dispatch, guard)) = log_only(builder, channel) else {
        return false;
    };
    let started = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..BURST_EVENTS {
            tracing::info!(i, "burst event");
        }
    });
    let stats = guard.shutdown();
    let took = started.elapsed();
    drop(dispatch);
    // Which events the emulator holds: `i=N` in code blocks and attached files.
    let messages = emulator.messages(channel);
    let mut seen = BTreeSet::new();
    let mut duplicates = 0u64;
    let mut note = |text: &str| {
        for n in text
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("i=")?.parse::<u64>().ok())
        {
            if !seen.insert(n) {
                duplicates += 1;
            }
        }
    };
    for m in &messages {
        note(m["content"].as_str().unwrap_or(""));
        for e in m["embeds"].as_array().into_iter().flatten() {
            note(e["description"].as_str().unwrap_or(""));
        }
        for text in m["_attachment_texts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str())
        {
            note(text);
        }
    }
    let all_once = seen.len() as u64 == BURST_EVENTS && duplicates == 0;
    println!(
        "burst: events={} delivered={} dropped={} in_emulator={} duplicates={duplicates} messages={} took_ms={}",
        stats.events,
        stats.delivered,
        stats.dropped,
        seen.len(),
        stats.messages,
        took.as_millis()
    );
    println!("{}", stats.summary_line());
    let ok = stats.events == BURST_EVENTS
        && stats.delivered == BURST_EVENTS
        && stats.dropped == 0
        && all_once;
    if !ok {
        eprintln!("memory_burst: the burst was not delivered whole: {stats:?}");
    }
    ok
}
