//! An etcd upgrade that fails after the new etcd has moved its data on: kinit puts the old
//! manifest back, finds the old etcd cannot serve that data, restores the data backed up before
//! the upgrade and waits for the old etcd again (kubeadm's `rollbackEtcdData`). On the real
//! programs of two minors: etcd 3.6 (of v1.34) marks the cluster's version 3.6 in its data, which
//! etcd 3.5 (of v1.33) refuses to serve.
//!
//! The failure is the new etcd Pod's: the kubelet (played) runs it and makes its mirror Pod with
//! the new hash, but never reports it Running (as a Pod that never gets ready), so the wait runs
//! out; meanwhile etcd 3.6 has moved the cluster's version on.

mod common;
use common::{have_root, text};
use kinit_test_support as support;

use std::time::{Duration, Instant};

use support::hosts::Network;
use support::kubectl::Kubectl;
use support::real::real_kubernetes_version;
use support::static_pods::StaticPods;
use support::upgrade::{beside_mirror_pods_failing, cluster_at, previous_version};

#[test]
fn needs_root_real_upgrade_restores_etcd_data_the_old_etcd_refuses() {
    if !have_root() {
        return;
    }
    let began = Instant::now();
    let (old, new) = (previous_version(), real_kubernetes_version());
    let network = Network::new("upe", &["cp1"]);
    let cp1 = network.host("cp1");
    let pods = StaticPods::watch(cp1);
    cluster_at(cp1, &pods, &old);
    let admin = Kubectl::new(cp1, "/etc/kubernetes/admin.conf");
    admin
        .try_ok(&[
            "create",
            "configmap",
            "before-upgrade",
            "--from-literal=answer=42",
        ])
        .unwrap();
    let etcd_manifest = cp1.path("/etc/kubernetes/manifests/etcd.yaml");
    let old_manifest = std::fs::read(&etcd_manifest).unwrap();
    let config = cp1.path("/upgrade.yaml");
    std::fs::write(
        &config,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: UpgradeConfiguration\ntimeouts:\n  upgradeManifests: 30s\n",
    )
    .unwrap();
    eprintln!("init at {old}: {:.1} s", began.elapsed().as_secs_f64());

    let out = beside_mirror_pods_failing(cp1, &pods, Some("etcd"), || {
        cp1.kinit(&[
            "upgrade",
            "apply",
            &new,
            "-y",
            "--config",
            config.to_str().unwrap(),
            // A test host's root has no /proc, kernel configuration or container runtime.
            "--ignore-preflight-errors",
            "SystemVerification,ImagePull",
        ])
    });
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    eprintln!("the failed upgrade said:\n{said}");
    assert_eq!(out.status.code(), Some(1), "{said}");
    // In kubeadm's words, in its order.
    let mut at = 0;
    for line in [
        "[upgrade/staticpods] Preparing for \"etcd\" upgrade",
        "[upgrade/etcd] Failed to upgrade etcd: the Pods of etcd (labels component=etcd) were not all Running after 30s: not Running yet: etcd-cp1",
        "[upgrade/etcd] Waiting for previous etcd to become available",
        "[upgrade/etcd] Failed to healthcheck previous etcd",
        "[upgrade/etcd] Rolling back etcd data",
        "[upgrade/etcd] Etcd data rollback successful",
        "[upgrade/etcd] Waiting for previous etcd to become available",
        "[upgrade/etcd] Etcd was rolled back and is now available",
        "fatal error when trying to upgrade the etcd cluster, rolled the state back to pre-upgrade state",
    ] {
        let found = said[at..]
            .find(line)
            .unwrap_or_else(|| panic!("{line:?} after byte {at} in:\n{said}\n{}", pods.tail("etcd", 30)));
        at += found + line.len();
    }
    // The old etcd refused the data the new one left: the reason the data was restored.
    assert!(
        pods.tail("etcd", 100_000)
            .contains("invalid downgrade; server version is lower than determined cluster version"),
        "{}",
        pods.tail("etcd", 40)
    );
    assert_eq!(std::fs::read(&etcd_manifest).unwrap(), old_manifest);
    // No other component was touched, and the cluster kept its data.
    let api_server =
        std::fs::read_to_string(cp1.path("/etc/kubernetes/manifests/kube-apiserver.yaml")).unwrap();
    assert!(
        api_server.contains(&format!("kube-apiserver:{old}")),
        "{api_server}"
    );
    let start = Instant::now();
    let kept = loop {
        match admin.json(&["get", "configmap", "before-upgrade"]) {
            Ok(kept) => break kept,
            Err(e) => {
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "{e}\n{}",
                    pods.tails(20)
                );
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    };
    assert_eq!(kept["data"]["answer"], "42");
    let version = admin.json(&["version", "-o", "json"]).unwrap();
    assert_eq!(
        version["serverVersion"]["gitVersion"],
        old.as_str(),
        "{version}"
    );
    eprintln!("checked: {:.1} s", began.elapsed().as_secs_f64());
}
