//! Everything the emulator remembers: the seeded guild, bot, channels and webhooks, the
//! accepted messages, the request log, counters, limiter windows and fault knobs.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::clock::Snowflakes;
use super::faults::{Abuse, Faults};
use super::ratelimit::Limiters;
use super::{permissions, MockConfig, RequestLogEntry};

/// The default bot's token.
pub(crate) const BOT_TOKEN: &str = "mock-bot-token";
/// The default bot's username.
const BOT_USERNAME: &str = "mock-bot";
/// Most request-log entries kept; older ones are dropped first.
pub(crate) const REQUEST_LOG_CAPACITY: usize = 100_000;

/// The 429 counters by scope, all at zero.
fn empty_scope_counts() -> BTreeMap<String, u64> {
    ["user", "global", "shared", "cloudflare"]
        .into_iter()
        .map(|scope| (scope.to_string(), 0))
        .collect()
}

/// A guild text channel.
#[derive(Debug, Clone)]
pub(crate) struct Channel {
    /// Snowflake.
    pub id: u64,
    /// Channel name.
    pub name: String,
    /// Position in the guild's channel list.
    pub position: usize,
    /// The default bot's effective permissions here.
    pub permissions: u64,
    /// The newest message's id.
    pub last_message_id: Option<u64>,
}

/// An incoming webhook.
#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    /// Snowflake.
    pub id: u64,
    /// Secret token.
    pub token: String,
    /// The channel it posts to.
    pub channel_id: u64,
    /// Default username of its messages.
    pub name: String,
}

/// The default bot.
#[derive(Debug, Clone)]
pub(crate) struct Bot {
    /// `Authorization: Bot <token>`.
    pub token: String,
    /// The bot user's snowflake.
    pub user_id: u64,
    /// Whether the token was revoked (every request answers 401).
    pub revoked: bool,
}

/// The `force_status` knob: the next `remaining` API requests get this answer.
#[derive(Debug, Clone)]
pub(crate) struct Forced {
    /// Requests still to be answered this way.
    pub remaining: u32,
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

/// A message created with `enforce_nonce`, for de-duplication.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NonceRecord {
    /// Index into [`State::messages`].
    pub message: usize,
    /// When it was created.
    pub at: Instant,
}

/// The emulator's whole state, behind one mutex.
#[derive(Debug)]
pub(crate) struct State {
    /// Limits and behaviour switches.
    pub config: MockConfig,
    /// Id generator.
    pub ids: Snowflakes,
    /// The default guild.
    pub guild_id: u64,
    /// The default bot.
    pub bot: Bot,
    /// Channels by id.
    pub channels: BTreeMap<u64, Channel>,
    /// Webhooks by id.
    pub webhooks: BTreeMap<u64, Webhook>,
    /// Accepted messages `(channel_id, message)` in order, with `_attachment_texts`.
    pub messages: Vec<(u64, Value)>,
    /// `(channel_id, nonce)` of messages sent with `enforce_nonce`.
    pub nonces: HashMap<(u64, String), NonceRecord>,
    /// Every API request answered, oldest first.
    pub log: VecDeque<RequestLogEntry>,
    /// Responses by status.
    pub status_counts: BTreeMap<u16, u64>,
    /// API requests answered.
    pub request_count: u64,
    /// Rate-limit windows.
    pub limiters: Limiters,
    /// Delay before answering each request.
    pub latency: Duration,
    /// Pending forced answers.
    pub forced: Option<Forced>,
    /// Queued faults, the outage switch and the rejection marker.
    pub faults: Faults,
    /// The invalid-request counter and bans.
    pub abuse: Abuse,
    /// 429s sent, by scope (`user`, `global`, `shared`, `cloudflare`).
    pub rate_limited: BTreeMap<String, u64>,
    /// Discord-API requests being handled right now.
    pub in_flight: u64,
    /// The largest `in_flight` seen.
    pub max_in_flight: u64,
}

impl State {
    /// A fresh state with the default guild and bot.
    pub(crate) fn new(config: MockConfig) -> Self {
        let mut ids = Snowflakes::default();
        let guild_id = ids.next();
        let bot = Bot {
            token: BOT_TOKEN.to_string(),
            user_id: ids.next(),
            revoked: false,
        };
        Self {
            config,
            ids,
            guild_id,
            bot,
            channels: BTreeMap::new(),
            webhooks: BTreeMap::new(),
            messages: Vec::new(),
            nonces: HashMap::new(),
            log: VecDeque::new(),
            status_counts: BTreeMap::new(),
            request_count: 0,
            limiters: Limiters::default(),
            latency: Duration::ZERO,
            forced: None,
            faults: Faults::default(),
            abuse: Abuse::default(),
            rate_limited: empty_scope_counts(),
            in_flight: 0,
            max_in_flight: 0,
        }
    }

    /// Adds a text channel where the bot has every permission.
    pub(crate) fn add_channel(&mut self, name: &str) -> u64 {
        let id = self.ids.next();
        let position = self.channels.len();
        let channel = Channel {
            id,
            name: name.to_string(),
            position,
            permissions: permissions::ALL,
            last_message_id: None,
        };
        self.channels.insert(id, channel);
        id
    }

    /// Adds a webhook to a channel; returns `(id, token)`.
    pub(crate) fn add_webhook(&mut self, channel_id: u64, name: &str) -> (u64, String) {
        let id = self.ids.next();
        let token = format!("mock-webhook-token-{id}");
        let webhook = Webhook {
            id,
            token: token.clone(),
            channel_id,
            name: name.to_string(),
        };
        self.webhooks.insert(id, webhook);
        (id, token)
    }

    /// Deletes a channel and, as Discord does, its webhooks.
    pub(crate) fn remove_channel(&mut self, channel_id: u64) {
        self.channels.remove(&channel_id);
        self.webhooks.retain(|_, w| w.channel_id != channel_id);
    }

    /// Stores an accepted message; returns its index.
    pub(crate) fn store(&mut self, channel_id: u64, message: Value) -> usize {
        let id = message["id"].as_str().and_then(|s| s.parse().ok());
        if let Some(channel) = self.channels.get_mut(&channel_id) {
            channel.last_message_id = id.or(channel.last_message_id);
        }
        self.messages.push((channel_id, message));
        self.messages.len() - 1
    }

    /// Records an answered API request.
    pub(crate) fn record(&mut self, entry: RequestLogEntry) {
        self.request_count += 1;
        *self.status_counts.entry(entry.status).or_default() += 1;
        if self.log.len() >= REQUEST_LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(entry);
    }

    /// Clears messages, the request log, counters, limiter windows, the invalid-request
    /// counter and bans.
    pub(crate) fn reset(&mut self) {
        self.messages.clear();
        self.nonces.clear();
        self.log.clear();
        self.status_counts.clear();
        self.request_count = 0;
        self.limiters.clear();
        self.abuse.clear();
        self.rate_limited = empty_scope_counts();
        self.max_in_flight = self.in_flight;
        for channel in self.channels.values_mut() {
            channel.last_message_id = None;
        }
    }

    /// The bot's user object (`GET /users/@me`, emulator spec rule 6).
    pub(crate) fn bot_user(&self) -> Value {
        json!({
            "id": self.bot.user_id.to_string(),
            "username": BOT_USERNAME,
            "discriminator": "0",
            "global_name": null,
            "avatar": null,
            "bot": true,
            "flags": 0,
            "public_flags": 0,
            "mfa_enabled": false,
            "locale": "en-US",
        })
    }

    /// The bot as a message author (emulator spec rule 16).
    pub(crate) fn bot_author(&self) -> Value {
        json!({
            "id": self.bot.user_id.to_string(),
            "username": BOT_USERNAME,
            "discriminator": "0",
            "global_name": null,
            "avatar": null,
            "bot": true,
            "public_flags": 0,
            "flags": 0,
        })
    }

    /// A channel object (emulator spec rule 7).
    pub(crate) fn channel_json(&self, channel: &Channel) -> Value {
        json!({
            "id": channel.id.to_string(),
            "type": 0,
            "guild_id": self.guild_id.to_string(),
            "name": channel.name,
            "position": channel.position,
            "flags": 0,
            "permission_overwrites": [],
            "parent_id": null,
            "topic": null,
            "nsfw": false,
            "last_message_id": channel.last_message_id.map(|id| id.to_string()),
            "rate_limit_per_user": 0,
        })
    }

    /// A webhook object as `GET /webhooks/{id}/{token}` returns it: no `user` (rule 8).
    pub(crate) fn webhook_json(&self, webhook: &Webhook) -> Value {
        json!({
            "id": webhook.id.to_string(),
            "type": 1,
            "guild_id": self.guild_id.to_string(),
            "channel_id": webhook.channel_id.to_string(),
            "name": webhook.name,
            "avatar": null,
            "application_id": null,
            "token": webhook.token,
        })
    }
}
