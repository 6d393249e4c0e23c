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

// Each test binary compiles this module and uses part of it.
#[allow(unused_imports)]
pub use kinit_test_support::venv::venv_tool;

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

/// The last line of a kinit run's stdout as its JSON result object; a failure with kinit's output
/// and `logs` (the tails of the programs around it) unless it succeeded with outcome `success`.
pub fn kinit_result(out: Output, what: &str, logs: impl Fn() -> String) -> serde_json::Value {
    let stdout = text(&out.stdout);
    let result: Option<serde_json::Value> = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok());
    if !out.status.success() {
        // kinit's own error, else the end of what it wrote.
        let said = result
            .as_ref()
            .and_then(|r| r["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| {
                let all = format!("{stdout}{}", text(&out.stderr));
                all[all.len().saturating_sub(3000)..].to_string()
            });
        panic!(
            "{what} failed ({}): {said}\nstderr: {}\n{}",
            out.status,
            text(&out.stderr),
            logs()
        );
    }
    let result = result.unwrap_or_else(|| panic!("{what}: no JSON result in\n{stdout}"));
    assert_eq!(result["outcome"], "success", "{what}: {result}");
    result
}

/// `command`'s output, with `input` (when given) written to its standard input, which is otherwise
/// empty.
pub fn output_with_input(command: &mut Command, input: Option<&[u8]>) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    if let Some(input) = input {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}
