//! kinit's engine: configuration, the phase tables and their runner, the host effects layer, and the phases.

pub mod api;
pub mod certs_commands;
pub mod certs_phase;
pub mod config;
pub mod effects;
pub mod fixes;
pub mod images;
pub mod init_phases;
pub mod join_command;
pub mod kubeconfig;
pub mod kubeconfig_phase;
pub mod kubeconfig_user;
pub mod kubelet;
pub mod manifests;
pub mod manifests_phase;
pub mod patches;
pub mod phase;
pub mod pki;
pub mod preflight_phase;
pub mod runner;
pub mod show_join_phase;
pub mod time_text;
pub mod token;
pub mod upload_config_phase;
pub mod versions;
pub mod wait;
