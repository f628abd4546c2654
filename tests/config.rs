//! Bad configuration is a clear `Err` naming the value, never a panic; good configuration
//! builds in a plain `fn main` and inside either tokio flavour.

use std::time::Duration;

use tracing_discord::{
    AnalyticsMode, Class, ConfigError, Destination, DiscordLayer, DiscordLayerBuilder,
};

const HOOK: &str = "https://discord.com/api/webhooks/123456789012345678/abcDEF-ghi_jkl";

fn all_webhooks() -> DiscordLayerBuilder {
    let mut b = DiscordLayer::builder();
    for class in Class::ALL {
        b = b.route(class, Destination::webhook(HOOK));
    }
    b
}

fn err(b: DiscordLayerBuilder) -> ConfigError {
    b.build()
        .map(|_| ())
        .expect_err("configuration must be refused")
}

#[test]
fn an_empty_token_is_refused() {
    assert_eq!(err(all_webhooks().bot_token("")), ConfigError::EmptyToken);
    assert_eq!(
        err(all_webhooks().bot_token("   ")),
        ConfigError::EmptyToken
    );
    assert_eq!(
        ConfigError::EmptyToken.to_string(),
        "the Discord bot token is empty"
    );
}

#[test]
fn a_non_numeric_channel_id_is_refused_by_name() {
    let e = err(all_webhooks()
        .bot_token("t")
        .route(Class::Diagnostics, Destination::channel("#diagnostics")));
    assert_eq!(
        e,
        ConfigError::InvalidChannelId {
            class: Class::Diagnostics,
            value: "#diagnostics".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "channel id \"#diagnostics\" for class diagnostics is not a numeric Discord id (a snowflake such as 1234567890123456789)"
    );
}

#[test]
fn a_malformed_webhook_url_is_refused() {
    let e = err(all_webhooks().route(
        Class::Log,
        Destination::webhook("https://discord.com/api/webhooks/123/"),
    ));
    assert_eq!(
        e,
        ConfigError::InvalidWebhookUrl {
            class: Class::Log,
            reason: "the webhook token is missing or has characters Discord never uses".into()
        }
    );
    let e = err(all_webhooks().route(Class::Log, Destination::webhook("not a url")));
    assert!(
        e.to_string()
            .starts_with("webhook URL for class log is malformed: not a URL"),
        "{e}"
    );
}

#[test]
fn a_class_without_destination_is_refused_unless_skipped() {
    let b = DiscordLayer::builder()
        .route(Class::Log, Destination::webhook(HOOK))
        .route(Class::Diagnostics, Destination::webhook(HOOK));
    let e = err(b.clone());
    assert_eq!(
        e,
        ConfigError::MissingDestination {
            class: Class::Analytics
        }
    );
    assert_eq!(
        e.to_string(),
        "class analytics has no destination: route it with .route(Class::Analytics, ..), set DISCORD_ANALYTICS_CHANNEL or DISCORD_ANALYTICS_WEBHOOK, or drop its events with .skip(Class::Analytics)"
    );
    let (_layer, guard) = b.skip(Class::Analytics).build().unwrap();
    drop(guard);
}

#[test]
fn a_channel_without_token_is_refused() {
    let e = err(all_webhooks().route(Class::Log, Destination::channel(42u64)));
    assert_eq!(e, ConfigError::MissingToken { class: Class::Log });
}

#[test]
fn impossible_settings_are_refused() {
    assert_eq!(
        err(all_webhooks().batch_interval(Duration::ZERO)),
        ConfigError::InvalidSetting {
            name: "batch_interval",
            value: "0ns".into()
        }
    );
    assert_eq!(
        err(all_webhooks().batch_interval(Duration::MAX)),
        ConfigError::InvalidSetting {
            name: "batch_interval",
            value: format!("{:?}", Duration::MAX)
        }
    );
    assert_eq!(
        err(all_webhooks().shutdown_timeout(Duration::MAX)),
        ConfigError::InvalidSetting {
            name: "shutdown_timeout",
            value: format!("{:?}", Duration::MAX)
        }
    );
    assert_eq!(
        err(all_webhooks().queue_capacity(0)),
        ConfigError::InvalidSetting {
            name: "queue_capacity",
            value: "0".into()
        }
    );
    // The message names the setter and the variable, whichever set it.
    assert_eq!(
        err(all_webhooks().batch_interval(Duration::ZERO)).to_string(),
        "batch_interval = 0ns is not allowed: it must be more than zero and at most a week \
         (set by .batch_interval(..) or DISCORD_BATCH_SECS)"
    );
    assert_eq!(
        err(all_webhooks().api_base("discord.com/api")),
        ConfigError::InvalidApiBase {
            value: "discord.com/api".into()
        }
    );
}

/// Rollup settings need a mode that posts a rollup: in `Lines` mode nothing reads them.
#[test]
fn rollup_settings_without_a_rollup_are_refused() {
    let e = err(all_webhooks().rollup_field("command").rollup_field("guild"));
    assert_eq!(
        e,
        ConfigError::IneffectiveSetting {
            name: "rollup_field",
            value: "command, guild".into(),
            because: "analytics_mode"
        }
    );
    assert_eq!(
        e.to_string(),
        "rollup_field (command, guild) has no effect: the analytics mode is lines, which posts no rollup; choose rollup or both with .analytics_mode(..) or DISCORD_ANALYTICS_MODE, or remove .rollup_field(..) / DISCORD_ROLLUP_FIELDS"
    );
    assert_eq!(
        err(all_webhooks()
            .analytics_mode(AnalyticsMode::Lines)
            .rollup_distinct("user_id")),
        ConfigError::IneffectiveSetting {
            name: "rollup_distinct",
            value: "user_id".into(),
            because: "analytics_mode"
        }
    );
    // Set to its default is still set.
    let e = err(all_webhooks().rollup_top(10));
    assert_eq!(
        e,
        ConfigError::IneffectiveSetting {
            name: "rollup_top",
            value: "10".into(),
            because: "analytics_mode"
        }
    );
    assert_eq!(
        e.to_string(),
        "rollup_top (10) has no effect: the analytics mode is lines, which posts no rollup; choose rollup or both with .analytics_mode(..) or DISCORD_ANALYTICS_MODE, or remove .rollup_top(..) / DISCORD_ROLLUP_TOP"
    );
    // A mode chosen after the fields counts as much as one chosen before.
    for mode in [AnalyticsMode::Rollup, AnalyticsMode::Both] {
        let (_layer, guard) = all_webhooks()
            .rollup_field("command")
            .rollup_distinct("user_id")
            .rollup_top(3)
            .analytics_mode(mode)
            .build()
            .unwrap();
        drop(guard);
    }
}

/// Spans are timed only for the performance report, posted to the diagnostics class.
#[test]
fn timed_spans_that_can_never_be_reported_are_refused() {
    let e = err(all_webhooks().timed_span("render").span_timings(false));
    assert_eq!(
        e,
        ConfigError::IneffectiveSetting {
            name: "timed_span",
            value: "render".into(),
            because: "span_timings"
        }
    );
    assert_eq!(
        e.to_string(),
        "timed_span (render) has no effect: span timings are off; turn them on with .span_timings(true) or DISCORD_SPAN_TIMINGS=true, or remove .timed_span(..) / DISCORD_TIMED_SPANS"
    );
    let e = err(all_webhooks()
        .timed_span("render")
        .timed_span("db_query")
        .skip(Class::Diagnostics));
    assert_eq!(
        e,
        ConfigError::IneffectiveSetting {
            name: "timed_span",
            value: "render, db_query".into(),
            because: "skip"
        }
    );
    assert_eq!(
        e.to_string(),
        "timed_span (render, db_query) has no effect: the performance report goes to the diagnostics channel, and class diagnostics is skipped; route it with .route(Class::Diagnostics, ..), DISCORD_DIAGNOSTICS_CHANNEL or DISCORD_DIAGNOSTICS_WEBHOOK, or remove .timed_span(..) / DISCORD_TIMED_SPANS"
    );
    // Without names to time, turning timings off or skipping diagnostics is fine (timings
    // are on by default); and routing diagnostics again makes the names useful.
    for b in [
        all_webhooks().span_timings(false),
        all_webhooks().skip(Class::Diagnostics),
        all_webhooks()
            .timed_span("render")
            .skip(Class::Diagnostics)
            .route(Class::Diagnostics, Destination::webhook(HOOK)),
    ] {
        let (_layer, guard) = b.build().unwrap();
        drop(guard);
    }
}

#[test]
fn a_webhook_token_never_shows_in_debug_output() {
    let shown = format!("{:?}", Destination::webhook(HOOK));
    assert_eq!(shown, "Destination::webhook(id 123456789012345678)");
}

#[test]
fn builds_in_plain_main() {
    let (_layer, guard) = all_webhooks().build().unwrap();
    drop(guard);
}

#[tokio::test(flavor = "current_thread")]
async fn builds_inside_a_current_thread_runtime() {
    let (_layer, guard) = all_webhooks().build().unwrap();
    drop(guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_inside_a_multi_thread_runtime() {
    let (_layer, guard) = all_webhooks().build().unwrap();
    drop(guard);
}

#[test]
fn a_config_error_returned_from_main_reads_as_its_message() {
    let err = tracing_discord::DiscordLayer::builder()
        .queue_capacity(0)
        .build()
        .unwrap_err();
    assert_eq!(format!("{err:?}"), err.to_string());
}
