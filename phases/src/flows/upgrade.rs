//! `kinit upgrade apply` and `kinit upgrade node`, top to bottom: kubeadm's upgrade phases in
//! kubeadm's order, with their names.

use crate::workflow::{Phase, UpgradeData};
use crate::{steps::bootstrap_token, steps::upgrade, steps::upload_config};

pub fn apply_phases() -> Vec<Phase<UpgradeData>> {
    vec![
        Phase::new(
            "preflight",
            "Run preflight checks before upgrade",
            upgrade::preflight_apply,
        ),
        Phase::new(
            "control-plane",
            "Upgrade the control plane",
            upgrade::control_plane::run,
        ),
        Phase::group(
            "upload-config",
            "Upload the kubeadm and kubelet configurations to ConfigMaps",
            vec![
                Phase::new(
                    "kubeadm",
                    "Upload the kubeadm ClusterConfiguration to a ConfigMap",
                    upload_config::run_kubeadm,
                ),
                Phase::new(
                    "kubelet",
                    "Upload the kubelet configuration to a ConfigMap",
                    upgrade::kubelet::upload_kubelet,
                ),
            ],
        ),
        Phase::new(
            "kubelet-config",
            "Upgrade the kubelet configuration for this node",
            upgrade::kubelet::kubelet_config,
        ),
        Phase::new(
            "bootstrap-token",
            "Configures bootstrap token and cluster-info RBAC rules",
            bootstrap_token::run_upgrade,
        ),
        Phase::group("addon", "Upgrade the default kubeadm addons", addons()),
        Phase::new(
            "post-upgrade",
            "Run post upgrade tasks",
            upgrade::post_upgrade,
        ),
    ]
}

pub fn node_phases() -> Vec<Phase<UpgradeData>> {
    vec![
        Phase::new(
            "preflight",
            "Run upgrade node pre-flight checks",
            upgrade::preflight_node,
        ),
        Phase::new(
            "control-plane",
            "Upgrade the control plane instance deployed on this node, if any",
            upgrade::control_plane::run,
        ),
        Phase::new(
            "kubelet-config",
            "Upgrade the kubelet configuration for this node",
            upgrade::kubelet::kubelet_config,
        ),
        Phase::group("addon", "Upgrade the default kubeadm addons", addons()),
        Phase::new(
            "post-upgrade",
            "Run post upgrade tasks",
            upgrade::post_upgrade,
        ),
    ]
}

fn addons() -> Vec<Phase<UpgradeData>> {
    vec![
        Phase::new(
            "coredns",
            "Upgrade the CoreDNS addon",
            upgrade::addon_coredns,
        ),
        Phase::new(
            "kube-proxy",
            "Upgrade the kube-proxy addon",
            upgrade::addon_kube_proxy,
        ),
    ]
}
