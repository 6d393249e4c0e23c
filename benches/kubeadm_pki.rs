//! A fresh PKI and the kubeconfig files of a control-plane node, made by the real kubeadm and by
//! kinit in the same run: `init phase certs all` then `init phase kubeconfig all`, each a whole
//! process, into an empty root, with the same v1beta4 configuration. Round by round the two tools
//! take turns (and which goes first alternates), so both see the same machine load. Prints medians
//! and the ratio kinit / kubeadm.
//!
//! kubeadm's `--rootfs` chroots into the root, so it must run as root and reads `--config` inside
//! the root (`/kubeadm.yaml`); kinit resolves paths under the root itself and reads `--config` from
//! the host path. Both get the same file. The real kubeadm is the one `scripts/test-tools.sh`
//! builds (`KINIT_REAL_BIN` points at it if set).

#[path = "common/mod.rs"]
mod common;

use common::{median, ms, run};

use kinit_test_support as support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::real::{real_kubernetes_version, real_tool};

const NODE: &str = "node1";
/// Set, so that kubeadm does not look for the default route's address.
const ADDRESS: &str = "198.51.100.10";
const PHASES: [&str; 2] = ["certs", "kubeconfig"];

fn config(version: &str, algorithm: &str) -> String {
    format!(
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: {ADDRESS}
nodeRegistration:
  name: {NODE}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: {version}
encryptionAlgorithm: {algorithm}
"
    )
}

/// An empty root holding only the configuration, at `/kubeadm.yaml` inside it.
fn fresh_root(path: PathBuf, config: &str) -> PathBuf {
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(path.join("kubeadm.yaml"), config).unwrap();
    path
}

fn kubeadm(kubeadm: &Path, root: &Path) -> Duration {
    let started = Instant::now();
    for phase in PHASES {
        run(Command::new(kubeadm)
            .args(["init", "phase", phase, "all", "--config", "/kubeadm.yaml"])
            .arg("--rootfs")
            .arg(root));
    }
    started.elapsed()
}

fn kinit(root: &Path) -> Duration {
    let started = Instant::now();
    for phase in PHASES {
        run(Command::new(env!("CARGO_BIN_EXE_kinit"))
            .args(["init", "phase", phase, "all", "--rootfs"])
            .arg(root)
            .arg("--config")
            .arg(root.join("kubeadm.yaml")));
    }
    started.elapsed()
}

/// Every file under `root`, relative to it, sorted.
fn files(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

struct Row {
    label: &'static str,
    rounds: usize,
    kubeadm: Duration,
    kinit: Duration,
}

fn bench(kubeadm_bin: &Path, version: &str, label: &'static str, rounds: usize) -> Row {
    let work = tempfile::tempdir().unwrap();
    let config = config(version, label);
    let (mut by_kubeadm, mut by_kinit) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let kubeadm_root = fresh_root(work.path().join(format!("kubeadm-{round}")), &config);
        let kinit_root = fresh_root(work.path().join(format!("kinit-{round}")), &config);
        if round % 2 == 0 {
            by_kubeadm.push(kubeadm(kubeadm_bin, &kubeadm_root));
            by_kinit.push(kinit(&kinit_root));
        } else {
            by_kinit.push(kinit(&kinit_root));
            by_kubeadm.push(kubeadm(kubeadm_bin, &kubeadm_root));
        }
        // The same work on both sides: the same files, by name.
        let (made_by_kubeadm, made_by_kinit) = (files(&kubeadm_root), files(&kinit_root));
        assert_eq!(
            made_by_kubeadm, made_by_kinit,
            "{label}: kubeadm and kinit made different files"
        );
        std::fs::remove_dir_all(&kubeadm_root).unwrap();
        std::fs::remove_dir_all(&kinit_root).unwrap();
    }
    Row {
        label,
        rounds,
        kubeadm: median(by_kubeadm),
        kinit: median(by_kinit),
    }
}

fn main() {
    // kubeadm's --rootfs is a chroot, which only root may do: no figures rather than fake ones.
    let euid = std::fs::metadata("/proc/self").map(|m| m.uid());
    if euid.as_ref().ok() != Some(&0) {
        eprintln!(
            "kubeadm_pki: this benchmark must run as root (kubeadm --rootfs chroots into the root); \
             effective uid is {}",
            euid.map_or_else(|e| format!("unknown ({e})"), |uid| uid.to_string())
        );
        std::process::exit(1);
    }
    // `cargo bench` passes `--bench`; a filter argument, if any, picks one key type.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wanted = |label: &str| filter.as_deref().is_none_or(|f| label.contains(f));
    let kubeadm_bin = real_tool("kubeadm");
    let version = real_kubernetes_version();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "certs all + kubeconfig all into an empty root, two processes each: kubeadm {version} against kinit ({cores} cores)"
    );
    let mut rows = Vec::new();
    if wanted("RSA-2048") {
        rows.push(bench(&kubeadm_bin, &version, "RSA-2048", 9));
    }
    if wanted("ECDSA-P256") {
        rows.push(bench(&kubeadm_bin, &version, "ECDSA-P256", 21));
    }
    println!(
        "| key type | rounds | kubeadm median | kinit median | ratio kinit/kubeadm |\n|---|---|---|---|---|"
    );
    for row in rows {
        println!(
            "| {} | {} | {:.1} ms | {:.1} ms | {:.2} |",
            row.label,
            row.rounds,
            ms(row.kubeadm),
            ms(row.kinit),
            row.kinit.as_secs_f64() / row.kubeadm.as_secs_f64()
        );
    }
}
