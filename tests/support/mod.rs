//! Test support shared by the integration tests and the benches, as the crate
//! `kinit-test-support` (`use kinit_test_support as support;`), compiled once for all of them.

use std::path::{Path, PathBuf};

pub mod apiserver;
pub mod containerd;
pub mod daemon;
pub mod etcd;
pub mod hosts;
pub mod https;
pub mod kubectl;
pub mod kubelet;
pub mod played_kubelet;
pub mod real;
pub mod real_kubelet;
pub mod standin;
pub mod static_pods;
pub mod upgrade;
pub mod venv;

/// The kinit repository, where `.venv` and `scripts/` are.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/support sits two folders below the repository")
}

/// The kinit binary under test: Cargo builds it beside the folder of the test or bench binary
/// that runs (`target/<profile>/deps/<test>` next to `target/<profile>/kinit`).
pub fn kinit_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile| profile.join("kinit"))
        .expect("a test binary runs from target/<profile>/deps");
    assert!(
        bin.exists(),
        "{} is missing: run the tests through cargo, which builds kinit for them",
        bin.display()
    );
    bin
}
