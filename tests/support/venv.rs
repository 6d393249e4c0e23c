//! The real tools of the test venv.

use std::path::PathBuf;

/// A real tool from the test venv (kubectl, etcd, etcdctl, kubernetes-validate), failing clearly when
/// the venv is missing.
pub fn venv_tool(name: &str) -> PathBuf {
    let tool = crate::repo_root().join(".venv/bin").join(name);
    assert!(
        tool.exists(),
        "{} is missing: run scripts/test.sh, which installs the test tools into .venv",
        tool.display()
    );
    tool
}
