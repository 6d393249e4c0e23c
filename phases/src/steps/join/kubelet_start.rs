//! `kinit join phase kubelet-start` (reference §9.3): the bootstrap kubeconfig and the cluster CA,
//! a refusal when a Ready Node of this name is already in the cluster, the kubelet's files from
//! the cluster's kubelet-config, the kubelet started, and the wait for its TLS bootstrap. A joining
//! control plane in ControlPlaneKubeletLocalMode bootstraps against its own API server, which is
//! not up yet: its wait is kubelet-wait-bootstrap's, after etcd-join.

use k8s_openapi::api::core::v1::Node;
use kube::api::Api;

use super::{joined, tls_bootstrap, BOOTSTRAP_KUBECONFIG};
use crate::domain::pki::cert;
use crate::steps::kubelet;
use crate::workflow::{failed, JoinData, NodeData, PhaseContext, PhaseError};

const KUBECONFIG_MODE: u32 = 0o600;
const CA_MODE: u32 = 0o644;

pub fn run(ctx: &mut PhaseContext<'_, JoinData>) -> Result<Vec<String>, PhaseError> {
    let cluster = joined(ctx)?.clone();
    let ca_path = ctx.data.target.facts.ca_cert_path.clone();
    let node = ctx.data.config().init.node_registration.name.clone();
    // A re-run after a finished bootstrap keeps the kubelet's own credentials.
    let bootstrapped = bootstrapped(ctx, &cluster)?;
    if bootstrapped {
        ctx.sink.line(&format!(
            "[kubelet-start] {} already holds working credentials for {node}; no TLS bootstrap needed",
            super::KUBELET_KUBECONFIG
        ));
    } else {
        let text = match super::kubelet_local_mode(ctx) {
            true => cluster.bootstrap_kubeconfig_at(&crate::steps::kubeconfig::local_endpoint(
                ctx.data.config(),
            )),
            false => cluster.bootstrap_kubeconfig(),
        }
        .map_err(failed)?;
        ctx.effects
            .write_file(BOOTSTRAP_KUBECONFIG, text.as_bytes(), KUBECONFIG_MODE)
            .map_err(failed)?;
    }
    if ctx.effects.read_file(&ca_path).map_err(failed)?.is_none() {
        ctx.effects
            .write_file(&ca_path, &cluster.info.ca_pem, CA_MODE)
            .map_err(failed)?;
    }
    if !bootstrapped {
        ctx.live(|_| Vec::new(), |_| refuse_ready_namesake(&cluster, &node))?;
    }
    // The worker's own taints go with its registration; a control plane's come from
    // mark-control-plane.
    let taints = match super::is_control_plane(ctx) {
        true => Vec::new(),
        false => ctx
            .data
            .config()
            .init
            .node_registration
            .taints
            .clone()
            .unwrap_or_default(),
    };
    let warnings = kubelet::write_and_start(ctx, &taints)?;
    // The kubelet reads these files now, not at the end of the phase.
    ctx.effects.commit().map_err(failed)?;
    if super::kubelet_local_mode(ctx) {
        return Ok(warnings);
    }
    wait_for_bootstrap(ctx, &cluster, bootstrapped)?;
    Ok(warnings)
}

/// Whether kubelet.conf already holds working credentials of this node, signed by the cluster CA.
pub fn bootstrapped(
    ctx: &PhaseContext<'_, JoinData>,
    cluster: &super::JoinedCluster,
) -> Result<bool, PhaseError> {
    let node = &ctx.data.config().init.node_registration.name;
    let ca = cert::parse_pem(&cluster.info.ca_pem, "the cluster CA").map_err(failed)?;
    Ok(tls_bootstrap::problem(ctx.effects, &ca, node).is_none())
}

/// Waits for a healthy kubelet and its TLS bootstrap, then removes the bootstrap kubeconfig, whose
/// token has done its work.
pub fn wait_for_bootstrap(
    ctx: &mut PhaseContext<'_, JoinData>,
    cluster: &super::JoinedCluster,
    bootstrapped: bool,
) -> Result<(), PhaseError> {
    crate::steps::wait::kubelet_for_join(ctx)?;
    let would = format!("wait for the kubelet's TLS bootstrap, then remove {BOOTSTRAP_KUBECONFIG}");
    ctx.live(
        |_| vec![would],
        |ctx| {
            if !bootstrapped {
                tls_bootstrap::wait(ctx, cluster)?;
            }
            ctx.effects.remove(BOOTSTRAP_KUBECONFIG).map_err(failed)
        },
    )?;
    Ok(())
}

/// kubeadm refuses to take over the name of a Node that is Ready: two kubelets would fight over it.
fn refuse_ready_namesake(cluster: &super::JoinedCluster, node: &str) -> Result<(), PhaseError> {
    let session = cluster.session().map_err(failed)?;
    let nodes: Api<Node> = Api::all(session.client());
    let found = session.call(&format!("get Node {node}"), || {
        let nodes = nodes.clone();
        let node = node.to_string();
        async move { nodes.get_opt(&node).await }
    });
    let existing = found.map_err(failed)?;
    let ready = existing
        .and_then(|n| n.status)
        .and_then(|s| s.conditions)
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    if ready {
        return Err(failed(format!(
            "a Node named {node:?} already exists in the cluster and is Ready: delete it first (`kubectl delete node {node}`) or join under another name with --node-name"
        )));
    }
    Ok(())
}
