//! Small helpers every integration test uses to drive the `kinit` binary and look at what it wrote.
// Each test binary compiles this module and uses part of it.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

/// Runs the kinit binary under test with `args`.
pub fn kinit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kinit"))
        .args(args)
        .output()
        .unwrap()
}

/// `kinit init phase <words> --rootfs root --config config`, failing with its output unless it
/// succeeds: the tests that need a node's files make them this way.
pub fn init_phase(root: &Path, config: &Path, words: &[&str]) {
    let mut args = vec!["init", "phase"];
    args.extend_from_slice(words);
    args.extend([
        "--rootfs",
        root.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let out = kinit(&args);
    assert!(
        out.status.success(),
        "{args:?}\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The cluster-wide CAs and keys under /etc/kubernetes/pki that every control-plane node shares
/// (the ones kubeadm-certs carries to a joining one).
pub const SHARED_PKI: [&str; 8] = [
    "ca.crt",
    "ca.key",
    "front-proxy-ca.crt",
    "front-proxy-ca.key",
    "sa.key",
    "sa.pub",
    "etcd/ca.crt",
    "etcd/ca.key",
];

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Permission bits of a file, with setuid, setgid and sticky.
pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

// One copy with tests/support, whose etcd helpers need it too and which the benches include
// without this module: a test with both compiles the file twice, on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "../support/venv.rs"]
mod venv;
// Each test binary compiles this module and uses part of it.
#[allow(unused_imports)]
pub use venv::venv_tool;

/// True when a test that needs root may go on. Without root: skipped (with a line saying so) when
/// `KINIT_SKIP_ROOT_TESTS=1`, else a failure that says what is missing and how to skip.
pub fn have_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("");
    if euid == "0" {
        return true;
    }
    if std::env::var("KINIT_SKIP_ROOT_TESTS").as_deref() == Ok("1") {
        eprintln!("skipped: needs root (network namespaces)");
        return false;
    }
    panic!(
        "this test needs root (it creates network namespaces); run it as root, or set \
         KINIT_SKIP_ROOT_TESTS=1 to skip it (scripts/test.sh then reports it as skipped)"
    );
}
