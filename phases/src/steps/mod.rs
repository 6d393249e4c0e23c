//! The work of each phase: what it reads, decides and hands to the executors. Flows name these; none of them touches the machine or the cluster except through the run's executors.

pub mod addons;
pub mod bootstrap_token_phase;
pub mod certs_phase;
pub mod etcd;
pub mod fixes;
pub mod join;
pub mod kubeconfig_phase;
pub mod kubelet;
pub mod kubelet_finalize_phase;
pub mod manifests_phase;
pub mod mark_control_plane_phase;
pub mod preflight_phase;
pub mod reset;
pub mod show_join_phase;
pub mod upload_certs_phase;
pub mod upload_config_phase;
pub mod wait;
