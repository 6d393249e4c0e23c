//! The local matrix (`scripts/matrix-local.sh`): for each configuration variant, a control-plane
//! host `cp` and a worker host `w` in network namespaces on a fresh bridge (198.51.100.1 and .2),
//! each with its own root folder. On cp: `kinit init -o json` against the test API server on
//! cp's address (started once init has made its certificates, so init is timed whole), and the
//! real etcd from the manifest init wrote; on w: `kinit join -o json` with the join material of
//! init's JSON result, the test playing w's kubelet (tests/support/kubelet.rs); then
//! `kinit reset -f -o json` on both. Every variant runs, also after one fails; the test prints a
//! table and a JSON summary of kinit's own phase timings, writes the summary to
//! `KINIT_MATRIX_JSON` (else `matrix-local.json` in Cargo's test temp folder), and fails if any
//! variant failed. `KINIT_MATRIX_FILTER=a,b` runs the variants whose name contains a or b.
//!
//! A second test runs the same variants (those of the built Kubernetes minor) on the real control
//! plane instead: the real programs of scripts/test-tools.sh run from the manifests init wrote, the
//! kubelet played against them on both hosts (tests/support/played_kubelet.rs).
//!
//! Needs root (network namespaces); see tests/etcd_real.rs for `KINIT_SKIP_ROOT_TESTS`.

mod common;
use common::{have_root, kinit_result, text};

use kinit_test_support as support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::apiserver::store::ServiceCidr;
use support::apiserver::{Options, TestApiServer};
use support::etcd::{etcdctl_timeout, static_pod_argv, Client, Etcd};
use support::hosts::{Host, Network};
use support::kubectl::Kubectl;
use support::kubelet::{act_as_kubelet, openssl, yaml};
use support::played_kubelet::{bootstrap_kubelet, register_node_when_ready};
use support::standin::{serve_http, serve_tls, OK};
use support::static_pods::StaticPods;

const CP: &str = "198.51.100.1";
const CP6: &str = "fd00::1";
const EXTERNAL_ETCD: &str = "198.51.100.3";
/// The kubeadm configuration of the compatibility corpus the matrix runs: a single-node init
/// configuration (v1beta4, Kubernetes v1.36, `taints: []`, a KubeletConfiguration) whose only
/// local thing is its address (advertise address, endpoint, node-ip, certSANs), taken over by cp.
const COMPAT_FILE: &str = "05-v1beta4-init-single-node-untainted.yaml";
const COMPAT_ADDRESS: &str = "172.31.32.97";

/// What the variants run against.
#[derive(Clone, Copy, PartialEq)]
enum Plane {
    /// The test API server of tests/support/apiserver and the venv's etcd: fast, every variant.
    Double,
    /// The real etcd 3.6, kube-apiserver, controller manager and scheduler of scripts/test-tools.sh,
    /// run from the manifests init wrote (tests/support/static_pods.rs), with the kubelet played
    /// against them (tests/support/played_kubelet.rs): the variants of the built Kubernetes minor.
    Real,
}

/// What a variant changes.
#[derive(Clone, Copy)]
enum Config {
    /// A v1beta4 configuration written here.
    Written {
        algorithm: &'static str,
        /// podSubnet, serviceSubnet, dnsDomain; None: kubeadm's defaults.
        networking: Option<(&'static str, &'static str, &'static str)>,
        ipv6: bool,
        external_etcd: bool,
    },
    /// A file of ../shared/compat/kubeadm-configs, its address and node name adapted.
    Compat(&'static str),
}

struct Variant {
    entry: &'static str,
    config: Config,
}

impl Variant {
    /// The key type and Kubernetes minor, as the Vagrant matrix names them in its summary.
    fn key_and_minor(&self) -> (&'static str, &'static str) {
        match self.config {
            Config::Written { algorithm, .. } if algorithm == RSA => ("rsa", "1.34"),
            Config::Written { .. } => ("ecdsa", "1.34"),
            Config::Compat(_) => ("rsa", "1.36"),
        }
    }
}

const ECDSA: &str = "ECDSA-P256";
/// podSubnet, serviceSubnet and dnsDomain of the IPv6 variant.
const IPV6_NETWORKING: (&str, &str, &str) =
    ("fd00:10:244::/56", "fd00:10:96::/112", "cluster.local");
const RSA: &str = "RSA-2048";

fn variants() -> Vec<Variant> {
    let written = |algorithm, networking, ipv6, external_etcd| Config::Written {
        algorithm,
        networking,
        ipv6,
        external_etcd,
    };
    vec![
        Variant {
            entry: "ecdsa-p256",
            config: written(ECDSA, None, false, false),
        },
        Variant {
            entry: "rsa-2048",
            config: written(RSA, None, false, false),
        },
        Variant {
            entry: "custom-cidrs-dns",
            config: written(
                ECDSA,
                Some(("10.32.0.0/16", "10.112.0.0/16", "matrix.test")),
                false,
                false,
            ),
        },
        Variant {
            entry: "ipv6-single-stack",
            config: written(ECDSA, Some(IPV6_NETWORKING), true, false),
        },
        Variant {
            entry: "external-etcd",
            config: written(ECDSA, None, false, true),
        },
        Variant {
            entry: "compat-05-single-node",
            config: Config::Compat(COMPAT_FILE),
        },
    ]
}

/// What one variant produced: kinit's result objects, as far as it got.
#[derive(Default)]
struct Outcome {
    init: Option<Value>,
    join: Option<Value>,
    reset: Vec<(String, Value)>,
}

/// The last line of a kinit run's stdout as its JSON result object, failing with its output
/// unless it succeeded.
fn result(out: Output, what: &str) -> Value {
    kinit_result(out, what, String::new)
}

fn total_ms(result: &Value) -> f64 {
    result["totalMs"].as_f64().unwrap_or_else(|| {
        result["phases"]
            .as_array()
            .map(|p| p.iter().filter_map(|p| p["durationMs"].as_f64()).sum())
            .unwrap_or_default()
    })
}

/// The address cp advertises and the endpoint (`host:port`) nodes reach it at.
fn cp_address(config: Config) -> (&'static str, String) {
    match config {
        Config::Written { ipv6: true, .. } => (CP6, format!("[{CP6}]:6443")),
        _ => (CP, format!("{CP}:6443")),
    }
}

fn write_config(cp: &Host, variant: &Variant) -> PathBuf {
    let path = cp.path("/kinit.yaml");
    let text = match variant.config {
        Config::Compat(file) => {
            let original = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/compat/kubeadm-configs")
                .join(file);
            let original = std::fs::read_to_string(&original)
                .unwrap_or_else(|e| panic!("{}: {e}", original.display()));
            original.replace(COMPAT_ADDRESS, CP)
        }
        Config::Written {
            algorithm,
            networking,
            ipv6,
            external_etcd,
        } => {
            let (address, endpoint) = cp_address(variant.config);
            let networking = networking.map_or(String::new(), |(pods, services, domain)| {
                format!(
                    "networking:\n  podSubnet: {pods}\n  serviceSubnet: {services}\n  dnsDomain: {domain}\n"
                )
            });
            // The test's etcd is 3.5: an etcd 3.5 image tag gives the manifest the flags it takes.
            let etcd = if external_etcd {
                format!(
                    "etcd:
  external:
    endpoints: [\"https://{EXTERNAL_ETCD}:2379\"]
    caFile: /etc/kubernetes/pki/etcd/ca.crt
    certFile: /etc/kubernetes/pki/apiserver-etcd-client.crt
    keyFile: /etc/kubernetes/pki/apiserver-etcd-client.key
"
                )
            } else {
                "etcd:\n  local:\n    imageTag: 3.5.21-0\n".to_string()
            };
            let node_ip = if ipv6 {
                format!("  kubeletExtraArgs:\n  - name: node-ip\n    value: \"{address}\"\n")
            } else {
                String::new()
            };
            format!(
                "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: \"{address}\"
nodeRegistration:
  name: cp
{node_ip}timeouts:
  kubernetesAPICall: 10s
  kubeletHealthCheck: 30s
  controlPlaneComponentHealthCheck: 30s
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.34.0
controlPlaneEndpoint: \"{endpoint}\"
encryptionAlgorithm: {algorithm}
{networking}{etcd}"
            )
        }
    };
    std::fs::write(&path, text).unwrap();
    path
}

/// The node name of cp's configuration.
fn node_name(config: &Path) -> String {
    let text = std::fs::read_to_string(config).unwrap();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("name:"))
        .map(|n| n.trim().trim_matches('"').to_string())
        .unwrap()
}

fn service_subnet(config: Config) -> &'static str {
    match config {
        Config::Written {
            networking: Some((_, services, _)),
            ..
        } => services,
        _ => "10.96.0.0/12",
    }
}

/// A real etcd at 198.51.100.3 with its own PKI (made here with the openssl CLI, as an
/// administrator makes one), and its CA and a client pair copied to cp where kubeadm's
/// external-etcd guide puts them.
fn start_external_etcd(host: &Host, cp: &Host) -> (Etcd, Client) {
    let dir = host.path("/pki");
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let mut ca = vec!["req", "-x509", "-nodes", "-days", "2"];
    ca.extend(ec);
    let (ca_key, ca_crt) = (file("ca.key"), file("ca.crt"));
    ca.extend([
        "-keyout",
        &ca_key,
        "-out",
        &ca_crt,
        "-subj",
        "/CN=external-etcd-ca",
    ]);
    openssl(&ca);
    let ext = file("ext.cnf");
    std::fs::write(
        &ext,
        format!(
            "[server]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:{EXTERNAL_ETCD},IP:127.0.0.1\n[client]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
        ),
    )
    .unwrap();
    for (name, cn, section) in [
        ("server", "etcd", "server"),
        ("client", "kube-apiserver-etcd-client", "client"),
    ] {
        let (key, csr, crt) = (
            file(&format!("{name}.key")),
            file(&format!("{name}.csr")),
            file(&format!("{name}.crt")),
        );
        let subject = format!("/CN={cn}");
        let mut req = vec!["req", "-new", "-nodes"];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr, "-subj", &subject]);
        openssl(&req);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_crt,
            "-CAkey",
            &ca_key,
            "-set_serial",
            "7",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-extensions",
            section,
            "-out",
            &crt,
        ]);
    }
    let pki = cp.path("/etc/kubernetes/pki");
    std::fs::create_dir_all(pki.join("etcd")).unwrap();
    for (from, to) in [
        ("ca.crt", "etcd/ca.crt"),
        ("client.crt", "apiserver-etcd-client.crt"),
        ("client.key", "apiserver-etcd-client.key"),
    ] {
        std::fs::copy(dir.join(from), pki.join(to)).unwrap();
    }
    let url = format!("https://{EXTERNAL_ETCD}:2379");
    let peer = "http://127.0.0.1:2380";
    let args: Vec<String> = [
        "--name=external".to_string(),
        format!("--data-dir={}", host.path("/var/lib/etcd").display()),
        format!("--listen-client-urls={url}"),
        format!("--advertise-client-urls={url}"),
        format!("--listen-peer-urls={peer}"),
        format!("--initial-advertise-peer-urls={peer}"),
        format!("--initial-cluster=external={peer}"),
        format!("--cert-file={}", file("server.crt")),
        format!("--key-file={}", file("server.key")),
        format!("--trusted-ca-file={ca_crt}"),
        "--client-cert-auth=true".to_string(),
    ]
    .into();
    let mut etcd = Etcd::run(&host.ns, host.root(), &args);
    let client = Client {
        endpoint: url,
        cacert: dir.join("ca.crt"),
        cert: dir.join("client.crt"),
        key: dir.join("client.key"),
    };
    etcd.wait_for("healthy", || {
        etcdctl_timeout(&host.ns, &client, "3s", &["endpoint", "health"])
            .status
            .success()
    });
    (etcd, client)
}

/// The external etcd after cp's reset: still its one member, healthy (a reset leaves an etcd it
/// did not make alone, as kubeadm's does).
fn external_etcd_untouched(host: &Host, client: &Client) {
    let out = etcdctl_timeout(&host.ns, client, "5s", &["member", "list"]);
    let list = text(&out.stdout);
    assert!(
        out.status.success() && list.contains("external"),
        "{list}{}",
        text(&out.stderr)
    );
    assert_eq!(list.lines().count(), 1, "{list}");
    let out = etcdctl_timeout(&host.ns, client, "5s", &["endpoint", "health"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The components init's wait-control-plane checks, once init has made the certificates: the
/// test API server on cp's address (with init's apiserver.crt), the controller manager and the
/// scheduler. The listeners are bound at once, so early connections wait in their backlog.
fn serve_control_plane(
    cp: &Host,
    address: &str,
    node: String,
    service_cidr: &str,
) -> std::thread::JoinHandle<Option<TestApiServer>> {
    let bind = if address.contains(':') {
        format!("[{address}]")
    } else {
        address.to_string()
    };
    let apiserver = cp.listen(&bind, 6443);
    let controller_manager = cp.listen("127.0.0.1", 10257);
    let scheduler = cp.listen("127.0.0.1", 10259);
    serve_http(cp.listen("127.0.0.1", 10248), OK);
    let pki = cp.path("/etc/kubernetes/pki");
    let service_cidr = service_cidr.to_string();
    std::thread::spawn(move || {
        let needed = [
            "ca.crt",
            "ca.key",
            "apiserver.crt",
            "apiserver.key",
            "front-proxy-client.crt",
            "front-proxy-client.key",
        ];
        let start = Instant::now();
        while !needed.iter().all(|f| pki.join(f).exists()) {
            if start.elapsed() > Duration::from_secs(60) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let (crt, key) = (
            pki.join("front-proxy-client.crt"),
            pki.join("front-proxy-client.key"),
        );
        serve_tls(controller_manager, crt.clone(), key.clone(), OK);
        serve_tls(scheduler, crt, key, OK);
        Some(TestApiServer::start_on(
            apiserver,
            &pki,
            Options {
                node: Some(node),
                service_cidr,
                ..Default::default()
            },
        ))
    })
}

/// cp's etcd from the manifest init wrote, healthy at the advertised address. The venv's etcd is
/// 3.5: the two flags an etcd 3.6 manifest spells the new way are given to it the 3.5 way.
fn start_local_etcd(cp: &Host, address: &str) -> Etcd {
    let args: Vec<String> = static_pod_argv(cp.root(), "etcd")
        .into_iter()
        .map(|arg| match arg.as_str() {
            "--feature-gates=InitialCorruptCheck=true" => {
                "--experimental-initial-corrupt-check=true".to_string()
            }
            _ => match arg.strip_prefix("--watch-progress-notify-interval=") {
                Some(v) => format!("--experimental-watch-progress-notify-interval={v}"),
                None => arg,
            },
        })
        .collect();
    let mut etcd = Etcd::run(&cp.ns, cp.root(), &args);
    let host = if address.contains(':') {
        format!("[{address}]")
    } else {
        address.to_string()
    };
    let client = Client::of(
        cp.root(),
        "etcd/healthcheck-client",
        &format!("https://{host}:2379"),
    );
    etcd.wait_for("healthy", || {
        etcdctl_timeout(&cp.ns, &client, "3s", &["endpoint", "health"])
            .status
            .success()
    });
    etcd
}

fn key_is(pem: &Path, algorithm: &str) {
    let cert = openssl::x509::X509::from_pem(&std::fs::read(pem).unwrap()).unwrap();
    let key = cert.public_key().unwrap();
    match algorithm {
        RSA => assert_eq!(key.rsa().map(|k| k.size() * 8).ok(), Some(2048), "{pem:?}"),
        _ => assert_eq!(
            key.ec_key()
                .ok()
                .and_then(|k| k.group().curve_name())
                .map(|n| n.as_raw()),
            Some(openssl::nid::Nid::X9_62_PRIME256V1.as_raw()),
            "{pem:?}"
        ),
    }
}

fn manifest_command(host: &Host, component: &str) -> String {
    let pod = yaml(&host.path(&format!("/etc/kubernetes/manifests/{component}.yaml")));
    pod["spec"]["containers"][0]["command"].to_string()
}

/// What each variant must show beyond a successful init and join.
fn variant_checks(variant: &Variant, cp: &Host, w: &Host, server: &TestApiServer) {
    let pki = cp.path("/etc/kubernetes/pki");
    match variant.config {
        Config::Written {
            algorithm,
            networking,
            ipv6,
            external_etcd,
        } => {
            key_is(&pki.join("ca.crt"), algorithm);
            key_is(&pki.join("apiserver.crt"), algorithm);
            if let Some((pods, services, domain)) = networking {
                let cm = manifest_command(cp, "kube-controller-manager");
                assert!(cm.contains(&format!("--cluster-cidr={pods}")), "{cm}");
                let api = manifest_command(cp, "kube-apiserver");
                assert!(
                    api.contains(&format!("--service-cluster-ip-range={services}")),
                    "{api}"
                );
                let kubelet = yaml(&w.path("/var/lib/kubelet/config.yaml"));
                assert_eq!(kubelet["clusterDomain"], domain, "{kubelet}");
                // CoreDNS's Service has the tenth address of the range, and the kubelets use it.
                let dns = ServiceCidr::parse(services).unwrap().address(10);
                assert_eq!(kubelet["clusterDNS"], json!([dns]), "{kubelet}");
                let service = server
                    .get("Service", "kube-system", "kube-dns")
                    .expect("the kube-dns Service");
                assert_eq!(service["spec"]["clusterIP"], dns, "{service}");
            }
            if ipv6 {
                let api = manifest_command(cp, "kube-apiserver");
                assert!(api.contains(&format!("--advertise-address={CP6}")), "{api}");
                let etcd = manifest_command(cp, "etcd");
                assert!(
                    etcd.contains(&format!("--advertise-client-urls=https://[{CP6}]:2379")),
                    "{etcd}"
                );
            }
            if external_etcd {
                assert!(
                    !cp.path("/etc/kubernetes/manifests/etcd.yaml").exists(),
                    "no etcd static Pod with an external etcd"
                );
                let api = manifest_command(cp, "kube-apiserver");
                assert!(
                    api.contains(&format!("--etcd-servers=https://{EXTERNAL_ETCD}:2379")),
                    "{api}"
                );
                assert!(
                    !pki.join("etcd/ca.key").exists(),
                    "kinit made no etcd CA of its own"
                );
            }
        }
        Config::Compat(_) => {
            let cm = server
                .get("ConfigMap", "kube-system", "kubeadm-config")
                .expect("kubeadm-config");
            let cluster = cm["data"]["ClusterConfiguration"].as_str().unwrap();
            assert!(cluster.contains("clusterName: llm-d-single"), "{cluster}");
            assert!(cluster.contains("podSubnet: 10.244.0.0/16"), "{cluster}");
            // `taints: []`: the single node stays schedulable.
            let node = server
                .get("Node", "", "ip-172-31-32-97")
                .expect("cp's Node");
            assert!(
                !node["spec"]["taints"]
                    .to_string()
                    .contains("node-role.kubernetes.io/control-plane"),
                "{node}"
            );
            let kubelet = yaml(&cp.path("/var/lib/kubelet/config.yaml"));
            assert_eq!(kubelet["maxPods"], 250, "{kubelet}");
        }
    }
}

/// A JoinConfiguration for w from init's join material, with short waits.
fn join_config(w: &Host, endpoint: &str, init: &Value) -> String {
    let join = &init["join"];
    let token = join["token"].as_str().expect("init's result has the token");
    let hashes = join["caCertHashes"].to_string();
    let path = w.path("/join.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    token: {token}
    apiServerEndpoint: \"{endpoint}\"
    caCertHashes: {hashes}
nodeRegistration:
  name: w
timeouts:
  discovery: 30s
  tlsBootstrap: 60s
  kubeletHealthCheck: 30s
  kubernetesAPICall: 10s
"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn run_variant(plane: Plane, variant: &Variant, outcome: &mut Outcome) {
    let ipv6 = matches!(variant.config, Config::Written { ipv6: true, .. });
    let external = matches!(
        variant.config,
        Config::Written {
            external_etcd: true,
            ..
        }
    );
    let label = match plane {
        Plane::Double => format!("mx-{}", variant.entry),
        Plane::Real => format!("mr-{}", variant.entry),
    };
    let mut names = vec!["cp", "w"];
    if external {
        names.push("etcd");
    }
    let network = Network::new(&label, &names);
    let (cp, w) = (network.host("cp"), network.host("w"));
    if ipv6 {
        for (host, address) in [(cp, "fd00::1/64"), (w, "fd00::2/64")] {
            host.ns
                .ip(&["-6", "addr", "add", address, "dev", "eth0", "nodad"]);
        }
    }
    let (address, endpoint) = cp_address(variant.config);
    let external_etcd = external.then(|| start_external_etcd(network.host("etcd"), cp));
    let config = write_config(cp, variant);
    let node = node_name(&config);
    let init_args = [
        "init",
        "--config",
        config.to_str().unwrap(),
        "-o",
        "json",
        "--ignore-preflight-errors",
        "all",
    ];
    let join = |file: &str| {
        w.kinit(&[
            "join",
            "--config",
            file,
            "-o",
            "json",
            "--ignore-preflight-errors",
            "all",
        ])
    };
    let join_ended = AtomicBool::new(false);
    match plane {
        Plane::Double => {
            let server = serve_control_plane(cp, address, node, service_subnet(variant.config));
            let init = result(cp.kinit(&init_args), "kinit init on cp");
            outcome.init = Some(init.clone());
            let server = server
                .join()
                .unwrap()
                .expect("init made the API server's certificates");
            let etcd = (!external).then(|| start_local_etcd(cp, address));
            let join_file = join_config(w, &endpoint, &init);
            let ca_dir = cp.path("/etc/kubernetes/pki");
            let join = std::thread::scope(|scope| {
                let kubelet =
                    scope.spawn(|| act_as_kubelet(w, &endpoint, &ca_dir, &server, &join_ended));
                let join = join(&join_file);
                join_ended.store(true, Ordering::SeqCst);
                let join = result(join, "kinit join on w");
                kubelet
                    .join()
                    .unwrap()
                    .expect("the join wrote bootstrap-kubelet.conf");
                join
            });
            outcome.join = Some(join);
            variant_checks(variant, cp, w, &server);
            resets(cp, w, outcome);
            drop(etcd);
        }
        Plane::Real => {
            let pods = StaticPods::watch(cp);
            serve_http(cp.listen("127.0.0.1", 10248), OK);
            let init_ended = AtomicBool::new(false);
            let (init, registered) = std::thread::scope(|scope| {
                let kubelet = scope.spawn(|| register_node_when_ready(cp, &init_ended));
                let init = cp.kinit(&init_args);
                init_ended.store(true, Ordering::SeqCst);
                (init, kubelet.join().unwrap())
            });
            let init = result(init, "kinit init on cp");
            outcome.init = Some(init.clone());
            registered.unwrap_or_else(|e| panic!("{e}\n{}", pods.tails(20)));
            cluster_info_signed(cp, &init, &pods);
            let join_file = join_config(w, &endpoint, &init);
            let join = std::thread::scope(|scope| {
                let kubelet = scope.spawn(|| bootstrap_kubelet(w, &join_ended, &pods));
                let join = join(&join_file);
                join_ended.store(true, Ordering::SeqCst);
                let kubelet = kubelet.join().unwrap();
                let join = result(join, "kinit join on w");
                kubelet.unwrap_or_else(|e| panic!("w's played kubelet: {e}\n{}", pods.tails(20)));
                join
            });
            outcome.join = Some(join);
            real_checks(variant, cp, w, &pods);
            resets(cp, w, outcome);
        }
    }
    if let Some((_, client)) = &external_etcd {
        external_etcd_untouched(network.host("etcd"), client);
    }
}

/// Waits until the real controller manager's bootstrap signer has signed cluster-info for init's
/// token: a join before that would wait out discovery's 5 s retries (as kubeadm's would).
fn cluster_info_signed(cp: &Host, init: &Value, pods: &StaticPods) {
    let id = init["join"]["token"]
        .as_str()
        .unwrap()
        .split('.')
        .next()
        .unwrap();
    let key = format!("jws-kubeconfig-{id}");
    let admin = Kubectl::new(cp, "/etc/kubernetes/admin.conf");
    let start = Instant::now();
    loop {
        let cm = admin.json(&["get", "configmap", "cluster-info", "-n", "kube-public"]);
        if cm.as_ref().is_ok_and(|cm| cm["data"].get(&key).is_some()) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "cluster-info not signed for {id}: {cm:?}\n{}",
            pods.tail("kube-controller-manager", 30)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// On the real control plane: w's kubelet.conf is `system:node:w` to the real API server (its
/// CSR was signed by the real controller manager), and the real API server serves the variant's
/// Service network.
fn real_checks(variant: &Variant, cp: &Host, w: &Host, pods: &StaticPods) {
    let whoami = Kubectl::new(w, "/etc/kubernetes/kubelet.conf")
        .json(&["auth", "whoami"])
        .unwrap_or_else(|e| panic!("{e}\n{}", pods.tails(20)));
    assert_eq!(whoami["status"]["userInfo"]["username"], "system:node:w");
    let admin = Kubectl::new(cp, "/etc/kubernetes/admin.conf");
    let service = admin
        .json(&["get", "service", "kubernetes", "-n", "default"])
        .unwrap();
    let subnet = service_subnet(variant.config);
    let cluster_ip = service["spec"]["clusterIP"].as_str().unwrap().to_string();
    let prefix = subnet.split("::").next().unwrap_or(subnet);
    let prefix = prefix.rsplit_once('.').map_or(prefix, |(p, _)| p);
    assert!(
        cluster_ip.starts_with(prefix),
        "the kubernetes Service at {cluster_ip}, outside {subnet}"
    );
    let dns = admin
        .json(&["get", "service", "kube-dns", "-n", "kube-system"])
        .unwrap();
    assert!(dns["spec"]["clusterIP"]
        .as_str()
        .is_some_and(|ip| ip.starts_with(prefix)));
}

/// `kinit reset -f -o json` on both hosts, the worker first.
fn resets(cp: &Host, w: &Host, outcome: &mut Outcome) {
    for host in [w, cp] {
        let out = host.kinit(&[
            "reset",
            "-f",
            "-o",
            "json",
            "--ignore-preflight-errors",
            "all",
        ]);
        let reset = result(out, &format!("kinit reset -f on {}", host.name));
        outcome.reset.push((host.name.clone(), reset));
        for gone in ["/etc/kubernetes/kubelet.conf", "/etc/kubernetes/pki/ca.crt"] {
            assert!(!host.path(gone).exists(), "{gone} on {}", host.name);
        }
    }
}

#[test]
fn needs_root_local_matrix() {
    if have_root() {
        matrix(Plane::Double);
    }
}

/// The variants of the Kubernetes minor the real programs are built for, on the real control plane.
#[test]
fn needs_root_local_matrix_on_the_real_control_plane() {
    if have_root() {
        matrix(Plane::Real);
    }
}

/// Runs the chosen variants against `plane`; prints the table and the JSON summary, written to
/// `KINIT_MATRIX_JSON` (else `matrix-local.json` in Cargo's test temp folder), with `-real` before
/// `.json` for the real control plane.
fn matrix(plane: Plane) {
    let filter: Vec<String> = std::env::var("KINIT_MATRIX_FILTER")
        .unwrap_or_default()
        .split(',')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    let chosen: Vec<Variant> = variants()
        .into_iter()
        .filter(|v| plane == Plane::Double || !matches!(v.config, Config::Compat(_)))
        .filter(|v| filter.is_empty() || filter.iter().any(|f| v.entry.contains(f.as_str())))
        .collect();
    assert!(!chosen.is_empty(), "no variant matches {filter:?}");
    let start = Instant::now();
    let mut rows = Vec::new();
    let mut summary = Vec::new();
    for variant in &chosen {
        let began = Instant::now();
        let mut outcome = Outcome::default();
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_variant(plane, variant, &mut outcome)
        }));
        let error = run.err().map(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panicked".into())
        });
        let passed = error.is_none();
        let ms = |r: Option<&Value>| r.map(|r| total_ms(r).round());
        // The Vagrant matrix's summary rows (vagrant/summary.rb), so both matrices read alike: the
        // hosts here are network namespaces, a control plane and a worker.
        let (key, minor) = variant.key_and_minor();
        let mut nodes = Vec::new();
        let mut node = |name: &str, role: &str, result: Option<&Value>| {
            if let Some(r) = result {
                nodes.push(json!({"node": name, "role": role, "command": r["command"],
                    "outcome": r["outcome"], "totalMs": r["totalMs"], "phases": r["phases"]}));
            }
        };
        node("cp", "controlplane", outcome.init.as_ref());
        node("w", "worker", outcome.join.as_ref());
        for (name, reset) in &outcome.reset {
            let role = if name == "cp" {
                "controlplane"
            } else {
                "worker"
            };
            node(name, role, Some(reset));
        }
        let mut entry = json!({
            "entry": variant.entry,
            "box": if plane == Plane::Real { "netns-real" } else { "netns" },
            "topology": "single",
            "key": key,
            "minor": minor,
            "result": if passed { "pass" } else { "fail" },
            "initMs": ms(outcome.init.as_ref()),
            "joinMs": ms(outcome.join.as_ref()),
            "nodes": nodes,
        });
        if let Some(error) = error {
            entry["error"] = json!(error);
        }
        rows.push((
            variant.entry,
            passed,
            entry["initMs"].as_f64(),
            entry["joinMs"].as_f64(),
        ));
        summary.push(entry);
        eprintln!("{}: {:.1} s", variant.entry, began.elapsed().as_secs_f64());
    }
    // The table of vagrant/summary.rb: columns padded to their widest cell, two spaces apart.
    let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    let mut table = vec![[
        "ENTRY".to_string(),
        "RESULT".into(),
        "INIT_MS".into(),
        "JOIN_MS".into(),
    ]];
    for (entry, passed, init, join) in &rows {
        let result = if *passed { "pass" } else { "fail" };
        table.push([entry.to_string(), result.into(), cell(*init), cell(*join)]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|c| table.iter().map(|row| row[c].len()).max().unwrap_or(0))
        .collect();
    println!();
    for row in &table {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
    println!("all variants: {:.1} s", start.elapsed().as_secs_f64());
    let summary = Value::Array(summary);
    let mut path = std::env::var_os("KINIT_MATRIX_JSON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("matrix-local.json"));
    if plane == Plane::Real {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        path.set_file_name(format!("{stem}-real.json"));
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, serde_json::to_string_pretty(&summary).unwrap()).unwrap();
    println!("{}", serde_json::to_string(&summary).unwrap());
    println!("summary written to {}", path.display());
    let failed: Vec<&Value> = summary
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["result"] != "pass")
        .collect();
    assert!(
        failed.is_empty(),
        "failed: {}",
        failed
            .iter()
            .map(|e| format!("{}: {}", e["entry"], e["error"]))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
