//! The etcd static pod, run for real: the command of the manifest kinit wrote, started with the etcd
//! binary of the test venv (etcd 3.5) and the PKI kinit generated under a temp root, inside a fresh
//! network namespace where etcd's fixed ports are free. Then `etcdctl` talks to it the way the API
//! server and the probes would.
//!
//! Network namespaces need root. A `needs_root_` test run without root fails and says so, unless
//! `KINIT_SKIP_ROOT_TESTS=1` is set: then it prints that it was skipped (and `scripts/test.sh` leaves
//! it out with `--skip needs_root_` and reports it as SKIPPED).

mod common;
use common::{have_root, init_phase, text, venv_tool};

use kinit_test_support as support;
use support::etcd::{
    etcdctl, etcdctl_ok, etcdctl_timeout, manifest_flag, static_pod_argv, Client, Etcd,
};
use support::hosts::{Namespace, Network};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The address the test node advertises; it lives only inside the test's network namespace.
const ADVERTISE: &str = "198.51.100.10";

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
        init_phase(&root, &config, &["certs", "all"]);
        init_phase(&root, &config, &["etcd", "local"]);
        init_phase(&root, &config, &["control-plane", "apiserver"]);
        Node { _dir: dir, root }
    }

    /// A host path as it lies under the temp root.
    fn host(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// The value of `--name=` in a component's command.
    fn flag(&self, component: &str, name: &str) -> String {
        manifest_flag(&self.root, component, name)
            .unwrap_or_else(|| panic!("{component} has no --{name}"))
    }

    /// The etcd manifest's command as the kubelet would run it under the temp root.
    fn etcd_argv(&self) -> Vec<String> {
        static_pod_argv(&self.root, "etcd")
    }
}

/// The test node's machine: one host at [`ADVERTISE`], `lo` up, in its own network namespace;
/// deleted on drop, also when the test fails.
fn machine(test: &str) -> Network {
    Network::at(test, &[("cp1", ADVERTISE)])
}

/// Plain HTTP GET from inside the namespace (Python of the venv, so no curl is needed); status and body.
fn http_get(ns: &Namespace, url: &str) -> (u16, String) {
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

    let network = machine("etcd");
    let ns = &network.host("cp1").ns;
    let mut etcd = Etcd::start(ns, &node.root);

    // The API server's view of etcd: its --etcd-servers, --etcd-cafile/-certfile/-keyfile.
    let servers = node.flag("kube-apiserver", "etcd-servers");
    assert_eq!(servers, "https://127.0.0.1:2379");
    let apiserver = |endpoint: &str| Client {
        endpoint: endpoint.to_string(),
        cacert: node.host(&node.flag("kube-apiserver", "etcd-cafile")),
        cert: node.host(&node.flag("kube-apiserver", "etcd-certfile")),
        key: node.host(&node.flag("kube-apiserver", "etcd-keyfile")),
    };
    let healthcheck = Client::of(&node.root, "etcd/healthcheck-client", &servers);
    etcd.wait_for("healthy", || {
        etcdctl(ns, &healthcheck, &["endpoint", "health"])
            .status
            .success()
    });

    // Put and get over mTLS as the API server, on the loopback URL it uses and on the advertised one.
    let local = apiserver(&servers);
    etcdctl_ok(
        ns,
        &local,
        &["put", "/registry/kinit-test", "written-by-test"],
    );
    let got = etcdctl_ok(
        ns,
        &apiserver(&format!("https://{ADVERTISE}:2379")),
        &["get", "/registry/kinit-test", "--print-value-only"],
    );
    assert_eq!(got.trim(), "written-by-test");

    let health = etcdctl_ok(ns, &healthcheck, &["endpoint", "health"]);
    assert!(health.contains("is healthy"), "{health}");

    // One member, named after the node, with the peer URL of the manifest.
    let members = etcdctl_ok(ns, &local, &["member", "list"]);
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
    init_phase(&other_root, &other_config, &["certs", "all"]);
    let stranger = Client {
        endpoint: servers.clone(),
        cacert: node.host("/etc/kubernetes/pki/etcd/ca.crt"),
        cert: other_root.join("etc/kubernetes/pki/apiserver-etcd-client.crt"),
        key: other_root.join("etc/kubernetes/pki/apiserver-etcd-client.key"),
    };
    let refused = etcdctl_timeout(ns, &stranger, "2s", &["get", "/registry/kinit-test"]);
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
    let (status, body) = http_get(ns, &format!("{metrics}/metrics"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("etcd_server_has_leader 1"), "{body}");
    let (status, body) = http_get(ns, &format!("{metrics}/health"));
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
    let network = machine("etcd36");
    let mut etcd = Etcd::start(&network.host("cp1").ns, &node.root);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = etcd.exited() {
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
