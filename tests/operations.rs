//! Operations: secrets never reach Discord, labels tell processes apart, statistics agree
//! with what the emulator recorded.

#![cfg(feature = "mock")]

mod common;

use std::time::Duration;

use common::Setup;
use tracing::{error, info, info_span};
use tracing_discord::{Class, Destination, DropReason};
use tracing_subscriber::prelude::*;

const LONG: Duration = Duration::from_secs(120);

#[test]
fn no_token_or_secret_field_ever_reaches_discord() {
    let s = Setup::new();
    let token = s.mock.bot_token();
    let hook = s.mock.add_webhook(s.channel(Class::Diagnostics), "diag");
    let hook_token = hook.rsplit('/').next().unwrap().to_owned();
    let (layer, guard) = s
        .builder(LONG)
        .route(Class::Diagnostics, Destination::webhook(hook.clone()))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let _login = info_span!("login", authorization = %format!("Bot {token}")).entered();
        info!(
            password = "hunter2",
            api_key = "k-123",
            user = "ann",
            "logging in with {token}"
        );
        error!(db_secret = "s3cr3t", "failed: {hook}");
        info!(target: "diagnostics", "webhook token {hook_token}");
    });
    let stats = guard.shutdown();
    assert_eq!(stats.delivered, 3);
    let everything: String = s
        .mock
        .requests()
        .iter()
        .map(|r| r.body.to_string())
        .collect();
    for secret in [
        token.as_str(),
        hook_token.as_str(),
        "hunter2",
        "k-123",
        "s3cr3t",
    ] {
        assert!(!everything.contains(secret), "{secret} reached Discord");
    }
    assert!(everything.contains("password=[redacted]"));
    assert!(everything.contains("user=ann"));
    // Nor does Debug output of the configuration show them.
    let debug = format!(
        "{:?}",
        tracing_discord::DiscordLayer::builder()
            .bot_token(token.clone())
            .route(Class::Log, Destination::webhook(hook))
    );
    assert!(
        !debug.contains(&token) && !debug.contains(&hook_token),
        "{debug}"
    );
}

#[test]
fn a_label_tells_processes_apart() {
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).label("shard 3 · host-a").build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        info!("ready");
        error!("failed");
    });
    guard.shutdown();
    let messages = s.messages(Class::Log);
    let batch = messages
        .iter()
        .find(|m| m["embeds"].as_array().is_none_or(Vec::is_empty))
        .unwrap();
    assert!(
        batch["content"]
            .as_str()
            .unwrap()
            .starts_with("-# shard 3 · host-a\n```ansi\n"),
        "{}",
        batch["content"]
    );
    let error = messages
        .iter()
        .find(|m| m["embeds"][0]["title"] == "ERROR operations")
        .unwrap();
    assert!(error["embeds"][0]["footer"]["text"]
        .as_str()
        .unwrap()
        .starts_with("shard 3 · host-a · tests/operations.rs:"));
}

#[test]
fn statistics_agree_with_what_the_emulator_recorded() {
    let s = Setup::new();
    s.mock
        .set_channel_permissions(s.channel(Class::Analytics), 0);
    let (layer, guard) = s.builder(LONG).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..30 {
            info!(i, "log line");
            info!(target: "diagnostics", i, "diag line");
        }
        info!(target: "analytics", "lost to a 403");
        error!("an error");
        info!("");
    });
    let stats = guard.shutdown();
    let accepted = s.mock.status_counts().get(&200).copied().unwrap_or(0);
    assert_eq!(stats.messages, accepted);
    assert_eq!(stats.requests, s.mock.request_count());
    assert_eq!(stats.class(Class::Log).delivered, 31);
    assert_eq!(stats.class(Class::Diagnostics).delivered, 30);
    assert_eq!(
        stats
            .class(Class::Analytics)
            .dropped_for(DropReason::Unreachable),
        1
    );
    assert_eq!(stats.class(Class::Log).dropped_for(DropReason::Blank), 1);
    assert_eq!((stats.events, stats.delivered + stats.dropped), (63, 63));
}

#[test]
fn the_self_report_posts_statistics_to_diagnostics() {
    let s = Setup::new();
    let (layer, guard) = s
        .builder(Duration::from_millis(200))
        .self_report(Duration::from_millis(300))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        info!("one event")
    });
    assert!(common::wait_until(Duration::from_secs(5), || {
        s.lines(Class::Diagnostics)
            .iter()
            .any(|l| l.starts_with("INFO  tracing_discord: delivery statistics events="))
    }));
    let stats = guard.shutdown();
    let report = stats.class(Class::Diagnostics);
    assert!(report.delivered >= 1);
    assert_eq!(stats.class(Class::Log).delivered, 1);
    assert_eq!(stats.class(Class::Log).queue_peak, 1);
    assert_eq!(stats.class(Class::Log).requests, 1);
    assert!(stats.class(Class::Log).bytes_sent > 100);
    assert_eq!(stats.class(Class::Log).last_error, None);
}
