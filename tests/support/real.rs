//! The real Kubernetes programs (kubeadm, the control plane, kubelet, kube-proxy, etcd 3.6, CoreDNS) that
//! `scripts/test-tools.sh` builds from the Go module proxy. `scripts/test.sh` passes their folder in
//! `KINIT_REAL_BIN`; a plain `cargo test` runs the script itself (cached builds cost a second). A missing
//! program is a failure that says why, never a skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn real_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(dir) = std::env::var_os("KINIT_REAL_BIN") {
            return PathBuf::from(dir);
        }
        let script = crate::repo_root().join("scripts/test-tools.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{} failed, so the real tier cannot run:\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
    })
}

/// One of the real programs, e.g. `real_tool("kubeadm")`.
pub fn real_tool(name: &str) -> PathBuf {
    let path = real_bin().join(name);
    assert!(
        path.exists(),
        "{} is missing: scripts/test-tools.sh builds it (KINIT_REAL_BIN={})",
        path.display(),
        real_bin().display()
    );
    path
}

/// The Kubernetes version the real programs were built at (`v1.34.x`).
pub fn real_kubernetes_version() -> String {
    let versions = std::fs::read_to_string(real_bin().join("VERSIONS"))
        .unwrap_or_else(|e| panic!("{}/VERSIONS: {e}", real_bin().display()));
    versions.split_whitespace().next().unwrap().to_string()
}

/// The real programs of the minor before the main one (v1.33), for the upgrade tests:
/// `KINIT_REAL_BIN_PREVIOUS`, or built by `scripts/test-tools.sh` with `KINIT_K8S_VERSION=v1.33`.
pub fn previous_real_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(dir) = std::env::var_os("KINIT_REAL_BIN_PREVIOUS") {
            return PathBuf::from(dir);
        }
        let script = crate::repo_root().join("scripts/test-tools.sh");
        let out = Command::new("bash")
            .arg(&script)
            .env("KINIT_K8S_VERSION", "v1.33")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} (KINIT_K8S_VERSION=v1.33) failed, so the upgrade tests cannot run:\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
    })
}

/// The versions a folder of real programs holds: Kubernetes, etcd, CoreDNS.
pub fn versions_in(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("VERSIONS"))
        .unwrap_or_else(|e| panic!("{}/VERSIONS: {e}", dir.display()))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The real program a static Pod's container runs: from the folder whose versions match the
/// image's tag (a `kube-*` image by its Kubernetes minor, etcd by its etcd minor), the main
/// folder when neither folder matches.
pub fn real_program_for_image(program: &str, image: &str) -> PathBuf {
    let tag = image
        .rsplit_once(':')
        .map_or("", |(_, t)| t)
        .trim_start_matches('v');
    let minor = |v: &str| {
        let mut parts = v.trim_start_matches('v').split('.');
        format!(
            "{}.{}",
            parts.next().unwrap_or(""),
            parts.next().unwrap_or("")
        )
    };
    let index = if program == "etcd" { 1 } else { 0 };
    let mut folders = vec![real_bin().to_path_buf()];
    if std::env::var_os("KINIT_REAL_BIN_PREVIOUS").is_some() || PREVIOUS_WANTED.get().is_some() {
        folders.push(previous_real_bin().to_path_buf());
    }
    for folder in &folders {
        let versions = versions_in(folder);
        if versions.get(index).is_some_and(|v| minor(v) == minor(tag))
            && folder.join(program).exists()
        {
            return folder.join(program);
        }
    }
    real_tool(program)
}

/// Set by a test that runs two minors, so that images of the older one find its programs.
pub static PREVIOUS_WANTED: OnceLock<()> = OnceLock::new();
