//! The add-ons kinit applied, run for real from their ConfigMaps: CoreDNS (built from its module)
//! with the Corefile of the `coredns` ConfigMap answers for cluster names, and kube-proxy with the
//! `kube-proxy` ConfigMap's configuration programs a node's iptables. Each talks to the real API
//! server as its ServiceAccount (a token from the TokenRequest API, as the kubelet would mount).
//! No container: the only changes are the paths of the ServiceAccount's files, which a Pod would
//! find at /var/run/secrets/kubernetes.io/serviceaccount (CoreDNS's `kubeconfig` option stands in
//! for that mount), and kube-proxy's conntrack sizing, which a network namespace may not set.

use super::{wait, Kubectl, ENDPOINT};
use crate::oracle::facts::to_json;
use crate::support::daemon::Daemon;
use crate::support::hosts::Host;
use crate::support::real::real_tool;
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use tempfile::TempDir;

const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// A ConfigMap's value, read back from the real API server.
fn config_map_value(admin: &Kubectl, name: &str, key: &str) -> String {
    let cm = admin
        .json(&["get", "configmap", name, "-n", "kube-system"])
        .unwrap();
    cm["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("ConfigMap {name} has no {key}: {cm}"))
        .to_string()
}

/// What the kubelet would mount for `account`: a fresh token and the cluster CA, in `dir`.
fn service_account_files(admin: &Kubectl, cp1: &Host, account: &str, dir: &Path) {
    let token = admin
        .try_ok(&[
            "create",
            "token",
            account,
            "-n",
            "kube-system",
            "--duration=1h",
        ])
        .unwrap();
    std::fs::write(dir.join("token"), token.trim()).unwrap();
    std::fs::copy(cp1.path("/etc/kubernetes/pki/ca.crt"), dir.join("ca.crt")).unwrap();
}

/// CoreDNS on cp1 from the `coredns` ConfigMap; `dig` on w1 asks it for the `kubernetes` and
/// `kube-dns` Services and a name that does not exist.
pub fn coredns_answers(cp1: &Host, w1: &Host, admin: &Kubectl) {
    let dir = tempfile::tempdir().unwrap();
    service_account_files(admin, cp1, "coredns", dir.path());
    let kubeconfig = dir.path().join("coredns.kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://{ENDPOINT}\n    \
             certificate-authority: {ca}\nusers:\n- name: coredns\n  user:\n    tokenFile: {token}\n\
             contexts:\n- name: c\n  context: {{cluster: c, user: coredns}}\ncurrent-context: c\n",
            ca = dir.path().join("ca.crt").display(),
            token = dir.path().join("token").display(),
        ),
    )
    .unwrap();
    let corefile = config_map_value(admin, "coredns", "Corefile");
    let plugin = "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n";
    assert!(corefile.contains(plugin), "{corefile}");
    let corefile = corefile.replacen(
        plugin,
        &format!("{plugin}       kubeconfig {} c\n", kubeconfig.display()),
        1,
    );
    let conf = dir.path().join("Corefile");
    std::fs::write(&conf, &corefile).unwrap();
    let mut coredns = Daemon::start(
        cp1,
        "coredns",
        real_tool("coredns"),
        &["-conf".into(), conf.display().to_string()],
    );
    let dig = |name: &str, kind: &str| -> Result<String, String> {
        let out = w1
            .command("dig")
            .args([
                "+short",
                "+time=1",
                "+tries=1",
                &format!("@{}", cp1.address),
                name,
                kind,
            ])
            .output()
            .map_err(|e| format!("dig (dnsutils): {e}"))?;
        let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !answer.is_empty() && !answer.starts_with(";;") {
            Ok(answer)
        } else {
            Err(format!(
                "dig {name}: {answer}{}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    let mut logs = || coredns.tail(30);
    let mut answer = String::new();
    wait(
        "CoreDNS answers kubernetes.default.svc.cluster.local from w1",
        Duration::from_secs(30),
        &mut logs,
        || {
            answer = dig("kubernetes.default.svc.cluster.local", "A")?;
            Ok(())
        },
    );
    assert_eq!(answer, "10.96.0.1", "the kubernetes Service's ClusterIP");
    assert_eq!(
        dig("kube-dns.kube-system.svc.cluster.local", "A").unwrap(),
        "10.96.0.10"
    );
    assert_eq!(
        dig("_https._tcp.kubernetes.default.svc.cluster.local", "SRV").unwrap(),
        "0 100 443 kubernetes.default.svc.cluster.local."
    );
    let missing = w1
        .command("dig")
        .args([
            &format!("@{}", cp1.address),
            "nothing.default.svc.cluster.local",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&missing.stdout).contains("status: NXDOMAIN"),
        "{}",
        String::from_utf8_lossy(&missing.stdout)
    );
    let tail = coredns.tail(200);
    assert!(!tail.contains("[ERROR]"), "{tail}");
}

/// kube-proxy on w1 from the `kube-proxy` ConfigMap, in iptables mode inside w1's namespace, until
/// the `kubernetes` Service is in its rules. Returned still running, with the folder of its files,
/// for the caller to stop before `kinit reset`.
pub fn kube_proxy_programs(cp1: &Host, w1: &Host, admin: &Kubectl) -> (Daemon, TempDir) {
    let files = tempfile::tempdir().unwrap();
    let dir = files.path().to_path_buf();
    service_account_files(admin, cp1, "kube-proxy", &dir);
    let kubeconfig = config_map_value(admin, "kube-proxy", "kubeconfig.conf");
    assert!(kubeconfig.contains(SERVICE_ACCOUNT_DIR), "{kubeconfig}");
    let kubeconfig_path = dir.join("kubeconfig.conf");
    std::fs::write(
        &kubeconfig_path,
        kubeconfig.replace(SERVICE_ACCOUNT_DIR, &dir.display().to_string()),
    )
    .unwrap();
    let config = config_map_value(admin, "kube-proxy", "config.conf");
    let docs = yaml_rust2::YamlLoader::load_from_str(&config).unwrap();
    let mut config = to_json(&docs[0]);
    assert_eq!(
        config["clientConnection"]["kubeconfig"], "/var/lib/kube-proxy/kubeconfig.conf",
        "{config}"
    );
    config["clientConnection"]["kubeconfig"] = json!(kubeconfig_path);
    // The one setting changed: kube-proxy would raise the machine's nf_conntrack_max, which only
    // the first network namespace may write (kind sets the same for the same reason).
    config["conntrack"]["maxPerCore"] = json!(0);
    let config_path = dir.join("config.conf");
    std::fs::write(&config_path, config.to_string()).unwrap();
    // The DaemonSet's command, with the Pod's NODE_NAME.
    let mut proxy = Daemon::start(
        w1,
        "kube-proxy",
        real_tool("kube-proxy"),
        &[
            format!("--config={}", config_path.display()),
            format!("--hostname-override={}", w1.name),
        ],
    );
    let rule = "-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment \"default/kubernetes:https cluster IP\"";
    let mut logs = || proxy.tail(40);
    wait(
        "kube-proxy programs the kubernetes Service into w1's iptables",
        Duration::from_secs(40),
        &mut logs,
        || {
            let nat = w1.ns.must(&["iptables-save", "-t", "nat"]);
            if nat.contains(rule) {
                Ok(())
            } else {
                Err(format!("no {rule} in\n{nat}"))
            }
        },
    );
    (proxy, files)
}
