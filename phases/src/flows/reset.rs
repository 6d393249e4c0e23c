//! `kinit reset`, top to bottom: kubeadm's reset phases in kubeadm's order, with their names.

use crate::workflow::{Phase, ResetData};
use crate::{steps::etcd, steps::reset};

pub fn phases() -> Vec<Phase<ResetData>> {
    vec![
        Phase::new(
            "preflight",
            "Run reset pre-flight checks",
            reset::preflight::run,
        ),
        Phase::new(
            "remove-etcd-member",
            "Remove a local etcd member",
            etcd::remove::run,
        ),
        Phase::new("cleanup-node", "Run cleanup node", reset::cleanup::run),
    ]
}
