//! Discord citizenship under faults: rate limits, retries, outages and refusals, with
//! nothing lost without being counted and nothing posted twice.

#![cfg(feature = "mock")]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{wait_until, Setup};
use tracing::{error, info};
use tracing_discord::mock::{AfterCommit, Fault, Scope};
use tracing_discord::{Class, DropReason};
use tracing_subscriber::prelude::*;

const LONG: Duration = Duration::from_secs(120);

/// Every `seq=N` in what a channel stored (code blocks, embeds and attached files).
fn seqs(s: &Setup, class: Class) -> Vec<u64> {
    let mut out = Vec::new();
    for m in s.messages(class) {
        let mut texts: Vec<String> = vec![m["content"].as_str().unwrap_or("").to_owned()];
        for e in m["embeds"].as_array().into_iter().flatten() {
            texts.push(e["description"].as_str().unwrap_or("").to_owned());
        }
        for f in m["_attachment_texts"].as_array().into_iter().flatten() {
            texts.push(f.as_str().unwrap_or("").to_owned());
        }
        for t in texts {
            for part in t.split("seq=").skip(1) {
                let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
                out.push(digits.parse().unwrap());
            }
        }
    }
    out
}

#[test]
fn a_burst_of_28_errors_arrives_in_order_with_at_most_one_429() {
    let s = Setup::new();
    let (layer, guard) = s
        .builder(LONG)
        .shutdown_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..28 {
            error!("failure number {i:02}");
            std::thread::sleep(Duration::from_millis(35));
        }
    });
    let stats = guard.shutdown();
    assert_eq!((stats.events, stats.delivered), (28, 28));
    assert!(stats.rate_limited <= 1, "{} 429s", stats.rate_limited);
    let order: Vec<String> = s
        .messages(Class::Log)
        .iter()
        .flat_map(|m| m["embeds"].as_array().cloned().unwrap_or_default())
        .map(|e| e["description"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..28).map(|i| format!("failure number {i:02}")).collect();
    assert_eq!(order, expected);
}

#[test]
fn a_steady_600_events_a_second_for_30_seconds_gets_no_429() {
    let s = Setup::new();
    let (layer, guard) = s
        .builder(Duration::from_secs(1))
        .shutdown_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let started = Instant::now();
    let mut seq = 0u64;
    tracing::dispatcher::with_default(&dispatch, || {
        for tick in 0..300u64 {
            // 6 events every 10 ms: 600 a second, two per class.
            for _ in 0..2 {
                info!(target: "diagnostics", seq, "heartbeat");
                seq += 1;
                info!(seq, "request served");
                seq += 1;
                info!(target: "analytics::ticks", "tick seq={seq}");
                seq += 1;
            }
            let due = started + Duration::from_millis(10 * (tick + 1));
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    });
    let stats = guard.shutdown();
    assert_eq!(
        (
            stats.events,
            stats.delivered,
            stats.dropped,
            stats.rate_limited
        ),
        (1800, 1800, 0, 0)
    );
    let mut all: Vec<u64> = Class::ALL.iter().flat_map(|c| seqs(&s, *c)).collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..1800).collect::<Vec<u64>>(),
        "every event exactly once"
    );
    assert_eq!(
        s.mock.status_counts().keys().copied().collect::<Vec<_>>(),
        [200]
    );
}

#[test]
fn a_response_lost_after_commit_is_retried_without_a_duplicate() {
    let s = Setup::new();
    s.mock
        .fail_next(1, Fault::CommitThenFail(AfterCommit::Hang));
    let (layer, guard) = s
        .builder(LONG)
        .request_timeout(Duration::from_millis(800))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        info!(seq = 7, "exactly once")
    });
    guard.flush(Duration::from_secs(10)).unwrap();
    let stats = guard.shutdown();
    assert_eq!((stats.delivered, stats.retries, stats.requests), (1, 1, 2));
    assert_eq!(s.messages(Class::Log).len(), 1);
    assert_eq!(seqs(&s, Class::Log), [7]);
}

#[test]
fn a_global_429_pauses_every_destination_and_shutdown_still_returns_in_time() {
    let s = Setup::new();
    s.mock.fail_next(
        1,
        Fault::RateLimited {
            scope: Scope::Global,
            retry_after: 600.0,
            code: None,
            remaining: None,
        },
    );
    let (layer, guard) = s
        .builder(LONG)
        .shutdown_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let handle = guard.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || error!("first"));
    assert!(wait_until(Duration::from_secs(2), || handle
        .stats()
        .rate_limited
        == 1));
    tracing::dispatcher::with_default(&dispatch, || {
        error!(target: "analytics", "analytics error");
        error!(target: "diagnostics", "diagnostics error");
        for i in 0..10 {
            info!(i, "waiting");
        }
    });
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        s.mock.request_count(),
        1,
        "nothing is sent during a global 429"
    );
    let stopping = Instant::now();
    let stats = guard.shutdown();
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "{:?}",
        stopping.elapsed()
    );
    assert_eq!((stats.events, stats.delivered, stats.dropped), (13, 0, 13));
    assert_eq!(stats.rate_limited_by_scope.global, 1);
    let timed_out: u64 = stats
        .per_class
        .iter()
        .map(|c| c.dropped_for(DropReason::ShutdownTimeout))
        .sum();
    assert_eq!(timed_out, 13);
}

#[test]
fn an_outage_drops_what_does_not_fit_counts_it_and_recovers() {
    let s = Setup::new();
    s.mock.set_down(true);
    let (layer, guard) = s.builder(LONG).queue_capacity(1000).build().unwrap();
    let handle = guard.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        for seq in 0..100_000u64 {
            info!(seq, "during the outage");
        }
    });
    let during = handle.stats();
    // Memory is bounded by twice the queue: the queue, and the batch drained from it that
    // is being posted. Whatever did not fit was dropped and counted.
    assert!(during.pending() <= 2 * 1000, "pending {}", during.pending());
    assert_eq!(
        during.class(Class::Log).dropped_for(DropReason::QueueFull),
        during.dropped
    );
    std::thread::sleep(Duration::from_secs(2));
    s.mock.set_down(false);
    assert!(wait_until(Duration::from_secs(30), || handle
        .stats()
        .pending()
        == 0));
    let stats = guard.shutdown();
    assert_eq!(stats.events, 100_000);
    assert_eq!(stats.delivered + stats.dropped, 100_000);
    assert!(stats.delivered >= 1000, "delivered {}", stats.delivered);
    assert!(stats.retries >= 1);
    let mut got = seqs(&s, Class::Log);
    got.sort_unstable();
    got.dedup();
    assert_eq!(
        got.len() as u64,
        stats.delivered,
        "each delivered event is readable once"
    );
}

#[test]
fn one_refused_event_does_not_sink_its_batch() {
    let s = Setup::new();
    s.mock.reject_marker(Some("POISON".into()));
    // Finding the part at fault takes a few requests (halving), paced at 4 per 5 s.
    let (layer, guard) = s
        .builder(LONG)
        .shutdown_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for seq in 0..11u64 {
            if seq == 6 {
                info!(seq, "POISON");
            } else {
                info!(seq, "fine");
            }
        }
    });
    let stats = guard.shutdown();
    assert_eq!((stats.events, stats.delivered), (11, 10));
    assert_eq!(stats.class(Class::Log).dropped_for(DropReason::Rejected), 1);
    let mut got = seqs(&s, Class::Log);
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2, 3, 4, 5, 7, 8, 9, 10]);
}

#[test]
fn a_forbidden_destination_gets_a_handful_of_requests_and_others_carry_on() {
    let s = Setup::new();
    s.mock
        .set_channel_permissions(s.channel(Class::Log), 1 << 10);
    let (layer, guard) = s.builder(Duration::from_millis(300)).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    for round in 0..5u64 {
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..20u64 {
                error!(round, i, "log error");
                info!(target: "diagnostics", seq = round * 20 + i, "diagnostics keep flowing");
            }
        });
        std::thread::sleep(Duration::from_millis(350));
    }
    let stats = guard.shutdown();
    let to_log = s
        .mock
        .requests()
        .iter()
        .filter(|r| r.path.contains(&s.channel(Class::Log).to_string()))
        .count();
    assert!(to_log <= 3, "{to_log} requests to the forbidden channel");
    assert_eq!(
        stats.class(Class::Log).dropped_for(DropReason::Unreachable),
        100
    );
    assert_eq!(stats.class(Class::Diagnostics).delivered, 100);
    let by_status: BTreeMap<u16, u64> = s.mock.status_counts();
    assert_eq!(by_status.get(&403).copied(), Some(to_log as u64));
}

#[test]
fn a_message_that_steps_aside_for_an_error_keeps_its_nonce() {
    let s = Setup::new();
    s.mock
        .fail_next(1, Fault::CommitThenFail(AfterCommit::Status500));
    s.mock.fail_next(
        1,
        Fault::RateLimited {
            scope: Scope::User,
            retry_after: 3.0,
            code: None,
            remaining: None,
        },
    );
    let (layer, guard) = s
        .builder(LONG)
        .shutdown_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let handle = guard.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || info!(seq = 1, "stored, then a 500"));
    guard.flush(Duration::from_millis(1)).ok();
    assert!(wait_until(Duration::from_secs(5), || handle
        .stats()
        .requests
        >= 2));
    tracing::dispatcher::with_default(&dispatch, || {
        error!(seq = 2, "arrives while the retry waits")
    });
    let stats = guard.shutdown();
    assert_eq!((stats.events, stats.delivered), (2, 2));
    let stored: Vec<String> = s
        .messages(Class::Log)
        .iter()
        .map(|m| m.to_string())
        .collect();
    assert_eq!(
        stored
            .iter()
            .filter(|m| m.contains("stored, then a 500"))
            .count(),
        1,
        "{stored:?}"
    );
}

#[test]
fn an_error_is_prompt_when_another_class_fills_the_shared_channel() {
    let s = Setup::new();
    let shared = s.channel(Class::Log);
    let (layer, guard) = s
        .builder(LONG)
        .route(
            Class::Diagnostics,
            tracing_discord::Destination::channel(shared),
        )
        .queue_capacity(4000)
        .max_inline_messages(50)
        .shutdown_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let handle = guard.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        for seq in 0..3000u64 {
            info!(target: "diagnostics", seq, "{}", "d".repeat(100));
        }
    });
    assert!(wait_until(Duration::from_secs(10), || handle
        .stats()
        .messages
        >= 4));
    let emitted = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || error!("URGENT"));
    let seen = || {
        s.messages(Class::Log)
            .iter()
            .any(|m| m["embeds"][0]["description"] == "URGENT")
    };
    assert!(wait_until(Duration::from_secs(8), seen));
    assert!(
        emitted.elapsed() < Duration::from_secs(1),
        "took {:?}",
        emitted.elapsed()
    );
    assert_eq!(s.mock.max_in_flight(), 1);
    drop(guard);
}

#[test]
fn a_file_too_big_for_the_channel_is_split_not_lost() {
    let s = Setup::new();
    s.mock.set_upload_limit(2000);
    let (layer, guard) = s
        .builder(LONG)
        .max_inline_messages(1)
        .shutdown_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for seq in 0..300u64 {
            info!(seq, "a line of a big batch");
        }
    });
    let stats = guard.shutdown();
    assert_eq!(
        (stats.events, stats.delivered, stats.dropped),
        (300, 300, 0)
    );
    let mut got = seqs(&s, Class::Log);
    got.sort_unstable();
    assert_eq!(got, (0..300).collect::<Vec<u64>>());
}

#[test]
fn errors_waiting_behind_a_429_travel_together() {
    let s = Setup::new();
    s.mock.fail_next(
        1,
        Fault::RateLimited {
            scope: Scope::User,
            retry_after: 2.0,
            code: None,
            remaining: None,
        },
    );
    let (layer, guard) = s
        .builder(LONG)
        .shutdown_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..150 {
            error!(i, "e");
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let stats = guard.shutdown();
    assert_eq!(
        (stats.events, stats.delivered, stats.dropped),
        (150, 150, 0)
    );
    // At most 10 embeds a message: 15 messages at best; a few more from timing.
    assert!(stats.messages <= 25, "{} messages", stats.messages);
}

#[test]
fn a_steady_stream_of_errors_does_not_starve_batches() {
    let s = Setup::new();
    let (layer, guard) = s
        .builder(Duration::from_secs(1))
        .queue_capacity(2000)
        .shutdown_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for tick in 0..400u64 {
            info!(seq = tick, "request served");
            if tick % 20 == 0 {
                error!(seq = 1000 + tick, "upstream failed");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let stats = guard.shutdown();
    assert_eq!(
        (stats.events, stats.delivered, stats.dropped),
        (420, 420, 0)
    );
    assert_eq!(stats.rate_limited, 0);
}

#[test]
fn one_refused_error_does_not_sink_the_errors_it_travels_with() {
    let s = Setup::new();
    s.mock.reject_marker(Some("POISON".into()));
    let (layer, guard) = s
        .builder(LONG)
        .shutdown_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for seq in 0..4u64 {
            if seq == 2 {
                error!(seq, "POISON");
            } else {
                error!(seq, "fine");
            }
        }
    });
    let stats = guard.shutdown();
    assert_eq!((stats.events, stats.delivered), (4, 3));
    assert_eq!(stats.class(Class::Log).dropped_for(DropReason::Rejected), 1);
    // Halving finds the refused embed in a few requests; the halves are never merged back.
    assert!(stats.requests <= 6, "{} requests", stats.requests);
}
