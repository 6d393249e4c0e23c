//! The API phases of `kinit init` against the test API server: the objects of reference §7, what
//! the bootstrap identities may do with them, and re-runs that change nothing.

mod common;
use common::text;

use kinit_test_support as support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::apiserver::{Fault, Options, TestApiServer};

const NODE: &str = "cp-1";
const TOKEN: &str = "abcdef.0123456789abcdef";

fn kinit_in(root: &Path, flags: &[String], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kinit"))
        .args(args)
        .args(flags)
        .arg("--rootfs")
        .arg(root)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A root with kinit's PKI and kubeconfigs for an API server on 127.0.0.1:<port>, and the test
/// API server serving there with that PKI.
struct Cluster {
    root: tempfile::TempDir,
    server: TestApiServer,
    flags: Vec<String>,
}

impl Cluster {
    fn start(extra: &[&str]) -> Cluster {
        Cluster::start_with(
            extra,
            Options {
                node: Some(NODE.into()),
                ..Default::default()
            },
        )
    }

    fn start_with(extra: &[&str], options: Options) -> Cluster {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        let root = tempfile::tempdir().unwrap();
        let mut flags: Vec<String> = [
            "--apiserver-advertise-address",
            "127.0.0.1",
            "--apiserver-bind-port",
            &port,
            "--node-name",
            NODE,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        flags.extend(extra.iter().map(|s| s.to_string()));
        let run = |args: &[&str]| {
            let out = kinit_in(root.path(), &flags, args);
            assert!(
                out.status.success(),
                "kinit {args:?}: {}",
                text(&out.stderr)
            );
        };
        run(&["init", "phase", "certs", "all"]);
        run(&["init", "phase", "kubeconfig", "all"]);
        let server =
            TestApiServer::start_on(listener, &root.path().join("etc/kubernetes/pki"), options);
        Cluster {
            root,
            server,
            flags,
        }
    }

    fn path(&self, host_path: &str) -> PathBuf {
        self.root.path().join(host_path.trim_start_matches('/'))
    }

    fn kinit(&self, args: &[&str]) -> Output {
        kinit_in(self.root.path(), &self.flags, args)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.kinit(args);
        assert!(
            out.status.success(),
            "kinit {args:?} failed:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn object(&self, kind: &str, namespace: &str, name: &str) -> Value {
        self.server
            .get(kind, namespace, name)
            .unwrap_or_else(|| panic!("{kind} {namespace}/{name} is missing"))
    }
}

#[test]
fn upload_config_stores_both_configurations_with_their_rbac() {
    let cluster = Cluster::start(&[]);
    let out = cluster.ok(&["init", "phase", "upload-config", "all"]);
    assert!(out.contains("[upload-config] Storing the configuration used in ConfigMap \"kubeadm-config\" in the \"kube-system\" Namespace"), "{out}");
    let kubeadm = cluster.object("ConfigMap", "kube-system", "kubeadm-config");
    let stored = kubeadm["data"]["ClusterConfiguration"].as_str().unwrap();
    assert!(stored.contains("kind: ClusterConfiguration\n"), "{stored}");
    assert!(
        stored.contains("apiVersion: kubeadm.k8s.io/v1beta4\n"),
        "{stored}"
    );
    assert!(stored.contains("kubernetesVersion: v1.34.4\n"), "{stored}");
    assert!(!stored.contains("bootstrapTokens"), "{stored}");
    let kubelet = cluster.object("ConfigMap", "kube-system", "kubelet-config");
    assert!(
        kubelet["metadata"]["annotations"]["kubeadm.kubernetes.io/component-config.hash"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let rb = cluster.object("RoleBinding", "kube-system", "kubeadm:nodes-kubeadm-config");
    assert_eq!(rb["roleRef"]["name"], "kubeadm:nodes-kubeadm-config");
    // admin.conf is bound to cluster-admin through the group its certificate carries.
    let admins = cluster.object("ClusterRoleBinding", "", "kubeadm:cluster-admins");
    assert_eq!(admins["roleRef"]["name"], "cluster-admin");
    assert_eq!(admins["subjects"][0]["name"], "kubeadm:cluster-admins");
}

#[test]
fn bootstrap_token_creates_the_token_rbac_and_cluster_info() {
    let cluster = Cluster::start(&["--token", TOKEN]);
    let out = cluster.ok(&["init", "phase", "bootstrap-token"]);
    assert!(
        out.contains(&format!("[bootstrap-token] Using token: {TOKEN}")),
        "{out}"
    );
    let secret = cluster.object("Secret", "kube-system", "bootstrap-token-abcdef");
    assert_eq!(secret["type"], "bootstrap.kubernetes.io/token");
    let info = cluster.object("ConfigMap", "kube-public", "cluster-info");
    // The test API server's bootstrap signer (written from the JWS spec) signed it for the token,
    // and kinit's own verifier, which join will use, accepts that signature.
    let kubeconfig = info["data"]["kubeconfig"].as_str().unwrap();
    let signature = info["data"]["jws-kubeconfig-abcdef"]
        .as_str()
        .expect("signed");
    assert!(kinit_phases::discovery::jws::verify(
        signature,
        "abcdef",
        "0123456789abcdef",
        kubeconfig
    ));
    assert!(!kinit_phases::discovery::jws::verify(
        signature,
        "abcdef",
        "0123456789abcdeg",
        kubeconfig
    ));
    assert!(info["data"]["kubeconfig"]
        .as_str()
        .unwrap()
        .contains("certificate-authority-data"));
}

const KEY: &str = "8d7c0a9f3b1e2d4c5a6b7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b";

/// Opens a `kubeadm-certs` value (nonce ‖ ciphertext ‖ tag) with RustCrypto's AES-GCM, not the
/// OpenSSL kinit seals with.
fn open_sealed(key_hex: &str, sealed: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::{Aead, KeyInit};
    let key: Vec<u8> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&key_hex[i..i + 2], 16).unwrap())
        .collect();
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(&key).unwrap();
    let (nonce, sealed) = sealed.split_at(12);
    cipher
        .decrypt(aes_gcm::Nonce::from_slice(nonce), sealed)
        .expect("the value opens with the certificate key")
}

fn base64_decode(text: &str) -> Vec<u8> {
    openssl::base64::decode_block(text).unwrap()
}

/// Every stored object with its resourceVersion, to tell whether a run changed anything.
fn versions(server: &TestApiServer) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = server
        .objects()
        .iter()
        .map(|o| {
            (
                format!(
                    "{} {}/{}",
                    o["kind"].as_str().unwrap_or_default(),
                    o["metadata"]["namespace"].as_str().unwrap_or_default(),
                    o["metadata"]["name"].as_str().unwrap_or_default()
                ),
                o["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    all.sort();
    all
}

#[test]
fn uploaded_certificates_open_with_the_key_and_expire_with_their_token() {
    let cluster = Cluster::start(&["--upload-certs", "--certificate-key", KEY]);
    let out = cluster.ok(&["init", "phase", "upload-certs"]);
    assert!(out.contains("[upload-certs] Storing the certificates in Secret \"kubeadm-certs\" in the \"kube-system\" Namespace"), "{out}");
    assert!(
        out.contains(&format!("[upload-certs] Using certificate key:\n{KEY}\n")),
        "{out}"
    );
    let secret = cluster.object("Secret", "kube-system", "kubeadm-certs");
    let data = secret["data"].as_object().unwrap();
    let expected = [
        ("ca.crt", "ca.crt"),
        ("ca.key", "ca.key"),
        ("front-proxy-ca.crt", "front-proxy-ca.crt"),
        ("front-proxy-ca.key", "front-proxy-ca.key"),
        ("sa.pub", "sa.pub"),
        ("sa.key", "sa.key"),
        ("etcd-ca.crt", "etcd/ca.crt"),
        ("etcd-ca.key", "etcd/ca.key"),
    ];
    assert_eq!(data.len(), expected.len(), "{data:?}");
    for (key, file) in expected {
        let sealed = base64_decode(data[key].as_str().unwrap());
        let on_disk = std::fs::read(cluster.path(&format!("/etc/kubernetes/pki/{file}"))).unwrap();
        assert_eq!(open_sealed(KEY, &sealed), on_disk, "{key}");
    }
    // Owned by a token Secret that lives two hours, so the garbage collector takes both.
    let owner = &secret["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "Secret");
    assert_eq!(owner["controller"], true);
    assert_eq!(owner["blockOwnerDeletion"], true);
    let token = cluster.object("Secret", "kube-system", owner["name"].as_str().unwrap());
    assert_eq!(token["metadata"]["uid"], owner["uid"]);
    assert_eq!(token["type"], "bootstrap.kubernetes.io/token");
    let token_data = token["data"].as_object().unwrap();
    assert_eq!(
        text(&base64_decode(token_data["description"].as_str().unwrap())),
        "Proxy for managing TTL for the kubeadm-certs secret"
    );
    assert!(!token_data
        .keys()
        .any(|k| k.starts_with("usage-bootstrap-") || k == "auth-extra-groups"));
    let role = cluster.object("Role", "kube-system", "kubeadm:kubeadm-certs");
    assert_eq!(role["rules"][0]["resourceNames"][0], "kubeadm-certs");
    assert_eq!(role["rules"][0]["resources"][0], "secrets");
    let binding = cluster.object("RoleBinding", "kube-system", "kubeadm:kubeadm-certs");
    assert_eq!(
        binding["subjects"][0]["name"],
        "system:bootstrappers:kubeadm:default-node-token"
    );

    let before = versions(&cluster.server);
    cluster.ok(&["init", "phase", "upload-certs"]);
    assert_eq!(
        versions(&cluster.server),
        before,
        "a re-run changed objects"
    );

    // Without the flag the phase only says how to use it.
    let skipped = Cluster::start(&[]);
    let out = skipped.ok(&["init", "phase", "upload-certs"]);
    assert!(
        out.contains("[upload-certs] Skipping phase. Please see --upload-certs"),
        "{out}"
    );
    assert!(skipped
        .server
        .get("Secret", "kube-system", "kubeadm-certs")
        .is_none());
}

#[test]
fn mark_control_plane_labels_and_taints_the_node_and_keeps_its_taints() {
    let cluster = Cluster::start(&[]);
    let out = cluster.ok(&["init", "phase", "mark-control-plane"]);
    assert!(out.contains("[mark-control-plane] Marking the node cp-1 as control-plane by adding the labels: [node-role.kubernetes.io/control-plane node.kubernetes.io/exclude-from-external-load-balancers]\n"), "{out}");
    assert!(out.contains("[mark-control-plane] Marking the node cp-1 as control-plane by adding the taints [node-role.kubernetes.io/control-plane:NoSchedule]\n"), "{out}");
    let node = cluster.object("Node", "", NODE);
    let labels = &node["metadata"]["labels"];
    assert_eq!(labels["node-role.kubernetes.io/control-plane"], "");
    assert_eq!(
        labels["node.kubernetes.io/exclude-from-external-load-balancers"],
        ""
    );
    let taints: Vec<String> = node["spec"]["taints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}:{}",
                t["key"].as_str().unwrap(),
                t["effect"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        taints,
        [
            "node-role.kubernetes.io/control-plane:NoSchedule",
            "node.kubernetes.io/not-ready:NoSchedule"
        ]
    );
    let before = versions(&cluster.server);
    cluster.ok(&["init", "phase", "mark-control-plane"]);
    assert_eq!(
        versions(&cluster.server),
        before,
        "a re-run changed objects"
    );
}

// ---------------------------------------------------------------------------------------------
// A whole `kinit init`

/// Reference §7, init order: every object the API phases leave, with the key fields that must hold.
/// (kind, namespace, name, [(JSON pointer, expected value)]).
type Expectation = (
    &'static str,
    &'static str,
    &'static str,
    Vec<(&'static str, Value)>,
);

fn expected_objects() -> Vec<Expectation> {
    use serde_json::json;
    let bg = || json!("system:bootstrappers:kubeadm:default-node-token");
    vec![
        (
            "ClusterRoleBinding",
            "",
            "kubeadm:cluster-admins",
            vec![
                ("/roleRef/name", json!("cluster-admin")),
                ("/subjects/0/kind", json!("Group")),
                ("/subjects/0/name", json!("kubeadm:cluster-admins")),
            ],
        ),
        ("ConfigMap", "kube-system", "kubeadm-config", vec![]),
        (
            "Role",
            "kube-system",
            "kubeadm:nodes-kubeadm-config",
            vec![
                ("/rules/0/verbs", json!(["get"])),
                ("/rules/0/resources", json!(["configmaps"])),
                ("/rules/0/resourceNames", json!(["kubeadm-config"])),
            ],
        ),
        (
            "RoleBinding",
            "kube-system",
            "kubeadm:nodes-kubeadm-config",
            vec![
                ("/roleRef/kind", json!("Role")),
                ("/roleRef/name", json!("kubeadm:nodes-kubeadm-config")),
                ("/subjects/0/name", bg()),
                ("/subjects/1/name", json!("system:nodes")),
            ],
        ),
        ("ConfigMap", "kube-system", "kubelet-config", vec![]),
        (
            "Role",
            "kube-system",
            "kubeadm:kubelet-config",
            vec![
                ("/rules/0/verbs", json!(["get"])),
                ("/rules/0/resourceNames", json!(["kubelet-config"])),
            ],
        ),
        (
            "RoleBinding",
            "kube-system",
            "kubeadm:kubelet-config",
            vec![
                ("/roleRef/name", json!("kubeadm:kubelet-config")),
                ("/subjects/0/name", json!("system:nodes")),
                ("/subjects/1/name", bg()),
            ],
        ),
        (
            "Secret",
            "kube-system",
            "bootstrap-token-abcdef",
            vec![("/type", json!("bootstrap.kubernetes.io/token"))],
        ),
        (
            "ClusterRole",
            "",
            "kubeadm:get-nodes",
            vec![
                ("/rules/0/verbs", json!(["get"])),
                ("/rules/0/resources", json!(["nodes"])),
            ],
        ),
        (
            "ClusterRoleBinding",
            "",
            "kubeadm:get-nodes",
            vec![
                ("/roleRef/name", json!("kubeadm:get-nodes")),
                ("/subjects/0/name", bg()),
            ],
        ),
        (
            "ClusterRoleBinding",
            "",
            "kubeadm:kubelet-bootstrap",
            vec![
                ("/roleRef/name", json!("system:node-bootstrapper")),
                ("/subjects/0/name", bg()),
            ],
        ),
        (
            "ClusterRoleBinding",
            "",
            "kubeadm:node-autoapprove-bootstrap",
            vec![
                (
                    "/roleRef/name",
                    json!("system:certificates.k8s.io:certificatesigningrequests:nodeclient"),
                ),
                ("/subjects/0/name", bg()),
            ],
        ),
        (
            "ClusterRoleBinding",
            "",
            "kubeadm:node-autoapprove-certificate-rotation",
            vec![
                (
                    "/roleRef/name",
                    json!("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"),
                ),
                ("/subjects/0/kind", json!("Group")),
                ("/subjects/0/name", json!("system:nodes")),
            ],
        ),
        ("ConfigMap", "kube-public", "cluster-info", vec![]),
        (
            "Role",
            "kube-public",
            "kubeadm:bootstrap-signer-clusterinfo",
            vec![
                ("/rules/0/verbs", json!(["get"])),
                ("/rules/0/resourceNames", json!(["cluster-info"])),
            ],
        ),
        (
            "RoleBinding",
            "kube-public",
            "kubeadm:bootstrap-signer-clusterinfo",
            vec![
                ("/subjects/0/kind", json!("User")),
                ("/subjects/0/name", json!("system:anonymous")),
            ],
        ),
        ("ServiceAccount", "kube-system", "coredns", vec![]),
        (
            "ClusterRole",
            "",
            "system:coredns",
            vec![
                (
                    "/rules/0/resources",
                    json!(["endpoints", "services", "pods", "namespaces"]),
                ),
                ("/rules/0/verbs", json!(["list", "watch"])),
                ("/rules/1/apiGroups", json!(["discovery.k8s.io"])),
                ("/rules/1/resources", json!(["endpointslices"])),
            ],
        ),
        (
            "ClusterRoleBinding",
            "",
            "system:coredns",
            vec![
                ("/roleRef/name", json!("system:coredns")),
                ("/subjects/0/kind", json!("ServiceAccount")),
                ("/subjects/0/name", json!("coredns")),
                ("/subjects/0/namespace", json!("kube-system")),
            ],
        ),
        ("ConfigMap", "kube-system", "coredns", vec![]),
        (
            "Deployment",
            "kube-system",
            "coredns",
            vec![
                ("/metadata/labels/k8s-app", json!("kube-dns")),
                ("/spec/replicas", json!(2)),
                ("/spec/strategy/rollingUpdate/maxUnavailable", json!(1)),
                (
                    "/spec/template/spec/priorityClassName",
                    json!("system-cluster-critical"),
                ),
                ("/spec/template/spec/serviceAccountName", json!("coredns")),
                ("/spec/template/spec/dnsPolicy", json!("Default")),
                (
                    "/spec/template/spec/containers/0/image",
                    json!("registry.k8s.io/coredns/coredns:v1.12.1"),
                ),
                (
                    "/spec/template/spec/containers/0/args",
                    json!(["-conf", "/etc/coredns/Corefile"]),
                ),
                (
                    "/spec/template/spec/containers/0/resources/limits/memory",
                    json!("170Mi"),
                ),
                (
                    "/spec/template/spec/containers/0/resources/requests/cpu",
                    json!("100m"),
                ),
            ],
        ),
        (
            "Service",
            "kube-system",
            "kube-dns",
            vec![
                ("/spec/clusterIP", json!("10.96.0.10")),
                ("/metadata/labels/kubernetes.io~1name", json!("CoreDNS")),
                ("/metadata/annotations/prometheus.io~1port", json!("9153")),
                ("/spec/selector/k8s-app", json!("kube-dns")),
            ],
        ),
        (
            "ConfigMap",
            "kube-system",
            "kube-proxy",
            vec![("/metadata/labels/app", json!("kube-proxy"))],
        ),
        (
            "DaemonSet",
            "kube-system",
            "kube-proxy",
            vec![
                (
                    "/spec/template/spec/priorityClassName",
                    json!("system-node-critical"),
                ),
                ("/spec/template/spec/hostNetwork", json!(true)),
                (
                    "/spec/template/spec/serviceAccountName",
                    json!("kube-proxy"),
                ),
                (
                    "/spec/template/spec/containers/0/image",
                    json!("registry.k8s.io/kube-proxy:v1.34.0"),
                ),
                (
                    "/spec/template/spec/containers/0/securityContext/privileged",
                    json!(true),
                ),
            ],
        ),
        ("ServiceAccount", "kube-system", "kube-proxy", vec![]),
        (
            "ClusterRoleBinding",
            "",
            "kubeadm:node-proxier",
            vec![
                ("/roleRef/name", json!("system:node-proxier")),
                ("/subjects/0/kind", json!("ServiceAccount")),
                ("/subjects/0/name", json!("kube-proxy")),
            ],
        ),
        (
            "Role",
            "kube-system",
            "kube-proxy",
            vec![("/rules/0/resourceNames", json!(["kube-proxy"]))],
        ),
        (
            "RoleBinding",
            "kube-system",
            "kube-proxy",
            vec![("/subjects/0/name", bg())],
        ),
    ]
}

/// A configuration for `kinit init` against the test API server on `port`, with the other
/// components' health ports pointed at stand-ins.
fn full_init_config(
    port: u16,
    kubelet: u16,
    controller_manager: u16,
    scheduler: u16,
    init_extra: &str,
) -> String {
    format!(
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
{init_extra}bootstrapTokens:
- token: {TOKEN}
localAPIEndpoint:
  advertiseAddress: 127.0.0.1
  bindPort: {port}
nodeRegistration:
  name: {NODE}
timeouts:
  kubeletHealthCheck: 20s
  controlPlaneComponentHealthCheck: 20s
  kubernetesAPICall: 4s
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.34.0
controllerManager:
  extraArgs:
  - name: secure-port
    value: \"{controller_manager}\"
scheduler:
  extraArgs:
  - name: secure-port
    value: \"{scheduler}\"
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
healthzPort: {kubelet}
"
    )
}

struct FullInit {
    root: tempfile::TempDir,
    server: TestApiServer,
    config: String,
}

impl FullInit {
    /// The PKI first (the test API server serves its certificate), then the stand-ins.
    /// `init_extra`: more InitConfiguration fields, each line ending in a newline.
    fn start(init_extra: &str) -> FullInit {
        use support::standin::{listen, serve_http, serve_tls, OK};
        let root = tempfile::tempdir().unwrap();
        let api = TcpListener::bind("127.0.0.1:0").unwrap();
        let (kubelet, kubelet_port) = listen("127.0.0.1");
        let (kcm, kcm_port) = listen("127.0.0.1");
        let (scheduler, scheduler_port) = listen("127.0.0.1");
        let config = root.path().join("kinit.yaml");
        std::fs::write(
            &config,
            full_init_config(
                api.local_addr().unwrap().port(),
                kubelet_port,
                kcm_port,
                scheduler_port,
                init_extra,
            ),
        )
        .unwrap();
        let config = config.to_str().unwrap().to_string();
        let out = kinit_in(
            root.path(),
            &["--config".into(), config.clone()],
            &["init", "phase", "certs", "all"],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let pki = root.path().join("etc/kubernetes/pki");
        serve_http(kubelet, OK);
        let any = (
            pki.join("front-proxy-client.crt"),
            pki.join("front-proxy-client.key"),
        );
        serve_tls(kcm, any.0.clone(), any.1.clone(), OK);
        serve_tls(scheduler, any.0, any.1, OK);
        let server = TestApiServer::start_on(
            api,
            &pki,
            Options {
                node: Some(NODE.into()),
                ..Default::default()
            },
        );
        FullInit {
            root,
            server,
            config,
        }
    }

    fn init(&self, extra: &[&str]) -> Output {
        let mut flags = vec!["--config".to_string(), self.config.clone()];
        flags.extend(["--ignore-preflight-errors", "all"].map(String::from));
        flags.extend(extra.iter().map(|s| s.to_string()));
        kinit_in(self.root.path(), &flags, &["init"])
    }
}

#[test]
fn a_whole_init_leaves_the_objects_of_the_reference_and_a_second_changes_none() {
    let cluster = FullInit::start("");
    let seeded = versions(&cluster.server);
    let out = cluster.init(&[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    // Exactly the reference's objects are new; the Node the kubelet registered is only changed.
    let mut created: Vec<String> = versions(&cluster.server)
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| !seeded.iter().any(|(s, _)| s == name))
        .collect();
    let mut expected: Vec<String> = expected_objects()
        .iter()
        .map(|(kind, ns, name, _)| format!("{kind} {ns}/{name}"))
        .collect();
    created.sort();
    expected.sort();
    assert_eq!(created, expected);
    for (kind, namespace, name, fields) in expected_objects() {
        let object = cluster
            .server
            .get(kind, namespace, name)
            .unwrap_or_else(|| {
                panic!("{kind} {namespace}/{name} is missing after init:\n{stdout}")
            });
        for (pointer, expected) in fields {
            assert_eq!(
                object.pointer(pointer),
                Some(&expected),
                "{kind} {namespace}/{name} {pointer}"
            );
        }
    }
    // A KubeletConfiguration in the file is the user's: kubeadm leaves it unsigned.
    let kubelet = cluster
        .server
        .get("ConfigMap", "kube-system", "kubelet-config")
        .unwrap();
    assert!(
        kubelet["metadata"].get("annotations").is_none(),
        "{kubelet}"
    );
    assert!(kubelet["data"]["kubelet"]
        .as_str()
        .unwrap()
        .contains("healthzPort:"));
    let node = cluster.server.get("Node", "", NODE).unwrap();
    assert_eq!(
        node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
        ""
    );
    // The closing text carries the token and the CA pin of ca.crt.
    let pin = {
        let ca = openssl::x509::X509::from_pem(
            &std::fs::read(cluster.root.path().join("etc/kubernetes/pki/ca.crt")).unwrap(),
        )
        .unwrap();
        let spki = ca.public_key().unwrap().public_key_to_der().unwrap();
        let digest = openssl::sha::sha256(&spki);
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert!(
        stdout.contains(&format!(
            "--token {TOKEN} \\\n\t--discovery-token-ca-cert-hash sha256:{pin} "
        )),
        "{stdout}"
    );

    let before = versions(&cluster.server);
    let again = cluster.init(&[]);
    assert!(
        again.status.success(),
        "{}{}",
        text(&again.stdout),
        text(&again.stderr)
    );
    assert_eq!(
        versions(&cluster.server),
        before,
        "the second init changed objects"
    );
}

// ---------------------------------------------------------------------------------------------
// What the identities of discovery and TLS bootstrap may do

/// kubectl (the real one) against the cluster with a bearer token.
fn kubectl_as(cluster: &Cluster, token: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let scratch = tempfile::tempdir().unwrap();
    let empty = scratch.path().join("empty.conf");
    std::fs::write(&empty, "apiVersion: v1\nkind: Config\n").unwrap();
    let mut command = Command::new(common::venv_tool("kubectl"));
    command
        .arg("--kubeconfig")
        .arg(&empty)
        .arg("--server")
        .arg(cluster.server.url())
        .arg("--certificate-authority")
        .arg(cluster.path("/etc/kubernetes/pki/ca.crt"))
        .arg("--cache-dir")
        .arg(scratch.path().join("cache"))
        .arg("--request-timeout=20s");
    command
        .arg("--token")
        .arg(token)
        .args(args)
        .env("HOME", scratch.path())
        .env_remove("KUBECONFIG");
    common::output_with_input(&mut command, stdin.map(str::as_bytes))
}

fn allowed(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} was refused: {}",
        text(&out.stderr)
    );
}

fn forbidden(out: &Output, what: &str) {
    assert!(
        !out.status.success(),
        "{what} was allowed: {}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("Forbidden") || text(&out.stderr).contains("forbidden"),
        "{what}: {}",
        text(&out.stderr)
    );
}

fn csr_object() -> String {
    use openssl::{ec, nid::Nid, pkey::PKey, x509};
    let group = ec::EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(ec::EcKey::generate(&group).unwrap()).unwrap();
    let mut name = x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("O", "system:nodes").unwrap();
    name.append_entry_by_text("CN", "system:node:cp-2").unwrap();
    let mut request = x509::X509ReqBuilder::new().unwrap();
    request.set_subject_name(&name.build()).unwrap();
    request.set_pubkey(&key).unwrap();
    request
        .sign(&key, openssl::hash::MessageDigest::sha256())
        .unwrap();
    let pem = request.build().to_pem().unwrap();
    serde_json::json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"generateName": "csr-"},
        "spec": {"request": openssl::base64::encode_block(&pem),
                 "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                 "usages": ["digital signature", "client auth"]}})
    .to_string()
}

#[test]
fn anonymous_reads_cluster_info_only_and_the_token_only_what_join_needs() {
    let cluster = Cluster::start(&["--token", TOKEN]);
    cluster.ok(&["init", "phase", "upload-config", "all"]);
    cluster.ok(&["init", "phase", "bootstrap-token"]);
    // kubectl asks for a password when it has no credentials, so the anonymous reads are raw requests.
    let ca = cluster.path("/etc/kubernetes/pki/ca.crt");
    let anonymous = |path: &str| {
        support::https::request(cluster.server.addr(), &ca, None, "GET", path, &[], "").0
    };
    assert_eq!(
        anonymous("/api/v1/namespaces/kube-public/configmaps/cluster-info"),
        200
    );
    for path in [
        "/api/v1/namespaces/kube-system/configmaps/kubeadm-config",
        "/api/v1/namespaces/kube-public/configmaps",
        "/api/v1/nodes/cp-1",
        "/api/v1/namespaces/kube-system/secrets",
    ] {
        assert_eq!(anonymous(path), 403, "anonymous GET {path}");
    }

    let token = |args: &[&str], stdin: Option<&str>| kubectl_as(&cluster, TOKEN, args, stdin);
    for args in [
        &["get", "configmap", "kubeadm-config", "-n", "kube-system"][..],
        &["get", "configmap", "kubelet-config", "-n", "kube-system"],
        &["get", "node", NODE],
    ] {
        allowed(&token(args, None), &format!("the bootstrap token {args:?}"));
    }
    allowed(
        &token(
            &["create", "--validate=false", "-f", "-"],
            Some(&csr_object()),
        ),
        "the bootstrap token posting a CSR",
    );
    for args in [
        &["get", "configmaps", "-n", "kube-system"][..],
        &["get", "nodes"],
        &[
            "get",
            "secret",
            "bootstrap-token-abcdef",
            "-n",
            "kube-system",
        ],
        &["delete", "node", NODE],
        &["get", "clusterrolebindings"],
        // Join reads cluster-info before it has credentials; the binding names the anonymous user.
        &["get", "configmap", "cluster-info", "-n", "kube-public"],
    ] {
        forbidden(&token(args, None), &format!("the bootstrap token {args:?}"));
    }
}

#[test]
fn the_token_secret_and_certificate_key_stay_out_of_the_most_verbose_output() {
    let cluster = FullInit::start(&format!("certificateKey: {KEY}\n"));
    let secrets = [
        "0123456789abcdef".to_string(),
        openssl::base64::encode_block(b"0123456789abcdef"),
        KEY.to_string(),
    ];
    let check = |out: &Output, what: &str| {
        let everything = format!("{}{}", text(&out.stdout), text(&out.stderr));
        for secret in &secrets {
            assert!(
                !everything.contains(secret.as_str()),
                "{what} printed {secret}:\n{everything}"
            );
        }
    };
    let flags = [
        "--upload-certs",
        "--skip-token-print",
        "--skip-certificate-key-print",
        "-v",
        "-v",
        "-v",
    ];
    let dry = cluster.init(&[&flags[..], &["--dry-run"]].concat());
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    check(&dry, "a dry run");
    let real = cluster.init(&flags);
    assert!(
        real.status.success(),
        "{}{}",
        text(&real.stdout),
        text(&real.stderr)
    );
    assert!(
        text(&real.stderr).contains("TRACE") || text(&real.stderr).contains("DEBUG"),
        "not verbose"
    );
    check(&real, "init");
    // Both were used all the same.
    assert!(cluster
        .server
        .get("Secret", "kube-system", "kubeadm-certs")
        .is_some());
    assert!(cluster
        .server
        .get("Secret", "kube-system", "bootstrap-token-abcdef")
        .is_some());
    // An API error names the object and the API's reason, and still no secret.
    let refused = cluster.init(&[
        "--skip-phases",
        "preflight,wait-control-plane",
        "-v",
        "-v",
        "-v",
        "--skip-token-print",
    ]);
    check(&refused, "a second init");
}

// ---------------------------------------------------------------------------------------------
// Failures: retried when they pass, reported at once when they will not

#[test]
fn busy_answers_and_dropped_connections_are_retried() {
    let cluster = Cluster::start(&[]);
    for code in [503, 429, 0, 500] {
        cluster.server.inject(Fault {
            method: Some("PATCH".into()),
            path_contains: Some("configmaps/kubeadm-config".into()),
            code,
            times: 1,
        });
    }
    cluster.ok(&["init", "phase", "upload-config", "kubeadm"]);
    let tries = cluster
        .server
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.uri.contains("configmaps/kubeadm-config"))
        .count();
    assert_eq!(tries, 5, "four failures, then the write that landed");
    cluster.object("ConfigMap", "kube-system", "kubeadm-config");
}

#[test]
fn a_refusal_names_the_verb_the_object_and_the_api_message_at_once() {
    let cluster = Cluster::start(&[]);
    // A user the cluster knows but grants nothing.
    let config = cluster.path("/user.yaml");
    std::fs::write(
        &config,
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 127.0.0.1\n  bindPort: {}\n",
            cluster.server.addr().port()
        ),
    )
    .unwrap();
    let flags = ["--config".to_string(), config.to_str().unwrap().to_string()];
    let out = kinit_in(
        cluster.root.path(),
        &flags,
        &["kubeconfig", "user", "--client-name", "nobody"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let nobody = cluster.path("/nobody.conf");
    std::fs::write(&nobody, &out.stdout).unwrap();
    // --kubeconfig is a host path, resolved under --rootfs.
    let out = cluster.kinit(&[
        "init",
        "phase",
        "upload-config",
        "kubeadm",
        "--kubeconfig",
        "/nobody.conf",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("could not apply ConfigMap kube-system/kubeadm-config: configmaps \"kubeadm-config\" is forbidden: User \"nobody\" cannot patch resource \"configmaps\" in API group \"\" in the namespace \"kube-system\" (403 Forbidden)"),
        "{stderr}"
    );
    let tries = cluster
        .server
        .requests()
        .iter()
        .filter(|r| r.user == "nobody" && r.uri.contains("configmaps/kubeadm-config"))
        .count();
    assert_eq!(tries, 1, "a refusal is not retried");
}

#[test]
fn an_api_server_that_does_not_answer_fails_within_the_api_call_timeout() {
    let cluster = FullInit::start("");
    let FullInit {
        root,
        server,
        config,
    } = cluster;
    drop(server);
    let flags = ["--config".to_string(), config];
    let out = kinit_in(root.path(), &flags, &["init", "phase", "kubeconfig", "all"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let started = std::time::Instant::now();
    let out = kinit_in(
        root.path(),
        &flags,
        &["init", "phase", "upload-config", "all"],
    );
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the API server did not answer"),
        "{}",
        text(&out.stderr)
    );
    // kubernetesAPICall is 4s in the configuration; retries stop there.
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
}

#[test]
fn before_1_34_the_cri_socket_is_recorded_on_the_node() {
    let socket = "unix:///run/containerd/containerd.sock";
    let cluster = Cluster::start(&["--kubernetes-version", "v1.33.0", "--cri-socket", socket]);
    cluster.ok(&["init", "phase", "upload-config", "kubelet"]);
    let node = cluster.object("Node", "", NODE);
    assert_eq!(
        node["metadata"]["annotations"]["kubeadm.alpha.kubernetes.io/cri-socket"],
        socket
    );
    let before = versions(&cluster.server);
    cluster.ok(&["init", "phase", "upload-config", "kubelet"]);
    assert_eq!(
        versions(&cluster.server),
        before,
        "a re-run changed objects"
    );
}

#[test]
fn the_coredns_addon_keeps_the_replicas_of_a_running_coredns_with_and_without_patches() {
    let cluster = Cluster::start(&[]);
    cluster.ok(&["init", "phase", "addon", "coredns"]);
    assert_eq!(
        cluster.object("Deployment", "kube-system", "coredns")["spec"]["replicas"],
        serde_json::json!(2),
        "kubeadm's default"
    );
    // Scaled by its user (or an autoscaler) since.
    let mut scaled = cluster.object("Deployment", "kube-system", "coredns");
    scaled["spec"]["replicas"] = serde_json::json!(3);
    cluster.server.put(scaled);
    // Started ahead when the session opens, and read in the phase with --patches (whose lines
    // print in the phase): both read the running Deployment first.
    std::fs::create_dir_all(cluster.path("/patches")).unwrap();
    for extra in [vec![], vec!["--patches", "/patches"]] {
        let mut args = vec!["init", "phase", "addon", "coredns"];
        args.extend(extra.iter().copied());
        cluster.ok(&args);
        let deployment = cluster.object("Deployment", "kube-system", "coredns");
        assert_eq!(
            deployment["spec"]["replicas"],
            serde_json::json!(3),
            "{args:?}"
        );
    }
}

#[test]
fn admin_conf_waits_for_its_new_binding_to_reach_the_authorizer() {
    // As the real API server: the binding super-admin.conf creates for admin.conf's group takes a
    // moment to reach the authorizer, which refuses admin.conf until then.
    let cluster = Cluster::start_with(
        &[],
        Options {
            node: Some(NODE.into()),
            authorizer_lag: std::time::Duration::from_millis(400),
            ..Default::default()
        },
    );
    cluster.ok(&["init", "phase", "upload-config", "all"]);
    cluster.object("ClusterRoleBinding", "", "kubeadm:cluster-admins");
    cluster.object("ConfigMap", "kube-system", "kubeadm-config");
    cluster.object("ConfigMap", "kube-system", "kubelet-config");
    // admin.conf was refused after its binding was stored, and let through by it later: its
    // calls tried the refusal again while the authorizer caught up.
    let requests = cluster.server.requests();
    let admin = |code: u16| {
        requests
            .iter()
            .filter(|r| {
                r.user == "kubernetes-admin" && r.uri.contains("kubeadm-config") && r.code == code
            })
            .count()
    };
    assert!(admin(403) > 0, "{requests:?}");
    assert!(admin(200) + admin(201) > 0, "{requests:?}");
}
