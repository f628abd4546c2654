//! Density on real logs: a batch of each loghub excerpt takes exactly the messages below,
//! against the lower bound of rendered characters / 8000 (2000 of content + 6000 of embeds).
//! The target is at most 1.15 times the bound; `cargo run --release --example density --
//! FILES` prints the same table for any files.

use tracing_core::Level;
use tracing_discord::render::{block_lines, char_len, render_batch, BatchOptions, Message};
use tracing_discord::{Class, Record};

fn render(file: &str) -> (Vec<Message>, usize) {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    // Level names are padded to one width, so the level does not change a line's length.
    let records: Vec<Record> = text
        .lines()
        .map(|l| Record::new(Class::Log, Level::INFO, "replay", l))
        .collect();
    let options = BatchOptions {
        max_inline_messages: usize::MAX,
        ..BatchOptions::default()
    };
    let messages = render_batch(Class::Log, &records, &options).messages;
    assert_eq!(
        messages.iter().map(|m| m.events).sum::<usize>(),
        300,
        "{file}"
    );
    assert!(messages.iter().all(Message::is_valid), "{file}");
    let characters: usize = block_lines(&messages).iter().map(|l| char_len(l) + 1).sum();
    (messages, characters.div_ceil(8000))
}

#[test]
fn loghub_excerpts_pack_within_115_percent_of_the_lower_bound() {
    let expected = [
        ("Android_300.log", 7, 7),
        ("Apache_300.log", 4, 4),
        ("HDFS_300.log", 7, 7),
        ("Linux_300.log", 6, 6),
        ("OpenStack_300.log", 13, 13),
        ("Spark_300.log", 5, 5),
    ];
    for (file, messages, bound) in expected {
        let (out, lower) = render(file);
        assert_eq!((file, out.len(), lower), (file, messages, bound));
        assert!(out.len() as f64 <= 1.15 * lower as f64);
    }
}
