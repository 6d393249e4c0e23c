//! The cluster as discovery found it, with the bootstrap token's client: what every join phase
//! that talks to the cluster before the kubelet has its own credentials starts from.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::ClusterInfo;
use crate::domain::config::types::JoinConfiguration;
use crate::exec::api::{self, Session};

/// The cluster as discovery found it, and the token the kubelet bootstraps with.
#[derive(Clone)]
pub struct JoinedCluster {
    pub info: ClusterInfo,
    pub tls_bootstrap_token: String,
    /// `timeouts.kubernetesAPICall` of the join, for every call of the bootstrap client.
    pub call_limit: Duration,
    /// The bootstrap token's client, made once for the whole join: a client costs tens of
    /// milliseconds to make, more than a round trip.
    bootstrap_session: Arc<OnceLock<Session>>,
}

impl std::fmt::Debug for JoinedCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of debug output.
        f.debug_struct("JoinedCluster")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl JoinedCluster {
    /// bootstrap-kubelet.conf's text.
    pub fn bootstrap_kubeconfig(&self) -> Result<String, String> {
        self.info
            .bootstrap_kubeconfig(&self.tls_bootstrap_token)
            .to_yaml()
    }

    /// bootstrap-kubelet.conf's text with `server` in place of the cluster's endpoint.
    pub fn bootstrap_kubeconfig_at(&self, server: &str) -> Result<String, String> {
        let mut config = self.info.bootstrap_kubeconfig(&self.tls_bootstrap_token);
        for named in &mut config.clusters {
            named.cluster.server = server.to_string();
        }
        config.to_yaml()
    }

    /// The client with the bootstrap token's rights (reference §7: it may read kubeadm-config,
    /// kubelet-config, Nodes and kubeadm-certs, and post CSRs), made on first use.
    pub fn session(&self) -> Result<&Session, String> {
        if let Some(session) = self.bootstrap_session.get() {
            return Ok(session);
        }
        let session = Session::connect(
            &self.bootstrap_kubeconfig()?,
            "the bootstrap token",
            self.call_limit,
        )?;
        Ok(self.bootstrap_session.get_or_init(|| session))
    }

    fn new(info: ClusterInfo, join: &JoinConfiguration) -> JoinedCluster {
        JoinedCluster {
            info,
            tls_bootstrap_token: join.discovery.tls_bootstrap_token.clone(),
            call_limit: join
                .timeouts
                .as_ref()
                .and_then(|t| t.kubernetes_api_call)
                .map_or(api::DEFAULT_CALL_LIMIT, |d| d.0),
            bootstrap_session: Arc::default(),
        }
    }
}

/// Finds the cluster and comes to trust it, by token or by file.
pub fn discover(
    join: &JoinConfiguration,
    progress: &mut dyn FnMut(&str),
) -> Result<JoinedCluster, String> {
    let timeout = join
        .timeouts
        .as_ref()
        .and_then(|t| t.discovery)
        .map_or(Duration::from_secs(300), |d| d.0);
    if let Some(file) = &join.discovery.file {
        let text = super::file::read(&file.kube_config_path)?;
        let (info, _) = super::file::cluster_info(&text, &file.kube_config_path)?;
        progress(&format!(
            "[discovery] Using the cluster in {}: API server {}",
            file.kube_config_path, info.server
        ));
        return Ok(JoinedCluster::new(info, join));
    }
    let token = join.discovery.bootstrap_token.as_ref().ok_or(
        "join needs --token (with --discovery-token-ca-cert-hash) or --discovery-file to find the cluster",
    )?;
    let info = super::token::discover(
        &super::token::TokenDiscovery {
            endpoint: &token.api_server_endpoint,
            token: &token.token,
            ca_cert_hashes: &token.ca_cert_hashes,
            unsafe_skip_ca_verification: token.unsafe_skip_ca_verification,
            timeout,
            interval: super::token::RETRY_INTERVAL,
        },
        progress,
    )?;
    Ok(JoinedCluster::new(info, join))
}
