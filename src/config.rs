//! Configuration: the builder, `from_env`, and validation with errors a bot author can act on.
//!
//! Nothing here touches the network. `build()` checks every value, then starts the flusher
//! thread; a bad value is an [`ConfigError`] naming it, never a panic.

use std::fmt;
use std::time::Duration;

use crate::report::AnalyticsMode;
use crate::{Class, DiscordGuard, DiscordLayer};

/// Discord's API base, version pinned (omitting the version selects the deprecated v6).
pub const DEFAULT_API_BASE: &str = "https://discord.com/api/v10";
/// How long events of a class wait before they are posted as one batch.
pub const DEFAULT_BATCH_INTERVAL: Duration = Duration::from_secs(120);
/// Events a class can hold between two batches before new ones are dropped (and counted).
pub const DEFAULT_QUEUE_CAPACITY: usize = 16_384;
/// How long dropping the guard waits for pending events to be delivered.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// A request Discord has not answered by then counts as a network failure (and is retried
/// with the same nonce, so it cannot post twice on the bot route).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest batch interval accepted (a week): longer is a mistake, not a setting.
pub const MAX_BATCH_INTERVAL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest shutdown timeout accepted (a day).
pub const MAX_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// Values of each rollup field shown, most frequent first (the rest are `other`).
pub const DEFAULT_ROLLUP_TOP: usize = 10;

/// Where the events of one class are posted.
///
/// Built unchecked; `build()` validates it and reports a bad id or URL as a
/// [`ConfigError`] that names the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Destination(DestinationSpec);

#[derive(Clone, PartialEq, Eq)]
enum DestinationSpec {
    Channel(String),
    Webhook(String),
}

impl Destination {
    /// A channel, posted to with the bot token (`POST /channels/{id}/messages`).
    /// Takes the numeric snowflake or its decimal string.
    pub fn channel(id: impl fmt::Display) -> Self {
        Destination(DestinationSpec::Channel(id.to_string()))
    }

    /// A webhook, given as the URL Discord shows when it is created
    /// (`https://discord.com/api/webhooks/{id}/{token}`, optionally `?thread_id=`).
    pub fn webhook(url: impl Into<String>) -> Self {
        Destination(DestinationSpec::Webhook(url.into()))
    }
}

impl fmt::Debug for Destination {
    // Never print a webhook token: it is a credential.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            DestinationSpec::Channel(id) => write!(f, "Destination::channel({id})"),
            DestinationSpec::Webhook(url) => match parse_webhook_url(url) {
                Ok(w) => write!(f, "Destination::webhook(id {})", w.id),
                Err(_) => f.write_str("Destination::webhook(<malformed>)"),
            },
        }
    }
}

/// A destination after validation: what the flusher posts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// A channel id, with the bot token.
    Channel(u64),
    /// A webhook: its own API base (or the configured one), id, token and optional thread.
    Webhook(WebhookTarget),
}

/// How stderr lines name a destination: `channel 123` or `webhook 456` (never the
/// webhook's token).
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Channel(id) => write!(f, "channel {id}"),
            Target::Webhook(w) => write!(f, "webhook {}", w.id),
        }
    }
}

/// A parsed webhook URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct WebhookTarget {
    /// The API base to post to (`https://discord.com/api/v10` for a Discord URL).
    pub(crate) api_base: String,
    pub(crate) id: u64,
    pub(crate) token: String,
    pub(crate) thread_id: Option<u64>,
}

impl fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "webhook {}", self.id)
    }
}

/// Why a configuration was refused. Each variant names the offending value.
///
/// `Debug` prints the same sentence as `Display`: a `main` that returns this error with
/// `?` shows the reader the message, not the variant's fields.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The bot token was empty or only whitespace.
    EmptyToken,
    /// The bot token contains whitespace or control characters.
    MalformedToken,
    /// A channel destination was configured but no bot token was given.
    MissingToken {
        /// The class routed to a channel.
        class: Class,
    },
    /// A channel id that is not a positive decimal snowflake.
    InvalidChannelId {
        /// The class it was configured for.
        class: Class,
        /// The value as given.
        value: String,
    },
    /// A webhook URL that is not of the form `.../webhooks/{id}/{token}`.
    InvalidWebhookUrl {
        /// The class it was configured for.
        class: Class,
        /// Why it was refused (the token part is never repeated here).
        reason: String,
    },
    /// A class that has no destination and was not skipped.
    MissingDestination {
        /// The class without a destination.
        class: Class,
    },
    /// `api_base` is not an absolute http(s) URL.
    InvalidApiBase {
        /// The value as given.
        value: String,
    },
    /// A zero batch interval or queue capacity, or a similar impossible setting.
    InvalidSetting {
        /// The setting's name.
        name: &'static str,
        /// The value as given.
        value: String,
    },
    /// A setting that can have no effect with the rest of the configuration, so it was
    /// most likely meant otherwise: rollup settings while the analytics mode posts no
    /// rollup, or span names to time while no performance report can be posted.
    IneffectiveSetting {
        /// The setting's builder method: `rollup_field`, `rollup_distinct`, `rollup_top` or
        /// `timed_span` (each also set by its `DISCORD_*` variable).
        name: &'static str,
        /// The value as given (names separated by commas).
        value: String,
        /// What leaves it without effect: `analytics_mode` (the mode is
        /// [`AnalyticsMode::Lines`]), `span_timings` (they are off) or `skip` (the
        /// diagnostics class, where the performance report goes, is skipped).
        because: &'static str,
    },
    /// An environment variable that could not be parsed.
    InvalidEnv {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// The flusher thread could not be started.
    Spawn(String),
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::EmptyToken => f.write_str("the Discord bot token is empty"),
            ConfigError::MalformedToken => f.write_str(
                "the Discord bot token contains spaces or control characters (paste it without the \"Bot \" prefix or surrounding quotes)",
            ),
            ConfigError::MissingToken { class } => write!(
                f,
                "class {class} is routed to a channel, which needs a bot token; set one with .bot_token(..) or DISCORD_TOKEN, or route it to a webhook"
            ),
            ConfigError::InvalidChannelId { class, value } => write!(
                f,
                "channel id {value:?} for class {class} is not a numeric Discord id (a snowflake such as 1234567890123456789)"
            ),
            ConfigError::InvalidWebhookUrl { class, reason } => write!(
                f,
                "webhook URL for class {class} is malformed: {reason} (expected https://discord.com/api/webhooks/<id>/<token>)"
            ),
            ConfigError::MissingDestination { class } => write!(
                f,
                "class {class} has no destination: route it with .route(Class::{class:?}, ..), set DISCORD_{}_CHANNEL or DISCORD_{}_WEBHOOK, or drop its events with .skip(Class::{class:?})",
                class.env_name(),
                class.env_name()
            ),
            ConfigError::InvalidApiBase { value } => {
                write!(f, "API base {value:?} is not an absolute http(s) URL")
            }
            ConfigError::InvalidSetting { name, value } => {
                let (limit, var) = match *name {
                    "batch_interval" => ("more than zero and at most a week", "DISCORD_BATCH_SECS"),
                    "shutdown_timeout" => ("at most a day", "DISCORD_SHUTDOWN_TIMEOUT_SECS"),
                    "request_timeout" => (
                        "more than zero and at most a day",
                        "DISCORD_REQUEST_TIMEOUT_SECS",
                    ),
                    "queue_capacity" => ("more than zero", "DISCORD_QUEUE_CAPACITY"),
                    "rollup_top" => ("more than zero", "DISCORD_ROLLUP_TOP"),
                    _ => ("more than zero", "its DISCORD_* variable"),
                };
                write!(f, "{name} = {value} is not allowed: it must be {limit} (set by .{name}(..) or {var})")
            }
            ConfigError::IneffectiveSetting {
                name,
                value,
                because,
            } => {
                let var = match *name {
                    "rollup_field" => "DISCORD_ROLLUP_FIELDS",
                    "rollup_distinct" => "DISCORD_ROLLUP_DISTINCT",
                    "rollup_top" => "DISCORD_ROLLUP_TOP",
                    "timed_span" => "DISCORD_TIMED_SPANS",
                    _ => "its DISCORD_* variable",
                };
                let (why, fix) = match *because {
                    "analytics_mode" => (
                        "the analytics mode is lines, which posts no rollup",
                        "choose rollup or both with .analytics_mode(..) or DISCORD_ANALYTICS_MODE",
                    ),
                    "span_timings" => (
                        "span timings are off",
                        "turn them on with .span_timings(true) or DISCORD_SPAN_TIMINGS=true",
                    ),
                    "skip" => (
                        "the performance report goes to the diagnostics channel, and class diagnostics is skipped",
                        "route it with .route(Class::Diagnostics, ..), DISCORD_DIAGNOSTICS_CHANNEL or DISCORD_DIAGNOSTICS_WEBHOOK",
                    ),
                    _ => ("the rest of the configuration leaves it unused", "change that"),
                };
                write!(
                    f,
                    "{name} ({value}) has no effect: {why}; {fix}, or remove .{name}(..) / {var}"
                )
            }
            ConfigError::InvalidEnv { var, value } => {
                let expected = match *var {
                    v if v.ends_with("_SECS") => "a positive number of seconds (e.g. 120)",
                    "DISCORD_QUEUE_CAPACITY" | "DISCORD_MAX_INLINE_MESSAGES" => "a whole number",
                    "DISCORD_ERROR_ROLE" => "a numeric role id",
                    "DISCORD_SUPPRESS_NOTIFICATIONS"
                    | "DISCORD_CAPTURE_PANICS"
                    | "DISCORD_SPAN_TIMINGS"
                    | "DISCORD_ANALYTICS_JSONL" => "true or false",
                    "DISCORD_ROLLUP_TOP" => "a whole number above zero",
                    "DISCORD_ANALYTICS_MODE" => "one of lines, rollup or both",
                    "DISCORD_SKIP" => "class names separated by commas (analytics, diagnostics, log)",
                    "DISCORD_CLASSIFY" => "prefix=class pairs separated by commas (e.g. metrics=diagnostics)",
                    _ => "a valid value",
                };
                write!(f, "environment variable {var}={value:?} is not {expected}")
            }
            ConfigError::Spawn(e) => write!(f, "could not start the flusher thread: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Builds a [`DiscordLayer`] and its [`DiscordGuard`]; see [`DiscordLayer::builder`].
#[derive(Clone)]
pub struct DiscordLayerBuilder {
    pub(crate) token: Option<String>,
    pub(crate) api_base: Option<String>,
    pub(crate) routes: [Option<Destination>; 3],
    pub(crate) skipped: [bool; 3],
    pub(crate) intervals: [Duration; 3],
    pub(crate) queue_capacity: usize,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) prefixes: Vec<(String, Class)>,
    pub(crate) suppress_notifications: bool,
    pub(crate) error_mention_role: Option<u64>,
    pub(crate) max_inline_messages: Option<usize>,
    pub(crate) request_timeout: Duration,
    pub(crate) secret_fields: Vec<String>,
    pub(crate) label: Option<String>,
    pub(crate) capture_panics: bool,
    pub(crate) self_report: Option<Duration>,
    pub(crate) reports: Reports,
    /// Whether `rollup_top` was set (by the builder or the environment), even to its default.
    pub(crate) rollup_top_set: bool,
}

/// What the reports are made of: span timings and the analytics rollup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reports {
    pub(crate) span_timings: bool,
    pub(crate) timed_spans: Vec<String>,
    pub(crate) analytics_mode: AnalyticsMode,
    pub(crate) rollup_fields: Vec<String>,
    pub(crate) rollup_distinct: Vec<String>,
    pub(crate) rollup_top: usize,
    pub(crate) analytics_jsonl: bool,
}

impl Default for Reports {
    fn default() -> Self {
        Reports {
            span_timings: true,
            timed_spans: Vec::new(),
            analytics_mode: AnalyticsMode::Lines,
            rollup_fields: Vec::new(),
            rollup_distinct: Vec::new(),
            rollup_top: DEFAULT_ROLLUP_TOP,
            analytics_jsonl: false,
        }
    }
}

/// Adds the non-empty, trimmed names not yet in `list`.
fn add_names<I, S>(list: &mut Vec<String>, names: I)
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    for name in names {
        let name = name.into().trim().to_owned();
        if !name.is_empty() && !list.contains(&name) {
            list.push(name);
        }
    }
}

fn env_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Replaces `list` with the names of a list variable, as a single-value variable replaces
/// the builder's value; a list without any name leaves it as it was, like an empty variable.
fn replace_names(list: &mut Vec<String>, value: &str) {
    if env_list(value).next().is_some() {
        list.clear();
        add_names(list, env_list(value));
    }
}

impl fmt::Debug for DiscordLayerBuilder {
    // The token is a credential: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordLayerBuilder")
            .field("token", &self.token.as_ref().map(|_| crate::REDACTED))
            .field("api_base", &self.api_base)
            .field("routes", &self.routes)
            .field("skipped", &self.skipped)
            .field("intervals", &self.intervals)
            .field("queue_capacity", &self.queue_capacity)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("label", &self.label)
            .field("reports", &self.reports)
            .finish_non_exhaustive()
    }
}

impl Default for DiscordLayerBuilder {
    fn default() -> Self {
        DiscordLayerBuilder {
            token: None,
            api_base: None,
            routes: [None, None, None],
            skipped: [false; 3],
            intervals: [DEFAULT_BATCH_INTERVAL; 3],
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            prefixes: vec![
                ("analytics".to_owned(), Class::Analytics),
                ("diagnostics".to_owned(), Class::Diagnostics),
            ],
            suppress_notifications: true,
            error_mention_role: None,
            max_inline_messages: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            secret_fields: crate::DEFAULT_SECRET_FIELDS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            label: None,
            capture_panics: false,
            self_report: None,
            reports: Reports::default(),
            rollup_top_set: false,
        }
    }
}

impl DiscordLayerBuilder {
    /// The bot token (without the `Bot ` prefix); needed for channel destinations.
    pub fn bot_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The REST API base, default [`DEFAULT_API_BASE`]. Point it at a REST proxy or an
    /// emulator such as [`MockDiscord`](crate::mock::MockDiscord). When set, webhooks are
    /// posted through it too.
    pub fn api_base(mut self, url: impl Into<String>) -> Self {
        self.api_base = Some(url.into());
        self
    }

    /// Posts the events of `class` to `destination`.
    pub fn route(mut self, class: Class, destination: Destination) -> Self {
        self.routes[class.index()] = Some(destination);
        self.skipped[class.index()] = false;
        self
    }

    /// Does not capture events of `class` at all (they are not queued, posted or counted).
    /// Without a route or a skip, `build()` refuses a class, so nothing is lost by accident.
    pub fn skip(mut self, class: Class) -> Self {
        self.skipped[class.index()] = true;
        self.routes[class.index()] = None;
        self
    }

    /// The batch interval of every class (default 120 s). ERRORs never wait for it.
    pub fn batch_interval(mut self, interval: Duration) -> Self {
        self.intervals = [interval; 3];
        self
    }

    /// The batch interval of one class.
    pub fn class_batch_interval(mut self, class: Class, interval: Duration) -> Self {
        self.intervals[class.index()] = interval;
        self
    }

    /// How many events each class queue holds (default [`DEFAULT_QUEUE_CAPACITY`]). When a
    /// queue is full, new events of that class are dropped and counted in the statistics.
    /// The flusher is woken early once a queue is half full.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// How long dropping the guard waits for pending events (default 10 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Sends events whose target is `prefix` or starts with `prefix::` to `class`.
    /// The longest matching prefix wins; targets that match none go to [`Class::Log`].
    /// The defaults are `analytics` and `diagnostics`.
    pub fn classify(mut self, prefix: impl Into<String>, class: Class) -> Self {
        let prefix = prefix.into();
        self.prefixes.retain(|(p, _)| *p != prefix);
        self.prefixes.push((prefix, class));
        self
    }

    /// Removes every classification prefix, including the defaults.
    pub fn clear_classification(mut self) -> Self {
        self.prefixes.clear();
        self
    }

    /// Whether batches (not ERRORs) are sent with Discord's `SUPPRESS_NOTIFICATIONS` flag,
    /// so a busy log channel does not buzz phones. Default `true`.
    pub fn suppress_notifications(mut self, suppress: bool) -> Self {
        self.suppress_notifications = suppress;
        self
    }

    /// Pings this role with every ERROR message (opt-in; nothing else ever pings).
    pub fn error_mention_role(mut self, role_id: u64) -> Self {
        self.error_mention_role = Some(role_id);
        self
    }

    /// A batch that would take more messages than this is posted as a text attachment with
    /// a summary instead. By default, what the destination's rate budget can post within
    /// one batch interval (1 message/s on a channel, 0.5 on a webhook, per the limits in
    /// Discord's headers), so a big batch never delays the next.
    pub fn max_inline_messages(mut self, messages: usize) -> Self {
        self.max_inline_messages = Some(messages);
        self
    }

    /// How long one request may take before it counts as failed and is retried
    /// (default 15 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// More field names (case-insensitive, matched as part of the name) whose values are
    /// posted as `[redacted]`, added to [`DEFAULT_SECRET_FIELDS`](crate::DEFAULT_SECRET_FIELDS).
    /// The bot token and webhook tokens are scrubbed from all text whatever this says.
    pub fn secret_fields<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for name in names {
            let name = name.into().to_ascii_lowercase();
            if !name.is_empty() && !self.secret_fields.contains(&name) {
                self.secret_fields.push(name);
            }
        }
        self
    }

    /// Forgets every secret field name, the defaults included (then add your own with
    /// [`secret_fields`](Self::secret_fields)). Tokens are still scrubbed.
    pub fn clear_secret_fields(mut self) -> Self {
        self.secret_fields.clear();
        self
    }

    /// A label (a shard id, a host name) shown in every message, so that several processes
    /// posting to one channel can be told apart.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into()).filter(|l| !l.trim().is_empty());
        self
    }

    /// Installs a panic hook that posts the panic (message, location, thread) as an ERROR,
    /// waits up to 2 s for it to be delivered, then calls the previous hook. Works with
    /// `panic = "abort"` too. Off by default.
    pub fn capture_panics(mut self, capture: bool) -> Self {
        self.capture_panics = capture;
        self
    }

    /// Posts the crate's own statistics (events, delivered, dropped, requests, retries,
    /// 429s, queue peak) to the diagnostics channel every `interval`. Off by default.
    pub fn self_report(mut self, interval: Duration) -> Self {
        self.self_report = Some(interval);
        self
    }

    /// Whether spans are timed for the performance report (default `true`): spans whose
    /// target classifies as [`Class::Diagnostics`] (as events are classified, e.g.
    /// `#[tracing::instrument(target = "diagnostics")]`) and spans named with
    /// [`timed_span`](Self::timed_span), from creation to close. Each diagnostics batch
    /// interval, one report gives per span name the count, p50, p95, p99 and max duration,
    /// the busy share and the ERROR count (none when no span closed). Needs a diagnostics
    /// destination; each close counts as one diagnostics event in [`Stats`](crate::Stats).
    pub fn span_timings(mut self, on: bool) -> Self {
        self.reports.span_timings = on;
        self
    }

    /// Also times every span called `name`, whatever its target (see
    /// [`span_timings`](Self::span_timings)). Timings are only reported to the diagnostics
    /// class, so `build()` refuses names to time while span timings are off or
    /// [`Class::Diagnostics`] is skipped ([`ConfigError::IneffectiveSetting`]).
    pub fn timed_span(mut self, name: impl Into<String>) -> Self {
        add_names(&mut self.reports.timed_spans, [name]);
        self
    }

    /// How analytics events are posted (default [`AnalyticsMode::Lines`], a table row per
    /// event). With [`AnalyticsMode::Rollup`] one message per batch interval counts the
    /// events per message, the top values of each [`rollup_field`](Self::rollup_field) and
    /// the distinct values of each [`rollup_distinct`](Self::rollup_distinct) field; the
    /// events count as delivered when that rollup is. [`AnalyticsMode::Both`] posts both.
    /// ERRORs are posted at once as always, and are not in the rollup.
    pub fn analytics_mode(mut self, mode: AnalyticsMode) -> Self {
        self.reports.analytics_mode = mode;
        self
    }

    /// A field whose most frequent values the rollup shows (e.g. `command`, `guild`).
    /// Like [`rollup_distinct`](Self::rollup_distinct) and [`rollup_top`](Self::rollup_top),
    /// it needs [`AnalyticsMode::Rollup`] or [`AnalyticsMode::Both`]: with
    /// [`AnalyticsMode::Lines`] no rollup is made, and `build()` refuses it
    /// ([`ConfigError::IneffectiveSetting`]).
    pub fn rollup_field(mut self, name: impl Into<String>) -> Self {
        add_names(&mut self.reports.rollup_fields, [name]);
        self
    }

    /// An id field whose distinct values the rollup counts (e.g. `user_id`): exact up to
    /// 4096 distinct values an interval, an estimate within a few percent beyond. Needs a
    /// mode that posts a rollup (see [`rollup_field`](Self::rollup_field)).
    pub fn rollup_distinct(mut self, name: impl Into<String>) -> Self {
        add_names(&mut self.reports.rollup_distinct, [name]);
        self
    }

    /// How many values of each rollup field are shown (default [`DEFAULT_ROLLUP_TOP`]);
    /// the rest are summed as `other`. Needs a mode that posts a rollup (see
    /// [`rollup_field`](Self::rollup_field)).
    pub fn rollup_top(mut self, n: usize) -> Self {
        self.reports.rollup_top = n;
        self.rollup_top_set = true;
        self
    }

    /// Also posts each analytics batch as a JSON Lines file (one object per event: `time`
    /// in RFC 3339, `level`, `target`, `message`, `fields`, `spans`) to download. Off by
    /// default. Files are cut at 8 MiB, three to a message, within Discord's upload limits.
    pub fn analytics_jsonl(mut self, on: bool) -> Self {
        self.reports.analytics_jsonl = on;
        self
    }

    /// Reads the environment on top of this builder. A variable that is set has the last
    /// word; an unset or empty one (or a list without any name) leaves the builder as it
    /// was; a malformed one is an error naming it.
    ///
    /// - A single value (`DISCORD_TOKEN`, `DISCORD_BATCH_SECS`, `DISCORD_ANALYTICS_MODE`,
    ///   ...) replaces the builder's.
    /// - A list of names replaces the builder's list the same way: `DISCORD_TIMED_SPANS`,
    ///   `DISCORD_ROLLUP_FIELDS` and `DISCORD_ROLLUP_DISTINCT` (with
    ///   `.rollup_field("command")` and `DISCORD_ROLLUP_FIELDS=guild`, the rollup shows
    ///   `guild` only).
    /// - Settings kept per class or per prefix are replaced for the ones the variable
    ///   names, the others stay as the builder set them: a class's channel or webhook
    ///   variable, `DISCORD_SKIP` (a skipped class loses its route) and `DISCORD_CLASSIFY`.
    /// - `DISCORD_SECRET_FIELDS` is added to the builder's names (and the defaults), so the
    ///   environment can redact more but never less.
    /// - A report the environment switches off takes the builder's settings for it along:
    ///   with `DISCORD_SPAN_TIMINGS=false` or `DISCORD_SKIP=diagnostics`, the builder's
    ///   [`timed_span`](Self::timed_span) names; with `DISCORD_ANALYTICS_MODE=lines`, its
    ///   rollup settings. The same settings given by the environment itself are refused by
    ///   `build()` ([`ConfigError::IneffectiveSetting`]), as they are when the builder
    ///   switches its own report off.
    ///
    /// The variables: `DISCORD_TOKEN`, `DISCORD_API_BASE`,
    /// `DISCORD_{ANALYTICS,DIAGNOSTICS,LOG}_{CHANNEL,WEBHOOK}`, `DISCORD_BATCH_SECS`,
    /// `DISCORD_QUEUE_CAPACITY`, `DISCORD_SHUTDOWN_TIMEOUT_SECS`,
    /// `DISCORD_REQUEST_TIMEOUT_SECS`, `DISCORD_MAX_INLINE_MESSAGES`, `DISCORD_ERROR_ROLE`,
    /// `DISCORD_LABEL`, `DISCORD_SUPPRESS_NOTIFICATIONS`, `DISCORD_CAPTURE_PANICS`,
    /// `DISCORD_SELF_REPORT_SECS`, `DISCORD_SECRET_FIELDS` (field names),
    /// `DISCORD_SKIP` (classes), `DISCORD_CLASSIFY` (`prefix=class,...`),
    /// `DISCORD_SPAN_TIMINGS` (`true`/`false`), `DISCORD_TIMED_SPANS` (span names),
    /// `DISCORD_ANALYTICS_MODE` (`lines`, `rollup` or `both`), `DISCORD_ROLLUP_FIELDS`
    /// (field names), `DISCORD_ROLLUP_DISTINCT` (id field names), `DISCORD_ROLLUP_TOP` and
    /// `DISCORD_ANALYTICS_JSONL` (`true`/`false`); lists are separated by commas. The
    /// README has the table.
    pub fn with_env(mut self) -> Result<Self, ConfigError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let reports_before = self.reports_on();
        if let Some(token) = var("DISCORD_TOKEN") {
            self = self.bot_token(token);
        }
        if let Some(base) = var("DISCORD_API_BASE") {
            self = self.api_base(base);
        }
        for class in Class::ALL {
            if let Some(url) = var(class.webhook_var()) {
                self = self.route(class, Destination::webhook(url));
            } else if let Some(id) = var(class.channel_var()) {
                self = self.route(class, Destination::channel(id.trim()));
            }
        }
        if let Some(v) = var("DISCORD_BATCH_SECS") {
            self = self.batch_interval(env_secs("DISCORD_BATCH_SECS", &v)?);
        }
        if let Some(v) = var("DISCORD_QUEUE_CAPACITY") {
            self = self.queue_capacity(env_parse("DISCORD_QUEUE_CAPACITY", &v)?);
        }
        if let Some(v) = var("DISCORD_SHUTDOWN_TIMEOUT_SECS") {
            self = self.shutdown_timeout(env_secs("DISCORD_SHUTDOWN_TIMEOUT_SECS", &v)?);
        }
        if let Some(v) = var("DISCORD_REQUEST_TIMEOUT_SECS") {
            self = self.request_timeout(env_secs("DISCORD_REQUEST_TIMEOUT_SECS", &v)?);
        }
        if let Some(v) = var("DISCORD_MAX_INLINE_MESSAGES") {
            self = self.max_inline_messages(env_parse("DISCORD_MAX_INLINE_MESSAGES", &v)?);
        }
        if let Some(v) = var("DISCORD_ERROR_ROLE") {
            let role = parse_snowflake(&v).ok_or(ConfigError::InvalidEnv {
                var: "DISCORD_ERROR_ROLE",
                value: v,
            })?;
            self = self.error_mention_role(role);
        }
        if let Some(v) = var("DISCORD_LABEL") {
            self = self.label(v);
        }
        if let Some(v) = var("DISCORD_SUPPRESS_NOTIFICATIONS") {
            self = self.suppress_notifications(env_bool("DISCORD_SUPPRESS_NOTIFICATIONS", &v)?);
        }
        if let Some(v) = var("DISCORD_CAPTURE_PANICS") {
            self = self.capture_panics(env_bool("DISCORD_CAPTURE_PANICS", &v)?);
        }
        if let Some(v) = var("DISCORD_SELF_REPORT_SECS") {
            self = self.self_report(env_secs("DISCORD_SELF_REPORT_SECS", &v)?);
        }
        if let Some(v) = var("DISCORD_SECRET_FIELDS") {
            // Added, never replacing: the environment cannot turn a redaction off.
            self = self.secret_fields(env_list(&v));
        }
        if let Some(v) = var("DISCORD_SPAN_TIMINGS") {
            self = self.span_timings(env_bool("DISCORD_SPAN_TIMINGS", &v)?);
        }
        if let Some(v) = var("DISCORD_TIMED_SPANS") {
            replace_names(&mut self.reports.timed_spans, &v);
        }
        if let Some(v) = var("DISCORD_ANALYTICS_MODE") {
            let mode = AnalyticsMode::parse(&v).ok_or(ConfigError::InvalidEnv {
                var: "DISCORD_ANALYTICS_MODE",
                value: v.clone(),
            })?;
            self = self.analytics_mode(mode);
        }
        if let Some(v) = var("DISCORD_ROLLUP_FIELDS") {
            replace_names(&mut self.reports.rollup_fields, &v);
        }
        if let Some(v) = var("DISCORD_ROLLUP_DISTINCT") {
            replace_names(&mut self.reports.rollup_distinct, &v);
        }
        if let Some(v) = var("DISCORD_ROLLUP_TOP") {
            self = self.rollup_top(env_parse("DISCORD_ROLLUP_TOP", &v)?);
        }
        if let Some(v) = var("DISCORD_ANALYTICS_JSONL") {
            self = self.analytics_jsonl(env_bool("DISCORD_ANALYTICS_JSONL", &v)?);
        }
        if let Some(v) = var("DISCORD_SKIP") {
            for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let class = env_class("DISCORD_SKIP", name, name)?;
                self = self.skip(class);
            }
        }
        if let Some(v) = var("DISCORD_CLASSIFY") {
            for rule in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (prefix, class) = rule.split_once('=').ok_or(ConfigError::InvalidEnv {
                    var: "DISCORD_CLASSIFY",
                    value: v.clone(),
                })?;
                let class = env_class("DISCORD_CLASSIFY", &v, class.trim())?;
                self = self.classify(prefix.trim(), class);
            }
        }
        // A report the environment switches off takes the builder's settings for it along:
        // the operator has the last word and could not remove them from the environment.
        // What the environment itself sets for it is still refused by `build()`.
        let named = |name: &str| var(name).is_some_and(|v| env_list(&v).next().is_some());
        let (timings, rollup) = self.reports_on();
        if reports_before.0 && !timings && !named("DISCORD_TIMED_SPANS") {
            self.reports.timed_spans.clear();
        }
        if reports_before.1 && !rollup {
            if !named("DISCORD_ROLLUP_FIELDS") {
                self.reports.rollup_fields.clear();
            }
            if !named("DISCORD_ROLLUP_DISTINCT") {
                self.reports.rollup_distinct.clear();
            }
            if var("DISCORD_ROLLUP_TOP").is_none() {
                self.rollup_top_set = false;
            }
        }
        Ok(self)
    }

    /// Whether the performance report (span timings on, diagnostics not skipped) and the
    /// analytics rollup are made.
    fn reports_on(&self) -> (bool, bool) {
        (
            self.reports.span_timings && !self.skipped[Class::Diagnostics.index()],
            self.reports.analytics_mode.rollup(),
        )
    }

    /// Validates the configuration and starts the flusher thread.
    ///
    /// Works in a plain `fn main` and inside a tokio runtime of either flavour: the
    /// flusher has its own thread and runtime. Returns the layer to install and the
    /// guard that flushes pending events when dropped.
    pub fn build(self) -> Result<(DiscordLayer, DiscordGuard), ConfigError> {
        let config = self.validate()?;
        crate::flusher::start(config)
    }

    pub(crate) fn validate(self) -> Result<Config, ConfigError> {
        let token = match &self.token {
            Some(t) if t.trim().is_empty() => return Err(ConfigError::EmptyToken),
            Some(t) => Some(t.trim().trim_start_matches("Bot ").to_owned()),
            None => None,
        };
        if let Some(t) = &token {
            if t.is_empty() {
                return Err(ConfigError::EmptyToken);
            }
            if t.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(ConfigError::MalformedToken);
            }
        }
        let api_base = match &self.api_base {
            Some(b) => Some(validate_api_base(b)?),
            None => None,
        };
        let mut targets: [Option<Target>; 3] = [None, None, None];
        for class in Class::ALL {
            let i = class.index();
            if self.skipped[i] {
                continue;
            }
            let Some(dest) = &self.routes[i] else {
                return Err(ConfigError::MissingDestination { class });
            };
            targets[i] = Some(match &dest.0 {
                DestinationSpec::Channel(raw) => {
                    let id = parse_snowflake(raw).ok_or_else(|| ConfigError::InvalidChannelId {
                        class,
                        value: raw.clone(),
                    })?;
                    if token.is_none() {
                        return Err(ConfigError::MissingToken { class });
                    }
                    Target::Channel(id)
                }
                DestinationSpec::Webhook(url) => {
                    let mut hook = parse_webhook_url(url)
                        .map_err(|reason| ConfigError::InvalidWebhookUrl { class, reason })?;
                    if let Some(base) = &api_base {
                        hook.api_base = base.clone();
                    }
                    Target::Webhook(hook)
                }
            });
        }
        for (class, interval) in Class::ALL.iter().zip(self.intervals) {
            if (interval.is_zero() || interval > MAX_BATCH_INTERVAL) && !self.skipped[class.index()]
            {
                return Err(ConfigError::InvalidSetting {
                    name: "batch_interval",
                    value: format!("{interval:?}"),
                });
            }
        }
        if self.shutdown_timeout > MAX_SHUTDOWN_TIMEOUT {
            return Err(ConfigError::InvalidSetting {
                name: "shutdown_timeout",
                value: format!("{:?}", self.shutdown_timeout),
            });
        }
        if self.request_timeout.is_zero() || self.request_timeout > MAX_SHUTDOWN_TIMEOUT {
            return Err(ConfigError::InvalidSetting {
                name: "request_timeout",
                value: format!("{:?}", self.request_timeout),
            });
        }
        if self.queue_capacity == 0 {
            return Err(ConfigError::InvalidSetting {
                name: "queue_capacity",
                value: "0".into(),
            });
        }
        if self.reports.rollup_top == 0 {
            return Err(ConfigError::InvalidSetting {
                name: "rollup_top",
                value: "0".into(),
            });
        }
        self.check_effective()?;
        // Longest prefix first, so `analytics::internal` can override `analytics`.
        let mut prefixes = self.prefixes;
        prefixes.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        Ok(Config {
            token,
            api_base: api_base.unwrap_or_else(|| DEFAULT_API_BASE.to_owned()),
            targets,
            intervals: self.intervals,
            queue_capacity: self.queue_capacity,
            shutdown_timeout: self.shutdown_timeout,
            prefixes,
            suppress_notifications: self.suppress_notifications,
            error_mention_role: self.error_mention_role,
            max_inline_messages: self.max_inline_messages,
            request_timeout: self.request_timeout,
            secret_fields: self.secret_fields,
            label: self.label,
            capture_panics: self.capture_panics,
            self_report: self.self_report.filter(|d| !d.is_zero()),
            reports: self.reports,
        })
    }
}

impl DiscordLayerBuilder {
    /// Refuses report settings that the rest of the configuration leaves without effect.
    fn check_effective(&self) -> Result<(), ConfigError> {
        let reports = &self.reports;
        if !reports.analytics_mode.rollup() {
            let rollup = [
                ("rollup_field", reports.rollup_fields.join(", ")),
                ("rollup_distinct", reports.rollup_distinct.join(", ")),
                (
                    "rollup_top",
                    if self.rollup_top_set {
                        reports.rollup_top.to_string()
                    } else {
                        String::new()
                    },
                ),
            ];
            if let Some((name, value)) = rollup.into_iter().find(|(_, v)| !v.is_empty()) {
                return Err(ConfigError::IneffectiveSetting {
                    name,
                    value,
                    because: "analytics_mode",
                });
            }
        }
        // Spans are timed only for the performance report, which only the diagnostics
        // class posts (the flusher times nothing otherwise).
        if !reports.timed_spans.is_empty() {
            let because = if !reports.span_timings {
                Some("span_timings")
            } else if self.skipped[Class::Diagnostics.index()] {
                Some("skip")
            } else {
                None
            };
            if let Some(because) = because {
                return Err(ConfigError::IneffectiveSetting {
                    name: "timed_span",
                    value: reports.timed_spans.join(", "),
                    because,
                });
            }
        }
        Ok(())
    }
}

/// A validated configuration, handed to the flusher.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) token: Option<String>,
    pub(crate) api_base: String,
    pub(crate) targets: [Option<Target>; 3],
    pub(crate) intervals: [Duration; 3],
    pub(crate) queue_capacity: usize,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) prefixes: Vec<(String, Class)>,
    pub(crate) suppress_notifications: bool,
    pub(crate) error_mention_role: Option<u64>,
    pub(crate) max_inline_messages: Option<usize>,
    pub(crate) request_timeout: Duration,
    pub(crate) secret_fields: Vec<String>,
    pub(crate) label: Option<String>,
    pub(crate) capture_panics: bool,
    pub(crate) self_report: Option<Duration>,
    pub(crate) reports: Reports,
}

impl Config {
    /// The redactor for this configuration: secret field names, and every token.
    pub(crate) fn redactor(&self) -> crate::redact::Redactor {
        let mut secrets: Vec<String> = self.token.iter().cloned().collect();
        for target in self.targets.iter().flatten() {
            if let Target::Webhook(hook) = target {
                secrets.push(hook.token.clone());
            }
        }
        crate::redact::Redactor {
            names: self.secret_fields.clone(),
            secrets,
        }
    }
}

/// A number of seconds (fractions allowed) from an environment variable.
fn env_secs(var: &'static str, value: &str) -> Result<Duration, ConfigError> {
    let bad = || ConfigError::InvalidEnv {
        var,
        value: value.to_owned(),
    };
    let secs: f64 = value.trim().parse().map_err(|_| bad())?;
    if !(secs.is_finite() && secs > 0.0 && secs < 1e9) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

fn env_parse<T: std::str::FromStr>(var: &'static str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::InvalidEnv {
        var,
        value: value.to_owned(),
    })
}

fn env_bool(var: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::InvalidEnv {
            var,
            value: value.to_owned(),
        }),
    }
}

fn env_class(var: &'static str, value: &str, name: &str) -> Result<Class, ConfigError> {
    Class::ALL
        .into_iter()
        .find(|c| c.name().eq_ignore_ascii_case(name))
        .ok_or(ConfigError::InvalidEnv {
            var,
            value: value.to_owned(),
        })
}

fn parse_snowflake(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<u64>().ok().filter(|&id| id > 0)
}

fn validate_api_base(raw: &str) -> Result<String, ConfigError> {
    let bad = || ConfigError::InvalidApiBase {
        value: raw.to_owned(),
    };
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad());
    }
    Ok(raw.trim().trim_end_matches('/').to_owned())
}

/// Parses `…/webhooks/{id}/{token}[?thread_id=…]`. The API base is everything before
/// `/webhooks/`, with `/api` gaining the pinned version when the URL has none.
fn parse_webhook_url(raw: &str) -> Result<WebhookTarget, String> {
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme {:?} is not http or https", url.scheme()));
    }
    let host = url.host_str().ok_or("it has no host")?;
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1");
    if url.scheme() == "http" && !loopback {
        return Err("http:// would send the webhook token in clear text; use https:// (plain http is accepted for localhost only)".into());
    }
    let segments: Vec<&str> = url.path_segments().map(|s| s.collect()).unwrap_or_default();
    let at = segments
        .iter()
        .position(|s| *s == "webhooks")
        .ok_or("the path has no /webhooks/ part")?;
    let id = segments.get(at + 1).copied().unwrap_or("");
    let token = segments.get(at + 2).copied().unwrap_or("");
    let id = parse_snowflake(id).ok_or_else(|| format!("webhook id {id:?} is not numeric"))?;
    if token.is_empty()
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("the webhook token is missing or has characters Discord never uses".into());
    }
    if segments.len() > at + 3 && segments[at + 3..].iter().any(|s| !s.is_empty()) {
        return Err("the path continues after the token".into());
    }
    let mut prefix: Vec<&str> = segments[..at].to_vec();
    if prefix == ["api"] {
        prefix.push("v10");
    }
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let mut api_base = format!("{}://{host}{port}", url.scheme());
    for seg in prefix {
        api_base.push('/');
        api_base.push_str(seg);
    }
    let mut thread_id = None;
    for (k, v) in url.query_pairs() {
        if k == "thread_id" {
            thread_id =
                Some(parse_snowflake(&v).ok_or_else(|| format!("thread_id {v:?} is not numeric"))?);
        }
    }
    Ok(WebhookTarget {
        api_base,
        id,
        token: token.to_owned(),
        thread_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_read_in_stderr_lines_without_the_webhook_token() {
        let webhook =
            parse_webhook_url("https://discord.com/api/webhooks/42/s3cr3t-token").unwrap();
        assert_eq!(Target::Webhook(webhook).to_string(), "webhook 42");
        assert_eq!(Target::Channel(7).to_string(), "channel 7");
    }

    #[test]
    fn discord_webhook_url_parses_to_versioned_base() {
        let w = parse_webhook_url("https://discord.com/api/webhooks/123456/abc-DEF_9").unwrap();
        assert_eq!(w.api_base, "https://discord.com/api/v10");
        assert_eq!(w.id, 123456);
        assert_eq!(w.token, "abc-DEF_9");
        assert_eq!(w.thread_id, None);
    }

    #[test]
    fn emulator_webhook_url_keeps_its_base_and_thread() {
        let w =
            parse_webhook_url("http://127.0.0.1:4000/api/v10/webhooks/42/tok?thread_id=7").unwrap();
        assert_eq!(w.api_base, "http://127.0.0.1:4000/api/v10");
        assert_eq!((w.id, w.thread_id), (42, Some(7)));
    }

    #[test]
    fn malformed_webhook_urls_are_refused() {
        for bad in [
            "discord.com/api/webhooks/1/x",
            "https://discord.com/api/hooks/1/x",
            "https://discord.com/api/webhooks/abc/x",
            "https://discord.com/api/webhooks/1/",
            "ftp://discord.com/api/webhooks/1/x",
            "http://discord.com/api/webhooks/1/x",
        ] {
            assert!(parse_webhook_url(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn a_list_variable_replaces_the_list_unless_it_names_nothing() {
        let mut list = vec!["shard".to_owned(), "guild".to_owned()];
        replace_names(&mut list, " , ");
        assert_eq!(list, ["shard", "guild"]);
        replace_names(&mut list, "command, user_id,command ,");
        assert_eq!(list, ["command", "user_id"]);
    }

    #[test]
    fn snowflakes_must_be_positive_decimal() {
        assert_eq!(parse_snowflake(" 1234 "), Some(1234));
        assert_eq!(parse_snowflake("12a4"), None);
        assert_eq!(parse_snowflake("-5"), None);
        assert_eq!(parse_snowflake("0"), None);
        assert_eq!(parse_snowflake("99999999999999999999999"), None);
    }
}
