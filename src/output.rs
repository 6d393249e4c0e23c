//! Printing a run: kubeadm-style lines for people, or JSON lines (one event per phase start and end,
//! then one result object) for machines.

use kinit_phases::exec::api::ApiObject;
use kinit_phases::workflow::{EventSink, Outcome, PhaseRecord, ProgressRow, RunSummary};
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Default)]
pub struct TextSink {
    /// Lines of the live progress block last drawn, to be redrawn in place; 0 when lines were
    /// printed after it, so it stays as it is.
    drawn: usize,
}

impl EventSink for TextSink {
    fn phase_start(&mut self, _phase: &str) {}

    fn line(&mut self, text: &str) {
        self.drawn = 0;
        println!("{text}");
    }

    fn progress(&mut self, rows: &[ProgressRow], changed: &[bool]) {
        let mut out = std::io::stdout().lock();
        if !out.is_terminal() {
            // A log file gets a line per change, not a redraw every 200 ms.
            for (row, _) in rows.iter().zip(changed).filter(|(_, c)| **c) {
                let _ = writeln!(out, "{}", row.text());
            }
            return;
        }
        if self.drawn > 0 {
            let _ = write!(out, "\x1b[{}A", self.drawn);
        }
        for row in rows {
            let _ = writeln!(out, "\r\x1b[2K{}", row.text());
        }
        let _ = out.flush();
        self.drawn = rows.len();
    }

    fn phase_end(&mut self, record: &PhaseRecord) {
        if record.outcome == Outcome::Skipped {
            println!("[{}] Skipped (--skip-phases)", record.phase);
        }
    }
}

/// Milliseconds since the Unix epoch, so events from several nodes can be put in one order.
fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

pub struct JsonSink;

pub fn emit(value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
}

impl EventSink for JsonSink {
    fn phase_start(&mut self, phase: &str) {
        emit(&json!({ "event": "phase-start", "phase": phase, "unixMs": unix_ms() }));
    }

    fn line(&mut self, text: &str) {
        tracing::info!("{text}");
    }

    fn progress(&mut self, rows: &[ProgressRow], changed: &[bool]) {
        for (row, _) in rows.iter().zip(changed).filter(|(_, c)| **c) {
            let mut event = serde_json::to_value(row).unwrap_or_default();
            event["event"] = json!("component-state");
            event["unixMs"] = json!(unix_ms());
            emit(&event);
        }
    }

    fn object(&mut self, object: &ApiObject) {
        emit(&json!({
            "event": "object",
            "verb": object.mode.verb(),
            "kind": object.kind(),
            "namespace": object.namespace,
            "name": object.name,
            "object": object.display_body(),
            "unixMs": unix_ms(),
        }));
    }

    fn phase_end(&mut self, record: &PhaseRecord) {
        let mut event = serde_json::to_value(record).unwrap_or_default();
        event["event"] = json!("phase-end");
        event["unixMs"] = json!(unix_ms());
        emit(&event);
    }
}

/// The table `kinit init` ends with: each phase, its outcome and how long it took.
pub fn timing_summary(summary: &RunSummary) -> String {
    let mut text = String::from("\nPhase timings:\n");
    let mut total = 0.0;
    // Join's unit names (`control-plane-prepare/control-plane`) are longer than init's.
    let width = summary
        .records
        .iter()
        .map(|r| r.phase.len() + 2)
        .max()
        .unwrap_or(0)
        .max(34);
    for record in &summary.records {
        let outcome = serde_json::to_value(record.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        text.push_str(&format!(
            "  {:<width$}{:>10.1} ms  {}\n",
            record.phase, record.duration_ms, outcome
        ));
        total += record.duration_ms;
    }
    text.push_str(&format!("  {:<width$}{:>10.1} ms\n", "total", total));
    text
}
