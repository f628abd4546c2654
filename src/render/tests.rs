//! The renderer's exact outputs, and its limits on hostile input.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;
use tracing_core::Level;

use super::escape::{unescape_code_block, unescape_markdown};
use super::*;

const G: &str = "\u{1b}[32m";
const Y: &str = "\u{1b}[33m";
const R0: &str = "\u{1b}[0m";
const B: &str = "\u{1b}[1m";

fn rec(level: Level, msg: &str) -> Record {
    let mut r = Record::new(Class::Log, level, "bot", msg);
    r.time = UNIX_EPOCH + Duration::from_secs(1_764_763_200 + 3_723);
    r
}

fn opts() -> BatchOptions {
    BatchOptions::default()
}

fn batch(records: &[Record]) -> Vec<Message> {
    render_batch(Class::Log, records, &opts()).messages
}

#[test]
fn one_event_is_one_compact_coloured_line() {
    let mut r = rec(Level::INFO, "command used");
    r.push_field("command", "ping");
    r.spans.push("shard{id=3}".into());
    let out = batch(&[r]);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].content,
        format!(
            "```ansi\n13:02:03 {G}INFO {R0} bot: shard{{id=3}}: command used command=ping\n```"
        )
    );
    assert_eq!(
        (out[0].events, out[0].flags),
        (1, FLAG_SUPPRESS_NOTIFICATIONS)
    );
    assert_eq!(
        out[0].to_json(),
        json!({"content": out[0].content, "allowed_mentions": {"parse": []}, "flags": 4096})
    );
}

#[test]
fn nothing_to_say_is_no_message() {
    assert_eq!(render_batch(Class::Log, &[], &opts()), Rendered::default());
    assert!(render_errors(Class::Log, &[], &ErrorOptions::default())
        .messages
        .is_empty());
    let blank = [rec(Level::INFO, ""), rec(Level::WARN, "  \n\t \n")];
    assert_eq!(
        render_batch(Class::Log, &blank, &opts()),
        Rendered {
            messages: vec![],
            blank: 2
        }
    );
}

#[test]
fn many_lines_fill_content_then_embeds_within_limits() {
    let records: Vec<Record> = (0..500)
        .map(|i| {
            rec(
                Level::INFO,
                &format!("event number {i:04} {}", "x".repeat(80)),
            )
        })
        .collect();
    let out = batch(&records);
    assert!(out.iter().all(Message::is_valid));
    assert_eq!(out.iter().map(|m| m.events).sum::<usize>(), 500);
    let lines = block_lines(&out);
    assert_eq!(lines.len(), 500);
    for (i, l) in lines.iter().enumerate() {
        assert!(
            l.contains(&format!("event number {i:04} ")),
            "line {i}: {l}"
        );
    }
    // Each line is 127 characters (9 of them colour codes). A message holds 15 lines in
    // content (1988), 32 in a first embed (4084) and 14 in a second (the 1904 left of
    // 6000 less its fence): 61 lines, so 500 lines need 9 messages; the lower bound,
    // 500 * 128 / 8000 characters, is 8.
    assert_eq!(char_len(&lines[0]), 127);
    assert_eq!((out[0].events, out[0].embeds.len()), (61, 2));
    assert_eq!(out.len(), 9);
}

#[test]
fn a_long_line_is_split_at_characters_and_joins_back() {
    let text = format!("{}ý{}", "a".repeat(1999), "b".repeat(100));
    let out = batch(&[rec(Level::WARN, &text)]);
    assert!(out.iter().all(Message::is_valid));
    let lines = block_lines(&out);
    assert_eq!(lines.len(), 2);
    let joined = format!(
        "{}{}",
        lines[0].strip_suffix(CONTINUES).unwrap(),
        lines[1].strip_prefix(CONTINUED).unwrap()
    );
    assert_eq!(joined, format!("13:02:03 {Y}WARN {R0} bot: {text}"));
    assert_eq!(out.iter().map(|m| m.events).sum::<usize>(), 1);
}

#[test]
fn identical_events_collapse_with_count_and_last_time() {
    let mut records: Vec<Record> = (0..37)
        .map(|i| {
            let mut r = rec(Level::WARN, "slow command");
            r.time += Duration::from_secs(i * 3);
            r
        })
        .collect();
    records.insert(1, rec(Level::INFO, "other"));
    let out = batch(&records);
    assert_eq!(
        block_lines(&out),
        [
            format!("13:02:03 {Y}WARN {R0} bot: slow command (×37, last 13:03:51)"),
            format!("13:02:03 {G}INFO {R0} bot: other"),
        ]
    );
    assert_eq!(out[0].events, 38);
}

#[test]
fn analytics_read_as_a_table() {
    let mut records = Vec::new();
    for (i, (cmd, user)) in [("ping", 42u64), ("play", 1_234_567), ("ping", 7)]
        .into_iter()
        .enumerate()
    {
        let mut r = rec(Level::INFO, "command used");
        r.class = Class::Analytics;
        r.target = "analytics";
        r.time += Duration::from_secs(i as u64);
        r.push_field("command", cmd);
        r.push_field("user_id", user);
        records.push(r);
    }
    let mut join = rec(Level::INFO, "guild joined");
    join.target = "analytics";
    join.push_field("members", 12);
    records.push(join);
    let out = render_batch(Class::Analytics, &records, &opts()).messages;
    assert_eq!(
        block_lines(&out),
        [
            format!("{B}command used{R0} · analytics · 3 events"),
            "time      command  user_id".to_owned(),
            "13:02:03  ping     42".to_owned(),
            "13:02:04  play     1234567".to_owned(),
            "13:02:05  ping     7".to_owned(),
            format!("{B}guild joined{R0} · analytics · 1 event"),
            "time      members".to_owned(),
            "13:02:03  12".to_owned(),
        ]
    );
    assert_eq!(out[0].events, 4);
}

#[test]
fn a_table_split_over_blocks_repeats_its_header() {
    let records: Vec<Record> = (0..300)
        .map(|i| {
            let mut r = rec(Level::INFO, "command used");
            r.target = "analytics";
            r.push_field("n", format_args!("{i:03}"));
            r.push_field("pad", "y".repeat(30));
            r
        })
        .collect();
    let out = render_batch(Class::Analytics, &records, &opts()).messages;
    assert!(out.iter().all(Message::is_valid));
    let blocks: Vec<&str> = out
        .iter()
        .flat_map(|m| {
            std::iter::once(m.content.as_str())
                .chain(m.embeds.iter().filter_map(|e| e.description.as_deref()))
        })
        .collect();
    assert!(blocks.len() > 2);
    for b in &blocks {
        assert!(
            b.starts_with(&format!(
                "```ansi\n{B}command used{R0} · analytics · 300 events\ntime      n    pad"
            )),
            "{b}"
        );
    }
    assert_eq!(out.iter().map(|m| m.events).sum::<usize>(), 300);
}

#[test]
fn hostile_text_stays_in_its_block_and_recovers() {
    let hostile = "a ```rust **b** ||c|| \n> q\r\n\tt \0 \u{202E}x @everyone <@&123> <@456> @here";
    let out = batch(&[rec(Level::INFO, hostile)]);
    let body = out[0]
        .content
        .strip_prefix("```ansi\n")
        .unwrap()
        .strip_suffix("\n```")
        .unwrap();
    assert!(!body.contains("``"));
    let message = body.split_once(" bot: ").unwrap().1;
    let recovered =
        unescape_code_block(&message.replace(&format!("\n{CONTINUATION_INDENT}"), "\n"));
    assert_eq!(recovered, hostile);
}

#[test]
fn drops_are_announced_first() {
    let o = BatchOptions {
        dropped_since_last: Some((96, "queue full".into())),
        suppress_notifications: false,
        ..opts()
    };
    let out = render_batch(Class::Log, &[rec(Level::INFO, "x")], &o).messages;
    assert_eq!(
        out[0].content,
        format!("```ansi\n\u{1b}[1;33m96 events dropped since the last message (queue full){R0}\n13:02:03 {G}INFO {R0} bot: x\n```")
    );
    assert_eq!((out[0].events, out[0].flags), (1, 0));
}

#[test]
fn a_batch_over_the_rate_budget_becomes_an_attachment() {
    let records: Vec<Record> = (0..2000)
        .map(|i| rec(Level::INFO, &format!("line {i} {}", "z".repeat(100))))
        .collect();
    let o = BatchOptions {
        max_inline_messages: 5,
        ..opts()
    };
    let out = render_batch(Class::Log, &records, &o).messages;
    assert_eq!(out.len(), 1);
    let m = &out[0];
    assert!(m.is_valid());
    assert_eq!(m.content, "**log** · 2000 events from 13:02:03 to 13:02:03 UTC · more than the channel's rate limit lets through in time, so the full text is attached");
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].filename, "log-20251203-130203.txt");
    let lines: Vec<&str> = m.attachments[0].text.lines().collect();
    assert_eq!(lines.len(), 2000);
    assert_eq!(
        lines[7],
        format!(
            "2025-12-03 13:02:03.000 INFO  bot: line 7 {}",
            "z".repeat(100)
        )
    );
    assert_eq!(m.events, 2000);
    assert_eq!(
        m.to_json()["attachments"],
        json!([{"id": "0", "filename": "log-20251203-130203.txt"}])
    );
}

#[test]
fn an_error_is_a_red_embed_with_fields_spans_and_location() {
    let mut r = rec(Level::ERROR, "database unreachable");
    r.push_field("attempt", 3);
    r.spans.push("request{id=7}".into());
    r.file = Some("src/db.rs");
    r.line = Some(42);
    let out = render_errors(Class::Log, &[r], &ErrorOptions::default()).messages;
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].to_json(),
        json!({
            "embeds": [{
                "type": "rich",
                "title": "ERROR bot",
                "description": "database unreachable\n-# in request{id=7}",
                "color": ERROR_COLOR,
                "fields": [{"name": "attempt", "value": "3", "inline": true}],
                "footer": {"text": "src/db.rs:42"},
                "timestamp": "2025-12-03T13:02:03.000Z"
            }],
            "allowed_mentions": {"parse": []}
        })
    );
}

#[test]
fn an_error_may_ping_one_opted_in_role_and_nothing_else() {
    let records = [rec(
        Level::ERROR,
        "user said @everyone <@&123> <@456> @here",
    )];
    let o = ErrorOptions {
        mention_role: Some(999),
        ..ErrorOptions::default()
    };
    let out = render_errors(Class::Log, &records, &o).messages;
    let json = out[0].to_json();
    assert_eq!(json["content"], "<@&999>");
    assert_eq!(
        json["allowed_mentions"],
        json!({"parse": [], "roles": ["999"]})
    );
    assert_eq!(
        json["embeds"][0]["description"],
        "user said @\u{200B}everyone \\<@&123> \\<@456> @\u{200B}here"
    );
}

#[test]
fn more_than_25_fields_fold_into_the_description() {
    let mut r = rec(Level::ERROR, "many");
    for i in 0..30 {
        r.push_field("f", format_args!("v{i}"));
    }
    let out = render_errors(Class::Log, &[r], &ErrorOptions::default()).messages;
    let e = &out[0].embeds[0];
    assert_eq!(e.fields.len(), 25);
    let d = e.description.as_deref().unwrap();
    assert!(
        d.ends_with("**f** = v25\n**f** = v26\n**f** = v27\n**f** = v28\n**f** = v29"),
        "{d}"
    );
    assert!(out[0].is_valid());
}

#[test]
fn a_5000_character_error_is_split_whole() {
    let text: String = (0..5000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let out = render_errors(
        Class::Log,
        &[rec(Level::ERROR, &text)],
        &ErrorOptions::default(),
    )
    .messages;
    assert!(out.iter().all(Message::is_valid));
    // 3900 + 1100 characters and two titles: two embeds in one message.
    assert_eq!((out.len(), out[0].embeds.len()), (1, 2));
    let joined: String = out
        .iter()
        .flat_map(|m| &m.embeds)
        .filter_map(|e| e.description.clone())
        .collect();
    assert_eq!(unescape_markdown(&joined), text);
    assert_eq!(out[0].embeds[0].title.as_deref(), Some("ERROR bot (1/2)"));
    assert_eq!(out.iter().map(|m| m.events).sum::<usize>(), 1);
}

/// Found by `an_error_is_valid_and_whole`: a description whose trimmed text fits but whose
/// trailing spaces take it past 4096 as sent broke Discord's published schema; a field value
/// could do the same past 1024.
#[test]
fn trailing_spaces_count_in_an_errors_limits() {
    let spaced = |n: usize, c: &str| format!("{}{}", c.repeat(n - 4), " ".repeat(8));
    let long_message = rec(Level::ERROR, &spaced(DESCRIPTION_MAX, "m"));
    let out = render_errors(Class::Log, &[long_message], &ErrorOptions::default()).messages;
    let descriptions: Vec<usize> = out
        .iter()
        .flat_map(|m| &m.embeds)
        .map(|e| e.description.as_deref().map_or(0, char_len))
        .collect();
    // Split whole: 3,900 characters, then the rest and the footer.
    assert_eq!(descriptions[0], 3900);
    assert_eq!(descriptions.len(), 2);

    let long_value = rec(Level::ERROR, "m").with_field("k", spaced(FIELD_VALUE_MAX, "v"));
    let out = render_errors(Class::Log, &[long_value], &ErrorOptions::default()).messages;
    let embed = &out[0].embeds[0];
    // Too long for a field as sent: folded into the description.
    assert!(embed.fields.is_empty());
    assert_eq!(
        embed.description.as_deref().map(char_len),
        Some("m".len() + "\n**k** = ".len() + FIELD_VALUE_MAX + 4)
    );
}

#[test]
fn ten_700_character_errors_stay_under_6000_per_message() {
    let records: Vec<Record> = (0..10)
        .map(|_| rec(Level::ERROR, &"e".repeat(700)))
        .collect();
    let out = render_errors(Class::Log, &records, &ErrorOptions::default()).messages;
    assert_eq!(out.len(), 2);
    assert!(out
        .iter()
        .all(|m| m.is_valid() && m.embed_text_len() <= EMBED_TOTAL_MAX));
    assert_eq!(out.iter().map(|m| m.events).sum::<usize>(), 10);
}

#[test]
fn an_error_flood_becomes_one_attachment() {
    let records: Vec<Record> = (0..500)
        .map(|i| rec(Level::ERROR, &format!("failure {i}")))
        .collect();
    let o = ErrorOptions {
        mention_role: Some(5),
        max_inline_messages: 5,
        ..ErrorOptions::default()
    };
    let out = render_errors(Class::Log, &records, &o).messages;
    assert_eq!(out.len(), 1);
    assert!(out[0].is_valid());
    assert_eq!(
        out[0].content,
        "<@&5> **log** · 500 events from 13:02:03 to 13:02:03 UTC · 500 ERROR, 0 WARN · more than the channel's rate limit lets through in time, so the full text is attached"
    );
    assert_eq!(out[0].attachments[0].text.lines().count(), 500);
    assert_eq!((out[0].events, out[0].flags), (500, 0));
    assert_eq!(
        out[0].to_json()["allowed_mentions"],
        json!({"parse": [], "roles": ["5"]})
    );
}

#[test]
fn a_refused_batch_halves_into_whole_lines_with_their_events() {
    let records: Vec<Record> = (0..11)
        .map(|i| rec(Level::INFO, &format!("event {i}")))
        .collect();
    let out = batch(&records);
    assert_eq!(out.len(), 1);
    let (a, b) = halve(&out[0]).unwrap();
    assert_eq!((a.events, b.events), (5, 6));
    let mut lines = block_lines(std::slice::from_ref(&a));
    lines.extend(block_lines(&[b]));
    assert_eq!(lines, block_lines(&out));
    let (c, d) = halve(&a).unwrap();
    assert_eq!((c.events, d.events), (2, 3));
    let single = batch(&records[..1]);
    assert_eq!(halve(&single[0]), None);
}

#[test]
fn refused_errors_halve_by_embed() {
    let records: Vec<Record> = (0..3)
        .map(|i| rec(Level::ERROR, &format!("e{i}")))
        .collect();
    let out = render_errors(Class::Log, &records, &ErrorOptions::default()).messages;
    let (a, b) = halve(&out[0]).unwrap();
    assert_eq!(
        (a.embeds.len(), a.events, b.embeds.len(), b.events),
        (1, 1, 2, 2)
    );
}

#[test]
fn field_names_cannot_close_the_block_either() {
    let mut r = rec(Level::INFO, "msg");
    r.push_field("a```\n@everyone **b**", 1);
    let out = batch(&[r.clone()]);
    let body = out[0]
        .content
        .strip_prefix("```ansi\n")
        .unwrap()
        .strip_suffix("\n```")
        .unwrap();
    assert!(!body.contains("``"), "{body}");
    r.class = Class::Analytics;
    let out = render_batch(Class::Analytics, &[r], &opts()).messages;
    let body = out[0]
        .content
        .strip_prefix("```ansi\n")
        .unwrap()
        .strip_suffix("\n```")
        .unwrap();
    assert!(!body.contains("``"), "{body}");
}

#[test]
fn a_table_too_wide_to_read_becomes_plain_lines() {
    let records: Vec<Record> = (0..3)
        .map(|i| {
            let mut r = rec(Level::INFO, "wide");
            r.class = Class::Analytics;
            for _ in 0..30 {
                r.push_field(
                    "field_name_that_is_long",
                    format_args!("{i}-{}", "v".repeat(33)),
                );
            }
            r
        })
        .collect();
    let out = render_batch(Class::Analytics, &records, &opts()).messages;
    assert!(out.iter().all(Message::is_valid));
    let lines = block_lines(&out);
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0].starts_with(&format!(
            "13:02:03 {G}INFO {R0} bot: wide field_name_that_is_long=0-vvv"
        )),
        "{}",
        lines[0]
    );
}

#[test]
fn split_error_titles_keep_their_part_numbers() {
    let mut r = rec(Level::ERROR, &"x".repeat(5000));
    r.target = "a_very_long_target_name_that_goes_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on_and_on";
    let out = render_errors(Class::Log, &[r], &ErrorOptions::default()).messages;
    let titles: Vec<&str> = out
        .iter()
        .flat_map(|m| &m.embeds)
        .filter_map(|e| e.title.as_deref())
        .collect();
    assert!(
        titles[0].ends_with("… (1/2)") && titles[1].ends_with("… (2/2)"),
        "{titles:?}"
    );
    assert!(titles.iter().all(|t| char_len(t) <= TITLE_MAX));
}

#[test]
fn without_embeds_leaves_room_for_the_role_mention() {
    let out = render_errors(
        Class::Log,
        &[rec(Level::ERROR, &"x".repeat(3000))],
        &ErrorOptions {
            mention_role: Some(1_111_111_111_111_111_111),
            ..ErrorOptions::default()
        },
    )
    .messages;
    let plain: Vec<Message> = out.iter().flat_map(without_embeds).collect();
    assert!(plain.iter().all(Message::is_valid));
    assert!(plain[0]
        .content
        .starts_with("<@&1111111111111111111> **ERROR bot"));
    let xs: usize = plain.iter().map(|m| m.content.matches('x').count()).sum();
    assert_eq!(xs, 3000);
}
