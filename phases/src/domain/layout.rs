//! Where a kubeadm node keeps its files: every path kinit writes, reads or cleans, named once.
//! The configurable ones (`certificatesDir`, `--kubeconfig-dir`, etcd's `dataDir`) are the
//! defaults here.

/// The Kubernetes folder: kubeconfig files, manifests, PKI.
pub const KUBERNETES_DIR: &str = "/etc/kubernetes";
/// The static Pod manifests the kubelet runs.
pub const MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";
/// kubeadm's backups and temporary files, emptied by reset.
pub const TMP_DIR: &str = "/etc/kubernetes/tmp";
/// `certificatesDir`'s default.
pub const PKI_DIR: &str = "/etc/kubernetes/pki";
/// The cluster CA in the default `certificatesDir`.
pub const CA_CERT: &str = "/etc/kubernetes/pki/ca.crt";

/// The kubeconfig files of a node, by file name in the Kubernetes folder.
pub const ADMIN_CONF_FILE: &str = "admin.conf";
pub const SUPER_ADMIN_CONF_FILE: &str = "super-admin.conf";
pub const KUBELET_CONF_FILE: &str = "kubelet.conf";
pub const BOOTSTRAP_KUBELET_CONF_FILE: &str = "bootstrap-kubelet.conf";
pub const CONTROLLER_MANAGER_CONF_FILE: &str = "controller-manager.conf";
pub const SCHEDULER_CONF_FILE: &str = "scheduler.conf";
/// Every kubeconfig file kubeadm may leave in the Kubernetes folder.
pub const KUBECONFIG_FILES: [&str; 6] = [
    ADMIN_CONF_FILE,
    SUPER_ADMIN_CONF_FILE,
    KUBELET_CONF_FILE,
    BOOTSTRAP_KUBELET_CONF_FILE,
    CONTROLLER_MANAGER_CONF_FILE,
    SCHEDULER_CONF_FILE,
];
/// The same files as full paths, for the ones read or written at their default place.
pub const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";
pub const KUBELET_CONF: &str = "/etc/kubernetes/kubelet.conf";
pub const BOOTSTRAP_KUBELET_CONF: &str = "/etc/kubernetes/bootstrap-kubelet.conf";

/// The kubelet's folder and the files kubeadm writes into it.
pub const KUBELET_DIR: &str = "/var/lib/kubelet";
pub const KUBELET_CONFIG: &str = "/var/lib/kubelet/config.yaml";
pub const KUBELET_FLAGS_ENV: &str = "/var/lib/kubelet/kubeadm-flags.env";
pub const KUBELET_INSTANCE_CONFIG: &str = "/var/lib/kubelet/instance-config.yaml";
/// Where the kubelet keeps its rotating client certificate.
pub const KUBELET_PKI_DIR: &str = "/var/lib/kubelet/pki";

/// The kubelet's systemd unit and kubeadm's drop-in, where kinit writes them, and the folders where
/// a package may have installed them already.
pub const KUBELET_SERVICE: &str = "/etc/systemd/system/kubelet.service";
pub const KUBELET_DROP_IN: &str = "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf";
/// Where packages (deb, rpm, older layouts) and administrators put systemd units; the last is
/// the administrator's, which a package never overwrites.
pub const SYSTEMD_UNIT_DIRS: [&str; 3] = [
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
    "/etc/systemd/system",
];
pub const KUBELET_DROP_IN_DIRS: [&str; 3] = [
    "/usr/lib/systemd/system/kubelet.service.d",
    "/lib/systemd/system/kubelet.service.d",
    "/etc/systemd/system/kubelet.service.d",
];

/// etcd's `dataDir` default.
pub const ETCD_DATA_DIR: &str = "/var/lib/etcd";
/// Where CNI plugins keep their configuration, emptied by reset.
pub const CNI_CONFIG_DIR: &str = "/etc/cni/net.d";

/// `name` in folder `dir`.
pub fn file_in(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_paths_are_their_folder_and_name() {
        assert_eq!(ADMIN_CONF, file_in(KUBERNETES_DIR, ADMIN_CONF_FILE));
        assert_eq!(KUBELET_CONF, file_in(KUBERNETES_DIR, KUBELET_CONF_FILE));
        assert_eq!(
            BOOTSTRAP_KUBELET_CONF,
            file_in(KUBERNETES_DIR, BOOTSTRAP_KUBELET_CONF_FILE)
        );
        assert_eq!(MANIFESTS_DIR, file_in(KUBERNETES_DIR, "manifests"));
        assert_eq!(TMP_DIR, file_in(KUBERNETES_DIR, "tmp"));
        assert_eq!(PKI_DIR, file_in(KUBERNETES_DIR, "pki"));
        assert_eq!(CA_CERT, file_in(PKI_DIR, "ca.crt"));
        for file in [
            KUBELET_CONFIG,
            KUBELET_FLAGS_ENV,
            KUBELET_INSTANCE_CONFIG,
            KUBELET_PKI_DIR,
        ] {
            assert!(file.starts_with(&format!("{KUBELET_DIR}/")), "{file}");
        }
        assert_eq!(
            KUBELET_SERVICE,
            file_in(SYSTEMD_UNIT_DIRS[2], "kubelet.service")
        );
        assert_eq!(
            KUBELET_DROP_IN,
            file_in(KUBELET_DROP_IN_DIRS[2], "10-kubeadm.conf")
        );
        for (unit_dir, drop_in_dir) in SYSTEMD_UNIT_DIRS.iter().zip(KUBELET_DROP_IN_DIRS) {
            assert_eq!(drop_in_dir, file_in(unit_dir, "kubelet.service.d"));
        }
    }
}
