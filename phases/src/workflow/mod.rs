//! The machinery of a command's phases: a phase as data, the context a phase sees, and the runner
//! that walks a table.

mod context;
mod phase;
mod runner;

pub use context::{EventSink, JoinTarget, PhaseContext, ProgressRow};
pub use phase::{all_paths, find, help_text, Ahead, Condition, KeyDemand, Phase, Step};
pub use runner::{failed, ms, run, Outcome, PhaseError, PhaseRecord, RunSummary};
