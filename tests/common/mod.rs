//! Small helpers every integration test uses to drive the `kinit` binary and look at what it wrote.
// Each test binary compiles this module and uses part of it.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the kinit binary under test with `args`.
pub fn kinit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kinit"))
        .args(args)
        .output()
        .unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Permission bits of a file, with setuid, setgid and sticky.
pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// A real tool from the test venv (kubectl, etcd, etcdctl, kubernetes-validate), failing clearly when
/// the venv is missing.
pub fn venv_tool(name: &str) -> PathBuf {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(name);
    assert!(
        tool.exists(),
        "{} is missing: run scripts/test.sh, which installs the test tools into .venv",
        tool.display()
    );
    tool
}
