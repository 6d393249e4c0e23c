//! The static pods kinit writes, checked through the binary: against kubernetes-validate for every
//! supported Kubernetes version, against kubeadm's flag tables (reference §5), with patches, and on re-runs.

mod common;
use common::{text, venv_tool};

use kinit_phases::domain::config::yaml::parse_documents;
use serde_json::Value;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VERSIONS: [&str; 4] = ["1.31.0", "1.32.0", "1.33.0", "1.34.0"];
const COMPONENTS: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];
const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];

/// Runs kinit with the proxy variables of the test's own environment removed and `env` added.
fn kinit_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kinit"));
    for name in PROXY_VARIABLES {
        command.env_remove(name);
    }
    command.envs(env.iter().copied()).args(args);
    command.output().unwrap()
}

/// Runs a phase under `root`, expecting success; returns standard output.
fn phase(root: &Path, words: &[&str], extra: &[&str]) -> String {
    phase_env(root, words, extra, &[])
}

fn phase_env(root: &Path, words: &[&str], extra: &[&str], env: &[(&str, &str)]) -> String {
    let mut args = vec!["init", "phase"];
    args.extend_from_slice(words);
    args.extend_from_slice(&["--rootfs", root.to_str().unwrap()]);
    args.extend_from_slice(extra);
    let out = kinit_env(&args, env);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

const FLAGS: [&str; 4] = [
    "--apiserver-advertise-address",
    "198.51.100.10",
    "--node-name",
    "cp1",
];

/// etcd and the whole control plane, with the given extra flags.
fn write_all(root: &Path, extra: &[&str]) -> String {
    let mut out = phase(root, &["etcd", "local"], extra);
    out.push_str(&phase(root, &["control-plane", "all"], extra));
    out
}

fn manifest_path(root: &Path, component: &str) -> PathBuf {
    root.join(format!("etc/kubernetes/manifests/{component}.yaml"))
}

fn read_pod(root: &Path, component: &str) -> Value {
    let path = manifest_path(root, component);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    parse_documents(&text).unwrap().remove(0).value
}

fn container(pod: &Value) -> &Value {
    &pod["spec"]["containers"][0]
}

fn command(pod: &Value) -> Vec<String> {
    container(pod)["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn validator() -> PathBuf {
    venv_tool("kubernetes-validate")
}

/// kubernetes-validate --strict on the manifests under `root` for one Kubernetes version.
fn validate(root: &Path, version: &str, components: &[&str]) {
    let files: Vec<PathBuf> = components.iter().map(|c| manifest_path(root, c)).collect();
    let out = Command::new(validator())
        .args(["--strict", "--quiet", "-k", version])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubernetes-validate {version}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn default_manifests_are_valid_pods_for_every_supported_version() {
    for version in VERSIONS {
        let root = tempfile::tempdir().unwrap();
        let mut flags = FLAGS.to_vec();
        let tag = format!("v{version}");
        flags.extend(["--kubernetes-version", &tag]);
        write_all(root.path(), &flags);
        validate(root.path(), version, &COMPONENTS);
        let apiserver = read_pod(root.path(), "kube-apiserver");
        assert_eq!(
            container(&apiserver)["image"],
            format!("registry.k8s.io/kube-apiserver:v{version}")
        );
        // kubeadm pins etcd 3.5 up to Kubernetes 1.33 and etcd 3.6 from 1.34, and the flags follow etcd.
        let etcd = command(&read_pod(root.path(), "etcd"));
        let etcd_36 = version == "1.34.0";
        assert_eq!(
            etcd.contains(&"--feature-gates=InitialCorruptCheck=true".to_string()),
            etcd_36,
            "{version}: {etcd:?}"
        );
        assert_eq!(
            etcd.contains(&"--experimental-initial-corrupt-check=true".to_string()),
            !etcd_36,
            "{version}: {etcd:?}"
        );
    }
}

/// The flags of reference §5 for the default configuration, advertise address 198.51.100.10, node cp1.
fn expected_apiserver() -> Vec<&'static str> {
    vec![
        "kube-apiserver",
        "--advertise-address=198.51.100.10",
        "--allow-privileged=true",
        "--authorization-mode=Node,RBAC",
        "--client-ca-file=/etc/kubernetes/pki/ca.crt",
        "--enable-admission-plugins=NodeRestriction",
        "--enable-bootstrap-token-auth=true",
        "--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt",
        "--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt",
        "--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key",
        "--etcd-servers=https://127.0.0.1:2379",
        "--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt",
        "--kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key",
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
        "--proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt",
        "--proxy-client-key-file=/etc/kubernetes/pki/front-proxy-client.key",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        "--secure-port=6443",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--service-account-key-file=/etc/kubernetes/pki/sa.pub",
        "--service-account-signing-key-file=/etc/kubernetes/pki/sa.key",
        "--service-cluster-ip-range=10.96.0.0/12",
        "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt",
        "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key",
    ]
}

fn expected_controller_manager(pod_subnet: bool) -> Vec<&'static str> {
    if pod_subnet {
        return vec![
            "kube-controller-manager",
            "--allocate-node-cidrs=true",
            "--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf",
            "--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf",
            "--bind-address=127.0.0.1",
            "--client-ca-file=/etc/kubernetes/pki/ca.crt",
            "--cluster-cidr=10.244.0.0/16",
            "--cluster-name=kubernetes",
            "--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt",
            "--cluster-signing-key-file=/etc/kubernetes/pki/ca.key",
            "--controllers=*,bootstrapsigner,tokencleaner",
            "--kubeconfig=/etc/kubernetes/controller-manager.conf",
            "--leader-elect=true",
            "--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt",
            "--root-ca-file=/etc/kubernetes/pki/ca.crt",
            "--service-account-private-key-file=/etc/kubernetes/pki/sa.key",
            "--service-cluster-ip-range=10.96.0.0/12",
            "--use-service-account-credentials=true",
        ];
    }
    vec![
        "kube-controller-manager",
        "--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf",
        "--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf",
        "--bind-address=127.0.0.1",
        "--client-ca-file=/etc/kubernetes/pki/ca.crt",
        "--cluster-name=kubernetes",
        "--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt",
        "--cluster-signing-key-file=/etc/kubernetes/pki/ca.key",
        "--controllers=*,bootstrapsigner,tokencleaner",
        "--kubeconfig=/etc/kubernetes/controller-manager.conf",
        "--leader-elect=true",
        "--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt",
        "--root-ca-file=/etc/kubernetes/pki/ca.crt",
        "--service-account-private-key-file=/etc/kubernetes/pki/sa.key",
        "--use-service-account-credentials=true",
    ]
}

fn expected_scheduler() -> Vec<&'static str> {
    vec![
        "kube-scheduler",
        "--authentication-kubeconfig=/etc/kubernetes/scheduler.conf",
        "--authorization-kubeconfig=/etc/kubernetes/scheduler.conf",
        "--bind-address=127.0.0.1",
        "--kubeconfig=/etc/kubernetes/scheduler.conf",
        "--leader-elect=true",
    ]
}

fn expected_etcd(etcd_36: bool) -> Vec<&'static str> {
    let mut flags = vec![
        "etcd",
        "--advertise-client-urls=https://198.51.100.10:2379",
        "--cert-file=/etc/kubernetes/pki/etcd/server.crt",
        "--client-cert-auth=true",
        "--data-dir=/var/lib/etcd",
        "--initial-advertise-peer-urls=https://198.51.100.10:2380",
        "--initial-cluster=cp1=https://198.51.100.10:2380",
        "--key-file=/etc/kubernetes/pki/etcd/server.key",
        "--listen-client-urls=https://127.0.0.1:2379,https://198.51.100.10:2379",
        "--listen-metrics-urls=http://127.0.0.1:2381",
        "--listen-peer-urls=https://198.51.100.10:2380",
        "--name=cp1",
        "--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt",
        "--peer-client-cert-auth=true",
        "--peer-key-file=/etc/kubernetes/pki/etcd/peer.key",
        "--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
        "--snapshot-count=10000",
        "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
    ];
    if etcd_36 {
        flags.insert(5, "--feature-gates=InitialCorruptCheck=true");
        flags.push("--watch-progress-notify-interval=5s");
    } else {
        flags.insert(5, "--experimental-initial-corrupt-check=true");
        flags.insert(6, "--experimental-watch-progress-notify-interval=5s");
    }
    flags
}

#[test]
fn command_lines_follow_kubeadms_tables() {
    let root = tempfile::tempdir().unwrap();
    write_all(root.path(), &FLAGS);
    assert_eq!(
        command(&read_pod(root.path(), "kube-apiserver")),
        expected_apiserver()
    );
    assert_eq!(
        command(&read_pod(root.path(), "kube-controller-manager")),
        expected_controller_manager(false)
    );
    assert_eq!(
        command(&read_pod(root.path(), "kube-scheduler")),
        expected_scheduler()
    );
    assert_eq!(command(&read_pod(root.path(), "etcd")), expected_etcd(true));

    let root = tempfile::tempdir().unwrap();
    let mut flags = FLAGS.to_vec();
    flags.extend([
        "--pod-network-cidr",
        "10.244.0.0/16",
        "--kubernetes-version",
        "v1.33.2",
    ]);
    write_all(root.path(), &flags);
    assert_eq!(
        command(&read_pod(root.path(), "kube-controller-manager")),
        expected_controller_manager(true)
    );
    assert_eq!(
        command(&read_pod(root.path(), "etcd")),
        expected_etcd(false)
    );
}

#[test]
fn the_pod_around_the_command_is_kubeadms() {
    let root = tempfile::tempdir().unwrap();
    write_all(root.path(), &FLAGS);
    let dir = root.path().join("etc/kubernetes/manifests");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for component in COMPONENTS {
        let path = manifest_path(root.path(), component);
        assert_eq!(mode(&path), 0o600, "{component}");
        let raw = std::fs::read_to_string(&path).unwrap();
        // kubeadm 1.34's apimachinery leaves the zero creationTimestamp out (omitzero).
        assert!(!raw.contains("creationTimestamp"), "{raw}");
        assert!(raw.ends_with("\nstatus: {}\n"), "{raw}");
        let pod = read_pod(root.path(), component);
        assert_eq!(pod["metadata"]["namespace"], "kube-system");
        assert_eq!(pod["metadata"]["labels"]["component"], component);
        assert_eq!(pod["metadata"]["labels"]["tier"], "control-plane");
        assert_eq!(pod["spec"]["priority"], 2000001000);
        assert_eq!(pod["spec"]["priorityClassName"], "system-node-critical");
        assert_eq!(pod["spec"]["hostNetwork"], true);
        assert_eq!(
            pod["spec"]["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        assert_eq!(container(&pod)["imagePullPolicy"], "IfNotPresent");
        assert!(
            container(&pod).get("env").is_none(),
            "no proxy variables, no env"
        );
    }
    let probe = |pod: &Value, which: &str| {
        let p = &container(pod)[which];
        let get = &p["httpGet"];
        format!(
            "{} {} {} {} {}/{}/{}/{}",
            get["host"].as_str().unwrap_or("-"),
            get["path"].as_str().unwrap(),
            get["port"].as_str().unwrap(),
            get["scheme"].as_str().unwrap(),
            p["initialDelaySeconds"].as_i64().unwrap_or(0),
            p["timeoutSeconds"],
            p["failureThreshold"],
            p["periodSeconds"]
        )
    };
    let apiserver = read_pod(root.path(), "kube-apiserver");
    assert_eq!(
        probe(&apiserver, "livenessProbe"),
        "198.51.100.10 /livez probe-port HTTPS 10/15/8/10"
    );
    assert_eq!(
        probe(&apiserver, "readinessProbe"),
        "198.51.100.10 /readyz probe-port HTTPS 0/15/3/1"
    );
    assert_eq!(
        probe(&apiserver, "startupProbe"),
        "198.51.100.10 /livez probe-port HTTPS 10/15/24/10"
    );
    assert_eq!(
        apiserver["metadata"]["annotations"]
            ["kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint"],
        "198.51.100.10:6443"
    );
    assert_eq!(
        container(&apiserver)["resources"],
        serde_json::json!({"requests": {"cpu": "250m"}})
    );
    let kcm = read_pod(root.path(), "kube-controller-manager");
    assert_eq!(
        probe(&kcm, "livenessProbe"),
        "127.0.0.1 /healthz probe-port HTTPS 10/15/8/10"
    );
    assert_eq!(
        probe(&kcm, "startupProbe"),
        "127.0.0.1 /healthz probe-port HTTPS 10/15/24/10"
    );
    assert!(container(&kcm).get("readinessProbe").is_none());
    let scheduler = read_pod(root.path(), "kube-scheduler");
    assert_eq!(
        probe(&scheduler, "livenessProbe"),
        "127.0.0.1 /livez probe-port HTTPS 10/15/8/10"
    );
    assert_eq!(
        probe(&scheduler, "readinessProbe"),
        "127.0.0.1 /readyz probe-port HTTPS 0/15/3/1"
    );
    assert_eq!(
        probe(&scheduler, "startupProbe"),
        "127.0.0.1 /livez probe-port HTTPS 10/15/24/10"
    );
    // kubeadm 1.34 names the probed port; the probes refer to it by that name.
    for (pod, port) in [(&apiserver, 6443), (&kcm, 10257), (&scheduler, 10259)] {
        assert_eq!(
            container(pod)["ports"],
            serde_json::json!([{"containerPort": port, "name": "probe-port", "protocol": "TCP"}])
        );
    }
    let etcd = read_pod(root.path(), "etcd");
    assert_eq!(
        probe(&etcd, "livenessProbe"),
        "127.0.0.1 /livez probe-port HTTP 10/15/8/10"
    );
    assert_eq!(
        probe(&etcd, "readinessProbe"),
        "127.0.0.1 /readyz probe-port HTTP 0/15/3/1"
    );
    assert_eq!(
        probe(&etcd, "startupProbe"),
        "127.0.0.1 /readyz probe-port HTTP 10/15/24/10"
    );
    assert_eq!(
        container(&etcd)["ports"],
        serde_json::json!([{"containerPort": 2381, "name": "probe-port", "protocol": "TCP"}])
    );
    assert_eq!(
        container(&etcd)["resources"],
        serde_json::json!({"requests": {"cpu": "100m", "memory": "100Mi"}})
    );
    assert_eq!(
        etcd["metadata"]["annotations"]["kubeadm.kubernetes.io/etcd.advertise-client-urls"],
        "https://198.51.100.10:2379"
    );

    let volumes = |pod: &Value| -> Vec<String> {
        pod["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                format!(
                    "{}={}:{}",
                    v["name"].as_str().unwrap(),
                    v["hostPath"]["path"].as_str().unwrap(),
                    v["hostPath"]["type"].as_str().unwrap()
                )
            })
            .collect()
    };
    let mounts = |pod: &Value| -> Vec<String> {
        container(pod)["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{}={}{}",
                    m["name"].as_str().unwrap(),
                    m["mountPath"].as_str().unwrap(),
                    if m["readOnly"] == true { " ro" } else { "" }
                )
            })
            .collect()
    };
    assert_eq!(
        volumes(&apiserver),
        vec![
            "ca-certs=/etc/ssl/certs:DirectoryOrCreate",
            "k8s-certs=/etc/kubernetes/pki:DirectoryOrCreate"
        ]
    );
    assert_eq!(
        mounts(&apiserver),
        vec![
            "ca-certs=/etc/ssl/certs ro",
            "k8s-certs=/etc/kubernetes/pki ro"
        ]
    );
    assert_eq!(
        volumes(&kcm),
        vec![
            "ca-certs=/etc/ssl/certs:DirectoryOrCreate",
            "flexvolume-dir=/usr/libexec/kubernetes/kubelet-plugins/volume/exec:DirectoryOrCreate",
            "k8s-certs=/etc/kubernetes/pki:DirectoryOrCreate",
            "kubeconfig=/etc/kubernetes/controller-manager.conf:FileOrCreate",
        ]
    );
    assert_eq!(
        mounts(&kcm),
        vec![
            "ca-certs=/etc/ssl/certs ro",
            "flexvolume-dir=/usr/libexec/kubernetes/kubelet-plugins/volume/exec",
            "k8s-certs=/etc/kubernetes/pki ro",
            "kubeconfig=/etc/kubernetes/controller-manager.conf ro",
        ]
    );
    assert_eq!(
        volumes(&scheduler),
        vec!["kubeconfig=/etc/kubernetes/scheduler.conf:FileOrCreate"]
    );
    assert_eq!(
        mounts(&scheduler),
        vec!["kubeconfig=/etc/kubernetes/scheduler.conf ro"]
    );
    assert_eq!(
        volumes(&etcd),
        vec![
            "etcd-certs=/etc/kubernetes/pki/etcd:DirectoryOrCreate",
            "etcd-data=/var/lib/etcd:DirectoryOrCreate"
        ]
    );
    assert_eq!(
        mounts(&etcd),
        vec![
            "etcd-data=/var/lib/etcd",
            "etcd-certs=/etc/kubernetes/pki/etcd"
        ]
    );
}

#[test]
fn host_ca_folders_proxy_variables_and_an_external_ca_show_up_as_kubeadm_has_them() {
    let root = tempfile::tempdir().unwrap();
    for dir in ["etc/pki/ca-trust", "usr/share/ca-certificates"] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    // ca.crt without ca.key: external CA mode.
    let pki = root.path().join("etc/kubernetes/pki");
    std::fs::create_dir_all(&pki).unwrap();
    std::fs::write(pki.join("ca.crt"), "not read, only seen\n").unwrap();
    phase_env(
        root.path(),
        &["control-plane", "all"],
        &FLAGS,
        &[
            ("HTTPS_PROXY", "http://proxy.example:3128"),
            ("no_proxy", "10.0.0.0/8"),
            ("FTP_PROXY", ""),
        ],
    );
    let apiserver = read_pod(root.path(), "kube-apiserver");
    let names: Vec<&str> = apiserver["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "ca-certs",
            "etc-pki-ca-trust",
            "k8s-certs",
            "usr-share-ca-certificates"
        ]
    );
    assert_eq!(
        container(&apiserver)["env"],
        serde_json::json!([
            {"name": "HTTPS_PROXY", "value": "http://proxy.example:3128"},
            {"name": "no_proxy", "value": "10.0.0.0/8"}
        ])
    );
    let kcm = command(&read_pod(root.path(), "kube-controller-manager"));
    assert!(kcm.contains(&"--cluster-signing-cert-file=".to_string()));
    assert!(kcm.contains(&"--cluster-signing-key-file=".to_string()));
    let scheduler = read_pod(root.path(), "kube-scheduler");
    assert_eq!(
        scheduler["spec"]["volumes"].as_array().unwrap().len(),
        1,
        "the scheduler mounts no CA folders"
    );
}

/// A configuration using every option of the static pods.
const FULL_CONFIG: &str = r#"
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: "2001:db8::10"
  bindPort: 6444
nodeRegistration:
  name: cp1
timeouts:
  controlPlaneComponentHealthCheck: 95s
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: VERSION
clusterName: lab
certificatesDir: /srv/pki
imageRepository: mirror.example.com/k8s
networking:
  podSubnet: "fd00:10:244::/56"
  serviceSubnet: "fd00:10:96::/108"
  dnsDomain: lab.local
apiServer:
  extraArgs:
  - name: audit-log-path
    value: /var/log/kubernetes/audit.log
  - name: authorization-mode
    value: Node,RBAC,Webhook
  - name: tls-cipher-suites
    value: TLS_AES_256_GCM_SHA384
  - name: tls-cipher-suites
    value: TLS_AES_128_GCM_SHA256
  extraVolumes:
  - name: audit
    hostPath: /var/log/kubernetes
    mountPath: /var/log/kubernetes
    pathType: DirectoryOrCreate
  - name: ca-certs
    hostPath: /usr/local/ssl/certs
    mountPath: /etc/ssl/certs
    readOnly: true
  extraEnvs:
  - name: GODEBUG
    value: x509sha1=1
  - name: HTTPS_PROXY
    value: http://override.example:3128
controllerManager:
  extraArgs:
  - name: bind-address
    value: "::"
  - name: flex-volume-plugin-dir
    value: /opt/flex
  - name: node-cidr-mask-size-ipv6
    value: "64"
  extraVolumes:
  - name: cloud
    hostPath: /etc/cloud.conf
    mountPath: /etc/kubernetes/cloud.conf
    pathType: File
    readOnly: true
  extraEnvs:
  - name: POD_IP
    valueFrom:
      fieldRef:
        fieldPath: status.podIP
scheduler:
  extraArgs:
  - name: bind-address
    value: 0.0.0.0
  - name: v
    value: "4"
  extraVolumes:
  - name: policy
    hostPath: /etc/kubernetes/scheduler
    mountPath: /etc/kubernetes/scheduler
  extraEnvs:
  - name: GOMAXPROCS
    value: "2"
etcd:
  local:
    dataDir: /data/etcd
    imageRepository: mirror.example.com/etcd-images
    extraArgs:
    - name: listen-metrics-urls
      value: http://[::1]:2382,http://[2001:db8::10]:2382
    - name: election-timeout
      value: "2000"
    extraEnvs:
    - name: ETCD_UNSUPPORTED_ARCH
      value: arm64
"#;

fn write_config(root: &Path, text: &str) -> String {
    let path = root.join("kinit.yaml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn every_option_is_honoured_and_the_result_valid_for_every_supported_version() {
    for version in VERSIONS {
        let root = tempfile::tempdir().unwrap();
        let config = write_config(
            root.path(),
            &FULL_CONFIG.replace("VERSION", &format!("v{version}")),
        );
        let env = [("https_proxy", "http://proxy.example:3128")];
        phase_env(
            root.path(),
            &["etcd", "local"],
            &["--config", &config],
            &env,
        );
        phase_env(
            root.path(),
            &["control-plane", "all"],
            &["--config", &config],
            &env,
        );
        validate(root.path(), version, &COMPONENTS);
        if version != "1.34.0" {
            continue;
        }
        let apiserver = read_pod(root.path(), "kube-apiserver");
        let flags = command(&apiserver);
        for flag in [
            "--advertise-address=2001:db8::10",
            "--audit-log-path=/var/log/kubernetes/audit.log",
            "--authorization-mode=Node,RBAC,Webhook",
            "--etcd-servers=https://[::1]:2379",
            "--etcd-cafile=/srv/pki/etcd/ca.crt",
            "--secure-port=6444",
            "--service-account-issuer=https://kubernetes.default.svc.lab.local",
            "--service-cluster-ip-range=fd00:10:96::/108",
        ] {
            assert!(flags.contains(&flag.to_string()), "{flag} in {flags:?}");
        }
        let ciphers: Vec<&String> = flags
            .iter()
            .filter(|f| f.starts_with("--tls-cipher-suites="))
            .collect();
        assert_eq!(
            ciphers,
            vec![
                "--tls-cipher-suites=TLS_AES_256_GCM_SHA384",
                "--tls-cipher-suites=TLS_AES_128_GCM_SHA256"
            ],
            "repeated extra args are all kept, in the user's order after the sorted defaults (kubeadm 1.34)"
        );
        let at = |prefix: &str| flags.iter().position(|f| f.starts_with(prefix)).unwrap();
        assert!(
            at("--tls-cipher-suites=") > at("--tls-private-key-file="),
            "the extra args follow every default, whatever their names: {flags:?}"
        );
        assert_eq!(
            container(&apiserver)["image"],
            "mirror.example.com/k8s/kube-apiserver:v1.34.0"
        );
        assert_eq!(
            apiserver["metadata"]["annotations"]
                ["kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint"],
            "[2001:db8::10]:6444"
        );
        assert_eq!(
            container(&apiserver)["env"],
            serde_json::json!([
                {"name": "GODEBUG", "value": "x509sha1=1"},
                {"name": "HTTPS_PROXY", "value": "http://override.example:3128"},
                {"name": "https_proxy", "value": "http://proxy.example:3128"}
            ])
        );
        assert_eq!(
            container(&apiserver)["startupProbe"]["failureThreshold"],
            10,
            "ceil(95s / 10s)"
        );
        assert_eq!(
            container(&apiserver)["livenessProbe"]["httpGet"]["host"],
            "2001:db8::10"
        );
        let volumes = &apiserver["spec"]["volumes"];
        assert_eq!(volumes[0]["name"], "audit");
        assert_eq!(volumes[1]["name"], "ca-certs");
        assert_eq!(
            volumes[1]["hostPath"]["path"], "/usr/local/ssl/certs",
            "a user volume replaces kubeadm's of the same name"
        );

        let kcm = read_pod(root.path(), "kube-controller-manager");
        let flags = command(&kcm);
        for flag in [
            "--allocate-node-cidrs=true",
            "--bind-address=::",
            "--cluster-cidr=fd00:10:244::/56",
            "--cluster-name=lab",
            "--node-cidr-mask-size-ipv6=64",
            "--service-cluster-ip-range=fd00:10:96::/108",
            "--root-ca-file=/srv/pki/ca.crt",
        ] {
            assert!(flags.contains(&flag.to_string()), "{flag} in {flags:?}");
        }
        assert!(
            container(&kcm)["livenessProbe"]["httpGet"]
                .get("host")
                .is_none(),
            "a wildcard bind address leaves the probe host to the kubelet"
        );
        let kcm_volumes: Vec<&str> = kcm["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["hostPath"]["path"].as_str().unwrap())
            .collect();
        assert!(kcm_volumes.contains(&"/opt/flex"), "{kcm_volumes:?}");
        assert!(kcm_volumes.contains(&"/etc/cloud.conf"), "{kcm_volumes:?}");
        assert_eq!(
            container(&kcm)["env"],
            serde_json::json!([
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "https_proxy", "value": "http://proxy.example:3128"}
            ])
        );

        let scheduler = read_pod(root.path(), "kube-scheduler");
        assert!(command(&scheduler).contains(&"--v=4".to_string()));
        assert!(container(&scheduler)["livenessProbe"]["httpGet"]
            .get("host")
            .is_none());
        assert_eq!(
            scheduler["spec"]["volumes"][1]["hostPath"],
            serde_json::json!({"path": "/etc/kubernetes/scheduler", "type": ""}),
            "a user volume without pathType keeps kubeadm's empty type"
        );

        let etcd = read_pod(root.path(), "etcd");
        let flags = command(&etcd);
        for flag in [
            "--advertise-client-urls=https://[2001:db8::10]:2379",
            "--data-dir=/data/etcd",
            "--election-timeout=2000",
            "--listen-client-urls=https://[::1]:2379,https://[2001:db8::10]:2379",
            "--listen-metrics-urls=http://[::1]:2382,http://[2001:db8::10]:2382",
            "--initial-cluster=cp1=https://[2001:db8::10]:2380",
            "--trusted-ca-file=/srv/pki/etcd/ca.crt",
        ] {
            assert!(flags.contains(&flag.to_string()), "{flag} in {flags:?}");
        }
        assert_eq!(
            container(&etcd)["image"],
            "mirror.example.com/etcd-images/etcd:3.6.5-0"
        );
        let get = &container(&etcd)["livenessProbe"]["httpGet"];
        assert_eq!(
            (
                get["host"].as_str(),
                get["port"].as_str(),
                &container(&etcd)["ports"][0]["containerPort"]
            ),
            (Some("::1"), Some("probe-port"), &serde_json::json!(2382)),
            "etcd is probed on the first listen-metrics-urls"
        );
        assert_eq!(
            container(&etcd)["env"],
            serde_json::json!([{"name": "ETCD_UNSUPPORTED_ARCH", "value": "arm64"}]),
            "etcd gets its extraEnvs and no proxy variables, as in kubeadm"
        );
        assert_eq!(
            container(&etcd)["volumeMounts"][0]["mountPath"],
            "/data/etcd"
        );
    }
}

#[test]
fn an_explicit_etcd_image_tag_picks_the_etcd_flag_style() {
    let root = tempfile::tempdir().unwrap();
    let config = write_config(
        root.path(),
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 198.51.100.10\nnodeRegistration:\n  name: cp1\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.34.1\netcd:\n  local:\n    imageTag: 3.5.21-0\n",
    );
    phase(root.path(), &["etcd", "local"], &["--config", &config]);
    let etcd = read_pod(root.path(), "etcd");
    assert_eq!(container(&etcd)["image"], "registry.k8s.io/etcd:3.5.21-0");
    assert_eq!(command(&etcd), expected_etcd(false));
}

#[test]
fn external_etcd_has_no_local_pod_and_the_api_server_uses_the_users_files() {
    let root = tempfile::tempdir().unwrap();
    let config = write_config(
        root.path(),
        r#"apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 198.51.100.10
nodeRegistration:
  name: cp1
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.32.4
etcd:
  external:
    endpoints:
    - https://203.0.113.5:2379
    - https://203.0.113.6:2379
    caFile: /opt/etcd-ca/ca.crt
    certFile: /etc/etcd/pki/client.crt
    keyFile: /etc/etcd/pki/private/client.key
"#,
    );
    let out = phase(root.path(), &["etcd", "local"], &["--config", &config]);
    assert!(
        out.contains(
            "[etcd] External etcd mode: Skipping the creation of a manifest for local etcd"
        ),
        "{out}"
    );
    assert!(!manifest_path(root.path(), "etcd").exists());
    phase(
        root.path(),
        &["control-plane", "all"],
        &["--config", &config],
    );
    for version in VERSIONS {
        validate(
            root.path(),
            version,
            &[
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
            ],
        );
    }
    let apiserver = read_pod(root.path(), "kube-apiserver");
    let flags = command(&apiserver);
    for flag in [
        "--etcd-servers=https://203.0.113.5:2379,https://203.0.113.6:2379",
        "--etcd-cafile=/opt/etcd-ca/ca.crt",
        "--etcd-certfile=/etc/etcd/pki/client.crt",
        "--etcd-keyfile=/etc/etcd/pki/private/client.key",
    ] {
        assert!(flags.contains(&flag.to_string()), "{flag} in {flags:?}");
    }
    let etcd_volumes: Vec<String> = apiserver["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["name"].as_str().unwrap().starts_with("etcd-certs"))
        .map(|v| format!("{}={}", v["name"], v["hostPath"]["path"]))
        .collect();
    assert_eq!(
        etcd_volumes,
        vec![
            "\"etcd-certs-0\"=\"/etc/etcd/pki\"",
            "\"etcd-certs-1\"=\"/opt/etcd-ca\""
        ]
    );
}

fn patch_root() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("patches");
    std::fs::create_dir_all(&dir).unwrap();
    (root, dir)
}

#[test]
fn patches_of_each_type_change_the_written_manifests() {
    let (root, dir) = patch_root();
    std::fs::write(
        dir.join("kube-apiserver.yaml"),
        "spec:\n  containers:\n  - name: kube-apiserver\n    resources:\n      requests:\n        cpu: 500m\n    env:\n    - name: FROM_PATCH\n      value: \"yes\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("kube-scheduler+merge.yaml"),
        "metadata:\n  labels:\n    patched: merge\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("etcd+json.json"),
        r#"[{"op": "add", "path": "/spec/containers/0/command/-", "value": "--quota-backend-bytes=8589934592"}]"#,
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not a patch\n").unwrap();
    let mut flags = FLAGS.to_vec();
    flags.extend(["--patches", "/patches"]);
    let out = write_all(root.path(), &flags);
    for line in [
        "[patches] Reading patches from path \"/patches\"",
        "[patches] Applied patch of type \"application/json-patch+json\" to target \"etcd\"",
        "[patches] Applied patch of type \"application/strategic-merge-patch+json\" to target \"kube-apiserver\"",
        "[patches] Applied patch of type \"application/merge-patch+json\" to target \"kube-scheduler\"",
    ] {
        assert!(out.contains(line), "{line} in {out}");
    }
    let apiserver = read_pod(root.path(), "kube-apiserver");
    assert_eq!(
        container(&apiserver)["resources"]["requests"]["cpu"],
        "500m"
    );
    assert_eq!(container(&apiserver)["env"][0]["name"], "FROM_PATCH");
    assert_eq!(
        command(&apiserver),
        expected_apiserver(),
        "the strategic patch keeps what it does not name"
    );
    assert_eq!(
        read_pod(root.path(), "kube-scheduler")["metadata"]["labels"]["patched"],
        "merge"
    );
    assert_eq!(
        command(&read_pod(root.path(), "etcd")).last().unwrap(),
        "--quota-backend-bytes=8589934592"
    );
    assert_eq!(
        command(&read_pod(root.path(), "kube-controller-manager")),
        expected_controller_manager(false),
        "no patch for it, no change"
    );
    validate(root.path(), "1.34.0", &COMPONENTS);
}

#[test]
fn a_patch_that_does_not_apply_is_an_error_naming_its_file() {
    let (root, dir) = patch_root();
    std::fs::write(
        dir.join("kube-scheduler+json.yaml"),
        "- op: replace\n  path: /spec/nodeName\n  value: elsewhere\n",
    )
    .unwrap();
    let args = [
        "init",
        "phase",
        "control-plane",
        "scheduler",
        "--rootfs",
        root.path().to_str().unwrap(),
        "--apiserver-advertise-address",
        "198.51.100.10",
        "--node-name",
        "cp1",
        "--patches",
        "/patches",
    ];
    let out = kinit_env(&args, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(said.contains("/patches/kube-scheduler+json.yaml"), "{said}");
    assert!(!manifest_path(root.path(), "kube-scheduler").exists());

    std::fs::remove_file(dir.join("kube-scheduler+json.yaml")).unwrap();
    std::fs::write(
        dir.join("kube-scheduler+merge.yaml"),
        "spec:\n  hostNetwrk: false\n",
    )
    .unwrap();
    let out = kinit_env(&args, &[]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("kube-scheduler+merge.yaml") && said.contains("spec.hostNetwrk"),
        "{said}"
    );

    std::fs::remove_file(dir.join("kube-scheduler+merge.yaml")).unwrap();
    std::fs::write(dir.join("kube-scheduler+yolo.yaml"), "a: b\n").unwrap();
    let out = kinit_env(&args, &[]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("kube-scheduler+yolo.yaml"), "{said}");
}

/// Inode and modification time: an atomic rewrite changes both.
fn stamps(root: &Path) -> Vec<(String, u64, i64, i64)> {
    COMPONENTS
        .iter()
        .map(|c| {
            let meta = std::fs::metadata(manifest_path(root, c)).unwrap();
            (c.to_string(), meta.ino(), meta.mtime(), meta.mtime_nsec())
        })
        .collect()
}

#[test]
fn a_rerun_writes_nothing_and_a_changed_config_rewrites_only_what_changed() {
    let root = tempfile::tempdir().unwrap();
    let first = write_all(root.path(), &FLAGS);
    assert!(
        first.contains(
            "[etcd] Creating static Pod manifest for local etcd in \"/etc/kubernetes/manifests\""
        ),
        "{first}"
    );
    assert!(
        first.contains("[control-plane] Using manifest folder \"/etc/kubernetes/manifests\""),
        "{first}"
    );
    assert!(
        first.contains("[control-plane] Creating static Pod manifest for \"kube-apiserver\""),
        "{first}"
    );
    let before = stamps(root.path());
    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = write_all(root.path(), &FLAGS);
    assert_eq!(stamps(root.path()), before, "{again}");
    assert!(!again.contains("Creating"), "{again}");
    assert!(!again.contains("Updated"), "{again}");

    let mut changed = FLAGS.to_vec();
    changed.extend(["--pod-network-cidr", "10.244.0.0/16"]);
    let out = write_all(root.path(), &changed);
    assert!(
        out.contains(
            "[control-plane] Updated the static Pod manifest for \"kube-controller-manager\""
        ),
        "{out}"
    );
    assert_eq!(out.matches("Updated").count(), 1, "{out}");
    let after = stamps(root.path());
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(
            old != new,
            old.0 == "kube-controller-manager",
            "{old:?} -> {new:?}"
        );
    }
}

#[test]
fn a_dry_run_plans_the_folder_and_files_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let mut flags = FLAGS.to_vec();
    flags.push("--dry-run");
    let out = write_all(root.path(), &flags);
    assert!(
        out.contains("[dry-run] would make directory /etc/kubernetes/manifests (mode 0700)"),
        "{out}"
    );
    assert!(
        out.contains(
            "[dry-run] would write /etc/kubernetes/manifests/kube-apiserver.yaml (mode 0600"
        ),
        "{out}"
    );
    assert!(!root.path().join("etc").exists());
}
