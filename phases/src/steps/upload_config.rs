//! `kinit init phase upload-config`: the ClusterConfiguration into `kubeadm-config` and the kubelet's
//! component config into `kubelet-config`, each with the Role and RoleBinding that let joining
//! nodes read it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use openssl::sha::Sha256;
use serde_json::{json, Value};

use crate::domain::config::resolve::InitConfig;
use crate::exec::api::{rbac, ApiObject};
use crate::workflow::cluster;
use crate::workflow::{failed, InitData, NodeData, PhaseContext, PhaseError};

pub const KUBE_SYSTEM: &str = "kube-system";
pub const KUBEADM_CONFIG: &str = "kubeadm-config";
pub const KUBELET_CONFIG: &str = "kubelet-config";
pub const HASH_ANNOTATION: &str = "kubeadm.kubernetes.io/component-config.hash";
pub const CRI_SOCKET_ANNOTATION: &str = "kubeadm.alpha.kubernetes.io/cri-socket";

/// Whether the node's CRI socket is recorded on its Node object: kubeadm stopped when the
/// `NodeLocalCRISocket` gate came on.
pub fn annotates_cri_socket(config: &InitConfig) -> bool {
    !crate::steps::kubelet::node_local_cri_socket(config)
}

pub fn config_map(namespace: &str, name: &str, data: BTreeMap<String, String>) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    }
}

/// kubeadm's signature of a generated component config: SHA-256 over the values of `data`, then
/// of `binaryData`, each in key order, keys themselves not hashed.
pub fn component_config_hash(config_map: &ConfigMap) -> String {
    let mut hasher = Sha256::new();
    for value in config_map.data.iter().flat_map(BTreeMap::values) {
        hasher.update(value.as_bytes());
    }
    for value in config_map.binary_data.iter().flat_map(BTreeMap::values) {
        hasher.update(&value.0);
    }
    let digest: String = hasher.finish().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{digest}")
}

/// Signs a ConfigMap kinit generated, so that a later kinit can tell it from one a user supplied.
pub fn sign(mut config_map: ConfigMap) -> ConfigMap {
    let hash = component_config_hash(&config_map);
    config_map
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(HASH_ANNOTATION.into(), hash);
    config_map
}

/// The ClusterConfiguration as kubeadm stores it: v1beta4, defaults filled in, keys sorted.
pub fn cluster_configuration_yaml(config: &InitConfig) -> Result<String, String> {
    let mut value = serde_json::to_value(&config.cluster).map_err(|e| e.to_string())?;
    // kubeadm resolves `stable-1` and friends before storing the version the cluster runs.
    value["kubernetesVersion"] = json!(config.version.text);
    value["apiVersion"] = json!("kubeadm.k8s.io/v1beta4");
    value["kind"] = json!("ClusterConfiguration");
    crate::domain::config::to_yaml(&value)
}

pub fn kubeadm_config_objects(config: &InitConfig) -> Result<Vec<ApiObject>, String> {
    let data = BTreeMap::from([(
        "ClusterConfiguration".to_string(),
        cluster_configuration_yaml(config)?,
    )]);
    let mut objects = vec![ApiObject::new(&config_map(
        KUBE_SYSTEM,
        KUBEADM_CONFIG,
        data,
    ))];
    objects.extend(rbac::may_get(
        KUBE_SYSTEM,
        "kubeadm:nodes-kubeadm-config",
        "configmaps",
        KUBEADM_CONFIG,
        vec![
            rbac::group(rbac::NODE_BOOTSTRAPPERS),
            rbac::group(rbac::NODES),
        ],
    ));
    Ok(objects)
}

pub fn kubelet_config_objects(
    config: &InitConfig,
    kubelet: &Value,
) -> Result<Vec<ApiObject>, String> {
    let data = BTreeMap::from([(
        "kubelet".to_string(),
        crate::domain::config::to_yaml(kubelet)?,
    )]);
    let mut config_map = config_map(KUBE_SYSTEM, KUBELET_CONFIG, data);
    // A configuration the user wrote stays theirs: kubeadm signs only the ones it generated.
    if config.kubelet.is_none() {
        config_map = sign(config_map);
    }
    let mut objects = vec![ApiObject::new(&config_map)];
    objects.extend(rbac::may_get(
        KUBE_SYSTEM,
        "kubeadm:kubelet-config",
        "configmaps",
        KUBELET_CONFIG,
        vec![
            rbac::group(rbac::NODES),
            rbac::group(rbac::NODE_BOOTSTRAPPERS),
        ],
    ));
    Ok(objects)
}

/// The kubelet-config objects for this node's view of the kubelet configuration.
pub fn kubelet_objects(ctx: &PhaseContext<'_, InitData>) -> Result<Vec<ApiObject>, PhaseError> {
    let host = crate::steps::kubelet::host_facts(ctx.host);
    let (kubelet, _) = crate::steps::kubelet::config::build(ctx.data.config(), host);
    kubelet_config_objects(ctx.data.config(), &kubelet).map_err(failed)
}

/// The kubeadm-config ConfigMap and its RBAC, applied when the API session opens.
pub fn kubeadm_ahead(
    ctx: &mut PhaseContext<'_, InitData>,
    session: &crate::exec::api::Session,
) -> Result<Option<crate::exec::api::Work>, PhaseError> {
    let objects = kubeadm_config_objects(ctx.data.config()).map_err(failed)?;
    Ok(Some(session.apply_work(objects)))
}

/// The kubelet-config ConfigMap and its RBAC, applied when the API session opens.
pub fn kubelet_ahead(
    ctx: &mut PhaseContext<'_, InitData>,
    session: &crate::exec::api::Session,
) -> Result<Option<crate::exec::api::Work>, PhaseError> {
    Ok(Some(session.apply_work(kubelet_objects(ctx)?)))
}

pub fn run_kubeadm<D: NodeData>(ctx: &mut PhaseContext<'_, D>) -> Result<Vec<String>, PhaseError> {
    ctx.sink.line(&format!(
        "[upload-config] Storing the configuration used in ConfigMap {KUBEADM_CONFIG:?} in the {KUBE_SYSTEM:?} Namespace"
    ));
    let objects = kubeadm_config_objects(ctx.data.config()).map_err(failed)?;
    cluster::apply(ctx, &objects)?;
    Ok(Vec::new())
}

pub fn run_kubelet<D: NodeData>(ctx: &mut PhaseContext<'_, D>) -> Result<Vec<String>, PhaseError> {
    ctx.sink.line(&format!(
        "[kubelet] Creating a ConfigMap {KUBELET_CONFIG:?} in namespace {KUBE_SYSTEM} with the configuration for the kubelets in the cluster"
    ));
    let (kubelet, _) = crate::steps::kubelet::config::build(
        ctx.data.config(),
        crate::steps::kubelet::host_facts(ctx.host),
    );
    let objects = kubelet_config_objects(ctx.data.config(), &kubelet).map_err(failed)?;
    cluster::apply(ctx, &objects)?;
    if annotates_cri_socket(ctx.data.config()) {
        let node = ctx.data.config().init.node_registration.name.clone();
        let socket = ctx.data.config().init.node_registration.cri_socket.clone();
        let patch = json!({"metadata": {"annotations": {CRI_SOCKET_ANNOTATION: socket}}});
        let what = format!("annotate Node {node} with {CRI_SOCKET_ANNOTATION}={socket}");
        cluster::patch_node(ctx, &node, &what, &patch)?;
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_covers_values_in_key_order_and_not_the_keys() {
        let one = config_map(
            "ns",
            "a",
            BTreeMap::from([("b".into(), "2".into()), ("a".into(), "1".into())]),
        );
        let renamed = config_map(
            "ns",
            "a",
            BTreeMap::from([("y".into(), "2".into()), ("x".into(), "1".into())]),
        );
        // sha256("12"), computed independently with `printf 12 | sha256sum`.
        assert_eq!(
            component_config_hash(&one),
            "sha256:6b51d431df5d7f141cbececcf79edf3dd861c3b4069f0b11661a3eefacbba918"
        );
        assert_eq!(component_config_hash(&one), component_config_hash(&renamed));
    }
}
