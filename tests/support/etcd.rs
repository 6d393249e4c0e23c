//! The real etcd of the test venv run the way the kubelet would run the static Pod kinit wrote
//! under a node's root, and etcdctl to talk to it; the tests that run etcd share these so that
//! each reads the manifest and starts etcd the same way.

use super::hosts::Namespace;
use super::venv::venv_tool;
use kinit_phases::domain::config::yaml::parse_documents;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Output};
use std::time::{Duration, Instant};

/// A host path as it lies under `root`.
fn under(root: &Path, host_path: &str) -> PathBuf {
    root.join(host_path.trim_start_matches('/'))
}

/// The command of the static Pod manifest of `component` under `root`.
pub fn manifest_command(root: &Path, component: &str) -> Vec<String> {
    let path = under(root, &format!("/etc/kubernetes/manifests/{component}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let pod: Value = parse_documents(&text).unwrap().remove(0).value;
    pod["spec"]["containers"][0]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The value of `--name=` in the manifest command of `component` under `root`.
pub fn manifest_flag(root: &Path, component: &str, name: &str) -> Option<String> {
    let prefix = format!("--{name}=");
    manifest_command(root, component)
        .iter()
        .find_map(|a| a.strip_prefix(&prefix).map(str::to_string))
}

/// The static Pod command of `component` without its binary (the venv's stands in for it), with
/// every absolute path (a flag value starting with `/`) moved under `root`, as the kubelet would
/// run it there.
pub fn static_pod_argv(root: &Path, component: &str) -> Vec<String> {
    let command = manifest_command(root, component);
    assert_eq!(command[0], component, "{command:?}");
    command[1..]
        .iter()
        .map(|arg| match arg.split_once('=') {
            Some((name, value)) if value.starts_with('/') => {
                format!("{name}={}", under(root, value).display())
            }
            _ => arg.clone(),
        })
        .collect()
}

/// A running etcd, logging to `etcd.log` at the root; killed and reaped on drop. `ip netns exec`
/// and the venv's wrapper both exec, so the child is etcd itself.
pub struct Etcd {
    child: Child,
    log: PathBuf,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Etcd {
    /// The etcd static Pod under `root`, inside `ns`.
    pub fn start(ns: &Namespace, root: &Path) -> Etcd {
        Etcd::run(ns, root, &static_pod_argv(root, "etcd"))
    }

    /// etcd with the arguments `args`, inside `ns`, logging to `etcd.log` in `root`.
    pub fn run(ns: &Namespace, root: &Path, args: &[String]) -> Etcd {
        let log = root.join("etcd.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = ns
            .command(venv_tool("etcd"))
            .args(args)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Etcd { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How etcd ended, once it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Waits until `ready` holds, failing with etcd's log if etcd exits or 20 s pass.
    pub fn wait_for(&mut self, what: &str, mut ready: impl FnMut() -> bool) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                panic!("etcd exited ({status}) before {what}:\n{}", self.log());
            }
            if ready() {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "etcd not {what} after 20 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Client files for etcdctl: CA to trust the server, certificate and key to present.
pub struct Client {
    pub endpoint: String,
    pub cacert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Client {
    /// The etcd CA under `root` and the client `<pair>.crt`/`.key` of its PKI folder, as
    /// `etcd/healthcheck-client` or `apiserver-etcd-client`.
    pub fn of(root: &Path, pair: &str, endpoint: &str) -> Client {
        let pki = under(root, "/etc/kubernetes/pki");
        Client {
            endpoint: endpoint.to_string(),
            cacert: pki.join("etcd/ca.crt"),
            cert: pki.join(format!("{pair}.crt")),
            key: pki.join(format!("{pair}.key")),
        }
    }
}

/// etcdctl inside `ns`, with a 5 s command timeout.
pub fn etcdctl(ns: &Namespace, client: &Client, args: &[&str]) -> Output {
    etcdctl_timeout(ns, client, "5s", args)
}

pub fn etcdctl_timeout(ns: &Namespace, client: &Client, timeout: &str, args: &[&str]) -> Output {
    ns.command(venv_tool("etcdctl"))
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", client.endpoint))
        .arg(format!("--cacert={}", client.cacert.display()))
        .arg(format!("--cert={}", client.cert.display()))
        .arg(format!("--key={}", client.key.display()))
        .arg("--dial-timeout=3s")
        .arg(format!("--command-timeout={timeout}"))
        .args(args)
        .output()
        .unwrap()
}

/// [`etcdctl`], failing with its output unless it succeeds; its stdout.
pub fn etcdctl_ok(ns: &Namespace, client: &Client, args: &[&str]) -> String {
    let out = etcdctl(ns, client, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "etcdctl {args:?} at {}: {stdout}{}",
        client.endpoint,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
