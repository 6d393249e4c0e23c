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
