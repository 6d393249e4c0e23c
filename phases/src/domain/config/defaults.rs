//! kubeadm's v1beta4 defaults (SetDefaults_*), and the dynamic ones taken from the host.

use super::duration::GoDuration;
use super::types::*;
use std::path::Path;

pub const DEFAULT_SERVICE_SUBNET: &str = "10.96.0.0/12";
pub const DEFAULT_DNS_DOMAIN: &str = "cluster.local";
pub use crate::domain::layout::PKI_DIR as DEFAULT_CERTIFICATES_DIR;
pub const DEFAULT_IMAGE_REPOSITORY: &str = "registry.k8s.io";
pub const DEFAULT_CLUSTER_NAME: &str = "kubernetes";
pub use crate::domain::layout::ETCD_DATA_DIR as DEFAULT_ETCD_DATA_DIR;
pub const DEFAULT_ENCRYPTION_ALGORITHM: &str = "RSA-2048";
pub use crate::domain::layout::CA_CERT as DEFAULT_CA_CERT_PATH;
pub const DEFAULT_BIND_PORT: i32 = 6443;
pub const DEFAULT_CRI_SOCKET: &str = "unix:///var/run/containerd/containerd.sock";
pub const DEFAULT_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";
pub const DEFAULT_TOKEN_TTL: GoDuration = GoDuration::from_secs(24 * 3600);
pub const DEFAULT_KUBERNETES_VERSION_LABEL: &str = "stable-1";
pub const KNOWN_CRI_SOCKETS: [&str; 3] = [
    "unix:///var/run/containerd/containerd.sock",
    "unix:///var/run/crio/crio.sock",
    "unix:///var/run/cri-dockerd.sock",
];

pub fn timeouts(timeouts: &mut Option<Timeouts>) {
    let t = timeouts.get_or_insert_with(Timeouts::default);
    t.control_plane_component_health_check
        .get_or_insert(GoDuration::from_secs(240));
    t.kubelet_health_check
        .get_or_insert(GoDuration::from_secs(240));
    t.kubernetes_api_call
        .get_or_insert(GoDuration::from_secs(60));
    t.etcd_api_call.get_or_insert(GoDuration::from_secs(120));
    t.tls_bootstrap.get_or_insert(GoDuration::from_secs(300));
    t.discovery.get_or_insert(GoDuration::from_secs(300));
    t.upgrade_manifests
        .get_or_insert(GoDuration::from_secs(300));
}

pub fn node_registration(node: &mut NodeRegistrationOptions) {
    if node.image_pull_policy.is_empty() {
        node.image_pull_policy = "IfNotPresent".into();
    }
    node.image_pull_serial.get_or_insert(true);
}

pub fn bootstrap_tokens(tokens: &mut Vec<BootstrapToken>) {
    if tokens.is_empty() {
        tokens.push(BootstrapToken::default());
    }
    for token in tokens {
        if token.ttl.is_none() && token.expires.is_none() {
            token.ttl = Some(DEFAULT_TOKEN_TTL);
        }
        if token.usages.is_empty() {
            token.usages = vec!["signing".into(), "authentication".into()];
        }
        if token.groups.is_empty() {
            token.groups = vec![DEFAULT_TOKEN_GROUP.into()];
        }
    }
}

pub fn api_endpoint(endpoint: &mut ApiEndpoint) {
    if endpoint.bind_port == 0 {
        endpoint.bind_port = DEFAULT_BIND_PORT;
    }
}

pub fn init(init: &mut InitConfiguration) {
    bootstrap_tokens(&mut init.bootstrap_tokens);
    api_endpoint(&mut init.local_api_endpoint);
    node_registration(&mut init.node_registration);
    timeouts(&mut init.timeouts);
}

pub fn cluster(cluster: &mut ClusterConfiguration) {
    let set = |field: &mut String, value: &str| {
        if field.is_empty() {
            *field = value.to_string();
        }
    };
    set(
        &mut cluster.kubernetes_version,
        DEFAULT_KUBERNETES_VERSION_LABEL,
    );
    set(
        &mut cluster.networking.service_subnet,
        DEFAULT_SERVICE_SUBNET,
    );
    set(&mut cluster.networking.dns_domain, DEFAULT_DNS_DOMAIN);
    set(&mut cluster.certificates_dir, DEFAULT_CERTIFICATES_DIR);
    set(&mut cluster.image_repository, DEFAULT_IMAGE_REPOSITORY);
    set(&mut cluster.cluster_name, DEFAULT_CLUSTER_NAME);
    set(
        &mut cluster.encryption_algorithm,
        DEFAULT_ENCRYPTION_ALGORITHM,
    );
    cluster
        .certificate_validity_period
        .get_or_insert(GoDuration::from_secs(8760 * 3600));
    cluster
        .ca_certificate_validity_period
        .get_or_insert(GoDuration::from_secs(87600 * 3600));
    if cluster.etcd.local.is_none() && cluster.etcd.external.is_none() {
        cluster.etcd.local = Some(LocalEtcd::default());
    }
    if let Some(local) = &mut cluster.etcd.local {
        set(&mut local.data_dir, DEFAULT_ETCD_DATA_DIR);
    }
}

pub fn join(join: &mut JoinConfiguration) {
    if join.ca_cert_path.is_empty() {
        join.ca_cert_path = DEFAULT_CA_CERT_PATH.into();
    }
    if let Some(control_plane) = &mut join.control_plane {
        api_endpoint(&mut control_plane.local_api_endpoint);
    }
    if join.discovery.tls_bootstrap_token.is_empty() {
        if let Some(token) = &join.discovery.bootstrap_token {
            join.discovery.tls_bootstrap_token = token.token.clone();
        }
    }
    if let Some(file) = &mut join.discovery.file {
        if let Some(path) = file.kube_config_path.strip_prefix("file://") {
            file.kube_config_path = path.to_string();
        }
    }
    node_registration(&mut join.node_registration);
    timeouts(&mut join.timeouts);
}

pub fn reset(reset: &mut ResetConfiguration) {
    if reset.certificates_dir.is_empty() {
        reset.certificates_dir = DEFAULT_CERTIFICATES_DIR.into();
    }
    timeouts(&mut reset.timeouts);
}

/// The node name kubeadm uses by default: the hostname, lowercased.
pub fn node_name() -> Result<String, String> {
    let name = nix::unistd::gethostname().map_err(|e| format!("cannot read the hostname: {e}"))?;
    Ok(name.to_string_lossy().trim().to_lowercase())
}

/// The first known CRI socket present under `root`, or containerd's when none is (kubeadm's detection).
pub fn cri_socket(root: &Path) -> Result<String, String> {
    let found: Vec<&str> = KNOWN_CRI_SOCKETS
        .iter()
        .copied()
        .filter(|socket| root.join(socket.trim_start_matches("unix:///")).exists())
        .collect();
    match found.as_slice() {
        [] => Ok(DEFAULT_CRI_SOCKET.to_string()),
        [one] => Ok(one.to_string()),
        many => Err(format!(
            "found multiple CRI endpoints on the host ({}): choose one with --cri-socket or nodeRegistration.criSocket",
            many.join(", ")
        )),
    }
}

/// The IPv4 address of the interface that holds the default route, as kubeadm picks the advertise address.
pub fn advertise_address(root: &Path) -> Result<String, String> {
    let routes = std::fs::read_to_string(root.join("proc/net/route"))
        .map_err(|e| format!("cannot read the routing table (/proc/net/route): {e}"))?;
    let interface = routes
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|fields| fields.len() > 2 && fields[1] == "00000000")
        .map(|fields| fields[0].to_string())
        .ok_or("this machine has no default route, so no advertise address can be chosen")?;
    let addresses = nix::ifaddrs::getifaddrs()
        .map_err(|e| format!("cannot list the network interfaces: {e}"))?;
    for address in addresses.filter(|a| a.interface_name == interface) {
        if let Some(ip) = address.address.as_ref().and_then(|a| a.as_sockaddr_in()) {
            return Ok(ip.ip().to_string());
        }
    }
    Err(format!(
        "the default-route interface {interface} has no IPv4 address"
    ))
}
