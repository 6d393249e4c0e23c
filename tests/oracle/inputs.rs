//! The inputs both tools get: every valid init/cluster file of ../shared/compat/kubeadm-configs (its
//! header comments stripped, as kubeadm's splitter would take them for a document, and its
//! kubernetesVersion set to the built kubeadm's, so that one kubeadm serves all) and generated variants;
//! and the network namespace both run in.

use crate::support::hosts::Namespace;
use std::path::{Path, PathBuf};

pub const ADDRESS: &str = "198.51.100.10";

pub struct Input {
    pub name: String,
    pub yaml: String,
    pub cert_dir: String,
    /// Files to place under both roots before the phases run (patches, external etcd's files).
    pub files: Vec<(String, String)>,
}

/// Drops the leading `#` lines the corpus added, and sets every kubernetesVersion to `version`.
fn harmonized(original: &str, version: &str) -> String {
    let mut out = String::new();
    let mut header = true;
    let mut seen_version = false;
    for line in original.split_inclusive('\n') {
        if header && line.starts_with('#') {
            continue;
        }
        header = false;
        let trimmed = line.trim_start();
        if trimmed.starts_with("kubernetesVersion:") {
            let indent = &line[..line.len() - trimmed.len()];
            let ending = if line.ends_with("\r\n") { "\r\n" } else { "\n" };
            out.push_str(&format!("{indent}kubernetesVersion: {version}{ending}"));
            seen_version = true;
        } else {
            out.push_str(line);
        }
    }
    assert!(seen_version, "the input names no kubernetesVersion");
    out
}

pub fn compat_inputs(version: &str) -> Vec<Input> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/compat/kubeadm-configs");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    let mut inputs = Vec::new();
    for path in paths {
        let original = std::fs::read_to_string(&path).unwrap();
        let valid = original.lines().any(|l| l.trim() == "# expect: valid");
        let joins = original.contains("kind: JoinConfiguration");
        if !valid || joins {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        inputs.push(Input {
            name: format!("compat/{}", &name[..2]),
            yaml: harmonized(&original, version),
            cert_dir: cert_dir_of(&original),
            files: Vec::new(),
        });
    }
    assert!(inputs.len() >= 8, "the corpus lost its valid init files");
    inputs
}

fn cert_dir_of(yaml: &str) -> String {
    yaml.lines()
        .find_map(|l| l.trim().strip_prefix("certificatesDir:"))
        .map(|v| v.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| "/etc/kubernetes/pki".to_string())
}

/// A v1beta4 init file: node `oracle-cp` at `advertise`, then `cluster` lines in ClusterConfiguration.
fn generated(name: &str, version: &str, advertise: &str, cluster: &str) -> Input {
    let yaml = format!(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  \
         advertiseAddress: \"{advertise}\"\nnodeRegistration:\n  name: oracle-cp\n  criSocket: \
         unix:///run/containerd/containerd.sock\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: \
         ClusterConfiguration\nkubernetesVersion: {version}\n{cluster}"
    );
    Input {
        name: name.to_string(),
        cert_dir: cert_dir_of(&yaml),
        yaml,
        files: Vec::new(),
    }
}

pub fn generated_inputs(version: &str) -> Vec<Input> {
    let mut inputs = vec![
        generated("rsa-2048", version, ADDRESS, "encryptionAlgorithm: RSA-2048\n"),
        generated("ecdsa-p256", version, ADDRESS, "encryptionAlgorithm: ECDSA-P256\n"),
        generated(
            "ecdsa-p384-validity",
            version,
            ADDRESS,
            "encryptionAlgorithm: ECDSA-P384\ncertificateValidityPeriod: 2400h0m0s\n\
             caCertificateValidityPeriod: 43800h0m0s\n",
        ),
        generated(
            "ipv6",
            version,
            "fd00::10",
            "encryptionAlgorithm: ECDSA-P256\nnetworking:\n  podSubnet: fd00:10:244::/56\n  \
             serviceSubnet: fd00:10:96::/112\n",
        ),
        generated(
            "dual-stack",
            version,
            ADDRESS,
            "encryptionAlgorithm: ECDSA-P256\nnetworking:\n  podSubnet: 10.244.0.0/16,fd00:10:244::/56\n  \
             serviceSubnet: 10.96.0.0/16,fd00:10:96::/112\n",
        ),
        generated(
            "endpoint-sans-cert-dir",
            version,
            ADDRESS,
            "encryptionAlgorithm: ECDSA-P256\ncertificatesDir: /srv/kube-pki\nclusterName: oracle\n\
             controlPlaneEndpoint: lb.oracle.test:7443\napiServer:\n  certSANs: [api.oracle.test, \
             198.51.100.99]\netcd:\n  local:\n    dataDir: /srv/etcd\n    serverCertSANs: \
             [etcd.oracle.test]\n    peerCertSANs: [198.51.100.21]\nnetworking:\n  dnsDomain: \
             oracle.test\n  serviceSubnet: 10.112.0.0/16\n  podSubnet: 10.32.0.0/12\n",
        ),
        generated(
            "extra-args-volumes",
            version,
            ADDRESS,
            "encryptionAlgorithm: ECDSA-P256\napiServer:\n  extraArgs:\n  - name: audit-log-path\n    \
             value: /var/log/kubernetes/audit.log\n  - name: authorization-mode\n    value: Node,RBAC\n  \
             - name: profiling\n    value: \"false\"\n  extraVolumes:\n  - name: audit\n    hostPath: \
             /var/log/kubernetes\n    mountPath: /var/log/kubernetes\n    pathType: DirectoryOrCreate\n  \
             extraEnvs:\n  - name: GODEBUG\n    value: http2debug=1\ncontrollerManager:\n  extraArgs:\n  \
             - name: node-cidr-mask-size\n    value: \"25\"\n  - name: bind-address\n    value: 0.0.0.0\n  \
             extraVolumes:\n  - name: flexvolume\n    hostPath: /opt/flex\n    mountPath: /opt/flex\n    \
             readOnly: true\nscheduler:\n  extraArgs:\n  - name: v\n    value: \"4\"\netcd:\n  local:\n    \
             extraArgs:\n    - name: quota-backend-bytes\n      value: \"8589934592\"\n    - name: \
             listen-metrics-urls\n      value: http://0.0.0.0:2381\nnetworking:\n  podSubnet: \
             10.244.0.0/16\n",
        ),
        generated(
            "external-etcd",
            version,
            ADDRESS,
            "encryptionAlgorithm: ECDSA-P256\netcd:\n  external:\n    endpoints:\n    - \
             https://198.51.100.30:2379\n    - https://198.51.100.31:2379\n    caFile: \
             /etc/etcd-ext/ca.crt\n    certFile: /etc/etcd-ext/client.crt\n    keyFile: \
             /etc/etcd-ext/client.key\n",
        ),
    ];
    let mut patches = generated(
        "patches",
        version,
        ADDRESS,
        "encryptionAlgorithm: ECDSA-P256\n",
    );
    patches.yaml = patches.yaml.replace(
        "nodeRegistration:",
        "patches:\n  directory: /etc/kinit-patches\nnodeRegistration:",
    );
    patches.files = vec![
        (
            "etc/kinit-patches/kube-apiserver+strategic.yaml".to_string(),
            "spec:\n  containers:\n  - name: kube-apiserver\n    resources:\n      requests:\n        \
             cpu: 400m\n        memory: 512Mi\n"
                .to_string(),
        ),
        (
            "etc/kinit-patches/etcd0+json.yaml".to_string(),
            "- op: add\n  path: /metadata/labels/patched\n  value: \"yes\"\n".to_string(),
        ),
        (
            "etc/kinit-patches/kube-scheduler+merge.json".to_string(),
            "{\"metadata\":{\"annotations\":{\"oracle\":\"merge\"}}}\n".to_string(),
        ),
    ];
    inputs.push(patches);
    inputs
}

/// The namespace both tools run in: an interface with ADDRESS, a default route, and fd00::10.
pub fn oracle_namespace(label: &str) -> Namespace {
    let ns = Namespace::new(label);
    // No dummy driver in these kernels: a veth pair with both ends inside.
    ns.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
    ]);
    ns.ip(&["link", "set", "eth1", "up"]);
    ns.ip(&["addr", "add", &format!("{ADDRESS}/24"), "dev", "eth0"]);
    ns.ip(&["addr", "add", "fd00::10/64", "dev", "eth0", "nodad"]);
    ns.ip(&["link", "set", "eth0", "up"]);
    ns.ip(&["link", "set", "lo", "up"]);
    ns.ip(&[
        "route",
        "add",
        "default",
        "via",
        "198.51.100.1",
        "dev",
        "eth0",
    ]);
    ns
}
