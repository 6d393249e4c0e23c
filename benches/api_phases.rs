//! The API phases of `kinit init` (upload-config, upload-certs, mark-control-plane, bootstrap-token,
//! kubelet-finalize, addon) against the test API server with a fixed delay on every request, as a
//! remote API server adds a round trip. The baseline is what applying one object after another
//! costs: the number of requests the run made times the delay. kinit sends independent objects at
//! once, so its total should be a fraction of that (target: at most 0.3).
//!
//! Figures, medians of the rounds: fresh (an empty cluster) and re-run (the same init again, which
//! reads and finds nothing to change). The test API server's schema checks are off here: they run
//! in one Python process that takes the writes one at a time, and would time that process instead.

#[path = "common/mod.rs"]
mod common;

use common::median;

use kinit_test_support as support;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::apiserver::{Options, TestApiServer};

const ROUNDS: usize = 5;
const DELAY: Duration = Duration::from_millis(20);
const NODE: &str = "cp-1";
const KEY: &str = "8d7c0a9f3b1e2d4c5a6b7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b";
/// Every phase before the API ones, and the closing text, are not measured.
const SKIPPED: &str = "preflight,certs,kubeconfig,etcd,control-plane,kubelet-start,wait-control-plane,show-join-command";

fn config(port: u16) -> String {
    format!(
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
- token: abcdef.0123456789abcdef
certificateKey: {KEY}
localAPIEndpoint:
  advertiseAddress: 127.0.0.1
  bindPort: {port}
nodeRegistration:
  name: {NODE}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
encryptionAlgorithm: ECDSA-P256
networking:
  podSubnet: 10.244.0.0/16
"
    )
}

fn kinit(root: &Path, config: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_kinit"))
        .args(args)
        .arg("--rootfs")
        .arg(root)
        .arg("--config")
        .arg(config)
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
}

struct Round {
    fresh: Duration,
    fresh_requests: u64,
    rerun: Duration,
    rerun_requests: u64,
}

fn round() -> Round {
    let work = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let config_path = work.path().join("kinit.yaml");
    std::fs::write(&config_path, config(listener.local_addr().unwrap().port())).unwrap();
    let root = work.path().join("root");
    for phase in ["certs", "kubeconfig"] {
        kinit(&root, &config_path, &["init", "phase", phase, "all"]);
    }
    let server = TestApiServer::start_on(
        listener,
        &root.join("etc/kubernetes/pki"),
        Options {
            node: Some(NODE.into()),
            delay: DELAY,
            check_schemas: false,
            ..Default::default()
        },
    );
    let measure = || {
        let before = server.request_count();
        let started = Instant::now();
        // KINIT_BENCH_SHOW=1 prints each run's debug log, to see where the time goes.
        let mut args = vec!["init", "--skip-phases", SKIPPED, "--upload-certs"];
        if std::env::var_os("KINIT_BENCH_SHOW").is_some() {
            args.extend(["-v", "-v"]);
        }
        kinit(&root, &config_path, &args);
        (started.elapsed(), server.request_count() - before)
    };
    let (fresh, fresh_requests) = measure();
    let (rerun, rerun_requests) = measure();
    Round {
        fresh,
        fresh_requests,
        rerun,
        rerun_requests,
    }
}

fn report(what: &str, total: Duration, requests: u64) {
    let serial = DELAY * u32::try_from(requests).unwrap();
    println!(
        "{what:<8} {requests:>3} requests   total {:>7.1} ms   one at a time {:>7.1} ms   ratio {:.2}",
        total.as_secs_f64() * 1e3,
        serial.as_secs_f64() * 1e3,
        total.as_secs_f64() / serial.as_secs_f64()
    );
}

fn main() {
    let rounds: Vec<Round> = (0..ROUNDS).map(|_| round()).collect();
    println!(
        "kinit init, API phases only, {} ms per request on the test API server, medians of {ROUNDS} rounds:",
        DELAY.as_millis()
    );
    let fresh_requests = rounds[0].fresh_requests;
    let rerun_requests = rounds[0].rerun_requests;
    report(
        "fresh",
        median(rounds.iter().map(|r| r.fresh).collect()),
        fresh_requests,
    );
    report(
        "re-run",
        median(rounds.iter().map(|r| r.rerun).collect()),
        rerun_requests,
    );
}
