//! Each phase tested by the plan it makes: run alone through the dry-run executors on an empty
//! root, with no root rights, no cluster and no binary, its planned changes are what kubeadm's
//! phase would change (reference §3–§8).

use crate::exec::effects::{DryRunEffects, Effects};
use crate::workflow::{self, InitData, KeptLines, Phase, PhaseContext, ResetData};
use kinit_preflight::RealHost;

/// The plan of `only` (a phase or `phase/child`) of `kinit init` at its defaults.
fn init_plan(only: &str) -> Vec<String> {
    init_plan_after(&[], only)
}

/// The plan of `only` of `kinit init` once the units of `before` have run in the same dry run
/// (whose later reads see what they planned); their own plan is left out.
fn init_plan_after(before: &[&str], only: &str) -> Vec<String> {
    let config = crate::steps::addons::test_config(Default::default());
    plan(&super::init::phases(), &InitData::new(config), before, only)
}

/// The plan of `only` of `kinit reset` at its defaults.
fn reset_plan(only: &str) -> Vec<String> {
    let mut reset = Default::default();
    crate::domain::config::defaults::reset(&mut reset);
    plan(&super::reset::phases(), &ResetData { reset }, &[], only)
}

/// The plan of `only` (a phase or `phase/child`) of `table` on an empty node root, as phrases,
/// after the units of `before` in the same dry run.
fn plan<D>(table: &[Phase<D>], data: &D, before: &[&str], only: &str) -> Vec<String> {
    let root = tempfile::tempdir().unwrap();
    let host = RealHost::new(root.path());
    let mut effects = DryRunEffects::new(root.path());
    let mut lines = KeptLines::default();
    let mut ctx = PhaseContext::new(data, &host, &mut effects, &mut lines, true);
    for unit in before {
        let summary = workflow::run(table, Some(unit), &[], &mut ctx);
        assert!(summary.error.is_none(), "{unit}: {:?}", summary.error);
    }
    let earlier = ctx.effects.changes().len();
    let summary = workflow::run(table, Some(only), &[], &mut ctx);
    assert!(summary.error.is_none(), "{only}: {:?}", summary.error);
    let planned = effects.changes()[earlier..]
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        std::fs::read_dir(root.path()).unwrap().count(),
        0,
        "a plan changes nothing"
    );
    planned
}

fn kinds(planned: &[String]) -> Vec<String> {
    // "write /etc/kubernetes/pki/ca.key (mode 0600, 1679 bytes)" -> "... (mode 0600)": the
    // byte count depends on the random key.
    planned
        .iter()
        .map(|p| match p.split_once(", ") {
            Some((kind, _)) => format!("{kind})"),
            None => p.clone(),
        })
        .collect()
}

#[test]
fn certs_plans_every_key_then_certificate_with_kubeadm_modes_and_nothing_else() {
    let planned = kinds(&init_plan("certs"));
    let mut expected = Vec::new();
    for base in [
        "ca",
        "apiserver",
        "apiserver-kubelet-client",
        "front-proxy-ca",
        "front-proxy-client",
        "etcd/ca",
        "etcd/server",
        "etcd/peer",
        "etcd/healthcheck-client",
        "apiserver-etcd-client",
    ] {
        expected.push(format!("write /etc/kubernetes/pki/{base}.key (mode 0600)"));
        expected.push(format!("write /etc/kubernetes/pki/{base}.crt (mode 0644)"));
    }
    expected.push("write /etc/kubernetes/pki/sa.key (mode 0600)".into());
    expected.push("write /etc/kubernetes/pki/sa.pub (mode 0600)".into());
    assert_eq!(planned, expected);
}

#[test]
fn kubeconfig_plans_kubeadms_five_files_private_to_root() {
    // Each file embeds the CA and is signed by its key: the CA is planned first.
    let planned = kinds(&init_plan_after(&["certs/ca"], "kubeconfig"));
    assert_eq!(
        planned,
        [
            "write /etc/kubernetes/admin.conf (mode 0600)",
            "write /etc/kubernetes/super-admin.conf (mode 0600)",
            "write /etc/kubernetes/kubelet.conf (mode 0600)",
            "write /etc/kubernetes/controller-manager.conf (mode 0600)",
            "write /etc/kubernetes/scheduler.conf (mode 0600)",
        ]
    );
}

#[test]
fn etcd_local_plans_its_manifest_only() {
    // The data folder is the etcd Pod's to make (kubeadm's phase writes the manifest alone).
    let planned = kinds(&init_plan("etcd/local"));
    assert_eq!(
        planned,
        [
            "make directory /etc/kubernetes/manifests (mode 0700)",
            "write /etc/kubernetes/manifests/etcd.yaml (mode 0600)",
        ]
    );
}

#[test]
fn one_control_plane_manifest_is_one_folder_and_one_file() {
    let planned = kinds(&init_plan("control-plane/scheduler"));
    assert_eq!(
        planned,
        [
            "make directory /etc/kubernetes/manifests (mode 0700)",
            "write /etc/kubernetes/manifests/kube-scheduler.yaml (mode 0600)",
        ]
    );
}

#[test]
fn upload_config_plans_its_config_maps_and_their_rbac() {
    let planned = init_plan("upload-config/kubeadm");
    assert_eq!(
        planned,
        [
            "apply ConfigMap kube-system/kubeadm-config",
            "apply Role kube-system/kubeadm:nodes-kubeadm-config",
            "apply RoleBinding kube-system/kubeadm:nodes-kubeadm-config",
        ]
    );
}

#[test]
fn mark_control_plane_plans_one_node_patch() {
    let planned = init_plan("mark-control-plane");
    assert_eq!(planned.len(), 1, "{planned:?}");
    assert!(
        planned[0].starts_with("patch Node cp1: labels node-role.kubernetes.io/control-plane, node.kubernetes.io/exclude-from-external-load-balancers set to \"\""),
        "{planned:?}"
    );
}

#[test]
fn wait_control_plane_plans_the_kubelet_then_each_component() {
    let planned = init_plan("wait-control-plane");
    assert_eq!(
        planned,
        [
            "wait up to 4m0s for the kubelet at http://127.0.0.1:10248/healthz",
            "wait up to 4m0s for kube-apiserver at https://198.51.100.10:6443/livez",
            "wait up to 4m0s for kube-controller-manager at https://127.0.0.1:10257/healthz",
            "wait up to 4m0s for kube-scheduler at https://127.0.0.1:10259/livez",
        ]
    );
}

#[test]
fn reset_cleanup_plans_nothing_on_an_empty_node() {
    let planned: Vec<String> = reset_plan("cleanup-node")
        .into_iter()
        .filter(|p| !p.starts_with("run "))
        .collect();
    assert!(planned.is_empty(), "{planned:?}");
}

#[test]
fn a_dry_run_reads_back_what_it_planned_and_nothing_else() {
    use crate::workflow::cluster;
    use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
    use k8s_openapi::api::core::v1::ConfigMap;

    let root = tempfile::tempdir().unwrap();
    let data = InitData::new(crate::steps::addons::test_config(Default::default()));
    let host = RealHost::new(root.path());
    let mut effects = DryRunEffects::new(root.path());
    let mut lines = KeptLines::default();
    let mut ctx = PhaseContext::new(&data, &host, &mut effects, &mut lines, true);
    // CoreDNS as a user scaled it, planned by an earlier step of the same dry run.
    let scaled = Deployment {
        metadata: kube::api::ObjectMeta {
            name: Some("coredns".into()),
            namespace: Some("kube-system".into()),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(5),
            ..Default::default()
        }),
        ..Default::default()
    };
    cluster::apply(&mut ctx, &[crate::exec::api::ApiObject::new(&scaled)]).unwrap();

    let read: Option<Deployment> = cluster::get(&mut ctx, "kube-system", "coredns").unwrap();
    assert_eq!(read.and_then(|d| d.spec).and_then(|s| s.replicas), Some(5));
    let elsewhere: Option<Deployment> = cluster::get(&mut ctx, "default", "coredns").unwrap();
    assert!(elsewhere.is_none());
    let other_kind: Option<ConfigMap> = cluster::get(&mut ctx, "kube-system", "coredns").unwrap();
    assert!(other_kind.is_none());

    // The addon keeps the replica count it reads, as kubeadm keeps a running CoreDNS's.
    let summary = workflow::run(&super::init::phases(), Some("addon/coredns"), &[], &mut ctx);
    assert!(summary.error.is_none(), "{:?}", summary.error);
    let shown = lines.0.join("\n");
    // The second Deployment shown is the addon's own (the first is the scaled one above).
    let deployments: Vec<&str> = shown
        .split("[dryrun] Would ")
        .filter(|object| object.contains("kind: Deployment"))
        .collect();
    assert_eq!(deployments.len(), 2, "{shown}");
    let deployment = deployments[1];
    assert!(deployment.contains("image: "), "{deployment}");
    assert!(deployment.contains("replicas: 5"), "{deployment}");
}
