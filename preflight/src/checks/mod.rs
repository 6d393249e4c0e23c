//! The probes behind each check, grouped by what part of the host they read.
pub mod components;
pub mod files;
pub mod network;
pub mod system;
