//! The pipeline end to end: the real layer, real HTTP, the built-in emulator.

#![cfg(feature = "mock")]

mod common;

use std::time::{Duration, Instant};

use common::{wait_until, Setup};
use serde_json::json;
use tracing::{error, info, info_span, warn};
use tracing_discord::{Class, DropReason};
use tracing_subscriber::prelude::*;

const LONG: Duration = Duration::from_secs(120);

#[test]
fn each_class_lands_in_its_own_channel_only() {
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        info!(target: "analytics", command = "ping", "command used");
        info!(target: "analytics::commands", command = "play", "command used");
        info!(target: "diagnostics", heartbeat_ms = 41, "heartbeat");
        info!(target: "my_bot::gateway", "connected");
        info!(target: "analyticsish", "not analytics");
    });
    let stats = guard.shutdown();
    assert_eq!(
        s.lines(Class::Analytics),
        [
            "command used · analytics · 1 event",
            "time      command",
            " ping",
            "command used · analytics::commands · 1 event",
            "time      command",
            " play",
        ]
    );
    assert_eq!(
        s.lines(Class::Diagnostics),
        ["INFO  diagnostics: heartbeat heartbeat_ms=41"]
    );
    assert_eq!(
        s.lines(Class::Log),
        [
            "INFO  my_bot::gateway: connected",
            "INFO  analyticsish: not analytics"
        ]
    );
    assert_eq!(
        (stats.events, stats.delivered, stats.dropped, stats.messages),
        (5, 5, 0, 3)
    );
}

#[test]
fn configured_prefixes_reroute_targets() {
    let s = Setup::new();
    let (layer, guard) = s
        .builder(LONG)
        .classify("metrics", Class::Diagnostics)
        .classify("analytics::internal", Class::Log)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        info!(target: "metrics::db", "pool size");
        info!(target: "analytics::internal", "cache refreshed");
    });
    guard.shutdown();
    assert_eq!(
        s.lines(Class::Diagnostics),
        ["INFO  metrics::db: pool size"]
    );
    assert_eq!(
        s.lines(Class::Log),
        ["INFO  analytics::internal: cache refreshed"]
    );
    assert!(s.messages(Class::Analytics).is_empty());
}

#[test]
fn an_error_is_posted_at_once_despite_a_long_interval() {
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    let emitted = Instant::now();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        info!("waits for the batch");
        error!(attempt = 3, "database unreachable");
    });
    assert!(wait_until(Duration::from_secs(1), || !s
        .messages(Class::Log)
        .is_empty()));
    let waited = emitted.elapsed();
    assert!(waited < Duration::from_secs(1), "took {waited:?}");
    let messages = s.messages(Class::Log);
    assert_eq!(
        messages.len(),
        1,
        "only the ERROR, the INFO waits for its batch"
    );
    let embed = &messages[0]["embeds"][0];
    assert_eq!(embed["title"], "ERROR pipeline");
    assert_eq!(embed["description"], "database unreachable");
    assert_eq!(embed["color"], 0xE74C3C);
    assert_eq!(
        embed["fields"],
        json!([{"name": "attempt", "value": "3", "inline": true}])
    );
    let stats = guard.shutdown();
    assert_eq!((stats.events, stats.delivered), (2, 2));
}

#[test]
fn a_batch_arrives_after_the_interval_in_emission_order_in_one_message() {
    let s = Setup::new();
    let interval = Duration::from_millis(700);
    let (layer, guard) = s.builder(interval).build().unwrap();
    let started = Instant::now();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..40 {
            info!(i, "event");
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        s.messages(Class::Log).is_empty(),
        "nothing before the interval"
    );
    assert!(wait_until(Duration::from_secs(3), || !s
        .messages(Class::Log)
        .is_empty()));
    assert!(started.elapsed() >= interval);
    let expected: Vec<String> = (0..40)
        .map(|i| format!("INFO  pipeline: event i={i}"))
        .collect();
    assert_eq!(s.lines(Class::Log), expected);
    // 40 lines of about 30 characters fit one content block.
    assert_eq!(s.messages(Class::Log).len(), 1);
    let stats = guard.shutdown();
    assert_eq!(
        (stats.delivered, stats.messages, stats.requests),
        (40, 1, 1)
    );
}

#[test]
fn every_message_is_within_limits_and_pings_nobody() {
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        info!("@everyone <@80351110224678912> <@&613425648685547541> @here");
        error!("@everyone the database is down");
        let long = "x".repeat(5000);
        info!(%long, "a long field");
    });
    let stats = guard.shutdown();
    assert_eq!((stats.events, stats.delivered, stats.dropped), (3, 3, 0));
    assert_eq!(
        s.mock.status_counts().into_iter().collect::<Vec<_>>(),
        [(200, stats.requests)]
    );
    for r in s.mock.requests() {
        assert_eq!(r.body["allowed_mentions"], json!({"parse": []}));
        assert!(r.allowed_mentions_parse.is_empty());
    }
}

#[test]
fn span_context_travels_with_the_event() {
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let shard = info_span!("shard", id = 3);
        let _s = shard.enter();
        let command = info_span!("command", name = "play", user = tracing::field::Empty);
        command.record("user", 42);
        command.in_scope(|| warn!(queue = 7, "queue almost full"));
    });
    guard.shutdown();
    assert_eq!(
        s.lines(Class::Log),
        ["WARN  pipeline: shard{id=3}: command{name=play user=42}: queue almost full queue=7"]
    );
}

/// A span keeps its chain for the events inside it: a field an ancestor records after the
/// span was made still shows in the span's next event, and in no event before it.
#[test]
fn an_ancestor_recorded_after_its_child_was_made_shows_its_new_fields() {
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let request = info_span!("request", user = tracing::field::Empty);
        let handler = request.in_scope(|| info_span!("handler"));
        handler.in_scope(|| info!("before"));
        request.record("user", 42);
        handler.in_scope(|| info!("after"));
        handler.in_scope(|| info!("again"));
    });
    guard.shutdown();
    assert_eq!(
        s.lines(Class::Log),
        [
            "INFO  pipeline: request: handler: before",
            "INFO  pipeline: request{user=42}: handler: after",
            "INFO  pipeline: request{user=42}: handler: again",
        ]
    );
}

fn emit_50(layer: tracing_discord::DiscordLayer) {
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..50 {
            info!(i, "pending at exit");
        }
    });
}

#[test]
fn dropping_the_guard_in_plain_main_delivers_everything() {
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    let handle = guard.handle();
    emit_50(layer);
    drop(guard);
    assert_eq!(s.lines(Class::Log).len(), 50);
    let stats = handle.stats();
    assert_eq!((stats.events, stats.delivered, stats.dropped), (50, 50, 0));
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_the_guard_inside_a_current_thread_runtime_delivers_everything() {
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    let handle = guard.handle();
    emit_50(layer);
    drop(guard);
    assert_eq!(s.lines(Class::Log).len(), 50);
    assert_eq!(handle.stats().delivered, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_guard_inside_async_main_delivers_everything() {
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    let handle = guard.handle();
    emit_50(layer);
    tokio::task::yield_now().await;
    drop(guard);
    assert_eq!(s.lines(Class::Log).len(), 50);
    assert_eq!(handle.stats().delivered, 50);
}

#[test]
fn the_guard_flushes_after_the_applications_runtime_is_gone() {
    let s = Setup::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (layer, guard) = runtime.block_on(async { s.builder(LONG).build().unwrap() });
    emit_50(layer);
    drop(runtime);
    let stats = guard.shutdown();
    assert_eq!((stats.delivered, s.lines(Class::Log).len()), (50, 50));
}

#[test]
fn explicit_flush_delivers_without_stopping() {
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || info!("first"));
    guard.flush(Duration::from_secs(5)).unwrap();
    assert_eq!(s.lines(Class::Log), ["INFO  pipeline: first"]);
    tracing::dispatcher::with_default(&dispatch, || info!("second"));
    guard.flush(Duration::from_secs(5)).unwrap();
    assert_eq!(
        s.lines(Class::Log),
        ["INFO  pipeline: first", "INFO  pipeline: second"]
    );
    assert_eq!(guard.shutdown().messages, 2);
}

#[test]
fn a_full_queue_drops_and_counts_silently() {
    let s = Setup::new();
    s.mock.set_stalled(true);
    let (layer, guard) = s
        .builder(LONG)
        .queue_capacity(4)
        .shutdown_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let handle = guard.handle();
    // Counts every event any layer sees: the drop path must add none of its own.
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = CountEvents(seen.clone());
    tracing::subscriber::with_default(
        tracing_subscriber::registry().with(layer).with(counter),
        || {
            // One batch is posted (asked for by a flush) and hangs on the stalled emulator:
            // the lane is busy with a batch, so the queue is not drained while the 100
            // events arrive.
            info!("stuck");
            let _ = handle.flush(Duration::from_millis(1));
            assert!(wait_until(Duration::from_secs(2), || handle
                .stats()
                .requests
                == 1));
            for i in 0..100 {
                info!(i, "burst");
            }
        },
    );
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 101);
    let stats = handle.stats();
    assert_eq!(
        stats.class(Class::Log).dropped_for(DropReason::QueueFull),
        96
    );
    assert_eq!(stats.events, 101);
    let stats = guard.shutdown();
    // The stuck batch and the 4 queued events could not be posted before the deadline.
    assert_eq!(
        stats
            .class(Class::Log)
            .dropped_for(DropReason::ShutdownTimeout),
        5
    );
    assert_eq!((stats.delivered, stats.dropped), (0, 101));
    s.mock.set_stalled(false);
}

#[test]
fn drops_are_announced_in_the_next_message_of_the_class() {
    let s = Setup::new();
    s.mock.set_stalled(true);
    let (layer, guard) = s.builder(LONG).queue_capacity(4).build().unwrap();
    let handle = guard.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        info!("stuck");
        let _ = handle.flush(Duration::from_millis(1));
        assert!(wait_until(Duration::from_secs(2), || handle
            .stats()
            .requests
            == 1));
        for i in 0..100 {
            info!(i, "burst");
        }
    });
    s.mock.set_stalled(false);
    let stats = guard.shutdown();
    assert_eq!((stats.events, stats.delivered, stats.dropped), (101, 5, 96));
    assert_eq!(
        s.lines(Class::Log),
        [
            "INFO  pipeline: stuck",
            "96 events dropped since the last message (queue full)",
            "INFO  pipeline: burst i=0",
            "INFO  pipeline: burst i=1",
            "INFO  pipeline: burst i=2",
            "INFO  pipeline: burst i=3",
        ]
    );
    assert_eq!(s.messages(Class::Log).len(), 2);
}

struct CountEvents(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountEvents {
    fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_field_whose_debug_emits_an_event_neither_recurses_nor_deadlocks() {
    struct Noisy;
    impl std::fmt::Debug for Noisy {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            info!("emitted from Debug");
            f.write_str("noisy")
        }
    }
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        info!(value = ?Noisy, "outer");
    });
    let stats = guard.shutdown();
    assert_eq!(s.lines(Class::Log), ["INFO  pipeline: outer value=noisy"]);
    // Under a scoped dispatcher tracing itself sends the nested event nowhere; under the
    // global one it reaches the layer (see tests/no_recursion.rs).
    assert_eq!((stats.events, stats.delivered, stats.dropped), (1, 1, 0));
}

/// A span field recorded with `span.record` whose `Debug` emits an event inside that span:
/// `Span::record` reaches the layer without tracing's re-entrancy guard, so the nested
/// event is captured, and it reads the span's extensions. Formatted while the layer held
/// them locked for writing, it deadlocked the application thread.
#[test]
fn a_span_field_whose_debug_emits_an_event_does_not_deadlock() {
    struct Loud;
    impl std::fmt::Debug for Loud {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            info!("emitted from a span field's Debug");
            f.write_str("loud")
        }
    }
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    // On its own thread: a deadlock fails the test instead of hanging it.
    std::thread::spawn(move || {
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let span = info_span!("request", v = tracing::field::Empty);
            let _entered = span.enter();
            span.record("v", tracing::field::debug(Loud));
            info!("after");
        });
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(20))
        .expect("span.record deadlocked");
    guard.shutdown();
    assert_eq!(
        s.lines(Class::Log),
        [
            "INFO  pipeline: request: emitted from a span field's Debug",
            "INFO  pipeline: request{v=loud}: after",
        ]
    );
}

/// A span field whose `Debug` panics in `span.record`: formatted while the layer held the
/// span's extensions locked, the panic poisoned them, and every later event in the span
/// panicked in the layer (and its close aborted the process while unwinding).
#[test]
fn a_span_field_whose_debug_panics_leaves_the_span_usable() {
    struct Boom;
    impl std::fmt::Debug for Boom {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            panic!("a Debug impl that panics")
        }
    }
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = info_span!("request", k = 1, v = tracing::field::Empty);
        let recorded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            span.record("v", tracing::field::debug(Boom));
        }));
        assert!(recorded.is_err());
        let after = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            span.in_scope(|| info!("after"));
        }));
        if after.is_err() {
            // Leaked, not closed: a poisoned span aborts the process as it closes.
            std::mem::forget(span);
            panic!("an event in the span panicked");
        }
    });
    let stats = guard.shutdown();
    assert_eq!(s.lines(Class::Log), ["INFO  pipeline: request{k=1}: after"]);
    assert_eq!((stats.events, stats.delivered), (1, 1));
}

#[test]
fn a_forbidden_channel_is_given_up_and_counted() {
    let s = Setup::new();
    s.mock
        .set_channel_permissions(s.channel(Class::Log), 1 << 10); // VIEW_CHANNEL only
    let (layer, guard) = s.builder(LONG).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..3 {
            error!(i, "nobody will read this");
        }
    });
    let stats = guard.shutdown();
    assert_eq!(
        stats.class(Class::Log).dropped_for(DropReason::Unreachable),
        3
    );
    // Discord answers 403 50013 both for a missing Send Messages and (sometimes) for a
    // missing Embed Links; so the ERROR embed is tried once more as plain text, and that
    // second 403 gives the destination up. Nothing more is sent there.
    assert_eq!(s.mock.status_counts().get(&403), Some(&2));
    assert_eq!(stats.requests, 2);
}

#[test]
fn webhooks_are_posted_with_wait_true() {
    let s = Setup::new();
    let hook = s.mock.add_webhook(s.channel(Class::Log), "logs");
    let (layer, guard) = s
        .builder(LONG)
        .route(Class::Log, tracing_discord::Destination::webhook(hook))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        info!("via webhook")
    });
    let stats = guard.shutdown();
    assert_eq!(stats.delivered, 1);
    assert_eq!(s.lines(Class::Log), ["INFO  pipeline: via webhook"]);
    let messages = s.messages(Class::Log);
    assert!(messages[0]["webhook_id"].is_string());
    let request = &s.mock.requests()[0];
    assert_eq!(request.method, "POST");
    assert!(request.path.contains("/webhooks/"));
    assert_eq!(request.query, "wait=true");
}

#[test]
fn a_split_line_in_flight_at_shutdown_is_counted_once() {
    let s = Setup::new();
    s.mock.set_stalled(true);
    let (layer, guard) = s
        .builder(LONG)
        .shutdown_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        info!("{}", "x".repeat(10_000));
    });
    let stats = guard.shutdown();
    assert_eq!((stats.events, stats.delivered, stats.dropped), (1, 0, 1));
    assert_eq!(
        stats
            .class(Class::Log)
            .dropped_for(DropReason::ShutdownTimeout),
        1
    );
    s.mock.set_stalled(false);
}

#[test]
fn flush_returns_while_another_thread_keeps_logging() {
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producer = {
        let (dispatch, stop) = (dispatch.clone(), stop.clone());
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    info!("tick");
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let flushed = guard.flush(Duration::from_secs(5));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    producer.join().unwrap();
    assert_eq!(flushed, Ok(()));
    let stats = guard.shutdown();
    assert_eq!(stats.events, stats.delivered);
}

#[test]
fn errors_queued_behind_a_slow_request_keep_their_order() {
    let s = Setup::new();
    s.mock.set_latency(Duration::from_millis(300));
    let (layer, guard) = s.builder(LONG).build().unwrap();
    let handle = guard.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        error!("E0");
        assert!(wait_until(Duration::from_secs(2), || handle
            .stats()
            .requests
            == 1));
        for e in ["E1", "E2", "E3"] {
            error!("{e}");
            std::thread::sleep(Duration::from_millis(30));
        }
    });
    let stats = guard.shutdown();
    assert_eq!(stats.delivered, 4);
    let order: Vec<String> = s
        .messages(Class::Log)
        .iter()
        .flat_map(|m| m["embeds"].as_array().cloned().unwrap_or_default())
        .map(|e| e["description"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(order, ["E0", "E1", "E2", "E3"]);
}

#[test]
fn an_error_is_prompt_even_while_a_big_batch_spends_the_bucket() {
    let s = Setup::new();
    // A short shutdown: the rest of the big batch is not what this test waits for.
    let (layer, guard) = s
        .builder(LONG)
        .queue_capacity(2000)
        .shutdown_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let handle = guard.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..1100 {
            info!("{i:05} {}", "p".repeat(150));
        }
    });
    // The high-water mark starts the batch early: about 24 messages at Discord's 5 per 5 s.
    assert!(wait_until(Duration::from_secs(8), || handle
        .stats()
        .messages
        >= 5));
    let emitted = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || error!("URGENT"));
    let seen = || {
        s.messages(Class::Log)
            .iter()
            .any(|m| m["embeds"][0]["description"] == "URGENT")
    };
    assert!(wait_until(Duration::from_secs(3), seen));
    assert!(
        emitted.elapsed() < Duration::from_secs(1),
        "took {:?}",
        emitted.elapsed()
    );
    assert_eq!(s.mock.status_counts().get(&429), None);
    drop(guard);
}

/// Two Discord layers on one registry (say, two servers, or per-layer filters routing to
/// different bots): each keeps its own span context and timings. Both insert their span
/// extensions under the same types, and tracing-subscriber's `ExtensionsMut::insert`
/// panics when a type is already there.
#[test]
fn two_discord_layers_share_one_registry() {
    let a = Setup::new();
    let b = Setup::new();
    let (layer_a, guard_a) = a.builder(LONG).build().unwrap();
    let (layer_b, guard_b) = b.builder(LONG).timed_span("outer").build().unwrap();
    let subscriber = tracing_subscriber::registry().with(layer_a).with(layer_b);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tracing::subscriber::with_default(subscriber, || {
            let span = info_span!("outer", k = 1, v = tracing::field::Empty);
            span.record("v", 2);
            span.in_scope(|| info!("in a span"));
        });
    }));
    let (stats_a, stats_b) = (guard_a.shutdown(), guard_b.shutdown());
    assert!(outcome.is_ok(), "a span panicked with two Discord layers");
    for (s, stats) in [(&a, &stats_a), (&b, &stats_b)] {
        assert_eq!(
            s.lines(Class::Log),
            ["INFO  pipeline: outer{k=1 v=2}: in a span"]
        );
        assert_eq!(stats.events, stats.delivered + stats.dropped);
    }
    // Only the second layer times `outer`: one close, in its report only.
    assert_eq!(stats_a.class(Class::Diagnostics).events, 0);
    assert_eq!(stats_b.class(Class::Diagnostics).events, 1);
}
