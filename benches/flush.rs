//! Flush throughput: how fast the flusher turns queued records into Discord payloads, and
//! how fast events travel from the application to the local emulator.
//!
//! - `render/{log,analytics}/N`: the flusher's work on one batch of N records before HTTP,
//!   on one core: redaction, [`render_batch`], then for each message the validity check
//!   and the request body the client posts (see [`payloads`]). Records are lines of real
//!   logs (loghub), each parsed into a message and three fields; the file reading and the
//!   record building are outside the timed part.
//! - `end_to_end/N`: N events emitted through the real layer, then the guard dropped; timed
//!   until everything is delivered to the emulator, whose rate limits are lifted (the
//!   flusher still paces itself as it would against Discord). Each run checks that all N
//!   arrived.
//!
//! Run: `cargo bench --bench flush` (compare medians within one run; see BENCHMARKS.md).
//! With `FLUSH_BENCH_PROFILE=<log|analytics>:<N>[:<times>]` in the environment the binary
//! instead renders one batch of N records (`times` times) and exits, for `valgrind
//! --tool=callgrind --toggle-collect='*flush::payloads*'` (instructions per event; see
//! BENCHMARKS.md).
//!
//! The logs come from `../shared/data/loghub/*.log` (2,000 lines each) when that folder is
//! there, else from the 300-line excerpts in `tests/data`; nothing is fetched.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use tracing::dispatcher::{self, Dispatch};
use tracing::Level;
use tracing_discord::mock::{MockConfig, MockDiscord};
use tracing_discord::render::{render_batch, BatchOptions};
use tracing_discord::{Class, Destination, DiscordLayer, Record, Redactor, DEFAULT_SECRET_FIELDS};
use tracing_subscriber::prelude::*;

/// A bot token of Discord's shape, scrubbed from every text as the flusher does.
const TOKEN: &str = "MTA4NjU0MzIxMDk4NzY1NDMyMQ.GhJkLm.abcdefghijklmnopqrstuvwxyz0123456789AB";
const RENDER_SIZES: [usize; 3] = [10, 1_000, 100_000];
const END_TO_END_EVENTS: usize = 100_000;

/// One log line, parsed: file it came from, level, component and the rest of the text.
struct Line {
    source: &'static str,
    level: Level,
    component: String,
    text: String,
}

/// Where the logs are: the shared data folder when present, else the tests' excerpts.
fn log_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/data/loghub");
    let dir = if shared.is_dir() {
        shared
    } else {
        root.join("tests/data")
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "log")
                && p.file_name().is_none_or(|n| n != "loghub_sample.log")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .log files in {}", dir.display());
    files
}

/// Every line of every log: the component is the first word ending in `:` (`dfs.DataNode:`,
/// `sshd(pam_unix)[19939]:`), the text what follows it; the level is the line's own where
/// it has one (ERRORs become WARN: the flusher posts ERRORs apart from batches).
fn corpus() -> Vec<Line> {
    let mut lines = Vec::new();
    for path in log_files() {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("log");
        let source: &'static str = Box::leak(stem.split('_').next().unwrap_or(stem).into());
        let text = std::fs::read(&path).expect("readable log");
        for line in String::from_utf8_lossy(&text).lines() {
            let words = line.split(' ').collect::<Vec<_>>();
            let level = if words.iter().any(|w| {
                matches!(
                    *w,
                    "ERROR" | "[error]" | "WARN" | "WARNING" | "[warn]" | "W" | "E"
                )
            }) {
                Level::WARN
            } else if words.iter().any(|w| matches!(*w, "DEBUG" | "D" | "V")) {
                Level::DEBUG
            } else {
                Level::INFO
            };
            let (component, text) = match line.find(": ") {
                Some(end) => {
                    let start = line[..end].rfind(' ').map_or(0, |s| s + 1);
                    (line[start..end].to_owned(), line[end + 2..].to_owned())
                }
                None => (source.to_owned(), line.to_owned()),
            };
            lines.push(Line {
                source,
                level,
                component,
                text,
            });
        }
    }
    lines
}

/// `n` records of `class` made from the corpus, a millisecond apart. Logs: the line's text
/// as message, fields `source`, `component`, `seq`. Analytics: the component as the kind
/// of event (its table), fields `source`, `seq`, `text`. `seq` numbers the records, so a
/// batch larger than the corpus does not collapse into repeats.
fn records(corpus: &[Line], class: Class, n: usize) -> Vec<Record> {
    let start = SystemTime::now();
    (0..n)
        .map(|i| {
            let line = &corpus[i % corpus.len()];
            let mut r = match class {
                Class::Analytics => Record::new(class, Level::INFO, "analytics", &*line.component)
                    .with_field("source", line.source)
                    .with_field("seq", i)
                    .with_field("text", &line.text),
                _ => Record::new(class, line.level, "replay", &*line.text)
                    .with_field("source", line.source)
                    .with_field("component", &line.component)
                    .with_field("seq", i),
            };
            r.time = start + Duration::from_millis(i as u64);
            r
        })
        .collect()
}

/// The flusher's work on one batch before HTTP: redact each record, render the batch, and
/// for each message check it and build the body it would post. Returns the body bytes.
#[inline(never)]
fn payloads(
    class: Class,
    records: &mut [Record],
    redactor: &Redactor,
    options: &BatchOptions,
) -> usize {
    redactor.apply_all(records);
    let rendered = render_batch(class, records, options);
    let mut bytes = 0;
    for (i, message) in rendered.messages.iter().enumerate() {
        // What a lane does with each message before it is posted (see src/flusher/lane.rs).
        assert!(message.is_valid());
        bytes += message.json_body(Some(&format!("bench-{i}"))).len();
    }
    bytes
}

fn redactor() -> Redactor {
    Redactor::new(DEFAULT_SECRET_FIELDS, [TOKEN])
}

fn render(c: &mut Criterion, corpus: &[Line]) {
    let redactor = redactor();
    let options = BatchOptions::default();
    for (class, name) in [(Class::Log, "log"), (Class::Analytics, "analytics")] {
        let mut group = c.benchmark_group(format!("render/{name}"));
        for n in RENDER_SIZES {
            let batch = records(corpus, class, n);
            group.throughput(Throughput::Elements(n as u64));
            if n >= 100_000 {
                group.sample_size(10);
            }
            group.bench_with_input(BenchmarkId::from_parameter(n), &batch, |b, batch| {
                b.iter_batched_ref(
                    || batch.clone(),
                    |records| black_box(payloads(class, records, &redactor, &options)),
                    BatchSize::LargeInput,
                )
            });
        }
        group.finish();
    }
}

/// Emits the corpus's lines as tracing events through the layer, then drops the guard; the
/// time from the first event until the guard's shutdown returned.
fn end_to_end_run(emulator: &MockDiscord, channel: u64, corpus: &[Line], n: usize) -> Duration {
    let (layer, guard) = DiscordLayer::builder()
        .bot_token(emulator.bot_token())
        .api_base(emulator.api_base())
        .route(Class::Analytics, Destination::channel(channel))
        .route(Class::Diagnostics, Destination::channel(channel))
        .route(Class::Log, Destination::channel(channel))
        .queue_capacity(n)
        .shutdown_timeout(Duration::from_secs(60))
        .build()
        .expect("valid configuration");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let started = Instant::now();
    dispatcher::with_default(&dispatch, || {
        for i in 0..n {
            let line = &corpus[i % corpus.len()];
            let (source, component, text) = (line.source, line.component.as_str(), &line.text);
            match line.level {
                Level::WARN => {
                    tracing::warn!(target: "replay", source, component, seq = i, "{text}")
                }
                Level::DEBUG => {
                    tracing::debug!(target: "replay", source, component, seq = i, "{text}")
                }
                _ => tracing::info!(target: "replay", source, component, seq = i, "{text}"),
            }
        }
    });
    let stats = guard.shutdown();
    let elapsed = started.elapsed();
    assert_eq!(
        (stats.events, stats.delivered, stats.dropped),
        (n as u64, n as u64, 0),
        "every event delivered"
    );
    drop(dispatch);
    elapsed
}

fn end_to_end(c: &mut Criterion, corpus: &[Line]) {
    let emulator = MockDiscord::start_with(MockConfig::with_unlimited_rates()).expect("emulator");
    let channel = emulator.add_channel("bench");
    let mut group = c.benchmark_group("end_to_end");
    group.throughput(Throughput::Elements(END_TO_END_EVENTS as u64));
    group.sample_size(10);
    group.bench_function(BenchmarkId::from_parameter(END_TO_END_EVENTS), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += end_to_end_run(&emulator, channel, corpus, END_TO_END_EVENTS);
                // The emulator keeps every message; forget them between runs.
                emulator.reset();
            }
            total
        })
    });
    group.finish();
}

/// `FLUSH_BENCH_PROFILE=<log|analytics>:<N>[:<times>]`: a batch of N records rendered
/// once (or `times` times, each on a fresh copy), for callgrind.
fn profile_once(spec: &str, corpus: &[Line]) {
    let usage = "FLUSH_BENCH_PROFILE=<log|analytics>:<N>[:<times>]";
    let mut parts = spec.split(':');
    let class = match parts.next() {
        Some("analytics") => Class::Analytics,
        Some("log") => Class::Log,
        _ => panic!("{usage}"),
    };
    let n: usize = parts.next().and_then(|n| n.parse().ok()).expect(usage);
    let times: usize = parts.next().map_or(1, |t| t.parse().expect(usage));
    let batch = records(corpus, class, n);
    let redactor = redactor();
    let mut bytes = 0;
    for _ in 0..times {
        let mut copy = batch.clone();
        bytes += payloads(class, &mut copy, &redactor, &BatchOptions::default());
    }
    println!("rendered {times} batches of {n} records into {bytes} body bytes");
}

fn main() {
    let corpus = corpus();
    if let Ok(spec) = std::env::var("FLUSH_BENCH_PROFILE") {
        profile_once(&spec, &corpus);
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    render(&mut c, &corpus);
    end_to_end(&mut c, &corpus);
    c.final_summary();
}
