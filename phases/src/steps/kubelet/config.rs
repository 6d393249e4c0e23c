//! `/var/lib/kubelet/config.yaml`: the user's KubeletConfiguration with kubeadm's defaults filled in.
//! As in kubeadm, a value the user chose is kept even where kubeadm recommends another, with a
//! warning, except `rotateCertificates`, which the TLS bootstrap needs and is always on.

use crate::domain::component_config::{default_field, same, warning};
use crate::domain::config::resolve::InitConfig;
use crate::domain::manifests::flags;
use serde_json::{json, Map, Value};
use std::net::IpAddr;

pub const KIND: &str = "KubeletConfiguration";
pub const API_VERSION: &str = "kubelet.config.k8s.io/v1beta1";
pub const DEFAULT_HEALTHZ_BIND_ADDRESS: &str = "127.0.0.1";
pub const DEFAULT_HEALTHZ_PORT: i64 = 10248;
use crate::domain::layout::MANIFESTS_DIR as STATIC_POD_PATH;
const RESOLVED_RESOLV_CONF: &str = "/run/systemd/resolve/resolv.conf";
const FALLBACK_DNS_IP: &str = "10.96.0.10";

/// What kubeadm reads from the host for this file.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostFacts {
    /// systemd-resolved is running, so /etc/resolv.conf points at its stub (127.0.0.53), which pods
    /// cannot reach; the kubelet must hand them the real upstream list instead.
    pub resolved_active: bool,
}

/// The 10th address of the first service subnet: where CoreDNS's Service will live.
pub fn dns_ip(service_subnet: &str) -> Option<String> {
    let first = service_subnet.split(',').next()?.trim();
    let net: ipnet::IpNet = first.parse().ok()?;
    match net.network() {
        IpAddr::V4(v4) => u32::from(v4)
            .checked_add(10)
            .map(|n| std::net::Ipv4Addr::from(n).to_string()),
        IpAddr::V6(v6) => u128::from(v6)
            .checked_add(10)
            .map(|n| std::net::Ipv6Addr::from(n).to_string()),
    }
    .filter(|ip| net.contains(&ip.parse::<IpAddr>().unwrap_or(net.network())))
}

/// The KubeletConfiguration to write (before patches) and kubeadm's warnings about it.
pub fn build(config: &InitConfig, host: HostFacts) -> (Value, Vec<String>) {
    let mut root = match &config.kubelet {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    let mut warnings = Vec::new();
    let cluster = &config.cluster;
    let dns = dns_ip(&cluster.networking.service_subnet).unwrap_or(FALLBACK_DNS_IP.into());
    let fields: [(&[&str], Value); 9] = [
        (&["staticPodPath"], json!(STATIC_POD_PATH)),
        (&["clusterDNS"], json!([dns])),
        (&["clusterDomain"], json!(cluster.networking.dns_domain)),
        (
            &["authentication", "x509", "clientCAFile"],
            json!(flags::pki(config, "ca.crt")),
        ),
        (&["authentication", "anonymous", "enabled"], json!(false)),
        (&["authorization", "mode"], json!("Webhook")),
        (&["authentication", "webhook", "enabled"], json!(true)),
        (&["healthzBindAddress"], json!(DEFAULT_HEALTHZ_BIND_ADDRESS)),
        (&["healthzPort"], json!(DEFAULT_HEALTHZ_PORT)),
    ];
    for (path, recommended) in fields {
        default_field(KIND, &mut root, path, recommended, &mut warnings);
    }
    // kubeadm only warns here: the read-only port serves pod data without authentication.
    if let Some(port) = root.get("readOnlyPort").filter(|p| !same(p, &json!(0))) {
        warnings.push(warning(KIND, "readOnlyPort", &json!(0), port));
    }
    if root.get("rotateCertificates") == Some(&json!(false)) {
        warnings.push(format!(
            "\"rotateCertificates\" in {KIND:?} is always true with kinit, as with kubeadm: the kubelet's client certificate comes from the TLS bootstrap and must be renewed; the provided value false is ignored"
        ));
    }
    root.insert("rotateCertificates".into(), json!(true));
    if root
        .get("cgroupDriver")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        root.insert("cgroupDriver".into(), json!("systemd"));
    }
    if host.resolved_active {
        default_field(
            KIND,
            &mut root,
            &["resolvConf"],
            json!(RESOLVED_RESOLV_CONF),
            &mut warnings,
        );
    }
    root.retain(|key, value| !(OMITTED_WHEN_EMPTY.contains(&key.as_str()) && is_empty(value)));
    root.insert("apiVersion".into(), json!(API_VERSION));
    root.insert("kind".into(), json!(KIND));
    (Value::Object(root), warnings)
}

/// The KubeletConfiguration (v1beta1) fields that are plain Go values with `omitempty`: kubeadm decodes the
/// user's document into the Go type and writes it back, so a zero value given for one of them (`0`,
/// `false`, `""`, `{}`, `[]`) disappears from config.yaml. Pointer fields keep theirs, and struct fields
/// (durations, `logging`, `memorySwap`) are always written.
const OMITTED_WHEN_EMPTY: &[&str] = &[
    "staticPodPath",
    "podLogsDir",
    "staticPodURL",
    "staticPodURLHeader",
    "address",
    "port",
    "readOnlyPort",
    "tlsCertFile",
    "tlsPrivateKeyFile",
    "tlsCipherSuites",
    "tlsMinVersion",
    "rotateCertificates",
    "serverTLSBootstrap",
    "registryBurst",
    "imagePullCredentialsVerificationPolicy",
    "preloadedImagesVerificationAllowlist",
    "eventBurst",
    "enableContentionProfiling",
    "healthzBindAddress",
    "clusterDomain",
    "clusterDNS",
    "nodeLeaseDurationSeconds",
    "kubeletCgroups",
    "systemCgroups",
    "cgroupRoot",
    "cgroupDriver",
    "cpuManagerPolicy",
    "cpuManagerPolicyOptions",
    "memoryManagerPolicy",
    "topologyManagerPolicy",
    "topologyManagerScope",
    "topologyManagerPolicyOptions",
    "qosReserved",
    "hairpinMode",
    "maxPods",
    "podCIDR",
    "runOnce",
    "maxOpenFiles",
    "contentType",
    "kubeAPIBurst",
    "evictionHard",
    "evictionSoft",
    "evictionSoftGracePeriod",
    "evictionMaxPodGracePeriod",
    "evictionMinimumReclaim",
    "podsPerCore",
    "protectKernelDefaults",
    "featureGates",
    "containerLogMaxSize",
    "configMapAndSecretChangeDetectionStrategy",
    "systemReserved",
    "kubeReserved",
    "reservedSystemCPUs",
    "showHiddenMetricsForVersion",
    "systemReservedCgroup",
    "kubeReservedCgroup",
    "enforceNodeAllocatable",
    "allowedUnsafeSysctls",
    "volumePluginDir",
    "providerID",
    "kernelMemcgNotification",
    "shutdownGracePeriodByPodPriority",
    "reservedMemory",
    "registerWithTaints",
];

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Where the kubelet answers `/healthz`, as the configuration it will run with says.
pub fn healthz(value: &Value) -> (String, i64) {
    let address = value
        .get("healthzBindAddress")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .unwrap_or(DEFAULT_HEALTHZ_BIND_ADDRESS)
        .to_string();
    let port = value
        .get("healthzPort")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_HEALTHZ_PORT);
    (address, port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dns_address_is_the_tenth_of_the_first_subnet() {
        assert_eq!(dns_ip("10.96.0.0/12").as_deref(), Some("10.96.0.10"));
        assert_eq!(
            dns_ip("10.100.0.0/16,fd00::/108").as_deref(),
            Some("10.100.0.10")
        );
        assert_eq!(dns_ip("fd00::/108").as_deref(), Some("fd00::a"));
        assert_eq!(dns_ip("10.0.0.0/30"), None);
        assert_eq!(dns_ip("nonsense"), None);
    }
}
