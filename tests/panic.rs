//! The opt-in panic hook posts the panic before the process ends, with unwinding and with
//! `panic = "abort"` (the `panic_capture` example built with the `panic-abort` profile).

#![cfg(feature = "mock")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Setup;
use tracing_discord::Class;

/// `target/` (the directory holding this test's profile directory).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf()
}

/// `line:column` of the first occurrence of `needle` in the example's source, so the
/// expected locations follow the source as it is formatted.
fn location_of(needle: &str) -> String {
    let source = include_str!("../examples/panic_capture.rs");
    let (n, line) = source
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(needle))
        .unwrap();
    format!("{}\\:{}", n + 1, line.find(needle).unwrap() + 1)
}

/// Runs the example against this test's emulator; returns the panics posted to the log.
fn run(binary: &Path, s: &Setup) -> (std::process::ExitStatus, Vec<String>) {
    assert!(binary.exists(), "{} not built", binary.display());
    let status = Command::new(binary)
        .env("DISCORD_TOKEN", s.mock.bot_token())
        .env("DISCORD_API_BASE", s.mock.api_base())
        .env(
            "DISCORD_ANALYTICS_CHANNEL",
            s.channel(Class::Analytics).to_string(),
        )
        .env(
            "DISCORD_DIAGNOSTICS_CHANNEL",
            s.channel(Class::Diagnostics).to_string(),
        )
        .env("DISCORD_LOG_CHANNEL", s.channel(Class::Log).to_string())
        .env_remove("RUST_BACKTRACE")
        .env_remove("DISCORD_BATCH_SECS")
        .output()
        .unwrap()
        .status;
    let panics = s
        .messages(Class::Log)
        .iter()
        .flat_map(|m| m["embeds"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["title"] == "ERROR panic")
        .map(|e| {
            let fields: Vec<String> = e["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| {
                    format!(
                        "{}={}",
                        f["name"].as_str().unwrap(),
                        f["value"].as_str().unwrap()
                    )
                })
                .collect();
            format!(
                "{} | {}",
                e["description"].as_str().unwrap(),
                fields.join(" ")
            )
        })
        .collect();
    (status, panics)
}

#[test]
fn a_panic_is_posted_before_the_process_unwinds_to_its_end() {
    let s = Setup::new();
    let binary = target_dir()
        .join("debug/examples")
        .join(format!("panic_capture{}", std::env::consts::EXE_SUFFIX));
    let (status, panics) = run(&binary, &s);
    assert_eq!(status.code(), Some(101));
    assert_eq!(
        panics,
        [
            format!(
                "panic\\: index out of bounds\\: the len is 0 but the index is 0 | thread=worker-7 location=examples/panic\\_capture.rs\\:{}",
                location_of("[0]")
            ),
            format!(
                "panic\\: worker thread failed; giving up | thread=main location=examples/panic\\_capture.rs\\:{}",
                location_of("panic!(")
            ),
        ]
    );
}

#[test]
fn a_panic_is_posted_before_the_process_aborts() {
    let built = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--example",
            "panic_capture",
            "--profile",
            "panic-abort",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(built.success());
    let s = Setup::new();
    let binary = target_dir()
        .join("panic-abort/examples")
        .join(format!("panic_capture{}", std::env::consts::EXE_SUFFIX));
    let (status, panics) = run(&binary, &s);
    assert_eq!(status.code(), None, "killed by SIGABRT, not an exit code");
    assert_eq!(
        panics,
        [format!(
            "panic\\: index out of bounds\\: the len is 0 but the index is 0 | thread=worker-7 location=examples/panic\\_capture.rs\\:{}",
            location_of("[0]")
        )]
    );
}
