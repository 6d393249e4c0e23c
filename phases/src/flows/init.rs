//! `kinit init`, top to bottom: kubeadm's init phases in kubeadm's order, with their names. The
//! phases marked `ahead` start their API work as soon as the first phase that talks to the
//! cluster opens the API session, so their round trips overlap; each still reports in its turn. Every certificate and kubeconfig key of the run
//! is made in one batch before the first certificate (`makes_keys`).

use crate::domain::manifests::Component;
use crate::domain::pki::table::CERT_PHASES;
use crate::workflow::{InitData, Phase};
use crate::{
    steps::addons, steps::bootstrap_token, steps::certs, steps::kubeconfig, steps::kubelet,
    steps::kubelet_finalize, steps::manifests, steps::mark_control_plane, steps::preflight,
    steps::show_join, steps::upload_certs, steps::upload_config, steps::wait,
};

pub fn phases() -> Vec<Phase<InitData>> {
    vec![
        Phase::new("preflight", "Run pre-flight checks", preflight::run_init),
        Phase::group("certs", "Certificate generation", certificates())
            .before_children(certs::before_certs),
        Phase::group("kubeconfig", "Generate all kubeconfig files necessary to establish the control plane and the admin kubeconfig file", kubeconfig_files())
            .before_children(kubeconfig::before_kubeconfigs),
        Phase::group("etcd", "Generate static Pod manifest file for local etcd", vec![
            Phase::new("local", "Generate the static Pod manifest file for a local, single-node local etcd instance", manifests::run_etcd),
        ]),
        Phase::group("control-plane", "Generate all static Pod manifest files necessary to establish the control plane", vec![
            manifest("apiserver", "Generates the kube-apiserver static Pod manifest", Component::ApiServer),
            manifest("controller-manager", "Generates the kube-controller-manager static Pod manifest", Component::ControllerManager),
            manifest("scheduler", "Generates the kube-scheduler static Pod manifest", Component::Scheduler),
        ])
        .before_children(manifests::before_manifests),
        Phase::new("kubelet-start", "Write kubelet settings and (re)start the kubelet", kubelet::run_init),
        Phase::new("wait-control-plane", "Wait for the control plane to start", wait::run_init),
        Phase::group("upload-config", "Upload the kubeadm and kubelet configuration to a ConfigMap", vec![
            Phase::new("kubeadm", "Upload the kubeadm ClusterConfiguration to a ConfigMap", upload_config::run_kubeadm)
                .ahead(upload_config::kubeadm_ahead),
            Phase::new("kubelet", "Upload the kubelet component config to a ConfigMap", upload_config::run_kubelet)
                .ahead(upload_config::kubelet_ahead),
        ]),
        Phase::new("upload-certs", "Upload certificates to kubeadm-certs", upload_certs::run)
            .ahead(upload_certs::ahead),
        Phase::new("mark-control-plane", "Mark a node as a control-plane", mark_control_plane::run)
            .ahead(mark_control_plane::ahead),
        Phase::new("bootstrap-token", "Generates bootstrap tokens used to join a node to a cluster", bootstrap_token::run)
            .ahead(bootstrap_token::ahead),
        Phase::group("kubelet-finalize", "Updates settings relevant to the kubelet after TLS bootstrap", vec![
            Phase::new("enable-client-cert-rotation", "Enable kubelet client certificate rotation", kubelet_finalize::run_enable_client_cert_rotation),
        ]),
        Phase::group("addon", "Install required addons for passing conformance tests", vec![
            Phase::new("coredns", "Install the CoreDNS addon to a Kubernetes cluster", addons::run_coredns)
                .ahead(addons::coredns_ahead),
            Phase::new("kube-proxy", "Install the kube-proxy addon to a Kubernetes cluster", addons::run_kube_proxy)
                .ahead(addons::kube_proxy_ahead),
        ]),
        Phase::new("show-join-command", "Show the join command for control-plane and worker node", show_join::run),
    ]
}

/// One child per certificate of kubeadm's list, as kubeadm's `newCertSubPhases` builds them.
fn certificates() -> Vec<Phase<InitData>> {
    CERT_PHASES
        .iter()
        .map(|&(name, description)| {
            Phase::new(name, description, move |ctx| certs::run_cert(ctx, name))
                .makes_keys(move |ctx| certs::key_demand(ctx, &[name]))
        })
        .collect()
}

fn kubeconfig_files() -> Vec<Phase<InitData>> {
    kubeconfig::KUBECONFIG_PHASES
        .iter()
        .map(|&(name, description)| {
            Phase::new(name, description, move |ctx| {
                kubeconfig::run_file(ctx, name)
            })
            .makes_keys(move |ctx| kubeconfig::key_demand(ctx, &[name]))
        })
        .collect()
}

fn manifest(
    name: &'static str,
    description: &'static str,
    component: Component,
) -> Phase<InitData> {
    Phase::new(name, description, move |ctx| {
        manifests::run_control_plane(ctx, component)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn children(name: &str) -> Vec<&'static str> {
        let table = phases();
        let phase = table.iter().find(|p| p.name == name).unwrap();
        phase.children.iter().map(|c| c.name).collect()
    }

    #[test]
    fn certs_children_are_the_certificate_list_then_sa() {
        let config = crate::steps::addons::test_config(Default::default());
        let (specs, _) = crate::domain::pki::table::certificates(&config).unwrap();
        let mut expected: Vec<&str> = specs.iter().map(|s| s.phase).collect();
        expected.push("sa");
        assert_eq!(children("certs"), expected);
    }

    #[test]
    fn kubeconfig_children_are_the_kubeconfig_files() {
        let config = crate::steps::addons::test_config(Default::default());
        let expected: Vec<&str> = kubeconfig::specs(&config).iter().map(|s| s.phase).collect();
        assert_eq!(children("kubeconfig"), expected);
    }
}
