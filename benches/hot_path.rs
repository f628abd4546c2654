//! The application thread's cost of one event, side by side with its baselines in one run:
//! - `no_layer`: a bare `Registry` (what tracing costs anyway);
//! - `fmt_to_sink`: tracing-subscriber's fmt layer writing to `io::sink` (a common peer);
//! - `discord_layer`: our layer capturing into its queue.
//!
//! Each measured chunk runs with a fresh layer whose queue is large enough never to fill or
//! wake the flusher, so the number is the capture-and-push path itself, not the drop path.
//! Run: `cargo bench --bench hot_path`; compare medians as ratios to `no_layer`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use tracing::info;
use tracing_discord::{Class, Destination, DiscordLayer};
use tracing_subscriber::prelude::*;

const CHUNK: u64 = 10_000;

fn emit(i: u64) {
    info!(target: "analytics", command = "ping", user_id = i, latency_ms = 42u64, "command used");
}

fn timed_chunk<S: tracing::Subscriber + Send + Sync + 'static>(subscriber: S, n: u64) -> Duration {
    tracing::subscriber::with_default(subscriber, || {
        let start = Instant::now();
        for i in 0..n {
            emit(i);
        }
        start.elapsed()
    })
}

fn chunks(iters: u64, mut run: impl FnMut(u64) -> Duration) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        total += run(n);
        left -= n;
    }
    total
}

fn hot_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("event");
    group.bench_function("no_layer", |b| {
        b.iter_custom(|iters| chunks(iters, |n| timed_chunk(tracing_subscriber::registry(), n)))
    });
    group.bench_function("fmt_to_sink", |b| {
        b.iter_custom(|iters| {
            chunks(iters, |n| {
                let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::sink);
                timed_chunk(tracing_subscriber::registry().with(fmt), n)
            })
        })
    });
    group.bench_function("discord_layer", |b| {
        b.iter_custom(|iters| {
            chunks(iters, |n| {
                // Nothing listens on port 9 and the queue (4 x CHUNK, woken at half) never
                // reaches its high-water mark, so the flusher sleeps through the chunk.
                let (layer, guard) = DiscordLayer::builder()
                    .bot_token("bench")
                    .api_base("http://127.0.0.1:9/api/v10")
                    .route(Class::Analytics, Destination::channel(1u64))
                    .route(Class::Diagnostics, Destination::channel(2u64))
                    .route(Class::Log, Destination::channel(3u64))
                    .queue_capacity(4 * CHUNK as usize)
                    .shutdown_timeout(Duration::ZERO)
                    .build()
                    .expect("valid configuration");
                let elapsed = timed_chunk(tracing_subscriber::registry().with(layer), n);
                drop(guard);
                elapsed
            })
        })
    });
    group.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
