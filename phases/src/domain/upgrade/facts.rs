//! What an upgrade knows about the cluster and this node before it plans: read by the command,
//! carried through the phases.

use super::plan::ClusterVersions;

/// What the cluster says about itself.
#[derive(Debug, Clone)]
pub struct ClusterFacts {
    /// kubeadm-config's ClusterConfiguration document.
    pub cluster_configuration: String,
    /// kubelet-config's `kubelet` document, when there is one.
    pub kubelet_configuration: Option<String>,
    /// The kube-proxy ConfigMap's `config.conf`, when there is one.
    pub kube_proxy_configuration: Option<String>,
    pub versions: ClusterVersions,
    /// The API server's `/version`.
    pub server_version: String,
}

/// This node as the cluster and the node's own files describe it.
#[derive(Debug, Clone, Default)]
pub struct NodeIdentity {
    pub name: String,
    /// The API server's advertise address and port on this node (control planes only).
    pub advertise_address: String,
    pub bind_port: i32,
    pub cri_socket: String,
}
