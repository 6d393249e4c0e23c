//! kinit's engine: configuration, the phase tables and their runner, the host effects layer, and the phases.

pub mod commands;
pub mod discovery;
pub mod domain;
pub mod exec;
pub mod flows;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod steps;
pub mod workflow;
