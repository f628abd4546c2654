//! How list variables combine with the builder in `with_env`: like single values, a list
//! of names replaces the builder's list; `DISCORD_CLASSIFY` overrides only the prefixes it
//! names; `DISCORD_SECRET_FIELDS` only adds. One test in this binary, because environment
//! variables are process-wide.

#![cfg(feature = "mock")]

mod clean_env;
mod common;

use std::time::Duration;

use common::{strip_ansi, Setup};
use tracing::{info, info_span};
use tracing_discord::{AnalyticsMode, Class};
use tracing_subscriber::prelude::*;

#[test]
fn list_variables_replace_the_builders_lists() {
    clean_env::clear_discord_env();
    std::env::set_var("DISCORD_ROLLUP_FIELDS", "command");
    std::env::set_var("DISCORD_ROLLUP_DISTINCT", " user_id , ");
    std::env::set_var("DISCORD_TIMED_SPANS", "handle_command");
    std::env::set_var("DISCORD_CLASSIFY", "metrics=diagnostics");
    std::env::set_var("DISCORD_SECRET_FIELDS", "cookie");
    let s = Setup::new();
    let (layer, guard) = s
        .builder(Duration::from_secs(120))
        .analytics_mode(AnalyticsMode::Rollup)
        .rollup_field("shard")
        .rollup_distinct("guild")
        .timed_span("tick")
        .classify("jobs", Class::Diagnostics)
        .secret_fields(["session"])
        .with_env()
        .unwrap()
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for (command, guild, user_id) in [("ping", "g1", 1), ("ping", "g2", 2), ("play", "g1", 1)] {
            info_span!("tick").in_scope(|| {
                info_span!("handle_command").in_scope(|| {
                    info!(target: "analytics", command, shard = 0, guild, user_id, "command used");
                });
            });
        }
        info!(target: "jobs", session = "s3cr3t", cookie = "c00kie", "job ran");
        info!(target: "metrics", "metric");
    });
    let stats = guard.shutdown();

    // The rollup shows the variables' fields only, not the builder's.
    let messages = s.messages(Class::Analytics);
    assert_eq!(messages.len(), 1, "{messages:?}");
    let rollup: Vec<String> = messages[0]["content"]
        .as_str()
        .unwrap()
        .strip_prefix("```ansi\n")
        .and_then(|b| b.strip_suffix("\n```"))
        .unwrap()
        .split('\n')
        .skip(1)
        .map(strip_ansi)
        .collect();
    assert_eq!(
        rollup,
        [
            "events by message",
            "message       events",
            "command used  3",
            "command · top 2 of 2 values",
            "value  events",
            "ping   2",
            "play   1",
            "user_id · 2 distinct",
        ]
    );

    // Only `handle_command` is timed (`tick`, the builder's name, is not); `jobs` (the
    // builder's prefix) and `metrics` (the variable's) are both diagnostics; `session` (the
    // builder's secret) and `cookie` (the variable's) are both redacted.
    let lines = s.lines(Class::Diagnostics);
    let events: Vec<&String> = lines.iter().filter(|l| l.starts_with("INFO ")).collect();
    assert_eq!(
        events,
        [
            "INFO  jobs: job ran session=[redacted] cookie=[redacted]",
            "INFO  metrics: metric",
        ]
    );
    let title = lines
        .iter()
        .find(|l| l.starts_with("performance · "))
        .expect("a performance report");
    assert!(
        title.starts_with("performance · 3 spans closed · "),
        "{title}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("handle_command  3 ")),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.starts_with("tick ")), "{lines:?}");
    assert_eq!(s.messages(Class::Log).len(), 0);
    // 3 analytics events, 2 diagnostics events and 3 span closes.
    assert_eq!((stats.events, stats.delivered, stats.dropped), (8, 8, 0));
}
