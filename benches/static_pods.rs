//! The local files of a control-plane node after the PKI: the four static Pod manifests and the kubelet files,
//! rendered and written by `kinit init` running only those phases on a temp root. Three figures, medians:
//! - fresh: the phases on a root holding only the PKI (every file rendered and written);
//! - re-run: the same phases again (every file rendered, compared, left alone);
//! - baselines measured in the same run, with no rendering at all: the same bytes written the way kubeadm
//!   writes them (plain `write`, no temp file, no flush), and written one durable file at a time (temp
//!   file, fsync, rename), which is what kinit's one-flush-per-phase commit replaces.

#[path = "common/mod.rs"]
mod common;

use common::{median, ms};

use kinit_phases::flows;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ROUNDS: usize = 41;
/// The phases measured; everything else in the init table is skipped.
const MEASURED: &[&str] = &["etcd", "control-plane", "kubelet-start"];

const CONFIG: &str = "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
nodeRegistration:
  name: node1
localAPIEndpoint:
  advertiseAddress: 10.0.0.10
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
encryptionAlgorithm: ECDSA-P256
networking:
  podSubnet: 10.244.0.0/16
";

/// A root with the PKI and kubeconfigs in place, made by the kinit binary itself.
fn node_root(work: &Path, name: &str) -> PathBuf {
    let root = work.join(name);
    let config = work.join("kinit.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    for phase in ["certs", "kubeconfig"] {
        let out = Command::new(env!("CARGO_BIN_EXE_kinit"))
            .args(["init", "phase", phase, "all", "--rootfs"])
            .arg(&root)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    root
}

/// What one `kinit init` running only the measured phases cost: the whole command (start-up, config,
/// template compilation and all), and the phases alone as kinit's runner times them (`-o json` events).
struct Run {
    command: Duration,
    phases: Duration,
}

fn phases(root: &Path, config: &Path) -> Run {
    let skip: Vec<&str> = flows::init::phases()
        .iter()
        .map(|p| p.name)
        .filter(|name| !MEASURED.contains(name))
        .collect();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_kinit"))
        .args(["init", "-o", "json", "--rootfs"])
        .arg(root)
        .arg("--config")
        .arg(config)
        .arg("--skip-phases")
        .arg(skip.join(","))
        .output()
        .unwrap();
    let command = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut phase_ms = 0.0;
    for event in stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    {
        if event["event"] == "phase-end" && event["outcome"] == "ok" {
            phase_ms += event["durationMs"].as_f64().unwrap_or(0.0);
        }
    }
    Run {
        command,
        phases: Duration::from_secs_f64(phase_ms / 1e3),
    }
}

/// The files the measured phases wrote, relative to the root.
const WRITTEN: &[&str] = &[
    "etc/kubernetes/manifests/etcd.yaml",
    "etc/kubernetes/manifests/kube-apiserver.yaml",
    "etc/kubernetes/manifests/kube-controller-manager.yaml",
    "etc/kubernetes/manifests/kube-scheduler.yaml",
    "var/lib/kubelet/config.yaml",
    "var/lib/kubelet/kubeadm-flags.env",
    "etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
    "etc/systemd/system/kubelet.service",
];

/// The same bytes as kubeadm writes its files: straight over the old ones, nothing flushed.
fn write_plain(files: &[(PathBuf, Vec<u8>)]) -> Duration {
    let started = Instant::now();
    for (path, bytes) in files {
        std::fs::write(path, bytes).unwrap();
    }
    started.elapsed()
}

/// The same bytes written durably and atomically one file at a time.
fn write_floor(files: &[(PathBuf, Vec<u8>)]) -> Duration {
    let started = Instant::now();
    for (path, bytes) in files {
        let temp = path.with_extension("floor-tmp");
        let mut file = std::fs::File::create(&temp).unwrap();
        file.write_all(bytes).unwrap();
        file.sync_all().unwrap();
        std::fs::rename(&temp, path).unwrap();
    }
    started.elapsed()
}

fn main() {
    let work = tempfile::tempdir().unwrap();
    let pki_root = node_root(work.path(), "pki");
    let config = work.path().join("kinit.yaml");
    let (mut fresh, mut fresh_command, mut rerun, mut rerun_command) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut plain, mut floor) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // A fresh copy of the PKI-only root each round, so every round writes every file.
        let root = work.path().join(format!("round-{round}"));
        let out = Command::new("cp")
            .arg("-a")
            .arg(&pki_root)
            .arg(&root)
            .output()
            .unwrap();
        assert!(out.status.success());
        // On ext4 the first fsync after the copy would also flush the copy; charge that to the setup.
        assert!(Command::new("sync").status().unwrap().success());
        let first = phases(&root, &config);
        fresh.push(first.phases);
        fresh_command.push(first.command);
        let again = phases(&root, &config);
        rerun.push(again.phases);
        rerun_command.push(again.command);
        let files: Vec<(PathBuf, Vec<u8>)> = WRITTEN
            .iter()
            .map(|f| {
                let path = root.join(f);
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{f}: {e}"));
                (path, bytes)
            })
            .collect();
        assert!(Command::new("sync").status().unwrap().success());
        plain.push(write_plain(&files));
        assert!(Command::new("sync").status().unwrap().success());
        floor.push(write_floor(&files));
    }
    let (plain, floor) = (median(plain), median(floor));
    let fresh = (median(fresh), median(fresh_command));
    let rerun = (median(rerun), median(rerun_command));
    println!(
        "four static Pod manifests + kubelet files (kinit init running only {}), median of {ROUNDS}:",
        MEASURED.join(", ")
    );
    println!("                             phases  whole command");
    for (label, (phases, command)) in [("fresh write", fresh), ("re-run (nothing changes)", rerun)]
    {
        println!(
            "  {label:<24} {:>7.2} ms  {:>7.2} ms",
            ms(phases),
            ms(command)
        );
    }
    println!("  baselines, the same bytes without rendering:");
    println!(
        "    plain writes, as kubeadm  {:>6.2} ms   (kinit fresh phases / this: {:.2})",
        ms(plain),
        fresh.0.as_secs_f64() / plain.as_secs_f64()
    );
    println!(
        "    temp+fsync+rename each    {:>6.2} ms   (kinit fresh phases / this: {:.2})",
        ms(floor),
        fresh.0.as_secs_f64() / floor.as_secs_f64()
    );
}
