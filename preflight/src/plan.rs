//! Which checks `init` and `join` run, in kubeadm's order (InitNodeChecks / JoinNodeChecks).

use crate::check::Check;
use crate::host::EtcdClientFiles;
use std::net::IpAddr;

pub const MANIFESTS: [&str; 4] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "etcd",
];

#[derive(Debug, Clone)]
pub enum EtcdFacts {
    Local {
        data_dir: String,
    },
    External {
        endpoints: Vec<String>,
        files: EtcdClientFiles,
        min_version: String,
    },
}

/// What the checks need to know about the node being set up, taken from the configuration.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    pub dry_run: bool,
    pub kubernetes_version: String,
    pub kubernetes_minor: u32,
    pub newest_supported_minor: u32,
    pub advertise_address: String,
    pub bind_port: u16,
    pub service_cidrs: Vec<String>,
    pub pod_cidrs: Vec<String>,
    pub cri_socket: String,
    pub node_name: String,
    pub manifests_dir: String,
    pub etcd: EtcdFacts,
    pub kube_proxy_ipvs: bool,
    pub images: Vec<String>,
    pub pull_images: bool,
}

#[derive(Debug, Clone)]
pub struct JoinFacts {
    /// `host:port` of the API server the node joins through.
    pub api_server_endpoint: String,
    pub control_plane: bool,
    pub kubernetes_dir: String,
    pub ca_cert_path: String,
}

fn is_v4(text: &str) -> bool {
    let ip = text.split('/').next().unwrap_or_default();
    matches!(ip.parse::<IpAddr>(), Ok(IpAddr::V4(_)))
}

fn is_v6(text: &str) -> bool {
    let ip = text
        .split('/')
        .next()
        .unwrap_or_default()
        .trim_matches(['[', ']']);
    matches!(ip.parse::<IpAddr>(), Ok(IpAddr::V6(_)))
}

/// The HTTPProxy check of an https connection to `host` (an IP, bracketed or not, or a DNS name).
fn https_proxy_check(host: &str) -> Check {
    let host = host.trim_matches(['[', ']']);
    let host = if is_v6(host) {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    Check::HttpProxy {
        url: format!("https://{host}"),
    }
}

/// CRI, swap, binaries, system, hostname, kubelet: checks every node runs (kubeadm's addCommonChecks).
fn common_checks(facts: &NodeFacts, checks: &mut Vec<Check>) {
    checks.push(Check::Cri {
        socket: facts.cri_socket.clone(),
    });
    checks.push(Check::Swap);
    // kubeadm required crictl until 1.30 and conntrack until 1.31; kinit keeps both, as warnings after that.
    checks.push(Check::InPath {
        binary: "crictl",
        mandatory: facts.kubernetes_minor < 31,
    });
    checks.push(Check::InPath {
        binary: "conntrack",
        mandatory: facts.kubernetes_minor < 32,
    });
    for (binary, mandatory) in [
        ("ip", true),
        ("iptables", true),
        ("mount", true),
        ("nsenter", true),
        ("ebtables", false),
        ("ethtool", false),
        ("socat", false),
        ("tc", false),
        ("touch", false),
    ] {
        checks.push(Check::InPath { binary, mandatory });
    }
    checks.push(Check::SystemVerification);
    checks.push(Check::Hostname {
        node_name: facts.node_name.clone(),
    });
    checks.push(Check::KubeletVersion {
        target: facts.kubernetes_version.clone(),
        newest_minor: facts.newest_supported_minor,
    });
    checks.push(Check::Service { name: "kubelet" });
    checks.push(Check::Port(10250));
}

/// Forwarding and bridge-netfilter sysctls per address family in use, and the IPVS modules when kube-proxy needs them.
fn network_stack_checks(v4: bool, v6: bool, ipvs: bool, checks: &mut Vec<Check>) {
    if v4 {
        checks.push(Check::FileContent {
            path: "/proc/sys/net/bridge/bridge-nf-call-iptables",
            content: "1",
        });
        checks.push(Check::FileContent {
            path: "/proc/sys/net/ipv4/ip_forward",
            content: "1",
        });
    }
    if v6 {
        checks.push(Check::FileContent {
            path: "/proc/sys/net/bridge/bridge-nf-call-ip6tables",
            content: "1",
        });
        checks.push(Check::FileContent {
            path: "/proc/sys/net/ipv6/conf/default/forwarding",
            content: "1",
        });
    }
    if ipvs {
        checks.push(Check::IpvsModules);
    }
}

/// The control-plane checks of init (and of a control-plane join, where the common checks are not repeated).
fn control_plane_checks(facts: &NodeFacts, secondary: bool, checks: &mut Vec<Check>) {
    checks.push(Check::NumCpu { min: 2 });
    checks.push(Check::Mem { min_mb: 1700 });
    checks.push(Check::KubernetesVersion {
        target: facts.kubernetes_version.clone(),
        target_minor: facts.kubernetes_minor,
        newest_minor: facts.newest_supported_minor,
    });
    checks.push(Check::Firewalld {
        ports: vec![facts.bind_port, 10250],
    });
    checks.push(Check::Port(facts.bind_port));
    checks.push(Check::Port(10259));
    checks.push(Check::Port(10257));
    for manifest in MANIFESTS {
        checks.push(Check::FileAvailable(format!(
            "{}/{manifest}.yaml",
            facts.manifests_dir
        )));
    }
    checks.push(https_proxy_check(&facts.advertise_address));
    for cidr in facts.service_cidrs.iter().chain(&facts.pod_cidrs) {
        checks.push(Check::HttpProxyCidr { cidr: cidr.clone() });
    }
    if !secondary {
        common_checks(facts, checks);
    }
    // A joining control plane already has its forwarding checks from the join list.
    let addresses = || {
        std::iter::once(&facts.advertise_address)
            .chain(&facts.service_cidrs)
            .chain(&facts.pod_cidrs)
    };
    let v4 = addresses().any(|a| is_v4(a));
    let v6 = addresses().any(|a| is_v6(a));
    if !secondary {
        network_stack_checks(v4, v6, facts.kube_proxy_ipvs, checks);
    }
    match &facts.etcd {
        EtcdFacts::External {
            endpoints,
            files,
            min_version,
        } => {
            if !files.ca_file.is_empty() {
                checks.push(Check::ExternalEtcdClientCertificates(files.clone()));
            }
            checks.push(Check::ExternalEtcdVersion {
                endpoints: endpoints.clone(),
                files: files.clone(),
                min_version: min_version.clone(),
            });
        }
        EtcdFacts::Local { data_dir } => {
            checks.push(Check::Port(2379));
            checks.push(Check::Port(2380));
            checks.push(Check::DirAvailable(data_dir.clone()));
        }
    }
    // A dry run pulls nothing, so the check is left out rather than reported as passed (kubeadm skips it too).
    if facts.pull_images && !facts.dry_run {
        checks.push(Check::ImagePull {
            images: facts.images.clone(),
            cri_socket: facts.cri_socket.clone(),
        });
    }
}

/// Every check of `kinit init`, IsPrivilegedUser first.
pub fn init_checks(facts: &NodeFacts) -> Vec<Check> {
    let mut checks = vec![Check::IsPrivilegedUser {
        dry_run: facts.dry_run,
    }];
    control_plane_checks(facts, false, &mut checks);
    checks
}

/// Every check of `kinit join`: a worker's, plus the control-plane ones with `--control-plane`.
pub fn join_checks(facts: &NodeFacts, join: &JoinFacts) -> Vec<Check> {
    let mut checks = vec![
        Check::IsPrivilegedUser {
            dry_run: facts.dry_run,
        },
        Check::FileAvailable(format!("{}/kubelet.conf", join.kubernetes_dir)),
        Check::FileAvailable(format!("{}/bootstrap-kubelet.conf", join.kubernetes_dir)),
    ];
    common_checks(facts, &mut checks);
    if !join.control_plane {
        checks.push(Check::FileAvailable(join.ca_cert_path.clone()));
    }
    let endpoint_host = join
        .api_server_endpoint
        .rsplit_once(':')
        .map_or(join.api_server_endpoint.as_str(), |(host, _)| host)
        .trim_matches(['[', ']']);
    // kubeadm checks the proxy for any endpoint host, and the forwarding settings for the family of an IP.
    if !endpoint_host.is_empty() {
        checks.push(https_proxy_check(endpoint_host));
    }
    if endpoint_host.parse::<IpAddr>().is_ok() {
        network_stack_checks(
            is_v4(endpoint_host),
            is_v6(endpoint_host),
            facts.kube_proxy_ipvs,
            &mut checks,
        );
    }
    if join.control_plane {
        control_plane_checks(facts, true, &mut checks);
    }
    checks
}
