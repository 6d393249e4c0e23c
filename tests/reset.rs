//! `kinit reset` through the binary: on temp roots after the local init phases (everything kubeadm's
//! reset removes goes, the folders and everything beside them stay, a dry run lists it all and changes
//! no byte), the user's kubeconfig, the question before a reset, preflight passing again as before
//! init, and, inside a network namespace, kube-proxy's iptables chains, nftables tables and the CNI
//! interfaces with the real iptables, nft and ip.

mod common;
use common::{have_root, init_phase, text};

use kinit_test_support as support;
use support::hosts::Namespace;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// ECDSA keys keep the init phases short.
const CONFIG: &str = "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 198.51.100.10
nodeRegistration:
  name: cp1
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
encryptionAlgorithm: ECDSA-P256
";

/// The remove-etcd-member phase talks to etcd and is tested with it; these tests leave it out.
const SKIP_ETCD: [&str; 2] = ["--skip-phases", "remove-etcd-member"];

fn kinit_in(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kinit"));
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(out: &Output, what: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A temp root after the local init phases, with a file of the user's beside each cleaned folder.
struct Node {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Node {
    fn new(phases: &[&[&str]]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let config = dir.path().join("kinit.yaml");
        std::fs::write(&config, CONFIG).unwrap();
        for words in phases {
            init_phase(&root, &config, words);
        }
        Node { _dir: dir, root }
    }

    fn full() -> Node {
        let node = Node::new(&[
            &["certs", "all"],
            &["kubeconfig", "all"],
            &["etcd", "local"],
            &["control-plane", "all"],
            &["kubelet-start"],
        ]);
        for (path, content) in [
            ("/etc/kubernetes/keep-me", "mine"),
            ("/etc/hosts", "127.0.0.1 localhost\n"),
            ("/etc/kubernetes/tmp/kubeadm-backup/etcd.yaml", "old"),
            ("/etc/cni/net.d/10-flannel.conflist", "{}"),
            ("/var/lib/etcd/member/snap/db", "data"),
            ("/var/lib/kubelet/pki/kubelet.crt", "cert"),
        ] {
            node.write(path, content);
        }
        node
    }

    fn host(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    fn write(&self, path: &str, content: &str) {
        let file = self.host(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
    }

    /// `kinit reset --rootfs <root> <extra>`, root check ignored so the tests also run as a user.
    fn reset(&self, extra: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
        let mut args = vec![
            "reset",
            "--rootfs",
            self.root.to_str().unwrap(),
            "--ignore-preflight-errors",
            "IsPrivilegedUser",
        ];
        args.extend_from_slice(&SKIP_ETCD);
        args.extend_from_slice(extra);
        kinit_in(&args, env, stdin)
    }

    /// Every path under the root with its kind, mode and bytes (or link target).
    fn snapshot(&self) -> BTreeMap<String, (u32, Vec<u8>)> {
        fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<String, (u32, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let meta = std::fs::symlink_metadata(&path).unwrap();
                let name = path.strip_prefix(base).unwrap().display().to_string();
                let bytes = if meta.file_type().is_symlink() {
                    std::fs::read_link(&path)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes()
                } else if meta.is_dir() {
                    walk(&path, base, out);
                    Vec::new()
                } else {
                    std::fs::read(&path).unwrap()
                };
                out.insert(name, (meta.permissions().mode(), bytes));
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.root, &self.root, &mut out);
        out
    }

    fn files_under(&self, dir: &str) -> Vec<String> {
        self.snapshot()
            .into_keys()
            .map(|p| format!("/{p}"))
            .filter(|p| p.starts_with(&format!("{dir}/")))
            .collect()
    }
}

/// What kubeadm's reset (and kinit's beyond it) empties; the folders themselves stay.
const EMPTIED: [&str; 4] = [
    "/etc/kubernetes/manifests",
    "/etc/kubernetes/pki",
    "/var/lib/kubelet",
    "/etc/cni/net.d",
];
const KUBECONFIGS: [&str; 5] = [
    "admin.conf",
    "super-admin.conf",
    "kubelet.conf",
    "controller-manager.conf",
    "scheduler.conf",
];

#[test]
fn a_dry_run_lists_every_path_and_changes_nothing_then_reset_empties_the_folders() {
    let node = Node::full();
    let before = node.snapshot();
    let mut removable: Vec<String> = EMPTIED.iter().flat_map(|d| node.files_under(d)).collect();
    removable.extend(KUBECONFIGS.map(|f| format!("/etc/kubernetes/{f}")));

    let stdout = ok(&node.reset(&["--dry-run"], &[], None), "reset --dry-run");
    assert_eq!(node.snapshot(), before, "a dry run changes no byte");
    let listed: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("[dry-run] would remove "))
        .collect();
    for path in &removable {
        assert!(
            listed
                .iter()
                .any(|l| path == l || path.starts_with(&format!("{l}/"))),
            "{path} is not in the dry run's list:\n{stdout}"
        );
    }
    for line in [
        "[reset] Would delete contents of directories: [/etc/kubernetes/manifests /etc/kubernetes/pki]",
        "[reset] Would delete files: [/etc/kubernetes/admin.conf /etc/kubernetes/super-admin.conf /etc/kubernetes/kubelet.conf /etc/kubernetes/bootstrap-kubelet.conf /etc/kubernetes/controller-manager.conf /etc/kubernetes/scheduler.conf]",
        "[reset] Would delete contents of directories: [/var/lib/kubelet]",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    assert!(
        !stdout.contains("/var/lib/etcd") && !stdout.contains("keep-me"),
        "{stdout}"
    );

    let json = ok(
        &node.reset(&["--dry-run", "-o", "json"], &[], None),
        "-o json",
    );
    let result: serde_json::Value = serde_json::from_str(json.lines().last().unwrap()).unwrap();
    assert!(
        result["planned"]
            .as_array()
            .unwrap()
            .contains(&"remove /etc/kubernetes/admin.conf".into()),
        "{json}"
    );
    assert_eq!(node.snapshot(), before);

    let stdout = ok(&node.reset(&["-f"], &[], None), "reset -f");
    for line in [
        "[reset] Deleting contents of directories: [/var/lib/kubelet]",
        "[reset] Checked: nothing that cleanup-node removes is left on this node",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    for dir in EMPTIED {
        assert!(node.host(dir).is_dir(), "{dir} itself stays");
        assert_eq!(
            node.files_under(dir),
            Vec::<String>::new(),
            "{dir} is empty"
        );
    }
    for file in KUBECONFIGS {
        assert!(
            !node.host(&format!("/etc/kubernetes/{file}")).exists(),
            "{file}"
        );
    }
    for kept in [
        "/etc/kubernetes/keep-me",
        "/etc/hosts",
        "/etc/kubernetes/tmp/kubeadm-backup/etcd.yaml",
        "/var/lib/etcd/member/snap/db",
        "/etc/systemd/system/kubelet.service",
    ] {
        assert!(node.host(kept).exists(), "{kept} survives");
    }

    let stdout = ok(
        &node.reset(&["-f", "--cleanup-tmp-dir"], &[], None),
        "reset -f --cleanup-tmp-dir",
    );
    assert!(
        stdout.contains(
            "[reset] Deleting contents of directories: [/var/lib/kubelet /etc/kubernetes/tmp]"
        ),
        "{stdout}"
    );
    assert!(node.host("/etc/kubernetes/tmp").is_dir());
    assert_eq!(
        node.files_under("/etc/kubernetes/tmp"),
        Vec::<String>::new()
    );
    assert!(node.host("/etc/kubernetes/keep-me").exists());
}

#[test]
fn cert_dir_and_a_reset_configuration_take_effect() {
    let node = Node::new(&[&["certs", "ca"]]);
    node.write("/srv/pki/ca.crt", "x");
    node.write("/etc/kubernetes/tmp/f", "x");
    let stdout = ok(
        &node.reset(&["-f", "--cert-dir", "/srv/pki"], &[], None),
        "--cert-dir",
    );
    assert!(
        stdout.contains("WARNING: Cleaning a non-default certificates directory: \"/srv/pki\""),
        "{stdout}"
    );
    assert!(!node.host("/srv/pki/ca.crt").exists());
    assert!(node.host("/srv/pki").is_dir());
    assert!(
        node.host("/etc/kubernetes/pki/ca.crt").exists(),
        "the default one is not touched"
    );

    node.write("/etc/hosts", "127.0.0.1 localhost\n");
    let stdout = ok(
        &node.reset(&["-f", "--cert-dir", "/etc"], &[], None),
        "/etc",
    );
    assert!(
        stdout.contains("WARNING: \"/etc\" is too close to / to be emptied"),
        "{stdout}"
    );
    assert!(node.host("/etc/hosts").exists());

    let file = node.root.parent().unwrap().join("reset.yaml");
    std::fs::write(
        &file,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\nforce: true\ncleanupTmpDir: true\n",
    )
    .unwrap();
    ok(
        &node.reset(&["--config", file.to_str().unwrap()], &[], None),
        "--config",
    );
    assert!(!node.host("/etc/kubernetes/pki/ca.crt").exists());
    assert!(!node.host("/etc/kubernetes/tmp/f").exists());

    let out = node.reset(&["-f", "--skip-phases", "cleanup-node"], &[], None);
    assert!(
        text(&out.stdout).contains("[cleanup-node] Skipped"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn the_users_kubeconfig_goes_only_when_it_is_for_this_cluster() {
    let phases: &[&[&str]] = &[
        &["certs", "ca"],
        &["certs", "front-proxy-ca"],
        &["kubeconfig", "admin"],
    ];
    let env = [("HOME", "/home/tester")];
    let user_config = "/home/tester/.kube/config";

    let node = Node::new(phases);
    let admin = std::fs::read_to_string(node.host("/etc/kubernetes/admin.conf")).unwrap();
    node.write(user_config, &admin);
    let stdout = ok(&node.reset(&["-f"], &env, None), "same CA");
    assert!(!node.host(user_config).exists(), "{stdout}");
    assert!(
        stdout.contains(&format!("[reset] Deleting {user_config}")),
        "{stdout}"
    );

    // Another CA: the front-proxy CA stands in for another cluster's.
    let node = Node::new(phases);
    let admin = std::fs::read_to_string(node.host("/etc/kubernetes/admin.conf")).unwrap();
    let ours = admin
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority-data: "))
        .unwrap()
        .to_string();
    let other = kinit_phases::domain::kubeconfig::base64(
        &std::fs::read(node.host("/etc/kubernetes/pki/front-proxy-ca.crt")).unwrap(),
    );
    node.write(user_config, &admin.replace(&ours, &other));
    let stdout = ok(&node.reset(&["-f"], &env, None), "another CA");
    assert!(node.host(user_config).exists(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "[reset] Keeping {user_config}: its cluster's certificate-authority-data is not this node's CA"
        )),
        "{stdout}"
    );

    // Under sudo, the invoking user's home, not root's.
    let node = Node::new(phases);
    let admin = std::fs::read_to_string(node.host("/etc/kubernetes/admin.conf")).unwrap();
    node.write(user_config, &admin);
    node.write("/root/.kube/config", &admin);
    node.write(
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\ntester:x:1000:1000::/home/tester:/bin/sh\n",
    );
    ok(
        &node.reset(&["-f"], &[("HOME", "/root"), ("SUDO_USER", "tester")], None),
        "sudo",
    );
    assert!(!node.host(user_config).exists());
    assert!(node.host("/root/.kube/config").exists());
}

#[test]
fn reset_asks_first_and_only_y_goes_on() {
    let node = Node::new(&[&["certs", "ca"], &["kubeconfig", "admin"]]);
    let before = node.snapshot();
    for (answer, phrase) in [
        (Some("n\n"), "the answer was \"n\", not y or yes"),
        (Some("\n"), "not y or yes"),
        (None, "give -f (--force)"),
    ] {
        let out = node.reset(&[], &[], answer);
        assert_eq!(out.status.code(), Some(1), "{answer:?}");
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(
            stdout.contains("[reset] Are you sure you want to proceed? [y/N]: "),
            "{stdout}"
        );
        assert!(
            stdout.contains("[reset] WARNING: Changes made to this host"),
            "{stdout}"
        );
        assert!(
            stderr.contains("aborted reset operation") && stderr.contains(phrase),
            "{stderr}"
        );
        assert_eq!(node.snapshot(), before, "{answer:?} changes nothing");
    }
    let out = node.reset(&["-o", "json"], &[], Some("y\n"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot ask for confirmation: give -f (--force)"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(node.snapshot(), before);
    ok(&node.reset(&[], &[], Some("y\n")), "y");
    assert!(!node.host("/etc/kubernetes/admin.conf").exists());
    assert!(!node.host("/etc/kubernetes/pki/ca.crt").exists());
}

/// The preflight checks that fail with an error (ignored or not) on a root.
fn failing_checks(root: &Path) -> Vec<String> {
    let out = kinit_in(
        &[
            "init",
            "phase",
            "preflight",
            "--rootfs",
            root.to_str().unwrap(),
            "-o",
            "json",
            "--apiserver-advertise-address",
            "198.51.100.10",
            "--node-name",
            "cp1",
            "--ignore-preflight-errors",
            "all",
        ],
        &[],
        None,
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)));
    let mut names: Vec<String> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false && c["severity"] == "error")
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn preflight_passes_again_as_before_init() {
    let node = Node::new(&[]);
    let before_init = failing_checks(&node.root);
    let node = Node::full();
    // The user's files beside the node's are no business of preflight's; the etcd data stays for
    // remove-etcd-member.
    std::fs::remove_dir_all(node.host("/var/lib/etcd")).unwrap();
    let after_init = failing_checks(&node.root);
    assert_ne!(
        after_init, before_init,
        "init leaves files preflight refuses"
    );
    ok(&node.reset(&["-f"], &[], None), "reset -f");
    assert_eq!(failing_checks(&node.root), before_init);
}

/// Rules and chains as iptables-save prints them in `ns`, without its comment lines and counters.
fn rules(ns: &Namespace, save: &str) -> String {
    text(&ns.run(&[save]).stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(" [").next().unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

fn links_of(ns: &Namespace) -> String {
    text(&ns.run(&["ip", "-o", "link", "show"]).stdout)
}

fn nft_tables(ns: &Namespace) -> String {
    text(&ns.run(&["nft", "list", "tables"]).stdout)
}

fn on_path(tool: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(tool))
        .find(|p| p.exists())
}

#[test]
fn needs_root_reset_removes_kube_chains_tables_and_cni_interfaces_and_nothing_else() {
    if !have_root() {
        return;
    }
    let ns = Namespace::new("reset");
    let iptables = |args: &str| {
        let mut argv = vec!["iptables"];
        argv.extend(args.split(' '));
        ns.must(&argv);
    };
    // kube-proxy's and the kubelet's shape: chains that jump to one another, jumps from built-ins.
    iptables("-t nat -N KUBE-SERVICES");
    iptables("-t nat -N KUBE-POSTROUTING");
    iptables("-t nat -N KUBE-MARK-MASQ");
    ns.must(&[
        "iptables",
        "-t",
        "nat",
        "-A",
        "PREROUTING",
        "-m",
        "comment",
        "--comment",
        "kubernetes service portals",
        "-j",
        "KUBE-SERVICES",
    ]);
    iptables("-t nat -A POSTROUTING -j KUBE-POSTROUTING");
    iptables("-t nat -A KUBE-SERVICES -j KUBE-MARK-MASQ");
    iptables("-t nat -A KUBE-POSTROUTING -j MASQUERADE");
    iptables("-t filter -N KUBE-FORWARD");
    iptables("-t filter -A FORWARD -j KUBE-FORWARD");
    iptables("-t filter -A KUBE-FORWARD -j ACCEPT");
    iptables("-t mangle -N KUBE-KUBELET-CANARY");
    ns.must(&["ip6tables", "-N", "KUBE-FIREWALL"]);
    ns.must(&["ip6tables", "-A", "INPUT", "-j", "KUBE-FIREWALL"]);
    // Someone else's, which must stay.
    iptables("-t filter -N MINE");
    iptables("-t filter -A INPUT -s 198.51.100.0/24 -j MINE");
    iptables("-t nat -A POSTROUTING -s 198.51.100.0/24 -j MASQUERADE");
    // The other backend's chains, as when the kubelet and kube-proxy disagree on legacy and nft.
    let legacy = on_path("iptables-legacy").is_some();
    if legacy {
        ns.must(&["iptables-legacy", "-t", "nat", "-N", "KUBE-LEGACY"]);
        ns.must(&[
            "iptables-legacy",
            "-t",
            "nat",
            "-A",
            "OUTPUT",
            "-j",
            "KUBE-LEGACY",
        ]);
        ns.must(&["iptables-legacy", "-t", "filter", "-N", "LEGACY-MINE"]);
    }
    let nft = on_path("nft").is_some();
    if nft {
        ns.must(&["nft", "add", "table", "ip", "kube-proxy"]);
        ns.must(&["nft", "add", "table", "ip", "mine"]);
    } else {
        eprintln!("nft is not installed: the nftables part is not checked");
    }
    ns.must(&["ip", "link", "add", "cni0", "type", "bridge"]);
    ns.must(&[
        "ip",
        "link",
        "add",
        "flannel.1",
        "type",
        "vxlan",
        "id",
        "1",
        "dstport",
        "8472",
    ]);
    ns.must(&["ip", "link", "add", "keep0", "type", "bridge"]);

    // The root's PATH holds the machine's real tools.
    let node = Node::new(&[]);
    let sbin = node.host("/usr/sbin");
    std::fs::create_dir_all(&sbin).unwrap();
    for tool in [
        "iptables-save",
        "iptables-restore",
        "ip6tables-save",
        "ip6tables-restore",
        "iptables-legacy-save",
        "iptables-legacy-restore",
        "ip6tables-legacy-save",
        "ip6tables-legacy-restore",
        "ip",
        "nft",
    ] {
        if let Some(real) = on_path(tool) {
            std::os::unix::fs::symlink(real, sbin.join(tool)).unwrap();
        }
    }
    let reset = |extra: &[&str]| {
        let mut argv = vec![
            env!("CARGO_BIN_EXE_kinit"),
            "reset",
            "--rootfs",
            node.root.to_str().unwrap(),
        ];
        argv.extend_from_slice(&SKIP_ETCD);
        argv.extend_from_slice(extra);
        let mut command = ns.command(argv[0]);
        command.args(&argv[1..]).env("PATH", "/usr/sbin");
        ok(&command.output().unwrap(), &format!("{argv:?}"))
    };

    let legacy_rules = rules(&ns, "iptables-legacy-save");
    let (v4, v6, links, tables) = (
        rules(&ns, "iptables-save"),
        rules(&ns, "ip6tables-save"),
        links_of(&ns),
        nft_tables(&ns),
    );
    let stdout = reset(&["--dry-run"]);
    for planned in [
        "Would remove iptables chains in table nat: KUBE-MARK-MASQ, KUBE-POSTROUTING, KUBE-SERVICES",
        "Would remove iptables chains in table filter: KUBE-FORWARD",
        "Would remove iptables chains in table mangle: KUBE-KUBELET-CANARY",
        "Would remove ip6tables chains in table filter: KUBE-FIREWALL",
        "-D PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        "-D FORWARD -j KUBE-FORWARD",
        "-X KUBE-MARK-MASQ",
        "Would delete network interfaces: [cni0 flannel.1]",
        "[dry-run] would run ip link delete cni0",
        "[dry-run] would run ip link delete flannel.1",
    ] {
        assert!(stdout.contains(planned), "{planned}\n{stdout}");
    }
    if nft {
        assert!(
            stdout.contains("[dry-run] would run nft delete table ip kube-proxy"),
            "{stdout}"
        );
    }
    assert!(
        !stdout.contains("MINE") && !stdout.contains("keep0"),
        "{stdout}"
    );
    assert_eq!(rules(&ns, "iptables-save"), v4, "a dry run changes no rule");
    assert_eq!(rules(&ns, "ip6tables-save"), v6);
    assert_eq!(links_of(&ns), links);
    assert_eq!(nft_tables(&ns), tables);
    if legacy {
        assert!(
            stdout.contains("Would remove iptables-legacy chains in table nat: KUBE-LEGACY"),
            "{stdout}"
        );
        assert_eq!(rules(&ns, "iptables-legacy-save"), legacy_rules);
    }

    let stdout = reset(&["-f"]);
    assert!(
        stdout.contains("[reset] Checked: nothing that cleanup-node removes is left on this node"),
        "{stdout}"
    );
    let (v4, v6, links) = (
        rules(&ns, "iptables-save"),
        rules(&ns, "ip6tables-save"),
        links_of(&ns),
    );
    assert!(
        !v4.contains("KUBE-") && !v6.contains("KUBE-"),
        "{stdout}\n{v4}\n{v6}"
    );
    for kept in [
        ":MINE -",
        "-A INPUT -s 198.51.100.0/24 -j MINE",
        "-A POSTROUTING -s 198.51.100.0/24 -j MASQUERADE",
    ] {
        assert!(v4.contains(kept), "{kept}\n{v4}");
    }
    assert!(
        links.contains("keep0") && !links.contains("cni0") && !links.contains("flannel.1"),
        "{links}"
    );
    if legacy {
        let rules = rules(&ns, "iptables-legacy-save");
        assert!(
            !rules.contains("KUBE-") && rules.contains(":LEGACY-MINE"),
            "{rules}"
        );
    }
    if nft {
        let tables = nft_tables(&ns);
        assert!(
            tables.contains("table ip mine") && !tables.contains("kube-proxy"),
            "{tables}"
        );
    }
    // Nothing left to do: a second reset plans no network change.
    let stdout = reset(&["--dry-run"]);
    assert!(!stdout.contains("would run"), "{stdout}");
}

#[test]
fn needs_root_reset_unmounts_under_the_kubelet_folder_through_its_link_before_emptying_it() {
    if !have_root() {
        return;
    }
    let node = Node::new(&[]);
    // /var/lib/kubelet is a link, as on nodes that keep it on a data disk.
    node.write("/data/kubelet/config.yaml", "x");
    std::fs::create_dir_all(node.host("/var/lib")).unwrap();
    std::os::unix::fs::symlink("/data/kubelet", node.host("/var/lib/kubelet")).unwrap();
    let volume = node.host("/data/kubelet/pods/p/volumes/v");
    std::fs::create_dir_all(&volume).unwrap();
    let bin = node.host("/usr/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(on_path("umount").unwrap(), bin.join("umount")).unwrap();
    let kinit = format!(
        "{} reset --rootfs {} --skip-phases remove-etcd-member",
        env!("CARGO_BIN_EXE_kinit"),
        node.root.display()
    );
    // A private mount namespace: the volume's mount ends with the shell, also when the test fails.
    let script = format!(
        "set -e
         mount -t tmpfs kinit-test {volume}
         echo data > {volume}/file
         {kinit} --dry-run
         grep -q ' {volume} ' /proc/self/mountinfo || {{ echo 'the dry run unmounted'; exit 9; }}
         {kinit} -f
         if grep -q ' {volume} ' /proc/self/mountinfo; then echo 'still mounted'; exit 8; fi",
        volume = volume.display()
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = ok(&out, "unshare");
    assert!(
        stdout.contains(&format!("[dry-run] would run umount {}", volume.display())),
        "{stdout}"
    );
    assert!(node.host("/data/kubelet").is_dir());
    assert_eq!(
        node.files_under("/data/kubelet"),
        Vec::<String>::new(),
        "{stdout}"
    );
    assert!(
        std::fs::symlink_metadata(node.host("/var/lib/kubelet"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link stays"
    );
}

#[test]
fn needs_root_reset_refuses_a_user_who_is_not_root_unless_told_to_ignore_it() {
    if !have_root() {
        return;
    }
    let node = Node::new(&[]);
    node.write("/etc/kubernetes/manifests/etcd.yaml", "x");
    let parent = node.root.parent().unwrap();
    for dir in [parent, node.root.as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let as_nobody = |extra: &[&str]| {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_kinit"))
            .args(["reset", "-f", "--rootfs", node.root.to_str().unwrap()])
            .args(SKIP_ETCD)
            .args(extra)
            .stdin(Stdio::null());
        command.output().unwrap()
    };
    let out = as_nobody(&[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("[ERROR IsPrivilegedUser]: user is not running as root"),
        "{}",
        text(&out.stderr)
    );
    assert!(node.host("/etc/kubernetes/manifests/etcd.yaml").exists());
    let out = as_nobody(&["--ignore-preflight-errors", "isprivilegeduser"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("[WARNING IsPrivilegedUser]") && stdout.contains("[reset] Deleting files"),
        "{stdout}"
    );
}

#[test]
fn reset_phase_runs_one_phase_of_the_reset_table() {
    let node = Node::full();
    let before = node.snapshot();
    let out = node.reset(&["phase", "nope"], &[], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("choose one of preflight, remove-etcd-member, cleanup-node"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(node.snapshot(), before);

    // The question is the preflight phase's, as in kubeadm's `reset phase preflight`.
    let out = node.reset(&["phase", "preflight"], &[], Some("n\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("[reset] Are you sure you want to proceed? [y/N]: "),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(node.snapshot(), before);

    // cleanup-node alone asks nothing and runs nothing else.
    let stdout = ok(
        &node.reset(&["phase", "cleanup-node", "-o", "json"], &[], None),
        "reset phase cleanup-node",
    );
    let result: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|v: &serde_json::Value| v["event"] == "result")
        .unwrap_or_else(|| panic!("no result in\n{stdout}"));
    let phases: Vec<&str> = result["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["cleanup-node"], "{result}");
    for file in KUBECONFIGS {
        assert!(
            !node.host(&format!("/etc/kubernetes/{file}")).exists(),
            "{file}"
        );
    }
    assert!(node.files_under("/etc/kubernetes/pki").is_empty());
    assert!(node.host("/etc/kubernetes/keep-me").exists());
}
