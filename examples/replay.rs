//! Replays real log files through the layer: one tracing event per line, target `replay`
//! (so the Log class), the level taken from the line where it has one (else INFO), the
//! message being the whole line unchanged.
//!
//! ```text
//! cargo run --release --example replay -- [--rate N] FILE...
//! ```
//!
//! As fast as it can, or at N events a second. Then it drops the guard, and on the built-in
//! emulator checks that every line arrived, exactly once. The last line on stdout is the
//! summary. A plain `fn main`: no tokio runtime of the application's is needed.

mod common;

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::Value;
use tracing::{event, Level};
use tracing_discord::render::{escape, CONTINUED, CONTINUES};
use tracing_subscriber::prelude::*;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("replay: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut rate: Option<f64> = None;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--rate" {
            let n: f64 = args.next().ok_or("--rate needs a number")?.parse()?;
            if !(n.is_finite() && n > 0.0) {
                return Err("--rate must be a positive number".into());
            }
            rate = Some(n);
        } else {
            files.push(arg);
        }
    }
    if files.is_empty() {
        return Err("usage: replay [--rate N] FILE...".into());
    }
    let mut lines = Vec::new();
    for f in &files {
        let text = std::fs::read(f).map_err(|e| format!("{f}: {e}"))?;
        lines.extend(String::from_utf8_lossy(&text).lines().map(str::to_owned));
    }

    let (builder, emulator) = common::builder(Duration::from_secs(120))?;
    let (discord, guard) = builder
        .queue_capacity(lines.len().max(1024))
        .shutdown_timeout(Duration::from_secs(900))
        .build()?;
    tracing_subscriber::registry().with(discord).init();

    let started = Instant::now();
    for (i, line) in lines.iter().enumerate() {
        if let Some(rate) = rate {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        match common::level_of(line) {
            Level::ERROR => event!(target: "replay", Level::ERROR, "{line}"),
            Level::WARN => event!(target: "replay", Level::WARN, "{line}"),
            Level::DEBUG => event!(target: "replay", Level::DEBUG, "{line}"),
            Level::TRACE => event!(target: "replay", Level::TRACE, "{line}"),
            _ => event!(target: "replay", Level::INFO, "{line}"),
        }
    }
    eprintln!(
        "replay: emitted {} events in {:.2?}; waiting for delivery",
        lines.len(),
        started.elapsed()
    );
    let stats = guard.shutdown();
    eprintln!("replay: done in {:.2?}", started.elapsed());

    let mut ok = stats.events == lines.len() as u64 && stats.delivered == stats.events;
    if let Some(emulator) = &emulator {
        let missing = missing_lines(&lines, &emulator.mock.all_messages());
        if missing.is_empty() {
            println!(
                "verified: all {} lines arrived in the emulator, each exactly once",
                lines.len()
            );
        } else {
            ok = false;
            println!(
                "NOT verified: {} lines missing or duplicated, e.g. {:?}",
                missing.len(),
                &missing[..missing.len().min(3)]
            );
        }
    }
    println!("{}", stats.summary_line());
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Lines of `sent` that the messages do not hold exactly once (as a multiset). Batch lines
/// are read back from code blocks (`HH:MM:SS LEVEL replay: <line>`, long lines rejoined
/// from their marked pieces, collapsed repeats counted), attachments line by line, ERRORs
/// from their embeds; every documented escape is undone.
fn missing_lines(sent: &[String], messages: &[(u64, Value)]) -> Vec<String> {
    let mut got: HashMap<String, i64> = HashMap::new();
    let mut add = |line: &str, n: i64| *got.entry(line.trim_end().to_owned()).or_default() += n;
    let mut pending_piece = String::new();
    let mut pending_error = String::new();
    for (_, m) in messages {
        for text in m["_attachment_texts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            for line in text.lines() {
                if let Some((_, message)) = line.split_once(" replay: ") {
                    add(message, 1);
                }
            }
        }
        let mut blocks: Vec<&str> = m["content"].as_str().into_iter().collect();
        for e in m["embeds"].as_array().into_iter().flatten() {
            let description = e["description"].as_str().unwrap_or("");
            let title = e["title"].as_str().unwrap_or("");
            if title.starts_with("ERROR") {
                pending_error.push_str(description);
                // A split ERROR is titled "(i/n)"; it is whole at its last part.
                let whole = match title.rsplit_once('(') {
                    Some((_, part)) => part
                        .split_once('/')
                        .is_none_or(|(i, n)| n.trim_end_matches(')') == i),
                    None => true,
                };
                if whole {
                    add(
                        &escape::unescape_markdown(&std::mem::take(&mut pending_error)),
                        1,
                    );
                }
            } else {
                blocks.push(description);
            }
        }
        for block in blocks {
            let Some(body) = block
                .strip_prefix("```ansi\n")
                .and_then(|b| b.strip_suffix("\n```"))
            else {
                continue;
            };
            for line in body.split('\n') {
                let text = line.strip_prefix(CONTINUED).unwrap_or(line);
                if let Some(head) = text.strip_suffix(CONTINUES) {
                    pending_piece.push_str(head);
                    continue;
                }
                pending_piece.push_str(text);
                let whole = std::mem::take(&mut pending_piece);
                let Some((_, message)) = whole.split_once(" replay: ") else {
                    continue;
                };
                let (message, count) = split_repeat(message);
                add(&escape::unescape_code_block(message), count);
            }
        }
    }
    let mut missing = Vec::new();
    for line in sent {
        let n = got.entry(line.trim_end().to_owned()).or_default();
        *n -= 1;
        if *n < 0 {
            missing.push(line.clone());
        }
    }
    missing.extend(got.into_iter().filter(|(_, n)| *n > 0).map(|(l, _)| l));
    missing
}

/// `message (×37, last 13:04:10)` → (`message`, 37); anything else counts once.
fn split_repeat(line: &str) -> (&str, i64) {
    if let Some((message, tail)) = line.rsplit_once(" (×") {
        if let Some((count, _)) = tail.split_once(", last ") {
            if let Ok(n) = count.parse() {
                return (message, n);
            }
        }
    }
    (line, 1)
}
