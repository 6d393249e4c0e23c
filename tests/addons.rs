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
        .filter_map(|l| l.strip_prefix("[dryrun] Would "))
        .collect();
    assert_eq!(
        applied,
        [
            "apply ServiceAccount kube-system/coredns:",
            "apply ClusterRole system:coredns:",
            "apply ClusterRoleBinding system:coredns:",
            "create unless present ConfigMap kube-system/coredns:",
            "apply Deployment kube-system/coredns:",
            "apply Service kube-system/kube-dns:",
            "apply ConfigMap kube-system/kube-proxy:",
            "apply DaemonSet kube-system/kube-proxy:",
            "apply ServiceAccount kube-system/kube-proxy:",
            "apply ClusterRoleBinding kubeadm:node-proxier:",
            "apply Role kube-system/kube-proxy:",
            "apply RoleBinding kube-system/kube-proxy:",
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

#[test]
fn a_disabled_addon_is_skipped_and_a_users_kube_proxy_configuration_is_applied_unsigned() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cluster.yaml");
    std::fs::write(
        &config,
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 198.51.100.10
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
dns:
  disabled: true
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
",
    )
    .unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let out = kinit(&[
        "init",
        "phase",
        "addon",
        "all",
        "--dry-run",
        "--rootfs",
        root.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("[addons] Not installing CoreDNS: dns.disabled is set"),
        "{stdout}"
    );
    assert!(!stdout.contains("coredns"), "{stdout}");
    assert!(stdout.contains("mode: nftables"), "{stdout}");
    assert!(
        !stdout.contains("kubeadm.kubernetes.io/component-config.hash"),
        "a user's KubeProxyConfiguration is not signed: {stdout}"
    );
    assert!(stdout.contains("[addons] Applied essential addon: kube-proxy"));
}
