//! A simulated Discord bot that logs with plain tracing macros in all three classes.
//!
//! `cargo run --example bot` runs it against the built-in emulator (no token needed) and
//! prints what each channel received; with `DISCORD_TOKEN` and channel ids (or webhooks) in
//! the environment it posts to that Discord instead. The last line on stdout is the summary.
//!
//! Its command handlers and database calls are `#[instrument(target = "diagnostics")]`, so
//! the diagnostics channel gets a performance report each interval; analytics are posted
//! both as rows and as a rollup (`DISCORD_ANALYTICS_MODE` etc. still override).

mod common;

use std::time::Duration;

use tracing::{debug, error, info, info_span, instrument, warn, Instrument};
use tracing_discord::AnalyticsMode;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

const COMMANDS: [&str; 5] = ["ping", "play", "skip", "queue", "help"];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (builder, emulator) = common::builder(Duration::from_secs(2))?;
    // Rows and a rollup. DISCORD_ANALYTICS_MODE=lines, applied last below, switches the
    // rollup off and takes these rollup settings with it.
    let builder = builder
        .analytics_mode(AnalyticsMode::Both)
        .rollup_field("command")
        .rollup_distinct("user_id");
    // The environment still has the last word.
    let (discord, guard) = builder.with_env()?.build()?;
    tracing_subscriber::registry()
        .with(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(discord)
        .init();

    info!(shards = 2, "bot starting");
    let mut shards = Vec::new();
    for shard in 0..2u32 {
        shards.push(tokio::spawn(
            run_shard(shard).instrument(info_span!("shard", id = shard)),
        ));
    }
    for s in shards {
        s.await?;
    }
    info!("bot shutting down");

    let stats = guard.shutdown();
    if let Some(emulator) = &emulator {
        common::print_channels(emulator);
    }
    println!("{}", stats.summary_line());
    Ok(())
}

/// One shard's life: heartbeats, commands, a slow one, and a failure.
async fn run_shard(shard: u32) {
    info!(gateway = "wss://gateway.discord.gg", "connected to gateway");
    for tick in 0u64..12 {
        let heartbeat_ms = 38 + (tick * 7 + u64::from(shard) * 13) % 40;
        info!(target: "diagnostics", shard, heartbeat_ms, guilds = 1200 + shard * 17, "gateway heartbeat");
        if tick % 5 == 4 {
            let guild_id = 613_425_648_685_547_000u64 + tick * 10 + u64::from(shard);
            info!(target: "analytics", guild_id, members = 40 + tick * 13, "guild joined");
        }
        let command = COMMANDS[(tick as usize + shard as usize) % COMMANDS.len()];
        let user_id = 80_351_110_224_678_912u64 + tick * 31 + u64::from(shard);
        handle_command(shard, tick, command, user_id).await;
        if tick >= 6 {
            warn!(api = "lyrics", "upstream API rate limited us; retrying");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    info!(target: "diagnostics", shard, "shard disconnected cleanly");
}

/// One command: timed by the performance report (its target is `diagnostics`).
#[instrument(target = "diagnostics", name = "command", skip_all, fields(name = command))]
async fn handle_command(shard: u32, tick: u64, command: &'static str, user_id: u64) {
    let latency_ms = 12 + (tick * 11) % 90;
    debug!(user_id, "parsing arguments");
    if command == "play" || command == "queue" {
        fetch_queue(tick).await;
    }
    // The rest of the command's work.
    tokio::time::sleep(Duration::from_millis(latency_ms / 4)).await;
    info!(target: "analytics", command, user_id, latency_ms, "command used");
    if latency_ms > 80 {
        warn!(latency_ms, "slow command");
    }
    if shard == 0 && tick == 9 {
        error!(
            error = "connection reset by peer",
            attempt = 3,
            "voice connection lost"
        );
    }
    if shard == 1 && tick == 7 {
        error!(
            guild_id = 613_425_648_685_547_541u64,
            status = 503,
            "failed to fetch guild config @everyone"
        );
    }
}

/// A database read inside some commands: a second row in the report.
#[instrument(target = "diagnostics", name = "db_query", skip_all)]
async fn fetch_queue(tick: u64) {
    tokio::time::sleep(Duration::from_millis(3 + tick % 4)).await;
}
