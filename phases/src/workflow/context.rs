//! What a phase sees of its run: its command's data, the host, the effects layer, the event sink
//! and what earlier phases left for later ones.

use crate::exec::effects::Effects;
use kinit_preflight::{Host, IgnoreList};
use std::rc::Rc;

use super::data::NodeData;

use super::error::{failed, PhaseError};
use super::events::EventSink;
use crate::exec::api::{Session, Work};

/// A phase's work; Ok carries the warnings it wants reported.
pub type Step<D> = Rc<dyn Fn(&mut PhaseContext<'_, D>) -> Result<Vec<String>, PhaseError>>;

/// Whether a phase has anything to do in this run (kubeadm's `RunIf`). A phase whose condition is
/// false ends at once with outcome ok, so the events of a run keep one shape.
pub type Condition<D> = fn(&PhaseContext<'_, D>) -> bool;

/// API work a phase can start as soon as the run's API session opens, so that its round trips
/// overlap with the phases before it; the phase collects the outcome when its turn comes. `None`
/// when there is nothing to start ahead this time.
pub type Ahead<D> = fn(&mut PhaseContext<'_, D>, &Session) -> Result<Option<Work>, PhaseError>;

/// The names of the keys a phase will make, so that every key of a run is made in one batch over
/// all cores before the first of them is needed.
pub type KeyDemand<D> = Rc<dyn Fn(&PhaseContext<'_, D>) -> Result<Vec<String>, String>>;

pub struct PhaseContext<'a, D> {
    /// The command's own data: [`super::InitData`], [`super::JoinData`] or [`super::ResetData`].
    pub data: &'a D,
    pub dry_run: bool,
    pub host: &'a dyn Host,
    pub effects: &'a mut dyn Effects,
    pub ignore: IgnoreList,
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
    pub ahead: Vec<(String, Ahead<D>)>,
    /// The key demands of the units still to run, met in one batch by `make_keys_ahead`.
    pub key_demands: Vec<KeyDemand<D>>,
    /// Keys made ahead of the phases that write them.
    pub keys: crate::domain::pki::KeyPool,
    /// The configuration's patches folder, read by the first phase that patches.
    pub patches: Option<crate::domain::patches::PatchSet>,
    /// The API objects a dry run would have applied, in order: its later reads are answered
    /// from them.
    pub planned_objects: Vec<crate::exec::api::object::ApiObject>,
    /// The API session, opened by the first phase that needs it.
    pub api: Option<crate::exec::api::Session>,
}

impl<'a, D> PhaseContext<'a, D> {
    /// A context for a run of a command with `data` on `host` through `effects` (a dry run when
    /// they are [`crate::exec::effects::DryRunEffects`] and `dry_run` is set), reporting to
    /// `sink`, with nothing ignored.
    pub fn new(
        data: &'a D,
        host: &'a dyn Host,
        effects: &'a mut dyn Effects,
        sink: &'a mut dyn EventSink,
        dry_run: bool,
    ) -> PhaseContext<'a, D> {
        PhaseContext {
            data,
            dry_run,
            host,
            effects,
            ignore: IgnoreList::new(Vec::<String>::new()),
            sink,
            would_stop: None,
            report: None,
            warnings_before_failure: Vec::new(),
            current: String::new(),
            ahead: Vec::new(),
            key_demands: Vec::new(),
            keys: Default::default(),
            patches: None,
            planned_objects: Vec::new(),
            api: None,
        }
    }

    /// A step only the real machine or cluster can answer (a wait, a read through the bootstrap
    /// token, a file only the kubelet writes): a dry run says what it would do instead (each a
    /// phrase: "wait up to 4m0s for the kubelet at ..."), plans it, and the outcome is `None`.
    pub fn live<T>(
        &mut self,
        would: impl FnOnce(&Self) -> Vec<String>,
        step: impl FnOnce(&mut Self) -> Result<T, PhaseError>,
    ) -> Result<Option<T>, PhaseError> {
        if self.dry_run {
            for what in would(self) {
                self.sink.line(&format!("[dry-run] Would {what}"));
                self.effects
                    .plan(crate::exec::effects::Change::Live { what });
            }
            return Ok(None);
        }
        step(self).map(Some)
    }

    /// How the run words a change it makes: `doing` it, or in a dry run, what it `would` do
    /// (kubeadm's "Would ..." lines).
    pub fn wording<'w>(&self, doing: &'w str, would: &'w str) -> &'w str {
        if self.dry_run {
            would
        } else {
            doing
        }
    }

    /// What only a dry run prints, to be reviewed in place of what it did not do (the etcd
    /// manifest a joining member would start with).
    pub fn dry_run_note(
        &mut self,
        note: impl FnOnce(&Self) -> Result<Vec<String>, PhaseError>,
    ) -> Result<(), PhaseError> {
        if self.dry_run {
            for line in note(self)? {
                self.sink.line(&line);
            }
        }
        Ok(())
    }

    /// A secret (a token, the certificate key) as the run may print it: a dry run creates no token
    /// and uploads nothing, so its secrets in the output could only leak.
    pub fn shown_secret<'s>(&self, secret: &'s str) -> &'s str {
        if self.dry_run {
            crate::domain::join_command::WITHHELD
        } else {
            secret
        }
    }
}

impl<D: NodeData> PhaseContext<'_, D> {
    /// Makes, in one batch over all cores, every key the units of this run still need; the first
    /// call meets every demand, later calls find none left.
    pub fn make_keys_ahead(&mut self) -> Result<(), PhaseError> {
        let demands = std::mem::take(&mut self.key_demands);
        if demands.is_empty() {
            return Ok(());
        }
        let mut needed = Vec::new();
        for demand in demands {
            needed.extend(demand(self).map_err(failed)?);
        }
        let algorithm = crate::domain::pki::keys::KeyAlgorithm::parse(
            &self.data.config().cluster.encryption_algorithm,
        )
        .map_err(failed)?;
        self.keys.fill(needed, algorithm).map_err(failed)
    }
}
