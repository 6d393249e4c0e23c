//! The binary's contract: exit codes, messages and the JSON shapes of a run.

mod common;
use common::{kinit, text};

/// `kinit init --dry-run` of node cp1 at 198.51.100.10 with `root` as its `/`, and `extra`.
fn dry_run_init(root: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "init",
        "--dry-run",
        "--rootfs",
        root.to_str().unwrap(),
        "--apiserver-advertise-address",
        "198.51.100.10",
        "--node-name",
        "cp1",
    ];
    args.extend_from_slice(extra);
    kinit(&args)
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(kinit(&["init", "--no-such-flag"]).status.code(), Some(2));
    assert_eq!(
        kinit(&["init", "--apiserver-bind-port", "notaport"])
            .status
            .code(),
        Some(2)
    );
    let out = kinit(&["init", "phase", "bogus", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown phase \"bogus\""),
        "{}",
        text(&out.stderr)
    );
    let out = kinit(&["init", "--dry-run", "--skip-phases", "addon/nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--skip-phases"));
}

#[test]
fn config_with_owned_flags_is_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(
        &file,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n",
    )
    .unwrap();
    let out = kinit(&[
        "init",
        "--dry-run",
        "--config",
        file.to_str().unwrap(),
        "--token-ttl",
        "1h",
        "--service-cidr",
        "10.0.0.0/16",
        "--node-name",
        "a",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("can not mix '--config' with arguments [service-cidr token-ttl]"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_unreachable_endpoint_fails_within_the_discovery_timeout_with_progress_lines() {
    let root = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = root.path().join("join.yaml");
    std::fs::write(
        &config,
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    token: abcdef.0123456789abcdef\n    apiServerEndpoint: 127.0.0.1:{port}\n    unsafeSkipCAVerification: true\ntimeouts:\n  discovery: 1s\n"
        ),
    )
    .unwrap();
    let out = kinit(&[
        "join",
        "phase",
        "kubelet-start",
        "--config",
        config.to_str().unwrap(),
        "--rootfs",
        root.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "[discovery] cannot reach the API server at https://127.0.0.1:{port}"
        )) && stdout.contains("trying again in 1s"),
        "{stdout}"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("connection refused") && stderr.contains("timeouts.discovery"),
        "{stderr}"
    );
}

/// Runs kinit, expecting `code` and `phrase` on standard error.
fn refused(args: &[&str], code: i32, phrase: &str) {
    let out = kinit(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(
        stderr.contains(phrase),
        "{args:?}: expected {phrase:?} in {stderr}"
    );
}

#[test]
fn bad_flag_values_are_refused_with_the_rule() {
    let init = |flag: &'static str, value: &'static str| {
        [
            "init",
            "--dry-run",
            flag,
            value,
            "--apiserver-advertise-address",
            "198.51.100.10",
        ]
    };
    refused(
        &init("--service-cidr", "10.96.0.0/29"),
        1,
        "too small, the minimum is 10",
    );
    refused(&init("--service-cidr", "10.0.0.0/8"), 1, "too large");
    refused(
        &init("--pod-network-cidr", "10.244.0.0/400"),
        1,
        "couldn't parse subnet",
    );
    refused(&init("--token", "ABC.def"), 1, "[a-z0-9]");
    refused(&init("--token-ttl", "5days"), 1, "--token-ttl");
    refused(&init("--kubernetes-version", "v1.21.0"), 1, ">= v1.31.0");
    refused(
        &init("--kubernetes-version", "banana"),
        1,
        "invalid Kubernetes version",
    );
    refused(
        &init("--control-plane-endpoint", "bad_host:6443"),
        1,
        "neither an IP address nor a DNS name",
    );
    refused(&init("--node-name", "Bad_Name"), 1, "RFC 1123");
    refused(
        &init("--cri-socket", "tcp://1.2.3.4:1"),
        1,
        "only URL scheme \"unix\"",
    );
    refused(
        &init("--apiserver-cert-extra-sans", "not valid"),
        1,
        "neither an IP address nor a DNS name",
    );
    refused(
        &init("--feature-gates", "NoSuchGate=true"),
        1,
        "not a valid feature name",
    );
    refused(&init("--certificate-key", "abc"), 1, "64 hex characters");
    refused(
        &[
            "init",
            "--dry-run",
            "--apiserver-advertise-address",
            "300.1.1.1",
        ],
        1,
        "ip address is not valid",
    );
    refused(
        &[
            "init",
            "--dry-run",
            "--ignore-preflight-errors",
            "all,Swap",
            "--apiserver-advertise-address",
            "198.51.100.10",
        ],
        1,
        "don't specify individual checks if 'all' is used",
    );
}

#[test]
fn dry_run_json_is_events_per_phase_and_per_object_then_a_result() {
    let root = tempfile::tempdir().unwrap();
    let out = dry_run_init(root.path(), &["-o", "json"]);
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let starts = lines.iter().filter(|l| l["event"] == "phase-start").count();
    let ends: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["event"] == "phase-end").collect();
    // preflight, 11 certificates, 5 kubeconfig files, local etcd, 3 control-plane pods, kubelet-start,
    // wait-control-plane, 2 upload-config units, 4 phases not implemented yet (one unit each), 2 addons
    // and show-join-command.
    assert_eq!(starts, 32, "one start per unit of the init phase table");
    assert_eq!(ends.len(), 32);
    assert_eq!(ends[0]["phase"], "preflight");
    assert!(ends[0]["durationMs"].as_f64().is_some());
    let checks = ends[0]["report"]["checks"]
        .as_array()
        .expect("the preflight report rides on its end event");
    assert!(
        checks.iter().all(|c| c["name"] != "ImagePull"),
        "a dry run pulls nothing, so it reports no ImagePull check"
    );
    assert_eq!(checks[0]["name"], "IsPrivilegedUser");
    for check in checks {
        for key in ["name", "severity", "passed", "ignored", "message", "remedy"] {
            assert!(check.get(key).is_some(), "{key} missing in {check}");
        }
    }
    let result = lines.last().unwrap();
    assert_eq!(result["event"], "result");
    assert_eq!(result["dryRun"], true);
    assert_eq!(result["phases"].as_array().unwrap().len(), 32);
    // show-join-command reads the admin.conf and CA the dry run would have written.
    assert!(
        result["join"]["joinWorker"]
            .as_str()
            .is_some_and(|j| j.starts_with("kinit join ")
                && j.contains(" --discovery-token-ca-cert-hash sha256:")),
        "{result}"
    );
    let planned: Vec<&str> = result["planned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for file in [
        "write /etc/kubernetes/pki/ca.key (mode 0600",
        "write /etc/kubernetes/pki/etcd/peer.crt (mode 0644",
        "write /etc/kubernetes/pki/sa.pub (mode 0600",
        "write /etc/kubernetes/super-admin.conf (mode 0600",
        "make directory /etc/kubernetes/manifests (mode 0700)",
        "write /etc/kubernetes/manifests/etcd.yaml (mode 0600",
        "write /etc/kubernetes/manifests/kube-scheduler.yaml (mode 0600",
    ] {
        assert!(
            planned.iter().any(|p| p.starts_with(file)),
            "{file} in {planned:?}"
        );
    }
    // The plan lists what the API session and the waits would do too, not only the files.
    for step in [
        "apply ConfigMap kube-system/kubeadm-config",
        "create or update Secret kube-system/bootstrap-token-",
        "apply ClusterRoleBinding kubeadm:kubelet-bootstrap",
        "patch Node ",
        "wait up to 4m0s for the kubelet at http://127.0.0.1:10248/healthz",
        "wait up to 4m0s for kube-apiserver at https://",
    ] {
        assert!(
            planned.iter().any(|p| p.starts_with(step)),
            "{step} in {planned:?}"
        );
    }
    assert_eq!(
        std::fs::read_dir(root.path()).unwrap().count(),
        0,
        "a dry run writes nothing"
    );
    // Every init phase is implemented: the dry run succeeds.
    assert_eq!(result["exitCode"], 0);
    assert_eq!(out.status.code(), Some(0));

    // Each object the API phases would send is an event inside its phase, whole.
    let phase_of = |at: usize| {
        lines[..at]
            .iter()
            .rev()
            .find(|l| l["event"] == "phase-start")
            .map(|l| l["phase"].as_str().unwrap().to_string())
    };
    let objects: Vec<(usize, &serde_json::Value)> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l["event"] == "object")
        .collect();
    let find = |kind: &str, name: &str| {
        objects
            .iter()
            .find(|(_, o)| o["kind"] == kind && o["name"].as_str().unwrap().starts_with(name))
            .unwrap_or_else(|| panic!("no {kind} {name} among the object events"))
    };
    let (at, config) = find("ConfigMap", "kubeadm-config");
    assert_eq!(phase_of(*at).as_deref(), Some("upload-config/kubeadm"));
    assert_eq!(config["verb"], "apply");
    assert_eq!(config["namespace"], "kube-system");
    assert_eq!(config["object"]["kind"], "ConfigMap");
    assert!(config["object"]["data"]["ClusterConfiguration"]
        .as_str()
        .is_some_and(|c| c.contains("kind: ClusterConfiguration")));
    let (at, token) = find("Secret", "bootstrap-token-");
    assert_eq!(phase_of(*at).as_deref(), Some("bootstrap-token"));
    let data = &token["object"]["data"];
    assert_eq!(data["token-secret"], "<redacted>");
    assert_eq!(
        data["usage-bootstrap-authentication"], "dHJ1ZQ==",
        "base64 of true"
    );
    let id = token["name"]
        .as_str()
        .unwrap()
        .trim_start_matches("bootstrap-token-");
    let id_b64 = openssl::base64::encode_block(id.as_bytes());
    assert_eq!(data["token-id"], id_b64.as_str());
    let (_, corefile) = find("ConfigMap", "coredns");
    assert_eq!(corefile["verb"], "create unless present");
    assert!(objects.len() > 20, "{} objects", objects.len());
}

#[test]
fn print_defaults_round_trip_through_validate() {
    for what in ["init-defaults", "join-defaults", "reset-defaults"] {
        let out = kinit(&["config", "print", what]);
        assert_eq!(out.status.code(), Some(0));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("d.yaml");
        std::fs::write(&file, &out.stdout).unwrap();
        let check = kinit(&["config", "validate", "--config", file.to_str().unwrap()]);
        assert_eq!(
            check.status.code(),
            Some(0),
            "{what}: {}\n{}",
            text(&out.stdout),
            text(&check.stderr)
        );
    }
    let init = text(&kinit(&["config", "print", "init-defaults"]).stdout);
    for line in [
        "serviceSubnet: 10.96.0.0/12",
        "dnsDomain: cluster.local",
        "bindPort: 6443",
        "ttl: 24h0m0s",
        "controlPlaneComponentHealthCheck: 4m0s",
        "kubernetesAPICall: 1m0s",
        "encryptionAlgorithm: RSA-2048",
        "certificateValidityPeriod: 8760h0m0s",
        "caCertificateValidityPeriod: 87600h0m0s",
        "taints: null",
        "dataDir: /var/lib/etcd",
    ] {
        assert!(init.contains(line), "{line} missing in\n{init}");
    }
}

#[test]
fn validate_reports_every_error_with_kind_path_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbogus: 1\nnodeRegistration:\n  name: Bad_Name\n  nope: x\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  podSubnet: 10.0.0.0/99\nclusterName: a\nclusterName: b\n---\napiVersion: example.com/v1\nkind: Widget\n",
    )
    .unwrap();
    let out = kinit(&[
        "config",
        "validate",
        "--config",
        file.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = report["problems"].as_array().unwrap();
    let find = |path: &str| {
        problems
            .iter()
            .find(|p| p["path"] == path)
            .unwrap_or_else(|| panic!("{path} not in {problems:?}"))
    };
    assert_eq!(find("bogus")["line"], 3);
    assert_eq!(find("bogus")["problem"], "unknown-field");
    assert_eq!(find("nodeRegistration.nope")["line"], 6);
    assert_eq!(find("nodeRegistration.name")["problem"], "invalid");
    assert_eq!(find("networking.podSubnet")["line"], 11);
    assert_eq!(find("clusterName")["problem"], "duplicate-field");
    assert!(problems
        .iter()
        .any(|p| p["kind"] == "Widget" && p["problem"] == "unknown-kind"));
}

#[test]
fn validate_takes_the_files_kubeadm_takes() {
    let dir = tempfile::tempdir().unwrap();
    let validate = |name: &str, text: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        kinit(&["config", "validate", "--config", file.to_str().unwrap()])
    };
    // As the real kubeadm says `ok` to them.
    for (name, content) in [
        ("upgrade.yaml", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: UpgradeConfiguration\napply:\n  kubernetesVersion: v1.34.4\n"),
        ("kubelet.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\n"),
    ] {
        let out = validate(name, content);
        assert!(out.status.success(), "{name}: {}{}", text(&out.stdout), text(&out.stderr));
    }
    // A file of comments only (kubeadm refuses it too).
    let out = validate("comments.yaml", "# nothing\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the file holds no configuration document"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn images_list_follows_the_version_table() {
    let out = kinit(&[
        "config",
        "images",
        "list",
        "--kubernetes-version",
        "v1.31.4",
        "-o",
        "json",
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let images: Vec<&str> = doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert_eq!(images[0], "registry.k8s.io/kube-apiserver:v1.31.4");
    assert!(images.contains(&"registry.k8s.io/coredns/coredns:v1.11.3"));
    assert_eq!(images.last(), Some(&"registry.k8s.io/etcd:3.5.15-0"));
}

const HASH: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn join_preflight_runs_the_join_checks_and_join_flags_are_validated() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let out = kinit(&[
        "join",
        "phase",
        "preflight",
        "198.51.100.1:6443",
        "--token",
        "abcdef.0123456789abcdef",
        "--discovery-token-ca-cert-hash",
        HASH,
        "--dry-run",
        "--rootfs",
        r,
        "-o",
        "json",
        "--node-name",
        "w1",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        &names[..3],
        [
            "IsPrivilegedUser",
            "FileAvailable--etc-kubernetes-kubelet.conf",
            "FileAvailable--etc-kubernetes-bootstrap-kubelet.conf"
        ]
    );
    assert!(
        names.contains(&"FileAvailable--etc-kubernetes-pki-ca.crt"),
        "workers check the CA file: {names:?}"
    );
    assert!(
        !names.contains(&"NumCPU"),
        "control-plane checks are not run on a worker"
    );
    assert!(names.contains(&"HTTPProxy"));

    let out = kinit(&[
        "join",
        "198.51.100.1:6443",
        "--token",
        "abcdef.0123456789abcdef",
        "--dry-run",
        "--rootfs",
        r,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("without caCertHashes can be unsafe"),
        "{}",
        text(&out.stderr)
    );
    let out = kinit(&[
        "join",
        "198.51.100.1:6443",
        "--token",
        "abcdef.0123456789abcdef",
        "--discovery-token-ca-cert-hash",
        "sha256:somehashvalue",
        "--dry-run",
        "--rootfs",
        r,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("invalid hash"),
        "{}",
        text(&out.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("join.yaml");
    std::fs::write(&file, format!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    token: abcdef.0123456789abcdef\n    apiServerEndpoint: 198.51.100.1:6443\n    caCertHashes: [\"{HASH}\"]\n")).unwrap();
    let out = kinit(&[
        "join",
        "--config",
        file.to_str().unwrap(),
        "--token",
        "abcdef.0123456789abcdef",
        "--dry-run",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("can not mix '--config' with arguments [token]"));
    let out = kinit(&[
        "join",
        "phase",
        "preflight",
        "--config",
        file.to_str().unwrap(),
        "--dry-run",
        "--rootfs",
        r,
        "--node-name",
        "w1",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn reset_runs_its_phase_table() {
    let out = kinit(&["reset", "--dry-run", "-o", "json", "-f"]);
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let result = lines.last().unwrap();
    let phases: Vec<&str> = result["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["preflight", "remove-etcd-member", "cleanup-node"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn reset_refuses_config_owned_flags_next_to_config_but_takes_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reset.yaml");
    std::fs::write(
        &file,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\nforce: true\n",
    )
    .unwrap();
    let config = file.to_str().unwrap();
    let out = kinit(&[
        "reset",
        "--dry-run",
        "--config",
        config,
        "-f",
        "--cert-dir",
        "/pki",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("can not mix '--config' with arguments [cert-dir force]"),
        "{}",
        text(&out.stderr)
    );
    let out = kinit(&[
        "reset",
        "--dry-run",
        "--config",
        config,
        "--kubeconfig",
        "/etc/kubernetes/admin.conf",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = kinit(&[
        "reset",
        "--dry-run",
        "-f",
        "--cri-socket",
        "tcp://10.0.0.1:1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("criSocket"),
        "the flag's socket is validated like the file's: {}",
        text(&out.stderr)
    );
}

#[test]
fn skipping_an_addon_disables_it() {
    let root = tempfile::tempdir().unwrap();
    let out = dry_run_init(root.path(), &["--skip-phases", "addon/coredns"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Would pull the image registry.k8s.io/kube-proxy:"),
        "{stdout}"
    );
    assert!(!stdout.contains("coredns/coredns"), "{stdout}");
}

#[test]
fn a_dry_run_works_where_the_host_cannot_tell_its_address() {
    let root = tempfile::tempdir().unwrap();
    let out = kinit(&[
        "init",
        "--dry-run",
        "--rootfs",
        root.path().to_str().unwrap(),
        "--node-name",
        "cp1",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("the dry run uses 127.0.0.1 as the advertise address"),
        "{stdout}"
    );
    let real = kinit(&[
        "init",
        "--rootfs",
        root.path().to_str().unwrap(),
        "--node-name",
        "cp1",
    ]);
    assert_eq!(real.status.code(), Some(1));
    assert!(
        text(&real.stderr).contains("--apiserver-advertise-address"),
        "{}",
        text(&real.stderr)
    );
}

#[test]
fn help_lists_every_init_phase_in_kubeadm_order() {
    const ORDER: [&str; 14] = [
        "preflight",
        "certs",
        "kubeconfig",
        "etcd",
        "control-plane",
        "kubelet-start",
        "wait-control-plane",
        "upload-config",
        "upload-certs",
        "mark-control-plane",
        "bootstrap-token",
        "kubelet-finalize",
        "addon",
        "show-join-command",
    ];
    for args in [&["init", "--help"][..], &["init", "phase", "--help"][..]] {
        let out = kinit(args);
        assert_eq!(out.status.code(), Some(0));
        let help = text(&out.stdout);
        let listing = &help[help
            .find("The phases, in the order they run:")
            .expect("phase list in help")..];
        let positions: Vec<usize> = ORDER
            .iter()
            .map(|name| {
                listing
                    .find(&format!("\n  {name} "))
                    .unwrap_or_else(|| panic!("{name} missing in {listing}"))
            })
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "phases out of order:\n{listing}"
        );
        for child in [
            "/etcd-healthcheck-client",
            "/super-admin",
            "/enable-client-cert-rotation",
            "/kube-proxy",
            "/sa ",
        ] {
            assert!(listing.contains(child), "{child} missing in\n{listing}");
        }
    }
}

#[test]
fn dry_run_in_the_file_changes_nothing_and_the_preflight_document_tells_the_truth() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("proc/sys/net/ipv4")).unwrap();
    std::fs::write(r.join("proc/sys/net/ipv4/ip_forward"), "0\n").unwrap();
    let file = r.join("init.yaml");
    std::fs::write(&file, "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\ndryRun: true\nlocalAPIEndpoint:\n  advertiseAddress: 198.51.100.10\nnodeRegistration:\n  name: cp1\n").unwrap();
    let out = kinit(&[
        "init",
        "phase",
        "preflight",
        "--fix",
        "--config",
        file.to_str().unwrap(),
        "--rootfs",
        r.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(
        std::fs::read_to_string(r.join("proc/sys/net/ipv4/ip_forward")).unwrap(),
        "0\n",
        "a dry run writes nothing"
    );
    assert!(!r.join("etc/sysctl.d/99-kinit.conf").exists());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    assert_eq!(report["dryRun"], true);
    assert_eq!(
        report["passed"], false,
        "ip_forward is off, so preflight did not pass"
    );
    assert!(report["wouldStop"]
        .as_str()
        .unwrap()
        .contains("[ERROR FileContent--proc-sys-net-ipv4-ip_forward]"));
    let forward = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "FileContent--proc-sys-net-ipv4-ip_forward")
        .unwrap();
    assert_eq!(forward["passed"], false);
    assert!(
        report["fixes"].as_array().is_some_and(|f| !f.is_empty()),
        "{report}"
    );
}

#[test]
fn ignored_errors_print_as_warnings_in_text() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("proc/sys/net/ipv4")).unwrap();
    std::fs::write(r.join("proc/sys/net/ipv4/ip_forward"), "0\n").unwrap();
    let out = kinit(&[
        "init",
        "phase",
        "preflight",
        "--dry-run",
        "--rootfs",
        r.to_str().unwrap(),
        "--apiserver-advertise-address",
        "198.51.100.10",
        "--node-name",
        "cp1",
        "--ignore-preflight-errors",
        "filecontent--proc-sys-net-ipv4-ip_forward",
    ]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("\t[WARNING FileContent--proc-sys-net-ipv4-ip_forward]: /proc/sys/net/ipv4/ip_forward contents are not set to 1"), "{stdout}");
    assert!(
        !stdout.contains("[ERROR FileContent--proc-sys-net-ipv4-ip_forward]"),
        "{stdout}"
    );
}

#[test]
fn join_checks_cover_dns_endpoints_and_a_control_plane_join_lists_each_check_once() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec![
            "join",
            "phase",
            "preflight",
            "--dry-run",
            "--rootfs",
            r,
            "-o",
            "json",
            "--node-name",
            "n1",
            "--token",
            "abcdef.0123456789abcdef",
            "--discovery-token-ca-cert-hash",
            HASH,
        ];
        all.extend_from_slice(args);
        let out = kinit(&all);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    let dns = names(&["cp.example.com:6443"]);
    assert!(dns.contains(&"HTTPProxy".to_string()), "{dns:?}");
    let cp = names(&[
        "198.51.100.1:6443",
        "--control-plane",
        "--apiserver-advertise-address",
        "198.51.100.20",
    ]);
    let mut seen = std::collections::HashSet::new();
    for name in &cp {
        // HTTPProxy is checked twice on purpose: once for the endpoint joined, once for this node's address.
        assert!(
            seen.insert(name.clone()) || name == "HTTPProxy",
            "{name} listed twice in {cp:?}"
        );
    }
    assert!(
        cp.contains(&"NumCPU".to_string())
            && !cp.contains(&"FileAvailable--etc-kubernetes-pki-ca.crt".to_string())
    );
}

#[test]
fn json_results_carry_the_configuration_warnings() {
    let root = tempfile::tempdir().unwrap();
    let out = kinit(&[
        "init",
        "--dry-run",
        "-o",
        "json",
        "--rootfs",
        root.path().to_str().unwrap(),
        "--node-name",
        "cp1",
        "--kubernetes-version",
        "v1.36.1",
    ]);
    let last: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    let warnings: Vec<&str> = last["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("v1.36 is not in kinit's version table")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("the dry run uses 127.0.0.1 as the advertise address")),
        "{warnings:?}"
    );
    assert!(last["planned"].is_array());
}

#[test]
fn token_generate_prints_a_fresh_token_and_the_server_commands_need_a_kubeconfig() {
    let mut seen = Vec::new();
    for _ in 0..3 {
        let out = kinit(&["token", "generate"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let token = text(&out.stdout);
        let token = token.trim_end_matches('\n');
        let (id, secret) = token.split_once('.').unwrap_or_else(|| panic!("{token:?}"));
        let lower_alnum = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        };
        assert!(
            id.len() == 6 && secret.len() == 16 && lower_alnum(id) && lower_alnum(secret),
            "{token:?}"
        );
        assert!(!seen.contains(&token.to_string()), "tokens repeat");
        seen.push(token.to_string());
    }
    // The others talk to the cluster with admin.conf, which an empty root does not have.
    let empty = tempfile::tempdir().unwrap();
    let root = empty.path().to_str().unwrap();
    for args in [
        &["token", "create", "--rootfs", root][..],
        &["token", "list", "--rootfs", root],
        &["token", "delete", "abcdef", "--rootfs", root],
    ] {
        let out = kinit(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            text(&out.stderr).contains("/etc/kubernetes/admin.conf does not exist"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // Misused flags are a usage error, found before anything is read.
    let out = kinit(&["token", "create", "--certificate-key", "00"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--certificate-key needs --print-join-command"
    );
}

#[test]
fn completions_parse_in_their_shell_and_man_pages_cover_every_command() {
    let out = kinit(&["completion", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("kinit.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    // bash itself checks the script's syntax, then loads it and completes a sub-command.
    let check = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -e; bash -n {0}; source {0}; COMP_WORDS=(kinit jo); COMP_CWORD=1; _kinit kinit jo kinit; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert_eq!(text(&check.stdout).trim(), "join");
    for shell in ["zsh", "fish"] {
        let out = kinit(&["completion", shell]);
        assert_eq!(out.status.code(), Some(0));
        assert!(text(&out.stdout).contains("reset"), "{shell}");
    }
    let out = kinit(&["completion", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));

    let pages = dir.path().join("man");
    let out = kinit(&["man", "--dir", pages.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for page in [
        "kinit.1",
        "kinit-init.1",
        "kinit-init-phase.1",
        "kinit-join.1",
        "kinit-reset.1",
        "kinit-token-create.1",
        "kinit-certs-renew.1",
        "kinit-completion.1",
    ] {
        let text =
            std::fs::read_to_string(pages.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page}: {text}"
        );
        assert!(text.contains(".SH SYNOPSIS"), "{page}");
    }
    let join = std::fs::read_to_string(pages.join("kinit-join.1")).unwrap();
    assert!(
        join.contains("discovery\\-token\\-ca\\-cert\\-hash"),
        "{join}"
    );
}

#[test]
fn logs_written_to_a_file_carry_no_colour_codes() {
    let root = tempfile::tempdir().unwrap();
    // stderr is a pipe here, as it is for `kinit init --v=9 2>log` (kubeadm's way to ask).
    let out = dry_run_init(root.path(), &["--v=9"]);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("INFO"), "the log lines are there: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "no escape codes in {stderr:?}");
}
