#![allow(dead_code)] // each example uses its own part of this module
//! What the examples share: talk to the Discord configured in the environment, or start the
//! built-in emulator when none is; and print what each emulator channel received.

use std::time::Duration;

use serde_json::Value;
use tracing::Level;
use tracing_discord::mock::MockDiscord;
use tracing_discord::{Class, ConfigError, Destination, DiscordLayer, DiscordLayerBuilder};

/// The built-in emulator and the channel of each class.
pub struct Emulator {
    pub mock: MockDiscord,
    pub channels: Vec<(Class, u64)>,
}

/// Whether the environment names a real Discord (or a proxy or emulator of the user's).
fn remote_configured() -> bool {
    let set = |v: &str| std::env::var(v).is_ok_and(|s| !s.trim().is_empty());
    set("DISCORD_TOKEN")
        || set("DISCORD_ANALYTICS_WEBHOOK")
        || set("DISCORD_DIAGNOSTICS_WEBHOOK")
        || set("DISCORD_LOG_WEBHOOK")
}

/// A builder from the environment when it names a Discord; otherwise one pointed at a
/// freshly started built-in emulator with a channel per class and `batch` as interval.
pub fn builder(
    batch: Duration,
) -> Result<(DiscordLayerBuilder, Option<Emulator>), Box<dyn std::error::Error>> {
    if remote_configured() {
        return Ok((DiscordLayer::builder().with_env()?, None));
    }
    let mock = MockDiscord::start()?;
    let mut builder = DiscordLayer::builder()
        .bot_token(mock.bot_token())
        .api_base(mock.api_base())
        .batch_interval(batch);
    let mut channels = Vec::new();
    for class in Class::ALL {
        let id = mock.add_channel(class.name());
        builder = builder.route(class, Destination::channel(id));
        channels.push((class, id));
    }
    // DISCORD_BATCH_SECS still applies on the emulator.
    let builder: Result<DiscordLayerBuilder, ConfigError> = builder.with_env();
    eprintln!(
        "no DISCORD_TOKEN or webhook set: using the built-in Discord emulator at {}",
        mock.api_base()
    );
    Ok((builder?, Some(Emulator { mock, channels })))
}

/// Prints every message of every emulator channel as a reader would see its text.
pub fn print_channels(emulator: &Emulator) {
    for (class, id) in &emulator.channels {
        let messages = emulator.mock.messages(*id);
        println!("#{} ({} messages)", class.name(), messages.len());
        for m in &messages {
            print_message(m);
        }
        println!();
    }
}

fn print_message(m: &Value) {
    println!("----");
    if let Some(content) = m["content"].as_str().filter(|c| !c.is_empty()) {
        println!("{content}");
    }
    let texts = m["_attachment_texts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, a) in m["attachments"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        println!(
            "[file] {} ({} bytes)",
            a["filename"].as_str().unwrap_or(""),
            a["size"]
        );
        // Its first line, to show what the file holds.
        if let Some(first) = texts
            .get(i)
            .and_then(Value::as_str)
            .and_then(|t| t.lines().next())
        {
            println!("  {}", first.chars().take(400).collect::<String>());
        }
    }
    for e in m["embeds"].as_array().into_iter().flatten() {
        if let Some(t) = e["title"].as_str() {
            println!("[embed] {t}");
        }
        if let Some(d) = e["description"].as_str() {
            println!("{d}");
        }
        for f in e["fields"].as_array().into_iter().flatten() {
            println!(
                "  {}: {}",
                f["name"].as_str().unwrap_or(""),
                f["value"].as_str().unwrap_or("")
            );
        }
        if let Some(f) = e["footer"]["text"].as_str() {
            println!("  -- {f}");
        }
    }
}

/// The level a log line names: a word such as `ERROR`, `[warn]`, `INFO`, or Android's
/// one-letter `E`/`W`/`I`/`D`/`V`, among its first tokens; INFO when it names none.
pub fn level_of(line: &str) -> Level {
    for token in line.split_whitespace().take(8) {
        let word = token.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let level = match word.to_ascii_uppercase().as_str() {
            "ERROR" | "ERR" | "FATAL" | "CRIT" | "CRITICAL" | "SEVERE" | "EMERG" | "ALERT" => {
                Level::ERROR
            }
            "WARN" | "WARNING" => Level::WARN,
            "INFO" | "NOTICE" => Level::INFO,
            "DEBUG" => Level::DEBUG,
            "TRACE" | "VERBOSE" => Level::TRACE,
            _ if token.len() == 1 => match token {
                "E" | "F" => Level::ERROR,
                "W" => Level::WARN,
                "I" => Level::INFO,
                "D" => Level::DEBUG,
                "V" => Level::TRACE,
                _ => continue,
            },
            _ => continue,
        };
        return level;
    }
    Level::INFO
}
