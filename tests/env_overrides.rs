//! The environment has the last word over the builder, also when it switches a report
//! off: the builder's settings for that report are then moot, not a configuration error
//! (the operator could not remove them from the environment). Settings the environment
//! itself gives for a report it switches off are still refused. One test in this binary,
//! because environment variables are process-wide.

mod clean_env;
use tracing_discord::{
    AnalyticsMode, Class, ConfigError, Destination, DiscordLayer, DiscordLayerBuilder,
};

const HOOK: &str = "https://discord.com/api/webhooks/123456789012345678/abcDEF-ghi_jkl";

fn all_webhooks() -> DiscordLayerBuilder {
    let mut b = DiscordLayer::builder().api_base("http://127.0.0.1:9/api/v10");
    for class in Class::ALL {
        b = b.route(class, Destination::webhook(HOOK));
    }
    b
}

/// A bot's own configuration: span names to time and an analytics rollup.
fn bot() -> DiscordLayerBuilder {
    all_webhooks()
        .timed_span("handle_command")
        .analytics_mode(AnalyticsMode::Both)
        .rollup_field("command")
        .rollup_distinct("user_id")
        .rollup_top(5)
}

fn built(b: DiscordLayerBuilder) -> Result<(), ConfigError> {
    let (_layer, guard) = b.with_env()?.build()?;
    drop(guard);
    Ok(())
}

#[test]
fn the_environment_switching_a_report_off_takes_the_builders_settings_for_it_along() {
    clean_env::clear_discord_env();
    assert_eq!(built(bot()), Ok(()));

    // A deployment without performance reports, or without a diagnostics channel.
    std::env::set_var("DISCORD_SPAN_TIMINGS", "false");
    assert_eq!(built(bot()), Ok(()));
    std::env::remove_var("DISCORD_SPAN_TIMINGS");
    std::env::set_var("DISCORD_SKIP", "diagnostics");
    assert_eq!(built(bot()), Ok(()));
    // ... but names to time that the environment gives itself still do nothing.
    std::env::set_var("DISCORD_TIMED_SPANS", "render");
    assert_eq!(
        built(bot()),
        Err(ConfigError::IneffectiveSetting {
            name: "timed_span",
            value: "render".into(),
            because: "skip"
        })
    );
    std::env::remove_var("DISCORD_TIMED_SPANS");
    std::env::remove_var("DISCORD_SKIP");

    // A deployment that wants the rows only.
    std::env::set_var("DISCORD_ANALYTICS_MODE", "lines");
    assert_eq!(built(bot()), Ok(()));
    std::env::set_var("DISCORD_ROLLUP_TOP", "3");
    assert_eq!(
        built(bot()),
        Err(ConfigError::IneffectiveSetting {
            name: "rollup_top",
            value: "3".into(),
            because: "analytics_mode"
        })
    );
    std::env::remove_var("DISCORD_ROLLUP_TOP");
    std::env::set_var("DISCORD_ROLLUP_DISTINCT", "guild_id");
    assert_eq!(
        built(bot()),
        Err(ConfigError::IneffectiveSetting {
            name: "rollup_distinct",
            value: "guild_id".into(),
            because: "analytics_mode"
        })
    );
    std::env::remove_var("DISCORD_ROLLUP_DISTINCT");
    std::env::remove_var("DISCORD_ANALYTICS_MODE");

    // The builder's own contradictions are refused as before, environment or not.
    assert_eq!(
        built(all_webhooks().span_timings(false).timed_span("render")),
        Err(ConfigError::IneffectiveSetting {
            name: "timed_span",
            value: "render".into(),
            because: "span_timings"
        })
    );
    assert_eq!(
        built(all_webhooks().rollup_field("command")),
        Err(ConfigError::IneffectiveSetting {
            name: "rollup_field",
            value: "command".into(),
            because: "analytics_mode"
        })
    );
    // The environment repeating what the builder says is not switching anything off.
    std::env::set_var("DISCORD_ANALYTICS_MODE", "lines");
    assert_eq!(
        built(
            all_webhooks()
                .analytics_mode(AnalyticsMode::Lines)
                .rollup_field("command")
        ),
        Err(ConfigError::IneffectiveSetting {
            name: "rollup_field",
            value: "command".into(),
            because: "analytics_mode"
        })
    );
    std::env::remove_var("DISCORD_ANALYTICS_MODE");
}
