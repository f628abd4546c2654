//! A `log` record is judged by the target it names even when that target cannot be kept
//! (the interner is full, or busy with another thread's insertion): only the target shown
//! falls back to `log`. One test in its own binary: `LogTracer` is the process's one logger,
//! and the interner is the process's own.

#![cfg(feature = "mock")]

mod common;

use std::time::Duration;

use tracing_discord::Class;
use tracing_subscriber::prelude::*;

#[test]
fn a_full_interner_does_not_change_what_is_ignored_or_where_it_goes() {
    let setup = common::Setup::new();
    let (layer, guard) = setup
        .builder(Duration::from_secs(3600))
        // The 5,000 filler lines go as one attachment.
        .max_inline_messages(1)
        .build()
        .expect("valid configuration");
    tracing_log::LogTracer::init().expect("the only logger");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        // More distinct targets than the interner keeps (4,096): it is full.
        for i in 0..5000 {
            let target = format!("my_bot::generated_{i}");
            log::info!(target: &target, "noise");
        }
        guard.flush(Duration::from_secs(10)).expect("flushed");
        let before = guard.stats();
        assert_eq!(
            Class::ALL.map(|c| before.class(c).events),
            [0, 0, 5000],
            "{before:?}"
        );
        // Targets the interner has never seen: an ignored crate's, and an analytics one.
        log::info!(target: "rustls::fresh_module", "handshake done");
        log::info!(target: "analytics::fresh", "command used");
        guard.flush(Duration::from_secs(10)).expect("flushed");
        let after = guard.stats();
        assert_eq!(
            Class::ALL.map(|c| after.class(c).events),
            [1, 0, 5000],
            "{after:?}"
        );
        assert_eq!(after.class(Class::Analytics).delivered, 1);
    });
}
