//! The real tools of the test venv. Its own file, so that tests/common (every test) and
//! tests/support (the tests that run etcd, and the benches) share one copy.

use std::path::{Path, PathBuf};

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
