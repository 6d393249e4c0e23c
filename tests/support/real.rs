//! The real Kubernetes programs (kubeadm, the control plane, kubelet, kube-proxy, etcd 3.6, CoreDNS) that
//! `scripts/test-tools.sh` builds from the Go module proxy. `scripts/test.sh` passes their folder in
//! `KINIT_REAL_BIN`; a plain `cargo test` runs the script itself (cached builds cost a second). A missing
//! program is a failure that says why, never a skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn real_bin() -> &'static Path {
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
