//! `kubeadm init` and `kinit init` on the same real control plane, round by round in turns (which
//! goes first alternates, so both see the same machine load): each round a fresh network-namespace
//! host cp1 and a fresh root, the real etcd, kube-apiserver, controller manager and scheduler run
//! from the manifests the tool wrote (tests/support/static_pods.rs), and the same played kubelet
//! (health check, Node registration, mirror Pods: tests/support/played_kubelet.rs). The same
//! ECDSA-P256 configuration. Both skip preflight: kubeadm's pulls the images, and with no container
//! runtime here (and no registry in reach) it stops there whatever errors it is told to ignore;
//! kinit's preflight is measured by `cargo bench --bench preflight`.
//!
//! Reported per tool, as medians: the time to a control plane that answers /livez and holds every
//! object (the init command's whole run, which ends only then), and its own time: that run minus
//! the time spent waiting for the kubelet and the control-plane components to answer (kinit: its
//! wait-control-plane phase; kubeadm: the "healthy after" times it prints for the kubelet and the
//! slowest component). Needs root and the real programs (scripts/test-tools.sh); run with
//! `sudo cargo bench --bench kubeadm_init` (`KINIT_BENCH_ROUNDS`, default 5).

#[path = "common/mod.rs"]
mod common;

use common::{median, ms};

use kinit_test_support as support;

use kinit_phases::domain::config::duration::parse as parse_duration;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::hosts::{Host, Network};
use support::kubectl::Kubectl;
use support::played_kubelet::register_node_when_ready;
use support::real::{real_kubernetes_version, real_tool};
use support::standin::{serve_http, OK};
use support::static_pods::StaticPods;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tool {
    Kubeadm,
    Kinit,
}

struct Sample {
    ready: Duration,
    own: Duration,
}

fn config(cp1: &Host) -> String {
    format!(
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: {address}
nodeRegistration:
  name: cp1
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: {version}
encryptionAlgorithm: ECDSA-P256
",
        address = cp1.address,
        version = real_kubernetes_version()
    )
}

/// What kubeadm waited: the kubelet's health, then the slowest control-plane component.
fn kubeadm_waits(stdout: &str) -> Duration {
    // A Go duration as kubeadm prints it (`1.234s`, `512.3ms`), read as kinit reads timeouts.
    let after = |line: &str| {
        let text = line.rsplit(" after ").next()?;
        Some(parse_duration(text).unwrap_or_else(|e| panic!("{e} in {line:?}")))
    };
    let kubelet = stdout
        .lines()
        .filter(|l| l.starts_with("[kubelet-check] The kubelet is healthy after "))
        .find_map(after)
        .expect("kubeadm's kubelet check");
    let components = stdout
        .lines()
        .filter(|l| l.starts_with("[control-plane-check] ") && l.contains(" is healthy after "))
        .filter_map(after)
        .max()
        .expect("kubeadm's control-plane check");
    kubelet + components
}

/// What kinit waited: its wait-control-plane phase (the kubelet, then the components).
fn kinit_waits(stdout: &str) -> Duration {
    let waited: f64 = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "phase-end" && e["phase"] == "wait-control-plane")
        .filter_map(|e| e["durationMs"].as_f64())
        .sum();
    Duration::from_secs_f64(waited / 1000.0)
}

fn one_round(tool: Tool, round: usize) -> Sample {
    let network = Network::new(&format!("bench{round}"), &["cp1"]);
    let cp1 = network.host("cp1");
    let pods = StaticPods::watch(cp1);
    serve_http(cp1.listen("127.0.0.1", 10248), OK);
    std::fs::write(cp1.path("/kubeadm.yaml"), config(cp1)).unwrap();
    let ended = AtomicBool::new(false);
    let (out, took, registered) = std::thread::scope(|scope| {
        let kubelet = scope.spawn(|| register_node_when_ready(cp1, &ended));
        let started = Instant::now();
        let out = match tool {
            Tool::Kubeadm => cp1
                .command(real_tool("kubeadm"))
                .args(["init", "--config", "/kubeadm.yaml", "--rootfs"])
                .arg(cp1.root())
                .arg("--skip-phases=preflight")
                .output()
                .unwrap(),
            Tool::Kinit => {
                let config = cp1.path("/kubeadm.yaml");
                cp1.kinit(&[
                    "init",
                    "--config",
                    config.to_str().unwrap(),
                    "--skip-phases",
                    "preflight",
                    "-o",
                    "json",
                ])
            }
        };
        let took = started.elapsed();
        ended.store(true, Ordering::SeqCst);
        (out, took, kubelet.join().unwrap())
    });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && registered.is_ok(),
        "{tool:?} init failed ({registered:?}):\n{stdout}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        pods.tails(20)
    );
    // What "ready" means here, checked after the clock stopped: /livez and the objects.
    let admin = Kubectl::new(cp1, "/etc/kubernetes/admin.conf");
    admin.try_ok(&["get", "--raw", "/livez"]).unwrap();
    for object in [
        "configmap/kubeadm-config",
        "configmap/kubelet-config",
        "configmap/coredns",
        "configmap/kube-proxy",
        "deployment/coredns",
        "daemonset/kube-proxy",
    ] {
        admin.try_ok(&["get", "-n", "kube-system", object]).unwrap();
    }
    admin
        .try_ok(&["get", "-n", "kube-public", "configmap/cluster-info"])
        .unwrap();
    let waited = match tool {
        Tool::Kubeadm => kubeadm_waits(&stdout),
        Tool::Kinit => kinit_waits(&stdout),
    };
    Sample {
        ready: took,
        own: took.saturating_sub(waited),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rounds: usize = std::env::var("KINIT_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let mut kubeadm = Vec::new();
    let mut kinit = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [Tool::Kubeadm, Tool::Kinit]
        } else {
            [Tool::Kinit, Tool::Kubeadm]
        };
        for tool in order {
            let sample = one_round(tool, round);
            eprintln!(
                "round {round}: {tool:?} ready after {:.0} ms, own {:.0} ms",
                ms(sample.ready),
                ms(sample.own)
            );
            match tool {
                Tool::Kubeadm => kubeadm.push(sample),
                Tool::Kinit => kinit.push(sample),
            }
        }
    }
    let summary = |samples: &[Sample]| {
        (
            median(samples.iter().map(|s| s.ready).collect()),
            median(samples.iter().map(|s| s.own).collect()),
        )
    };
    let (kubeadm_ready, kubeadm_own) = summary(&kubeadm);
    let (kinit_ready, kinit_own) = summary(&kinit);
    println!(
        "init on a real control plane (ECDSA-P256, {rounds} rounds each, medians):\n\
         {:<8} {:>22} {:>12}\n\
         {:<8} {:>19.0} ms {:>9.0} ms\n\
         {:<8} {:>19.0} ms {:>9.0} ms\n\
         ratio kinit / kubeadm: ready {:.2}, own {:.2}",
        "tool",
        "to a ready cluster",
        "own time",
        "kubeadm",
        ms(kubeadm_ready),
        ms(kubeadm_own),
        "kinit",
        ms(kinit_ready),
        ms(kinit_own),
        kinit_ready.as_secs_f64() / kubeadm_ready.as_secs_f64(),
        kinit_own.as_secs_f64() / kubeadm_own.as_secs_f64(),
    );
}
