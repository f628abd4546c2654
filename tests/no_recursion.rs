//! The layer installed as the global default with every target at TRACE: the HTTP stack's
//! own events (hyper, reqwest, h2, rustls) and the crate's never re-enter the queues.
//! One test in this binary, because the global default can be set only once per process.

#![cfg(feature = "mock")]

mod common;

use std::time::Duration;

use common::{wait_until, Setup};
use tracing::info;
use tracing_discord::{Class, DropReason};
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

struct Noisy;

impl std::fmt::Debug for Noisy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        info!("emitted from Debug");
        f.write_str("noisy")
    }
}

#[test]
fn one_event_is_one_request_and_nothing_feeds_back() {
    let s = Setup::new();
    let interval = Duration::from_millis(300);
    let (layer, guard) = s.builder(interval).build().unwrap();
    tracing_subscriber::registry()
        .with(EnvFilter::new("trace"))
        .with(layer)
        .init();

    info!("exactly once");
    assert!(wait_until(Duration::from_secs(3), || guard
        .stats()
        .delivered
        == 1));
    // Three more intervals: nothing the flusher or the emulator emitted may be queued.
    std::thread::sleep(interval * 3 + Duration::from_millis(100));
    let stats = guard.stats();
    assert_eq!((stats.events, stats.delivered, stats.pending()), (1, 1, 0));
    assert_eq!(s.mock.request_count(), 1);
    assert_eq!(s.lines(Class::Log), ["INFO  no_recursion: exactly once"]);

    // Under the global dispatcher a field's Debug that emits reaches the layer while it
    // captures: it is counted, not captured, and nothing recurses or deadlocks.
    info!(value = ?Noisy, "outer");
    let stats = guard.shutdown();
    assert_eq!(
        stats.class(Class::Log).dropped_for(DropReason::Reentrant),
        1
    );
    assert_eq!((stats.events, stats.delivered, stats.dropped), (3, 2, 1));
    assert_eq!(
        s.lines(Class::Log),
        [
            "INFO  no_recursion: exactly once",
            "1 event dropped since the last message (emitted while capturing another event)",
            "INFO  no_recursion: outer value=noisy",
        ]
    );
    assert_eq!(s.mock.request_count(), 2);
}
