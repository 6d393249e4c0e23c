//! What a run reports as it goes: each phase's record, the rows of a live wait, and the sink that
//! turns them into kubeadm-style lines or JSON events.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Ok,
    Skipped,
    Failed,
    PreflightErrors,
    TimedOut,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseRecord {
    pub phase: String,
    #[serde(rename = "durationMs")]
    pub duration_ms: f64,
    pub outcome: Outcome,
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Phase-specific detail; the preflight phase puts its whole report here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
}

/// One component's state in a live wait (`wait-control-plane`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgressRow {
    /// The line prefix, `[kubelet-check]` or `[control-plane-check]`.
    #[serde(skip)]
    pub tag: &'static str,
    pub component: String,
    pub url: String,
    /// `waiting` (no answer yet), `unhealthy`, `healthy` or `timed-out`.
    pub state: &'static str,
    #[serde(rename = "elapsedMs")]
    pub elapsed_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ProgressRow {
    pub fn text(&self) -> String {
        let (tag, name) = (self.tag, &self.component);
        let after = format!("{:.1}s", self.elapsed_ms / 1000.0);
        let error = self.error.as_deref().unwrap_or("no answer yet");
        match self.state {
            "healthy" => format!("{tag} {name} is healthy after {after}"),
            "timed-out" => format!("{tag} {name} is not healthy after {after}: {error}"),
            "unhealthy" => format!("{tag} {name} is not healthy yet ({after}): {error}"),
            _ => format!("{tag} {name}: waiting ({after})"),
        }
    }
}

/// Where the runner's progress goes: kubeadm-style lines, or JSON events.
pub trait EventSink {
    fn phase_start(&mut self, phase: &str);
    fn line(&mut self, text: &str);
    fn phase_end(&mut self, record: &PhaseRecord);
    /// An object a dry run would send to the API server, in the order it would be sent. By default,
    /// kubeadm's kind of line: what would be applied, then the object as YAML with Secret values
    /// withheld.
    fn object(&mut self, object: &crate::exec::api::ApiObject) {
        self.line(&format!(
            "[dryrun] Would {} {}:\n{}",
            object.mode.verb(),
            object.describe(),
            object.display_yaml().trim_end()
        ));
    }
    /// Called on every poll of a wait with all rows; `changed` marks the rows whose state changed
    /// since the last call. By default, a line per change.
    fn progress(&mut self, rows: &[ProgressRow], changed: &[bool]) {
        for (row, changed) in rows.iter().zip(changed) {
            if *changed {
                self.line(&row.text());
            }
        }
    }
}

/// A sink that keeps the lines of a run and nothing else: for tests, and for callers that print
/// the lines their own way.
#[derive(Debug, Default)]
pub struct KeptLines(pub Vec<String>);

impl EventSink for KeptLines {
    fn phase_start(&mut self, _phase: &str) {}
    fn line(&mut self, text: &str) {
        self.0.push(text.to_string());
    }
    fn phase_end(&mut self, _record: &PhaseRecord) {}
}
