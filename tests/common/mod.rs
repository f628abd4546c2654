//! Shared set-up for the integration tests: an emulator with a channel per class, and
//! bounded waiting.
#![allow(dead_code)] // each test file uses its own part

use std::time::{Duration, Instant};

use serde_json::Value;
use tracing_discord::mock::{MockConfig, MockDiscord};
use tracing_discord::{Class, Destination, DiscordLayer, DiscordLayerBuilder};

pub struct Setup {
    pub mock: MockDiscord,
    /// Channel ids by class index: analytics, diagnostics, log.
    pub channels: [u64; 3],
}

impl Setup {
    pub fn new() -> Self {
        Self::with_config(MockConfig::default())
    }

    /// An emulator with `config` (for example without rate limits).
    pub fn with_config(config: MockConfig) -> Self {
        let mock = MockDiscord::start_with(config).expect("emulator starts");
        let channels = Class::ALL.map(|c| mock.add_channel(c.name()));
        Setup { mock, channels }
    }

    pub fn channel(&self, class: Class) -> u64 {
        self.channels[Class::ALL.iter().position(|c| *c == class).unwrap()]
    }

    /// A builder routed to the three channels with the given batch interval.
    pub fn builder(&self, interval: Duration) -> DiscordLayerBuilder {
        let mut b = DiscordLayer::builder()
            .bot_token(self.mock.bot_token())
            .api_base(self.mock.api_base())
            .batch_interval(interval)
            .shutdown_timeout(Duration::from_secs(10));
        for class in Class::ALL {
            b = b.route(class, Destination::channel(self.channel(class)));
        }
        b
    }

    pub fn messages(&self, class: Class) -> Vec<Value> {
        self.mock.messages(self.channel(class))
    }

    /// The lines of every code block posted to `class`, in order, without timestamps
    /// (everything after the `HH:MM:SS ` prefix).
    pub fn lines(&self, class: Class) -> Vec<String> {
        let mut out = Vec::new();
        for m in self.messages(class) {
            let mut blocks: Vec<String> = m["content"]
                .as_str()
                .map(str::to_owned)
                .into_iter()
                .collect();
            for e in m["embeds"].as_array().into_iter().flatten() {
                if let Some(d) = e["description"].as_str() {
                    blocks.push(d.to_owned());
                }
            }
            for b in blocks {
                if let Some(body) = b
                    .strip_prefix("```ansi\n")
                    .and_then(|b| b.strip_suffix("\n```"))
                {
                    out.extend(body.split('\n').map(|l| strip_time(&strip_ansi(l))));
                }
            }
        }
        out
    }
}

/// Drops ANSI colour codes (`ESC [ ... m`).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find('\u{1b}') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        match rest.find('m') {
            Some(end) => rest = &rest[end + 1..],
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

/// Drops a leading `HH:MM:SS ` (every event line has one; notices have none).
fn strip_time(line: &str) -> String {
    let b = line.as_bytes();
    let timed = b.len() >= 9 && b[2] == b':' && b[5] == b':' && b[8] == b' ';
    if timed {
        line[9..].to_owned()
    } else {
        line.to_owned()
    }
}

/// Polls `cond` every 10 ms until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
