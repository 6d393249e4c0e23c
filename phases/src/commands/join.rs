//! What `kinit join` learns before its phases run: discovery, then the cluster's own
//! configuration read with the bootstrap token, made into this node's configuration.

use std::path::Path;

use k8s_openapi::api::core::v1::ConfigMap;
use kinit_preflight::JoinFacts;
use kube::api::Api;

use super::PrepareError;
use crate::discovery::joined::{discover, JoinedCluster};
use crate::domain::config::decode;
use crate::domain::config::resolve::{self, InitConfig};
use crate::domain::config::types::{InitConfiguration, JoinConfiguration};
use crate::exec::api;
use crate::workflow::{JoinData, JoinTarget};

/// How a join was asked for, beside its configuration.
pub struct JoinRequest<'r> {
    /// The API server endpoint given on the command line, for discovery that names none.
    pub endpoint: Option<&'r str>,
    /// Whether the phases to run need the cluster (every phase but preflight does: the cluster's
    /// configuration decides what this node writes). Preflight alone checks the node as the
    /// flags describe it.
    pub needs_cluster: bool,
    pub host_root: &'r Path,
    pub dry_run: bool,
    /// `preflight --fix`.
    pub fix: bool,
}

/// The join's data: discovery and the cluster's configuration when the phases need them, with a
/// line to `progress` for each step.
pub fn prepare(
    join: &JoinConfiguration,
    request: &JoinRequest<'_>,
    progress: &mut dyn FnMut(&str),
) -> Result<JoinData, PrepareError> {
    let (mut config, cluster) = if request.needs_cluster {
        let cluster = discover(join, progress).map_err(PrepareError::Failed)?;
        progress("[preflight] Reading configuration from the \"kubeadm-config\" ConfigMap in namespace \"kube-system\"...");
        let (cluster_yaml, kubelet_yaml) =
            cluster_configuration(&cluster).map_err(PrepareError::Failed)?;
        let config = node_config(
            join,
            &cluster_yaml,
            kubelet_yaml.as_deref(),
            request.host_root,
            request.dry_run,
        )
        .map_err(|problems| PrepareError::Invalid {
            what: "cannot join with the cluster's configuration",
            problems,
        })?;
        (config, Some(cluster))
    } else {
        (local_node_config(join, request)?, None)
    };
    config.init.node_registration.ignore_preflight_errors =
        join.node_registration.ignore_preflight_errors.clone();
    let api_server_endpoint = join
        .discovery
        .bootstrap_token
        .as_ref()
        .map(|t| t.api_server_endpoint.clone())
        .or_else(|| request.endpoint.map(str::to_string))
        .unwrap_or_default();
    Ok(JoinData {
        config,
        target: JoinTarget {
            facts: JoinFacts {
                api_server_endpoint,
                control_plane: join.control_plane.is_some(),
                kubernetes_dir: crate::domain::layout::KUBERNETES_DIR.into(),
                ca_cert_path: join.ca_cert_path.clone(),
            },
            cluster,
        },
        fix: request.fix,
    })
}

/// The node as the join's flags describe it, for a preflight run alone: the checks of the node
/// itself use the same facts as init.
fn local_node_config(
    join: &JoinConfiguration,
    request: &JoinRequest<'_>,
) -> Result<InitConfig, PrepareError> {
    let flags = resolve::InitFlags {
        node_name: Some(join.node_registration.name.clone()).filter(|n| !n.is_empty()),
        cri_socket: Some(join.node_registration.cri_socket.clone()).filter(|s| !s.is_empty()),
        // A worker serves no API, so its checks never read an advertise address; one is set so
        // that a host without a default route is not asked for a control-plane flag.
        apiserver_advertise_address: match &join.control_plane {
            Some(control_plane) => Some(control_plane.local_api_endpoint.advertise_address.clone())
                .filter(|a| !a.is_empty()),
            None => Some("0.0.0.0".to_string()),
        },
        apiserver_bind_port: join
            .control_plane
            .as_ref()
            .and_then(|c| u16::try_from(c.local_api_endpoint.bind_port).ok()),
        dry_run: request.dry_run,
        ..Default::default()
    };
    resolve::resolve_init(None, &flags, request.host_root).map_err(|problems| {
        PrepareError::Invalid {
            what: "invalid configuration",
            problems,
        }
    })
}

/// The cluster's ClusterConfiguration (kubeadm-config) and KubeletConfiguration (kubelet-config)
/// as the bootstrap token reads them.
fn cluster_configuration(cluster: &JoinedCluster) -> Result<(String, Option<String>), String> {
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
fn node_config(
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
