//! The etcd static pod, run for real: the command of the manifest kinit wrote, started with the etcd
//! binary of the test venv (etcd 3.5) and the PKI kinit generated under a temp root, inside a fresh
//! network namespace where etcd's fixed ports are free. Then `etcdctl` talks to it the way the API
//! server and the probes would.
//!
//! Network namespaces need root. A `needs_root_` test run without root fails and says so, unless
//! `KINIT_SKIP_ROOT_TESTS=1` is set: then it prints that it was skipped (and `scripts/test.sh` leaves
//! it out with `--skip needs_root_` and reports it as SKIPPED).

mod common;
use common::{kinit, text, venv_tool};

use kinit_phases::config::yaml::parse_documents;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The address the test node advertises; it lives only inside the test's network namespace.
const ADVERTISE: &str = "198.51.100.10";

/// True when the test may go on. Without root: skipped (with a line saying so) when
/// `KINIT_SKIP_ROOT_TESTS=1`, else a failure that says what is missing and how to skip.
fn have_root() -> bool {
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
        "this test needs root (it creates a network namespace); run it as root, or set \
         KINIT_SKIP_ROOT_TESTS=1 to skip it (scripts/test.sh then reports it as skipped)"
    );
}

/// `kinit init phase <words> --rootfs root --config config`, expecting success.
fn phase(root: &Path, config: &Path, words: &[&str]) {
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

/// A node configuration advertising [`ADVERTISE`]; `etcd_tag` pins the etcd image tag.
fn write_config(dir: &Path, etcd_tag: Option<&str>) -> PathBuf {
    let mut config = format!(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  \
         advertiseAddress: {ADVERTISE}\nnodeRegistration:\n  name: cp1\n---\n\
         apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
    );
    if let Some(tag) = etcd_tag {
        config.push_str(&format!("etcd:\n  local:\n    imageTag: {tag}\n"));
    }
    let path = dir.join("kinit.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

/// A temp node root with the PKI, the etcd manifest and the API server manifest kinit wrote.
struct Node {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Node {
    fn new(etcd_tag: Option<&str>) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let config = write_config(dir.path(), etcd_tag);
        phase(&root, &config, &["certs", "all"]);
        phase(&root, &config, &["etcd", "local"]);
        phase(&root, &config, &["control-plane", "apiserver"]);
        Node { _dir: dir, root }
    }

    /// A host path as it lies under the temp root.
    fn host(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    fn command(&self, component: &str) -> Vec<String> {
        let path = self.host(&format!("/etc/kubernetes/manifests/{component}.yaml"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let pod: Value = parse_documents(&text).unwrap().remove(0).value;
        pod["spec"]["containers"][0]["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    /// The value of `--name=` in a component's command.
    fn flag(&self, component: &str, name: &str) -> String {
        let prefix = format!("--{name}=");
        self.command(component)
            .iter()
            .find_map(|a| a.strip_prefix(&prefix).map(str::to_string))
            .unwrap_or_else(|| panic!("{component} has no --{name}"))
    }

    /// The etcd manifest's command with the venv's etcd as the binary and every absolute path
    /// (a flag value starting with `/`) moved under the temp root.
    fn etcd_argv(&self) -> Vec<String> {
        let command = self.command("etcd");
        assert_eq!(command[0], "etcd");
        command[1..]
            .iter()
            .map(|arg| match arg.split_once('=') {
                Some((name, value)) if value.starts_with('/') => {
                    format!("{name}={}", self.host(value).display())
                }
                _ => arg.clone(),
            })
            .collect()
    }
}

/// A network namespace with `lo` up and [`ADVERTISE`] on one end of a veth pair that never leaves
/// it; deleted on drop, also when the test fails.
struct NetNs {
    name: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip (iproute2): {e}"));
    assert!(
        out.status.success(),
        "ip {args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

impl NetNs {
    fn new(test: &str) -> NetNs {
        let name = format!("kinit-{test}-{}", std::process::id());
        // A namespace left by a killed earlier run of the same pid would make `add` fail.
        let _ = Command::new("ip")
            .args(["netns", "delete", &name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &name]);
        let ns = NetNs { name };
        let n = ns.name.as_str();
        ip(&["-n", n, "link", "set", "lo", "up"]);
        ip(&[
            "-n", n, "link", "add", "kinit0", "type", "veth", "peer", "name", "kinit1",
        ]);
        ip(&[
            "-n",
            n,
            "addr",
            "add",
            &format!("{ADVERTISE}/24"),
            "dev",
            "kinit0",
        ]);
        ip(&["-n", n, "link", "set", "kinit1", "up"]);
        ip(&["-n", n, "link", "set", "kinit0", "up"]);
        ns
    }

    /// A command run inside the namespace.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.name])
            .arg(program)
            .stdin(Stdio::null());
        command
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

/// A running etcd; killed and reaped on drop. `ip netns exec` and the venv's wrapper both exec, so
/// the child is etcd itself.
struct Etcd {
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
    fn start(ns: &NetNs, node: &Node) -> Etcd {
        let log = node.root.join("etcd.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = ns
            .command(venv_tool("etcd"))
            .args(node.etcd_argv())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Etcd { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `ready` holds, failing with etcd's log if etcd exits or 20 s pass.
    fn wait_for(&mut self, what: &str, mut ready: impl FnMut() -> bool) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
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
struct Client {
    endpoint: String,
    cacert: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn etcdctl(ns: &NetNs, client: &Client, args: &[&str]) -> Output {
    etcdctl_timeout(ns, client, "5s", args)
}

fn etcdctl_timeout(ns: &NetNs, client: &Client, timeout: &str, args: &[&str]) -> Output {
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

fn etcdctl_ok(ns: &NetNs, client: &Client, args: &[&str]) -> String {
    let out = etcdctl(ns, client, args);
    assert!(
        out.status.success(),
        "etcdctl {args:?} at {}: {}{}",
        client.endpoint,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Plain HTTP GET from inside the namespace (Python of the venv, so no curl is needed); status and body.
fn http_get(ns: &NetNs, url: &str) -> (u16, String) {
    let script = "import sys, urllib.request, urllib.error\n\
                  try:\n    r = urllib.request.urlopen(sys.argv[1], timeout=5); print(r.status); print(r.read().decode())\n\
                  except urllib.error.HTTPError as e:\n    print(e.code); print(e.read().decode())\n";
    let out = ns
        .command(venv_tool("python3"))
        .args(["-c", script, url])
        .output()
        .unwrap();
    assert!(out.status.success(), "GET {url}: {}", text(&out.stderr));
    let body = text(&out.stdout);
    let (status, rest) = body.split_once('\n').unwrap_or((&body, ""));
    (status.trim().parse().unwrap(), rest.to_string())
}

#[test]
fn needs_root_etcd_runs_with_the_manifest_and_pki_kinit_wrote() {
    if !have_root() {
        return;
    }
    // The test etcd is 3.5: an explicit 3.5 image tag gives the flags etcd 3.5 takes.
    let node = Node::new(Some("3.5.21-0"));
    let argv = node.etcd_argv();
    assert!(
        argv.contains(&"--experimental-initial-corrupt-check=true".to_string()),
        "{argv:?}"
    );
    assert!(!argv.iter().any(|a| a.starts_with("--feature-gates")));

    let ns = NetNs::new("etcd");
    let mut etcd = Etcd::start(&ns, &node);

    // The API server's view of etcd: its --etcd-servers, --etcd-cafile/-certfile/-keyfile.
    let servers = node.flag("kube-apiserver", "etcd-servers");
    assert_eq!(servers, "https://127.0.0.1:2379");
    let apiserver = |endpoint: &str| Client {
        endpoint: endpoint.to_string(),
        cacert: node.host(&node.flag("kube-apiserver", "etcd-cafile")),
        cert: node.host(&node.flag("kube-apiserver", "etcd-certfile")),
        key: node.host(&node.flag("kube-apiserver", "etcd-keyfile")),
    };
    let healthcheck = Client {
        endpoint: servers.clone(),
        cacert: node.host("/etc/kubernetes/pki/etcd/ca.crt"),
        cert: node.host("/etc/kubernetes/pki/etcd/healthcheck-client.crt"),
        key: node.host("/etc/kubernetes/pki/etcd/healthcheck-client.key"),
    };
    etcd.wait_for("healthy", || {
        etcdctl(&ns, &healthcheck, &["endpoint", "health"])
            .status
            .success()
    });

    // Put and get over mTLS as the API server, on the loopback URL it uses and on the advertised one.
    let local = apiserver(&servers);
    etcdctl_ok(
        &ns,
        &local,
        &["put", "/registry/kinit-test", "written-by-test"],
    );
    let got = etcdctl_ok(
        &ns,
        &apiserver(&format!("https://{ADVERTISE}:2379")),
        &["get", "/registry/kinit-test", "--print-value-only"],
    );
    assert_eq!(got.trim(), "written-by-test");

    let health = etcdctl_ok(&ns, &healthcheck, &["endpoint", "health"]);
    assert!(health.contains("is healthy"), "{health}");

    // One member, named after the node, with the peer URL of the manifest.
    let members = etcdctl_ok(&ns, &local, &["member", "list"]);
    assert!(
        members.contains(&format!(
            "cp1, https://{ADVERTISE}:2380, https://{ADVERTISE}:2379"
        )),
        "{members}"
    );

    // A client certificate from another CA (a second node's PKI) is refused, though it trusts our server.
    let other = tempfile::tempdir().unwrap();
    let other_config = write_config(other.path(), Some("3.5.21-0"));
    let other_root = other.path().join("root");
    phase(&other_root, &other_config, &["certs", "all"]);
    let stranger = Client {
        endpoint: servers.clone(),
        cacert: node.host("/etc/kubernetes/pki/etcd/ca.crt"),
        cert: other_root.join("etc/kubernetes/pki/apiserver-etcd-client.crt"),
        key: other_root.join("etc/kubernetes/pki/apiserver-etcd-client.key"),
    };
    let refused = etcdctl_timeout(&ns, &stranger, "2s", &["get", "/registry/kinit-test"]);
    assert!(
        !refused.status.success(),
        "a client of another CA was served: {}",
        text(&refused.stdout)
    );
    assert!(!text(&refused.stdout).contains("written-by-test"));
    assert!(
        text(&refused.stderr).contains("bad certificate"),
        "{}",
        text(&refused.stderr)
    );
    assert!(
        etcd.log().contains(
            "failed to verify client certificate: x509: certificate signed by unknown authority"
        ),
        "etcd's log should show the refused handshake:\n{}",
        etcd.log()
    );

    // The metrics URL of the manifest answers over plain HTTP, where the probes look. (The probes'
    // /livez and /readyz came with later etcd 3.5 releases than the test's 3.5.1, which answers 404
    // there; /health is the same check for it.)
    let metrics = node.flag("etcd", "listen-metrics-urls");
    assert_eq!(metrics, "http://127.0.0.1:2381");
    let (status, body) = http_get(&ns, &format!("{metrics}/metrics"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("etcd_server_has_leader 1"), "{body}");
    let (status, body) = http_get(&ns, &format!("{metrics}/health"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"health\":\"true\""), "{body}");
}

#[test]
fn needs_root_etcd_3_5_refuses_the_3_6_flags() {
    if !have_root() {
        return;
    }
    // Kubernetes 1.34's default etcd is 3.6: its flags are not for the test etcd 3.5, which must say so
    // (this is why the other test pins a 3.5 image tag).
    let node = Node::new(None);
    let argv = node.etcd_argv();
    assert!(
        argv.contains(&"--feature-gates=InitialCorruptCheck=true".to_string()),
        "{argv:?}"
    );
    let ns = NetNs::new("etcd36");
    let mut etcd = Etcd::start(&ns, &node);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = etcd.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "etcd 3.5 kept running with the etcd 3.6 flags:\n{}",
            etcd.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    assert!(
        etcd.log().contains("flag provided but not defined"),
        "{}",
        etcd.log()
    );
}
