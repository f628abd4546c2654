//! A program that panics with `capture_panics(true)`: the panic is posted as an ERROR
//! before the process ends (also when built with `panic = "abort"`).
//!
//! ```text
//! cargo run --example panic_capture            # on the built-in emulator, prints the channel
//! ```

mod common;

use std::time::Duration;

use tracing_subscriber::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (builder, emulator) = common::builder(Duration::from_secs(120))?;
    let (layer, _guard) = builder.capture_panics(true).build()?;
    tracing_subscriber::registry().with(layer).init();
    tracing::info!("about to fail");
    let worker = std::thread::Builder::new()
        .name("worker-7".into())
        .spawn(|| {
            let queue: Vec<u32> = Vec::new();
            // The bug: an empty queue.
            queue[0]
        })?;
    let outcome = worker.join();
    if let Some(emulator) = &emulator {
        common::print_channels(emulator);
    }
    // Now the main thread: the process ends here (unwinding or abort).
    if outcome.is_err() {
        panic!("worker thread failed; giving up");
    }
    Ok(())
}
