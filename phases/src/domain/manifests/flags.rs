//! Each component's command line as kubeadm builds it: a table of default flags, the user's `extraArgs`
//! replacing every default of the same name, in kubeadm's order (see [`command`]).

use crate::domain::config::resolve::InitConfig;
use crate::domain::config::types::Arg;
use crate::domain::layout;
use std::net::IpAddr;

/// Where kubeadm keeps the component kubeconfigs, whatever `--kubeconfig-dir` says.
pub use crate::domain::layout::KUBERNETES_DIR;
pub const ETCD_CLIENT_PORT: u16 = 2379;
pub const ETCD_PEER_PORT: u16 = 2380;
pub const ETCD_METRICS_PORT: u16 = 2381;

fn arg(name: &str, value: impl Into<String>) -> Arg {
    Arg {
        name: name.to_string(),
        value: value.into(),
    }
}

/// A file under the certificates folder, joined as Go's filepath.Join joins it.
pub fn pki(config: &InitConfig, file: &str) -> String {
    format!(
        "{}/{file}",
        config.cluster.certificates_dir.trim_end_matches('/')
    )
}

pub fn kubeconfig_file(name: &str) -> String {
    format!("{KUBERNETES_DIR}/{name}")
}

/// kubeadm's GetArgValue: the last value given for `name`, since a later repeat wins on a command line.
pub fn last_value<'a>(args: &'a [Arg], name: &str) -> Option<&'a str> {
    args.iter()
        .rev()
        .find(|a| a.name == name)
        .map(|a| a.value.as_str())
}

/// Sets a default flag, replacing a default of the same name.
fn set(args: &mut Vec<Arg>, name: &str, value: impl Into<String>) {
    let value = value.into();
    match args.iter_mut().find(|a| a.name == name) {
        Some(existing) => existing.value = value,
        None => args.push(arg(name, value)),
    }
}

/// kubeadm's ArgumentsToCommand: every extra arg is kept (repeats too) and hides all defaults of its name.
/// Up to 1.33 all flags are then sorted by name and value; from 1.34 only the defaults are, and the extra
/// args follow in the order the user gave them. `minor` is the cluster's Kubernetes minor.
pub fn command(binary: &str, defaults: Vec<Arg>, extra: &[Arg], minor: u32) -> Vec<String> {
    let by_name_and_value = |a: &Arg, b: &Arg| (&a.name, &a.value).cmp(&(&b.name, &b.value));
    let mut args: Vec<Arg> = defaults
        .into_iter()
        .filter(|d| !extra.iter().any(|e| e.name == d.name))
        .collect();
    if minor >= 34 {
        args.sort_by(by_name_and_value);
        args.extend_from_slice(extra);
    } else {
        args.extend_from_slice(extra);
        args.sort_by(by_name_and_value);
    }
    std::iter::once(binary.to_string())
        .chain(args.iter().map(|a| format!("--{}={}", a.name, a.value)))
        .collect()
}

/// Go's utilsnet.IsIPv6String: an IPv6 address that is not an IPv4 one written the IPv6 way.
pub fn is_ipv6(address: &str) -> bool {
    matches!(address.parse::<IpAddr>(), Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none())
}

/// Go's net.JoinHostPort.
pub fn host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The loopback address of the advertise address's family, where local etcd listens for the API server.
pub fn loopback(config: &InitConfig) -> &'static str {
    if is_ipv6(&config.init.local_api_endpoint.advertise_address) {
        "::1"
    } else {
        "127.0.0.1"
    }
}

pub fn apiserver(config: &InitConfig) -> Vec<Arg> {
    let endpoint = &config.init.local_api_endpoint;
    let cluster = &config.cluster;
    let pki = |file| pki(config, file);
    let mut args = vec![
        arg("advertise-address", &endpoint.advertise_address),
        arg("enable-admission-plugins", "NodeRestriction"),
        arg(
            "service-cluster-ip-range",
            &cluster.networking.service_subnet,
        ),
        arg("service-account-key-file", pki("sa.pub")),
        arg("service-account-signing-key-file", pki("sa.key")),
        arg(
            "service-account-issuer",
            format!(
                "https://kubernetes.default.svc.{}",
                cluster.networking.dns_domain
            ),
        ),
        arg("client-ca-file", pki("ca.crt")),
        arg("tls-cert-file", pki("apiserver.crt")),
        arg("tls-private-key-file", pki("apiserver.key")),
        arg(
            "kubelet-client-certificate",
            pki("apiserver-kubelet-client.crt"),
        ),
        arg("kubelet-client-key", pki("apiserver-kubelet-client.key")),
        arg("enable-bootstrap-token-auth", "true"),
        arg("secure-port", endpoint.bind_port.to_string()),
        arg("allow-privileged", "true"),
        arg(
            "kubelet-preferred-address-types",
            "InternalIP,ExternalIP,Hostname",
        ),
        arg("requestheader-username-headers", "X-Remote-User"),
        arg("requestheader-group-headers", "X-Remote-Group"),
        arg("requestheader-extra-headers-prefix", "X-Remote-Extra-"),
        arg("requestheader-client-ca-file", pki("front-proxy-ca.crt")),
        arg("requestheader-allowed-names", "front-proxy-client"),
        arg("proxy-client-cert-file", pki("front-proxy-client.crt")),
        arg("proxy-client-key-file", pki("front-proxy-client.key")),
    ];
    match (&cluster.etcd.external, &cluster.etcd.local) {
        (Some(external), _) => {
            set(&mut args, "etcd-servers", external.endpoints.join(","));
            // kubeadm passes only the files the user named; no default client certificate applies.
            if !external.ca_file.is_empty() {
                set(&mut args, "etcd-cafile", &external.ca_file);
            }
            if !external.cert_file.is_empty() && !external.key_file.is_empty() {
                set(&mut args, "etcd-certfile", &external.cert_file);
                set(&mut args, "etcd-keyfile", &external.key_file);
            }
        }
        (None, local) => {
            let servers = local
                .as_ref()
                .and_then(|l| last_value(&l.extra_args, "advertise-client-urls"))
                .map(str::to_string)
                .unwrap_or_else(|| {
                    format!("https://{}", host_port(loopback(config), ETCD_CLIENT_PORT))
                });
            set(&mut args, "etcd-servers", servers);
            set(&mut args, "etcd-cafile", pki("etcd/ca.crt"));
            set(&mut args, "etcd-certfile", pki("apiserver-etcd-client.crt"));
            set(&mut args, "etcd-keyfile", pki("apiserver-etcd-client.key"));
        }
    }
    // A structured authorization file and --authorization-mode exclude each other in the API server.
    if last_value(&cluster.api_server.extra_args, "authorization-config").is_none() {
        set(&mut args, "authorization-mode", "Node,RBAC");
    }
    args
}

/// `external_ca`: ca.crt is present without ca.key, so the controller manager must not sign anything.
pub fn controller_manager(config: &InitConfig, external_ca: bool) -> Vec<Arg> {
    let cluster = &config.cluster;
    let kubeconfig = kubeconfig_file(layout::CONTROLLER_MANAGER_CONF_FILE);
    let ca = pki(config, "ca.crt");
    let mut args = vec![
        arg("bind-address", "127.0.0.1"),
        arg("leader-elect", "true"),
        arg("kubeconfig", &kubeconfig),
        arg("authentication-kubeconfig", &kubeconfig),
        arg("authorization-kubeconfig", &kubeconfig),
        arg("client-ca-file", &ca),
        arg(
            "requestheader-client-ca-file",
            pki(config, "front-proxy-ca.crt"),
        ),
        arg("root-ca-file", &ca),
        arg("service-account-private-key-file", pki(config, "sa.key")),
        arg("cluster-signing-cert-file", &ca),
        arg("cluster-signing-key-file", pki(config, "ca.key")),
        arg("use-service-account-credentials", "true"),
        arg("controllers", "*,bootstrapsigner,tokencleaner"),
    ];
    if external_ca {
        // Empty paths keep the CSR signer from starting instead of failing on a missing key.
        set(&mut args, "cluster-signing-key-file", "");
        set(&mut args, "cluster-signing-cert-file", "");
    }
    let networking = &cluster.networking;
    if !networking.pod_subnet.is_empty() {
        set(&mut args, "allocate-node-cidrs", "true");
        set(&mut args, "cluster-cidr", &networking.pod_subnet);
        if !networking.service_subnet.is_empty() {
            set(
                &mut args,
                "service-cluster-ip-range",
                &networking.service_subnet,
            );
        }
    }
    if !cluster.cluster_name.is_empty() {
        set(&mut args, "cluster-name", &cluster.cluster_name);
    }
    args
}

pub fn scheduler() -> Vec<Arg> {
    let kubeconfig = kubeconfig_file(layout::SCHEDULER_CONF_FILE);
    vec![
        arg("bind-address", "127.0.0.1"),
        arg("leader-elect", "true"),
        arg("kubeconfig", &kubeconfig),
        arg("authentication-kubeconfig", &kubeconfig),
        arg("authorization-kubeconfig", &kubeconfig),
    ]
}

/// The two ways etcd spells the same two settings: etcd 3.6 dropped the `experimental-` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdFlagStyle {
    Experimental,
    FeatureGates,
}

/// The style of an etcd image tag, decided as kubeadm does: a semantic version of at least 3.6.0
/// (a pre-release such as `3.6.0-0` sorts before it), anything else the older style.
pub fn etcd_flag_style(tag: &str) -> EtcdFlagStyle {
    let text = tag.trim().trim_start_matches('v');
    let (core, pre) = match text.split_once(['-', '+']) {
        Some((core, rest)) => (
            core,
            text[core.len()..].starts_with('-') && !rest.is_empty(),
        ),
        None => (text, false),
    };
    let numbers: Option<Vec<u64>> = core.split('.').map(|p| p.parse().ok()).collect();
    match numbers.as_deref() {
        Some([major, minor, patch]) => {
            let release = (*major, *minor, *patch);
            if release > (3, 6, 0) || (release == (3, 6, 0) && !pre) {
                EtcdFlagStyle::FeatureGates
            } else {
                EtcdFlagStyle::Experimental
            }
        }
        _ => EtcdFlagStyle::Experimental,
    }
}

pub fn etcd_client_url(config: &InitConfig) -> String {
    let endpoint = &config.init.local_api_endpoint;
    format!(
        "https://{}",
        host_port(&endpoint.advertise_address, ETCD_CLIENT_PORT)
    )
}

pub fn etcd_peer_url(config: &InitConfig) -> String {
    let endpoint = &config.init.local_api_endpoint;
    format!(
        "https://{}",
        host_port(&endpoint.advertise_address, ETCD_PEER_PORT)
    )
}

/// A member of the etcd cluster a joining node's etcd starts into: its name and peer URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdPeer {
    pub name: String,
    pub peer_url: String,
}

/// `join`: the members of the cluster this etcd joins (itself included), in the order etcd listed
/// them, as kubeadm passes them; `None` for the first member, which starts a new cluster.
pub fn etcd(
    config: &InitConfig,
    data_dir: &str,
    style: EtcdFlagStyle,
    join: Option<&[EtcdPeer]>,
) -> Vec<Arg> {
    let node = &config.init.node_registration.name;
    let loopback = loopback(config);
    let client = etcd_client_url(config);
    let peer = etcd_peer_url(config);
    let pki = |file| pki(config, file);
    let mut args = vec![
        arg("name", node),
        arg(
            "listen-client-urls",
            format!("https://{},{client}", host_port(loopback, ETCD_CLIENT_PORT)),
        ),
        arg("advertise-client-urls", &client),
        arg("listen-peer-urls", &peer),
        arg("initial-advertise-peer-urls", &peer),
        arg("data-dir", data_dir),
        arg("cert-file", pki("etcd/server.crt")),
        arg("key-file", pki("etcd/server.key")),
        arg("trusted-ca-file", pki("etcd/ca.crt")),
        arg("client-cert-auth", "true"),
        arg("peer-cert-file", pki("etcd/peer.crt")),
        arg("peer-key-file", pki("etcd/peer.key")),
        arg("peer-trusted-ca-file", pki("etcd/ca.crt")),
        arg("peer-client-cert-auth", "true"),
        arg("snapshot-count", "10000"),
        arg(
            "listen-metrics-urls",
            format!("http://{}", host_port(loopback, ETCD_METRICS_PORT)),
        ),
    ];
    match join {
        Some(members) => {
            let members: Vec<String> = members
                .iter()
                .map(|m| format!("{}={}", m.name, m.peer_url))
                .collect();
            args.push(arg("initial-cluster", members.join(",")));
            args.push(arg("initial-cluster-state", "existing"));
        }
        None => args.push(arg("initial-cluster", format!("{node}={peer}"))),
    }
    match style {
        EtcdFlagStyle::FeatureGates => {
            args.push(arg("feature-gates", "InitialCorruptCheck=true"));
            args.push(arg("watch-progress-notify-interval", "5s"));
        }
        EtcdFlagStyle::Experimental => {
            args.push(arg("experimental-initial-corrupt-check", "true"));
            args.push(arg("experimental-watch-progress-notify-interval", "5s"));
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> Vec<Arg> {
        pairs.iter().map(|(n, v)| arg(n, *v)).collect()
    }

    #[test]
    fn extra_args_replace_every_default_of_their_name_and_keep_repeats() {
        let defaults = args(&[("b", "1"), ("a", "1"), ("c", "x"), ("c", "y")]);
        let extra = args(&[("c", "z"), ("d", "2"), ("d", "1")]);
        assert_eq!(
            command("bin", defaults.clone(), &extra, 33),
            vec!["bin", "--a=1", "--b=1", "--c=z", "--d=1", "--d=2"]
        );
        // From 1.34 the extra args keep the user's order after the sorted defaults.
        assert_eq!(
            command("bin", defaults, &extra, 34),
            vec!["bin", "--a=1", "--b=1", "--c=z", "--d=2", "--d=1"]
        );
        assert_eq!(last_value(&extra, "d"), Some("1"));
        assert_eq!(last_value(&extra, "e"), None);
    }

    #[test]
    fn etcd_tags_pick_the_flag_style_as_kubeadm_does() {
        use EtcdFlagStyle::*;
        for (tag, style) in [
            ("3.5.21-0", Experimental),
            ("3.5.15-0", Experimental),
            ("3.6.4-0", FeatureGates),
            ("v3.6.1", FeatureGates),
            ("3.6.0", FeatureGates),
            ("3.6.0-0", Experimental),
            ("3.7.0-rc.1", FeatureGates),
            ("latest", Experimental),
        ] {
            assert_eq!(etcd_flag_style(tag), style, "{tag}");
        }
    }

    fn value(args: &[Arg], name: &str) -> Option<String> {
        last_value(args, name).map(str::to_string)
    }

    #[test]
    fn etcd_joins_an_existing_cluster_with_every_member_in_the_given_order() {
        use crate::domain::config::resolve::{resolve_init, InitFlags};
        let flags = InitFlags {
            node_name: Some("cp2".into()),
            apiserver_advertise_address: Some("198.51.100.11".into()),
            kubernetes_version: Some("v1.34.1".into()),
            ..Default::default()
        };
        let config = resolve_init(None, &flags, std::path::Path::new("/nonexistent")).unwrap();
        let first = etcd(&config, "/var/lib/etcd", EtcdFlagStyle::Experimental, None);
        assert_eq!(
            value(&first, "initial-cluster").as_deref(),
            Some("cp2=https://198.51.100.11:2380")
        );
        assert_eq!(value(&first, "initial-cluster-state"), None);
        let members = [
            EtcdPeer {
                name: "cp2".into(),
                peer_url: "https://198.51.100.11:2380".into(),
            },
            EtcdPeer {
                name: "cp1".into(),
                peer_url: "https://198.51.100.10:2380".into(),
            },
        ];
        let joined = etcd(
            &config,
            "/var/lib/etcd",
            EtcdFlagStyle::Experimental,
            Some(&members),
        );
        assert_eq!(
            value(&joined, "initial-cluster").as_deref(),
            Some("cp2=https://198.51.100.11:2380,cp1=https://198.51.100.10:2380")
        );
        assert_eq!(
            value(&joined, "initial-cluster-state").as_deref(),
            Some("existing")
        );
        // Everything else is the first member's command.
        let rest = |args: &[Arg]| -> Vec<Arg> {
            args.iter()
                .filter(|a| !a.name.starts_with("initial-cluster"))
                .cloned()
                .collect()
        };
        assert_eq!(rest(&first), rest(&joined));
    }

    #[test]
    fn ipv6_and_host_ports() {
        assert!(is_ipv6("2001:db8::10"));
        assert!(!is_ipv6("::ffff:192.0.2.1"));
        assert!(!is_ipv6("198.51.100.10"));
        assert_eq!(host_port("::1", 2379), "[::1]:2379");
        assert_eq!(host_port("127.0.0.1", 2379), "127.0.0.1:2379");
    }
}
