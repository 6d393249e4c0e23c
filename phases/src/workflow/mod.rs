//! The machinery of a command's phases: a phase as data, the context a phase sees, and the runner
//! that walks a table.

pub(crate) mod cluster;
mod context;
mod data;
mod error;
pub(crate) mod etcd;
mod events;
mod phase;
mod runner;

pub use context::{Ahead, Condition, KeyDemand, PhaseContext, Step};
pub use data::{InitData, JoinData, JoinTarget, NodeData, ResetData, UpgradeData, UpgradeOptions};
pub use error::{failed, PhaseError};
pub use events::{EventSink, KeptLines, Outcome, PhaseRecord, ProgressRow};
pub use phase::{all_paths, find, help_text, Phase};
pub use runner::{ms, run, RunSummary};
