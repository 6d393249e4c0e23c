//! etcd membership with the real etcd: a second control-plane node joins the first node's etcd
//! through kinit's etcd client (etcd-join), and leaves it again on reset (remove-etcd-member).
//!
//! Two network namespaces on one bridge (tests/support/hosts.rs) stand for the two machines, cp1 at 198.51.100.10
//! and cp2 at 198.51.100.11; each runs the etcd of the manifest kinit wrote under its temp root, as
//! the kubelet would. The phases run as library calls from a thread inside cp2's namespace (a full
//! `kinit join` needs an API server). Network namespaces need root: see tests/etcd_real.rs for how
//! `needs_root_` tests are skipped.

mod common;
use common::{have_root, init_phase, SHARED_PKI};

use kinit_test_support as support;
use support::etcd::{etcdctl, etcdctl_ok, manifest_flag, Client, Etcd};
use support::hosts::{Namespace, Network};

use kinit_phases::domain::config::duration::GoDuration;
use kinit_phases::domain::config::types::{ResetConfiguration, Timeouts};
use kinit_phases::domain::config::{decode, resolve};
use kinit_phases::exec::effects::{DryRunEffects, Effects, HostEffects};
use kinit_phases::steps::etcd;
use kinit_phases::workflow::{
    JoinData, JoinTarget, KeptLines, PhaseContext, PhaseError, ResetData,
};
use kinit_preflight::{JoinFacts, RealHost};
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

const CP1: &str = "198.51.100.10";
const CP2: &str = "198.51.100.11";

/// cp1's and cp2's machines, each in its own network namespace, on one network.
fn machines(test: &str) -> Network {
    Network::at(test, &[("cp1", CP1), ("cp2", CP2)])
}

/// Runs `work` on a thread inside the namespace `ns` (threads it starts are inside too), or in
/// the test's own namespace without one.
fn in_netns<T: Send + 'static>(
    ns: Option<&Namespace>,
    work: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    match ns {
        Some(ns) => ns.spawn(work),
        None => std::thread::spawn(work),
    }
}

/// A control-plane node: its temp root and configuration (etcd 3.5 flags for the test's etcd 3.5).
struct Node {
    _dir: tempfile::TempDir,
    root: PathBuf,
    config: PathBuf,
}

impl Node {
    /// With `shared`, the cluster-wide CAs and service-account key come from that node first, as
    /// the join's download-certs would bring them.
    fn new(name: &str, address: &str, shared: Option<&Node>) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let config = dir.path().join("kinit.yaml");
        std::fs::write(
            &config,
            format!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  \
                 advertiseAddress: {address}\nnodeRegistration:\n  name: {name}\n---\n\
                 apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
                 etcd:\n  local:\n    imageTag: 3.5.21-0\n"
            ),
        )
        .unwrap();
        let node = Node {
            _dir: dir,
            root,
            config,
        };
        if let Some(from) = shared {
            for file in SHARED_PKI {
                let path = format!("/etc/kubernetes/pki/{file}");
                let target = node.host(&path);
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::copy(from.host(&path), target).unwrap();
            }
        }
        node.phase(&["certs", "all"]);
        node
    }

    fn phase(&self, words: &[&str]) {
        init_phase(&self.root, &self.config, words);
    }

    fn host(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    fn etcd_flag(&self, name: &str) -> Option<String> {
        manifest_flag(&self.root, "etcd", name)
    }

    /// etcdctl as the API server of this node talks to etcd.
    fn etcdctl(&self, ns: &Namespace, endpoint: &str, args: &[&str]) -> Output {
        etcdctl(ns, &self.client(endpoint), args)
    }

    fn etcdctl_ok(&self, ns: &Namespace, endpoint: &str, args: &[&str]) -> String {
        etcdctl_ok(ns, &self.client(endpoint), args)
    }

    fn client(&self, endpoint: &str) -> Client {
        Client::of(&self.root, "apiserver-etcd-client", endpoint)
    }
}

fn url(address: &str) -> String {
    format!("https://{address}:2379")
}

/// Polls `ready` every 100 ms for up to 20 s.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "not {what} after 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

enum Work {
    /// etcd-join with the cluster's client URLs already found.
    Join(Vec<String>),
    /// remove-etcd-member.
    Remove,
    /// remove-etcd-member with `timeouts.etcdAPICall` of the reset configuration.
    RemoveWithin(Duration),
    /// The whole etcd-join phase, for a worker.
    JoinAsWorker,
}

/// What a phase run gave: its outcome, its lines and the changes it made (or would make).
struct Ran {
    result: Result<Vec<String>, String>,
    lines: Vec<String>,
    changes: Vec<String>,
}

impl Ran {
    fn has(&self, line: &str) -> bool {
        self.lines.iter().any(|l| l.contains(line))
    }
}

/// Runs a phase of kinit's library for `node` from inside `ns`, as the runner would (it commits
/// the files at the end).
fn run(ns: Option<&Namespace>, node: &Node, dry_run: bool, work: Work) -> Ran {
    start(ns, node, dry_run, work)
        .join()
        .expect("the phase thread panicked")
}

/// [`run`] on its own thread.
fn start(
    ns: Option<&Namespace>,
    node: &Node,
    dry_run: bool,
    work: Work,
) -> std::thread::JoinHandle<Ran> {
    let root = node.root.clone();
    let config_text = std::fs::read_to_string(&node.config).unwrap();
    in_netns(ns, move || {
        let file = decode::load(&config_text);
        let config =
            resolve::resolve_init(Some(&file), &resolve::InitFlags::default(), &root).unwrap();
        let host = RealHost::new(&root);
        let mut effects: Box<dyn Effects> = if dry_run {
            Box::new(DryRunEffects::new(&root))
        } else {
            Box::new(HostEffects::new(&root))
        };
        let mut sink = KeptLines::default();
        let target = JoinTarget {
            facts: JoinFacts {
                api_server_endpoint: format!("{CP1}:6443"),
                control_plane: !matches!(work, Work::JoinAsWorker),
                kubernetes_dir: "/etc/kubernetes".into(),
                ca_cert_path: "/etc/kubernetes/pki/ca.crt".into(),
            },
            cluster: None,
        };
        let result = match work {
            Work::Join(_) | Work::JoinAsWorker => {
                let data = JoinData {
                    config,
                    target,
                    fix: false,
                };
                let mut ctx = PhaseContext::new(&data, &host, effects.as_mut(), &mut sink, dry_run);
                let result = match work {
                    Work::Join(endpoints) => etcd::join::join_cluster(&mut ctx, endpoints),
                    _ => etcd::join::run(&mut ctx),
                };
                committed(&mut ctx, result)
            }
            Work::Remove | Work::RemoveWithin(_) => {
                // The node's own certificates folder and call limit, as `kinit reset` defaults them.
                let timeouts = match work {
                    Work::RemoveWithin(limit) => Some(Timeouts {
                        etcd_api_call: Some(GoDuration(limit)),
                        ..Default::default()
                    }),
                    _ => config.init.timeouts.clone(),
                };
                let data = ResetData {
                    reset: ResetConfiguration {
                        certificates_dir: config.cluster.certificates_dir.clone(),
                        timeouts,
                        ..Default::default()
                    },
                };
                let mut ctx = PhaseContext::new(&data, &host, effects.as_mut(), &mut sink, dry_run);
                let result = etcd::remove::run(&mut ctx);
                committed(&mut ctx, result)
            }
        };
        Ran {
            result,
            lines: sink.0,
            changes: effects.changes().iter().map(ToString::to_string).collect(),
        }
    })
}

/// The phase's outcome once its files are committed, as the runner ends a phase.
fn committed<D>(
    ctx: &mut PhaseContext<'_, D>,
    result: Result<Vec<String>, PhaseError>,
) -> Result<Vec<String>, String> {
    result
        .map_err(|e| e.to_string())
        .and_then(|w| ctx.effects.commit().map(|()| w))
}

/// `etcdctl member list` lines.
fn members(node: &Node, ns: &Namespace, endpoint: &str) -> Vec<String> {
    node.etcdctl_ok(ns, endpoint, &["member", "list"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn needs_root_a_second_control_plane_joins_etcd_and_leaves_it_on_reset() {
    if !have_root() {
        return;
    }
    let network = machines("members");
    let (ns1, ns2) = (&network.host("cp1").ns, &network.host("cp2").ns);
    let cp1 = Node::new("cp1", CP1, None);
    cp1.phase(&["etcd", "local"]);
    let cp2 = Node::new("cp2", CP2, Some(&cp1));
    let etcd1 = Etcd::start(ns1, &cp1.root);
    wait_until("cp1's etcd healthy", || {
        cp1.etcdctl(ns1, &url(CP1), &["endpoint", "health"])
            .status
            .success()
    });

    // kinit's etcd client trusts the etcd CA alone: a server of another etcd CA is refused, and
    // the error names the endpoint and why.
    let stranger = Node::new("stranger", CP2, None);
    let refused = {
        let read = |node: &Node, file: &str| {
            std::fs::read(node.host(&format!("/etc/kubernetes/pki/{file}"))).unwrap()
        };
        let credentials = etcd::Credentials::from_pem(
            &read(&stranger, "etcd/ca.crt"),
            &read(&stranger, "apiserver-etcd-client.crt"),
            &read(&stranger, "apiserver-etcd-client.key"),
            "the stranger's files",
        )
        .unwrap();
        in_netns(Some(ns1), move || {
            etcd::EtcdClient::new(vec![url(CP1)], &credentials, Duration::from_secs(1))
                .unwrap()
                .member_list()
        })
        .join()
        .unwrap()
    };
    let error = refused
        .expect_err("a server of another CA was trusted")
        .to_string();
    assert!(
        error.contains(&url(CP1)) && error.contains("certificate verify failed"),
        "{error}"
    );

    // etcd-join for cp2; the test plays the kubelet and starts etcd once its manifest is there.
    let joining = start(Some(ns2), &cp2, false, Work::Join(vec![url(CP1)]));
    let manifest = cp2.host("/etc/kubernetes/manifests/etcd.yaml");
    wait_until("cp2's etcd manifest written", || {
        manifest.exists() || joining.is_finished()
    });
    let etcd2 = Etcd::start(ns2, &cp2.root);
    let joined = joining.join().unwrap();
    assert!(
        joined.result.is_ok(),
        "{:?}\n{:#?}\ncp2's etcd:\n{}",
        joined.result,
        joined.lines,
        etcd2.log()
    );
    for line in [
        "[etcd] Announced new etcd member joining to the existing etcd cluster",
        "[etcd] Creating static Pod manifest for \"etcd\"",
        "[etcd] Waiting for the new etcd member to join the cluster. This can take up to 40s",
    ] {
        assert!(joined.has(line), "{line}\n{:#?}", joined.lines);
    }
    let initial = cp2.etcd_flag("initial-cluster").unwrap();
    let mut entries: Vec<&str> = initial.split(',').collect();
    entries.sort();
    assert_eq!(
        entries,
        [
            format!("cp1=https://{CP1}:2380"),
            format!("cp2=https://{CP2}:2380")
        ]
    );
    assert_eq!(
        cp2.etcd_flag("initial-cluster-state").as_deref(),
        Some("existing")
    );
    assert_eq!(cp1.etcd_flag("initial-cluster-state"), None);

    let listed = members(&cp1, ns1, &url(CP1));
    assert_eq!(listed.len(), 2, "{listed:?}");
    // Both started, and neither is left a learner (etcdctl's last column).
    assert!(
        listed
            .iter()
            .all(|m| m.contains(", started, ") && m.ends_with(", false")),
        "{listed:?}"
    );
    // One cluster: written through cp1, read through cp2.
    cp1.etcdctl_ok(ns1, &url(CP1), &["put", "/registry/kinit-join", "via-cp1"]);
    let got = cp2.etcdctl_ok(
        ns2,
        &url(CP2),
        &["get", "/registry/kinit-join", "--print-value-only"],
    );
    assert_eq!(got.trim(), "via-cp1");

    // A second run finds the member and adds nothing; an endpoint that refuses is passed over.
    let again = run(
        Some(ns2),
        &cp2,
        false,
        Work::Join(vec!["https://127.0.0.1:1".into(), url(CP1)]),
    );
    assert!(
        again.result.is_ok(),
        "{:?}\n{:#?}",
        again.result,
        again.lines
    );
    assert!(
        again.has("is already in the etcd cluster") && !again.has("Announced"),
        "{:#?}",
        again.lines
    );
    assert_eq!(members(&cp1, ns1, &url(CP1)).len(), 2);

    // reset's dry run names the member and the data it would delete, and changes nothing.
    let data = cp2.host("/var/lib/etcd");
    assert!(data.join("member").is_dir());
    let dry = run(Some(ns2), &cp2, true, Work::Remove);
    assert!(dry.result.is_ok(), "{:?}\n{:#?}", dry.result, dry.lines);
    assert!(
        dry.has("[dryrun] Would remove the etcd member cp2"),
        "{:#?}",
        dry.lines
    );
    assert!(
        dry.changes
            .contains(&"remove /var/lib/etcd/member".to_string()),
        "{:?}",
        dry.changes
    );
    assert_eq!(members(&cp1, ns1, &url(CP1)).len(), 2);
    assert!(data.join("member").is_dir());

    // reset for real: the member goes, its data goes, cp1 serves on alone.
    let removed = run(Some(ns2), &cp2, false, Work::Remove);
    assert!(
        removed.result.as_ref().is_ok_and(|w| w.is_empty()),
        "{:?}\n{:#?}",
        removed.result,
        removed.lines
    );
    assert!(
        removed.has("[reset] Removed the etcd member cp2"),
        "{:#?}",
        removed.lines
    );
    drop(etcd2);
    let listed = members(&cp1, ns1, &url(CP1));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].contains(", cp1, "), "{listed:?}");
    cp1.etcdctl_ok(ns1, &url(CP1), &["endpoint", "health"]);
    let got = cp1.etcdctl_ok(
        ns1,
        &url(CP1),
        &["get", "/registry/kinit-join", "--print-value-only"],
    );
    assert_eq!(got.trim(), "via-cp1");
    assert!(data.is_dir(), "the data folder itself stays");
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);

    // A dry run of the join reads the members and adds none.
    let dry = run(Some(ns2), &cp2, true, Work::Join(vec![url(CP1)]));
    assert!(dry.result.is_ok(), "{:?}\n{:#?}", dry.result, dry.lines);
    assert!(
        dry.has(&format!("[etcd] Would add etcd member: https://{CP2}:2380"))
            && dry.has("[etcd] Would wait for the new etcd member to join the cluster")
            && dry.has("--initial-cluster-state=existing")
            && !dry.has("Announced"),
        "{:#?}",
        dry.lines
    );
    assert_eq!(members(&cp1, ns1, &url(CP1)).len(), 1);

    // cp1 is now the last member: reset would leave it in the cluster.
    let last = run(Some(ns1), &cp1, true, Work::Remove);
    assert!(last.result.is_ok(), "{:?}\n{:#?}", last.result, last.lines);
    assert!(
        last.has("is the only member of the etcd cluster"),
        "{:#?}",
        last.lines
    );
    drop(etcd1);
}

#[test]
fn needs_root_an_unreachable_etcd_leaves_a_warning_with_the_command_and_the_data_is_still_cleaned()
{
    if !have_root() {
        return;
    }
    // A namespace with only loopback: cp2's etcd address leads nowhere (outside one, the test
    // machine's network may well answer there), so the member cannot be removed; one second of
    // etcdAPICall keeps the test short.
    let alone = Namespace::new("unreachable");
    alone.ip(&["link", "set", "lo", "up"]);
    let cp2 = Node::new("cp2", CP2, None);
    cp2.phase(&["etcd", "local"]);
    let data = cp2.host("/var/lib/etcd");
    std::fs::create_dir_all(data.join("member/snap")).unwrap();
    std::fs::write(data.join("member/snap/db"), b"data").unwrap();

    let dry = run(
        Some(&alone),
        &cp2,
        true,
        Work::RemoveWithin(Duration::from_secs(1)),
    );
    assert!(dry.result.is_ok(), "{:?}\n{:#?}", dry.result, dry.lines);
    assert!(
        data.join("member/snap/db").exists(),
        "a dry run removes nothing"
    );

    let ran = run(
        None,
        &cp2,
        false,
        Work::RemoveWithin(Duration::from_secs(1)),
    );
    let warnings = ran
        .result
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", ran.lines));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = &warnings[0];
    for part in [
        &format!("https://{CP2}:2379"),
        "must be removed by hand",
        "etcdctl --endpoints=",
        "--cacert=/etc/kubernetes/pki/etcd/ca.crt",
        "member remove <ID of cp2>",
    ] {
        assert!(warning.contains(part), "{part}\n{warning}");
    }
    assert!(data.is_dir());
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);
}

#[test]
fn a_worker_joins_no_etcd() {
    let worker = Node::new("worker1", CP2, None);
    let ran = run(None, &worker, false, Work::JoinAsWorker);
    assert_eq!(ran.result, Ok(Vec::new()), "{:#?}", ran.lines);
    assert!(ran.has("joins as a worker"), "{:#?}", ran.lines);
    assert!(ran.changes.is_empty(), "{:?}", ran.changes);
    assert!(!worker.host("/etc/kubernetes/manifests/etcd.yaml").exists());
}
