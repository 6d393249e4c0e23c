//! `kinit reset` through the binary: on temp roots after the local init phases (everything kubeadm's
//! reset removes goes, the folders and everything beside them stay, a dry run lists it all and changes
//! no byte), the user's kubeconfig, the question before a reset, preflight passing again as before
//! init, and, inside a network namespace, kube-proxy's iptables chains, nftables tables and the CNI
//! interfaces with the real iptables, nft and ip.

mod common;
use common::text;

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
            let mut args = vec!["init", "phase"];
            args.extend_from_slice(words);
            args.extend([
                "--rootfs",
                root.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
            ]);
            ok(&kinit_in(&args, &[], None), &format!("{args:?}"));
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

    let stdout = ok(&node.reset(&["-f"], &[], None), "reset -f");
    assert!(
        stdout.contains("[reset] Deleting contents of directories: [/var/lib/kubelet]"),
        "{stdout}"
    );
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
    let other = kinit_phases::kubeconfig::base64(
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
