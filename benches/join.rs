//! `kinit join --control-plane` up to its waits, against the test API server with a fixed delay on
//! every request, as a remote API server adds a round trip: discovery (cluster-info unverified,
//! then verified), the cluster's configuration, download-certs, and this node's certificates,
//! kubeconfig files and static Pods. The kubelet, etcd and the control plane's own start are
//! what a real join waits for; they are skipped here, so the figure is kinit's own cost.
//!
//! The baseline is what the join's requests cost one after another: their number times the delay.
//! Discovery is sequential by nature (each step trusts what the one before proved), so the ratio
//! shows what kinit adds on top of the round trips it cannot avoid.

use kinit_test_support as support;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::apiserver::{Options, TestApiServer};

const ROUNDS: usize = 7;
const DELAY: Duration = Duration::from_millis(20);
const TOKEN: &str = "abcdef.0123456789abcdef";
const KEY: &str = "8d7c0a9f3b1e2d4c5a6b7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b";
/// What the first node runs to hold what a join reads: its configuration, the token with
/// cluster-info, and the uploaded certificates.
const FIRST_NODE_SKIPPED: &str = "preflight,certs,kubeconfig,etcd,control-plane,kubelet-start,wait-control-plane,mark-control-plane,kubelet-finalize,addon,show-join-command";
/// The join's waits (and its preflight, which reads the host, not the cluster).
const JOIN_SKIPPED: &str =
    "preflight,kubelet-start,etcd-join,kubelet-wait-bootstrap,control-plane-join,wait-control-plane";

fn config(port: u16) -> String {
    format!(
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
- token: {TOKEN}
certificateKey: {KEY}
localAPIEndpoint:
  advertiseAddress: 127.0.0.1
  bindPort: {port}
nodeRegistration:
  name: cp-1
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
controlPlaneEndpoint: 127.0.0.1:{port}
encryptionAlgorithm: ECDSA-P256
"
    )
}

fn kinit(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kinit"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kinit {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if std::env::var_os("KINIT_BENCH_SHOW").is_some() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ca_hash(pki: &Path) -> String {
    let pem = std::fs::read(pki.join("ca.crt")).unwrap();
    let ca = kinit_phases::domain::pki::cert::parse_pem(&pem, "ca.crt").unwrap();
    kinit_phases::domain::pki::cert::ca_cert_hash(&ca).unwrap()
}

/// One join on a fresh node root against a fresh cluster: (time, requests).
fn round() -> (Duration, u64) {
    let work = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config_path = work.path().join("kinit.yaml");
    std::fs::write(&config_path, config(port)).unwrap();
    let (config, first) = (
        config_path.to_str().unwrap(),
        work.path().join("first").to_str().unwrap().to_string(),
    );
    for phase in ["certs", "kubeconfig"] {
        kinit(&[
            "init", "phase", phase, "all", "--rootfs", &first, "--config", config,
        ]);
    }
    let pki = Path::new(&first).join("etc/kubernetes/pki");
    let server = TestApiServer::start_on(
        listener,
        &pki,
        Options {
            node: Some("cp-2".into()),
            delay: DELAY,
            check_schemas: false,
            ..Default::default()
        },
    );
    kinit(&[
        "init",
        "--skip-phases",
        FIRST_NODE_SKIPPED,
        "--upload-certs",
        "--rootfs",
        &first,
        "--config",
        config,
    ]);
    let joining = work.path().join("joining");
    let (endpoint, hash) = (format!("127.0.0.1:{port}"), ca_hash(&pki));
    let before = server.request_count();
    let started = Instant::now();
    let mut args = vec![
        "join",
        &endpoint,
        "--token",
        TOKEN,
        "--discovery-token-ca-cert-hash",
        &hash,
        "--control-plane",
        "--certificate-key",
        KEY,
        "--apiserver-advertise-address",
        "127.0.0.2",
        "--node-name",
        "cp-2",
        "--skip-phases",
        JOIN_SKIPPED,
        "--rootfs",
        joining.to_str().unwrap(),
    ];
    if std::env::var_os("KINIT_BENCH_SHOW").is_some() {
        args.extend(["-v", "-v"]);
    }
    let out = kinit(&args);
    let elapsed = started.elapsed();
    assert!(
        joining
            .join("etc/kubernetes/manifests/kube-apiserver.yaml")
            .exists(),
        "{out}"
    );
    (elapsed, server.request_count() - before)
}

fn main() {
    let mut rounds: Vec<(Duration, u64)> = (0..ROUNDS).map(|_| round()).collect();
    rounds.sort();
    let (total, requests) = rounds[ROUNDS / 2];
    let serial = DELAY * u32::try_from(requests).unwrap();
    println!(
        "kinit join --control-plane up to its waits, {} ms per request on the test API server, median of {ROUNDS} rounds:",
        DELAY.as_millis()
    );
    println!(
        "{requests:>3} requests   total {:>7.1} ms   one at a time {:>7.1} ms   ratio {:.2}",
        total.as_secs_f64() * 1e3,
        serial.as_secs_f64() * 1e3,
        total.as_secs_f64() / serial.as_secs_f64()
    );
}
