//! What every bench uses to report: medians of timed samples in milliseconds, and a process run
//! that must succeed. Included by each bench as `#[path = "common/mod.rs"] mod common;` (a folder,
//! so Cargo does not take it for a bench of its own).
#![allow(dead_code)]

use std::process::Command;
use std::time::Duration;

pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `command`, failing with its output unless it succeeds.
pub fn run(command: &mut Command) {
    let out = command.output().expect("start a process");
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
