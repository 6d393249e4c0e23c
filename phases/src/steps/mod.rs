//! The work of each phase: what it reads, decides and hands to the executors. Flows name these; none of them touches the machine or the cluster except through the run's executors.

pub mod addons;
pub mod bootstrap_token;
pub mod certs;
pub mod etcd;
pub mod fixes;
pub mod join;
pub mod kubeconfig;
pub mod kubelet;
pub mod kubelet_finalize;
pub mod manifests;
pub mod mark_control_plane;
pub mod preflight;
pub mod reset;
pub mod show_join;
pub mod upload_certs;
pub mod upload_config;
pub mod wait;
