//! kubeadm's certificate list (certlist.go): every certificate of a control-plane node, with its file,
//! signer, subject, usages and names, derived from the configuration.

use super::cert::{CertProfile, Usage};
use crate::domain::config::resolve::InitConfig;
use crate::domain::config::validate::{parse_cidrs, san_problem};
use std::net::IpAddr;

/// The children of `kinit init phase certs`, in kubeadm's order, with kubeadm's descriptions: every
/// certificate of `certificates` (which drops the etcd ones with external etcd), then `sa`.
pub const CERT_PHASES: [(&str, &str); 11] = [
    ("ca", "Generate the self-signed Kubernetes CA to provision identities for other Kubernetes components"),
    ("apiserver", "Generate the certificate for serving the Kubernetes API"),
    ("apiserver-kubelet-client", "Generate the certificate for the API server to connect to kubelet"),
    ("front-proxy-ca", "Generate the self-signed CA to provision identities for front proxy"),
    ("front-proxy-client", "Generate the certificate for the front proxy client"),
    ("etcd-ca", "Generate the self-signed CA to provision identities for etcd"),
    ("etcd-server", "Generate the certificate for serving etcd"),
    ("etcd-peer", "Generate the certificate for etcd nodes to communicate with each other"),
    ("etcd-healthcheck-client", "Generate the certificate for liveness probes to healthcheck etcd"),
    ("apiserver-etcd-client", "Generate the certificate the apiserver uses to access etcd"),
    ("sa", "Generate a private key for signing service account tokens along with its public key"),
];

#[derive(Debug, Clone)]
pub struct CertSpec {
    /// The child phase of `kinit init phase certs`.
    pub phase: &'static str,
    /// File name under the certificate folder, without `.crt`/`.key`.
    pub base: &'static str,
    /// `base` of the CA that signs it; `None` for a CA.
    pub ca: Option<&'static str>,
    pub profile: CertProfile,
}

/// The names one certificate ends up with: DNS names sorted and unique, IPs unique in the order given,
/// as kubeadm's RemoveDuplicateAltNames leaves them.
fn alt_names(dns: Vec<String>, ips: Vec<IpAddr>) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns = dns;
    dns.sort();
    dns.dedup();
    let mut unique_ips = Vec::new();
    for ip in ips {
        if !unique_ips.contains(&ip) {
            unique_ips.push(ip);
        }
    }
    (dns, unique_ips)
}

/// Adds user SANs: an IP if it parses, else a DNS name or wildcard; anything else is dropped with a warning.
fn add_user_sans(
    sans: &[String],
    cert: &str,
    dns: &mut Vec<String>,
    ips: &mut Vec<IpAddr>,
    warnings: &mut Vec<String>,
) {
    for san in sans {
        if let Ok(ip) = san.parse::<IpAddr>() {
            ips.push(ip);
        } else if san_problem(san).is_none() {
            dns.push(san.clone());
        } else {
            warnings.push(format!("{san:?} was not added to the {cert} SAN, because it is not a valid IP or RFC-1123 compliant DNS entry"));
        }
    }
}

/// The host of `host[:port]` or `[ipv6]:port`.
pub fn endpoint_host(endpoint: &str) -> &str {
    split_endpoint(endpoint).0
}

/// The host and the port, when a valid one is named, of `host[:port]` or `[ipv6][:port]` (a bare
/// IPv6 address is all host). Without a valid port the host is the whole text, brackets aside.
pub fn split_endpoint(endpoint: &str) -> (&str, Option<u16>) {
    if let Some(rest) = endpoint.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (rest, None),
        };
    }
    match endpoint.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (endpoint, None),
        },
        _ => (endpoint, None),
    }
}

/// The first address of the first service CIDR: the `kubernetes` Service's cluster IP.
pub fn api_server_service_ip(service_subnet: &str) -> Result<IpAddr, String> {
    let nets = parse_cidrs(service_subnet)?;
    let first = nets
        .first()
        .ok_or_else(|| format!("the service subnet {service_subnet:?} holds no CIDR"))?;
    let base = first.network();
    Ok(match base {
        IpAddr::V4(v4) => IpAddr::from(u32::from(v4).wrapping_add(1).to_be_bytes()),
        IpAddr::V6(v6) => IpAddr::from(u128::from(v6).wrapping_add(1).to_be_bytes()),
    })
}

fn profile(common_name: &str, organizations: &[&str], usages: &[Usage]) -> CertProfile {
    CertProfile {
        common_name: common_name.to_string(),
        organizations: organizations.iter().map(|o| o.to_string()).collect(),
        dns_names: Vec::new(),
        ips: Vec::new(),
        usages: usages.to_vec(),
        is_ca: false,
    }
}

fn ca_profile(common_name: &str) -> CertProfile {
    CertProfile {
        common_name: common_name.to_string(),
        organizations: Vec::new(),
        dns_names: vec![common_name.to_string()],
        ips: Vec::new(),
        usages: Vec::new(),
        is_ca: true,
    }
}

fn with_names(mut profile: CertProfile, dns: Vec<String>, ips: Vec<IpAddr>) -> CertProfile {
    (profile.dns_names, profile.ips) = alt_names(dns, ips);
    profile
}

/// Every certificate kubeadm makes for this configuration, in kubeadm's order; with external etcd the
/// etcd CA and the certificates it signs are left out. The strings are warnings about dropped SANs.
pub fn certificates(config: &InitConfig) -> Result<(Vec<CertSpec>, Vec<String>), String> {
    use Usage::{ClientAuth, ServerAuth};
    let cluster = &config.cluster;
    let node = config.init.node_registration.name.clone();
    let advertise: IpAddr = config
        .init
        .local_api_endpoint
        .advertise_address
        .parse()
        .map_err(|_| {
            format!(
                "the advertise address {:?} is not an IP address",
                config.init.local_api_endpoint.advertise_address
            )
        })?;
    let mut warnings = Vec::new();

    let mut api_dns = vec![
        node.clone(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
        format!("kubernetes.default.svc.{}", cluster.networking.dns_domain),
    ];
    let mut api_ips = vec![
        api_server_service_ip(&cluster.networking.service_subnet)?,
        advertise,
    ];
    if !cluster.control_plane_endpoint.is_empty() {
        let host = endpoint_host(&cluster.control_plane_endpoint);
        match host.parse::<IpAddr>() {
            Ok(ip) => api_ips.push(ip),
            Err(_) => api_dns.push(host.to_string()),
        }
    }
    add_user_sans(
        &cluster.api_server.cert_sans,
        "apiserver",
        &mut api_dns,
        &mut api_ips,
        &mut warnings,
    );

    let mut list = vec![
        CertSpec {
            phase: "ca",
            base: "ca",
            ca: None,
            profile: ca_profile("kubernetes"),
        },
        CertSpec {
            phase: "apiserver",
            base: "apiserver",
            ca: Some("ca"),
            profile: with_names(
                profile("kube-apiserver", &[], &[ServerAuth]),
                api_dns,
                api_ips,
            ),
        },
        CertSpec {
            phase: "apiserver-kubelet-client",
            base: "apiserver-kubelet-client",
            ca: Some("ca"),
            profile: profile(
                "kube-apiserver-kubelet-client",
                &["kubeadm:cluster-admins"],
                &[ClientAuth],
            ),
        },
        CertSpec {
            phase: "front-proxy-ca",
            base: "front-proxy-ca",
            ca: None,
            profile: ca_profile("front-proxy-ca"),
        },
        CertSpec {
            phase: "front-proxy-client",
            base: "front-proxy-client",
            ca: Some("front-proxy-ca"),
            profile: profile("front-proxy-client", &[], &[ClientAuth]),
        },
    ];
    if cluster.etcd.external.is_none() {
        let local = cluster.etcd.local.clone().unwrap_or_default();
        let loopbacks: [IpAddr; 2] = ["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
        let etcd_names = |extra: &[String], cert: &str, warnings: &mut Vec<String>| {
            let mut dns = vec![node.clone(), "localhost".to_string()];
            let mut ips = vec![advertise, loopbacks[0], loopbacks[1]];
            add_user_sans(extra, cert, &mut dns, &mut ips, warnings);
            (dns, ips)
        };
        let (server_dns, server_ips) =
            etcd_names(&local.server_cert_sans, "etcd/server", &mut warnings);
        let (peer_dns, peer_ips) = etcd_names(&local.peer_cert_sans, "etcd/peer", &mut warnings);
        list.extend([
            CertSpec {
                phase: "etcd-ca",
                base: "etcd/ca",
                ca: None,
                profile: ca_profile("etcd-ca"),
            },
            CertSpec {
                phase: "etcd-server",
                base: "etcd/server",
                ca: Some("etcd/ca"),
                profile: with_names(
                    profile(&node, &[], &[ServerAuth, ClientAuth]),
                    server_dns,
                    server_ips,
                ),
            },
            CertSpec {
                phase: "etcd-peer",
                base: "etcd/peer",
                ca: Some("etcd/ca"),
                profile: with_names(
                    profile(&node, &[], &[ServerAuth, ClientAuth]),
                    peer_dns,
                    peer_ips,
                ),
            },
            CertSpec {
                phase: "etcd-healthcheck-client",
                base: "etcd/healthcheck-client",
                ca: Some("etcd/ca"),
                profile: profile("kube-etcd-healthcheck-client", &[], &[ClientAuth]),
            },
            CertSpec {
                phase: "apiserver-etcd-client",
                base: "apiserver-etcd-client",
                ca: Some("etcd/ca"),
                profile: profile("kube-apiserver-etcd-client", &[], &[ClientAuth]),
            },
        ]);
    }
    Ok((list, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_hosts_and_service_ips() {
        assert_eq!(endpoint_host("lb.example.com:6443"), "lb.example.com");
        assert_eq!(endpoint_host("10.0.0.1"), "10.0.0.1");
        assert_eq!(endpoint_host("[fd00::1]:6443"), "fd00::1");
        assert_eq!(endpoint_host("fd00::1"), "fd00::1");
        assert_eq!(split_endpoint("[fd00::1]:6443"), ("fd00::1", Some(6443)));
        assert_eq!(
            split_endpoint("lb.example.com:6443"),
            ("lb.example.com", Some(6443))
        );
        assert_eq!(split_endpoint("lb.example.com"), ("lb.example.com", None));
        assert_eq!(
            split_endpoint("lb.example.com:x"),
            ("lb.example.com:x", None)
        );
        assert_eq!(
            api_server_service_ip("10.96.0.0/12").unwrap().to_string(),
            "10.96.0.1"
        );
        assert_eq!(
            api_server_service_ip("fd00:10:96::/108,10.96.0.0/16")
                .unwrap()
                .to_string(),
            "fd00:10:96::1"
        );
    }

    #[test]
    fn duplicates_go_and_dns_names_are_sorted() {
        let (dns, ips) = alt_names(
            vec!["b".into(), "a".into(), "b".into()],
            vec![
                "10.0.0.2".parse().unwrap(),
                "10.0.0.1".parse().unwrap(),
                "10.0.0.2".parse().unwrap(),
            ],
        );
        assert_eq!(dns, ["a", "b"]);
        assert_eq!(
            ips.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["10.0.0.2", "10.0.0.1"]
        );
    }
}
