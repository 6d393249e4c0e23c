//! Runs a phase table (or one phase of it), timing each phase and reporting to an event sink.

use crate::config::resolve::InitConfig;
use crate::effects::Effects;
use crate::phase::{find, Phase};
use kinit_preflight::{Host, IgnoreList, JoinFacts};
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhaseError {
    Failed(String),
    /// Preflight found errors that were not ignored; the text lists them as kubeadm does.
    PreflightFailed(String),
    NotImplemented(String),
    /// A wait ran out of time; the text is the diagnosis.
    TimedOut(String),
}

impl std::fmt::Display for PhaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PhaseError::Failed(why)
            | PhaseError::PreflightFailed(why)
            | PhaseError::TimedOut(why) => f.write_str(why),
            PhaseError::NotImplemented(phase) => write!(f, "phase {phase} is not implemented yet"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Ok,
    Skipped,
    Failed,
    PreflightErrors,
    NotImplemented,
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
    fn object(&mut self, object: &crate::api::ApiObject) {
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

/// What the current node joins, for the join phases.
#[derive(Debug, Clone)]
pub struct JoinTarget {
    pub facts: JoinFacts,
    /// What discovery found; `None` when the phases run need nothing from the cluster.
    pub cluster: Option<crate::join::JoinedCluster>,
}

pub struct PhaseContext<'a> {
    pub dry_run: bool,
    /// `preflight --fix`: apply the safe remedies, then check again.
    pub fix: bool,
    pub host: &'a dyn Host,
    pub effects: &'a mut dyn Effects,
    pub ignore: IgnoreList,
    pub config: &'a InitConfig,
    pub join: Option<&'a JoinTarget>,
    /// What `kinit reset` was asked to do (file and flags together).
    pub reset: Option<&'a crate::config::types::ResetConfiguration>,
    pub sink: &'a mut dyn EventSink,
    /// Set by preflight in a dry run: why a real run would have stopped there.
    pub would_stop: Option<String>,
    pub report: Option<serde_json::Value>,
    /// Warnings a phase found before it failed, so its end event still carries them.
    pub warnings_before_failure: Vec<String>,
    /// The unit running now (`certs/ca`, `preflight`), set by the runner.
    pub current: String,
    /// Every unit this run will run, so a phase can prepare work for the ones after it.
    pub selected: Vec<String>,
    /// Keys made ahead of the phases that write them.
    pub keys: crate::pki::KeyPool,
    /// Where `kinit init phase kubeconfig` writes (`--kubeconfig-dir`).
    pub kubeconfig_dir: String,
    /// The kubeconfig the API phases use (`--kubeconfig`, admin.conf by default).
    pub kubeconfig: String,
    /// The API session, opened by the first phase that needs it.
    pub api: Option<crate::api::Session>,
}

#[derive(Debug, Default)]
pub struct RunSummary {
    pub records: Vec<PhaseRecord>,
    pub error: Option<PhaseError>,
    pub would_stop: Option<String>,
    pub not_implemented: Vec<String>,
}

/// `skip` holds `name` or `name/child` entries; `only` limits the run to one phase (`name`, `name/child`, `name/all`).
pub fn run(
    table: &[Phase],
    only: Option<&str>,
    skip: &[String],
    ctx: &mut PhaseContext<'_>,
) -> RunSummary {
    let mut summary = RunSummary::default();
    let selected = only.and_then(|path| find(table, path));
    // What runs, in order: a chosen child alone; the children one by one once any of them is
    // implemented; otherwise the phase as one unit.
    let mut units: Vec<(&str, String, Option<crate::phase::PhaseFn>)> = Vec::new();
    for phase in table {
        if selected.is_some_and(|(chosen, _)| chosen.name != phase.name) {
            continue;
        }
        match selected.and_then(|(_, child)| child) {
            Some(child) => units.push((
                phase.name,
                format!("{}/{}", phase.name, child.name),
                child.run.or(phase.run),
            )),
            None if phase.run.is_none() && phase.children.iter().any(|c| c.run.is_some()) => {
                for child in phase.children {
                    units.push((
                        phase.name,
                        format!("{}/{}", phase.name, child.name),
                        child.run,
                    ));
                }
            }
            None => units.push((phase.name, phase.name.to_string(), phase.run)),
        }
    }
    ctx.selected = units
        .iter()
        .filter(|(parent, name, _)| !skip.iter().any(|s| s == parent || s == name))
        .map(|(_, name, _)| name.clone())
        .collect();
    // Where each top-level phase ends: its files are committed there, in one flush.
    let last_of_phase: Vec<bool> = (0..units.len())
        .map(|i| units.get(i + 1).is_none_or(|next| next.0 != units[i].0))
        .collect();
    for ((parent, name, run), last_of_phase) in units.into_iter().zip(last_of_phase) {
        if skip.iter().any(|s| s == parent || *s == name) {
            let record = PhaseRecord {
                phase: name,
                duration_ms: 0.0,
                outcome: Outcome::Skipped,
                warnings: Vec::new(),
                error: None,
                report: None,
            };
            ctx.sink.phase_start(&record.phase);
            ctx.sink.phase_end(&record);
            summary.records.push(record);
            continue;
        }
        ctx.sink.phase_start(&name);
        let started = Instant::now();
        ctx.report = None;
        ctx.current = name.clone();
        let mut result = match run {
            Some(run) => run(ctx),
            None => Err(PhaseError::NotImplemented(name.clone())),
        };
        if last_of_phase || result.is_err() {
            if let Err(e) = ctx.effects.commit() {
                if result.is_ok() {
                    result = Err(PhaseError::Failed(e));
                }
            }
        }
        let duration = started.elapsed();
        let found = std::mem::take(&mut ctx.warnings_before_failure);
        let (outcome, warnings, error) = match &result {
            Ok(warnings) => (Outcome::Ok, warnings.clone(), None),
            Err(e @ PhaseError::Failed(_)) => (Outcome::Failed, found, Some(e.to_string())),
            Err(e @ PhaseError::PreflightFailed(_)) => {
                (Outcome::PreflightErrors, found, Some(e.to_string()))
            }
            Err(e @ PhaseError::NotImplemented(_)) => {
                (Outcome::NotImplemented, found, Some(e.to_string()))
            }
            Err(e @ PhaseError::TimedOut(_)) => (Outcome::TimedOut, found, Some(e.to_string())),
        };
        let record = PhaseRecord {
            phase: name.clone(),
            duration_ms: ms(duration),
            outcome,
            warnings,
            error,
            report: ctx.report.take(),
        };
        tracing::debug!(phase = %record.phase, duration_ms = record.duration_ms, outcome = ?record.outcome, "phase finished");
        ctx.sink.phase_end(&record);
        summary.records.push(record);
        match result {
            Ok(_) => {}
            // A dry run shows every phase, so one that is not implemented yet is noted and passed over.
            Err(PhaseError::NotImplemented(_)) if ctx.dry_run => summary.not_implemented.push(name),
            Err(e) => {
                if matches!(e, PhaseError::NotImplemented(_)) {
                    summary.not_implemented.push(name);
                }
                summary.error = Some(e);
                break;
            }
        }
    }
    summary.would_stop = ctx.would_stop.take();
    summary
}

/// A phase failure from any error message.
pub fn failed(e: impl ToString) -> PhaseError {
    PhaseError::Failed(e.to_string())
}

pub fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}
