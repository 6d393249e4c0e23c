//! `kubeadm upgrade apply` and `kinit upgrade apply` on the same cluster, round by round in turns
//! (which goes first alternates, so both see the same machine load): each round a fresh
//! network-namespace host cp1 made by `kinit init` at the minor before (v1.33, its control plane run
//! from that minor's real programs by tests/support/static_pods.rs), then the clock runs over
//! `upgrade apply` to the main minor (v1.34) while the same played kubelet remakes the mirror Pods
//! of the changed manifests (tests/support/upgrade.rs). kubeadm runs as on the node, chrooted into
//! its root; both are told `-y` and skip the preflight phase (kubeadm's pulls the images, and with
//! no container runtime here it stops there whatever errors it is told to ignore). After the clock stops, every component must run the new
//! program. Needs root and the real programs of both minors (scripts/test-deps.sh); run with
//! `sudo cargo bench --bench kubeadm_upgrade` (`KINIT_BENCH_ROUNDS`, default 3).

#[path = "common/mod.rs"]
mod common;

use common::{median, ms};

use kinit_test_support as support;

use std::time::{Duration, Instant};

use support::hosts::Network;
use support::real::{real_bin, real_kubernetes_version};
use support::static_pods::StaticPods;
use support::upgrade::{beside_mirror_pods, cluster_at, kubeadm_on_node, previous_version};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tool {
    Kubeadm,
    Kinit,
}

const COMPONENTS: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

fn one_round(tool: Tool, round: usize, old: &str, new: &str) -> Duration {
    let label = match tool {
        Tool::Kubeadm => "a",
        Tool::Kinit => "k",
    };
    let network = Network::new(&format!("bup{round}{label}"), &["cp1"]);
    let cp1 = network.host("cp1");
    let pods = StaticPods::watch(cp1);
    cluster_at(cp1, &pods, old);
    let started = Instant::now();
    let out = beside_mirror_pods(cp1, &pods, || match tool {
        Tool::Kubeadm => kubeadm_on_node(
            cp1,
            &["upgrade", "apply", new, "-y", "--skip-phases=preflight"],
        ),
        Tool::Kinit => cp1.kinit(&["upgrade", "apply", new, "-y", "--skip-phases", "preflight"]),
    });
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{tool:?} upgrade apply failed:\n{}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        pods.tails(20)
    );
    // Checked after the clock stopped: each component runs the new program.
    let deadline = Instant::now() + Duration::from_secs(60);
    for component in COMPONENTS {
        while !pods
            .program(component)
            .is_some_and(|p| p.starts_with(real_bin()))
        {
            assert!(
                Instant::now() < deadline,
                "{tool:?}: {component} does not run the new program\n{}",
                pods.tails(20)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    took
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rounds: usize = std::env::var("KINIT_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let old = previous_version();
    let new = real_kubernetes_version();
    let mut kubeadm = Vec::new();
    let mut kinit = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [Tool::Kubeadm, Tool::Kinit]
        } else {
            [Tool::Kinit, Tool::Kubeadm]
        };
        for tool in order {
            let took = one_round(tool, round, &old, &new);
            eprintln!("round {round}: {tool:?} upgraded in {:.0} ms", ms(took));
            match tool {
                Tool::Kubeadm => kubeadm.push(took),
                Tool::Kinit => kinit.push(took),
            }
        }
    }
    let (kubeadm, kinit) = (median(kubeadm), median(kinit));
    println!(
        "upgrade apply {old} -> {new} on a real control plane ({rounds} rounds each, medians):\n\
         {:<8} {:>10.0} ms\n\
         {:<8} {:>10.0} ms\n\
         ratio kinit / kubeadm: {:.2}",
        "kubeadm",
        ms(kubeadm),
        "kinit",
        ms(kinit),
        kinit.as_secs_f64() / kubeadm.as_secs_f64(),
    );
}
