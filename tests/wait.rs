//! `kinit init phase wait-control-plane` against local servers standing in for the kubelet, the API
//! server, the controller manager and the scheduler. The API server's stand-in serves the
//! apiserver.crt that `kinit init phase certs all` made; the ports come from the configuration
//! (bindPort, the components' `secure-port` extra args, the kubelet's healthzPort), as kubeadm reads
//! them, so the tests need no fixed port.

mod common;
use common::{kinit, text};

use kinit_test_support as support;
use support::standin::{listen, serve_http, serve_tls, Reply, OK};

use serde_json::Value;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// A port with nothing listening on it.
fn free_port() -> u16 {
    listen("127.0.0.1").1
}

struct Ports {
    kubelet: u16,
    apiserver: u16,
    controller_manager: u16,
    scheduler: u16,
}

fn config_text(advertise: &str, ports: &Ports, control_plane_timeout: &str) -> String {
    format!(
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: {advertise}
  bindPort: {}
nodeRegistration:
  name: cp1
timeouts:
  kubeletHealthCheck: 3s
  controlPlaneComponentHealthCheck: {control_plane_timeout}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: 1.32.0
controllerManager:
  extraArgs:
  - name: secure-port
    value: \"{}\"
scheduler:
  extraArgs:
  - name: secure-port
    value: \"{}\"
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
healthzPort: {}
",
        ports.apiserver, ports.controller_manager, ports.scheduler, ports.kubelet
    )
}

/// A root with the cluster's certificates, made for `cert_address`, and a configuration that
/// advertises `advertise`; returns the root and the configuration's path.
fn cluster(
    cert_address: &str,
    advertise: &str,
    ports: &Ports,
    timeout: &str,
) -> (tempfile::TempDir, String) {
    let root = tempfile::tempdir().unwrap();
    let certs = root.path().join("certs.yaml");
    std::fs::write(&certs, config_text(cert_address, ports, timeout)).unwrap();
    let out = kinit(&[
        "init",
        "phase",
        "certs",
        "all",
        "--rootfs",
        root.path().to_str().unwrap(),
        "--config",
        certs.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = root.path().join("kinit.yaml");
    std::fs::write(&config, config_text(advertise, ports, timeout)).unwrap();
    (root, config.to_str().unwrap().to_string())
}

fn pki(root: &Path, name: &str) -> PathBuf {
    root.join("etc/kubernetes/pki").join(name)
}

fn wait(root: &Path, config: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "init",
        "phase",
        "wait-control-plane",
        "--rootfs",
        root.to_str().unwrap(),
        "--config",
        config,
    ];
    args.extend_from_slice(extra);
    kinit(&args)
}

/// The stand-ins' listeners, open so their ports can go into the configuration; they serve once
/// the certificates exist.
struct Pending {
    listeners: Vec<(&'static str, TcpListener)>,
    scheduler: Reply,
}

/// Opens a listener for every stand-in but those in `down`; `scheduler` is what the scheduler answers.
fn open_components(advertise: &str, scheduler: Reply, down: &[&str]) -> (Ports, Pending) {
    let (kubelet, kubelet_port) = listen("127.0.0.1");
    let (apiserver, apiserver_port) = listen(advertise);
    let (kcm, kcm_port) = listen("127.0.0.1");
    let (sched, sched_port) = listen("127.0.0.1");
    let ports = Ports {
        kubelet: kubelet_port,
        apiserver: apiserver_port,
        controller_manager: kcm_port,
        scheduler: sched_port,
    };
    // A component that is down keeps no listener, so its port refuses connections.
    let mut listeners = vec![
        ("kubelet", kubelet),
        ("kube-apiserver", apiserver),
        ("kube-controller-manager", kcm),
        ("kube-scheduler", sched),
    ];
    listeners.retain(|(name, _)| !down.contains(name));
    (
        ports,
        Pending {
            listeners,
            scheduler,
        },
    )
}

fn serve(root: &Path, pending: Pending) {
    // The controller manager and scheduler serve self-signed certificates in a real cluster; any
    // pair does, as nothing verifies them.
    let any = || {
        (
            pki(root, "front-proxy-client.crt"),
            pki(root, "front-proxy-client.key"),
        )
    };
    for (name, listener) in pending.listeners {
        match name {
            "kubelet" => serve_http(listener, OK),
            "kube-apiserver" => serve_tls(
                listener,
                pki(root, "apiserver.crt"),
                pki(root, "apiserver.key"),
                OK,
            ),
            "kube-controller-manager" => serve_tls(listener, any().0, any().1, OK),
            _ => serve_tls(listener, any().0, any().1, pending.scheduler),
        }
    }
}

fn setup(
    cert_address: &str,
    advertise: &str,
    scheduler: Reply,
    down: &[&str],
    timeout: &str,
) -> (tempfile::TempDir, String, Ports) {
    let (ports, pending) = open_components(advertise, scheduler, down);
    let (root, config) = cluster(cert_address, advertise, &ports, timeout);
    serve(root.path(), pending);
    (root, config, ports)
}

#[test]
fn all_healthy_is_shown_per_component_and_as_json_events() {
    let (root, config, ports) = setup("127.0.0.1", "127.0.0.1", OK, &[], "10s");
    let out = wait(root.path(), &config, &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for line in [
        format!("[kubelet-check] Waiting for a healthy kubelet at http://127.0.0.1:{}/healthz. This can take up to 3s", ports.kubelet),
        "[kubelet-check] kubelet is healthy after".to_string(),
        format!("[control-plane-check] Checking kube-apiserver at https://127.0.0.1:{}/livez", ports.apiserver),
        format!("[control-plane-check] Checking kube-controller-manager at https://127.0.0.1:{}/healthz", ports.controller_manager),
        format!("[control-plane-check] Checking kube-scheduler at https://127.0.0.1:{}/livez", ports.scheduler),
        "[control-plane-check] kube-apiserver is healthy after".to_string(),
        "[control-plane-check] kube-controller-manager is healthy after".to_string(),
        "[control-plane-check] kube-scheduler is healthy after".to_string(),
    ] {
        assert!(stdout.contains(&line), "missing {line:?} in\n{stdout}");
    }
    assert!(
        !stdout.contains("\x1b["),
        "no terminal codes when stdout is not a terminal"
    );

    let out = wait(root.path(), &config, &["-o", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let events: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for component in [
        "kubelet",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        let states: Vec<&Value> = events
            .iter()
            .filter(|e| e["event"] == "component-state" && e["component"] == component)
            .collect();
        assert_eq!(states.first().unwrap()["state"], "waiting", "{component}");
        let last = states.last().unwrap();
        assert_eq!(last["state"], "healthy", "{component}");
        assert!(last["elapsedMs"].as_f64().is_some());
        assert!(last["url"].as_str().unwrap().contains("127.0.0.1:"));
    }
    assert_eq!(events.last().unwrap()["exitCode"], 0);
}

#[test]
fn a_component_never_healthy_is_named_with_its_last_error() {
    let failing = Reply {
        status: 500,
        body: "[+]ping ok\n[-]leaderElection failed: reason withheld\nlivez check failed",
    };
    let (root, config, ports) = setup("127.0.0.1", "127.0.0.1", failing, &[], "1s");
    let out = wait(root.path(), &config, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(5),
        "timed out has its own exit code\n{stderr}"
    );
    assert!(
        stderr.contains("timed out after 1s waiting for the control plane components:"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "kube-apiserver (https://127.0.0.1:{}/livez): healthy after",
            ports.apiserver
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "kube-scheduler (https://127.0.0.1:{}/livez): never healthy in",
            ports.scheduler
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("it answered, but not with 200 OK"),
        "{stderr}"
    );
    assert!(stderr.contains("last error: HTTP status 500: [+]ping ok | [-]leaderElection failed: reason withheld | livez check failed"), "{stderr}");
    // The stand-in is this test process, not a kube-scheduler: the diagnosis names who holds the port.
    assert!(
        stderr.contains(&format!(
            "likely cause: port {} is held by another process, ",
            ports.scheduler
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("(pid {}), not kube-scheduler", std::process::id())),
        "{stderr}"
    );
    for command in ["'journalctl -xeu kubelet'", "'crictl --runtime-endpoint unix:///var/run/containerd/containerd.sock ps -a | grep kube | grep -v pause'", "logs CONTAINERID"] {
        assert!(stderr.contains(command), "missing {command} in\n{stderr}");
    }
    assert!(!stderr.contains("timed out waiting for the condition"));
}

#[test]
fn a_component_not_running_and_a_kubelet_not_running_are_told_apart() {
    let (root, config, ports) = setup(
        "127.0.0.1",
        "127.0.0.1",
        OK,
        &["kube-controller-manager"],
        "1s",
    );
    let out = wait(root.path(), &config, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "kube-controller-manager (https://127.0.0.1:{}/healthz): never healthy",
            ports.controller_manager
        )),
        "{stderr}"
    );
    assert!(stderr.contains("it never answered"), "{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert!(stderr.contains(&format!("likely cause: nothing listens on 127.0.0.1:{}: the kube-controller-manager container is not running", ports.controller_manager)), "{stderr}");

    let (root, config, ports) = setup("127.0.0.1", "127.0.0.1", OK, &["kubelet"], "1s");
    let started = std::time::Instant::now();
    let out = wait(root.path(), &config, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by kubeletHealthCheck (3s)"
    );
    assert!(
        stderr.contains("timed out after 3s waiting for the kubelet"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "likely cause: the kubelet is not running (nothing listens on 127.0.0.1:{})",
            ports.kubelet
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("kube-apiserver"),
        "the control plane is not checked before the kubelet is up"
    );
}

#[test]
fn a_certificate_not_valid_for_the_address_is_called_so() {
    // The certificates were made for 127.0.0.1; the API server is advertised (and reached) at 127.0.0.2.
    let (root, config, _) = setup("127.0.0.1", "127.0.0.2", OK, &[], "1s");
    let out = wait(root.path(), &config, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("kube-apiserver (https://127.0.0.2:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("it answered, but not with 200 OK"),
        "{stderr}"
    );
    assert!(
        stderr.contains("last error: TLS error: certificate verify failed: IP address mismatch"),
        "{stderr}"
    );
    // The names the certificate holds, read from it although the handshake refused it.
    assert!(
        stderr.contains("it is valid for [") && stderr.contains("127.0.0.1]"),
        "{stderr}"
    );
    assert!(stderr.contains("likely cause: the serving certificate is not valid for the address 127.0.0.2: it is valid for ["), "{stderr}");
    assert!(
        stderr.contains("kube-scheduler (https://127.0.0.1:"),
        "{stderr}"
    );
}

#[test]
fn a_dry_run_waits_for_nothing() {
    let ports = Ports {
        kubelet: free_port(),
        apiserver: free_port(),
        controller_manager: free_port(),
        scheduler: free_port(),
    };
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("kinit.yaml");
    std::fs::write(&config, config_text("127.0.0.1", &ports, "1s")).unwrap();
    let out = wait(root.path(), config.to_str().unwrap(), &["--dry-run"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!(
            "[dry-run] Would wait up to 3s for the kubelet at http://127.0.0.1:{}/healthz",
            ports.kubelet
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "[dry-run] Would wait up to 1s for kube-apiserver at https://127.0.0.1:{}/livez",
            ports.apiserver
        )),
        "{stdout}"
    );
}

#[test]
fn on_a_terminal_each_component_has_one_line_redrawn_in_place() {
    // util-linux's `script` gives the command a terminal; without it there is nothing to test here.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` to run kinit on a terminal");
        return;
    }
    let (root, config, _) = setup("127.0.0.1", "127.0.0.1", OK, &["kube-scheduler"], "1s");
    let command = format!(
        "{} init phase wait-control-plane --rootfs {} --config {}",
        env!("CARGO_BIN_EXE_kinit"),
        root.path().display(),
        config
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .unwrap();
    let screen = text(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{screen}");
    // Three control-plane rows: each redraw moves up over them and clears each line it rewrites.
    assert!(screen.contains("\x1b[3A"), "{screen:?}");
    assert!(
        screen.contains("\r\x1b[2K[control-plane-check] kube-scheduler is not healthy yet"),
        "{screen:?}"
    );
    assert!(
        screen.contains("\r\x1b[2K[control-plane-check] kube-scheduler is not healthy after"),
        "{screen:?}"
    );
}
