//! The parts of a node's kubelet that the real-tier tests and benches play against the real API
//! server, while tests/support/static_pods.rs runs a control plane's static Pods: a worker's TLS
//! bootstrap (its CSR, signed by the real controller manager), registering its Node with the
//! status the kubelet reports, and making the mirror Pods of its static Pods.

use super::hosts::Host;
use super::kubectl::Kubectl;
use super::kubelet::{node_csr, write_kubelet_credentials, yaml};
use super::standin::{serve_http, OK};
use super::static_pods::StaticPods;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What the kubelet of a control-plane node does that the test plays: it answers its health check,
/// registers its Node with kubelet.conf once the API server answers (the static Pods run
/// meanwhile) and makes the mirror Pods of its static Pods. Returns how the registration ended.
pub fn register_node_when_ready(host: &Host, init_ended: &AtomicBool) -> Result<(), String> {
    let conf = host.path("/etc/kubernetes/kubelet.conf");
    let node = node_object(&host.name, &host.address);
    let file = host.path("/node.json");
    std::fs::write(&file, node.to_string()).unwrap();
    let mut last = String::from("kubelet.conf has not been written");
    while !init_ended.load(Ordering::SeqCst) {
        if conf.exists() {
            let kubectl = Kubectl::new(host, "/etc/kubernetes/kubelet.conf");
            match kubectl.try_ok(&["create", "--validate=false", "-f", file.to_str().unwrap()]) {
                Ok(_) => return create_mirror_pods(host, &kubectl),
                Err(e) if e.contains("AlreadyExists") => return create_mirror_pods(host, &kubectl),
                Err(e) => last = e,
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("cp1's Node was never registered: {last}"))
}

/// The mirror Pod the kubelet makes in the API for each static Pod of `host` (`<name>-<node>`,
/// bound to and owned by the node, with the kubelet's config annotations), through kubelet.conf as the node:
/// what `kubectl get pods -n kube-system` shows, and where a joining control plane reads etcd's
/// client URL from.
pub fn create_mirror_pods(host: &Host, kubectl: &Kubectl) -> Result<(), String> {
    for (manifest, _) in mirror_bodies(host, kubectl)? {
        let file = host.path(&format!("/mirror-{manifest}.json"));
        match kubectl.try_ok(&["create", "--validate=false", "-f", file.to_str().unwrap()]) {
            Ok(_) => {}
            Err(e) if e.contains("AlreadyExists") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Each manifest's mirror Pod written to `/mirror-<manifest>.json` under the host's root, with
/// its hash: (manifest name, hash).
fn mirror_bodies(host: &Host, kubectl: &Kubectl) -> Result<Vec<(String, String)>, String> {
    let dir = host.path("/etc/kubernetes/manifests");
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{dir:?}: {e}"))?
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    manifests.sort();
    // NodeRestriction admits a node's mirror Pods only when they are owned by its Node.
    let node = kubectl.json(&["get", "node", &host.name])?;
    let owner = json!([{"apiVersion": "v1", "kind": "Node", "name": host.name,
        "uid": node["metadata"]["uid"], "controller": true}]);
    let mut bodies = Vec::new();
    for manifest in manifests {
        let bytes = std::fs::read(&manifest).unwrap();
        let hash: String = openssl::sha::sha256(&bytes)[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut pod = yaml(&manifest);
        let name = format!(
            "{}-{}",
            pod["metadata"]["name"].as_str().unwrap(),
            host.name
        );
        pod["metadata"]["name"] = json!(name);
        for (key, value) in [
            ("kubernetes.io/config.hash", hash.as_str()),
            ("kubernetes.io/config.mirror", hash.as_str()),
            ("kubernetes.io/config.source", "file"),
        ] {
            pod["metadata"]["annotations"][key] = json!(value);
        }
        pod["metadata"]["ownerReferences"] = owner.clone();
        pod["spec"]["nodeName"] = json!(host.name);
        let stem = manifest.file_stem().unwrap().to_string_lossy().into_owned();
        let file = host.path(&format!("/mirror-{stem}.json"));
        std::fs::write(&file, pod.to_string()).unwrap();
        bodies.push((stem, hash));
    }
    Ok(bodies)
}

/// What the kubelet does for a static Pod whose manifest changed, played until `stop`: its mirror
/// Pod is deleted and made again with the new hash, and reported Running while the container
/// runs. Returns the mirror Pods it made again.
pub fn follow_mirror_pods(host: &Host, pods: &StaticPods, stop: &AtomicBool) -> Vec<String> {
    follow_mirror_pods_failing(host, pods, stop, None)
}

/// [`follow_mirror_pods`], with the Pod of the manifest `never_ready` reported Pending however its
/// container runs: a component that starts but never becomes ready.
pub fn follow_mirror_pods_failing(
    host: &Host,
    pods: &StaticPods,
    stop: &AtomicBool,
    never_ready: Option<&str>,
) -> Vec<String> {
    let kubectl = Kubectl::new(host, "/etc/kubernetes/kubelet.conf");
    // kubectl reads pods/status before it patches it, which the Node authorizer does not let a
    // node do (the kubelet patches without reading): the status is written as the admin.
    let admin = Kubectl::new(host, "/etc/kubernetes/admin.conf");
    let mut remade = Vec::new();
    let mut mirrored: std::collections::BTreeMap<String, String> = Default::default();
    while !stop.load(Ordering::SeqCst) {
        if let Ok(bodies) = mirror_bodies(host, &kubectl) {
            for (manifest, hash) in bodies {
                let name = format!("{manifest}-{}", host.name);
                let current = kubectl
                    .json(&["get", "pod", "-n", "kube-system", &name])
                    .ok()
                    .and_then(|p| {
                        p["metadata"]["annotations"]["kubernetes.io/config.hash"]
                            .as_str()
                            .map(str::to_string)
                    });
                if current.as_deref() != Some(hash.as_str()) && pods.running(&manifest) {
                    let _ = kubectl.try_ok(&[
                        "delete",
                        "pod",
                        "-n",
                        "kube-system",
                        &name,
                        // As the kubelet deletes a mirror Pod: at once, not gracefully (no
                        // kubelet would ever confirm a graceful deletion of it).
                        "--grace-period=0",
                        "--force",
                        "--wait=false",
                    ]);
                    let file = host.path(&format!("/mirror-{manifest}.json"));
                    if kubectl
                        .try_ok(&["create", "--validate=false", "-f", file.to_str().unwrap()])
                        .is_ok()
                    {
                        // A new mirror Pod has no status yet: reported again below.
                        mirrored.remove(&name);
                        remade.push(name.clone());
                    }
                }
                let running = pods.running(&manifest) && never_ready != Some(manifest.as_str());
                if mirrored.get(&name).map(String::as_str)
                    != Some(if running { "Running" } else { "Pending" })
                {
                    let phase = if running { "Running" } else { "Pending" };
                    let patch = json!({"status": {"phase": phase}}).to_string();
                    match admin.try_ok(&[
                        "patch",
                        "pod",
                        "-n",
                        "kube-system",
                        &name,
                        "--subresource=status",
                        "--type=merge",
                        "-p",
                        &patch,
                    ]) {
                        Ok(_) => {
                            mirrored.insert(name, phase.to_string());
                        }
                        Err(e) => eprintln!("[played kubelet] status of {name}: {e}"),
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    remade
}

/// A Node as the kubelet registers it: the labels it sets itself, the capacity it reports (without
/// which the scheduler places nothing there) and its addresses (which kube-proxy waits for).
pub fn node_object(name: &str, address: &str) -> Value {
    let resources = json!({"cpu": "2", "memory": "4Gi", "pods": "110"});
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64"}},
        "spec": {},
        "status": {"capacity": resources, "allocatable": resources, "addresses": [
            {"type": "InternalIP", "address": address},
            {"type": "Hostname", "address": name}]}
    })
}

/// Where the played kubelet keeps the bootstrap-kubelet.conf it saw: outside the node's folders.
pub fn seen_copy(host: &Host) -> PathBuf {
    host.path("/bootstrap-kubelet.conf.seen")
}

/// A worker's kubelet, played up to what needs a container runtime: it answers the health check,
/// posts its CSR with bootstrap-kubelet.conf (real kubectl), waits for the real controller manager
/// to approve and sign it, writes its client certificate and kubelet.conf as the kubelet does.
/// Returns the CSR's name and bootstrap-kubelet.conf as it was (a copy stays at `seen_copy`).
pub fn bootstrap_kubelet(
    w1: &Host,
    join_ended: &AtomicBool,
    pods: &StaticPods,
) -> Result<(String, Value), String> {
    serve_http(w1.listen("127.0.0.1", 10248), OK);
    let bootstrap = w1.path("/etc/kubernetes/bootstrap-kubelet.conf");
    let start = Instant::now();
    while !bootstrap.exists() {
        if join_ended.load(Ordering::SeqCst) || start.elapsed() > Duration::from_secs(60) {
            return Err("the join wrote no bootstrap-kubelet.conf".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Read once: the join removes it when the bootstrap is done. kubeadm writes in place, so a
    // copy taken mid-write is taken again; the copy keeps the mode.
    let seen = loop {
        std::fs::copy(&bootstrap, seen_copy(w1)).map_err(|e| e.to_string())?;
        let text = std::fs::read_to_string(seen_copy(w1)).unwrap_or_default();
        if text.contains("\nusers:") && text.contains("token: ") {
            break yaml(&seen_copy(w1));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let kubectl = Kubectl::new(w1, "/etc/kubernetes/bootstrap-kubelet.conf");
    let scratch = tempfile::tempdir().unwrap();
    let file = |name: &str| scratch.path().join(name).to_str().unwrap().to_string();
    let node = &w1.name;
    let name = format!("node-csr-{node}-{}", std::process::id());
    node_csr(scratch.path(), node, &name);
    // As the kubelet, it tries until the server in the file answers: a joining control plane's
    // names the node's own API server (ControlPlaneKubeletLocalMode), up only after etcd-join.
    let start = Instant::now();
    loop {
        match kubectl.try_ok(&["create", "--validate=false", "-f", &file("csr.json")]) {
            Ok(_) => break,
            Err(e) if e.contains("AlreadyExists") => break,
            Err(e)
                if start.elapsed() > Duration::from_secs(60)
                    || join_ended.load(Ordering::SeqCst) =>
            {
                return Err(e)
            }
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
    // The real kubelet watches its CSR with the bootstrap token until the certificate is in it.
    let start = Instant::now();
    let certificate = loop {
        let got = kubectl.json(&["get", "csr", &name])?;
        if let Some(cert) = got["status"]["certificate"].as_str() {
            break openssl::base64::decode_block(cert).map_err(|e| e.to_string())?;
        }
        if start.elapsed() > Duration::from_secs(40) {
            return Err(format!(
                "CSR {name} was not approved and signed by the controller manager within 40 s: {}\n{}",
                got["status"],
                pods.tail("kube-controller-manager", 40)
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let cluster = &seen["clusters"][0]["cluster"];
    write_kubelet_credentials(
        w1,
        scratch.path(),
        &certificate,
        cluster["server"].as_str().unwrap_or_default(),
        cluster["certificate-authority-data"]
            .as_str()
            .unwrap_or_default(),
    );
    Ok((name, seen))
}
