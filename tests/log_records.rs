//! Records of the `log` crate (through `tracing-log`'s `LogTracer`) are classified, ignored
//! and shown under their own target, with their own file and line, as `tracing` events are.
//! One test in its own binary: `LogTracer` is the process's one logger.

#![cfg(feature = "mock")]

mod common;

use std::time::Duration;

use tracing_discord::Class;
use tracing_subscriber::prelude::*;

#[test]
fn log_records_are_judged_and_shown_by_their_own_target() {
    let setup = common::Setup::new();
    let (layer, guard) = setup
        .builder(Duration::from_secs(3600))
        .build()
        .expect("valid configuration");
    tracing_log::LogTracer::init().expect("the only logger");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        log::info!(target: "analytics", "command used");
        log::warn!(target: "my_bot::db", "slow query took {} ms", 250);
        // The HTTP stack's own records are never captured, as its events are not.
        log::info!(target: "rustls::client", "handshake done");
        let line = line!() + 1;
        log::error!("lost the gateway");
        guard.flush(Duration::from_secs(10)).expect("flushed");
        let stats = guard.stats();
        assert_eq!(
            [Class::Analytics, Class::Log].map(|c| stats.class(c).delivered),
            [1, 2]
        );
        let analytics = setup.messages(Class::Analytics);
        let text = analytics[0]["content"].as_str().unwrap();
        assert!(text.contains("command used"), "{text}");
        assert_eq!(
            setup.lines(Class::Log),
            ["WARN  my_bot::db: slow query took 250 ms"]
        );
        // ERRORs are posted at once, before the batch.
        let error = &setup.messages(Class::Log)[0]["embeds"][0];
        assert_eq!(error["title"], "ERROR log\\_records");
        assert_eq!(
            error["footer"]["text"],
            format!("tests/log_records.rs:{line}")
        );
    });
}
