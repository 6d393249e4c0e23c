//! The certificates kubeadm's renewal manager knows on a control-plane node, where each one lives
//! and which CA signs it; and their renewal, shared by `kinit certs renew` and `kinit upgrade`.

pub mod renew;

use crate::domain::config::resolve::InitConfig;
use crate::domain::kubeconfig::{unbase64, Kubeconfig};
use crate::domain::layout;
use crate::domain::pki::cert;
use crate::domain::pki::keys;
use crate::domain::pki::table;
use crate::exec::effects::Effects;
use crate::steps::certs::path;
use crate::steps::kubeconfig;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

/// Where the certificate files and the kubeconfig files are.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub cert_dir: String,
    pub kubeconfig_dir: String,
}

impl Dirs {
    pub fn kubeconfig(&self, file: &str) -> String {
        format!("{}/{file}", self.kubeconfig_dir.trim_end_matches('/'))
    }
}

/// Where a renewable certificate is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `<base>.crt` and `<base>.key` under the certificate folder.
    Files { base: &'static str },
    /// The client certificate embedded in a kubeconfig file of the kubeconfig folder.
    Kubeconfig { file: &'static str },
}

/// A certificate `kinit certs` checks and renews.
#[derive(Debug, Clone)]
pub struct Managed {
    /// kubeadm's name: the phase name of a certificate file, the file name of a kubeconfig.
    pub name: String,
    pub source: Source,
    /// The signer's name as kubeadm prints it (`ca`, `etcd-ca`, `front-proxy-ca`).
    pub ca_name: &'static str,
    /// The signer's file base (`ca`, `etcd/ca`, `front-proxy-ca`).
    pub ca_base: &'static str,
}

/// A certificate authority of the cluster.
#[derive(Debug, Clone)]
pub struct Authority {
    pub name: &'static str,
    pub base: &'static str,
}

/// Every name `kinit certs renew` takes, as kubeadm lists its sub-commands; with external etcd the etcd
/// ones are not managed by kinit and are refused when asked for.
pub const RENEWABLE: [&str; 11] = [
    layout::ADMIN_CONF_FILE,
    "apiserver",
    "apiserver-etcd-client",
    "apiserver-kubelet-client",
    layout::CONTROLLER_MANAGER_CONF_FILE,
    "etcd-healthcheck-client",
    "etcd-peer",
    "etcd-server",
    "front-proxy-client",
    layout::SCHEDULER_CONF_FILE,
    layout::SUPER_ADMIN_CONF_FILE,
];

/// kubeadm's long name of a certificate (certlist.go and the renewal manager), used in its renew lines.
pub fn long_name(name: &str) -> &'static str {
    match name {
        "apiserver" => "certificate for serving the Kubernetes API",
        "apiserver-kubelet-client" => "certificate for the API server to connect to kubelet",
        "front-proxy-client" => "certificate for the front proxy client",
        "etcd-server" => "certificate for serving etcd",
        "etcd-peer" => "certificate for etcd nodes to communicate with each other",
        "etcd-healthcheck-client" => "certificate for liveness probes to healthcheck etcd",
        "apiserver-etcd-client" => "certificate the apiserver uses to access etcd",
        layout::ADMIN_CONF_FILE => {
            "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself"
        }
        layout::SUPER_ADMIN_CONF_FILE => "certificate embedded in the kubeconfig file for the super-admin",
        layout::CONTROLLER_MANAGER_CONF_FILE => {
            "certificate embedded in the kubeconfig file for the controller manager to use"
        }
        layout::SCHEDULER_CONF_FILE => {
            "certificate embedded in the kubeconfig file for the scheduler manager to use"
        }
        _ => "certificate",
    }
}

/// The CAs of this configuration in kubeadm's order; with external etcd there is no etcd CA.
pub fn authorities(config: &InitConfig) -> Result<Vec<Authority>, String> {
    let (specs, _) = table::certificates(config)?;
    let mut list: Vec<Authority> = specs
        .iter()
        .filter(|s| s.ca.is_none())
        .map(|s| Authority {
            name: s.phase,
            base: s.base,
        })
        .collect();
    list.sort_by_key(|a| a.name);
    Ok(list)
}

/// The certificates kubeadm's renewal manager knows, sorted by name as kubeadm prints them. kubelet.conf is
/// not one: the kubelet rotates its own client certificate.
pub fn managed(config: &InitConfig) -> Result<Vec<Managed>, String> {
    let (specs, _) = table::certificates(config)?;
    let ca_name = |base: &str| {
        specs
            .iter()
            .find(|s| s.base == base)
            .map_or("ca", |s| s.phase)
    };
    let mut list: Vec<Managed> = specs
        .iter()
        .filter_map(|s| {
            let ca_base = s.ca?;
            Some(Managed {
                name: s.phase.to_string(),
                source: Source::Files { base: s.base },
                ca_name: ca_name(ca_base),
                ca_base,
            })
        })
        .collect();
    list.extend(
        kubeconfig::specs(config)
            .into_iter()
            .filter(|k| k.phase != "kubelet")
            .map(|k| Managed {
                name: k.file.to_string(),
                source: Source::Kubeconfig { file: k.file },
                ca_name: "ca",
                ca_base: "ca",
            }),
    );
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(list)
}

/// The file a managed certificate is read from.
pub fn file_of(managed: &Managed, dirs: &Dirs) -> String {
    match managed.source {
        Source::Files { base } => path(&dirs.cert_dir, base, "crt"),
        Source::Kubeconfig { file } => dirs.kubeconfig(file),
    }
}

pub fn read_cert(effects: &dyn Effects, file: &str) -> Result<Option<X509>, String> {
    effects
        .read_file(file)?
        .map(|pem| cert::parse_pem(&pem, file))
        .transpose()
}

pub fn read_key(effects: &dyn Effects, file: &str) -> Result<Option<PKey<Private>>, String> {
    effects
        .read_file(file)?
        .map(|pem| keys::parse_private_key(&pem, file))
        .transpose()
}

/// The client certificate a kubeconfig's current context uses, and its key when embedded too.
pub fn embedded_client(text: &str, file: &str) -> Result<(X509, Option<PKey<Private>>), String> {
    let config = Kubeconfig::parse(text, file)?;
    let (_, user) = config
        .current()
        .ok_or_else(|| format!("{file} has no usable current context"))?;
    let cert_data = user.client_certificate_data.as_deref().ok_or_else(|| {
        format!("{file}: the user of the current context has no embedded client certificate (client-certificate-data)")
    })?;
    let cert = unbase64(cert_data)
        .and_then(|pem| cert::parse_pem(&pem, file))
        .map_err(|e| format!("{file}: client-certificate-data: {e}"))?;
    let key = user
        .client_key_data
        .as_deref()
        .map(|data| unbase64(data).and_then(|pem| keys::parse_private_key(&pem, file)))
        .transpose()
        .map_err(|e| format!("{file}: client-key-data: {e}"))?;
    Ok((cert, key))
}
