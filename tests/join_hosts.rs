//! `kinit join` and `kinit reset` across hosts: cp1, w1 and cp2 are network namespaces on one
//! bridge (198.51.100.1–3), each with its own root folder. cp1 runs a real `kinit init` against
//! the test API server serving on its address, and the real etcd from its manifest. The test
//! plays each node's kubelet: it answers the kubelet health check, posts the TLS-bootstrap CSR
//! with the bootstrap token through kubectl, signs it with the cluster CA as the controller
//! manager would, writes kubelet.conf, registers the Node and starts the static etcd Pod.
//!
//! Needs root (network namespaces); see tests/etcd_real.rs for `KINIT_SKIP_ROOT_TESTS`.

mod common;
use common::{have_root, text, SHARED_PKI};

use kinit_test_support as support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kinit_phases::domain::config::yaml::parse_documents;
use serde_json::{json, Value};
use support::apiserver::{Options, TestApiServer};
use support::etcd::{etcdctl_timeout, Client, Etcd};
use support::hosts::{Host, Network};
use support::kubelet::{act_as_kubelet, ok, wait_until, yaml};
use support::standin::{serve_http, serve_tls, OK};

const TOKEN: &str = "abcdef.0123456789abcdef";
const KEY: &str = "8d7c0a9f3b1e2d4c5a6b7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b";
const ENDPOINT: &str = "198.51.100.1:6443";

/// cp1's configuration: its own address, a stable control-plane endpoint (a second control plane
/// needs one), the test's token and certificate key, and an etcd 3.5 image tag so the manifest
/// carries the flags the test's etcd 3.5 takes.
fn cp1_config(host: &Host) -> PathBuf {
    let path = host.path("/kinit.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
- token: {TOKEN}
certificateKey: {KEY}
localAPIEndpoint:
  advertiseAddress: {addr}
nodeRegistration:
  name: cp1
timeouts:
  kubernetesAPICall: 10s
  kubeletHealthCheck: 30s
  controlPlaneComponentHealthCheck: 30s
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.34.0
controlPlaneEndpoint: {ENDPOINT}
etcd:
  local:
    imageTag: 3.5.21-0
",
            addr = host.address
        ),
    )
    .unwrap();
    path
}

fn start_etcd(host: &Host) -> Etcd {
    Etcd::start(&host.ns, host.root())
}

/// etcdctl on `host` against its own etcd, with the healthcheck client certificate.
fn etcdctl(host: &Host, args: &[&str]) -> Output {
    let endpoint = format!("https://{}:2379", host.address);
    let client = Client::of(host.root(), "etcd/healthcheck-client", &endpoint);
    etcdctl_timeout(&host.ns, &client, "10s", args)
}

/// cp1: the PKI, then the test API server on cp1's address with it, the stand-ins of the
/// components wait-control-plane checks, a whole `kinit init --upload-certs`, and etcd from the
/// manifest init wrote.
fn init_cp1(cp1: &Host) -> (TestApiServer, Etcd) {
    let config = cp1_config(cp1);
    let config = config.to_str().unwrap();
    ok(
        cp1.kinit(&["init", "phase", "certs", "all", "--config", config]),
        "cp1 certs",
    );
    let pki = cp1.path("/etc/kubernetes/pki");
    let server = TestApiServer::start_on(
        cp1.listen(&cp1.address, 6443),
        &pki,
        Options {
            node: Some("cp1".into()),
            ..Default::default()
        },
    );
    serve_http(cp1.listen("127.0.0.1", 10248), OK);
    serve_controller_manager_and_scheduler(cp1, &pki);
    let out = cp1.kinit(&[
        "init",
        "--config",
        config,
        "--upload-certs",
        "--ignore-preflight-errors",
        "all",
    ]);
    let stdout = ok(out, "kinit init on cp1");
    assert!(stdout.contains("kinit join 198.51.100.1:6443"), "{stdout}");
    let etcd = start_etcd(cp1);
    // The kubelet mirrors the static Pod into the API: joining nodes find etcd's URL there.
    let mut mirror = yaml(&cp1.path("/etc/kubernetes/manifests/etcd.yaml"));
    mirror["metadata"]["name"] = json!("etcd-cp1");
    mirror["metadata"]["annotations"]["kubernetes.io/config.mirror"] = json!("mirror");
    mirror["spec"]["nodeName"] = json!("cp1");
    server.put(mirror);
    wait_until("cp1's etcd healthy", Duration::from_secs(20), || {
        etcdctl(cp1, &["endpoint", "health"]).status.success()
    });
    (server, etcd)
}

fn ca_hash(cp1: &Host) -> String {
    let ca = std::fs::read(cp1.path("/etc/kubernetes/pki/ca.crt")).unwrap();
    let ca = openssl::x509::X509::from_pem(&ca).unwrap();
    let spki = ca.public_key().unwrap().public_key_to_der().unwrap();
    let digest = openssl::hash::hash(openssl::hash::MessageDigest::sha256(), &spki).unwrap();
    format!(
        "sha256:{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// A worker's JoinConfiguration (taints and short waits need the file).
fn worker_config(host: &Host, token: &str, hash: &str, discovery: &str) -> String {
    named_worker_config(host, &host.name, token, hash, discovery, "60s")
}

/// The same for a node called `name`, with its own waits.
fn named_worker_config(
    host: &Host,
    name: &str,
    token: &str,
    hash: &str,
    discovery: &str,
    tls_bootstrap: &str,
) -> String {
    let file = format!("join-{name}-{}.yaml", token.split('.').next().unwrap());
    join_config(
        host,
        &file,
        token,
        hash,
        &format!(
            "nodeRegistration:
  name: {name}
  taints:
  - key: dedicated
    value: infra
    effect: NoSchedule
timeouts:
  discovery: {discovery}
  tlsBootstrap: {tls_bootstrap}
  kubeletHealthCheck: 30s
  kubernetesAPICall: 10s
"
        ),
    )
}

/// A JoinConfiguration file `file` in `host`'s root (outside what kinit touches): discovery by
/// `token` and `hash` through cp1, then `rest`.
fn join_config(host: &Host, file: &str, token: &str, hash: &str, rest: &str) -> String {
    let path = host.path(&format!("/{file}"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    token: {token}
    apiServerEndpoint: {ENDPOINT}
    caCertHashes: [\"{hash}\"]
{rest}"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn worker_joins(w1: &Host, cp1: &Host, server: &TestApiServer, hash: &str) {
    let config = worker_config(w1, TOKEN, hash, "30s");
    let join_ended = AtomicBool::new(false);
    let ca_dir = cp1.path("/etc/kubernetes/pki");
    let bootstrap_seen = std::thread::scope(|scope| {
        let kubelet = scope.spawn(|| act_as_kubelet(w1, ENDPOINT, &ca_dir, server, &join_ended));
        let out = w1.kinit(&[
            "join",
            "--config",
            &config,
            "--ignore-preflight-errors",
            "all",
        ]);
        join_ended.store(true, Ordering::SeqCst);
        let stdout = ok(out, "kinit join on w1");
        assert!(
            stdout.contains("\nThis node has joined the cluster:\n"),
            "{stdout}"
        );
        for line in [
            "[discovery] Cluster info signature and contents are valid and TLS certificate validates against pinned roots",
            "[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap",
        ] {
            assert!(stdout.contains(line), "{line}\n{stdout}");
        }
        kubelet
            .join()
            .unwrap()
            .expect("the join wrote bootstrap-kubelet.conf")
    });
    // bootstrap-kubelet.conf as reference §4 has it: cluster-info's server and CA, the token user.
    assert_eq!(bootstrap_seen["clusters"][0]["name"], "kubernetes");
    assert_eq!(
        bootstrap_seen["clusters"][0]["cluster"]["server"],
        format!("https://{ENDPOINT}")
    );
    let ca = std::fs::read(cp1.path("/etc/kubernetes/pki/ca.crt")).unwrap();
    let ca_data = bootstrap_seen["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .unwrap();
    assert_eq!(openssl::base64::decode_block(ca_data).unwrap(), ca);
    assert_eq!(
        bootstrap_seen["users"][0]["name"],
        "tls-bootstrap-token-user"
    );
    assert_eq!(bootstrap_seen["users"][0]["user"]["token"], TOKEN);
    assert_eq!(
        bootstrap_seen["current-context"],
        "tls-bootstrap-token-user@kubernetes"
    );
    assert!(
        !w1.path("/etc/kubernetes/bootstrap-kubelet.conf").exists(),
        "removed after the TLS bootstrap"
    );
    assert_eq!(
        std::fs::read(w1.path("/etc/kubernetes/pki/ca.crt")).unwrap(),
        ca
    );
    // The kubelet's configuration is the cluster's, from the kubelet-config ConfigMap.
    let stored = server
        .get("ConfigMap", "kube-system", "kubelet-config")
        .unwrap();
    let stored = parse_documents(stored["data"]["kubelet"].as_str().unwrap())
        .unwrap()
        .remove(0)
        .value;
    // ... with this node's CRI endpoint from instance-config.yaml (NodeLocalCRISocket, kubeadm 1.34).
    let mut expected = stored;
    expected["containerRuntimeEndpoint"] = "unix:///var/run/containerd/containerd.sock".into();
    assert_eq!(yaml(&w1.path("/var/lib/kubelet/config.yaml")), expected);
    assert_eq!(
        std::fs::read_to_string(w1.path("/var/lib/kubelet/instance-config.yaml")).unwrap(),
        "containerRuntimeEndpoint: \"unix:///var/run/containerd/containerd.sock\"\n"
    );
    let flags = std::fs::read_to_string(w1.path("/var/lib/kubelet/kubeadm-flags.env")).unwrap();
    assert!(
        flags.starts_with("KUBELET_KUBEADM_ARGS=\"")
            && flags.contains("--register-with-taints=dedicated=infra:NoSchedule")
            && !flags.contains("--container-runtime-endpoint")
            && flags.contains("--pod-infra-container-image=registry.k8s.io/pause:"),
        "{flags}"
    );
    assert!(!w1
        .path("/etc/kubernetes/manifests/kube-apiserver.yaml")
        .exists());
}

/// A discovery that must fail, with `expect` in its error.
fn discovery_fails(w1: &Host, token: &str, hash: &str, expect: &str) {
    join_fails(w1, &worker_config(w1, token, hash, "2s"), &[], expect, None);
}

/// A join on a scratch root of `host` that must fail with `expect` in its error (and `code`).
fn join_fails(host: &Host, config: &str, flags: &[&str], expect: &str, code: Option<i32>) {
    let scratch = scratch_root(host);
    let out = host
        .command(env!("CARGO_BIN_EXE_kinit"))
        .args([
            "join",
            "--config",
            config,
            "--ignore-preflight-errors",
            "all",
            "--rootfs",
        ])
        .arg(&scratch)
        .args(flags)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out.stdout));
    if let Some(code) = code {
        assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
    }
    assert!(
        text(&out.stderr).contains(expect),
        "expected {expect:?}:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(scratch);
}

/// An empty root beside the host's own, for runs that must leave nothing behind.
fn scratch_root(host: &Host) -> PathBuf {
    let dir = host.path("/scratch");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn discovery_failures(w1: &Host, cp1: &Host, hash: &str) {
    let wrong = format!("sha256:{}", "0".repeat(64));
    discovery_fails(
        w1,
        TOKEN,
        &wrong,
        &format!("the cluster CA's public key hash is {hash}, which matches none"),
    );
    // A token that expired: made with a 1 s lifetime on cp1, then waited out.
    let kubeconfig = cp1.path("/etc/kubernetes/admin.conf");
    let admin = kubeconfig.to_str().unwrap();
    ok(
        cp1.command(env!("CARGO_BIN_EXE_kinit"))
            .args([
                "token",
                "create",
                "exp123.0123456789abcdef",
                "--ttl",
                "1s",
                "--kubeconfig",
                admin,
            ])
            .output()
            .unwrap(),
        "token create --ttl 1s",
    );
    std::thread::sleep(Duration::from_millis(1500));
    discovery_fails(
        w1,
        "exp123.0123456789abcdef",
        hash,
        "token exp123 is not valid or has expired; create one on a control-plane node with `kinit token create --print-join-command`",
    );
    // A token that was deleted.
    for args in [
        vec!["token", "create", "del123.0123456789abcdef"],
        vec!["token", "delete", "del123"],
    ] {
        ok(
            cp1.command(env!("CARGO_BIN_EXE_kinit"))
                .args(&args)
                .args(["--kubeconfig", admin])
                .output()
                .unwrap(),
            "kinit token",
        );
    }
    discovery_fails(
        w1,
        "del123.0123456789abcdef",
        hash,
        "token del123 is not valid or has expired",
    );
    // The right id with a wrong secret: the signature gives it away.
    discovery_fails(
        w1,
        "abcdef.0123456789abcdeg",
        hash,
        "the JWS signature of cluster-info does not match token abcdef",
    );
}

/// The control-plane components wait-control-plane checks on `host`: the API server with the
/// serving certificate the join made for it (so the check proves it is valid for this host's
/// address), once that exists; the controller manager and scheduler with any certificate.
fn serve_control_plane(host: &Host, any_pki: &Path) {
    let apiserver = host.listen(&host.address, 6443);
    let (crt, key) = (
        host.path("/etc/kubernetes/pki/apiserver.crt"),
        host.path("/etc/kubernetes/pki/apiserver.key"),
    );
    std::thread::spawn(move || {
        let start = Instant::now();
        while !(crt.exists() && key.exists()) && start.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(100));
        }
        serve_tls(apiserver, crt, key, OK);
    });
    serve_controller_manager_and_scheduler(host, any_pki);
}

/// The controller manager and scheduler on their default ports: they serve certificates they
/// make themselves, so any will do (wait-control-plane does not verify them).
fn serve_controller_manager_and_scheduler(host: &Host, any_pki: &Path) {
    let (crt, key) = (
        any_pki.join("front-proxy-client.crt"),
        any_pki.join("front-proxy-client.key"),
    );
    serve_tls(
        host.listen("127.0.0.1", 10257),
        crt.clone(),
        key.clone(),
        OK,
    );
    serve_tls(host.listen("127.0.0.1", 10259), crt, key, OK);
}

fn openssl_verify(ca: &Path, cert: &Path) {
    let out = std::process::Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(ca)
        .arg(cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} does not verify against {}: {}",
        cert.display(),
        ca.display(),
        text(&out.stdout)
    );
}

/// A control-plane join with a certificate key other than the one the certificates were
/// uploaded with stops at download-certs and says so.
fn wrong_certificate_key_fails(cp2: &Host, hash: &str) {
    let rest = format!(
        "controlPlane:
  certificateKey: \"{}\"
  localAPIEndpoint:
    advertiseAddress: {}
nodeRegistration:
  name: cp2
",
        "0".repeat(64),
        cp2.address
    );
    let config = join_config(cp2, "join-wrong-key.yaml", TOKEN, hash, &rest);
    join_fails(
        cp2,
        &config,
        &[],
        "the certificate key does not open ca.crt in the kubeadm-certs Secret",
        Some(1),
    );
}

fn control_plane_joins(cp2: &Host, cp1: &Host, server: &TestApiServer, hash: &str) -> Etcd {
    wrong_certificate_key_fails(cp2, hash);
    let cp1_pki = cp1.path("/etc/kubernetes/pki");
    serve_control_plane(cp2, &cp1_pki);
    let join_ended = AtomicBool::new(false);
    let etcd = std::thread::scope(|scope| {
        let kubelet = scope.spawn(|| act_as_kubelet(cp2, ENDPOINT, &cp1_pki, server, &join_ended));
        // The kubelet starts the etcd static Pod as soon as etcd-join writes its manifest.
        let etcd = scope.spawn(|| {
            let manifest = cp2.path("/etc/kubernetes/manifests/etcd.yaml");
            wait_until("cp2's etcd manifest", Duration::from_secs(120), || {
                manifest.exists() || join_ended.load(Ordering::SeqCst)
            });
            manifest.exists().then(|| start_etcd(cp2))
        });
        let out = cp2.kinit(&[
            "join",
            ENDPOINT,
            "--token",
            TOKEN,
            "--discovery-token-ca-cert-hash",
            hash,
            "--control-plane",
            "--certificate-key",
            KEY,
            "--apiserver-advertise-address",
            &cp2.address,
            "--node-name",
            "cp2",
            "--ignore-preflight-errors",
            "all",
        ]);
        join_ended.store(true, Ordering::SeqCst);
        let stdout = ok(out, "kinit join --control-plane on cp2");
        assert!(
            stdout.contains(
                "This node has joined the cluster and a new control plane instance was created"
            ),
            "{stdout}"
        );
        // etcd's URL came from cp1's mirror Pod, as kubeadm finds it.
        assert!(!stdout.contains("No etcd Pod in kube-system"), "{stdout}");
        assert!(
            stdout.contains(
                "[download-certs] Downloading the certificates in Secret \"kubeadm-certs\""
            ),
            "{stdout}"
        );
        let bootstrap = kubelet
            .join()
            .unwrap()
            .expect("the join wrote bootstrap-kubelet.conf");
        // ControlPlaneKubeletLocalMode: the kubelet bootstraps against cp2's own API server, and
        // kubelet-wait-bootstrap waited for it after etcd-join.
        assert_eq!(
            bootstrap["clusters"][0]["cluster"]["server"],
            format!("https://{}:6443", cp2.address)
        );
        let at = |line: &str| {
            stdout
                .find(line)
                .unwrap_or_else(|| panic!("{line:?} in {stdout}"))
        };
        assert!(
            at("[etcd] Waiting for the new etcd member to join the cluster")
                < at("[kubelet-check] Waiting for a healthy kubelet"),
            "{stdout}"
        );
        etcd.join()
            .unwrap()
            .expect("the join wrote cp2's etcd manifest")
    });
    // The shared CAs and keys arrived intact from kubeadm-certs.
    for file in SHARED_PKI {
        assert_eq!(
            std::fs::read(cp2.path(&format!("/etc/kubernetes/pki/{file}"))).unwrap(),
            std::fs::read(cp1_pki.join(file)).unwrap(),
            "{file}"
        );
    }
    // cp2's own certificates are new, signed by those CAs, and for cp2's names and address.
    let pki = cp2.path("/etc/kubernetes/pki");
    for (ca, cert) in [
        ("ca.crt", "apiserver.crt"),
        ("ca.crt", "apiserver-kubelet-client.crt"),
        ("front-proxy-ca.crt", "front-proxy-client.crt"),
        ("etcd/ca.crt", "etcd/server.crt"),
        ("etcd/ca.crt", "etcd/peer.crt"),
        ("etcd/ca.crt", "etcd/healthcheck-client.crt"),
        ("etcd/ca.crt", "apiserver-etcd-client.crt"),
    ] {
        openssl_verify(&pki.join(ca), &pki.join(cert));
        assert_ne!(
            std::fs::read(pki.join(cert)).unwrap(),
            std::fs::read(cp1_pki.join(cert)).unwrap(),
            "{cert} is cp2's own"
        );
    }
    let apiserver =
        openssl::x509::X509::from_pem(&std::fs::read(pki.join("apiserver.crt")).unwrap()).unwrap();
    let ips: Vec<String> = apiserver
        .subject_alt_names()
        .unwrap()
        .iter()
        .filter_map(|n| {
            n.ipaddress()
                .map(|b| b.iter().map(u8::to_string).collect::<Vec<_>>().join("."))
        })
        .collect();
    for ip in [cp2.address.as_str(), "198.51.100.1", "10.96.0.1"] {
        assert!(
            ips.contains(&ip.to_string()),
            "apiserver.crt lacks {ip}: {ips:?}"
        );
    }
    for file in ["admin.conf", "controller-manager.conf", "scheduler.conf"] {
        assert!(
            cp2.path(&format!("/etc/kubernetes/{file}")).exists(),
            "{file}"
        );
    }
    assert!(
        !cp2.path("/etc/kubernetes/super-admin.conf").exists(),
        "the first node's only"
    );
    let apiserver_pod = yaml(&cp2.path("/etc/kubernetes/manifests/kube-apiserver.yaml"));
    let command = apiserver_pod["spec"]["containers"][0]["command"].to_string();
    assert!(
        command.contains(&format!("--advertise-address={}", cp2.address)),
        "{command}"
    );
    // mark-control-plane reached the cluster.
    let node = server.get("Node", "", "cp2").unwrap();
    assert_eq!(
        node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
        ""
    );
    assert!(
        node["spec"]["taints"]
            .to_string()
            .contains("node-role.kubernetes.io/control-plane"),
        "{node}"
    );
    etcd
}

/// `etcdctl member list` on `host` as (name, started) pairs.
fn members(host: &Host) -> Vec<(String, bool)> {
    let out = ok(
        etcdctl(host, &["member", "list", "-w", "json"]),
        "etcdctl member list",
    );
    let list: Value = serde_json::from_str(&out).unwrap();
    list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap_or_default().to_string(),
                m["clientURLs"].as_array().is_some_and(|u| !u.is_empty()),
            )
        })
        .collect()
}

/// cp2's etcd is a started member of cp1's; a key written through one is read through the other.
fn etcd_spans_both(cp1: &Host, cp2: &Host) {
    let mut names = members(cp1);
    names.sort();
    assert_eq!(
        names,
        [("cp1".to_string(), true), ("cp2".to_string(), true)]
    );
    ok(
        etcdctl(cp1, &["put", "/kinit/join", "through-cp1"]),
        "etcdctl put via cp1",
    );
    let got = ok(
        etcdctl(cp2, &["get", "/kinit/join", "--print-value-only"]),
        "etcdctl get via cp2",
    );
    assert_eq!(got.trim(), "through-cp1");
}

/// `kinit reset -f` on a joined node: its etcd member (if any) leaves, and kinit's files go.
fn reset(host: &Host) -> String {
    let out = host.kinit(&["reset", "-f", "--ignore-preflight-errors", "all"]);
    let stdout = ok(out, &format!("kinit reset -f on {}", host.name));
    for gone in [
        "/etc/kubernetes/kubelet.conf",
        "/etc/kubernetes/pki/ca.crt",
        "/var/lib/kubelet/config.yaml",
    ] {
        assert!(!host.path(gone).exists(), "{gone} on {}", host.name);
    }
    stdout
}

/// Every file under `dir`, with its content.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((path.clone(), std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    files.sort();
    files
}

/// Dry runs of a join, by token and by discovery file: they discover the cluster for real and
/// show what they would do, and leave the node's root as it was.
fn dry_runs_change_nothing(w1: &Host, server: &TestApiServer, hash: &str) {
    let scratch = scratch_root(w1);
    let before = tree(w1.root());
    let run = |args: &[&str]| {
        let out = w1
            .command(env!("CARGO_BIN_EXE_kinit"))
            .args(args)
            .args([
                "--dry-run",
                "--node-name",
                "w9",
                "--ignore-preflight-errors",
                "all",
                "--rootfs",
            ])
            .arg(&scratch)
            .output()
            .unwrap();
        ok(out, &format!("dry run {args:?}"))
    };
    let stdout = run(&[
        "join",
        ENDPOINT,
        "--token",
        TOKEN,
        "--discovery-token-ca-cert-hash",
        hash,
    ]);
    assert!(
        stdout.contains("[dry-run] would write /etc/kubernetes/bootstrap-kubelet.conf (mode 0600"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[dry-run] would write /var/lib/kubelet/config.yaml"),
        "{stdout}"
    );
    let stdout = run(&[
        "join",
        ENDPOINT,
        "--token",
        TOKEN,
        "--discovery-token-unsafe-skip-ca-verification",
    ]);
    assert!(
        stdout.contains("[discovery] WARNING: the cluster CA is not pinned"),
        "{stdout}"
    );
    // A discovery file: cluster-info's kubeconfig as an administrator would hand it out.
    let info = server
        .get("ConfigMap", "kube-public", "cluster-info")
        .unwrap();
    let file = w1.path("/discovery.conf");
    std::fs::write(&file, info["data"]["kubeconfig"].as_str().unwrap()).unwrap();
    let out = w1
        .command(env!("CARGO_BIN_EXE_kinit"))
        .args(["join", "--discovery-file"])
        .arg(&file)
        .args([
            "--tls-bootstrap-token",
            TOKEN,
            "--dry-run",
            "-o",
            "json",
            "--node-name",
            "w9",
        ])
        .args(["--ignore-preflight-errors", "all", "--rootfs"])
        .arg(&scratch)
        .output()
        .unwrap();
    let stdout = ok(out, "dry run with --discovery-file");
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let phases: Vec<&str> = result["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert!(phases.contains(&"kubelet-start"), "{stdout}");
    // Discovery comes before the phases (kubeadm does it inside preflight): it has its own
    // figure, and the total counts it.
    let discovery = result["discoveryMs"].as_f64().expect("discoveryMs");
    let in_phases: f64 = result["phases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["durationMs"].as_f64())
        .sum();
    assert!(discovery > 0.0, "{result}");
    assert!(
        (result["totalMs"].as_f64().unwrap() - (discovery + in_phases)).abs() < 0.01,
        "{result}"
    );
    std::fs::remove_file(&file).unwrap();
    assert!(
        tree(&scratch).is_empty(),
        "a dry run wrote {:?}",
        tree(&scratch)
    );
    let _ = std::fs::remove_dir(&scratch);
    assert_eq!(before.len(), tree(w1.root()).len());
}

/// After w1 has joined (its kubelet stand-in still answers): a Ready Node of the same name stops a
/// join, and a kubelet that never bootstraps is diagnosed from the token's CSRs.
fn kubelet_start_refusals(w1: &Host, server: &TestApiServer, hash: &str) {
    server.put(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "busy"},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "kubelet is posting ready status",
            "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    }));
    let busy = named_worker_config(w1, "busy", TOKEN, hash, "30s", "60s");
    join_fails(
        w1,
        &busy,
        &[],
        "a Node named \"busy\" already exists in the cluster and is Ready",
        Some(1),
    );
    // w1's CSR, from the same token, is not this node's: the diagnosis looks for its own name.
    let late = named_worker_config(w1, "late", TOKEN, hash, "30s", "1s");
    join_fails(
        w1,
        &late,
        &[],
        "no certificate signing request from system:bootstrap:abcdef for system:node:late exists",
        Some(5),
    );
}

#[test]
fn needs_root_join_and_reset_across_hosts() {
    if !have_root() {
        return;
    }
    let network = Network::new("join", &["cp1", "w1", "cp2"]);
    let (cp1, w1) = (network.host("cp1"), network.host("w1"));
    let (server, _cp1_etcd) = init_cp1(cp1);
    let hash = ca_hash(cp1);
    dry_runs_change_nothing(w1, &server, &hash);
    worker_joins(w1, cp1, &server, &hash);
    kubelet_start_refusals(w1, &server, &hash);
    discovery_failures(w1, cp1, &hash);
    let cp2 = network.host("cp2");
    let cp2_etcd = control_plane_joins(cp2, cp1, &server, &hash);
    etcd_spans_both(cp1, cp2);

    reset(cp2);
    drop(cp2_etcd);
    assert_eq!(members(cp1), [("cp1".to_string(), true)]);
    ok(
        etcdctl(cp1, &["endpoint", "health"]),
        "cp1's etcd after cp2 left",
    );
    for gone in [
        "/etc/kubernetes/manifests/etcd.yaml",
        "/etc/kubernetes/admin.conf",
    ] {
        assert!(!cp2.path(gone).exists(), "{gone}");
    }
    let data = cp2.path("/var/lib/etcd");
    assert!(
        data.read_dir().map_or(true, |mut d| d.next().is_none()),
        "cp2's etcd data is emptied"
    );
    reset(w1);
}
