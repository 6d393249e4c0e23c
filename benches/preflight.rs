//! A full init preflight run (every check, on kinit's worker pool) against the same checks run one after
//! another in the same process, the baseline measured in the same run. Two hosts: this machine as it is,
//! and a prepared node root (binaries on PATH, kernel settings on, and a kubelet played by the real kubectl Go binary from .venv), where
//! checks start processes and so wait. Prints medians and their ratio.

#[path = "common/mod.rs"]
mod common;

use common::median;

use kinit_phases::domain::config::resolve::{resolve_init, InitFlags};
use kinit_phases::steps::preflight::node_facts;
use kinit_preflight::{init_checks, run, Check, Host, IgnoreList, RealHost};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

const ROUNDS: usize = 41;

fn measure(mut f: impl FnMut()) -> Duration {
    f();
    median(
        (0..ROUNDS)
            .map(|_| {
                let started = Instant::now();
                f();
                started.elapsed()
            })
            .collect(),
    )
}

fn write(root: &Path, path: &str, content: &str, mode: u32) {
    let target = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, content).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A node root as a prepared machine has it: the tools on PATH, kernel settings on, a kubelet binary.
fn prepared_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for tool in [
        "crictl",
        "conntrack",
        "ip",
        "iptables",
        "mount",
        "nsenter",
        "ebtables",
        "ethtool",
        "socat",
        "tc",
        "touch",
    ] {
        write(r, &format!("/usr/bin/{tool}"), "#!/bin/sh\n", 0o755);
    }
    // A real Kubernetes Go binary stands in for the kubelet, so `kubelet --version` costs what it does on a
    // node (the version it prints does not matter here).
    let kubectl = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/kubectl");
    let kubelet = if kubectl.exists() {
        format!(
            "#!/bin/sh\n{} version --client | head -n 1\n",
            kubectl.display()
        )
    } else {
        "#!/bin/sh\necho Kubernetes v1.34.0\n".to_string()
    };
    write(r, "/usr/bin/kubelet", &kubelet, 0o755);
    write(r, "/proc/sys/net/ipv4/ip_forward", "1\n", 0o644);
    write(
        r,
        "/proc/sys/net/bridge/bridge-nf-call-iptables",
        "1\n",
        0o644,
    );
    write(
        r,
        "/proc/swaps",
        "Filename Type Size Used Priority\n",
        0o644,
    );
    write(r, "/proc/meminfo", "MemTotal: 8000000 kB\n", 0o644);
    write(r, "/sys/devices/system/cpu/online", "0-1\n", 0o644);
    write(r, "/proc/sys/kernel/osrelease", "6.1.0\n", 0o644);
    write(
        r,
        "/sys/fs/cgroup/cgroup.controllers",
        "cpuset cpu memory pids\n",
        0o644,
    );
    root
}

fn scenario(label: &str, checks: &[Check], host: &dyn Host) {
    let ignore = IgnoreList::new(["all"]);
    let concurrent = measure(|| {
        let _ = run(checks, host, &ignore);
    });
    let sequential = measure(|| {
        for check in checks {
            let _ = check.run(host);
        }
    });
    println!(
        "preflight on {label} ({} checks, median of {ROUNDS}):",
        checks.len()
    );
    println!(
        "  kinit (concurrent)     {:>8.2} ms",
        concurrent.as_secs_f64() * 1e3
    );
    println!(
        "  baseline (sequential)  {:>8.2} ms",
        sequential.as_secs_f64() * 1e3
    );
    println!(
        "  ratio kinit/baseline   {:>8.2}",
        concurrent.as_secs_f64() / sequential.as_secs_f64()
    );
}

fn main() {
    let flags = InitFlags {
        apiserver_advertise_address: Some("198.51.100.10".into()),
        node_name: Some("localhost".into()),
        ..Default::default()
    };
    let config =
        resolve_init(None, &flags, Path::new("/")).expect("default configuration resolves");
    let mut facts = node_facts(&config, true);
    facts.pull_images = false;
    let checks: Vec<Check> = init_checks(&facts);
    scenario("this machine", &checks, &RealHost::new("/"));
    let root = prepared_root();
    std::env::set_var("PATH", "/usr/bin");
    scenario("a prepared node root", &checks, &RealHost::new(root.path()));
}
