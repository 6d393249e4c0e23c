//! A second control plane joins the real cluster: cp2 takes the shared certificates from the real
//! `kubeadm-certs` Secret, its etcd (the real etcd 3.6, from kinit's manifest) joins as a learner
//! and kinit promotes it, its API server serves; `kinit reset` then takes its member out of etcd.
//! cp2's static Pods run as cp1's do, its kubelet's TLS bootstrap and Node are played.

use super::{
    beside_the_kubelet, bootstrap_kubelet, node_object, text, wait, Kubectl, ENDPOINT,
    UNMET_PREFLIGHT,
};
use crate::support::hosts::Host;
use crate::support::real::real_tool;
use crate::support::static_pods::StaticPods;
use serde_json::Value;
use std::time::Duration;

/// The members of the real etcd, asked at cp1 with its healthcheck client: (name, is learner).
fn members(cp1: &Host) -> Result<Vec<(String, bool)>, String> {
    let pki = |f: &str| cp1.path(&format!("/etc/kubernetes/pki/etcd/{f}"));
    let out = cp1
        .command(real_tool("etcdctl"))
        .arg(format!("--endpoints=https://{}:2379", cp1.address))
        .arg(format!("--cacert={}", pki("ca.crt").display()))
        .arg(format!(
            "--cert={}",
            pki("healthcheck-client.crt").display()
        ))
        .arg(format!("--key={}", pki("healthcheck-client.key").display()))
        .args(["member", "list", "-w", "json"])
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(format!(
            "etcdctl member list: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        ));
    }
    let list: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let mut members: Vec<(String, bool)> = list["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let name = m["name"].as_str().unwrap_or("(not started)").to_string();
            (name, m["isLearner"].as_bool().unwrap_or(false))
        })
        .collect();
    members.sort();
    Ok(members)
}

/// cp2 joins as a control plane with init's token, pin and certificate key.
pub fn second_control_plane_joins(
    cp1: &Host,
    cp2: &Host,
    cp1_pods: &StaticPods,
    token: &str,
    hash: &str,
    certificate_key: &str,
) -> StaticPods {
    let pods = StaticPods::watch(cp2);
    let (out, kubelet) = beside_the_kubelet(
        // The kubelet bootstraps its client certificate, then registers its Node, which
        // mark-control-plane waits for.
        |ended| {
            bootstrap_kubelet(cp2, ended, &pods)?;
            let node = cp2.path("/node.json");
            std::fs::write(&node, node_object(&cp2.name, &cp2.address).to_string()).unwrap();
            Kubectl::new(cp2, "/etc/kubernetes/kubelet.conf").try_ok(&[
                "create",
                "--validate=false",
                "-f",
                node.to_str().unwrap(),
            ])
        },
        || {
            cp2.kinit(&[
                "join",
                ENDPOINT,
                "--token",
                token,
                "--discovery-token-ca-cert-hash",
                hash,
                "--control-plane",
                "--certificate-key",
                certificate_key,
                "--apiserver-advertise-address",
                &cp2.address,
                "--node-name",
                &cp2.name,
                "--ignore-preflight-errors",
                UNMET_PREFLIGHT,
            ])
        },
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "kinit join --control-plane on cp2 failed:\n{stdout}{}\nthe played kubelet: {kubelet:?}\n{}{}",
        text(&out.stderr),
        pods.tails(30),
        cp1_pods.tail("etcd", 30)
    );
    kubelet.unwrap_or_else(|e| panic!("cp2's played kubelet: {e}"));
    // ControlPlaneKubeletLocalMode: cp2's kubelet bootstrapped against cp2's own API server.
    let seen = crate::support::kubelet::yaml(&crate::support::played_kubelet::seen_copy(cp2));
    assert_eq!(
        seen["clusters"][0]["cluster"]["server"],
        format!("https://{}:6443", cp2.address)
    );
    for line in [
        "[download-certs] Downloading the certificates in Secret \"kubeadm-certs\"",
        "This node has joined the cluster and a new control plane instance was created",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    // etcd's client URL came from cp1's etcd mirror Pod, as kubeadm finds it.
    assert!(!stdout.contains("No etcd Pod in kube-system"), "{stdout}");
    // Both members vote: cp2's was added as a learner and promoted.
    assert_eq!(
        members(cp1).unwrap(),
        [("cp1".to_string(), false), ("cp2".to_string(), false)],
        "{stdout}"
    );
    // As etcd itself tells it: added as a learner, then promoted.
    let etcd_log = cp1_pods.tail("etcd", 100_000);
    for event in [
        "\"added-peer-is-learner\":true",
        "\"raft-conf-change\":\"ConfChangeAddLearnerNode\"",
        "\"msg\":\"promote member\"",
    ] {
        assert!(
            etcd_log.contains(event),
            "{event} in cp1's etcd log:\n{}",
            cp1_pods.tail("etcd", 40)
        );
    }
    // cp2's own API server serves, with its own certificate for its address, and reads the
    // cluster through its etcd.
    let admin = Kubectl::new(cp2, "/etc/kubernetes/admin.conf");
    let server = format!("--server=https://{}:6443", cp2.address);
    wait(
        "cp2's API server answers /livez and lists the Nodes",
        Duration::from_secs(60),
        || pods.tails(20),
        || {
            admin.try_ok(&[&server, "get", "--raw", "/livez"])?;
            let nodes = admin.try_ok(&[&server, "get", "nodes", "-o", "name"])?;
            if nodes.contains("node/cp2") && nodes.contains("node/cp1") {
                Ok(())
            } else {
                Err(nodes)
            }
        },
    );
    let node = admin.json(&["get", "node", &cp2.name]).unwrap();
    assert!(
        node["metadata"]["labels"]
            .as_object()
            .is_some_and(|l| l.contains_key("node-role.kubernetes.io/control-plane")),
        "{node}"
    );
    pods
}

/// `kinit reset -f` on cp2: its etcd member leaves the real cluster, its components stop.
pub fn second_control_plane_resets(cp1: &Host, cp2: &Host, pods: &StaticPods) {
    let out = cp2.kinit(&["reset", "-f"]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "kinit reset -f on cp2:\n{stdout}{}",
        text(&out.stderr)
    );
    assert_eq!(
        members(cp1).unwrap(),
        [("cp1".to_string(), false)],
        "{stdout}"
    );
    wait(
        "cp2's components stop once reset removed their manifests",
        Duration::from_secs(20),
        || pods.tails(10),
        || {
            let running: Vec<&str> = super::COMPONENTS
                .into_iter()
                .filter(|c| pods.running(c))
                .collect();
            if running.is_empty() {
                Ok(())
            } else {
                Err(format!("still running: {running:?}"))
            }
        },
    );
}
