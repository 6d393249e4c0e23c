//! A preflight check as a value: what it looks at, its `--ignore-preflight-errors` name and its severity.

use crate::checks::{components, files, network, system};
pub use crate::failure::{Failure, Severity};
use crate::host::{EtcdClientFiles, Host};

#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    IsPrivilegedUser {
        dry_run: bool,
    },
    NumCpu {
        min: usize,
    },
    Mem {
        min_mb: u64,
    },
    KubernetesVersion {
        target: String,
        target_minor: u32,
        newest_minor: u32,
    },
    Firewalld {
        ports: Vec<u16>,
    },
    Port(u16),
    FileAvailable(String),
    DirAvailable(String),
    HttpProxy {
        url: String,
    },
    HttpProxyCidr {
        cidr: String,
    },
    Cri {
        socket: String,
    },
    Swap,
    InPath {
        binary: &'static str,
        mandatory: bool,
    },
    SystemVerification,
    Hostname {
        node_name: String,
    },
    KubeletVersion {
        target: String,
        /// kinit's newest supported minor: kubelets older than three minors below it are refused.
        newest_minor: u32,
    },
    Service {
        name: &'static str,
    },
    FileContent {
        path: &'static str,
        content: &'static str,
    },
    IpvsModules,
    ExternalEtcdVersion {
        endpoints: Vec<String>,
        files: EtcdClientFiles,
        min_version: String,
    },
    ExternalEtcdClientCertificates(EtcdClientFiles),
    ImagePull {
        images: Vec<String>,
        cri_socket: String,
    },
}

/// kubeadm's path-based names: the path with every `/` turned into `-` (`/var/lib/etcd` → `-var-lib-etcd`).
fn path_name(path: &str) -> String {
    path.replace('/', "-")
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

impl Check {
    /// The name `--ignore-preflight-errors` matches and the output prints.
    pub fn name(&self) -> String {
        match self {
            Check::IsPrivilegedUser { .. } => "IsPrivilegedUser".into(),
            Check::NumCpu { .. } => "NumCPU".into(),
            Check::Mem { .. } => "Mem".into(),
            Check::KubernetesVersion { .. } => "KubernetesVersion".into(),
            Check::Firewalld { .. } => "Firewalld".into(),
            Check::Port(port) => format!("Port-{port}"),
            Check::FileAvailable(path) => format!("FileAvailable-{}", path_name(path)),
            Check::DirAvailable(path) => format!("DirAvailable-{}", path_name(path)),
            Check::HttpProxy { .. } => "HTTPProxy".into(),
            Check::HttpProxyCidr { .. } => "HTTPProxyCIDR".into(),
            Check::Cri { .. } => "CRI".into(),
            Check::Swap => "Swap".into(),
            Check::InPath { binary, .. } => format!("FileExisting-{binary}"),
            Check::SystemVerification => "SystemVerification".into(),
            Check::Hostname { .. } => "Hostname".into(),
            Check::KubeletVersion { .. } => "KubeletVersion".into(),
            Check::Service { name } => format!("Service-{}", capitalized(name)),
            Check::FileContent { path, .. } => format!("FileContent-{}", path_name(path)),
            Check::IpvsModules => "RequiredIPVSKernelModulesAvailable".into(),
            Check::ExternalEtcdVersion { .. } => "ExternalEtcdVersion".into(),
            Check::ExternalEtcdClientCertificates(_) => "ExternalEtcdClientCertificates".into(),
            Check::ImagePull { .. } => "ImagePull".into(),
        }
    }

    /// The severity of this check's usual failure, as kubeadm classes it.
    pub fn severity(&self) -> Severity {
        match self {
            Check::KubernetesVersion { .. }
            | Check::Firewalld { .. }
            | Check::HttpProxy { .. }
            | Check::HttpProxyCidr { .. }
            | Check::Swap
            | Check::Hostname { .. }
            | Check::Service { .. }
            | Check::IpvsModules
            | Check::InPath {
                mandatory: false, ..
            } => Severity::Warning,
            Check::IsPrivilegedUser { dry_run: true } => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// Whether the probe may wait on something outside this process (a program, DNS, a socket, the network);
    /// those run on their own threads while the quick file reads run inline.
    pub fn may_block(&self) -> bool {
        matches!(
            self,
            Check::Firewalld { .. }
                | Check::HttpProxy { .. }
                | Check::Cri { .. }
                | Check::Hostname { .. }
                | Check::KubeletVersion { .. }
                | Check::Service { .. }
                | Check::ExternalEtcdVersion { .. }
                | Check::ImagePull { .. }
        )
    }

    pub fn run(&self, host: &dyn Host) -> Result<(), Failure> {
        let result = match self {
            Check::IsPrivilegedUser { .. } => system::privileged_user(host),
            Check::NumCpu { min } => system::num_cpu(host, *min),
            Check::Mem { min_mb } => system::memory(host, *min_mb),
            Check::KubernetesVersion {
                target,
                target_minor,
                newest_minor,
            } => components::kubernetes_version(target, *target_minor, *newest_minor),
            Check::Firewalld { ports } => network::firewalld(host, ports),
            Check::Port(port) => network::port(host, *port),
            Check::FileAvailable(path) => files::file_available(host, path),
            Check::DirAvailable(path) => files::dir_available(host, path),
            Check::HttpProxy { url } => network::http_proxy(host, url),
            Check::HttpProxyCidr { cidr } => network::http_proxy_cidr(host, cidr),
            Check::Cri { socket } => components::cri(host, socket),
            Check::Swap => system::swap(host),
            Check::InPath { binary, mandatory } => files::in_path(host, binary, *mandatory),
            Check::SystemVerification => system::verification(host),
            Check::Hostname { node_name } => network::hostname(host, node_name),
            Check::KubeletVersion {
                target,
                newest_minor,
            } => components::kubelet_version(host, target, *newest_minor),
            Check::Service { name } => components::service(host, name),
            Check::FileContent { path, content } => files::file_content(host, path, content),
            Check::IpvsModules => system::ipvs_modules(host),
            Check::ExternalEtcdVersion {
                endpoints,
                files,
                min_version,
            } => components::external_etcd_version(host, endpoints, files, min_version),
            Check::ExternalEtcdClientCertificates(files) => {
                files::external_etcd_client_certificates(host, files)
            }
            Check::ImagePull { images, cri_socket } => {
                components::image_pull(host, images, cri_socket)
            }
        };
        // A check that kubeadm classes as a warning never stops a run, whatever its probe says.
        result.map_err(|failure| match self.severity() {
            Severity::Warning => failure.with_severity(Severity::Warning),
            Severity::Error => failure,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kubeadm() {
        assert_eq!(
            Check::DirAvailable("/var/lib/etcd".into()).name(),
            "DirAvailable--var-lib-etcd"
        );
        assert_eq!(
            Check::FileAvailable("/etc/kubernetes/manifests/kube-apiserver.yaml".into()).name(),
            "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml"
        );
        assert_eq!(
            Check::FileContent {
                path: "/proc/sys/net/ipv4/ip_forward",
                content: "1"
            }
            .name(),
            "FileContent--proc-sys-net-ipv4-ip_forward"
        );
        assert_eq!(Check::Service { name: "kubelet" }.name(), "Service-Kubelet");
        assert_eq!(
            Check::InPath {
                binary: "conntrack",
                mandatory: true
            }
            .name(),
            "FileExisting-conntrack"
        );
        assert_eq!(Check::Port(6443).name(), "Port-6443");
    }
}
