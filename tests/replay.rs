//! The replay example delivers every line of real logs (a loghub excerpt in tests/data),
//! checked by the example itself against what the emulator stored, exactly once each.

#![cfg(feature = "mock")]

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/replay`, built by `cargo test` beside this test binary.
fn replay_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    profile_dir
        .join("examples")
        .join(format!("replay{}", std::env::consts::EXE_SUFFIX))
}

fn field(summary: &str, name: &str) -> u64 {
    summary
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("{name} missing in {summary}"))
        .parse()
        .unwrap()
}

#[test]
fn replaying_real_logs_delivers_every_line_exactly_once() {
    let binary = replay_binary();
    assert!(
        binary.exists(),
        "{} not built (cargo test builds examples)",
        binary.display()
    );
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/loghub_sample.log");
    let lines = std::fs::read_to_string(data).unwrap().lines().count() as u64;
    assert_eq!(lines, 301);
    let output = Command::new(&binary)
        .arg(data)
        .env_remove("DISCORD_TOKEN")
        .env_remove("DISCORD_ANALYTICS_WEBHOOK")
        .env_remove("DISCORD_DIAGNOSTICS_WEBHOOK")
        .env_remove("DISCORD_LOG_WEBHOOK")
        .env_remove("DISCORD_BATCH_SECS")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "replay failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Vec<&str> = stdout.lines().collect();
    assert_eq!(out.len(), 2, "{stdout}");
    assert_eq!(
        out[0],
        "verified: all 301 lines arrived in the emulator, each exactly once"
    );
    let summary = out[1];
    assert!(summary.starts_with("summary: events="), "{summary}");
    assert_eq!(
        [
            field(summary, "events"),
            field(summary, "delivered"),
            field(summary, "dropped"),
            field(summary, "rate_limited")
        ],
        [lines, lines, 0, 0]
    );
    // Nothing was retried: every request became a message.
    assert_eq!(field(summary, "requests"), field(summary, "messages"));
}
