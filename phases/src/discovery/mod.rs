//! How `kinit join` comes to trust a cluster (reference §9.1–9.2): from a bootstrap token and CA
//! pins (`token`), or from a kubeconfig file or URL (`file`); either way the outcome is the API
//! server and CA that the bootstrap kubeconfig is made of.

pub(crate) mod file;
pub(crate) mod joined;
pub mod jws;
pub(crate) mod token;

use crate::domain::kubeconfig::{base64, Cluster, Kubeconfig, User};

/// The user name of the bootstrap kubeconfig, as kubeadm names it.
pub const TOKEN_USER: &str = "tls-bootstrap-token-user";
/// The cluster name of the bootstrap kubeconfig (kubeadm's default clusterName).
const CLUSTER_NAME: &str = "kubernetes";

/// What discovery established: where the API server is and the CA that vouches for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    pub server: String,
    pub ca_pem: Vec<u8>,
}

impl ClusterInfo {
    /// `/etc/kubernetes/bootstrap-kubelet.conf`: cluster-info's server and CA, and the token as
    /// the user (reference §4).
    pub fn bootstrap_kubeconfig(&self, token: &str) -> Kubeconfig {
        Kubeconfig::single(
            CLUSTER_NAME,
            Cluster {
                certificate_authority_data: Some(base64(&self.ca_pem)),
                server: self.server.clone(),
                ..Default::default()
            },
            TOKEN_USER,
            User {
                token: Some(token.to_string()),
                ..Default::default()
            },
        )
    }
}
