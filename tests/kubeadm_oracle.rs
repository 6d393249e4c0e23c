//! kubeadm as the oracle: the real kubeadm (built by scripts/test-tools.sh) and kinit get the same
//! configuration (tests/oracle/inputs.rs), each a fresh root, inside one network namespace (so both find
//! the same default-route address). One test runs init's file-writing phases and compares every fact of
//! what they wrote; the other runs a whole `init --dry-run` and compares every object they would send
//! to the API server. An unlisted difference fails; the table per input is printed.

mod common;
mod oracle;
use kinit_test_support as support;

use oracle::facts::tree_facts;
use oracle::inputs::{compat_inputs, generated_inputs, oracle_namespace, Input};
use oracle::objects::{kinit_objects, kubeadm_objects, object_facts};
use oracle::{compare, listed_differences, report, Comparison};
use std::process::Output;
use support::hosts::Namespace;
use support::real::{real_kubernetes_version, real_tool};
use tempfile::TempDir;

/// The phases that write files, in init's order, as both tools name them.
const FILE_PHASES: [&[&str]; 5] = [
    &["certs", "all"],
    &["kubeconfig", "all"],
    &["etcd", "local"],
    &["control-plane", "all"],
    &["kubelet-start"],
];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn must(out: Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({:?})\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Two fresh roots, kubeadm's and kinit's, each with the namespace's routes under proc/net, the
/// input as /kubeadm.yaml and its files.
fn prepared_roots(ns: &Namespace, input: &Input) -> [TempDir; 2] {
    let roots = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let routes = ns.must(&["cat", "/proc/net/route"]);
    let routes6 = ns.must(&["cat", "/proc/net/if_inet6"]);
    for root in roots.iter().map(TempDir::path) {
        std::fs::create_dir_all(root.join("proc/net")).unwrap();
        std::fs::write(root.join("proc/net/route"), &routes).unwrap();
        std::fs::write(root.join("proc/net/if_inet6"), &routes6).unwrap();
        std::fs::write(root.join("kubeadm.yaml"), &input.yaml).unwrap();
        for (path, content) in &input.files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
    }
    roots
}

/// Runs `args` with kubeadm in its root and kinit (`kinit_only` added) in its own, both with the
/// input's configuration, failing unless both succeed; returns their standard outputs.
fn both(
    ns: &Namespace,
    input: &Input,
    roots: &[TempDir; 2],
    args: &[&str],
    kinit_only: &[&str],
) -> [String; 2] {
    let out = ns
        .command(real_tool("kubeadm"))
        .args(args)
        .args(["--config", "/kubeadm.yaml", "--rootfs"])
        .arg(roots[0].path())
        .output()
        .unwrap();
    let kubeadm_stdout = text(&out.stdout);
    must(out, &format!("{}: kubeadm {}", input.name, args.join(" ")));
    let out = ns
        .command(env!("CARGO_BIN_EXE_kinit"))
        .args(args)
        .args(kinit_only)
        .arg("--config")
        .arg(roots[1].path().join("kubeadm.yaml"))
        .arg("--rootfs")
        .arg(roots[1].path())
        .output()
        .unwrap();
    let kinit_stdout = text(&out.stdout);
    must(out, &format!("{}: kinit {}", input.name, args.join(" ")));
    [kubeadm_stdout, kinit_stdout]
}

/// Runs the file phases of both tools for `input`; compares what they wrote.
fn files_of_both(ns: &Namespace, input: &Input) -> Comparison {
    let roots = prepared_roots(ns, input);
    for phase in FILE_PHASES {
        let mut args = vec!["init", "phase"];
        args.extend_from_slice(phase);
        both(ns, input, &roots, &args, &[]);
    }
    let a = tree_facts(roots[0].path(), &input.cert_dir);
    let b = tree_facts(roots[1].path(), &input.cert_dir);
    compare(&input.name, &a, &b, &listed_differences())
}

/// A whole `init --dry-run` of both tools for `input`, with --upload-certs; compares every object
/// they would send.
fn objects_of_both(ns: &Namespace, input: &Input) -> Comparison {
    let roots = prepared_roots(ns, input);
    let [kubeadm, kinit] = both(
        ns,
        input,
        &roots,
        &[
            "init",
            "--dry-run",
            "--ignore-preflight-errors=all",
            "--upload-certs",
        ],
        &["-o", "json"],
    );
    let (a, b) = (kubeadm_objects(&kubeadm), kinit_objects(&kinit));
    assert!(
        a.len() > 20 && b.len() > 20,
        "{}: too few objects (kubeadm {}, kinit {}); kubeadm said:\n{kubeadm}",
        input.name,
        a.len(),
        b.len()
    );
    compare(
        &input.name,
        &object_facts(&a),
        &object_facts(&b),
        &listed_differences(),
    )
}

/// Every input (or those KINIT_ORACLE_ONLY names) through `run`, in a namespace of its own; prints
/// the table and fails on an unlisted difference.
fn oracle(label: &str, what: &str, run: fn(&Namespace, &Input) -> Comparison) {
    let version = real_kubernetes_version();
    let ns = oracle_namespace(label);
    let mut inputs = compat_inputs(&version);
    inputs.extend(generated_inputs(&version));
    let only = std::env::var("KINIT_ORACLE_ONLY").unwrap_or_default();
    let comparisons: Vec<Comparison> = inputs
        .iter()
        .filter(|i| only.is_empty() || i.name.contains(&only))
        .map(|i| run(&ns, i))
        .collect();
    let table = report(&comparisons, &listed_differences());
    println!("kubeadm {version} vs kinit, {what}:\n{table}");
    let unlisted: usize = comparisons.iter().map(|c| c.unlisted().len()).sum();
    assert_eq!(
        unlisted, 0,
        "{unlisted} differences are not listed in the README (above)"
    );
}

#[test]
fn needs_root_kubeadm_and_kinit_write_the_same_node_files() {
    if common::have_root() {
        oracle("oracle", "files of init's file phases", files_of_both);
    }
}

#[test]
fn needs_root_kubeadm_and_kinit_would_send_the_same_objects() {
    if common::have_root() {
        oracle("oracle-api", "objects of init --dry-run", objects_of_both);
    }
}
