//! A cluster to upgrade, for the upgrade test and its benchmark: `kinit init` at the minor before
//! (its control plane run from that minor's real programs), a Node that reports Ready at that
//! version, and the played kubelet's part while an upgrade replaces manifests; and the real kubeadm
//! run on the node as a node's kubeadm runs, chrooted into its root.

use super::hosts::Host;
use super::kubectl::Kubectl;
use super::played_kubelet::{follow_mirror_pods_failing, register_node_when_ready};
use super::real::{previous_real_bin, real_tool, versions_in, PREVIOUS_WANTED};
use super::standin::{serve_http, OK};
use super::static_pods::StaticPods;
use serde_json::json;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};

/// The preflight checks an empty root without a container runtime cannot pass (as in
/// tests/real_cluster.rs).
pub const UNMET_PREFLIGHT: &str = "NumCPU,Mem,CRI,FileExisting-ip,FileExisting-iptables,FileExisting-mount,FileExisting-nsenter,SystemVerification,KubeletVersion,FileContent--proc-sys-net-bridge-bridge-nf-call-iptables,FileContent--proc-sys-net-ipv4-ip_forward,ImagePull";

/// The Kubernetes version of the minor before, whose programs the static Pods of its images run.
pub fn previous_version() -> String {
    let _ = PREVIOUS_WANTED.set(());
    versions_in(previous_real_bin())[0].clone()
}

fn init_config(cp1: &Host, version: &str) -> String {
    let path = cp1.path("/kinit.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: {address}
nodeRegistration:
  name: cp1
timeouts:
  controlPlaneComponentHealthCheck: 90s
  kubeletHealthCheck: 30s
  kubernetesAPICall: 30s
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: {version}
controlPlaneEndpoint: {address}:6443
",
            address = cp1.address
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// cp1 made by `kinit init` at `version`, its Node registered and its mirror Pods made; then the
/// Node reports Ready at `version` and is cordoned (see [`node_reports`]).
pub fn cluster_at(cp1: &Host, pods: &StaticPods, version: &str) {
    let config = init_config(cp1, version);
    serve_http(cp1.listen("127.0.0.1", 10248), OK);
    let init_ended = AtomicBool::new(false);
    let (out, registered) = std::thread::scope(|scope| {
        let kubelet = scope.spawn(|| register_node_when_ready(cp1, &init_ended));
        let out = cp1.kinit(&[
            "init",
            "--config",
            &config,
            "--ignore-preflight-errors",
            UNMET_PREFLIGHT,
        ]);
        init_ended.store(true, Ordering::SeqCst);
        (out, kubelet.join().unwrap())
    });
    assert!(
        out.status.success(),
        "kinit init at {version}: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        pods.tails(30)
    );
    registered.unwrap_or_else(|e| panic!("{e}\n{}", pods.tails(30)));
    node_reports(&Kubectl::new(cp1, "/etc/kubernetes/admin.conf"), version);
}

/// What the kubelet would report on its Node: Ready, at `version`; and cordoned, so that kubeadm's
/// CreateJob check, which needs a node that runs Pods, skips itself as it does on such a cluster.
pub fn node_reports(admin: &Kubectl, version: &str) {
    node_reports_as(admin, "cp1", version);
}

/// [`node_reports`] for the Node `node`.
pub fn node_reports_as(admin: &Kubectl, node: &str, version: &str) {
    let now = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    let now = String::from_utf8_lossy(&now.stdout).trim().to_string();
    let status = json!({"status": {
        "nodeInfo": {"kubeletVersion": version},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "played", "lastHeartbeatTime": now, "lastTransitionTime": now}]}});
    admin
        .try_ok(&[
            "patch",
            "node",
            node,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status.to_string(),
        ])
        .unwrap();
    admin.try_ok(&["cordon", node]).unwrap();
}

/// Runs `command` while the played kubelet remakes mirror Pods whose manifest changed.
pub fn beside_mirror_pods<T>(cp1: &Host, pods: &StaticPods, command: impl FnOnce() -> T) -> T {
    beside_mirror_pods_failing(cp1, pods, None, command)
}

/// [`beside_mirror_pods`], with the Pod of the manifest `never_ready` never reported Running.
pub fn beside_mirror_pods_failing<T>(
    cp1: &Host,
    pods: &StaticPods,
    never_ready: Option<&str>,
    command: impl FnOnce() -> T,
) -> T {
    /// Stops the played kubelet however `command` ends, a panic included: the scope waits for it.
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let follower = scope.spawn(|| follow_mirror_pods_failing(cp1, pods, &stop, never_ready));
        let out = {
            let _stop = StopOnDrop(&stop);
            command()
        };
        follower.join().unwrap();
        out
    })
}

/// The real kubeadm of the main minor, run on `host` as on the node itself: in its network
/// namespace, chrooted into its root, with the machine's `/usr`, `/bin` and libraries bound in
/// read-only (kubeadm's etcd backup runs `cp`) and `/dev`, in a mount namespace of its own that
/// ends with it.
pub fn kubeadm_on_node(host: &Host, args: &[&str]) -> Output {
    std::fs::copy(real_tool("kubeadm"), host.path("/kubeadm")).unwrap();
    let root = host.root().display().to_string();
    let mut script = String::from("set -e\n");
    for dir in ["/usr", "/bin", "/lib", "/lib64", "/sbin"] {
        if std::path::Path::new(dir).exists() {
            script.push_str(&format!(
                "mkdir -p {root}{dir} && mount --bind -o ro {dir} {root}{dir}\n"
            ));
        }
    }
    // Its programs write to /dev/null.
    script.push_str(&format!(
        "mkdir -p {root}/dev && mount --bind /dev {root}/dev\n"
    ));
    script.push_str(&format!("exec chroot {root} /kubeadm \"$@\"\n"));
    host.ns
        .command("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            "kubeadm",
        ])
        .args(args)
        .output()
        .unwrap()
}
