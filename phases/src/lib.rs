//! kinit's engine: configuration, the phase tables and their runner, the host effects layer, and the phases.

pub mod config;
pub mod effects;
pub mod fixes;
pub mod images;
pub mod init_phases;
pub mod phase;
pub mod preflight_phase;
pub mod runner;
pub mod versions;
