//! `kinit init phase bootstrap-token`: the configured tokens' Secrets, the RBAC that lets their
//! holders join (read nodes, post CSRs that are approved automatically), and the `cluster-info`
//! ConfigMap anonymous clients discover the cluster from.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

use crate::domain::config::resolve::InitConfig;
use crate::domain::kubeconfig::{base64, Kubeconfig};
use crate::domain::pki::cert::now_unix;
use crate::domain::token::TokenSecret;
use crate::exec::api::{rbac, ApiObject};
use crate::steps::upload_config::config_map;
use crate::workflow::cluster;
use crate::workflow::{failed, InitData, NodeData, PhaseContext, PhaseError};

pub const KUBE_PUBLIC: &str = "kube-public";
pub const CLUSTER_INFO: &str = "cluster-info";

/// An existing token Secret that grants the same and has not expired is left as it is.
fn token_still_serves(existing: &Value, desired: &Value) -> bool {
    let read = |v: &Value| {
        serde_json::from_value::<Secret>(v.clone())
            .ok()
            .and_then(|s| TokenSecret::from_secret(&s).ok())
    };
    match (read(existing), read(desired)) {
        (Some(existing), Some(desired)) => desired.satisfied_by(&existing, now_unix()),
        _ => false,
    }
}

pub fn token_objects(config: &InitConfig, now: i64) -> Result<Vec<ApiObject>, String> {
    config
        .init
        .bootstrap_tokens
        .iter()
        .map(|token| {
            let secret = TokenSecret::from_config(token, now)?.to_secret();
            Ok(ApiObject::new(&secret).update_unless(token_still_serves))
        })
        .collect()
}

/// kubeadm 1.33.12, 1.34.8 and every later release let the API server's kubelet client certificate
/// reach the kubelet API through a binding of its own.
fn binds_apiserver_kubelet_client(config: &InitConfig) -> bool {
    let v = &config.version;
    (v.major, v.minor) > (1, 34)
        || (v.minor == 34 && v.patch >= 8)
        || (v.minor == 33 && v.patch >= 12)
}

/// The RBAC of bootstrap tokens, with the line kubeadm prints for each part.
fn rbac_objects(config: &InitConfig) -> Vec<(Option<&'static str>, ApiObject)> {
    let bootstrappers = || vec![rbac::group(rbac::NODE_BOOTSTRAPPERS)];
    let mut objects = vec![
        (
            Some("Configured RBAC rules to allow Node Bootstrap tokens to get nodes"),
            rbac::cluster_role("kubeadm:get-nodes", vec![rbac::rule(&[""], &["nodes"], &["get"])]),
        ),
        (None, rbac::cluster_role_binding("kubeadm:get-nodes", "kubeadm:get-nodes", bootstrappers())),
        (
            Some("Configured RBAC rules to allow Node Bootstrap tokens to post CSRs in order for nodes to get long term certificate credentials"),
            rbac::cluster_role_binding("kubeadm:kubelet-bootstrap", "system:node-bootstrapper", bootstrappers()),
        ),
        (
            Some("Configured RBAC rules to allow the csrapprover controller automatically approve CSRs from a Node Bootstrap Token"),
            rbac::cluster_role_binding(
                "kubeadm:node-autoapprove-bootstrap",
                "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
                bootstrappers(),
            ),
        ),
        (
            Some("Configured RBAC rules to allow certificate rotation for all node client certificates in the cluster"),
            rbac::cluster_role_binding(
                "kubeadm:node-autoapprove-certificate-rotation",
                "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
                vec![rbac::group(rbac::NODES)],
            ),
        ),
    ];
    if binds_apiserver_kubelet_client(config) {
        objects.push((
            Some("Configured RBAC rules to allow the API server kubelet client certificate to access the kubelet API"),
            rbac::cluster_role_binding(
                "kubeadm:apiserver-kubelet-client",
                "system:kubelet-api-admin",
                vec![rbac::user("kube-apiserver-kubelet-client")],
            ),
        ));
    }
    objects
}

/// The kubeconfig `cluster-info` publishes: admin.conf's server and CA under a cluster named "",
/// nothing else. Written out as kubeadm's client library serializes it, because joining nodes
/// compare it byte for byte with what they fetch again over verified TLS.
pub fn cluster_info_kubeconfig(server: &str, ca_data_base64: &str) -> String {
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {ca_data_base64}\n    server: {server}\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\nusers: null\n"
    )
}

fn cluster_info_objects(ctx: &PhaseContext<'_, InitData>) -> Result<Vec<ApiObject>, PhaseError> {
    let path = &ctx.data.kubeconfig;
    let admin = Kubeconfig::read_admin(|p| ctx.effects.read_file(p), path).map_err(failed)?;
    let (cluster, _) = admin
        .current()
        .ok_or_else(|| failed(format!("{path} has no current context")))?;
    // A CA given as a file is inlined: cluster-info must stand on its own.
    let ca = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(data), _) => data.clone(),
        (None, Some(file)) => base64(
            &ctx.effects
                .read_file(file)
                .map_err(failed)?
                .ok_or_else(|| failed(format!("{file}, the CA of {path}, does not exist")))?,
        ),
        (None, None) => return Err(failed(format!("{path} names no certificate authority"))),
    };
    let data = BTreeMap::from([(
        "kubeconfig".to_string(),
        cluster_info_kubeconfig(&cluster.server, &ca),
    )]);
    let mut objects = vec![ApiObject::new(&config_map(KUBE_PUBLIC, CLUSTER_INFO, data))];
    objects.extend(rbac::may_get(
        KUBE_PUBLIC,
        "kubeadm:bootstrap-signer-clusterinfo",
        "configmaps",
        CLUSTER_INFO,
        vec![rbac::user("system:anonymous")],
    ));
    Ok(objects)
}

/// `upgrade apply phase bootstrap-token`: the tokens' RBAC and cluster-info's RBAC made again, as
/// kubeadm's upgrade does (the tokens and cluster-info itself are left as they are).
pub fn run_upgrade<D: NodeData>(ctx: &mut PhaseContext<'_, D>) -> Result<Vec<String>, PhaseError> {
    ctx.sink
        .line("[upgrade/bootstrap-token] Configuring bootstrap token and cluster-info RBAC rules");
    let rbac = rbac_objects(ctx.data.config());
    for line in rbac.iter().filter_map(|(line, _)| *line) {
        ctx.sink.line(&format!("[bootstrap-token] {line}"));
    }
    let mut objects: Vec<ApiObject> = rbac.into_iter().map(|(_, object)| object).collect();
    objects.extend(rbac::may_get(
        KUBE_PUBLIC,
        "kubeadm:bootstrap-signer-clusterinfo",
        "configmaps",
        CLUSTER_INFO,
        vec![rbac::user("system:anonymous")],
    ));
    cluster::apply(ctx, &objects)?;
    Ok(Vec::new())
}

/// Every object of the phase: the tokens, their RBAC, cluster-info and its RBAC.
pub fn objects(ctx: &PhaseContext<'_, InitData>) -> Result<Vec<ApiObject>, PhaseError> {
    let mut objects = token_objects(ctx.data.config(), now_unix()).map_err(failed)?;
    objects.extend(
        rbac_objects(ctx.data.config())
            .into_iter()
            .map(|(_, object)| object),
    );
    objects.extend(cluster_info_objects(ctx)?);
    Ok(objects)
}

/// The tokens, their RBAC and cluster-info, applied when the API session opens.
pub fn ahead(
    ctx: &mut PhaseContext<'_, InitData>,
    session: &crate::exec::api::Session,
) -> Result<Option<crate::exec::api::Work>, PhaseError> {
    Ok(Some(session.apply_work(objects(ctx)?)))
}

pub fn run(ctx: &mut PhaseContext<'_, InitData>) -> Result<Vec<String>, PhaseError> {
    let tokens: Vec<String> = ctx
        .data
        .config()
        .init
        .bootstrap_tokens
        .iter()
        .filter_map(|t| t.token.clone())
        .collect();
    if !ctx.data.config().printing.skip_token_print {
        let shown: Vec<&str> = tokens.iter().map(|t| ctx.shown_secret(t)).collect();
        match shown.as_slice() {
            [one] => ctx
                .sink
                .line(&format!("[bootstrap-token] Using token: {one}")),
            many => ctx.sink.line(&format!(
                "[bootstrap-token] Using tokens: [{}]",
                many.join(" ")
            )),
        }
    }
    ctx.sink
        .line("[bootstrap-token] Configuring bootstrap tokens, cluster-info ConfigMap, RBAC Roles");
    for line in rbac_objects(ctx.data.config())
        .iter()
        .filter_map(|(line, _)| *line)
    {
        ctx.sink.line(&format!("[bootstrap-token] {line}"));
    }
    ctx.sink.line(&format!(
        "[bootstrap-token] Creating the {CLUSTER_INFO:?} ConfigMap in the {KUBE_PUBLIC:?} namespace"
    ));
    let objects = objects(ctx)?;
    cluster::apply(ctx, &objects)?;
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_info_is_kubeadms_text() {
        assert_eq!(
            cluster_info_kubeconfig("https://10.0.0.1:6443", "Q0E="),
            "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://10.0.0.1:6443
  name: \"\"
contexts: null
current-context: \"\"
kind: Config
users: null
"
        );
    }
}
