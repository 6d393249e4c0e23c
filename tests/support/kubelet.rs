//! The kubelet of a joining node, played by the test: the tests that join a node (join_hosts,
//! matrix_local) share it, so that each bootstraps the same way.

use super::apiserver::TestApiServer;
use super::hosts::Host;
use super::standin::{serve_http, OK};
use super::venv::venv_tool;
use kinit_phases::domain::config::yaml::parse_documents;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `out`'s standard output, failing with both streams unless the command succeeded.
pub fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The first YAML document of a file, as JSON.
pub fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    parse_documents(&text).unwrap().remove(0).value
}

/// Waits until `ready` holds, checking every 100 ms, failing after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "{what}: not after {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn openssl(args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        text(&out.stderr)
    );
}

/// The kubelet's client key and CSR for `node` (`key.pem`, `csr.pem` in `dir`) and the
/// CertificateSigningRequest object named `name` that posts it (`csr.json`), as the kubelet makes them.
pub fn node_csr(dir: &Path, node: &str, name: &str) -> std::path::PathBuf {
    let file = |f: &str| dir.join(f).to_str().unwrap().to_string();
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &file("key.pem"),
        "-subj",
        &format!("/O=system:nodes/CN=system:node:{node}"),
        "-out",
        &file("csr.pem"),
    ]);
    let csr = json!({
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": openssl::base64::encode_block(&std::fs::read(file("csr.pem")).unwrap()),
            "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
            "usages": ["digital signature", "client auth"]
        }
    });
    let path = dir.join("csr.json");
    std::fs::write(&path, csr.to_string()).unwrap();
    path
}

/// What the kubelet writes once its CSR is signed: `kubelet-client-current.pem` (the signed
/// `certificate` and the key of [`node_csr`] in `dir`) and a kubelet.conf that uses it against
/// `server` with the CA `ca_data` (base64).
pub fn write_kubelet_credentials(
    host: &Host,
    dir: &Path,
    certificate: &[u8],
    server: &str,
    ca_data: &str,
) {
    let pki = host.path("/var/lib/kubelet/pki");
    std::fs::create_dir_all(&pki).unwrap();
    let mut pem = certificate.to_vec();
    pem.extend(std::fs::read(dir.join("key.pem")).unwrap());
    std::fs::write(pki.join("kubelet-client-current.pem"), pem).unwrap();
    std::fs::write(
        host.path("/etc/kubernetes/kubelet.conf"),
        format!(
            "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {ca_data}
    server: {server}
  name: default-cluster
contexts:
- context:
    cluster: default-cluster
    namespace: default
    user: default-auth
  name: default-context
current-context: default-context
kind: Config
preferences: {{}}
users:
- name: default-auth
  user:
    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem
    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem
"
        ),
    )
    .unwrap();
}

/// What the kubelet does on a joining node until its TLS bootstrap is done: answer its health
/// check, post a CSR with bootstrap-kubelet.conf (real kubectl, so the token's RBAC is what lets
/// it), get it signed (here by the test, with the cluster CA, as the controller manager signs),
/// write its client certificate and kubelet.conf (for the API server at `endpoint`,
/// `host:port`), and register its Node. Returns what bootstrap-kubelet.conf held.
pub fn act_as_kubelet(
    host: &Host,
    endpoint: &str,
    ca_dir: &Path,
    server: &TestApiServer,
    join_ended: &AtomicBool,
) -> Option<Value> {
    serve_http(host.listen("127.0.0.1", 10248), OK);
    let bootstrap = host.path("/etc/kubernetes/bootstrap-kubelet.conf");
    wait_until("bootstrap-kubelet.conf", Duration::from_secs(60), || {
        bootstrap.exists() || join_ended.load(Ordering::SeqCst)
    });
    if !bootstrap.exists() {
        return None;
    }
    let bootstrap_config = yaml(&bootstrap);
    let scratch = tempfile::tempdir().unwrap();
    let file = |name: &str| scratch.path().join(name).to_str().unwrap().to_string();
    let node = &host.name;
    node_csr(scratch.path(), node, &format!("node-csr-{node}"));
    let out = host
        .command(venv_tool("kubectl"))
        .arg("--kubeconfig")
        .arg(&bootstrap)
        .arg("--cache-dir")
        .arg(file("cache"))
        // To the cluster at `endpoint`: a joining control plane's file names its own API server
        // (ControlPlaneKubeletLocalMode), which these tests only stand in for.
        .arg(format!("--server=https://{endpoint}"))
        .args(["create", "--validate=false", "-f", &file("csr.json")])
        .env("HOME", scratch.path())
        .output()
        .unwrap();
    ok(out, "kubectl create csr with the bootstrap token");
    std::fs::write(
        file("ext.cnf"),
        "[v3]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &file("csr.pem"),
        "-CA",
        ca_dir.join("ca.crt").to_str().unwrap(),
        "-CAkey",
        ca_dir.join("ca.key").to_str().unwrap(),
        "-set_serial",
        "4242",
        "-days",
        "1",
        "-extfile",
        &file("ext.cnf"),
        "-extensions",
        "v3",
        "-out",
        &file("cert.pem"),
    ]);
    let ca = std::fs::read(ca_dir.join("ca.crt")).unwrap();
    write_kubelet_credentials(
        host,
        scratch.path(),
        &std::fs::read(file("cert.pem")).unwrap(),
        &format!("https://{endpoint}"),
        &openssl::base64::encode_block(&ca),
    );
    server.put(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node, "kubernetes.io/os": "linux"}},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady",
            "message": "container runtime network not ready",
            "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    }));
    Some(bootstrap_config)
}
