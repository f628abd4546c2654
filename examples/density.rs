//! How densely the renderer packs real logs: for each file, the messages a batch of all its
//! lines takes, against the lower bound (rendered characters divided by the 8000 characters
//! a message can carry: 2000 of content and 6000 of embeds).
//!
//! ```text
//! cargo run --release --example density -- ../shared/data/loghub/*.log
//! ```
//!
//! Every line goes through the batch renderer (as if none were an ERROR) and inline
//! packing (no attachment), which is what the measure is about.

mod common;

use std::time::SystemTime;

use tracing_discord::render::{block_lines, char_len, render_batch, BatchOptions};
use tracing_discord::{Class, Record};

/// Content plus the embed total (Discord's limits).
const PER_MESSAGE: usize = 2000 + 6000;

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: density FILE...");
        std::process::exit(2);
    }
    println!(
        "{:<22} {:>6} {:>10} {:>9} {:>12} {:>6}",
        "file", "lines", "characters", "messages", "lower bound", "ratio"
    );
    let (mut all_messages, mut all_bound) = (0, 0);
    for f in &files {
        let text = match std::fs::read(f) {
            Ok(t) => String::from_utf8_lossy(&t).into_owned(),
            Err(e) => {
                eprintln!("{f}: {e}");
                std::process::exit(2);
            }
        };
        let records: Vec<Record> = text
            .lines()
            .map(|l| {
                let mut r = Record::new(Class::Log, common::level_of(l), "replay", l);
                r.time = SystemTime::now();
                r
            })
            .collect();
        let options = BatchOptions {
            max_inline_messages: usize::MAX,
            ..BatchOptions::default()
        };
        let messages = render_batch(Class::Log, &records, &options).messages;
        let characters: usize = block_lines(&messages).iter().map(|l| char_len(l) + 1).sum();
        let bound = characters.div_ceil(PER_MESSAGE);
        all_messages += messages.len();
        all_bound += bound;
        let name = std::path::Path::new(f)
            .file_name()
            .map_or(f.clone(), |n| n.to_string_lossy().into_owned());
        println!(
            "{name:<22} {:>6} {characters:>10} {:>9} {bound:>12} {:>6.3}",
            records.len(),
            messages.len(),
            messages.len() as f64 / bound.max(1) as f64
        );
    }
    println!(
        "{:<22} {:>6} {:>10} {all_messages:>9} {all_bound:>12} {:>6.3}",
        "all",
        "",
        "",
        all_messages as f64 / all_bound.max(1) as f64
    );
}
