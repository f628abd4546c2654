//! `check_channels`: one row per destination with a reason a person can act on.

#![cfg(feature = "mock")]

mod common;

use std::time::Duration;

use common::Setup;
use tracing_discord::{Class, Destination};

const T: Duration = Duration::from_secs(10);

fn rows(s: &Setup, builder: tracing_discord::DiscordLayerBuilder, post_test: bool) -> Vec<String> {
    let (_layer, guard) = builder.build().unwrap();
    let rows = guard.check_channels_blocking(post_test, T).unwrap();
    drop(guard);
    let _ = s;
    rows.iter().map(ToString::to_string).collect()
}

#[test]
fn good_destinations_are_ok() {
    let s = Setup::new();
    let hook = s.mock.add_webhook(s.channel(Class::Log), "logs");
    let b = s
        .builder(Duration::from_secs(120))
        .route(Class::Log, Destination::webhook(hook.clone()));
    let id = |c| s.channel(c);
    assert_eq!(
        rows(&s, b, false),
        [
            format!(
                "{:<12} {:<28} ok (analytics)",
                "analytics",
                format!("channel {}", id(Class::Analytics))
            ),
            format!(
                "{:<12} {:<28} ok (diagnostics)",
                "diagnostics",
                format!("channel {}", id(Class::Diagnostics))
            ),
            format!(
                "{:<12} {:<28} ok (logs)",
                "log",
                format!("webhook {}", hook.split('/').rev().nth(1).unwrap())
            ),
        ]
    );
    assert_eq!(s.mock.request_count(), 3, "reading only");
}

#[test]
fn each_failure_says_why() {
    let s = Setup::new();
    let hook = s.mock.add_webhook(s.channel(Class::Log), "logs");
    let (base, token) = hook.rsplit_once('/').unwrap();
    let wrong_token = format!("{base}/{}x", token);
    s.mock.remove_channel(s.channel(Class::Analytics));
    s.mock
        .set_channel_permissions(s.channel(Class::Diagnostics), 0);
    let b = s
        .builder(Duration::from_secs(120))
        .route(Class::Log, Destination::webhook(wrong_token));
    let statuses: Vec<String> = rows(&s, b, false)
        .iter()
        .map(|r| r[42..].to_owned())
        .collect();
    assert_eq!(
        statuses,
        [
            "unknown channel: no channel with this id (404 10003)",
            "no access: the bot cannot see this channel or is not in its server (403 50001)",
            "invalid webhook token: the URL's token is wrong (401 50027)",
        ]
    );
}

#[test]
fn a_revoked_token_and_an_unknown_webhook() {
    let s = Setup::new();
    s.mock.revoke_token();
    let unknown = format!("{}/webhooks/42/nope", s.mock.api_base());
    let b = s
        .builder(Duration::from_secs(120))
        .route(Class::Log, Destination::webhook(unknown));
    let statuses: Vec<String> = rows(&s, b, false)
        .iter()
        .map(|r| r[42..].to_owned())
        .collect();
    assert_eq!(
        statuses,
        [
            "bad token: Discord refused the bot token (401)",
            "bad token: Discord refused the bot token (401)",
            "unknown webhook: it was deleted or never existed (404 10015)",
        ]
    );
}

#[test]
fn a_test_post_proves_the_right_to_post() {
    let s = Setup::new();
    s.mock
        .set_channel_permissions(s.channel(Class::Log), 1 << 10); // can see, cannot send
    let statuses: Vec<String> = rows(&s, s.builder(Duration::from_secs(120)), true)
        .iter()
        .map(|r| r[42..].to_owned())
        .collect();
    assert_eq!(
        statuses,
        [
            "ok (analytics), test message posted",
            "ok (diagnostics), test message posted",
            "no permission: the bot may not post here (403 50013); grant Send Messages, Embed Links and Attach Files",
        ]
    );
    assert_eq!(
        s.messages(Class::Analytics)[0]["content"],
        "tracing-discord: test message for the analytics class; this destination works."
    );
    assert!(s.messages(Class::Log).is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn the_async_check_works_inside_a_runtime() {
    let s = Setup::new();
    let (_layer, guard) = s.builder(Duration::from_secs(120)).build().unwrap();
    let rows = guard.check_channels(false).await;
    assert_eq!(rows.iter().filter(|r| r.status.is_ok()).count(), 3);
}

#[test]
fn rate_limits_and_network_errors_are_told_apart() {
    let s = Setup::new();
    s.mock.fail_next(
        1,
        tracing_discord::mock::Fault::RateLimited {
            scope: tracing_discord::mock::Scope::User,
            retry_after: 1.0,
            code: None,
            remaining: None,
        },
    );
    let statuses: Vec<String> = rows(&s, s.builder(Duration::from_secs(120)), false)
        .iter()
        .map(|r| r[42..].to_owned())
        .collect();
    assert_eq!(
        statuses,
        [
            "rate limited (429): try again in a moment",
            "ok (diagnostics)",
            "ok (log)"
        ]
    );

    let unreachable = s
        .builder(Duration::from_secs(120))
        .api_base("http://127.0.0.1:9/api/v10");
    for row in rows(&s, unreachable, false) {
        assert!(
            row[42..].starts_with("network error: error sending request"),
            "{row}"
        );
        assert!(row.ends_with("Connection refused (os error 111)"), "{row}");
    }
}
