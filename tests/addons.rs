//! `kinit init phase addon`: a dry run prints every object of both addons, in kubeadm's order, and
//! contacts no API server.

mod common;

use common::{kinit, text};

#[test]
fn addon_all_dry_run_prints_every_object_of_both_addons() {
    let root = tempfile::tempdir().unwrap();
    let out = kinit(&[
        "init",
        "phase",
        "addon",
        "all",
        "--dry-run",
        "--rootfs",
        root.path().to_str().unwrap(),
        "--apiserver-advertise-address",
        "198.51.100.10",
        "--service-cidr",
        "10.100.0.0/16",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let applied: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("[dryrun] Would apply "))
        .collect();
    assert_eq!(
        applied,
        [
            "ServiceAccount kube-system/coredns:",
            "ClusterRole system:coredns:",
            "ClusterRoleBinding system:coredns:",
            "ConfigMap kube-system/coredns:",
            "Deployment kube-system/coredns:",
            "Service kube-system/kube-dns:",
            "ConfigMap kube-system/kube-proxy:",
            "DaemonSet kube-system/kube-proxy:",
            "ServiceAccount kube-system/kube-proxy:",
            "ClusterRoleBinding kubeadm:node-proxier:",
            "Role kube-system/kube-proxy:",
            "RoleBinding kube-system/kube-proxy:",
        ]
    );
    for line in [
        "[addons] Applied essential addon: CoreDNS",
        "[addons] Applied essential addon: kube-proxy",
        "  clusterIP: 10.100.0.10",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line:?} in {stdout}");
    }
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
}
