//! Properties of the renderer over arbitrary input: every payload is within Discord's limits
//! and valid against Discord's own request schema, and every event's text can be found in
//! the payloads after undoing the documented escaping.

use std::sync::LazyLock;

use proptest::prelude::*;
use serde_json::Value;
use tracing_core::Level;
use tracing_discord::render::escape::{unescape_code_block, unescape_markdown};
use tracing_discord::render::{
    block_lines, log_text, render_batch, render_errors, render_jsonl, render_rollup,
    render_timings, BatchOptions, ErrorOptions, Message, ReportOptions, CONTINUED, CONTINUES,
};
use tracing_discord::report::{Rollup, SpanTimings, TimingRow};
use tracing_discord::{Class, Record};

/// Discord's request schemas (tests/data/SOURCE), with `content` capped at the 2000 that
/// bots get instead of the spec's Nitro 4000.
fn validator(schema: &str) -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/discord-message-schemas.json"
    );
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for name in ["MessageCreateRequest", "IncomingWebhookRequestPartial"] {
        doc["components"]["schemas"][name]["properties"]["content"]["maxLength"] =
            Value::from(2000);
    }
    doc["$ref"] = Value::from(format!("#/components/schemas/{schema}"));
    jsonschema::validator_for(&doc).unwrap()
}

static CREATE_MESSAGE: LazyLock<jsonschema::Validator> =
    LazyLock::new(|| validator("MessageCreateRequest"));
static EXECUTE_WEBHOOK: LazyLock<jsonschema::Validator> =
    LazyLock::new(|| validator("IncomingWebhookRequestPartial"));

fn assert_schema_valid(validators: &[&jsonschema::Validator], messages: &[Message]) {
    for m in messages {
        let json = m.to_json();
        for v in validators {
            let errors: Vec<String> = v.iter_errors(&json).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{errors:?}\n{json}");
        }
        // The 6000-character embed total is not in the schema.
        assert!(m.embed_text_len() <= 6000);
    }
}

/// Text of all code-block lines with split pieces rejoined.
fn joined_lines(messages: &[Message]) -> String {
    let mut out = String::new();
    for line in block_lines(messages) {
        let line = line.strip_prefix(CONTINUED).unwrap_or(&line).to_owned();
        match line.strip_suffix(CONTINUES) {
            Some(head) => out.push_str(head),
            None => {
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    out
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => "[a-z `*_|>@#<&\n\r\t\u{0}\u{202e}é日🎉]{0,300}",
        1 => "[a-z ]{1990,2300}",
    ]
}

fn record(class: Class, level: Level, max_fields: usize) -> impl Strategy<Value = Record> {
    (
        text(),
        prop::collection::vec(("[a-z_]{1,12}", text()), 0..max_fields),
    )
        .prop_map(move |(message, fields)| {
            let mut r = Record::new(class, level, "prop", message);
            // Field names are `&'static str` in tracing; leak the few this test makes.
            for (k, v) in fields {
                r.push_field(Box::leak(k.into_boxed_str()), v);
            }
            r
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn batches_are_valid_and_keep_every_text(records in prop::collection::vec(record(Class::Log, Level::INFO, 10), 1..20)) {
        let rendered = render_batch(Class::Log, &records, &BatchOptions::default());
        assert_schema_valid(&[&CREATE_MESSAGE, &EXECUTE_WEBHOOK], &rendered.messages);
        prop_assert!(rendered.messages.iter().all(Message::is_valid));
        let shown = records.iter().filter(|r| !r.message().trim().is_empty() || r.has_fields()).count();
        prop_assert_eq!(rendered.blank, records.len() - shown);
        prop_assert_eq!(rendered.messages.iter().map(|m| m.events).sum::<usize>(), shown);
        let all = joined_lines(&rendered.messages);
        for r in &records {
            let expected = log_text(r.message());
            prop_assert!(all.contains(&expected), "message {:?} missing", expected);
            for (k, v) in r.fields() {
                let expected = format!("{k}={}", log_text(v));
                prop_assert!(all.contains(&expected), "field {:?} missing", expected);
            }
        }
    }

    #[test]
    fn analytics_tables_are_valid(records in prop::collection::vec(record(Class::Analytics, Level::INFO, 10), 1..20)) {
        let rendered = render_batch(Class::Analytics, &records, &BatchOptions::default());
        prop_assert!(rendered.messages.iter().all(Message::is_valid));
        assert_schema_valid(&[&CREATE_MESSAGE], &rendered.messages);
        let shown = records.iter().filter(|r| !r.message().trim().is_empty() || r.has_fields()).count();
        prop_assert_eq!(rendered.messages.iter().map(|m| m.events).sum::<usize>(), shown);
        // Table cells show newlines as `␊`; a table too wide to read is plain lines, where a
        // newline is followed by the continuation indent.
        let joined = joined_lines(&rendered.messages);
        let as_table = unescape_code_block(&joined.replace('\u{240A}', "\n"));
        let as_lines = unescape_code_block(&joined.replace("\n    ", "\n"));
        for r in records.iter().filter(|r| r.has_fields()) {
            // A row's trailing whitespace is trimmed (it is invisible anyway).
            for (_, v) in r.fields() {
                let v = v.trim_end();
                prop_assert!(as_table.contains(v) || as_lines.contains(v), "field value {:?} missing", v);
            }
        }
    }

    #[test]
    fn an_error_is_valid_and_whole(r in record(Class::Log, Level::ERROR, 32)) {
        let rendered = render_errors(Class::Log, std::slice::from_ref(&r), &ErrorOptions::default());
        prop_assert!(rendered.messages.iter().all(Message::is_valid));
        assert_schema_valid(&[&CREATE_MESSAGE], &rendered.messages);
        prop_assert_eq!(rendered.messages.iter().map(|m| m.events).sum::<usize>(), 1);
        let mut text = String::new();
        for e in rendered.messages.iter().flat_map(|m| &m.embeds) {
            text.push_str(e.description.as_deref().unwrap_or(""));
            for (k, v, _) in &e.fields {
                text.push_str(&format!("\n{k} {v}"));
            }
        }
        let text = unescape_markdown(&text);
        if !r.message().trim().is_empty() {
            prop_assert!(text.contains(r.message().trim()), "message missing");
        }
        for (_, v) in r.fields().filter(|(_, v)| !v.trim().is_empty()) {
            prop_assert!(text.contains(v.trim()), "field value {:?} missing", v);
        }
    }

    #[test]
    fn performance_reports_are_valid_and_name_every_span(names in prop::collection::vec(text(), 1..120), counts_events in any::<bool>()) {
        let rows: Vec<TimingRow> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let us = |n: u64| std::time::Duration::from_micros(n);
                let i = i as u64;
                TimingRow {
                    name: name.clone(),
                    count: i + 1,
                    p50: us(i * 7),
                    p95: us(i * 70_000),
                    p99: us(i * 7_000_000),
                    max: us(i * 70_000_000),
                    total: us(i * 90_000_000),
                    busy: us(i * 10_000_000),
                    errors: i % 3,
                }
            })
            .collect();
        let options = ReportOptions { counts_events, ..ReportOptions::default() };
        let t = std::time::SystemTime::UNIX_EPOCH;
        let messages = render_timings(&rows, t, t, &options);
        prop_assert!(messages.iter().all(Message::is_valid));
        assert_schema_valid(&[&CREATE_MESSAGE, &EXECUTE_WEBHOOK], &messages);
        let closes: u64 = rows.iter().map(|r| r.count).sum();
        let events = if counts_events { closes as usize } else { 0 };
        prop_assert_eq!(messages.iter().map(|m| m.events).sum::<usize>(), events);
        let shown = unescape_code_block(&joined_lines(&messages).replace('\u{240A}', "\n"));
        for name in &names {
            prop_assert!(shown.contains(name.trim_end()), "span name {:?} missing", name);
        }
    }

    #[test]
    fn rollups_are_valid(records in prop::collection::vec(record(Class::Analytics, Level::INFO, 4), 1..40), counts_events in any::<bool>()) {
        let fields: Vec<String> = records
            .iter()
            .flat_map(|r| r.fields().map(|(k, _)| k.to_owned()))
            .take(5)
            .collect();
        let mut rollup = Rollup::new(fields.clone(), fields, 10);
        records.iter().for_each(|r| rollup.add(r));
        let summary = rollup.take_summary();
        let options = ReportOptions { counts_events, ..ReportOptions::default() };
        let messages = render_rollup(&summary, &options);
        prop_assert!(messages.iter().all(Message::is_valid));
        assert_schema_valid(&[&CREATE_MESSAGE, &EXECUTE_WEBHOOK], &messages);
        let events = if counts_events { records.len() } else { 0 };
        prop_assert_eq!(messages.iter().map(|m| m.events).sum::<usize>(), events);
    }

    #[test]
    fn json_lines_hold_every_event_exactly(records in prop::collection::vec(record(Class::Analytics, Level::INFO, 6), 1..30)) {
        let messages = render_jsonl(&records, &ReportOptions::default());
        prop_assert!(messages.iter().all(Message::is_valid));
        assert_schema_valid(&[&CREATE_MESSAGE, &EXECUTE_WEBHOOK], &messages);
        prop_assert_eq!(messages.iter().map(|m| m.events).sum::<usize>(), 0);
        let text: String = messages.iter().flat_map(|m| &m.attachments).map(|a| a.text.as_str()).collect();
        let lines: Vec<&str> = text.lines().collect();
        prop_assert_eq!(lines.len(), records.len());
        for (line, r) in lines.iter().zip(&records) {
            let v: Value = serde_json::from_str(line).unwrap();
            prop_assert_eq!(v["message"].as_str(), Some(r.message()));
            for (k, _) in r.fields() {
                prop_assert_eq!(v["fields"][k].as_str(), r.field(k));
            }
        }
    }
}

#[test]
fn a_report_of_many_long_span_names_keeps_every_limit() {
    let mut timings = SpanTimings::with_max_names(1000);
    let names: Vec<String> = (0..600)
        .map(|i| match i % 3 {
            0 => format!("span_{i}"),
            1 => format!("{i}_{}", "long_name_".repeat(30)),
            _ => format!("{i}_{}", "日本🎉`*_".repeat(700)),
        })
        .collect();
    for (i, name) in names.iter().enumerate() {
        for n in 0..=(i as u64 % 5) {
            let d = std::time::Duration::from_micros(n * 997 + i as u64);
            timings.record(name, d, d / 2, n == 4);
        }
    }
    let closes = timings.closes();
    let t = std::time::SystemTime::UNIX_EPOCH;
    let messages = timings.take_report(t, t, &ReportOptions::default());
    assert!(messages.len() > 1, "600 names take several messages");
    assert!(messages.iter().all(Message::is_valid));
    assert_schema_valid(&[&CREATE_MESSAGE, &EXECUTE_WEBHOOK], &messages);
    assert_eq!(
        messages.iter().map(|m| m.events as u64).sum::<u64>(),
        closes
    );
    let shown = unescape_code_block(&joined_lines(&messages));
    for name in &names {
        assert!(shown.contains(name.as_str()), "{name} missing");
    }
    // Without embeds (no Embed Links) it is content only, still within the limits.
    let mut timings = SpanTimings::with_max_names(1000);
    for name in &names {
        timings.record(name, Default::default(), Default::default(), false);
    }
    let plain = ReportOptions {
        use_embeds: false,
        label: Some("shard-1".into()),
        ..ReportOptions::default()
    };
    let messages = timings.take_report(t, t, &plain);
    assert!(messages
        .iter()
        .all(|m| m.is_valid() && m.embeds.is_empty() && m.content.starts_with("-# shard-1\n")));
}
