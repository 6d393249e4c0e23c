//! The API phases of `kinit init` against the test API server: the objects of reference §7, what
//! the bootstrap identities may do with them, and re-runs that change nothing.

mod common;
use common::text;

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::apiserver::{Options, TestApiServer};

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
        let server = TestApiServer::start_on(
            listener,
            &root.path().join("etc/kubernetes/pki"),
            Options {
                node: Some(NODE.into()),
                ..Default::default()
            },
        );
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
    assert!(stored.contains("kubernetesVersion: v1.34.0\n"), "{stored}");
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
