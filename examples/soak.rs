//! A long run at Discord's limits with faults injected, against the built-in emulator:
//! events in all three classes (with ERRORs), and every few seconds one fault: a 500, a
//! 503 run, a dropped connection, a response lost after commit, a user, shared or global
//! 429. At the end it checks every delivered event is in the emulator exactly once.
//!
//! ```text
//! cargo run --release --example soak -- [--minutes N] [--rate EVENTS_PER_SECOND]
//! ```

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use tracing::{error, info, warn};
use tracing_discord::mock::{AfterCommit, Fault, FaultBody, MockDiscord, Scope};
use tracing_discord::{Class, Destination, DiscordLayer};
use tracing_subscriber::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut minutes = 10.0f64;
    let mut rate = 300.0f64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--minutes" => minutes = args.next().ok_or("--minutes needs a number")?.parse()?,
            "--rate" => rate = args.next().ok_or("--rate needs a number")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let mock = MockDiscord::start()?;
    let mut builder = DiscordLayer::builder()
        .bot_token(mock.bot_token())
        .api_base(mock.api_base())
        .batch_interval(Duration::from_secs(5))
        .request_timeout(Duration::from_secs(2))
        .shutdown_timeout(Duration::from_secs(120));
    let mut channels = Vec::new();
    for class in Class::ALL {
        let id = mock.add_channel(class.name());
        builder = builder.route(class, Destination::channel(id));
        channels.push(id);
    }
    let (layer, guard) = builder.build()?;
    tracing_subscriber::registry().with(layer).init();

    let faults = [
        Fault::Status {
            status: 500,
            body: FaultBody::Json(
                serde_json::json!({"message": "500: Internal Server Error", "code": 0}),
            ),
        },
        Fault::Status {
            status: 502,
            body: FaultBody::Html("<html>502 Bad Gateway</html>".into()),
        },
        Fault::DropConnection,
        Fault::CommitThenFail(AfterCommit::Status500),
        Fault::CommitThenFail(AfterCommit::Hang),
        Fault::RateLimited {
            scope: Scope::User,
            retry_after: 1.5,
            code: None,
            remaining: None,
        },
        Fault::RateLimited {
            scope: Scope::Shared,
            retry_after: 2.0,
            code: Some(20028),
            remaining: Some(2),
        },
        Fault::RateLimited {
            scope: Scope::Global,
            retry_after: 1.0,
            code: None,
            remaining: None,
        },
    ];
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(minutes * 60.0);
    let mut seq = 0u64;
    let mut next_fault = started + Duration::from_secs(3);
    let mut fault_index = 0;
    while Instant::now() < end {
        let due = started + Duration::from_secs_f64(seq as f64 / rate);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        match seq % 100 {
            0 => error!(seq, "payment provider unreachable"),
            1..=9 => {
                warn!(target: "diagnostics", seq, latency_ms = seq % 400, "slow gateway heartbeat")
            }
            10..=39 => info!(target: "analytics", seq, command = "play", "command used"),
            _ => info!(seq, user = seq % 977, "request served"),
        }
        seq += 1;
        if Instant::now() >= next_fault {
            mock.fail_next(1, faults[fault_index % faults.len()].clone());
            fault_index += 1;
            next_fault += Duration::from_secs(4);
        }
    }
    eprintln!(
        "soak: emitted {seq} events in {:.0?}, {fault_index} faults injected; waiting for delivery",
        started.elapsed()
    );
    let stats = guard.shutdown();

    // Every event the emulator stored, by its seq: `seq=N` in log and diagnostics lines and
    // in attached files, the `seq` column of analytics tables, the `seq` field of ERRORs.
    let mut seen: HashMap<u64, u32> = HashMap::new();
    for (channel, m) in mock.all_messages() {
        let mut texts: Vec<String> = vec![m["content"].as_str().unwrap_or("").to_owned()];
        for e in m["embeds"].as_array().into_iter().flatten() {
            texts.push(e["description"].as_str().unwrap_or("").to_owned());
            for f in e["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| f["name"] == "seq")
            {
                if let Some(n) = f["value"].as_str().and_then(|v| v.parse().ok()) {
                    *seen.entry(n).or_default() += 1;
                }
            }
        }
        for f in m["_attachment_texts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            texts.push(f.to_owned());
        }
        let analytics = channel == channels[0];
        for t in texts {
            for line in t.lines() {
                let seq = if analytics && !line.contains("seq=") {
                    // A table row: `HH:MM:SS  <seq>  <command> ...`.
                    let mut cells = line.split_whitespace();
                    let time = cells.next().unwrap_or("");
                    if time.len() == 8 && time.as_bytes()[2] == b':' {
                        cells.next().and_then(|c| c.parse().ok())
                    } else {
                        None
                    }
                } else {
                    line.split("seq=").nth(1).and_then(|p| {
                        p.chars()
                            .take_while(char::is_ascii_digit)
                            .collect::<String>()
                            .parse()
                            .ok()
                    })
                };
                if let Some(n) = seq {
                    *seen.entry(n).or_default() += 1;
                }
            }
        }
    }
    let duplicates = seen.values().filter(|n| **n > 1).count();
    let by_scope = mock.rate_limited_by_scope();
    println!(
        "emulator: requests={} 429s={:?} statuses={:?} distinct_events_stored={} duplicated_events={duplicates} max_in_flight={}",
        mock.request_count(),
        by_scope,
        mock.status_counts(),
        seen.len(),
        mock.max_in_flight()
    );
    println!(
        "client: retries={} 429s user={} global={} shared={} cloudflare={} dropped_by_reason={:?}",
        stats.retries,
        stats.rate_limited_by_scope.user,
        stats.rate_limited_by_scope.global,
        stats.rate_limited_by_scope.shared,
        stats.rate_limited_by_scope.cloudflare,
        stats
            .per_class
            .iter()
            .map(|c| (c.class.name(), c.dropped.clone()))
            .collect::<Vec<_>>()
    );
    println!("{}", stats.summary_line());
    Ok(())
}
