//! The application thread's cost of one event, side by side with its baselines in one run.
//!
//! Setups (each installed as the thread's default dispatcher):
//! - `registry`: a bare `Registry`, what tracing costs anyway (the floor);
//! - `fmt_sink`: tracing-subscriber's fmt layer writing to `io::sink`;
//! - `fmt_non_blocking`: the fmt layer through `tracing_appender::non_blocking(io::sink())`,
//!   the usual way to keep log I/O off the caller's thread;
//! - `discord`: our layer in its steady state: the same number of events was emitted and
//!   flushed just before the timed chunk, so the flusher has handed the rendered records'
//!   text buffers back to the layer (what a bot that logs less than the flusher can post
//!   sees all the time);
//! - `discord_cold`: our layer freshly built, every record's buffer newly allocated (the
//!   first burst after start, or a burst beyond what was flushed before).
//!
//! While events are timed the flusher is idle (its emulator stalled, or the queue below its
//! high-water mark), so only the caller's side is timed; ERRORs wake it by design and are
//! timed cold only.
//!
//! Events: the analytics event (three fields and a message), one with ten fields of
//! mixed types, and an ERROR (which takes the urgent queue and wakes the flusher). Each is
//! timed on one thread and on two threads emitting at once (time per event over both).
//!
//! Each measured chunk runs with fresh subscribers whose queues are large enough never to
//! fill, so the number is the capture-and-push path itself, not the drop path.
//! Run: `cargo bench --bench hot_path`; compare medians as ratios within one run. With
//! `HOT_PATH_PROFILE=<analytics|ten_fields|error>[:cold]` in the environment the binary
//! emits one chunk and exits, for `valgrind --tool=callgrind
//! --toggle-collect='*profiled_chunk*'` (instructions per event; see BENCHMARKS.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use tracing::dispatcher::{self, Dispatch};
use tracing::{error, info};
use tracing_discord::mock::{MockConfig, MockDiscord};
use tracing_discord::{Class, Destination, DiscordGuard, DiscordLayer};
use tracing_subscriber::prelude::*;

/// Events per measured chunk (each chunk gets fresh subscribers); the bare registry is so
/// fast that it takes a longer chunk for two threads to overlap well.
const CHUNK: u64 = 10_000;
const REGISTRY_CHUNK: u64 = 1_000_000;

#[derive(Clone, Copy)]
enum Setup {
    Registry,
    FmtSink,
    FmtNonBlocking,
    Discord,
    DiscordCold,
}

impl Setup {
    const ALL: [Setup; 5] = [
        Setup::Registry,
        Setup::FmtSink,
        Setup::FmtNonBlocking,
        Setup::Discord,
        Setup::DiscordCold,
    ];

    fn name(self) -> &'static str {
        match self {
            Setup::Registry => "registry",
            Setup::FmtSink => "fmt_sink",
            Setup::FmtNonBlocking => "fmt_non_blocking",
            Setup::Discord => "discord",
            Setup::DiscordCold => "discord_cold",
        }
    }
}

/// What must outlive a chunk's dispatcher: the non-blocking writer's worker, our guard.
enum Keep {
    Nothing,
    Worker(#[allow(dead_code)] tracing_appender::non_blocking::WorkerGuard),
    Guard(DiscordGuard),
}

fn dispatch(setup: Setup, emulator: &MockDiscord, channel: u64) -> (Dispatch, Keep) {
    match setup {
        Setup::Registry => (Dispatch::new(tracing_subscriber::registry()), Keep::Nothing),
        Setup::FmtSink => {
            let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::sink);
            (
                Dispatch::new(tracing_subscriber::registry().with(fmt)),
                Keep::Nothing,
            )
        }
        Setup::FmtNonBlocking => {
            let (writer, worker) = tracing_appender::non_blocking(std::io::sink());
            let fmt = tracing_subscriber::fmt::layer().with_writer(writer);
            (
                Dispatch::new(tracing_subscriber::registry().with(fmt)),
                Keep::Worker(worker),
            )
        }
        Setup::Discord | Setup::DiscordCold => {
            let (layer, guard) = DiscordLayer::builder()
                .bot_token(emulator.bot_token())
                .api_base(emulator.api_base())
                .route(Class::Analytics, Destination::channel(channel))
                .route(Class::Diagnostics, Destination::channel(channel))
                .route(Class::Log, Destination::channel(channel))
                // Four chunks' worth: the queue never reaches its high-water mark, so the
                // flusher sleeps through the chunk (ERRORs aside, which wake it by design).
                .queue_capacity(4 * CHUNK as usize)
                .shutdown_timeout(Duration::ZERO)
                .build()
                .expect("valid configuration");
            (
                Dispatch::new(tracing_subscriber::registry().with(layer)),
                Keep::Guard(guard),
            )
        }
    }
}

#[derive(Clone, Copy)]
enum Shape {
    Analytics,
    TenFields,
    Error,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Analytics => "analytics",
            Shape::TenFields => "ten_fields",
            Shape::Error => "error",
        }
    }

    #[inline(always)]
    fn emit(self, i: u64) {
        match self {
            Shape::Analytics => {
                info!(target: "analytics", user_id = 42u64, command = "ping", latency_ms = 3.5f64, "command handled")
            }
            Shape::TenFields => info!(
                target: "diagnostics",
                shard = 3u64,
                guild_id = 81_384_788_765_712_384u64,
                user_id = i,
                command = "play",
                query = "never gonna give you up",
                queue_len = 12i64,
                latency_ms = 41.5f64,
                cached = true,
                region = ?"eu-west",
                voice = %"connected",
                "track queued"
            ),
            Shape::Error => error!(target: "my_bot::db", attempt = 3u64, "database unreachable"),
        }
    }
}

/// Emits `n` events on `threads` threads at once; the wall time from the first start to
/// the last end.
fn timed_chunk(dispatch: &Dispatch, shape: Shape, threads: u64, n: u64) -> Duration {
    if threads == 1 {
        return dispatcher::with_default(dispatch, || {
            let start = Instant::now();
            for i in 0..n {
                shape.emit(i);
            }
            start.elapsed()
        });
    }
    // A spinning start line: a blocking barrier wakes the last thread tens of microseconds
    // late, which on a short chunk would read as poor scaling.
    let ready = Arc::new(AtomicU64::new(0));
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let ready = Arc::clone(&ready);
                // The first thread takes the remainder, so exactly `n` events are emitted.
                let mine = n / threads + if t == 0 { n % threads } else { 0 };
                s.spawn(move || {
                    dispatcher::with_default(dispatch, || {
                        ready.fetch_add(1, Ordering::AcqRel);
                        while ready.load(Ordering::Acquire) < threads {
                            std::hint::spin_loop();
                        }
                        let start = Instant::now();
                        for i in 0..mine {
                            shape.emit(i);
                        }
                        (start, Instant::now())
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = spans.iter().map(|s| s.0).min().unwrap();
    let last = spans.iter().map(|s| s.1).max().unwrap();
    last - first
}

/// Emits and flushes `n` events as the timed chunk will, so that their text buffers come
/// back to the layer; the emulator answers only for the flush.
fn warm_up(
    dispatch: &Dispatch,
    guard: &DiscordGuard,
    emulator: &MockDiscord,
    shape: Shape,
    threads: u64,
    n: u64,
) {
    timed_chunk(dispatch, shape, threads, n);
    emulator.set_stalled(false);
    guard
        .flush(Duration::from_secs(60))
        .expect("the warm-up chunk is delivered");
    emulator.set_stalled(true);
    emulator.reset();
}

fn hot_path(c: &mut Criterion) {
    let emulator =
        MockDiscord::start_with(MockConfig::with_unlimited_rates()).expect("emulator starts");
    let channel = emulator.add_channel("bench");
    emulator.set_stalled(true);
    for shape in [Shape::Analytics, Shape::TenFields, Shape::Error] {
        for threads in [1u64, 2] {
            let mut group = c.benchmark_group(format!("{}/{threads}_thread", shape.name()));
            for setup in Setup::ALL {
                if matches!((shape, setup), (Shape::Error, Setup::Discord)) {
                    // ERRORs are posted at once, each flush a burst of posts: timed cold only.
                    continue;
                }
                group.bench_function(BenchmarkId::from_parameter(setup.name()), |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        let mut left = iters;
                        while left > 0 {
                            let chunk = match setup {
                                Setup::Registry => REGISTRY_CHUNK,
                                _ => CHUNK,
                            };
                            let n = left.min(chunk);
                            let (dispatch, keep) = dispatch(setup, &emulator, channel);
                            if let (Setup::Discord, Keep::Guard(guard)) = (setup, &keep) {
                                warm_up(&dispatch, guard, &emulator, shape, threads, n);
                            }
                            total += timed_chunk(&dispatch, shape, threads, n);
                            drop(dispatch);
                            drop(keep);
                            left -= n;
                        }
                        total
                    })
                });
            }
            group.finish();
        }
    }
}

/// `HOT_PATH_PROFILE=<analytics|ten_fields|error>[:cold]`: one chunk of events through our
/// layer on one thread, in its steady state (after a flushed warm-up chunk) or cold, for
/// callgrind.
fn profile_once(spec: &str) {
    let usage = "HOT_PATH_PROFILE=<analytics|ten_fields|error>[:cold]";
    let (shape, state) = spec.split_once(':').unwrap_or((spec, "steady"));
    let shape = [Shape::Analytics, Shape::TenFields, Shape::Error]
        .into_iter()
        .find(|s| s.name() == shape)
        .expect(usage);
    let setup = match state {
        "steady" => Setup::Discord,
        "cold" => Setup::DiscordCold,
        _ => panic!("{usage}"),
    };
    let emulator =
        MockDiscord::start_with(MockConfig::with_unlimited_rates()).expect("emulator starts");
    let channel = emulator.add_channel("bench");
    emulator.set_stalled(true);
    let (dispatch, keep) = dispatch(setup, &emulator, channel);
    if let (Setup::Discord, Keep::Guard(guard)) = (setup, &keep) {
        warm_up(&dispatch, guard, &emulator, shape, 1, CHUNK);
    }
    let Keep::Guard(guard) = &keep else {
        unreachable!("our layer's setups keep its guard")
    };
    let before = guard.handle().stats().events;
    let took = profiled_chunk(&dispatch, shape);
    let events = guard.handle().stats().events - before;
    println!("{events} events ({}, {state}) in {took:?}", shape.name());
}

/// The chunk callgrind counts (`--toggle-collect='*profiled_chunk*'`): a loop of its own,
/// so that no code it shares with the warm-up's chunk is counted with it.
#[inline(never)]
fn profiled_chunk(dispatch: &Dispatch, shape: Shape) -> Duration {
    dispatcher::with_default(dispatch, || {
        let start = Instant::now();
        for i in 0..std::hint::black_box(CHUNK) {
            shape.emit(i);
        }
        start.elapsed()
    })
}

fn main() {
    if let Ok(spec) = std::env::var("HOT_PATH_PROFILE") {
        profile_once(&spec);
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    hot_path(&mut c);
    c.final_summary();
}
