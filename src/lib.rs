//! # tracing-discord
//!
//! A [`tracing-subscriber`](tracing_subscriber) layer that ships a Discord bot's analytics,
//! diagnostics and logs to Discord channels, without ever slowing the bot down.
//!
//! ```no_run
//! use tracing_discord::{Class, Destination, DiscordLayer};
//! use tracing_subscriber::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (discord, guard) = DiscordLayer::builder()
//!     .bot_token("your-bot-token")
//!     .route(Class::Analytics, Destination::channel(1_111_111_111_111_111_111u64))
//!     .route(Class::Diagnostics, Destination::channel(2_222_222_222_222_222_222u64))
//!     .route(Class::Log, Destination::webhook("https://discord.com/api/webhooks/3/token"))
//!     .build()?;
//! tracing_subscriber::registry().with(discord).init();
//!
//! tracing::info!(target: "analytics", command = "ping", user_id = 42, "command used");
//! drop(guard); // flushes what is pending (bounded by the shutdown timeout)
//! # Ok(()) }
//! ```
//!
//! ## The contract
//!
//! - **The application thread never blocks.** The layer captures each event into a small
//!   owned capture (the callsite's metadata by pointer, the values copied into one buffer)
//!   and pushes it into a bounded lock-free queue of its [`Class`]. No I/O, no formatting
//!   for Discord, no lock shared with the background flusher, which turns each capture into
//!   a [`Record`] for the renderer.
//! - **Nothing is lost without being counted.** When a class queue is full the event is
//!   dropped and counted; [`Stats`] shows every drop with its reason, and the next message of
//!   that class says how many were dropped. Every captured event ends up either delivered or
//!   counted as dropped.
//! - **Batches, ERRORs at once.** A background thread (`tracing-discord-flusher`, with its own
//!   current-thread tokio runtime) posts each class every batch interval (default 2 minutes),
//!   or earlier when a queue is half full. ERROR events bypass the batch and are posted at once.
//! - **Discord's rules are obeyed.** Every payload is within Discord's limits, mentions never
//!   ping (`allowed_mentions: {"parse": []}`), and requests stay within the global limit and
//!   the per-route buckets Discord announces in its headers.
//! - **The guard flushes.** Dropping the [`DiscordGuard`] posts what is pending and waits at
//!   most the shutdown timeout (default 10 s). Keep it alive: `let _ = build()?` would drop
//!   it, and so stop the flusher, at once; bind it to a named variable such as `_guard`.
//!   Programs that end with `std::process::exit` call [`DiscordGuard::flush`] first.
//!
//! ## Configuration and operations
//!
//! [`DiscordLayer::from_env`] builds the same layer from `DISCORD_*` environment variables
//! (every option has one; see [`DiscordLayerBuilder::with_env`]).
//! [`DiscordGuard::check_channels_blocking`] (or the async `check_channels`) tells, per
//! destination, whether it is usable and why not. [`Stats`] counts everything per class.
//! Secrets are redacted before rendering; panics can be captured
//! ([`DiscordLayerBuilder::capture_panics`]). [`mock::MockDiscord`] is a local Discord for
//! tests (feature `mock`).
//!
//! ## Reports
//!
//! Spans whose target classifies as diagnostics (`#[tracing::instrument(target =
//! "diagnostics")]`), or whose names are listed with [`DiscordLayerBuilder::timed_span`],
//! are timed from creation to close; once per diagnostics interval a performance report
//! gives per span name the count, p50, p95, p99 and max duration, the busy share and the
//! ERROR count, in fixed memory (see [`report`]). Analytics can be posted as a rollup per
//! interval instead of, or besides, one row per event ([`AnalyticsMode`],
//! [`DiscordLayerBuilder::analytics_mode`]), and as a JSON Lines file to download
//! ([`DiscordLayerBuilder::analytics_jsonl`]).
//!
//! Events of the HTTP stack (`reqwest`, `hyper`, `h2`, `rustls`, ...) and of this crate are
//! never captured, and neither is anything emitted on the flusher thread, so the layer never
//! feeds itself.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod capture;
mod check;
mod clock;
mod config;
mod discord;
mod flusher;
mod layer;
mod log_records;
mod number;
mod panic_hook;
mod queue;
mod record;
mod redact;
pub mod render;
pub mod report;
mod stats;
mod timing;

#[cfg(feature = "mock")]
pub mod mock;

use std::fmt;

pub use check::{ChannelCheck, CheckStatus};
pub use config::{
    ConfigError, Destination, DiscordLayerBuilder, DEFAULT_API_BASE, DEFAULT_BATCH_INTERVAL,
    DEFAULT_QUEUE_CAPACITY, DEFAULT_REQUEST_TIMEOUT, DEFAULT_ROLLUP_TOP, DEFAULT_SHUTDOWN_TIMEOUT,
    MAX_BATCH_INTERVAL, MAX_SHUTDOWN_TIMEOUT,
};
pub use flusher::{DiscordGuard, DiscordHandle, FlushError};
pub use layer::DiscordLayer;
pub use record::{Fields, Record};
pub use redact::{Redactor, DEFAULT_SECRET_FIELDS, REDACTED};
pub use report::AnalyticsMode;
pub use stats::{ClassStats, DropReason, RateLimited, Stats};

/// The kind of an event, chosen by its target; each class has its own destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Product analytics: targets `analytics` and `analytics::*` by default.
    Analytics,
    /// Health and diagnostics: targets `diagnostics` and `diagnostics::*` by default.
    Diagnostics,
    /// Everything else.
    Log,
}

impl Class {
    /// Every class, in index order.
    pub const ALL: [Class; 3] = [Class::Analytics, Class::Diagnostics, Class::Log];

    /// Position in per-class arrays.
    pub(crate) fn index(self) -> usize {
        match self {
            Class::Analytics => 0,
            Class::Diagnostics => 1,
            Class::Log => 2,
        }
    }

    /// Lower-case name, as shown in messages and statistics.
    pub fn name(self) -> &'static str {
        match self {
            Class::Analytics => "analytics",
            Class::Diagnostics => "diagnostics",
            Class::Log => "log",
        }
    }

    pub(crate) fn env_name(self) -> &'static str {
        match self {
            Class::Analytics => "ANALYTICS",
            Class::Diagnostics => "DIAGNOSTICS",
            Class::Log => "LOG",
        }
    }

    pub(crate) fn channel_var(self) -> &'static str {
        match self {
            Class::Analytics => "DISCORD_ANALYTICS_CHANNEL",
            Class::Diagnostics => "DISCORD_DIAGNOSTICS_CHANNEL",
            Class::Log => "DISCORD_LOG_CHANNEL",
        }
    }

    pub(crate) fn webhook_var(self) -> &'static str {
        match self {
            Class::Analytics => "DISCORD_ANALYTICS_WEBHOOK",
            Class::Diagnostics => "DISCORD_DIAGNOSTICS_WEBHOOK",
            Class::Log => "DISCORD_LOG_WEBHOOK",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The README's code samples, compiled by `cargo test` so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
