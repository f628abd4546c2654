//! Checks every configured destination and prints one row per destination; exits non-zero
//! when any is unusable.
//!
//! ```text
//! cargo run --example check_channels            # read each channel or webhook
//! cargo run --example check_channels -- --post  # also post a short test message to each
//! ```
//!
//! Reads the same environment variables as the crate (`DISCORD_TOKEN`, channel ids or
//! webhooks per class); with none set it checks the built-in emulator's channels.

mod common;

use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let mut post_test = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--post" => post_test = true,
            _ => {
                eprintln!("usage: check_channels [--post]   (--post also posts a short test message to each destination)");
                return ExitCode::from(2);
            }
        }
    }
    let (builder, _emulator) = match common::builder(Duration::from_secs(120)) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("check_channels: {e}");
            return ExitCode::from(2);
        }
    };
    let (_layer, guard) = match builder.build() {
        Ok(built) => built,
        Err(e) => {
            eprintln!("check_channels: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(rows) = guard.check_channels_blocking(post_test, Duration::from_secs(30)) else {
        eprintln!("check_channels: no answer within 30 s");
        return ExitCode::FAILURE;
    };
    println!("{:<12} {:<28} status", "class", "destination");
    for row in &rows {
        println!("{row}");
    }
    if rows.iter().all(|r| r.status.is_ok()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
