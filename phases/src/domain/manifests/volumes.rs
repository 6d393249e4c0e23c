//! The hostPath volumes of each static pod, as kubeadm mounts them.

use super::flags::{kubeconfig_file, last_value};
use crate::domain::config::resolve::InitConfig;
use crate::domain::config::types::{ExternalEtcd, HostPathMount};
use crate::domain::layout;
use std::collections::BTreeMap;

const DIRECTORY_OR_CREATE: &str = "DirectoryOrCreate";
const FILE_OR_CREATE: &str = "FileOrCreate";
const CA_CERTS: &str = "/etc/ssl/certs";
const FLEXVOLUME_DIR: &str = "/usr/libexec/kubernetes/kubelet-plugins/volume/exec";

/// Folders that files in /etc/ssl/certs may link into on some distributions; mounted only where they exist.
pub const CA_CERTS_EXTRA_DIRS: [&str; 5] = [
    "/etc/pki/ca-trust",
    "/etc/pki/tls/certs",
    "/etc/ca-certificates",
    "/usr/share/ca-certificates",
    "/usr/local/share/ca-certificates",
];

/// One hostPath volume with its mount, the same path inside as outside unless the user says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPath {
    pub name: String,
    pub host_path: String,
    pub mount_path: String,
    pub read_only: bool,
    pub path_type: String,
}

fn host_path(name: &str, path: &str, read_only: bool, path_type: &str) -> HostPath {
    HostPath {
        name: name.to_string(),
        host_path: path.to_string(),
        mount_path: path.to_string(),
        read_only,
        path_type: path_type.to_string(),
    }
}

/// Volumes by name: a later one of the same name replaces an earlier one, as user volumes replace kubeadm's.
#[derive(Default)]
struct Volumes(BTreeMap<String, HostPath>);

impl Volumes {
    fn add(&mut self, volume: HostPath) {
        self.0.insert(volume.name.clone(), volume);
    }

    fn add_user(&mut self, extra: &[HostPathMount]) {
        for v in extra {
            self.add(HostPath {
                name: v.name.clone(),
                host_path: v.host_path.clone(),
                mount_path: v.mount_path.clone(),
                read_only: v.read_only,
                path_type: v.path_type.clone(),
            });
        }
    }

    fn ca_certs(&mut self, config: &InitConfig, existing_extra_dirs: &[String]) {
        self.add(host_path(
            "k8s-certs",
            &config.cluster.certificates_dir,
            true,
            DIRECTORY_OR_CREATE,
        ));
        self.add(host_path("ca-certs", CA_CERTS, true, DIRECTORY_OR_CREATE));
        for dir in CA_CERTS_EXTRA_DIRS {
            if existing_extra_dirs.iter().any(|d| d == dir) {
                let name = dir.trim_start_matches('/').replace('/', "-");
                self.add(host_path(&name, dir, true, DIRECTORY_OR_CREATE));
            }
        }
    }

    fn sorted(self) -> Vec<HostPath> {
        self.0.into_values().collect()
    }
}

/// `existing_extra_dirs`: which of [`CA_CERTS_EXTRA_DIRS`] exist on the host.
pub fn apiserver(config: &InitConfig, existing_extra_dirs: &[String]) -> Vec<HostPath> {
    let mut volumes = Volumes::default();
    volumes.ca_certs(config, existing_extra_dirs);
    if let Some(external) = &config.cluster.etcd.external {
        for volume in etcd_cert_volumes(external, &config.cluster.certificates_dir) {
            volumes.add(volume);
        }
    }
    volumes.add_user(&config.cluster.api_server.extra_volumes);
    volumes.sorted()
}

pub fn controller_manager(config: &InitConfig, existing_extra_dirs: &[String]) -> Vec<HostPath> {
    let component = &config.cluster.controller_manager;
    let mut volumes = Volumes::default();
    volumes.ca_certs(config, existing_extra_dirs);
    volumes.add(host_path(
        "kubeconfig",
        &kubeconfig_file(layout::CONTROLLER_MANAGER_CONF_FILE),
        true,
        FILE_OR_CREATE,
    ));
    // Third-party storage plugins talk to the controller manager over sockets here, so it is writable.
    let flexvolume =
        last_value(&component.extra_args, "flex-volume-plugin-dir").unwrap_or(FLEXVOLUME_DIR);
    volumes.add(host_path(
        "flexvolume-dir",
        flexvolume,
        false,
        DIRECTORY_OR_CREATE,
    ));
    volumes.add_user(&component.extra_volumes);
    volumes.sorted()
}

pub fn scheduler(config: &InitConfig) -> Vec<HostPath> {
    let mut volumes = Volumes::default();
    volumes.add(host_path(
        "kubeconfig",
        &kubeconfig_file(layout::SCHEDULER_CONF_FILE),
        true,
        FILE_OR_CREATE,
    ));
    volumes.add_user(&config.cluster.scheduler.extra_volumes);
    volumes.sorted()
}

/// Data, then certificates: the order kubeadm lists etcd's mounts in (its volumes are sorted by name).
pub fn etcd(config: &InitConfig, data_dir: &str) -> Vec<HostPath> {
    let certs = format!(
        "{}/etcd",
        config.cluster.certificates_dir.trim_end_matches('/')
    );
    vec![
        host_path("etcd-data", data_dir, false, DIRECTORY_OR_CREATE),
        host_path("etcd-certs", &certs, false, DIRECTORY_OR_CREATE),
    ]
}

/// Go's filepath.Dir, enough for absolute and relative file paths.
fn parent_dir(path: &str) -> String {
    match path.trim_end_matches('/').rfind('/') {
        Some(0) => "/".to_string(),
        Some(cut) => path[..cut].to_string(),
        None => ".".to_string(),
    }
}

/// Folders of the external etcd files that no other volume covers, each once (a parent covers its
/// children), named `etcd-certs-N` in path order.
fn etcd_cert_volumes(external: &ExternalEtcd, cert_dir: &str) -> Vec<HostPath> {
    let mut dirs: Vec<String> = Vec::new();
    for file in [&external.ca_file, &external.cert_file, &external.key_file] {
        let dir = parent_dir(file);
        let covered = dir == "."
            || dir.starts_with(CA_CERTS)
            || dir.starts_with(cert_dir)
            || CA_CERTS_EXTRA_DIRS.iter().any(|d| dir.starts_with(d));
        if covered {
            continue;
        }
        if dirs
            .iter()
            .any(|existing| dir.starts_with(existing.as_str()))
        {
            continue;
        }
        dirs.retain(|existing| !existing.starts_with(dir.as_str()));
        dirs.push(dir);
    }
    dirs.sort();
    dirs.iter()
        .enumerate()
        .map(|(i, dir)| host_path(&format!("etcd-certs-{i}"), dir, true, DIRECTORY_OR_CREATE))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_etcd_folders_are_mounted_once_unless_covered() {
        let external = ExternalEtcd {
            endpoints: vec![],
            ca_file: "/etc/etcd/pki/ca.crt".into(),
            cert_file: "/etc/etcd/pki/client/apiserver.crt".into(),
            key_file: "/etc/kubernetes/pki/etcd-client.key".into(),
        };
        let volumes = etcd_cert_volumes(&external, "/etc/kubernetes/pki");
        assert_eq!(volumes.len(), 1);
        assert_eq!(volumes[0].name, "etcd-certs-0");
        assert_eq!(volumes[0].host_path, "/etc/etcd/pki");
        let external = ExternalEtcd {
            endpoints: vec![],
            ca_file: "/srv/b/ca.crt".into(),
            cert_file: "/srv/a/c.crt".into(),
            key_file: "/etc/ssl/certs/k.key".into(),
        };
        let names: Vec<(String, String)> = etcd_cert_volumes(&external, "/etc/kubernetes/pki")
            .into_iter()
            .map(|v| (v.name, v.host_path))
            .collect();
        assert_eq!(
            names,
            vec![
                ("etcd-certs-0".to_string(), "/srv/a".to_string()),
                ("etcd-certs-1".to_string(), "/srv/b".to_string())
            ]
        );
        assert_eq!(parent_dir("ca.crt"), ".");
        assert_eq!(parent_dir("/ca.crt"), "/");
    }
}
