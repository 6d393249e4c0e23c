//! The real control plane tier: `kinit init` and `kinit join` against the real Kubernetes v1.34
//! programs (scripts/test-tools.sh builds them), on hosts in network namespaces on one bridge:
//! cp1 (198.51.100.1), w1, w2 and cp2 (198.51.100.2-4), each with its own root folder.
//!
//! On cp1 the test plays only the kubelet's part that needs a container runtime
//! (tests/support/static_pods.rs): it runs the static Pods kinit writes with the real etcd,
//! kube-apiserver, kube-controller-manager and kube-scheduler, answers the kubelet's health check
//! and registers the Node through the real API server with the kubelet.conf kinit wrote. Then it
//! checks with the real kubectl what kinit made in the cluster (against kubeadm's dry run of the
//! same file: real_cluster/stored_objects.rs), waits for the real controller
//! manager's bootstrap signer to sign cluster-info, and joins w1: discovery verifies the real
//! signer's JWS; the test plays w1's kubelet by posting the CSR with bootstrap-kubelet.conf, and
//! the real controller manager approves and signs it through kinit's RBAC bindings; the
//! kubelet.conf that results is `system:node:w1` to the real API server. w2 joins with the real
//! kubeadm the same way, and what both joins wrote is compared fact by fact. Bad join input meets the
//! real server's answers; the real DaemonSet and Deployment controllers and the scheduler act on
//! the add-ons kinit applied; CoreDNS and kube-proxy run from kinit's ConfigMaps
//! (real_cluster/addons_run.rs): CoreDNS answers for the cluster's Services, kube-proxy programs
//! w1's iptables; `kinit token` works against the real server (the real token cleaner deletes an
//! expired token, the signer follows); cp2 joins as a second control plane on real etcd 3.6
//! (real_cluster/control_plane_join.rs) and resets again; `kinit certs renew all` and a restart of
//! the control plane:
//! the API server and etcd serve the renewed certificates and `check-expiration` agrees; `kinit
//! reset` on cp1 and w1 removes every KUBE-* chain, and cp1's control plane stops with its
//! manifests. About 50 s on 2 cores.
//!
//! `KINIT_STATIC_POD_LOGS=<dir>` keeps the components' logs; a failure prints their tails anyway.
//!
//! Needs root (network namespaces); see tests/etcd_real.rs for `KINIT_SKIP_ROOT_TESTS`.

mod common;
use common::{have_root, kinit_result, text};

#[path = "real_cluster/addons_run.rs"]
mod addons_run;
#[path = "real_cluster/control_plane_join.rs"]
mod control_plane_join;
mod oracle;
#[path = "real_cluster/stored_objects.rs"]
mod stored_objects;
use kinit_test_support as support;

use oracle::facts::tree_facts;
use oracle::{compare, listed_differences, report};
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::hosts::{Host, Network};
use support::kubectl::Kubectl;
use support::kubelet::yaml;
use support::played_kubelet::{
    bootstrap_kubelet, node_object, register_node_when_ready, seen_copy,
};
use support::real::{real_kubernetes_version, real_tool};
use support::standin::{serve_http, OK};
use support::static_pods::StaticPods;

const ENDPOINT: &str = "198.51.100.1:6443";
/// cp1's static Pods, by manifest name.
const COMPONENTS: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// The preflight checks a host of this test cannot pass, and only those: its root is an empty
/// folder (no /proc, /sys, programs or kubelet in it, so `--rootfs` finds none of them) and it has
/// no container runtime (so no images to pull either). A check not named here (a port in use, a
/// file in the way) still stops the run.
const UNMET_PREFLIGHT: &str = "NumCPU,Mem,CRI,FileExisting-ip,FileExisting-iptables,FileExisting-mount,FileExisting-nsenter,SystemVerification,KubeletVersion,FileContent--proc-sys-net-bridge-bridge-nf-call-iptables,FileContent--proc-sys-net-ipv4-ip_forward,ImagePull";

/// Waits until `ready` answers Ok, checking every 250 ms; after `limit` fails with `what`, the last
/// answer and `logs()` (the tails of the components concerned).
fn wait(
    what: &str,
    limit: Duration,
    mut logs: impl FnMut() -> String,
    mut ready: impl FnMut() -> Result<(), String>,
) {
    let start = Instant::now();
    loop {
        let last = match ready() {
            Ok(()) => return,
            Err(e) => e,
        };
        if start.elapsed() > limit {
            panic!("{what}: not after {limit:?}; last: {last}\n{}", logs());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Runs `join` while the played kubelet (or the real one's starter) does its part beside it; the
/// kubelet side is told through the flag when the join has ended, so it stops waiting for files.
fn beside_the_kubelet<T: Send>(
    kubelet: impl FnOnce(&AtomicBool) -> T + Send,
    join: impl FnOnce() -> Output,
) -> (Output, T) {
    let join_ended = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let kubelet = scope.spawn(|| kubelet(&join_ended));
        let out = join();
        join_ended.store(true, Ordering::SeqCst);
        (out, kubelet.join().unwrap())
    })
}

/// The timeouts of the test's joins: generous for a loaded 2-core machine, short enough to fail
/// in time.
const JOIN_TIMEOUTS: &str =
    "  discovery: 30s\n  kubernetesAPICall: 10s\n  tlsBootstrap: 60s\n  kubeletHealthCheck: 30s\n";

fn cp1_config(cp1: &Host) -> String {
    let path = cp1.path("/kinit.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: {address}
nodeRegistration:
  name: cp1
timeouts:
  controlPlaneComponentHealthCheck: 90s
  kubeletHealthCheck: 30s
  kubernetesAPICall: 30s
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: {version}
encryptionAlgorithm: ECDSA-P256
controlPlaneEndpoint: {ENDPOINT}
",
            address = cp1.address,
            version = real_kubernetes_version()
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// The machine's iptables, ip6tables and nft programs, linked into `host`'s root where a node has
/// them: `--rootfs` looks for programs under the root (as kubeadm's chroot does), and a reset
/// without them can only say that the rules stay.
fn link_packet_filter_tools(host: &Host) {
    let sbin = host.path("/usr/sbin");
    std::fs::create_dir_all(&sbin).unwrap();
    for entry in std::fs::read_dir("/usr/sbin").unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if ["iptables", "ip6tables", "nft", "xtables"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            let _ =
                std::os::unix::fs::symlink(Path::new("/usr/sbin").join(&name), sbin.join(&name));
        }
    }
}

/// cp1: a whole `kinit init -o json` with the real control plane run from its manifests.
fn init_cp1(cp1: &Host, pods: &StaticPods) -> Value {
    let config = cp1_config(cp1);
    serve_http(cp1.listen("127.0.0.1", 10248), OK);
    let (out, registered) = beside_the_kubelet(
        |ended| register_node_when_ready(cp1, ended),
        || {
            cp1.kinit(&[
                "init",
                "--config",
                &config,
                "--upload-certs",
                "-o",
                "json",
                "--ignore-preflight-errors",
                UNMET_PREFLIGHT,
            ])
        },
    );
    let result = kinit_result(out, "kinit init on cp1", || pods.tails(40));
    registered.unwrap_or_else(|e| panic!("{e}\n{}", pods.tail("kube-apiserver", 40)));
    assert!(pods.errors().is_empty(), "{}", pods.tails(20));
    result
}

/// Every object kinit creates, read back from the real API server.
fn objects_exist(admin: &Kubectl, token_id: &str, pods: &StaticPods) {
    let logs = || pods.tail("kube-apiserver", 30);
    for (namespace, objects) in [
        (
            "kube-system",
            vec![
                "configmap/kubeadm-config".to_string(),
                "configmap/kubelet-config".into(),
                "configmap/kube-proxy".into(),
                "configmap/coredns".into(),
                format!("secret/bootstrap-token-{token_id}"),
                "deployment/coredns".into(),
                "service/kube-dns".into(),
                "daemonset/kube-proxy".into(),
                "serviceaccount/coredns".into(),
                "serviceaccount/kube-proxy".into(),
                "role/kubeadm:nodes-kubeadm-config".into(),
                "rolebinding/kubeadm:nodes-kubeadm-config".into(),
                "role/kubeadm:kubelet-config".into(),
                "rolebinding/kubeadm:kubelet-config".into(),
                "role/kube-proxy".into(),
                "rolebinding/kube-proxy".into(),
            ],
        ),
        (
            "kube-public",
            vec![
                "configmap/cluster-info".to_string(),
                "role/kubeadm:bootstrap-signer-clusterinfo".into(),
                "rolebinding/kubeadm:bootstrap-signer-clusterinfo".into(),
            ],
        ),
        (
            "",
            vec![
                "clusterrolebinding/kubeadm:cluster-admins".to_string(),
                "clusterrolebinding/kubeadm:kubelet-bootstrap".into(),
                "clusterrolebinding/kubeadm:node-autoapprove-bootstrap".into(),
                "clusterrolebinding/kubeadm:node-autoapprove-certificate-rotation".into(),
                "clusterrole/kubeadm:get-nodes".into(),
                "clusterrolebinding/kubeadm:get-nodes".into(),
                "clusterrolebinding/kubeadm:node-proxier".into(),
                "clusterrole/system:coredns".into(),
                "clusterrolebinding/system:coredns".into(),
            ],
        ),
    ] {
        let mut args: Vec<&str> = objects.iter().map(String::as_str).collect();
        if !namespace.is_empty() {
            args.extend(["-n", namespace]);
        }
        let list = admin
            .json(&{
                let mut get = vec!["get"];
                get.extend(&args);
                get
            })
            .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
        assert_eq!(
            list["items"].as_array().map(Vec::len),
            Some(objects.len()),
            "{list}"
        );
    }
    // The Node, labelled and tainted by mark-control-plane.
    let node = admin.json(&["get", "node", "cp1"]).unwrap();
    let labels = &node["metadata"]["labels"];
    assert_eq!(
        labels["node-role.kubernetes.io/control-plane"], "",
        "{node}"
    );
    assert_eq!(
        labels["node.kubernetes.io/exclude-from-external-load-balancers"], "",
        "{node}"
    );
    let taints = node["spec"]["taints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        taints
            .iter()
            .any(|t| t["key"] == "node-role.kubernetes.io/control-plane"
                && t["effect"] == "NoSchedule"),
        "{node}"
    );
    // The ConfigMaps carry what the config said.
    let kubeadm_config = admin
        .json(&["get", "configmap", "kubeadm-config", "-n", "kube-system"])
        .unwrap();
    let cluster = kubeadm_config["data"]["ClusterConfiguration"]
        .as_str()
        .unwrap_or_default();
    assert!(
        cluster.contains("encryptionAlgorithm: ECDSA-P256")
            && cluster.contains(&format!("kubernetesVersion: {}", real_kubernetes_version())),
        "{cluster}"
    );
    let info = admin
        .json(&["get", "configmap", "cluster-info", "-n", "kube-public"])
        .unwrap();
    let kubeconfig = info["data"]["kubeconfig"].as_str().unwrap_or_default();
    assert!(
        kubeconfig.contains(&format!("server: https://{ENDPOINT}")),
        "{kubeconfig}"
    );
    // The CoreDNS Service is the tenth address of the default service range.
    let dns = admin
        .json(&["get", "service", "kube-dns", "-n", "kube-system"])
        .unwrap();
    assert_eq!(dns["spec"]["clusterIP"], "10.96.0.10", "{dns}");
}

/// What kinit's RBAC lets a bootstrap token, a node and anyone do, as the real authorizer answers
/// (`kubectl auth can-i` with impersonation).
fn rbac_answers(host: &Host, admin: &Kubectl, token_id: &str) {
    let bootstrap_user = format!("system:bootstrap:{token_id}");
    let as_token = [
        "--as",
        bootstrap_user.as_str(),
        "--as-group",
        "system:bootstrappers:kubeadm:default-node-token",
        "--as-group",
        "system:authenticated",
    ];
    let as_node = [
        "--as",
        "system:node:w1",
        "--as-group",
        "system:nodes",
        "--as-group",
        "system:authenticated",
    ];
    let cases: Vec<(&[&str], Vec<&str>, bool)> = vec![
        (
            &as_token,
            vec!["create", "certificatesigningrequests"],
            true,
        ),
        (
            &as_token,
            vec![
                "create",
                "certificatesigningrequests",
                "--subresource=nodeclient",
            ],
            true,
        ),
        (
            &as_token,
            vec!["get", "configmap/kubeadm-config", "-n", "kube-system"],
            true,
        ),
        (
            &as_token,
            vec!["get", "configmap/kubelet-config", "-n", "kube-system"],
            true,
        ),
        (&as_token, vec!["get", "nodes"], true),
        (
            &as_token,
            vec!["get", "secrets", "-n", "kube-system"],
            false,
        ),
        (
            &as_node,
            vec![
                "create",
                "certificatesigningrequests",
                "--subresource=selfnodeclient",
            ],
            true,
        ),
    ];
    for (who, what, allowed) in cases {
        let mut args = vec!["auth", "can-i"];
        args.extend(&what);
        args.extend(who);
        let out = admin.run(&args);
        let answer = text(&out.stdout).trim().to_string();
        assert_eq!(
            answer,
            if allowed { "yes" } else { "no" },
            "kubectl {args:?}: {}",
            text(&out.stderr)
        );
    }
    // Anyone may read cluster-info, and nothing else: requests without credentials (curl, which
    // verifies the server against the cluster CA).
    let ca = host.path("/etc/kubernetes/pki/ca.crt");
    let anonymous = |path: &str| {
        let out = host
            .command("curl")
            .args([
                "-sS",
                "--max-time",
                "10",
                "-w",
                "\n%{http_code}",
                "--cacert",
            ])
            .arg(&ca)
            .arg(format!("https://{ENDPOINT}{path}"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run curl: {e}"));
        let all = text(&out.stdout);
        let (body, status) = all.rsplit_once('\n').unwrap_or_default();
        assert!(
            out.status.success(),
            "curl {path}: {all}{}",
            text(&out.stderr)
        );
        (status.to_string(), body.to_string())
    };
    let (status, body) = anonymous("/api/v1/namespaces/kube-public/configmaps/cluster-info");
    assert_eq!(status, "200", "{body}");
    let (status, body) = anonymous("/api/v1/namespaces/kube-system/configmaps/kubeadm-config");
    assert!(
        status == "403" && body.contains("system:anonymous"),
        "{status} {body}"
    );
}

/// cluster-info's `jws-kubeconfig-<id>` keys, as the bootstrap signer keeps them.
fn jws_keys(admin: &Kubectl) -> Result<Vec<String>, String> {
    let info = admin.json(&["get", "configmap", "cluster-info", "-n", "kube-public"])?;
    Ok(info["data"]
        .as_object()
        .map(|d| {
            d.keys()
                .filter_map(|k| k.strip_prefix("jws-kubeconfig-").map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// Waits until the bootstrap signer has (or, `signed` false, no longer has) token `id`'s JWS.
fn wait_jws(admin: &Kubectl, pods: &StaticPods, id: &str, signed: bool) {
    let what = if signed {
        format!("the bootstrap signer signs cluster-info for token {id}")
    } else {
        format!("the bootstrap signer drops token {id}'s signature from cluster-info")
    };
    wait(
        &what,
        Duration::from_secs(30),
        || pods.tail("kube-controller-manager", 40),
        || {
            let keys = jws_keys(admin)?;
            if keys.iter().any(|k| k == id) == signed {
                Ok(())
            } else {
                Err(format!("jws keys: {keys:?}"))
            }
        },
    );
}

/// A JoinConfiguration file in `host`'s root, outside what kinit touches.
fn join_config(host: &Host, file: &str, discovery: &str, timeouts: &str) -> String {
    let path = host.path(&format!("/{file}"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
{discovery}nodeRegistration:
  name: {name}
timeouts:
{timeouts}",
            name = host.name
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// `kinit join` on `host` with the config at `config`, past the checks these hosts cannot meet.
fn kinit_join(host: &Host, config: &str) -> std::process::Output {
    host.kinit(&[
        "join",
        "--config",
        config,
        "--ignore-preflight-errors",
        UNMET_PREFLIGHT,
    ])
}

/// `host`'s /join.yaml for a join with `token` pinned to `hash`, with the test's join timeouts.
fn token_join_config(host: &Host, token: &str, hash: &str) -> String {
    join_config(
        host,
        "join.yaml",
        &token_discovery(token, hash),
        JOIN_TIMEOUTS,
    )
}

fn token_discovery(token: &str, hash: &str) -> String {
    format!(
        "  bootstrapToken:
    token: {token}
    apiServerEndpoint: {ENDPOINT}
    caCertHashes: [\"{hash}\"]
"
    )
}

/// A join on an empty scratch root of `host` that must fail, with `expect` in its output; the
/// root stays empty.
fn join_fails(host: &Host, config: &str, expect: &str, pods: &StaticPods) -> String {
    let scratch = host.path("/scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let started = Instant::now();
    let out = host
        .command(env!("CARGO_BIN_EXE_kinit"))
        .args([
            "join",
            "--config",
            config,
            "--ignore-preflight-errors",
            UNMET_PREFLIGHT,
            "--rootfs",
        ])
        .arg(&scratch)
        .output()
        .unwrap();
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "the join succeeded:\n{all}");
    assert!(
        all.contains(expect),
        "expected {expect:?} ({:?}):\n{all}\n{}",
        started.elapsed(),
        pods.tail("kube-apiserver", 20)
    );
    std::fs::remove_dir_all(&scratch).unwrap();
    all
}

/// Bad join input, answered by the real cluster.
fn bad_joins(w1: &Host, admin: &Kubectl, pods: &StaticPods, token: &str, hash: &str) {
    let fast = "  discovery: 2s\n  kubernetesAPICall: 10s\n  tlsBootstrap: 10s\n";
    let (id, _) = token.split_once('.').unwrap();
    // A pin that is not the cluster CA's: the real cluster-info's CA hash is named.
    let wrong_pin = format!("sha256:{}", "0".repeat(64));
    let config = join_config(
        w1,
        "bad-pin.yaml",
        &token_discovery(token, &wrong_pin),
        fast,
    );
    join_fails(
        w1,
        &config,
        &format!("the cluster CA's public key hash is {hash}, which matches none"),
        pods,
    );
    // A token the cluster does not know: the real signer made no JWS for it.
    let config = join_config(
        w1,
        "bad-id.yaml",
        &token_discovery("zzzzzz.0123456789abcdef", hash),
        fast,
    );
    join_fails(
        w1,
        &config,
        "token zzzzzz is not valid or has expired",
        pods,
    );
    // The right id, a wrong secret: the real signer's JWS does not verify with it.
    let wrong_secret = format!("{id}.{}", "0".repeat(16));
    let config = join_config(
        w1,
        "bad-secret.yaml",
        &token_discovery(&wrong_secret, hash),
        fast,
    );
    join_fails(
        w1,
        &config,
        &format!("the JWS signature of cluster-info does not match token {id}"),
        pods,
    );
    // Discovery by file needs no token; a wrong TLS bootstrap token then meets the real API
    // server's authentication when the join reads the cluster's configuration with it.
    let info = admin
        .json(&["get", "configmap", "cluster-info", "-n", "kube-public"])
        .unwrap();
    let file = w1.path("/discovery.conf");
    std::fs::write(&file, info["data"]["kubeconfig"].as_str().unwrap()).unwrap();
    let config = join_config(
        w1,
        "bad-tls-token.yaml",
        &format!(
            "  file:\n    kubeConfigPath: {}\n  tlsBootstrapToken: {wrong_secret}\n",
            file.display()
        ),
        fast,
    );
    join_fails(w1, &config, "Unauthorized (401 Unauthorized)", pods);
}

/// w1 joins with init's token and CA pin; the real controller manager signs its kubelet's CSR.
fn worker_joins(
    w1: &Host,
    cp1: &Host,
    admin: &Kubectl,
    pods: &StaticPods,
    token: &str,
    hash: &str,
) {
    let config = token_join_config(w1, token, hash);
    let (out, kubelet) = beside_the_kubelet(
        |ended| bootstrap_kubelet(w1, ended, pods),
        || kinit_join(w1, &config),
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "kinit join on w1 failed:\n{stdout}{}\nthe played kubelet: {:?}\n{}",
        text(&out.stderr),
        kubelet.as_ref().err(),
        pods.tail("kube-controller-manager", 30)
    );
    let (csr_name, bootstrap) = kubelet.unwrap_or_else(|e| panic!("{e}\n{stdout}"));
    for line in [
        "[discovery] Cluster info signature and contents are valid and TLS certificate validates against pinned roots",
        "[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap",
        "This node has joined the cluster:",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    assert_eq!(bootstrap["users"][0]["user"]["token"], token);
    assert_eq!(
        bootstrap["clusters"][0]["cluster"]["server"],
        format!("https://{ENDPOINT}")
    );
    assert!(!w1.path("/etc/kubernetes/bootstrap-kubelet.conf").exists());
    // The real controller manager approved the CSR (its auto-approver, through kinit's binding)
    // and signed it with the cluster CA from kinit's manifest flags.
    let csr = admin.json(&["get", "csr", &csr_name]).unwrap();
    let conditions = csr["status"]["conditions"].to_string();
    assert!(
        conditions.contains("\"type\":\"Approved\"") && conditions.contains("AutoApproved"),
        "{csr}"
    );
    assert_eq!(
        csr["spec"]["username"],
        format!("system:bootstrap:{}", token.split('.').next().unwrap())
    );
    let pem = std::fs::read(w1.path("/var/lib/kubelet/pki/kubelet-client-current.pem")).unwrap();
    let issued = openssl::x509::X509::from_pem(&pem).unwrap();
    let ca = openssl::x509::X509::from_pem(
        &std::fs::read(cp1.path("/etc/kubernetes/pki/ca.crt")).unwrap(),
    )
    .unwrap();
    assert!(
        issued.verify(&ca.public_key().unwrap()).unwrap(),
        "signed by the cluster CA"
    );
    assert_eq!(
        std::fs::read(w1.path("/etc/kubernetes/pki/ca.crt")).unwrap(),
        ca.to_pem().unwrap()
    );
    // kubelet.conf is system:node:w1 to the real API server, which lets it register its Node
    // (NodeRestriction: its own only) and read it back.
    let kubelet = Kubectl::new(w1, "/etc/kubernetes/kubelet.conf");
    let whoami = kubelet.json(&["auth", "whoami"]).unwrap();
    assert_eq!(
        whoami["status"]["userInfo"]["username"], "system:node:w1",
        "{whoami}"
    );
    assert!(
        whoami["status"]["userInfo"]["groups"]
            .to_string()
            .contains("system:nodes"),
        "{whoami}"
    );
    let node = w1.path("/node.json");
    std::fs::write(&node, node_object("w1", &w1.address).to_string()).unwrap();
    kubelet
        .try_ok(&["create", "--validate=false", "-f", node.to_str().unwrap()])
        .unwrap();
    let got = kubelet.json(&["get", "node", "w1"]).unwrap();
    assert_eq!(got["metadata"]["name"], "w1");
    std::fs::write(&node, node_object("w2", "198.51.100.3").to_string()).unwrap();
    let refused = kubelet
        .try_ok(&["create", "--validate=false", "-f", node.to_str().unwrap()])
        .unwrap_err();
    assert!(refused.contains("Forbidden"), "{refused}");
    // The kubelet's configuration is the cluster's, with this node's runtime endpoint added (as
    // kubeadm adds it since 1.27).
    let kubelet_config = admin
        .json(&["get", "configmap", "kubelet-config", "-n", "kube-system"])
        .unwrap();
    let stored = kinit_phases::domain::config::yaml::parse_documents(
        kubelet_config["data"]["kubelet"].as_str().unwrap(),
    )
    .unwrap()
    .remove(0)
    .value;
    let mut local = yaml(&w1.path("/var/lib/kubelet/config.yaml"));
    assert_eq!(
        local["containerRuntimeEndpoint"],
        "unix:///var/run/containerd/containerd.sock"
    );
    local
        .as_object_mut()
        .unwrap()
        .remove("containerRuntimeEndpoint");
    assert_eq!(local, stored);
}

/// w2 joins with the real kubeadm, with the same token, pin and timeouts as w1's kinit join, its
/// kubelet played the same way; then what each join left on its node is compared, fact by fact,
/// as the kubeadm oracle compares init's files (tests/oracle): bootstrap-kubelet.conf as the
/// kubelet saw it, the CA, config.yaml, kubeadm-flags.env, instance-config.yaml. The files the
/// played kubelet wrote (kubelet.conf, its client certificate) are left out, and each node's name
/// and address read as `<node>` and `<address>`.
fn kubeadm_joins_beside(w1: &Host, w2: &Host, pods: &StaticPods, token: &str, hash: &str) {
    let config = token_join_config(w2, token, hash);
    let (out, kubelet) = beside_the_kubelet(
        |ended| bootstrap_kubelet(w2, ended, pods),
        || {
            w2.ns
                .command(real_tool("kubeadm"))
                .args(["join", "--config", "/join.yaml", "--rootfs"])
                .arg(w2.root())
                .arg("--ignore-preflight-errors=all")
                .output()
                .unwrap()
        },
    );
    assert!(
        out.status.success(),
        "kubeadm join on w2 ({config}) failed:\n{}{}\nthe played kubelet: {:?}",
        text(&out.stdout),
        text(&out.stderr),
        kubelet.as_ref().err()
    );
    let facts = |host: &Host| -> oracle::facts::Facts {
        let tree = tempfile::tempdir().unwrap();
        for folder in ["etc/kubernetes", "var/lib/kubelet"] {
            let target = tree.path().join(folder);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            let copied = std::process::Command::new("cp")
                .arg("-a")
                .arg(host.root().join(folder))
                .arg(&target)
                .status()
                .unwrap();
            assert!(copied.success());
        }
        let _ = std::fs::remove_file(tree.path().join("etc/kubernetes/kubelet.conf"));
        let _ = std::fs::remove_dir_all(tree.path().join("var/lib/kubelet/pki"));
        let seen = tree.path().join("etc/kubernetes/bootstrap-kubelet.conf");
        std::process::Command::new("cp")
            .arg("-p")
            .arg(seen_copy(host))
            .arg(&seen)
            .status()
            .unwrap();
        let hide = |text: &str| {
            text.replace(&host.address, "<address>")
                .replace(&host.name, "<node>")
        };
        tree_facts(tree.path(), "/etc/kubernetes/pki")
            .into_iter()
            .map(|(key, value)| (hide(&key), hide(&value)))
            .collect()
    };
    let (kubeadm, kinit) = (facts(w2), facts(w1));
    for file in [
        "etc/kubernetes/bootstrap-kubelet.conf: mode",
        "etc/kubernetes/bootstrap-kubelet.conf: users{name=tls-bootstrap-token-user}.user.token",
        "<pki>/ca.crt: subject",
        "var/lib/kubelet/config.yaml: mode",
        "var/lib/kubelet/kubeadm-flags.env: mode",
        "var/lib/kubelet/instance-config.yaml: mode",
    ] {
        assert!(
            kubeadm.contains_key(file),
            "kubeadm's join wrote no {file}: {kubeadm:#?}"
        );
    }
    let comparison = compare("worker join", &kubeadm, &kinit, &listed_differences());
    let table = report(std::slice::from_ref(&comparison), &listed_differences());
    println!("kubeadm vs kinit, files of a worker join:\n{table}");
    assert!(comparison.compared > 60, "{table}");
    assert!(comparison.unlisted().is_empty(), "{table}");
}

/// The real controllers and scheduler act on the add-ons kinit applied: the DaemonSet controller
/// makes a kube-proxy Pod for each Node and the scheduler places it there; the Deployment's
/// ReplicaSet makes CoreDNS's two Pods and the scheduler decides about each (no Node is Ready, so
/// it may well find no place: either answer is the scheduler's). Each Pod is made with the
/// controller's service-account token, which the API server verifies with kinit's sa.pub.
fn controllers_act_on_addons(admin: &Kubectl, pods: &StaticPods) {
    let logs = || {
        let events = admin
            .try_ok(&["get", "events", "-n", "kube-system"])
            .unwrap_or_else(|e| e);
        let workloads = admin
            .try_ok(&[
                "get",
                "daemonsets,deployments,replicasets,pods",
                "-n",
                "kube-system",
                "-o",
                "wide",
            ])
            .unwrap_or_else(|e| e);
        format!(
            "--- kube-system events ---\n{events}\n--- kube-system workloads ---\n{workloads}\n{}{}",
            pods.tail("kube-controller-manager", 30),
            pods.tail("kube-scheduler", 30)
        )
    };
    let pods_of = |label: &str| -> Result<Vec<Value>, String> {
        let list = admin.json(&["get", "pods", "-n", "kube-system", "-l", label])?;
        Ok(list["items"].as_array().cloned().unwrap_or_default())
    };
    wait(
        "a kube-proxy Pod on cp1 and on w1, made by the DaemonSet controller and placed by the scheduler",
        Duration::from_secs(40),
        logs,
        || {
            let mut nodes: Vec<String> = pods_of("k8s-app=kube-proxy")?
                .iter()
                .filter_map(|p| p["spec"]["nodeName"].as_str().map(str::to_string))
                .collect();
            nodes.sort();
            if nodes == ["cp1", "w1"] {
                Ok(())
            } else {
                Err(format!("kube-proxy Pods placed on {nodes:?}"))
            }
        },
    );
    wait(
        "two CoreDNS Pods, each placed or found unschedulable by the scheduler",
        Duration::from_secs(40),
        logs,
        || {
            let dns = pods_of("k8s-app=kube-dns")?;
            let decided = dns
                .iter()
                .filter(|p| {
                    p["spec"]["nodeName"].is_string()
                        || p["status"]["conditions"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|c| c["type"] == "PodScheduled" && c["reason"] == "Unschedulable")
                })
                .count();
            if dns.len() == 2 && decided == 2 {
                Ok(())
            } else {
                Err(format!("{} CoreDNS Pods, {decided} decided", dns.len()))
            }
        },
    );
}

/// `kinit token create/list/delete` against the real server; the real token cleaner deletes a
/// token whose TTL ran out, and the real bootstrap signer follows each change.
/// The certificate a TLS server in `host` presents at `address`, read with the openssl CLI.
fn served_certificate(host: &Host, address: &str) -> Result<openssl::x509::X509, String> {
    let out = host
        .command("openssl")
        .args(["s_client", "-connect", address])
        .output()
        .unwrap();
    openssl::x509::X509::from_pem(&out.stdout).map_err(|e| {
        format!(
            "no certificate from {address}: {e}\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

/// Seconds from now until `cert` expires.
fn seconds_left(cert: &openssl::x509::X509) -> i64 {
    let diff = openssl::asn1::Asn1Time::days_from_now(0)
        .unwrap()
        .diff(cert.not_after())
        .unwrap();
    i64::from(diff.days) * 86_400 + i64::from(diff.secs)
}

/// `kinit certs renew all` on cp1, then a restart of its control plane, as kubeadm tells people to
/// do: the real API server and etcd then serve the renewed certificates, `check-expiration` says
/// when they expire, and the renewed admin.conf works.
fn certs_renewed_and_served(cp1: &Host, pods: &StaticPods) {
    let file = |name: &str| {
        openssl::x509::X509::from_pem(&std::fs::read(cp1.path(name)).unwrap()).unwrap()
    };
    let apiserver = format!("{}:6443", cp1.address);
    let etcd = format!("{}:2379", cp1.address);
    let before = served_certificate(cp1, &apiserver).unwrap();
    assert_eq!(
        before.to_der().unwrap(),
        file("/etc/kubernetes/pki/apiserver.crt").to_der().unwrap()
    );
    // A second apart, so the renewed certificates start later than the first ones.
    std::thread::sleep(Duration::from_millis(1100));
    let config = cp1_config(cp1);
    let out = cp1.kinit(&["certs", "renew", "all", "--config", &config]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let renewed = file("/etc/kubernetes/pki/apiserver.crt");
    assert_ne!(
        renewed.serial_number().to_bn().unwrap(),
        before.serial_number().to_bn().unwrap()
    );
    // kube-apiserver reloads its serving pair from the files by itself; the restart kubeadm asks
    // for is what the others need (etcd's server and peer pairs, the kubeconfigs of the
    // controller manager and the scheduler).
    pods.restart(&COMPONENTS);
    wait(
        "the restarted API server serves the renewed certificate",
        Duration::from_secs(40),
        || pods.tail("kube-apiserver", 30),
        || {
            let served = served_certificate(cp1, &apiserver)?;
            if served.to_der().unwrap() == renewed.to_der().unwrap() {
                Ok(())
            } else {
                Err(format!(
                    "served serial {:?}",
                    served.serial_number().to_bn().unwrap()
                ))
            }
        },
    );
    assert_eq!(
        served_certificate(cp1, &etcd).unwrap().to_der().unwrap(),
        file("/etc/kubernetes/pki/etcd/server.crt")
            .to_der()
            .unwrap(),
        "etcd serves its renewed certificate"
    );
    let out = cp1.kinit(&["certs", "check-expiration", "-o", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)));
    let entry = report["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "apiserver")
        .unwrap_or_else(|| panic!("no apiserver in {report}"))
        .clone();
    let residual = entry["residualSeconds"].as_i64().unwrap();
    assert!(
        (residual - seconds_left(&renewed)).abs() < 60,
        "check-expiration says {residual} s, the served certificate {} s",
        seconds_left(&renewed)
    );
    let admin = Kubectl::new(cp1, "/etc/kubernetes/admin.conf");
    wait(
        "the renewed admin.conf reads the cluster",
        Duration::from_secs(30),
        || pods.tail("kube-apiserver", 20),
        || admin.try_ok(&["get", "nodes"]).map(|_| ()),
    );
}

fn tokens(cp1: &Host, w1: &Host, admin: &Kubectl, pods: &StaticPods, hash: &str) {
    let kinit = |args: &[&str]| {
        let out = cp1.kinit(args);
        assert!(
            out.status.success(),
            "kinit {args:?}:\n{}{}\n{}",
            text(&out.stdout),
            text(&out.stderr),
            pods.tail("kube-apiserver", 20)
        );
        text(&out.stdout)
    };
    let created = kinit(&["token", "create", "--description", "real tier"]);
    let token = created.trim().to_string();
    let (id, _) = token
        .split_once('.')
        .unwrap_or_else(|| panic!("not a token: {created}"));
    let secret = admin
        .json(&[
            "get",
            "secret",
            &format!("bootstrap-token-{id}"),
            "-n",
            "kube-system",
        ])
        .unwrap();
    assert_eq!(secret["type"], "bootstrap.kubernetes.io/token", "{secret}");
    let listed = kinit(&["token", "list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&token) && l.contains("real tier")),
        "{listed}"
    );
    wait_jws(admin, pods, id, true);
    let deleted = kinit(&["token", "delete", id]);
    assert!(
        deleted.contains(&format!("bootstrap token \"{id}\" deleted")),
        "{deleted}"
    );
    let gone = admin
        .try_ok(&[
            "get",
            "secret",
            &format!("bootstrap-token-{id}"),
            "-n",
            "kube-system",
        ])
        .unwrap_err();
    assert!(gone.contains("NotFound"), "{gone}");
    wait_jws(admin, pods, id, false);
    assert!(!kinit(&["token", "list"]).contains(&token));

    // A token that expires: the real token cleaner deletes its Secret.
    let short = "short1.0123456789abcdef";
    kinit(&["token", "create", short, "--ttl", "3s"]);
    let secret_name = "bootstrap-token-short1";
    admin
        .json(&["get", "secret", secret_name, "-n", "kube-system"])
        .expect("the short-lived token's Secret");
    wait(
        "the token cleaner deletes the expired token short1",
        Duration::from_secs(40),
        || pods.tail("kube-controller-manager", 40),
        || match admin.try_ok(&["get", "secret", secret_name, "-n", "kube-system"]) {
            Err(e) if e.contains("NotFound") => Ok(()),
            Err(e) => Err(e),
            Ok(_) => Err("the Secret is still there".into()),
        },
    );
    wait_jws(admin, pods, "short1", false);
    let config = join_config(
        w1,
        "expired.yaml",
        &token_discovery(short, hash),
        "  discovery: 2s\n  kubernetesAPICall: 10s\n",
    );
    join_fails(
        w1,
        &config,
        "token short1 is not valid or has expired",
        pods,
    );
}

#[test]
fn needs_root_real_control_plane_init_join_tokens() {
    if !have_root() {
        return;
    }
    let began = Instant::now();
    let network = Network::new("real", &["cp1", "w1", "w2", "cp2"]);
    let (cp1, w1, w2, cp2) = (
        network.host("cp1"),
        network.host("w1"),
        network.host("w2"),
        network.host("cp2"),
    );
    // Declared after the network: dropped first, so the programs stop before their namespace goes.
    let pods = StaticPods::watch(cp1);

    let init = init_cp1(cp1, &pods);
    eprintln!("init done: {:.1} s", began.elapsed().as_secs_f64());
    for component in COMPONENTS {
        assert!(
            pods.running(component),
            "{component} is not running\n{}",
            pods.tail(component, 40)
        );
    }
    let token = init["join"]["token"]
        .as_str()
        .expect("init's token")
        .to_string();
    let hash = init["join"]["caCertHashes"][0]
        .as_str()
        .expect("init's CA hash")
        .to_string();
    let id = token.split('.').next().unwrap().to_string();
    let admin = Kubectl::new(cp1, "/etc/kubernetes/admin.conf");

    objects_exist(&admin, &id, &pods);
    stored_objects::stored_objects_are_kubeadms(cp1, &admin, &id);
    rbac_answers(cp1, &admin, &id);
    wait_jws(&admin, &pods, &id, true);
    eprintln!("cluster checked: {:.1} s", began.elapsed().as_secs_f64());

    bad_joins(w1, &admin, &pods, &token, &hash);
    eprintln!("bad joins: {:.1} s", began.elapsed().as_secs_f64());
    worker_joins(w1, cp1, &admin, &pods, &token, &hash);
    eprintln!("w1 joined: {:.1} s", began.elapsed().as_secs_f64());
    kubeadm_joins_beside(w1, w2, &pods, &token, &hash);
    eprintln!(
        "w2 joined with kubeadm: {:.1} s",
        began.elapsed().as_secs_f64()
    );
    controllers_act_on_addons(&admin, &pods);
    eprintln!("add-ons acted on: {:.1} s", began.elapsed().as_secs_f64());
    addons_run::coredns_answers(cp1, w1, &admin);
    eprintln!("CoreDNS answered: {:.1} s", began.elapsed().as_secs_f64());
    let (mut kube_proxy, _kube_proxy_files) = addons_run::kube_proxy_programs(cp1, w1, &admin);
    eprintln!(
        "kube-proxy programmed w1: {:.1} s",
        began.elapsed().as_secs_f64()
    );
    let certificate_key = init["join"]["certificateKey"]
        .as_str()
        .expect("init's certificate key (--upload-certs)");
    let cp2_pods = control_plane_join::second_control_plane_joins(
        cp1,
        cp2,
        &pods,
        &token,
        &hash,
        certificate_key,
    );
    eprintln!(
        "cp2 joined as a control plane: {:.1} s",
        began.elapsed().as_secs_f64()
    );
    control_plane_join::second_control_plane_resets(cp1, cp2, &cp2_pods);
    drop(cp2_pods);
    eprintln!("cp2 reset: {:.1} s", began.elapsed().as_secs_f64());
    tokens(cp1, w1, &admin, &pods, &hash);
    eprintln!("tokens: {:.1} s", began.elapsed().as_secs_f64());
    assert!(pods.errors().is_empty(), "{}", pods.tails(20));
    // Nothing crashed on the way: each component ran once.
    for component in COMPONENTS {
        assert_eq!(pods.starts(component), 1, "{}", pods.tail(component, 60));
    }
    certs_renewed_and_served(cp1, &pods);
    eprintln!(
        "certificates renewed and served: {:.1} s",
        began.elapsed().as_secs_f64()
    );

    // `kinit reset` on both: cp1's static Pods go, and with them its control plane.
    // As a reset stops the kubelet and with it the kube-proxy Pod, before cleaning up after it.
    kube_proxy.stop();
    for host in [w1, cp1] {
        link_packet_filter_tools(host);
    }
    for host in [w1, cp1] {
        let out = host.kinit(&["reset", "-f"]);
        assert!(
            out.status.success(),
            "kinit reset -f on {}:\n{}{}\n{}",
            host.name,
            text(&out.stdout),
            text(&out.stderr),
            pods.tails(20)
        );
        assert!(!host.path("/etc/kubernetes/kubelet.conf").exists());
        // Nothing kube-proxy programmed is left, in any table, and reset looked again to say so.
        let rules = host.ns.must(&["iptables-save"]);
        assert!(!rules.contains("KUBE-"), "{}: {rules}", host.name);
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains(
                "[reset] Checked: nothing that cleanup-node removes is left on this node"
            ),
            "{stdout}"
        );
        if host.name == "w1" {
            assert!(
                stdout.contains("KUBE-SERVICES"),
                "the chains it removed: {stdout}"
            );
        }
        if host.name == "cp1" {
            // It asked the real etcd for its members before leaving the data alone.
            let stdout = text(&out.stdout);
            assert!(
                stdout.contains("The etcd member cp1 is the only member of the etcd cluster"),
                "{stdout}"
            );
        }
    }
    wait(
        "cp1's components stop once reset removed their manifests",
        Duration::from_secs(20),
        || pods.tails(10),
        || {
            let running: Vec<&str> = COMPONENTS.into_iter().filter(|c| pods.running(c)).collect();
            if running.is_empty() {
                Ok(())
            } else {
                Err(format!("still running: {running:?}"))
            }
        },
    );
    eprintln!("reset: {:.1} s", began.elapsed().as_secs_f64());
}

/// w1 joins with the real kubelet instead of a played one (tests/support/real_kubelet.rs): started
/// as kubeadm's drop-in starts it once the join has written its files, it bootstraps its client
/// certificate through the real controller manager and registers its Node itself.
#[test]
fn needs_root_real_kubelet_bootstraps_and_registers_a_worker() {
    if !have_root() {
        return;
    }
    let network = Network::new("kubelet", &["cp1", "w1"]);
    let (cp1, w1) = (network.host("cp1"), network.host("w1"));
    // The kubelet takes its Node's address from the default route, as on any node.
    w1.ns.ip(&["route", "add", "default", "via", &cp1.address]);
    let pods = StaticPods::watch(cp1);
    let init = init_cp1(cp1, &pods);
    let token = init["join"]["token"].as_str().unwrap().to_string();
    let hash = init["join"]["caCertHashes"][0]
        .as_str()
        .unwrap()
        .to_string();
    let admin = Kubectl::new(cp1, "/etc/kubernetes/admin.conf");
    let began = Instant::now();
    wait_jws(&admin, &pods, token.split('.').next().unwrap(), true);
    let config = token_join_config(w1, &token, &hash);
    let (out, kubelet) = beside_the_kubelet(
        // What systemd would do when kubelet-start restarts the kubelet: start it once its
        // files are there.
        |ended| {
            let flags = w1.path("/var/lib/kubelet/kubeadm-flags.env");
            let bootstrap = w1.path("/etc/kubernetes/bootstrap-kubelet.conf");
            while !(flags.exists() && bootstrap.exists()) {
                if ended.load(Ordering::SeqCst) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Some(support::real_kubelet::RealKubelet::start(w1))
        },
        || kinit_join(w1, &config),
    );
    let mut kubelet = kubelet.expect("the join wrote bootstrap-kubelet.conf and kubeadm-flags.env");
    eprintln!(
        "w1 joined with the real kubelet: {:.1} s",
        began.elapsed().as_secs_f64()
    );
    assert!(
        out.status.success(),
        "kinit join on w1 with the real kubelet failed:\n{}{}\n{}{}",
        text(&out.stdout),
        text(&out.stderr),
        kubelet.tails(60),
        pods.tail("kube-controller-manager", 20)
    );
    // The Node is the kubelet's own: its version, its addresses, its heartbeat.
    let mut logs = || kubelet.tails(40);
    wait(
        "the real kubelet registers Node w1 and reports its status",
        Duration::from_secs(60),
        &mut logs,
        || {
            let node = admin.json(&["get", "node", "w1"])?;
            let version = node["status"]["nodeInfo"]["kubeletVersion"].as_str();
            let addresses = node["status"]["addresses"].to_string();
            if version == Some(real_kubernetes_version().as_str())
                && addresses.contains(&w1.address)
            {
                Ok(())
            } else {
                Err(format!("{}", node["status"]))
            }
        },
    );
    eprintln!("Node w1 registered: {:.1} s", began.elapsed().as_secs_f64());
    let whoami = Kubectl::new(w1, "/etc/kubernetes/kubelet.conf")
        .json(&["auth", "whoami"])
        .unwrap();
    assert_eq!(whoami["status"]["userInfo"]["username"], "system:node:w1");
    // Where it stops: it is not Ready, for want of a network plugin (no CNI configuration, and no
    // image could be pulled for one); the real kubelet says so in its Node's Ready condition.
    let node = admin.json(&["get", "node", "w1"]).unwrap();
    let ready = node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .cloned()
        .unwrap_or_default();
    assert_eq!(ready["status"], "False", "{ready}");
    eprintln!("w1's Ready condition: {}", ready["message"]);
    drop(kubelet);
    let out = w1.kinit(&["reset", "-f"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(!w1.path("/etc/kubernetes/kubelet.conf").exists());
}
