//! What a phase sees of its run: the configuration, the host, the effects layer, the event sink
//! and what earlier phases left for later ones.

use crate::config::resolve::InitConfig;
use crate::effects::Effects;
use kinit_preflight::{Host, IgnoreList, JoinFacts};
use serde::Serialize;

use super::phase::{Ahead, KeyDemand};
use super::runner::PhaseRecord;

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
    /// The unit running now (`certs/ca`, `preflight`), set by the runner: the key of the API work
    /// started ahead for it.
    pub current: String,
    /// The API work of the units still to run, started when the API session opens.
    pub ahead: Vec<(String, Ahead)>,
    /// The key demands of the units still to run, met in one batch by `make_keys_ahead`.
    pub key_demands: Vec<KeyDemand>,
    /// Keys made ahead of the phases that write them.
    pub keys: crate::pki::KeyPool,
    /// The configuration's patches folder, read by the first phase that patches.
    pub patches: Option<crate::patches::PatchSet>,
    /// Where `kinit init phase kubeconfig` writes (`--kubeconfig-dir`).
    pub kubeconfig_dir: String,
    /// The kubeconfig the API phases use (`--kubeconfig`, admin.conf by default).
    pub kubeconfig: String,
    /// The API session, opened by the first phase that needs it.
    pub api: Option<crate::api::Session>,
}

impl PhaseContext<'_> {
    /// Makes, in one batch over all cores, every key the units of this run still need; the first
    /// call meets every demand, later calls find none left.
    pub fn make_keys_ahead(&mut self) -> Result<(), super::PhaseError> {
        let demands = std::mem::take(&mut self.key_demands);
        if demands.is_empty() {
            return Ok(());
        }
        let mut needed = Vec::new();
        for demand in demands {
            needed.extend(demand(self).map_err(super::failed)?);
        }
        let algorithm =
            crate::pki::keys::KeyAlgorithm::parse(&self.config.cluster.encryption_algorithm)
                .map_err(super::failed)?;
        self.keys.fill(needed, algorithm).map_err(super::failed)
    }
}
