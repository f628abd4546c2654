//! `from_env` reads the variables of DESIGN section 3. One test in this binary, because
//! environment variables are process-wide.

mod clean_env;
use tracing_discord::{ConfigError, DiscordLayer};

#[test]
fn from_env_reads_the_documented_variables() {
    clean_env::clear_discord_env();
    std::env::set_var("DISCORD_TOKEN", "token");
    std::env::set_var("DISCORD_ANALYTICS_CHANNEL", "111");
    std::env::set_var("DISCORD_DIAGNOSTICS_CHANNEL", "222");
    let e = DiscordLayer::from_env().map(|_| ()).unwrap_err();
    assert_eq!(
        e,
        ConfigError::MissingDestination {
            class: tracing_discord::Class::Log
        }
    );

    std::env::set_var(
        "DISCORD_LOG_WEBHOOK",
        "https://discord.com/api/webhooks/333/tok",
    );
    std::env::set_var("DISCORD_BATCH_SECS", "soon");
    let e = DiscordLayer::from_env().map(|_| ()).unwrap_err();
    assert_eq!(
        e,
        ConfigError::InvalidEnv {
            var: "DISCORD_BATCH_SECS",
            value: "soon".into()
        }
    );

    std::env::set_var("DISCORD_BATCH_SECS", "30");
    std::env::set_var("DISCORD_API_BASE", "http://127.0.0.1:9/api/v10");
    let (_layer, guard) = DiscordLayer::from_env().unwrap();
    drop(guard);

    std::env::set_var("DISCORD_ANALYTICS_CHANNEL", "analytics");
    let e = DiscordLayer::from_env().map(|_| ()).unwrap_err();
    assert_eq!(
        e,
        ConfigError::InvalidChannelId {
            class: tracing_discord::Class::Analytics,
            value: "analytics".into()
        }
    );

    std::env::set_var("DISCORD_ANALYTICS_CHANNEL", "111");
    std::env::set_var("DISCORD_CAPTURE_PANICS", "maybe");
    let e = DiscordLayer::from_env().map(|_| ()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable DISCORD_CAPTURE_PANICS=\"maybe\" is not true or false"
    );
    std::env::remove_var("DISCORD_CAPTURE_PANICS");

    std::env::set_var("DISCORD_QUEUE_CAPACITY", "lots");
    let e = DiscordLayer::from_env().map(|_| ()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable DISCORD_QUEUE_CAPACITY=\"lots\" is not a whole number"
    );
    std::env::set_var("DISCORD_QUEUE_CAPACITY", "4096");

    // A class can be skipped from the environment too.
    std::env::remove_var("DISCORD_ANALYTICS_CHANNEL");
    std::env::set_var("DISCORD_SKIP", "analytics");
    let (_layer, guard) = DiscordLayer::from_env().unwrap();
    drop(guard);
    std::env::set_var("DISCORD_SKIP", "metrics");
    let e = DiscordLayer::from_env().map(|_| ()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable DISCORD_SKIP=\"metrics\" is not class names separated by commas (analytics, diagnostics, log)"
    );

    std::env::remove_var("DISCORD_SKIP");
    std::env::set_var("DISCORD_ANALYTICS_CHANNEL", "111");

    // Reports: a clear error naming the variable and what it takes.
    std::env::set_var("DISCORD_ANALYTICS_MODE", "summary");
    let e = DiscordLayer::from_env().map(|_| ()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable DISCORD_ANALYTICS_MODE=\"summary\" is not one of lines, rollup or both"
    );
    std::env::set_var("DISCORD_ANALYTICS_MODE", "Rollup");
    std::env::set_var("DISCORD_ROLLUP_TOP", "ten");
    let e = DiscordLayer::from_env().map(|_| ()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable DISCORD_ROLLUP_TOP=\"ten\" is not a whole number above zero"
    );
    std::env::set_var("DISCORD_ROLLUP_TOP", "0");
    let e = DiscordLayer::from_env().map(|_| ()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "rollup_top = 0 is not allowed: it must be more than zero (set by .rollup_top(..) or DISCORD_ROLLUP_TOP)"
    );
    std::env::set_var("DISCORD_ROLLUP_TOP", "5");
    std::env::set_var("DISCORD_SPAN_TIMINGS", "sometimes");
    let e = DiscordLayer::from_env().map(|_| ()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable DISCORD_SPAN_TIMINGS=\"sometimes\" is not true or false"
    );
    std::env::set_var("DISCORD_SPAN_TIMINGS", "off");
    let (_layer, guard) = DiscordLayer::from_env().unwrap();
    drop(guard);

    // Settings that could have no effect are refused, whoever set them.
    std::env::set_var("DISCORD_TIMED_SPANS", "render");
    let e = DiscordLayer::from_env().map(|_| ()).unwrap_err();
    assert_eq!(
        e,
        ConfigError::IneffectiveSetting {
            name: "timed_span",
            value: "render".into(),
            because: "span_timings"
        }
    );
    std::env::remove_var("DISCORD_SPAN_TIMINGS");
    let (_layer, guard) = DiscordLayer::from_env().unwrap();
    drop(guard);
    std::env::set_var("DISCORD_ANALYTICS_MODE", "lines");
    let e = DiscordLayer::from_env().map(|_| ()).unwrap_err();
    assert_eq!(
        e,
        ConfigError::IneffectiveSetting {
            name: "rollup_top",
            value: "5".into(),
            because: "analytics_mode"
        }
    );
    std::env::set_var("DISCORD_ROLLUP_FIELDS", "command");
    let e = DiscordLayer::from_env().map(|_| ()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "rollup_field (command) has no effect: the analytics mode is lines, which posts no rollup; choose rollup or both with .analytics_mode(..) or DISCORD_ANALYTICS_MODE, or remove .rollup_field(..) / DISCORD_ROLLUP_FIELDS"
    );
    std::env::set_var("DISCORD_ANALYTICS_MODE", "both");
    let (_layer, guard) = DiscordLayer::from_env().unwrap();
    drop(guard);
}
