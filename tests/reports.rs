//! Reports end to end: spans and analytics events emitted through the real layer land as a
//! performance report or an analytics rollup (and a JSON Lines file) in the right channel
//! of the emulator, and every event is counted delivered exactly once.

#![cfg(feature = "mock")]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{strip_ansi, Setup};
use serde_json::Value;
use tracing::{error, info, info_span};
use tracing_discord::render::BUSY_LEGEND;
use tracing_discord::{AnalyticsMode, Class};
use tracing_subscriber::prelude::*;

const LONG: Duration = Duration::from_secs(120);

/// The code-block lines of a channel, colours removed (report lines have no time prefix).
fn block_lines(s: &Setup, class: Class) -> Vec<String> {
    let mut out = Vec::new();
    for m in s.messages(class) {
        let descriptions = m["embeds"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["description"].as_str().map(str::to_owned));
        let blocks = m["content"]
            .as_str()
            .map(str::to_owned)
            .into_iter()
            .chain(descriptions);
        for b in blocks {
            if let Some(body) = b
                .strip_prefix("```ansi\n")
                .and_then(|b| b.strip_suffix("\n```"))
            {
                out.extend(body.split('\n').map(strip_ansi));
            }
        }
    }
    out
}

/// The rows of the performance report: name, count, errors.
fn report_rows(lines: &[String]) -> Vec<(String, u64, u64)> {
    let at = lines
        .iter()
        .position(|l| l.starts_with("performance · "))
        .expect("a performance report");
    assert!(lines[at + 1].starts_with("span "), "{lines:?}");
    lines[at + 2..]
        .iter()
        .take_while(|l| {
            !l.starts_with("performance · ") && !l.contains("INFO ") && *l != BUSY_LEGEND
        })
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cells.len(), 8, "{l}");
            (
                cells[0].to_owned(),
                cells[1].parse().unwrap(),
                cells[7].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn diagnostics_spans_become_one_performance_report() {
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).timed_span("render").build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..10 {
            let span = info_span!(target: "diagnostics", "db_query", i);
            let _entered = span.enter();
            if i == 3 {
                error!("query failed");
            }
        }
        for _ in 0..3 {
            // Timed by name, whatever the target; entered twice, closed once.
            let span = info_span!("render");
            span.in_scope(|| {});
            span.in_scope(|| {});
        }
        // Neither a diagnostics target nor a timed name: not timed.
        info_span!("handler").in_scope(|| info!("handled"));
        // An ignored crate is never timed, even by name.
        info_span!(target: "hyper::client", "render").in_scope(|| {});
        info!(target: "diagnostics", heartbeat_ms = 41, "heartbeat");
    });
    let stats = guard.shutdown();
    let lines = block_lines(&s, Class::Diagnostics);
    // Rows are sorted by total time, which the clock decides: compare them by name.
    let mut rows = report_rows(&lines);
    rows.sort();
    assert_eq!(
        rows,
        [("db_query".to_owned(), 10, 1), ("render".to_owned(), 3, 0)]
    );
    // The header, two rows, then what `busy` means.
    let at = lines
        .iter()
        .position(|l| l.starts_with("performance · "))
        .unwrap();
    assert_eq!(
        lines[at + 4],
        "busy: share of the spans' lifetime spent running (entered), not waiting"
    );
    let title = lines
        .iter()
        .find(|l| l.starts_with("performance · "))
        .unwrap();
    assert!(
        title.starts_with("performance · 13 spans closed · "),
        "{title}"
    );
    assert!(title.ends_with(" UTC"), "{title}");
    // One report, in the diagnostics channel only.
    let reports = |class| {
        block_lines(&s, class)
            .iter()
            .filter(|l| l.starts_with("performance · "))
            .count()
    };
    assert_eq!(
        (
            reports(Class::Diagnostics),
            reports(Class::Log),
            reports(Class::Analytics)
        ),
        (1, 0, 0)
    );
    // 13 span closes, the heartbeat and the ERROR and INFO in the log: all delivered.
    let d = stats.class(Class::Diagnostics);
    assert_eq!((d.events, d.delivered, d.dropped_total()), (14, 14, 0));
    assert_eq!((stats.events, stats.delivered, stats.dropped), (16, 16, 0));
}

#[test]
fn no_report_when_no_span_closed_and_none_when_timings_are_off() {
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        info!(target: "diagnostics", "heartbeat");
        // Still open when the guard shuts down: it never closed, so it is not reported.
        std::mem::forget(info_span!(target: "diagnostics", "forever"));
    });
    guard.shutdown();
    assert_eq!(
        block_lines(&s, Class::Diagnostics)
            .iter()
            .map(|l| l[9..].to_owned())
            .collect::<Vec<_>>(),
        ["INFO  diagnostics: heartbeat"]
    );

    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).span_timings(false).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        info_span!(target: "diagnostics", "db_query").in_scope(|| {});
    });
    let stats = guard.shutdown();
    assert!(s.messages(Class::Diagnostics).is_empty());
    assert_eq!(stats.events, 0);
}

/// The command events of the rollup tests: (command, user_id), 12 events, 3 users.
const COMMANDS: [(&str, u64); 12] = [
    ("ping", 1),
    ("ping", 2),
    ("ping", 3),
    ("ping", 1),
    ("play", 1),
    ("play", 2),
    ("play", 2),
    ("skip", 3),
    ("skip", 3),
    ("queue", 1),
    ("help", 2),
    ("ping", 2),
];

fn emit_analytics() {
    for (command, user_id) in COMMANDS {
        info!(target: "analytics", command, user_id, "command used");
    }
    for guild in 0..3u64 {
        let _shard = info_span!("shard", id = guild % 2).entered();
        info!(target: "analytics", guild_id = 600 + guild, "guild joined");
    }
}

#[test]
fn rollup_mode_posts_exact_counts_and_the_events_as_json_lines() {
    let s = Setup::new();
    let (layer, guard) = s
        .builder(LONG)
        .analytics_mode(AnalyticsMode::Rollup)
        .rollup_field("command")
        .rollup_distinct("user_id")
        .rollup_top(3)
        .analytics_jsonl(true)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit_analytics);
    let stats = guard.shutdown();
    let lines = block_lines(&s, Class::Analytics);
    let title = &lines[0];
    assert!(
        title.starts_with("analytics rollup · 15 events · "),
        "{title}"
    );
    assert_eq!(
        lines[1..],
        [
            "events by message",
            "message       events",
            "command used  12",
            "guild joined  3",
            "command · top 3 of 5 values",
            "value  events",
            "ping   5",
            "play   3",
            "skip   2",
            "other  2",
            "user_id · 3 distinct",
        ]
    );
    // The JSON Lines file holds every analytics event exactly once.
    let files: Vec<String> = s
        .messages(Class::Analytics)
        .iter()
        .flat_map(|m| {
            m["_attachment_texts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(files.len(), 1);
    let events: Vec<Value> = files[0]
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 15);
    let mut seen: BTreeMap<(String, u64), u64> = BTreeMap::new();
    for e in &events[..12] {
        assert_eq!(e["level"], "INFO");
        assert_eq!(e["target"], "analytics");
        assert_eq!(e["message"], "command used");
        assert_eq!(e["spans"], serde_json::json!([]));
        let time = e["time"].as_str().unwrap();
        assert!(time.len() == 24 && time.ends_with('Z') && &time[10..11] == "T");
        let key = (
            e["fields"]["command"].as_str().unwrap().to_owned(),
            // Recorded as a number, written as a JSON number.
            e["fields"]["user_id"].as_u64().unwrap(),
        );
        *seen.entry(key).or_default() += 1;
    }
    let mut want: BTreeMap<(String, u64), u64> = BTreeMap::new();
    for (c, u) in COMMANDS {
        *want.entry((c.to_owned(), u)).or_default() += 1;
    }
    assert_eq!(seen, want);
    assert_eq!(
        events[12..]
            .iter()
            .map(|e| (
                e["fields"]["guild_id"].as_u64().unwrap(),
                e["spans"].clone()
            ))
            .collect::<Vec<_>>(),
        [
            (600, serde_json::json!(["shard{id=0}"])),
            (601, serde_json::json!(["shard{id=1}"])),
            (602, serde_json::json!(["shard{id=0}"])),
        ]
    );
    // Counted once, delivered with the rollup; the file counts nothing by itself.
    let a = stats.class(Class::Analytics);
    assert_eq!((a.events, a.delivered, a.dropped_total()), (15, 15, 0));
    assert_eq!(a.messages, 2);
}

#[test]
fn both_mode_posts_rows_and_the_rollup_counting_each_event_once() {
    let s = Setup::new();
    let (layer, guard) = s
        .builder(LONG)
        .analytics_mode(AnalyticsMode::Both)
        .rollup_field("command")
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit_analytics);
    let stats = guard.shutdown();
    let lines = block_lines(&s, Class::Analytics);
    assert!(lines[0].starts_with("command used · analytics · 12 events"));
    let rollup = lines
        .iter()
        .position(|l| l.starts_with("analytics rollup · 15 events"))
        .expect("a rollup after the rows");
    assert_eq!(lines[rollup + 3], "command used  12");
    assert_eq!(lines[rollup + 7], "ping   5");
    let a = stats.class(Class::Analytics);
    assert_eq!((a.events, a.delivered, a.messages), (15, 15, 2));
}

#[test]
fn rollup_intervals_post_one_rollup_each() {
    let s = Setup::new();
    let (layer, guard) = s
        .builder(Duration::from_millis(400))
        .analytics_mode(AnalyticsMode::Rollup)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        info!(target: "analytics", "first interval");
    });
    assert!(common::wait_until(Duration::from_secs(5), || !s
        .messages(Class::Analytics)
        .is_empty()));
    tracing::dispatcher::with_default(&dispatch, || {
        info!(target: "analytics", "second interval");
        info!(target: "analytics", "second interval");
    });
    let stats = guard.shutdown();
    let titles: Vec<String> = block_lines(&s, Class::Analytics)
        .into_iter()
        .filter(|l| l.starts_with("analytics rollup"))
        .map(|l| l.split(" · ").take(2).collect::<Vec<_>>().join(" · "))
        .collect();
    assert_eq!(
        titles,
        ["analytics rollup · 1 event", "analytics rollup · 2 events"]
    );
    assert_eq!((stats.events, stats.delivered), (3, 3));
}

#[test]
fn a_busy_diagnostics_queue_drained_early_still_gets_its_report_each_interval() {
    // No rate limits, so that batches go at once and the queue keeps being drained early.
    let mock = tracing_discord::mock::MockDiscord::start_with(
        tracing_discord::mock::MockConfig::with_unlimited_rates(),
    )
    .unwrap();
    let channels = Class::ALL.map(|c| mock.add_channel(c.name()));
    let s = Setup { mock, channels };
    // A queue of 8 is drained at 4 (half full), far more often than the interval.
    let (layer, guard) = s
        .builder(Duration::from_millis(500))
        .queue_capacity(8)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let started = std::time::Instant::now();
    let reported = |s: &Setup| {
        block_lines(s, Class::Diagnostics)
            .iter()
            .any(|l| l.starts_with("performance · "))
    };
    while !reported(&s) && started.elapsed() < Duration::from_secs(5) {
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..4 {
                info_span!(target: "diagnostics", "tick").in_scope(|| {
                    info!(target: "diagnostics", i, "busy");
                });
            }
        });
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        reported(&s),
        "no report while the queue kept being drained early"
    );
    let stats = guard.shutdown();
    assert_eq!(stats.events, stats.delivered + stats.dropped);
}

/// "ERRORs are posted at once as always, and are not in the rollup" (`analytics_mode`).
/// When the urgent queue is full, an ERROR falls back to the class queue "and is posted
/// with the batch": in rollup mode it must still not be folded into the rollup (where it
/// would be counted as an ordinary event and never shown as an ERROR).
#[test]
fn analytics_errors_that_overflow_the_urgent_queue_stay_out_of_the_rollup() {
    let s = Setup::new();
    // A capacity of 4 bounds the urgent queue at 4 as well.
    let (layer, guard) = s
        .builder(LONG)
        .queue_capacity(4)
        .analytics_mode(AnalyticsMode::Rollup)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..8 {
            error!(target: "analytics", i, "payment failed");
        }
    });
    let stats = guard.shutdown();
    let a = stats.class(Class::Analytics);
    assert_eq!(a.events, 8);
    assert_eq!(a.events, a.delivered + a.dropped_total());
    let rolled_up: Vec<String> = block_lines(&s, Class::Analytics)
        .into_iter()
        .filter(|l| l.starts_with("analytics rollup") || l.contains("payment failed  "))
        .collect();
    assert!(
        rolled_up.is_empty(),
        "ERRORs were counted in the rollup instead of posted as ERRORs: {rolled_up:?}"
    );
}

/// Spans closing on other threads while the guard shuts down: every close is counted
/// delivered or dropped once shutdown has returned and the threads have stopped. A close
/// that passed the "closed" check just before shutdown and lands in the span queue after
/// the flusher's last drain of it must still be counted (as a shutdown drop).
#[test]
fn span_closes_racing_shutdown_are_all_accounted_for() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    for round in 0..20 {
        let s = Setup::with_config(tracing_discord::mock::MockConfig::with_unlimited_rates());
        let (layer, guard) = s.builder(LONG).build().unwrap();
        let handle = guard.handle();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (dispatch, stop) = (dispatch.clone(), Arc::clone(&stop));
                std::thread::spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        while !stop.load(Ordering::Relaxed) {
                            info_span!(target: "diagnostics", "tick").in_scope(|| {});
                        }
                    })
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        guard.shutdown();
        stop.store(true, Ordering::Relaxed);
        threads.into_iter().for_each(|t| t.join().unwrap());
        let stats = handle.stats();
        let d = stats.class(Class::Diagnostics);
        assert_eq!(
            d.events,
            d.delivered + d.dropped_total(),
            "round {round}: {} span closes neither delivered nor dropped ({d:?})",
            d.events - d.delivered - d.dropped_total()
        );
    }
}

/// JSON Lines write a field recorded as a number as a JSON number whatever its width
/// (`record_u128` and `record_i128` record numbers as much as `record_u64` does), except
/// where a reader would round it (beyond 2^53) or it is not a number any more (redacted),
/// or never was one JSON can hold (NaN).
#[test]
fn json_lines_write_numbers_of_every_width_as_numbers() {
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).analytics_jsonl(true).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        info!(
            target: "analytics",
            small = 5u128,
            big = u128::MAX,
            negative = -7i128,
            lowest = i128::MIN,
            id = 80_351_110_224_678_912u64,
            token_count = 3u64,
            ratio = f64::NAN,
            latency = 3.5,
            "numbers"
        );
    });
    let stats = guard.shutdown();
    let files: Vec<String> = s
        .messages(Class::Analytics)
        .iter()
        .flat_map(|m| {
            m["_attachment_texts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(files.len(), 1);
    let event: Value = serde_json::from_str(files[0].trim_end()).unwrap();
    assert_eq!(
        event["fields"],
        serde_json::json!({
            "small": 5,
            "big": "340282366920938463463374607431768211455",
            "negative": -7,
            "lowest": "-170141183460469231731687303715884105728",
            "id": "80351110224678912",
            "token_count": "[redacted]",
            "ratio": "NaN",
            "latency": 3.5,
        })
    );
    assert_eq!(stats.class(Class::Analytics).delivered, 1);
}
