//! `kinit upgrade` on real programs of two minors: a cluster made by `kinit init` at the v1.33
//! patch of kinit's version table runs its control plane from the v1.33 programs (built by
//! scripts/test-tools.sh beside the v1.34 ones); `kinit upgrade plan` is compared with the real
//! `kubeadm upgrade plan` on the same cluster; a broken kube-apiserver is rolled back; then
//! `kinit upgrade apply` moves it to v1.34 and the test checks that each component runs the new
//! program, the API server kept its objects, certificates were renewed and kubeadm-config says so.
//!
//! The kubelet is played as the real tier plays it (tests/support/static_pods.rs and
//! played_kubelet.rs): processes started from the manifests, mirror Pods made again with the new
//! hash when a manifest changes, and a Node whose status says Ready and its kubelet's version.

mod common;
use common::{have_root, kinit_result, text};
use kinit_test_support as support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::containerd::Containerd;
use support::hosts::{Host, Network};
use support::kubectl::Kubectl;
use support::played_kubelet::{
    bootstrap_kubelet, create_mirror_pods, follow_mirror_pods, node_object,
};
use support::real::{previous_real_bin, real_bin, real_kubernetes_version};
use support::static_pods::StaticPods;
use support::upgrade::{
    beside_mirror_pods, cluster_at, kubeadm_on_node, node_reports_as, previous_version,
    UNMET_PREFLIGHT,
};

/// The upgrade's host check that a test host's root cannot pass (it has no /proc and no kernel
/// configuration), as UNMET_PREFLIGHT for init and join.
const HOST_CHECKS: &str = "SystemVerification";

const COMPONENTS: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// `kubeadm upgrade plan <target>` of the v1.34 build, run on cp1 as on the node itself.
fn kubeadm_plan(cp1: &Host, target: &str) -> String {
    let out = kubeadm_on_node(cp1, &["upgrade", "plan", target]);
    assert!(
        out.status.success(),
        "kubeadm upgrade plan: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The part of a plan's text both tools print alike: from the versions found on, with the tool's
/// name made the same.
fn tables(plan: &str) -> String {
    let start = plan
        .find("[upgrade/versions] Cluster version")
        .unwrap_or_else(|| panic!("no versions in:\n{plan}"));
    plan[start..].replace("kubeadm upgrade apply", "kinit upgrade apply")
}

fn serial(cp1: &Host, file: &str) -> String {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(cp1.path(file))
        .output()
        .unwrap();
    text(&out.stdout)
}

fn wait_until(what: &str, limit: Duration, logs: impl Fn() -> String, ok: impl Fn() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < limit,
            "{what}: not after {limit:?}\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Whether every component runs the program of the folder `dir`.
fn all_run_from(pods: &StaticPods, dir: &Path) -> Result<(), String> {
    for component in COMPONENTS {
        match pods.program(component) {
            Some(program) if program.starts_with(dir) => {}
            other => return Err(format!("{component} runs {other:?}")),
        }
    }
    Ok(())
}

/// A new token and the CA pin, from `kinit token create --print-join-command` on cp1.
fn join_token(cp1: &Host) -> (String, String) {
    let out = cp1.kinit(&["token", "create", "--print-join-command"]);
    let command = text(&out.stdout);
    assert!(out.status.success(), "{command}{}", text(&out.stderr));
    let word_after = |flag: &str| {
        let words: Vec<&str> = command.split_whitespace().collect();
        let at = words.iter().position(|w| *w == flag).unwrap();
        words[at + 1].to_string()
    };
    (
        word_after("--token"),
        word_after("--discovery-token-ca-cert-hash"),
    )
}

/// The Node the played kubelet registers for `host`, created with its kubelet.conf.
fn register_node(host: &Host) -> Result<String, String> {
    let node = host.path("/node.json");
    std::fs::write(&node, node_object(&host.name, &host.address).to_string()).unwrap();
    Kubectl::new(host, "/etc/kubernetes/kubelet.conf").try_ok(&[
        "create",
        "--validate=false",
        "-f",
        node.to_str().unwrap(),
    ])
}

/// `kinit <args>` (a join) on `host` while its kubelet is played beside it: the TLS bootstrap
/// through the real controller manager (`pods` shows its logs), then the Node registered. Both
/// must succeed.
fn join_beside_kubelet(host: &Host, pods: &StaticPods, args: &[&str]) {
    let ended = AtomicBool::new(false);
    let (out, kubelet) = std::thread::scope(|scope| {
        let kubelet = scope.spawn(|| {
            bootstrap_kubelet(host, &ended, pods)?;
            register_node(host)
        });
        let out = host.kinit(args);
        ended.store(true, Ordering::SeqCst);
        (out, kubelet.join().unwrap())
    });
    assert!(
        out.status.success(),
        "kinit {} on {}: {}{}\nthe played kubelet: {kubelet:?}\n{}",
        args.join(" "),
        host.name,
        text(&out.stdout),
        text(&out.stderr),
        pods.tails(30)
    );
    kubelet.unwrap_or_else(|e| panic!("{}'s played kubelet: {e}", host.name));
}

/// cp2 joins as a second control plane at `version`, with the certificates `kinit init phase
/// upload-certs` put in the cluster; its kubelet played as cp1's (TLS bootstrap, Node, mirror Pods
/// of its static Pods, which run from the older programs as cp1's do).
fn control_plane_joins(cp1: &Host, cp2: &Host, admin: &Kubectl, version: &str) -> StaticPods {
    let config = cp1.path("/kinit.yaml");
    let out = cp1.kinit(&[
        "init",
        "phase",
        "upload-certs",
        "--upload-certs",
        "--config",
        config.to_str().unwrap(),
    ]);
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}{}", text(&out.stderr));
    let key = said.lines().last().unwrap_or_default().trim().to_string();
    assert_eq!(key.len(), 64, "no certificate key in:\n{said}");
    let (token, hash) = join_token(cp1);
    let pods = StaticPods::watch(cp2);
    join_beside_kubelet(
        cp2,
        &pods,
        &[
            "join",
            &format!("{}:6443", cp1.address),
            "--token",
            &token,
            "--discovery-token-ca-cert-hash",
            &hash,
            "--control-plane",
            "--certificate-key",
            &key,
            "--apiserver-advertise-address",
            &cp2.address,
            "--node-name",
            "cp2",
            "--ignore-preflight-errors",
            UNMET_PREFLIGHT,
        ],
    );
    create_mirror_pods(cp2, &Kubectl::new(cp2, "/etc/kubernetes/kubelet.conf"))
        .unwrap_or_else(|e| panic!("cp2's mirror Pods: {e}"));
    node_reports_as(admin, "cp2", version);
    // Its kubelet reports the static Pods Running, which an upgrade's waits look for on every node.
    beside_mirror_pods(cp2, &pods, || {
        wait_until(
            "cp2's mirror Pods are Running",
            Duration::from_secs(30),
            || pods.tails(10),
            || {
                admin
                    .json(&[
                        "get",
                        "pods",
                        "-n",
                        "kube-system",
                        "--field-selector=spec.nodeName=cp2",
                        "-l",
                        "tier=control-plane",
                    ])
                    .is_ok_and(|list| {
                        let items = list["items"].as_array().cloned().unwrap_or_default();
                        items.len() == COMPONENTS.len()
                            && items.iter().all(|p| p["status"]["phase"] == "Running")
                    })
            },
        )
    });
    pods
}

/// w1 joins as a worker with a token from `kinit token create`, its kubelet played (TLS
/// bootstrap through the real controller manager, then its Node as the kubelet registers it,
/// Ready at `version`).
fn worker_joins(cp1: &Host, w1: &Host, admin: &Kubectl, pods: &StaticPods, version: &str) {
    let (token, hash) = join_token(cp1);
    let config = w1.path("/join.yaml");
    std::fs::write(
        &config,
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    token: {token}
    apiServerEndpoint: {address}:6443
    caCertHashes: [\"{hash}\"]
nodeRegistration:
  name: w1
timeouts:
  discovery: 30s
  kubernetesAPICall: 10s
  tlsBootstrap: 60s
  kubeletHealthCheck: 30s
",
            address = cp1.address
        ),
    )
    .unwrap();
    join_beside_kubelet(
        w1,
        pods,
        &[
            "join",
            "--config",
            config.to_str().unwrap(),
            "--ignore-preflight-errors",
            UNMET_PREFLIGHT,
        ],
    );
    node_reports_as(admin, "w1", version);
}

/// `kinit <args>` on `host`, killed with SIGKILL once it waits for the kubelet inside
/// `component`'s step; returns what it printed until then.
fn killed_inside(host: &Host, args: &[&str], component: &str) -> String {
    let preparing = format!("[upgrade/staticpods] Preparing for \"{component}\" upgrade");
    let mut inside = false;
    killed_when(host, args, &format!("inside {component}'s step"), |line| {
        inside |= line == preparing;
        inside && line == "[upgrade/staticpods] Waiting for the kubelet to restart the component"
    })
}

/// `kinit <args>` on `host`, killed with SIGKILL at the first line it prints for which `kill_now`
/// says so; returns what it printed until then. `when` names the moment for the failure message.
fn killed_when(
    host: &Host,
    args: &[&str],
    when: &str,
    mut kill_now: impl FnMut(&str) -> bool,
) -> String {
    use std::io::BufRead;
    let mut child = host
        .command(support::kinit_binary())
        .args(args)
        .arg("--rootfs")
        .arg(host.root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (mut said, mut killed) = (String::new(), false);
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        said.push_str(&line);
        said.push('\n');
        if kill_now(&line) {
            child.kill().unwrap();
            killed = true;
            break;
        }
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        killed,
        "the run ended ({status}) before it was {when}:\n{said}{stderr}"
    );
    said
}

/// `kinit <args> -v` on `host` (its lines on standard error), the played kubelet remaking mirror
/// Pods only from the first line that contains `trigger` on: the run finds the kubelet where the
/// last one left it, whatever the timing.
fn run_then_follow(
    host: &Host,
    pods: &StaticPods,
    args: &[&str],
    trigger: &str,
) -> std::process::Output {
    use std::io::{BufRead, Read};
    let mut child = host
        .command(support::kinit_binary())
        .args(args)
        .arg("-v")
        .arg("--rootfs")
        .arg(host.root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let out = scope.spawn(move || {
            let mut bytes = Vec::new();
            stdout.read_to_end(&mut bytes).unwrap();
            bytes
        });
        let mut follower = None;
        let mut said = String::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if follower.is_none() && line.contains(trigger) {
                follower = Some(scope.spawn(|| follow_mirror_pods(host, pods, &stop)));
            }
            said.push_str(&line);
            said.push('\n');
        }
        let status = child.wait().unwrap();
        stop.store(true, Ordering::SeqCst);
        if let Some(follower) = follower {
            follower.join().unwrap();
        }
        std::process::Output {
            status,
            stdout: out.join().unwrap(),
            stderr: said.into_bytes(),
        }
    })
}

/// Once the API server answers, the control-plane kubelets' heartbeat: their Nodes Ready at
/// `version` as of now. Nothing else keeps them Ready (the kubelets are played), and the node
/// lifecycle controller marks a Node NotReady once its heartbeat is older than its grace period,
/// which an upgrade's health check then refuses.
fn api_server_answers(admin: &Kubectl, pods: &StaticPods, version: &str) {
    wait_until(
        "the API server answers",
        Duration::from_secs(60),
        || pods.tail("kube-apiserver", 30),
        || admin.try_ok(&["get", "--raw", "/readyz"]).is_ok(),
    );
    for node in ["cp1", "cp2"] {
        node_reports_as(admin, node, version);
    }
}

/// `host`'s CRI socket is in instance-config.yaml and config.yaml, no longer in kubeadm-flags.env.
fn cri_socket_moved(host: &Host) {
    let read = |file: &str| std::fs::read_to_string(host.path(file)).unwrap_or_default();
    let instance = read("/var/lib/kubelet/instance-config.yaml");
    assert!(
        instance.starts_with("containerRuntimeEndpoint: "),
        "{}: instance-config.yaml: {instance:?}",
        host.name
    );
    let flags = read("/var/lib/kubelet/kubeadm-flags.env");
    assert!(
        flags.starts_with("KUBELET_KUBEADM_ARGS=")
            && !flags.contains("--container-runtime-endpoint"),
        "{}: kubeadm-flags.env: {flags}",
        host.name
    );
    assert!(
        read("/var/lib/kubelet/config.yaml").contains("containerRuntimeEndpoint: "),
        "{}: config.yaml",
        host.name
    );
}

/// The image of the first container of a kube-system Deployment or DaemonSet.
fn addon_image(admin: &Kubectl, kind: &str, name: &str) -> String {
    let object = admin
        .json(&["get", kind, "-n", "kube-system", name])
        .unwrap();
    object["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_else(|| panic!("{object}"))
        .to_string()
}

/// The images of `version`, as the real kubeadm lists them.
fn kubeadms_images(version: &str) -> Vec<String> {
    let out = std::process::Command::new(support::real::real_tool("kubeadm"))
        .args(["config", "images", "list", "--kubernetes-version", version])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(str::to_string).collect()
}

/// The CoreDNS image of `version`, as the real kubeadm lists it.
fn kubeadms_coredns_image(version: &str) -> String {
    kubeadms_images(version)
        .into_iter()
        .find(|l| l.contains("/coredns"))
        .unwrap_or_else(|| panic!("no CoreDNS image for {version}"))
}

/// `host`'s container runtime (Debian's containerd, its socket where the node's kubelet config
/// names it) with the images of `version` in it, as on a node where they were pulled beforehand:
/// the upgrade's prepull asks it through kinit's CRI client and finds them (no registry is
/// reachable here).
fn runtime_with_images(host: &Host, version: &str) -> Containerd {
    let runtime = Containerd::start_in(host.root());
    for image in kubeadms_images(version) {
        runtime.import(&image);
    }
    runtime
}

/// What a kubelet does for the Pods of the upgrade's health-check Jobs, played until `stop`: once
/// a Pod is bound to a Node, it reports it Succeeded. Returns each Job as it was when its Pod ran.
fn complete_health_check_pods(admin: &Kubectl, stop: &AtomicBool) -> Vec<Value> {
    let mut jobs: Vec<Value> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let pods = admin
            .json(&["get", "pods", "-n", "kube-system", "-l", "job-name"])
            .unwrap_or_default();
        for pod in pods["items"].as_array().into_iter().flatten() {
            let job = pod["metadata"]["labels"]["job-name"]
                .as_str()
                .unwrap_or_default();
            if !job.starts_with("upgrade-health-check-")
                || pod["spec"]["nodeName"].is_null()
                || pod["status"]["phase"] == "Succeeded"
            {
                continue;
            }
            if !jobs.iter().any(|j| j["metadata"]["name"] == job) {
                if let Ok(object) = admin.json(&["get", "job", "-n", "kube-system", job]) {
                    jobs.push(object);
                }
            }
            let name = pod["metadata"]["name"].as_str().unwrap();
            let _ = admin.try_ok(&[
                "patch",
                "pod",
                "-n",
                "kube-system",
                name,
                "--subresource=status",
                "--type=merge",
                "-p",
                r#"{"status": {"phase": "Succeeded"}}"#,
            ]);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    jobs
}

/// A Job's spec without what the API server makes up for each Job (its selector and its Pods'
/// labels, which hold the Job's uid).
fn job_spec(job: &Value) -> Value {
    let mut spec = job["spec"].clone();
    spec.as_object_mut().unwrap().remove("selector");
    spec["template"].as_object_mut().unwrap().remove("metadata");
    spec
}

/// kubeadm's CreateJob check once a Node takes Pods (w1 uncordoned): `upgrade apply phase
/// preflight` of kinit and of the real kubeadm each make a Job that the played kubelet runs to
/// completion, and the two Jobs are the same; with nobody to run its Pod, kinit's check fails
/// within its 15 s, naming the Job, and `--ignore-preflight-errors CreateJob` makes that a warning.
fn health_check_jobs(cp1: &Host, admin: &Kubectl, old: &str, new: &str) {
    admin.try_ok(&["uncordon", "w1"]).unwrap();
    let stop = AtomicBool::new(false);
    let (ours, theirs, jobs) = std::thread::scope(|scope| {
        let kubelet = scope.spawn(|| complete_health_check_pods(admin, &stop));
        let ours = cp1.kinit(&[
            "upgrade",
            "apply",
            "phase",
            "preflight",
            new,
            "-y",
            "--ignore-preflight-errors",
            HOST_CHECKS,
        ]);
        let theirs = kubeadm_on_node(
            cp1,
            &[
                "upgrade",
                "apply",
                "phase",
                "preflight",
                new,
                "-y",
                "--ignore-preflight-errors=SystemVerification",
            ],
        );
        stop.store(true, Ordering::SeqCst);
        (ours, theirs, kubelet.join().unwrap())
    });
    let said = format!("{}{}", text(&ours.stdout), text(&ours.stderr));
    assert!(
        ours.status.success(),
        "kinit's preflight:
{said}"
    );
    assert!(
        theirs.status.success(),
        "kubeadm's preflight:
{}{}",
        text(&theirs.stdout),
        text(&theirs.stderr)
    );
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert_eq!(
        job_spec(&jobs[0]),
        job_spec(&jobs[1]),
        "kinit's Job, then kubeadm's"
    );
    let out = cp1.kinit(&[
        "upgrade",
        "apply",
        "phase",
        "preflight",
        new,
        "-y",
        "--ignore-preflight-errors",
        "CreateJob,SystemVerification",
    ]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("[WARNING CreateJob]: Job \"upgrade-health-check-")
            && said.contains("\" in the namespace \"kube-system\" did not complete in 15s: no condition of type Complete"),
        "{said}"
    );
    node_reports_as(admin, "w1", old);
}

/// The prepull asked the runtime and found every image.
fn prepulled(said: &str) {
    assert!(
        said.contains(
            "[upgrade/preflight] Pulling images required for setting up a Kubernetes cluster"
        ),
        "{said}"
    );
    assert!(!said.contains("ImagePull"), "{said}");
}

/// `kinit upgrade node` on the second control plane once cp1 is upgraded: killed (SIGKILL)
/// inside its kube-apiserver's step, then again while its kubelet-config phase moves the CRI
/// socket, then run once more, it finishes: every component runs the newer
/// program, its API server answers at the new version with a renewed certificate, its CRI socket
/// moved; and now that every control plane is upgraded, the addons follow (kubeadm's rule). A run
/// again changes nothing.
fn second_control_plane_upgrades(
    cp2: &Host,
    pods: &StaticPods,
    admin: &Kubectl,
    old: &str,
    new: &str,
    apiserver_serial: &str,
) {
    assert_eq!(
        addon_image(admin, "daemonset", "kube-proxy"),
        format!("registry.k8s.io/kube-proxy:{old}"),
        "the addons moved before every control plane did"
    );
    let node_args = ["upgrade", "node", "--ignore-preflight-errors", HOST_CHECKS];
    let said = beside_mirror_pods(cp2, pods, || {
        killed_inside(cp2, &node_args, "kube-apiserver")
    });
    assert!(!said.lines().any(|l| l.starts_with("error")), "{said}");
    // Killed again in its kubelet-config phase, as it begins to move the CRI socket from
    // kubeadm-flags.env to instance-config.yaml.
    let said = beside_mirror_pods(cp2, pods, || {
        killed_when(cp2, &node_args, "in the kubelet-config phase", |line| {
            line.starts_with("[upgrade/kubelet-config] Writing kubelet configuration to file")
        })
    });
    assert!(!said.lines().any(|l| l.starts_with("error")), "{said}");
    let out = beside_mirror_pods(cp2, pods, || {
        cp2.kinit(&["upgrade", "node", "--ignore-preflight-errors", HOST_CHECKS])
    });
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "kinit upgrade node on cp2:\n{said}\n{}",
        pods.tails(20)
    );
    // The killed runs wrote every manifest.
    for line in [
        "[upgrade/control-plane] The control plane of this node already runs version",
        "[upgrade/kubelet-config] The kubelet configuration for this node was successfully upgraded!",
    ] {
        assert!(said.contains(line), "{line:?} in:\n{said}");
    }
    prepulled(&said);
    wait_until(
        "every component of cp2 runs the newer program",
        Duration::from_secs(60),
        || format!("{:?}\n{}", all_run_from(pods, real_bin()), pods.tails(20)),
        || all_run_from(pods, real_bin()).is_ok(),
    );
    let own = Kubectl::new(cp2, "/etc/kubernetes/admin.conf");
    let server = format!("--server=https://{}:6443", cp2.address);
    let version = own.json(&[&server, "version", "-o", "json"]).unwrap();
    assert_eq!(version["serverVersion"]["gitVersion"], new, "{version}");
    assert_ne!(
        serial(cp2, "/etc/kubernetes/pki/apiserver.crt"),
        apiserver_serial,
        "cp2's apiserver.crt was not renewed"
    );
    cri_socket_moved(cp2);
    assert_eq!(
        addon_image(admin, "daemonset", "kube-proxy"),
        format!("registry.k8s.io/kube-proxy:{new}"),
        "{said}"
    );
    assert_eq!(
        addon_image(admin, "deployment", "coredns"),
        kubeadms_coredns_image(new),
        "{said}"
    );
    // Again: nothing is written or restarted.
    let starts: Vec<u32> = COMPONENTS.iter().map(|c| pods.starts(c)).collect();
    let manifests: Vec<Vec<u8>> = COMPONENTS
        .iter()
        .map(|c| std::fs::read(cp2.path(&format!("/etc/kubernetes/manifests/{c}.yaml"))).unwrap())
        .collect();
    let out = beside_mirror_pods(cp2, pods, || {
        cp2.kinit(&["upgrade", "node", "--ignore-preflight-errors", HOST_CHECKS])
    });
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(said.contains("nothing to upgrade"), "{said}");
    for (component, before) in COMPONENTS.iter().zip(&manifests) {
        let now = std::fs::read(cp2.path(&format!("/etc/kubernetes/manifests/{component}.yaml")))
            .unwrap();
        assert!(&now == before, "the re-run on cp2 changed {component}.yaml");
    }
    let again: Vec<u32> = COMPONENTS.iter().map(|c| pods.starts(c)).collect();
    assert_eq!(starts, again, "the re-run on cp2 restarted a component");
}

#[test]
fn needs_root_real_upgrade_apply_from_v1_33_to_v1_34() {
    if !have_root() {
        return;
    }
    let began = Instant::now();
    let old = previous_version();
    let old_dir = previous_real_bin().to_path_buf();
    let new = real_kubernetes_version();
    assert_ne!(old, new);
    let network = Network::new("upg", &["cp1", "w1", "cp2"]);
    let (cp1, w1, cp2) = (network.host("cp1"), network.host("w1"), network.host("cp2"));
    let pods = StaticPods::watch(cp1);

    // A cluster at the older minor, made by kinit.
    cluster_at(cp1, &pods, &old);
    all_run_from(&pods, &old_dir).unwrap_or_else(|e| panic!("{e}\n{}", pods.tails(20)));
    eprintln!("init at {old}: {:.1} s", began.elapsed().as_secs_f64());

    let admin = Kubectl::new(cp1, "/etc/kubernetes/admin.conf");
    worker_joins(cp1, w1, &admin, &pods, &old);
    eprintln!("w1 joined: {:.1} s", began.elapsed().as_secs_f64());
    let cp2_pods = control_plane_joins(cp1, cp2, &admin, &old);
    all_run_from(&cp2_pods, &old_dir).unwrap_or_else(|e| panic!("{e}\n{}", cp2_pods.tails(20)));
    eprintln!("cp2 joined: {:.1} s", began.elapsed().as_secs_f64());
    admin
        .try_ok(&[
            "create",
            "configmap",
            "kept-through-upgrade",
            "--from-literal=answer=42",
        ])
        .unwrap();
    let apiserver_serial = serial(cp1, "/etc/kubernetes/pki/apiserver.crt");
    let _cp1_runtime = runtime_with_images(cp1, &new);
    let _cp2_runtime = runtime_with_images(cp2, &new);
    health_check_jobs(cp1, &admin, &old, &new);
    eprintln!("health-check Jobs: {:.1} s", began.elapsed().as_secs_f64());
    let cp2_apiserver_serial = serial(cp2, "/etc/kubernetes/pki/apiserver.crt");

    // The plan, beside kubeadm's on the same cluster.
    let out = cp1.kinit(&["upgrade", "plan", &new]);
    assert!(
        out.status.success(),
        "kinit upgrade plan: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let ours = text(&out.stdout);
    let theirs = kubeadm_plan(cp1, &new);
    assert_eq!(
        tables(&ours),
        tables(&theirs),
        "kinit's plan:\n{ours}\nkubeadm's plan:\n{theirs}"
    );
    let out = cp1.kinit(&["upgrade", "plan", &new, "-o", "json"]);
    let plan: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)));
    assert_eq!(plan["kind"], "UpgradePlan", "{plan}");
    eprintln!("plans compared: {:.1} s", began.elapsed().as_secs_f64());

    // The manifest changes, as a unified diff per control-plane component.
    let out = cp1.kinit(&["upgrade", "diff", &new]);
    let diff = text(&out.stdout);
    assert!(out.status.success(), "{diff}{}", text(&out.stderr));
    for component in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        let header = format!("--- /etc/kubernetes/manifests/{component}.yaml\n+++ new manifest\n");
        assert!(diff.contains(&header), "{header:?} in:\n{diff}");
        for (sign, version) in [('-', &old), ('+', &new)] {
            let image = format!("image: \"registry.k8s.io/{component}:{version}\"");
            assert!(
                diff.lines()
                    .any(|l| l.starts_with(sign) && l.trim_end().ends_with(&image)),
                "{sign} {image} in:\n{diff}"
            );
        }
    }

    // A dry run changes nothing.
    let manifests_before: Vec<Vec<u8>> = COMPONENTS
        .iter()
        .map(|c| std::fs::read(cp1.path(&format!("/etc/kubernetes/manifests/{c}.yaml"))).unwrap())
        .collect();
    let out = cp1.kinit(&[
        "upgrade",
        "apply",
        &new,
        "--dry-run",
        "-y",
        "--ignore-preflight-errors",
        HOST_CHECKS,
    ]);
    assert!(
        out.status.success(),
        "kinit upgrade apply --dry-run: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    for (component, before) in COMPONENTS.iter().zip(&manifests_before) {
        let now = std::fs::read(cp1.path(&format!("/etc/kubernetes/manifests/{component}.yaml")))
            .unwrap();
        assert_eq!(&now, before, "the dry run changed {component}.yaml");
    }

    // Without --yes and without an answer, nothing happens.
    let out = cp1.kinit(&[
        "upgrade",
        "apply",
        &new,
        "--ignore-preflight-errors",
        HOST_CHECKS,
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stdout).contains("[upgrade] Are you sure you want to proceed? [y/N]: "),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // A kube-apiserver that cannot start is rolled back, and the error names it.
    let patches = cp1.path("/patches");
    std::fs::create_dir_all(&patches).unwrap();
    std::fs::write(
        patches.join("kube-apiserver+json.json"),
        r#"[{"op": "add", "path": "/spec/containers/0/command/-", "value": "--no-such-flag"}]"#,
    )
    .unwrap();
    let broken = cp1.path("/upgrade-broken.yaml");
    std::fs::write(
        &broken,
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: UpgradeConfiguration
apply:
  patches:
    directory: /patches
timeouts:
  upgradeManifests: 40s
",
    )
    .unwrap();
    let out = beside_mirror_pods(cp1, &pods, || {
        cp1.kinit(&[
            "upgrade",
            "apply",
            &new,
            "-y",
            "--ignore-preflight-errors",
            HOST_CHECKS,
            "--config",
            broken.to_str().unwrap(),
        ])
    });
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    eprintln!("the failed upgrade said:\n{said}");
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("kube-apiserver"), "{said}");
    let restored =
        std::fs::read(cp1.path("/etc/kubernetes/manifests/kube-apiserver.yaml")).unwrap();
    assert_eq!(restored, manifests_before[1], "{said}");
    assert!(
        said.contains("the old manifests of kube-apiserver were put back"),
        "{said}"
    );
    assert!(
        said.contains("likely cause: the new kube-apiserver does not serve"),
        "{said}"
    );
    // etcd, upgraded first, stays upgraded: its data moved on with it (as kubeadm leaves it).
    assert_ne!(
        std::fs::read(cp1.path("/etc/kubernetes/manifests/etcd.yaml")).unwrap(),
        manifests_before[0],
        "{said}"
    );
    wait_until(
        "the rolled-back kube-apiserver answers",
        Duration::from_secs(60),
        || pods.tail("kube-apiserver", 30),
        || {
            admin
                .try_ok(&["get", "configmap", "kept-through-upgrade"])
                .is_ok()
        },
    );
    eprintln!("rolled back: {:.1} s", began.elapsed().as_secs_f64());

    // The upgrade killed (SIGKILL) inside the steps of etcd (restarted for its renewed
    // certificates), kube-apiserver, kube-controller-manager and kube-scheduler in turn, each run
    // taking it further; the next run finishes it. The last kill comes before the kubelet made
    // kube-scheduler's mirror Pod again (none is remade while it runs): its manifest is written,
    // but the kubelet is not yet seen to run it.
    for component in COMPONENTS {
        // As a person would after a crash: again once the API server answers.
        api_server_answers(&admin, &pods, &old);
        let apply = || {
            killed_inside(
                cp1,
                &[
                    "upgrade",
                    "apply",
                    &new,
                    "-y",
                    "--ignore-preflight-errors",
                    HOST_CHECKS,
                ],
                component,
            )
        };
        let said = if component == "kube-scheduler" {
            // The kubelet caught up with the run killed before: it runs the new
            // kube-controller-manager (else this run would wait for that first).
            beside_mirror_pods(cp1, &pods, || {
                wait_until(
                    "kube-controller-manager's mirror Pod shows its new image",
                    Duration::from_secs(60),
                    || pods.tail("kube-controller-manager", 20),
                    || {
                        admin
                            .json(&[
                                "get",
                                "pod",
                                "-n",
                                "kube-system",
                                "kube-controller-manager-cp1",
                            ])
                            .is_ok_and(|pod| {
                                pod["spec"]["containers"][0]["image"]
                                    == format!("registry.k8s.io/kube-controller-manager:{new}")
                                    && pod["status"]["phase"] == "Running"
                            })
                    },
                )
            });
            apply()
        } else {
            beside_mirror_pods(cp1, &pods, apply)
        };
        eprintln!(
            "killed inside {component}'s step: {:.1} s",
            began.elapsed().as_secs_f64()
        );
        assert!(!said.lines().any(|l| l.starts_with("error")), "{said}");
    }

    // The upgrade itself; the played kubelet catches up only once the run waits for it.
    api_server_answers(&admin, &pods, &old);
    let out = run_then_follow(
        cp1,
        &pods,
        &[
            "upgrade",
            "apply",
            &new,
            "-y",
            "-o",
            "json",
            "--ignore-preflight-errors",
            HOST_CHECKS,
        ],
        "but the kubelet does not run it yet",
    );
    let events = text(&out.stdout);
    let result = kinit_result(out, "kinit upgrade apply", || pods.tails(30));
    // Each component's step, with its outcome, in the control-plane phase's event.
    let control_plane: Value = events
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "phase-end" && e["phase"] == "control-plane")
        .unwrap_or_else(|| panic!("no control-plane phase-end event in:\n{events}"));
    let outcomes: Vec<(String, String)> = control_plane["report"]["components"]
        .as_array()
        .unwrap_or_else(|| panic!("{control_plane}"))
        .iter()
        .map(|c| {
            assert!(c["durationMs"].as_f64().is_some(), "{c}");
            (
                c["component"].as_str().unwrap().to_string(),
                c["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // The killed runs wrote every manifest: this run changed none, but waited for the kubelet to
    // run kube-scheduler's (its mirror Pod still showed the old one) rather than trust the file.
    let expected: Vec<(String, String)> = [
        ("etcd", "unchanged"),
        ("kube-apiserver", "unchanged"),
        ("kube-controller-manager", "unchanged"),
        ("kube-scheduler", "finished"),
    ]
    .iter()
    .map(|(c, o)| (c.to_string(), o.to_string()))
    .collect();
    assert_eq!(outcomes, expected, "{control_plane}");
    eprintln!("upgraded: {:.1} s", began.elapsed().as_secs_f64());
    wait_until(
        "every component runs the newer program",
        Duration::from_secs(60),
        || format!("{:?}\n{}", all_run_from(&pods, real_bin()), pods.tails(20)),
        || all_run_from(&pods, real_bin()).is_ok(),
    );
    let version = admin.json(&["version", "-o", "json"]).unwrap();
    assert_eq!(
        version["serverVersion"]["gitVersion"],
        new.as_str(),
        "{version}"
    );
    let kept = admin
        .json(&["get", "configmap", "kept-through-upgrade"])
        .unwrap();
    assert_eq!(kept["data"]["answer"], "42");
    let stored = admin
        .json(&["get", "configmap", "-n", "kube-system", "kubeadm-config"])
        .unwrap();
    let cluster_configuration = stored["data"]["ClusterConfiguration"]
        .as_str()
        .unwrap_or_default();
    assert!(
        cluster_configuration.contains(&format!("kubernetesVersion: {new}")),
        "{cluster_configuration}"
    );
    assert_ne!(
        serial(cp1, "/etc/kubernetes/pki/apiserver.crt"),
        apiserver_serial,
        "apiserver.crt was not renewed"
    );
    let backups: Vec<String> = std::fs::read_dir(cp1.path("/etc/kubernetes/tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for prefix in ["kubeadm-backup-etcd-", "kubeadm-backup-manifests-"] {
        assert!(
            backups.iter().any(|b| b.starts_with(prefix)),
            "{prefix}* in {backups:?}"
        );
    }
    // The same upgrade again changes nothing: no file, no restart, no object.
    let snapshot = || {
        let mut files: Vec<(String, Vec<u8>)> = COMPONENTS
            .iter()
            .map(|c| format!("/etc/kubernetes/manifests/{c}.yaml"))
            .chain(
                [
                    "/etc/kubernetes/pki/apiserver.crt",
                    "/etc/kubernetes/pki/etcd/server.crt",
                    "/etc/kubernetes/admin.conf",
                    "/var/lib/kubelet/config.yaml",
                ]
                .map(String::from),
            )
            .map(|f| {
                let bytes = std::fs::read(cp1.path(&f)).unwrap();
                (f, bytes)
            })
            .collect();
        let mut tmp: Vec<String> = std::fs::read_dir(cp1.path("/etc/kubernetes/tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        tmp.sort();
        files.push(("/etc/kubernetes/tmp".into(), tmp.join(",").into_bytes()));
        let starts: Vec<u32> = COMPONENTS.iter().map(|c| pods.starts(c)).collect();
        let version = admin
            .json(&["get", "configmap", "-n", "kube-system", "kubeadm-config"])
            .unwrap()["metadata"]["resourceVersion"]
            .clone();
        (files, starts, version)
    };
    api_server_answers(&admin, &pods, &old);
    let before = snapshot();
    let out = beside_mirror_pods(cp1, &pods, || {
        cp1.kinit(&[
            "upgrade",
            "apply",
            &new,
            "-y",
            "--ignore-preflight-errors",
            HOST_CHECKS,
        ])
    });
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(said.contains("nothing to upgrade"), "{said}");
    prepulled(&said);
    // cp2 still runs the older kube-apiserver: the addons wait for it, as kubeadm's do.
    assert!(
        said.contains("[upgrade/addon] Skipping upgrade of addons because control plane instances [cp2] have not been upgraded"),
        "{said}"
    );
    let after = snapshot();
    for ((file, was), (_, is)) in before.0.iter().zip(&after.0) {
        assert!(was == is, "the re-run changed {file}:\n{said}");
    }
    assert_eq!(
        before.1, after.1,
        "the re-run restarted a component:\n{said}"
    );
    assert_eq!(
        before.2, after.2,
        "the re-run wrote kubeadm-config:\n{said}"
    );

    // The node's CRI socket moved to instance-config.yaml (NodeLocalCRISocket, on from 1.34), as
    // kubeadm's upgrade moves it, and left the Node's annotation.
    cri_socket_moved(cp1);
    let node = admin.json(&["get", "node", "cp1"]).unwrap();
    assert!(
        node["metadata"]["annotations"]["kubeadm.alpha.kubernetes.io/cri-socket"].is_null(),
        "{}",
        node["metadata"]
    );

    second_control_plane_upgrades(cp2, &cp2_pods, &admin, &old, &new, &cp2_apiserver_serial);
    eprintln!("cp2 upgraded: {:.1} s", began.elapsed().as_secs_f64());

    // The worker, with its kubelet.conf: only the kubelet's configuration changes.
    let manifests_of_w1 = w1.path("/etc/kubernetes/manifests");
    let out = w1.kinit(&["upgrade", "node", "--ignore-preflight-errors", HOST_CHECKS]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "kinit upgrade node on w1:\n{said}");
    for line in [
        "[upgrade/preflight] Skipping prepull. Not a control plane node.",
        "[upgrade/control-plane] Skipping phase. Not a control plane node.",
        "[upgrade/kubelet-config] The kubelet configuration for this node was successfully upgraded!",
    ] {
        assert!(said.contains(line), "{line:?} in:\n{said}");
    }
    cri_socket_moved(w1);
    assert!(
        std::fs::read_dir(&manifests_of_w1).map_or(true, |mut d| d.next().is_none()),
        "upgrade node wrote manifests on a worker"
    );
    let out = w1.kinit(&["upgrade", "node", "--ignore-preflight-errors", HOST_CHECKS]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("is already the configuration of this version"),
        "{}",
        text(&out.stdout)
    );

    // At the cluster's version now, there is nothing left to change.
    let out = cp1.kinit(&["upgrade", "diff"]);
    let diff = text(&out.stdout);
    assert!(out.status.success(), "{diff}{}", text(&out.stderr));
    assert!(!diff.contains("+++ new manifest"), "{diff}");
    assert!(pods.errors().is_empty(), "{}", pods.tails(20));
    assert!(cp2_pods.errors().is_empty(), "{}", cp2_pods.tails(20));
    eprintln!("result: {result}");
    eprintln!("checked: {:.1} s", began.elapsed().as_secs_f64());
}
