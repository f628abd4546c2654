//! The report settings read from the environment take effect end to end. One test in this
//! binary, because environment variables are process-wide.

#![cfg(feature = "mock")]

mod clean_env;
mod common;

use common::{strip_ansi, Setup};
use tracing::{info, info_span};
use tracing_discord::{Class, DiscordLayer};
use tracing_subscriber::prelude::*;

#[test]
fn report_variables_configure_rollup_jsonl_and_timed_spans() {
    let s = Setup::new();
    clean_env::clear_discord_env();
    std::env::set_var("DISCORD_TOKEN", s.mock.bot_token());
    std::env::set_var("DISCORD_API_BASE", s.mock.api_base());
    for class in Class::ALL {
        let var = format!("DISCORD_{}_CHANNEL", class.name().to_uppercase());
        std::env::set_var(var, s.channel(class).to_string());
    }
    std::env::set_var("DISCORD_BATCH_SECS", "120");
    std::env::set_var("DISCORD_ANALYTICS_MODE", "rollup");
    std::env::set_var("DISCORD_ROLLUP_FIELDS", "command, guild");
    std::env::set_var("DISCORD_ROLLUP_DISTINCT", "user_id");
    std::env::set_var("DISCORD_ROLLUP_TOP", "1");
    std::env::set_var("DISCORD_ANALYTICS_JSONL", "true");
    std::env::set_var("DISCORD_TIMED_SPANS", "handle_command,other");
    let (layer, guard) = DiscordLayer::from_env().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for (command, guild, user_id) in [("ping", "g1", 1), ("ping", "g2", 2), ("play", "g1", 1)] {
            info_span!("handle_command").in_scope(|| {
                info!(target: "analytics", command, guild, user_id, "command used");
            });
        }
    });
    let stats = guard.shutdown();
    let messages = s.messages(Class::Analytics);
    assert_eq!(messages.len(), 2, "the JSON Lines file and the rollup");
    let jsonl = messages[0]["_attachment_texts"][0].as_str().unwrap();
    assert_eq!(jsonl.lines().count(), 3);
    let rollup = messages[1]["content"].as_str().unwrap();
    let lines: Vec<String> = rollup
        .strip_prefix("```ansi\n")
        .and_then(|b| b.strip_suffix("\n```"))
        .unwrap()
        .split('\n')
        .skip(1)
        .map(strip_ansi)
        .collect();
    assert_eq!(
        lines,
        [
            "events by message",
            "message       events",
            "command used  3",
            "command · top 1 of 2 values",
            "value  events",
            "ping   2",
            "other  1",
            "guild · top 1 of 2 values",
            "value  events",
            "g1     2",
            "other  1",
            "user_id · 2 distinct",
        ]
    );
    let diagnostics = s.messages(Class::Diagnostics);
    assert_eq!(diagnostics.len(), 1);
    let report = strip_ansi(diagnostics[0]["content"].as_str().unwrap());
    assert!(report.contains("performance · 3 spans closed"), "{report}");
    assert!(report.contains("\nhandle_command  3 "), "{report}");
    assert_eq!((stats.events, stats.delivered, stats.dropped), (6, 6, 0));
}
