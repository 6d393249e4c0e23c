//! The work of each phase: what it reads, decides and hands to the executors. Flows name these; none of them touches the machine or the cluster except through the run's executors.

pub(crate) mod addons;
pub(crate) mod bootstrap_token;
pub(crate) mod certs;
pub mod etcd;
pub(crate) mod fixes;
pub(crate) mod join;
pub mod kubeconfig;
pub(crate) mod kubelet;
pub(crate) mod kubelet_finalize;
pub(crate) mod manifests;
pub(crate) mod mark_control_plane;
pub mod preflight;
pub(crate) mod renew_certs;
pub(crate) mod reset;
pub(crate) mod show_join;
pub mod upgrade;
pub(crate) mod upload_certs;
pub(crate) mod upload_config;
pub(crate) mod wait;
