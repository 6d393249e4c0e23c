//! `kinit join`: what the node learns before its phases run (discovery, then the cluster's own
//! configuration read with the bootstrap token) and the join phases that differ from init's.

pub mod control_plane;
pub mod download_certs;
pub mod kubelet_start;
pub mod kubelet_wait_bootstrap;
pub mod tls_bootstrap;

pub use crate::discovery::joined::{discover, JoinedCluster};

use std::path::Path;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;

use crate::domain::config::decode;
use crate::domain::config::resolve::{self, InitConfig};
use crate::domain::config::types::{InitConfiguration, JoinConfiguration};
use crate::exec::api;
use crate::workflow::{failed, PhaseContext, PhaseError};

/// Where kubeadm keeps the bootstrap kubeconfig until the kubelet has its own credentials.
pub use crate::domain::layout::BOOTSTRAP_KUBELET_CONF as BOOTSTRAP_KUBECONFIG;
/// The kubelet's own kubeconfig, written by the kubelet after its TLS bootstrap.
pub use crate::domain::layout::KUBELET_CONF as KUBELET_KUBECONFIG;

/// The cluster's ClusterConfiguration (kubeadm-config) and KubeletConfiguration (kubelet-config)
/// as the bootstrap token reads them.
pub fn cluster_configuration(cluster: &JoinedCluster) -> Result<(String, Option<String>), String> {
    let (session, call_limit) = (cluster.session()?, cluster.call_limit);
    let config_maps: Api<ConfigMap> = Api::namespaced(session.client(), "kube-system");
    let read = |name: &'static str| {
        let config_maps = config_maps.clone();
        async move {
            let what = format!("get ConfigMap kube-system/{name}");
            api::call(call_limit, &what, || config_maps.get(name)).await
        }
    };
    // Neither read depends on the other: one round trip for both.
    let (kubeadm, kubelet) =
        session.block_on(async { futures::join!(read("kubeadm-config"), read("kubelet-config")) });
    let kubeadm = kubeadm.map_err(|e| {
        format!("{e}: the cluster's configuration is needed to join it (was it made with `kinit init` or kubeadm?)")
    })?;
    let cluster_yaml = kubeadm
        .data
        .as_ref()
        .and_then(|d| d.get("ClusterConfiguration"))
        .cloned()
        .ok_or("the kubeadm-config ConfigMap has no ClusterConfiguration")?;
    let kubelet = match kubelet {
        Ok(map) => map.data.and_then(|d| d.get("kubelet").cloned()),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.to_string()),
    };
    Ok((cluster_yaml, kubelet))
}

/// This node's settings: the cluster's configuration with this node's registration, API endpoint
/// (control plane), timeouts and patches from the join configuration.
pub fn node_config(
    join: &JoinConfiguration,
    cluster_yaml: &str,
    kubelet_yaml: Option<&str>,
    host_root: &Path,
    dry_run: bool,
) -> Result<InitConfig, Vec<String>> {
    let mut file = decode::load(cluster_yaml);
    let problems: Vec<String> = file
        .errors(false)
        .iter()
        .map(|d| format!("the cluster's ClusterConfiguration (kubeadm-config): {d}"))
        .collect();
    if !problems.is_empty() {
        return Err(problems);
    }
    if file.cluster.is_none() {
        return Err(vec![
            "the kubeadm-config ConfigMap holds no ClusterConfiguration document".into(),
        ]);
    }
    let control_plane = join.control_plane.as_ref();
    let mut init = InitConfiguration {
        node_registration: join.node_registration.clone(),
        local_api_endpoint: control_plane
            .map(|c| c.local_api_endpoint.clone())
            .unwrap_or_default(),
        certificate_key: control_plane
            .map(|c| c.certificate_key.clone())
            .unwrap_or_default(),
        skip_phases: join.skip_phases.clone(),
        patches: join.patches.clone(),
        timeouts: join.timeouts.clone(),
        dry_run: join.dry_run,
        ..Default::default()
    };
    if control_plane.is_none() {
        // A worker serves no API: nothing reads its advertise address, and a host without a
        // default route must not be asked for one.
        init.local_api_endpoint.advertise_address = "0.0.0.0".into();
        // A worker registers without taints unless it asks for some (kubeadm's join default).
        init.node_registration.taints.get_or_insert_with(Vec::new);
    }
    file.init = Some(init);
    if let Some(text) = kubelet_yaml {
        let value = crate::domain::config::yaml::parse_documents(text)
            .map_err(|e| {
                vec![format!(
                    "the kubelet-config ConfigMap is not YAML: {}",
                    e.message
                )]
            })?
            .into_iter()
            .next()
            .map(|doc| doc.value);
        file.kubelet = value;
    }
    resolve::resolve_init(
        Some(&file),
        &resolve::InitFlags {
            dry_run,
            ..Default::default()
        },
        host_root,
    )
}

/// The discovered cluster, for phases that cannot run without it.
pub fn joined<'c>(ctx: &'c PhaseContext<'_>) -> Result<&'c JoinedCluster, PhaseError> {
    ctx.join
        .and_then(|j| j.cluster.as_ref())
        .ok_or_else(|| failed("this phase needs the cluster: run it as part of `kinit join`, with the discovery flags"))
}

/// Whether this join makes a control-plane node.
pub fn is_control_plane(ctx: &PhaseContext<'_>) -> bool {
    ctx.join.is_some_and(|j| j.facts.control_plane)
}

/// ControlPlaneKubeletLocalMode for a joining control plane (beta and on by default from kubeadm
/// 1.33, unless the cluster's feature gates turn it off): its kubelet bootstraps against the node's
/// own API server, so kubelet-start only starts it, and kubelet-wait-bootstrap waits for it once
/// etcd-join has brought that API server's etcd member up.
pub fn kubelet_local_mode(ctx: &PhaseContext<'_>) -> bool {
    let config = ctx.config;
    is_control_plane(ctx)
        && config
            .cluster
            .feature_gates
            .get("ControlPlaneKubeletLocalMode")
            .copied()
            .unwrap_or(config.version.minor >= 33)
}
