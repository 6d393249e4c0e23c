//! `kinit init phase kubelet-start` through the binary on a temp `--rootfs`: the files of reference §6
//! (expectations written from the reference, not from kinit's output), the user's
//! KubeletConfiguration with kubeadm's warnings, patches of each type, the service manager, re-runs
//! and dry runs.

mod common;
use common::{kinit, mode, text};

use kinit_phases::domain::config::yaml::parse_documents;
use serde_json::{json, Value};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Runs `kinit init phase kubelet-start` under `root`, expecting success; returns standard output.
fn kubelet_start(root: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "init",
        "phase",
        "kubelet-start",
        "--rootfs",
        root.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = kinit(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("kinit.yaml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

const INIT: &str = "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 198.51.100.10
";

fn cluster(version: &str) -> String {
    format!("---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: {version}\n")
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_lowercase()
}

fn read(root: &Path, path: &str) -> String {
    let file = root.join(path.trim_start_matches('/'));
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file:?}: {e}"))
}

fn kubelet_config(root: &Path) -> Value {
    parse_documents(&read(root, "/var/lib/kubelet/config.yaml"))
        .unwrap()
        .remove(0)
        .value
}

const DROPIN: &str = "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf";
const UNIT: &str = "/etc/systemd/system/kubelet.service";

#[test]
fn the_files_are_those_of_reference_section_6() {
    let root = tempfile::tempdir().unwrap();
    let out = kubelet_start(
        root.path(),
        &[
            "--apiserver-advertise-address",
            "198.51.100.10",
            "--node-name",
            "cp1",
            "--kubernetes-version",
            "1.32.0",
        ],
    );
    // One line, Go %q quoted, flags sorted; pause from the version table (1.32 → 3.10); the node
    // name differs from this machine's hostname, so the kubelet is told it.
    assert_ne!(hostname(), "cp1");
    assert_eq!(
        read(root.path(), "/var/lib/kubelet/kubeadm-flags.env"),
        "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --hostname-override=cp1 --pod-infra-container-image=registry.k8s.io/pause:3.10\"\n"
    );
    let config = kubelet_config(root.path());
    let expected = json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "staticPodPath": "/etc/kubernetes/manifests",
        "clusterDNS": ["10.96.0.10"],
        "clusterDomain": "cluster.local",
        "authentication": {
            "x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"},
            "anonymous": {"enabled": false},
            "webhook": {"enabled": true},
        },
        "authorization": {"mode": "Webhook"},
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "rotateCertificates": true,
        "cgroupDriver": "systemd",
    });
    assert_eq!(config, expected);
    assert!(
        config.get("readOnlyPort").is_none(),
        "0 means off, and off is the kubelet's own default"
    );
    assert!(
        config.get("resolvConf").is_none(),
        "systemd-resolved does not run under the test root"
    );

    let kubelet_dir = root.path().join("var/lib/kubelet");
    assert_eq!(mode(&kubelet_dir), 0o700);
    assert_eq!(mode(&kubelet_dir.join("kubeadm-flags.env")), 0o644);
    assert_eq!(mode(&kubelet_dir.join("config.yaml")), 0o644);

    // No drop-in was installed, so kinit writes the packaged one.
    let dropin = read(root.path(), DROPIN);
    assert!(dropin.contains("EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n"));
    assert!(dropin.contains("--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"));
    assert!(dropin.contains("--config=/var/lib/kubelet/config.yaml"));
    assert!(dropin.contains("\nExecStart=\nExecStart="));
    assert!(dropin.contains(" $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n"));
    assert_eq!(
        mode(&root.path().join(DROPIN.trim_start_matches('/'))),
        0o644
    );

    // No kubelet unit was installed either (a kubelet from a plain binary): kinit writes the packaged one.
    let unit = read(root.path(), UNIT);
    assert!(unit.contains("\n[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\nStartLimitInterval=0\nRestartSec=10\n"), "{unit}");
    assert!(
        unit.contains("\n[Install]\nWantedBy=multi-user.target\n"),
        "{unit}"
    );
    assert!(unit.contains("After=network-online.target\n"), "{unit}");
    assert_eq!(mode(&root.path().join(UNIT.trim_start_matches('/'))), 0o644);

    // kubeadm's lines, in its order, then plain words about the kubelet kinit cannot start here.
    let writing_env = out.find("[kubelet-start] Writing kubelet environment file with flags to file \"/var/lib/kubelet/kubeadm-flags.env\"").unwrap();
    let writing_config = out.find("[kubelet-start] Writing kubelet configuration to file \"/var/lib/kubelet/config.yaml\"").unwrap();
    let starting = out.find("[kubelet-start] Starting the kubelet").unwrap();
    assert!(
        writing_env < writing_config && writing_config < starting,
        "{out}"
    );
    assert!(
        out.contains("kinit could not manage the kubelet: systemd is not the init system here"),
        "{out}"
    );
    assert!(out.contains("Start the kubelet yourself"), "{out}");
    assert!(out.contains("kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml --container-runtime-endpoint="), "{out}");
}

#[test]
fn config_yaml_passes_the_strict_kubelet_configuration_check() {
    // kubernetes-validate has no schema for KubeletConfiguration; kinit's strict decoder of the kind
    // (every field name and type, at every depth) stands in.
    let root = tempfile::tempdir().unwrap();
    let config = write_config(
        root.path(),
        &format!("{INIT}{}---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 50\nevictionHard:\n  memory.available: 5%\n", cluster("1.33.0")),
    );
    kubelet_start(root.path(), &["--config", &config]);
    let check = root.path().join("check.yaml");
    std::fs::write(
        &check,
        format!(
            "{INIT}---\n{}",
            read(root.path(), "/var/lib/kubelet/config.yaml")
        ),
    )
    .unwrap();
    let out = kinit(&["config", "validate", "--config", check.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let config = kubelet_config(root.path());
    assert_eq!(config["maxPods"], 50);
    assert_eq!(config["evictionHard"]["memory.available"], "5%");
}

#[test]
fn the_node_name_of_the_hostname_needs_no_override_and_extra_args_override_defaults() {
    let root = tempfile::tempdir().unwrap();
    let config = write_config(
        root.path(),
        &format!(
            "{INIT}nodeRegistration:
  name: {}
  criSocket: unix:///var/run/crio/crio.sock
  kubeletExtraArgs:
  - name: pod-infra-container-image
    value: mirror.example/pause:9
  - name: node-labels
    value: 'team=a \"b\"'
  - name: node-ip
    value: 198.51.100.10
{}",
            hostname(),
            cluster("1.31.0")
        ),
    );
    kubelet_start(root.path(), &["--config", &config]);
    // Sorted by name; the extra arg replaced the default; a quote is escaped as Go's %q escapes it.
    assert_eq!(
        read(root.path(), "/var/lib/kubelet/kubeadm-flags.env"),
        "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///var/run/crio/crio.sock --node-ip=198.51.100.10 --node-labels=team=a \\\"b\\\" --pod-infra-container-image=mirror.example/pause:9\"\n"
    );
}

#[test]
fn user_values_are_kept_with_kubeadms_warning_and_the_forced_ones_are_forced() {
    let root = tempfile::tempdir().unwrap();
    let config = write_config(
        root.path(),
        &format!(
            "{INIT}{}networking:
  serviceSubnet: 10.100.0.0/16
  dnsDomain: corp.example
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: /etc/other/manifests
readOnlyPort: 10255
rotateCertificates: false
cgroupDriver: cgroupfs
authorization:
  mode: AlwaysAllow
",
            cluster("1.34.0")
        ),
    );
    let out = kubelet_start(root.path(), &["--config", &config]);
    let config = kubelet_config(root.path());
    assert_eq!(config["staticPodPath"], "/etc/other/manifests");
    assert_eq!(config["readOnlyPort"], 10255);
    assert_eq!(config["authorization"]["mode"], "AlwaysAllow");
    assert_eq!(config["cgroupDriver"], "cgroupfs");
    assert_eq!(config["rotateCertificates"], true);
    assert_eq!(config["clusterDNS"], json!(["10.100.0.10"]));
    assert_eq!(config["clusterDomain"], "corp.example");
    for warning in [
        "The recommended value for \"staticPodPath\" in \"KubeletConfiguration\" is: /etc/kubernetes/manifests; the provided value is: /etc/other/manifests",
        "The recommended value for \"readOnlyPort\" in \"KubeletConfiguration\" is: 0; the provided value is: 10255",
        "The recommended value for \"mode\" in \"KubeletConfiguration\" is: Webhook; the provided value is: AlwaysAllow",
        "\"rotateCertificates\" in \"KubeletConfiguration\" is always true",
    ] {
        assert!(out.contains(warning), "missing {warning:?} in\n{out}");
    }
    assert!(
        !out.contains("cgroupDriver"),
        "any cgroup driver the user picks is fine: {out}"
    );
}

#[test]
fn patches_of_each_type_apply_to_kubeletconfiguration_in_file_name_order() {
    let root = tempfile::tempdir().unwrap();
    let patches = root.path().join("patches");
    std::fs::create_dir(&patches).unwrap();
    std::fs::write(
        patches.join("kubeletconfiguration0+strategic.yaml"),
        "maxPods: 42\nstaticPodPath: /etc/kubernetes/manifests\n",
    )
    .unwrap();
    std::fs::write(
        patches.join("kubeletconfiguration1+merge.json"),
        r#"{"evictionHard": {"memory.available": "7%"}, "maxPods": 43}"#,
    )
    .unwrap();
    std::fs::write(
        patches.join("kubeletconfiguration2+json.yaml"),
        "- op: add\n  path: /serializeImagePulls\n  value: false\n- op: replace\n  path: /healthzPort\n  value: 10999\n",
    )
    .unwrap();
    let out = kubelet_start(
        root.path(),
        &[
            "--apiserver-advertise-address",
            "198.51.100.10",
            "--node-name",
            "cp1",
            "--patches",
            "/patches",
        ],
    );
    let config = kubelet_config(root.path());
    assert_eq!(
        config["maxPods"], 43,
        "the merge patch comes after the strategic one"
    );
    assert_eq!(config["evictionHard"]["memory.available"], "7%");
    assert_eq!(config["serializeImagePulls"], false);
    assert_eq!(config["healthzPort"], 10999);
    assert_eq!(config["staticPodPath"], "/etc/kubernetes/manifests");
    for media in [
        "application/strategic-merge-patch+json",
        "application/merge-patch+json",
        "application/json-patch+json",
    ] {
        assert!(
            out.contains(&format!(
                "[patches] Applied patch of type \"{media}\" to target \"kubeletconfiguration\""
            )),
            "{out}"
        );
    }
}

fn mtimes(root: &Path) -> Vec<(PathBuf, i64, i64)> {
    [
        "var/lib/kubelet",
        "var/lib/kubelet/config.yaml",
        "var/lib/kubelet/kubeadm-flags.env",
        DROPIN.trim_start_matches('/'),
    ]
    .iter()
    .map(|p| {
        let meta = std::fs::metadata(root.join(p)).unwrap();
        (root.join(p), meta.mtime(), meta.mtime_nsec())
    })
    .collect()
}

#[test]
fn a_rerun_changes_no_byte_and_no_mtime_and_a_dry_run_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let args = [
        "--apiserver-advertise-address",
        "198.51.100.10",
        "--node-name",
        "cp1",
    ];
    kubelet_start(root.path(), &args);
    let before = mtimes(root.path());
    let bytes: Vec<String> = before
        .iter()
        .skip(1)
        .map(|(p, _, _)| std::fs::read_to_string(p).unwrap())
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(20));
    kubelet_start(root.path(), &args);
    assert_eq!(mtimes(root.path()), before);
    let after: Vec<String> = before
        .iter()
        .skip(1)
        .map(|(p, _, _)| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(after, bytes);

    let empty = tempfile::tempdir().unwrap();
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let out = kubelet_start(empty.path(), &dry);
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0, "{out}");
    for planned in [
        "[dry-run] would make directory /var/lib/kubelet (mode 0700)",
        "[dry-run] would write /var/lib/kubelet/kubeadm-flags.env (mode 0644",
        "[dry-run] would write /var/lib/kubelet/config.yaml (mode 0644",
        "[dry-run] would write /etc/systemd/system/kubelet.service.d/10-kubeadm.conf (mode 0644",
        "[dry-run] would write /etc/systemd/system/kubelet.service (mode 0644",
    ] {
        assert!(out.contains(planned), "missing {planned:?} in\n{out}");
    }
}

/// A root where systemd looks like PID 1 and `systemctl` is a script that logs its arguments (and
/// says systemd-resolved is running).
fn systemd_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("run/systemd/system")).unwrap();
    let bin = root.path().join("usr/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = root.path().join("systemctl.log");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> {}\ncase \"$*\" in\n  \"is-enabled systemd-resolved.service\") echo enabled ;;\nesac\nexit 0\n",
        log.display()
    );
    let systemctl = bin.join("systemctl");
    std::fs::write(&systemctl, script).unwrap();
    std::fs::set_permissions(&systemctl, std::fs::Permissions::from_mode(0o755)).unwrap();
    root
}

#[test]
fn under_systemd_the_kubelet_is_stopped_before_the_files_and_started_after_a_reload() {
    let root = systemd_root();
    // A package's unit and drop-in are in place, so kinit writes neither and enables nothing.
    let packaged = root.path().join("usr/lib/systemd/system/kubelet.service.d");
    std::fs::create_dir_all(&packaged).unwrap();
    std::fs::write(packaged.join("10-kubeadm.conf"), "[Service]\n").unwrap();
    std::fs::write(
        root.path().join("usr/lib/systemd/system/kubelet.service"),
        "[Service]\nExecStart=/usr/bin/kubelet\n",
    )
    .unwrap();
    let out = kubelet_start(
        root.path(),
        &[
            "--apiserver-advertise-address",
            "198.51.100.10",
            "--node-name",
            "cp1",
        ],
    );
    assert!(!root.path().join(DROPIN.trim_start_matches('/')).exists());
    assert!(!root.path().join(UNIT.trim_start_matches('/')).exists());
    assert!(!out.contains("WARNING"), "{out}");
    let log = read(root.path(), "/systemctl.log");
    let calls: Vec<&str> = log.lines().filter(|l| !l.starts_with("is-")).collect();
    assert_eq!(
        calls,
        ["stop kubelet", "daemon-reload", "start kubelet"],
        "{log}"
    );
    // systemd-resolved is running, so pods get its upstream list rather than the 127.0.0.53 stub.
    assert_eq!(
        kubelet_config(root.path())["resolvConf"],
        "/run/systemd/resolve/resolv.conf"
    );
}

#[test]
fn under_systemd_a_plain_binary_kubelet_gets_the_unit_and_drop_in_and_is_enabled() {
    let root = systemd_root();
    std::fs::write(root.path().join("usr/bin/kubelet"), "#!/bin/sh\n").unwrap();
    let args = [
        "--apiserver-advertise-address",
        "198.51.100.10",
        "--node-name",
        "cp1",
    ];
    let out = kubelet_start(root.path(), &args);
    assert!(!out.contains("WARNING"), "{out}");
    assert!(
        out.contains("[kubelet-start] No kubelet.service is installed; writing /etc/systemd/system/kubelet.service"),
        "{out}"
    );
    assert!(read(root.path(), UNIT).contains("ExecStart=/usr/bin/kubelet\n"));
    assert!(
        read(root.path(), DROPIN).contains("ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS")
    );
    let log = read(root.path(), "/systemctl.log");
    let calls: Vec<&str> = log.lines().filter(|l| !l.starts_with("is-")).collect();
    // The unit is in place before the reload that makes systemd read it, and enabled once started.
    assert_eq!(
        calls,
        [
            "stop kubelet",
            "daemon-reload",
            "start kubelet",
            "enable kubelet"
        ],
        "{log}"
    );
    // A second run finds kinit's own unit and leaves it, and enables nothing again.
    std::fs::remove_file(root.path().join("systemctl.log")).unwrap();
    kubelet_start(root.path(), &args);
    let log = read(root.path(), "/systemctl.log");
    let calls: Vec<&str> = log.lines().filter(|l| !l.starts_with("is-")).collect();
    assert_eq!(
        calls,
        ["stop kubelet", "daemon-reload", "start kubelet"],
        "{log}"
    );
}
