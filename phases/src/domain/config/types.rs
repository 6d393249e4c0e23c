//! kubeadm's `kubeadm.k8s.io/v1beta4` configuration kinds, field for field, with the JSON names kubeadm uses.
//! Fields kubeadm writes even when empty are not skipped; the rest are skipped when empty.

use super::duration::GoDuration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn is_false(value: &bool) -> bool {
    !*value
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapToken {
    pub token: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ttl: Option<GoDuration>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expires: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub usages: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub groups: Vec<String>,
}

/// One command-line argument of a component; a list, so an argument may be repeated.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Arg {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    pub key: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub value: String,
    pub effect: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time_added: Option<String>,
}

/// A container environment variable as core/v1 EnvVar; `valueFrom` is kept as given.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value_from: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostPathMount {
    pub name: String,
    pub host_path: String,
    pub mount_path: String,
    #[serde(skip_serializing_if = "is_false", default)]
    pub read_only: bool,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub path_type: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRegistrationOptions {
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub cri_socket: String,
    /// `None` (written `null`) means the default control-plane taint; `Some([])` means no taints.
    #[serde(default)]
    pub taints: Option<Vec<Taint>>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub kubelet_extra_args: Vec<Arg>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub ignore_preflight_errors: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub image_pull_policy: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub image_pull_serial: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiEndpoint {
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub advertise_address: String,
    #[serde(skip_serializing_if = "is_zero", default)]
    pub bind_port: i32,
}

fn is_zero(value: &i32) -> bool {
    *value == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Patches {
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub directory: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeouts {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub control_plane_component_health_check: Option<GoDuration>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kubelet_health_check: Option<GoDuration>,
    #[serde(
        rename = "kubernetesAPICall",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub kubernetes_api_call: Option<GoDuration>,
    #[serde(
        rename = "etcdAPICall",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub etcd_api_call: Option<GoDuration>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tls_bootstrap: Option<GoDuration>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub discovery: Option<GoDuration>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub upgrade_manifests: Option<GoDuration>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitConfiguration {
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub bootstrap_tokens: Vec<BootstrapToken>,
    #[serde(skip_serializing_if = "is_false", default)]
    pub dry_run: bool,
    #[serde(default)]
    pub node_registration: NodeRegistrationOptions,
    #[serde(rename = "localAPIEndpoint", default)]
    pub local_api_endpoint: ApiEndpoint,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub certificate_key: String,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub skip_phases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub patches: Option<Patches>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timeouts: Option<Timeouts>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneComponent {
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub extra_args: Vec<Arg>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub extra_volumes: Vec<HostPathMount>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub extra_envs: Vec<EnvVar>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiServer {
    // Spelled out rather than flattened from ControlPlaneComponent: serde's flatten would swallow
    // unknown fields silently, and strict decoding must see them.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub extra_args: Vec<Arg>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub extra_volumes: Vec<HostPathMount>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub extra_envs: Vec<EnvVar>,
    #[serde(rename = "certSANs", skip_serializing_if = "Vec::is_empty", default)]
    pub cert_sans: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dns {
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub image_repository: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub image_tag: String,
    #[serde(skip_serializing_if = "is_false", default)]
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Proxy {
    #[serde(skip_serializing_if = "is_false", default)]
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalEtcd {
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub image_repository: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub image_tag: String,
    #[serde(default)]
    pub data_dir: String,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub extra_args: Vec<Arg>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub extra_envs: Vec<EnvVar>,
    #[serde(
        rename = "serverCertSANs",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub server_cert_sans: Vec<String>,
    #[serde(
        rename = "peerCertSANs",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub peer_cert_sans: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalEtcd {
    #[serde(default)]
    pub endpoints: Vec<String>,
    #[serde(default)]
    pub ca_file: String,
    #[serde(default)]
    pub cert_file: String,
    #[serde(default)]
    pub key_file: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Etcd {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub local: Option<LocalEtcd>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub external: Option<ExternalEtcd>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Networking {
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub service_subnet: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub pod_subnet: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub dns_domain: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfiguration {
    #[serde(rename = "apiServer", default)]
    pub api_server: ApiServer,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ca_certificate_validity_period: Option<GoDuration>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub certificate_validity_period: Option<GoDuration>,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub certificates_dir: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub cluster_name: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub control_plane_endpoint: String,
    #[serde(default)]
    pub controller_manager: ControlPlaneComponent,
    #[serde(default)]
    pub dns: Dns,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub encryption_algorithm: String,
    #[serde(default)]
    pub etcd: Etcd,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub feature_gates: BTreeMap<String, bool>,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub image_repository: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub kubernetes_version: String,
    #[serde(default)]
    pub networking: Networking,
    #[serde(default)]
    pub proxy: Proxy,
    #[serde(default)]
    pub scheduler: ControlPlaneComponent,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapTokenDiscovery {
    #[serde(default)]
    pub token: String,
    #[serde(
        rename = "apiServerEndpoint",
        skip_serializing_if = "String::is_empty",
        default
    )]
    pub api_server_endpoint: String,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub ca_cert_hashes: Vec<String>,
    #[serde(
        rename = "unsafeSkipCAVerification",
        skip_serializing_if = "is_false",
        default
    )]
    pub unsafe_skip_ca_verification: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileDiscovery {
    #[serde(default)]
    pub kube_config_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Discovery {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bootstrap_token: Option<BootstrapTokenDiscovery>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file: Option<FileDiscovery>,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub tls_bootstrap_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinControlPlane {
    #[serde(rename = "localAPIEndpoint", default)]
    pub local_api_endpoint: ApiEndpoint,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub certificate_key: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinConfiguration {
    #[serde(
        rename = "caCertPath",
        skip_serializing_if = "String::is_empty",
        default
    )]
    pub ca_cert_path: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub control_plane: Option<JoinControlPlane>,
    #[serde(default)]
    pub discovery: Discovery,
    #[serde(skip_serializing_if = "is_false", default)]
    pub dry_run: bool,
    #[serde(default)]
    pub node_registration: NodeRegistrationOptions,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub patches: Option<Patches>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub skip_phases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timeouts: Option<Timeouts>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetConfiguration {
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub certificates_dir: String,
    #[serde(skip_serializing_if = "is_false", default)]
    pub cleanup_tmp_dir: bool,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub cri_socket: String,
    #[serde(skip_serializing_if = "is_false", default)]
    pub dry_run: bool,
    #[serde(skip_serializing_if = "is_false", default)]
    pub force: bool,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub ignore_preflight_errors: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub skip_phases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timeouts: Option<Timeouts>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub unmount_flags: Vec<String>,
}

/// kubeadm's v1beta4 UpgradeConfiguration: the settings of `upgrade apply`, `node`, `plan` and
/// `diff`, and the timeouts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeConfiguration {
    #[serde(default)]
    pub apply: UpgradeApplyConfiguration,
    #[serde(default)]
    pub node: UpgradeNodeConfiguration,
    #[serde(default)]
    pub plan: UpgradePlanConfiguration,
    #[serde(default)]
    pub diff: UpgradeDiffConfiguration,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timeouts: Option<Timeouts>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeApplyConfiguration {
    #[serde(default)]
    pub kubernetes_version: String,
    #[serde(default)]
    pub allow_experimental_upgrades: Option<bool>,
    #[serde(rename = "allowRCUpgrades", default)]
    pub allow_rc_upgrades: Option<bool>,
    #[serde(default)]
    pub certificate_renewal: Option<bool>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    #[serde(default)]
    pub etcd_upgrade: Option<bool>,
    #[serde(default)]
    pub force_upgrade: Option<bool>,
    #[serde(default)]
    pub ignore_preflight_errors: Vec<String>,
    #[serde(default)]
    pub patches: Option<Patches>,
    #[serde(default)]
    pub print_config: Option<bool>,
    #[serde(default)]
    pub skip_phases: Vec<String>,
    #[serde(default)]
    pub image_pull_policy: String,
    #[serde(default)]
    pub image_pull_serial: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeNodeConfiguration {
    #[serde(default)]
    pub certificate_renewal: Option<bool>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    #[serde(default)]
    pub etcd_upgrade: Option<bool>,
    #[serde(default)]
    pub ignore_preflight_errors: Vec<String>,
    #[serde(default)]
    pub skip_phases: Vec<String>,
    #[serde(default)]
    pub patches: Option<Patches>,
    #[serde(default)]
    pub image_pull_policy: String,
    #[serde(default)]
    pub image_pull_serial: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradePlanConfiguration {
    #[serde(default)]
    pub kubernetes_version: String,
    #[serde(default)]
    pub allow_experimental_upgrades: Option<bool>,
    #[serde(rename = "allowRCUpgrades", default)]
    pub allow_rc_upgrades: Option<bool>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    #[serde(default)]
    pub etcd_upgrade: Option<bool>,
    #[serde(default)]
    pub ignore_preflight_errors: Vec<String>,
    #[serde(default)]
    pub print_config: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeDiffConfiguration {
    #[serde(default)]
    pub kubernetes_version: String,
    #[serde(default)]
    pub context_lines: i32,
}
