//! The join phases that differ from init's, and what they share.

pub(crate) mod control_plane;
pub(crate) mod download_certs;
pub(crate) mod kubelet_start;
pub(crate) mod kubelet_wait_bootstrap;
pub(crate) mod tls_bootstrap;

pub use crate::discovery::joined::JoinedCluster;

use crate::workflow::{failed, JoinData, NodeData, PhaseContext, PhaseError};

/// Where kubeadm keeps the bootstrap kubeconfig until the kubelet has its own credentials.
pub use crate::domain::layout::BOOTSTRAP_KUBELET_CONF as BOOTSTRAP_KUBECONFIG;
/// The kubelet's own kubeconfig, written by the kubelet after its TLS bootstrap.
pub use crate::domain::layout::KUBELET_CONF as KUBELET_KUBECONFIG;

/// The discovered cluster, for phases that cannot run without it.
pub fn joined<'c>(ctx: &'c PhaseContext<'_, JoinData>) -> Result<&'c JoinedCluster, PhaseError> {
    ctx.data
        .target
        .cluster
        .as_ref()
        .ok_or_else(|| failed("this phase needs the cluster: run it as part of `kinit join`, with the discovery flags"))
}

/// Whether this join makes a control-plane node.
pub fn is_control_plane(ctx: &PhaseContext<'_, JoinData>) -> bool {
    ctx.data.target.facts.control_plane
}

/// ControlPlaneKubeletLocalMode for a joining control plane (beta and on by default from kubeadm
/// 1.33, unless the cluster's feature gates turn it off): its kubelet bootstraps against the node's
/// own API server, so kubelet-start only starts it, and kubelet-wait-bootstrap waits for it once
/// etcd-join has brought that API server's etcd member up.
pub fn kubelet_local_mode(ctx: &PhaseContext<'_, JoinData>) -> bool {
    let config = ctx.data.config();
    is_control_plane(ctx)
        && config
            .cluster
            .feature_gates
            .get("ControlPlaneKubeletLocalMode")
            .copied()
            .unwrap_or(config.version.minor >= 33)
}
