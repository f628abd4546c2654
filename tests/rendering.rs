//! What lands in the channel for the inputs of the rendering issue, through the real layer,
//! real HTTP and the emulator: no 400, nothing pings, nothing lost, nothing empty sent.

#![cfg(feature = "mock")]

mod common;

use std::time::{Duration, Instant};

use common::{wait_until, Setup};
use serde_json::json;
use tracing::{error, info};
use tracing_discord::render::escape::{unescape_code_block, unescape_markdown};
use tracing_discord::{Class, DropReason};
use tracing_subscriber::prelude::*;

const LONG: Duration = Duration::from_secs(120);

#[test]
fn a_5000_character_error_arrives_whole_and_the_next_error_is_still_prompt() {
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let text: String = (0..5000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let line = line!() + 1;
    tracing::dispatcher::with_default(&dispatch, || error!("{text}"));
    assert!(wait_until(Duration::from_secs(2), || guard
        .stats()
        .delivered
        == 1));
    let first = s.messages(Class::Log);
    assert_eq!(first.len(), 1);
    let joined: String = first[0]["embeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["description"].as_str().unwrap())
        .collect();
    // Split whole: the message, then the source location that a single embed has in its footer.
    assert_eq!(
        unescape_markdown(&joined),
        format!("{text}\ntests/rendering.rs:{line}")
    );
    assert_eq!(first[0]["embeds"][1]["title"], "ERROR rendering (2/2)");

    let emitted = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || error!("second"));
    assert!(wait_until(Duration::from_secs(1), || s
        .messages(Class::Log)
        .len()
        == 2));
    assert!(emitted.elapsed() < Duration::from_secs(1));
    let stats = guard.shutdown();
    assert_eq!(
        s.mock.status_counts().into_iter().collect::<Vec<_>>(),
        [(200, 2)]
    );
    assert_eq!((stats.delivered, stats.messages), (2, 2));
}

#[test]
fn blank_events_and_empty_flushes_send_nothing() {
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    guard.flush(Duration::from_secs(2)).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        info!("");
        info!("  \n\t  \n ");
    });
    guard.flush(Duration::from_secs(2)).unwrap();
    let stats = guard.shutdown();
    assert_eq!(s.mock.request_count(), 0);
    assert_eq!(stats.class(Class::Log).dropped_for(DropReason::Blank), 2);
    assert_eq!((stats.events, stats.delivered, stats.dropped), (2, 0, 2));
}

#[test]
fn mentions_in_logs_and_errors_ping_nobody() {
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        info!("user said @everyone <@&123> <@456> @here");
        error!("user said @everyone <@&123> <@456> @here");
    });
    guard.shutdown();
    let requests = s.mock.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.status, 200);
        assert_eq!(r.body["allowed_mentions"], json!({"parse": []}));
        assert!(r.allowed_mentions_parse.is_empty());
    }
    for m in s.messages(Class::Log) {
        assert_eq!(
            (
                m["mention_everyone"].clone(),
                m["mentions"].clone(),
                m["mention_roles"].clone()
            ),
            (json!(false), json!([]), json!([]))
        );
    }
}

#[test]
fn an_opted_in_role_is_the_only_ping() {
    let s = Setup::new();
    let (layer, guard) = s
        .builder(LONG)
        .error_mention_role(613_425_648_685_547_541)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        error!("disk full @everyone");
    });
    guard.shutdown();
    let m = &s.messages(Class::Log)[0];
    assert_eq!(m["content"], "<@&613425648685547541>");
    assert_eq!(m["mention_everyone"], false);
    assert_eq!(
        s.mock.requests()[0].body["allowed_mentions"],
        json!({"parse": [], "roles": ["613425648685547541"]})
    );
}

#[test]
fn hostile_text_is_accepted_and_recoverable() {
    let hostile = "a ```rust **b** ||c|| \n> q\r\n\tt \0 \u{202E}x";
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        info!("{hostile}");
        error!("{hostile}");
    });
    let stats = guard.shutdown();
    assert_eq!((stats.delivered, stats.dropped), (2, 0));
    assert_eq!(s.mock.status_counts().get(&400), None);
    let messages = s.messages(Class::Log);
    let embed = messages
        .iter()
        .find_map(|m| m["embeds"][0]["description"].as_str())
        .unwrap();
    assert_eq!(unescape_markdown(embed), hostile);
    let block = messages
        .iter()
        .find_map(|m| m["content"].as_str().filter(|c| c.starts_with("```")))
        .unwrap();
    let message = block
        .split_once(" rendering: ")
        .unwrap()
        .1
        .strip_suffix("\n```")
        .unwrap();
    assert_eq!(
        unescape_code_block(&message.replace("\n    ", "\n")),
        hostile
    );
}

#[test]
fn a_batch_beyond_the_rate_budget_arrives_as_an_attachment() {
    let s = Setup::new();
    let (layer, guard) = s.builder(LONG).max_inline_messages(2).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..500 {
            info!("line {i:03} {}", "w".repeat(60));
        }
    });
    let stats = guard.shutdown();
    assert_eq!(
        (stats.delivered, stats.messages, stats.requests),
        (500, 1, 1)
    );
    let m = &s.messages(Class::Log)[0];
    assert!(m["content"]
        .as_str()
        .unwrap()
        .starts_with("**log** · 500 events from "));
    let file = m["_attachment_texts"][0].as_str().unwrap();
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(lines.len(), 500);
    assert!(
        lines[42].ends_with(&format!("INFO  rendering: line 042 {}", "w".repeat(60))),
        "{}",
        lines[42]
    );
    assert_eq!(s.mock.requests()[0].files.len(), 1);
}

#[test]
fn batches_can_notify() {
    let s = Setup::new();
    let (layer, guard) = s
        .builder(LONG)
        .suppress_notifications(false)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || info!("ring"));
    guard.shutdown();
    assert_eq!(s.messages(Class::Log)[0]["flags"], 0);
}

#[test]
fn without_embed_links_nothing_is_lost() {
    use tracing_discord::mock::permissions::{ALL, EMBED_LINKS};
    let s = Setup::new();
    s.mock
        .set_channel_permissions(s.channel(Class::Log), ALL & !EMBED_LINKS);
    let (layer, guard) = s.builder(LONG).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        // 60 lines of about 120 characters: content, then embeds in the first message.
        for i in 0..60 {
            info!("line {i:02} {}", "e".repeat(100));
        }
        error!(code = 7, "an error, also without embeds");
    });
    let stats = guard.shutdown();
    assert_eq!((stats.events, stats.delivered, stats.dropped), (61, 61, 0));
    let lines = s.lines(Class::Log);
    for i in 0..60 {
        let wanted = format!("INFO  rendering: line {i:02} {}", "e".repeat(100));
        assert_eq!(
            lines.iter().filter(|l| **l == wanted).count(),
            1,
            "line {i}"
        );
    }
    let texts: Vec<String> = s
        .messages(Class::Log)
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t
                .starts_with("**ERROR rendering**\nan error, also without embeds\n**code**: 7")),
        "{texts:?}"
    );
}

#[test]
fn without_attach_files_big_batches_go_inline() {
    use tracing_discord::mock::permissions::{ALL, ATTACH_FILES};
    let s = Setup::new();
    s.mock
        .set_channel_permissions(s.channel(Class::Log), ALL & !ATTACH_FILES);
    let (layer, guard) = s.builder(LONG).max_inline_messages(1).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..200 {
            info!("line {i:03} {}", "a".repeat(80));
        }
    });
    let stats = guard.shutdown();
    assert_eq!(
        (stats.events, stats.delivered, stats.dropped),
        (200, 200, 0)
    );
    let lines = s.lines(Class::Log);
    assert_eq!(lines.len(), 200);
    assert!(
        lines[5].ends_with(&format!("INFO  rendering: line 005 {}", "a".repeat(80))),
        "{}",
        lines[5]
    );
}

#[test]
fn at_shutdown_nothing_is_held_back_for_errors() {
    let s = Setup::new();
    let (layer, guard) = s
        .builder(LONG)
        .shutdown_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..4 {
            error!(i, "error");
            std::thread::sleep(Duration::from_millis(100));
        }
        info!("last");
    });
    let stats = guard.shutdown();
    assert_eq!((stats.events, stats.delivered, stats.dropped), (5, 5, 0));
}

#[test]
fn a_pinging_error_without_embed_links_arrives_whole() {
    use tracing_discord::mock::permissions::{ALL, EMBED_LINKS};
    let s = Setup::new();
    s.mock
        .set_channel_permissions(s.channel(Class::Log), ALL & !EMBED_LINKS);
    let (layer, guard) = s
        .builder(LONG)
        .error_mention_role(1_111_111_111_111_111_111)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || error!("first"));
    assert!(wait_until(Duration::from_secs(3), || guard
        .stats()
        .delivered
        == 1));
    tracing::dispatcher::with_default(&dispatch, || error!("{}", "x".repeat(3000)));
    let stats = guard.shutdown();
    assert_eq!((stats.delivered, stats.dropped), (2, 0));
    let texts: Vec<String> = s
        .messages(Class::Log)
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    let xs: usize = texts.iter().map(|t| t.matches('x').count()).sum();
    assert_eq!(xs, 3000);
    assert!(
        texts
            .iter()
            .filter(|t| t.starts_with("<@&1111111111111111111>"))
            .count()
            >= 2,
        "{texts:?}"
    );
}
