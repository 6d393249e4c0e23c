//! The Vagrant matrix (vagrant/): no VMs run here, so every entry of vagrant/matrix.yaml is rendered by
//! vagrant/plan.rb (the renderer the Vagrantfile uses) and its plan checked: the machines and roles of its
//! topology, unique names and addresses on one private network, and a kinit configuration that
//! `kinit config validate` accepts and that carries the entry's key type, minor and endpoint.
//! The Vagrantfile itself is loaded for every entry with a stand-in for Vagrant's API
//! (vagrant/stub_vagrant.rb): its machines, addresses, resources and provisioners must be the plan's.
//! Needs ruby; without it the test fails, unless KINIT_SKIP_RUBY=1 (then it says SKIPPED).

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn vagrant_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/vagrant"))
}

/// `ruby plan.rb ARGS` in vagrant/, its stdout; None when ruby is missing and KINIT_SKIP_RUBY=1.
fn plan_rb(args: &[&str]) -> Option<String> {
    let out = match Command::new("ruby")
        .arg("plan.rb")
        .args(args)
        .current_dir(vagrant_dir())
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::env::var("KINIT_SKIP_RUBY").as_deref() == Ok("1") {
                println!("SKIPPED: the Vagrant matrix plans were not checked: ruby is missing (KINIT_SKIP_RUBY=1)");
                return None;
            }
            panic!("ruby is missing: install it (Debian: apt-get install ruby), or set KINIT_SKIP_RUBY=1 to skip this test");
        }
        Err(e) => panic!("cannot run ruby: {e}"),
    };
    assert!(
        out.status.success(),
        "ruby plan.rb {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

fn validate(config: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kinit-config.yaml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kinit"))
        .args(["config", "validate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kinit config validate refused the rendered config:\n{config}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_matrix_entry_renders_a_valid_provisioning_plan() {
    let Some(list) = plan_rb(&["--list"]) else {
        return;
    };
    let entries: Vec<&str> = list.lines().collect();
    // The boxes and options issue 7 asks for, each crossed with the others.
    for wanted in [
        "ubuntu-24.04:",
        "debian-12:",
        "rockylinux-9:",
        ":single:",
        ":ha:",
        ":rsa:",
        ":ecdsa:",
        ":1.33",
        ":1.34",
    ] {
        assert!(
            entries.iter().any(|e| e.contains(wanted)),
            "no entry with {wanted}: {entries:?}"
        );
    }
    assert!(entries.len() >= 24, "{entries:?}");

    for entry in entries {
        let plan: Value = serde_json::from_str(&plan_rb(&[entry]).unwrap()).unwrap();
        let (box_name, topology, key, minor) = match entry.split(':').collect::<Vec<_>>()[..] {
            [b, t, k, m] => (b, t, k, m),
            _ => panic!("entry {entry:?} is not box:topology:key:minor"),
        };
        assert_eq!(plan["entry"], entry);
        assert_eq!(plan["boxName"], box_name);
        assert!(
            plan["box"].as_str().unwrap().starts_with("bento/"),
            "{entry}: {}",
            plan["box"]
        );
        let machines = plan["machines"].as_array().unwrap();
        let count = |role: &str| machines.iter().filter(|m| m["role"] == role).count();
        let expected = match topology {
            "single" => (0, 1, 2),
            "ha" => (1, 3, 1),
            other => panic!("{entry}: unknown topology {other}"),
        };
        assert_eq!(
            (
                count("loadbalancer"),
                count("controlplane"),
                count("worker")
            ),
            expected,
            "{entry}"
        );
        assert_eq!(
            count("loadbalancer") + count("controlplane") + count("worker"),
            machines.len(),
            "{entry}: a machine without a known role"
        );
        let first: Vec<&Value> = machines.iter().filter(|m| m["init"] == true).collect();
        assert_eq!(
            first.len(),
            1,
            "{entry}: exactly one machine runs kinit init"
        );
        assert_eq!(first[0]["role"], "controlplane", "{entry}");

        let names: HashSet<&str> = machines
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        let ips: HashSet<&str> = machines.iter().map(|m| m["ip"].as_str().unwrap()).collect();
        assert_eq!(names.len(), machines.len(), "{entry}: machine names repeat");
        assert_eq!(ips.len(), machines.len(), "{entry}: addresses repeat");
        let prefix = format!("{}.", plan["ipPrefix"].as_str().unwrap());
        for ip in &ips {
            let host: u8 = ip
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{entry}: {ip} outside {prefix}0/24"))
                .parse()
                .unwrap();
            assert!((2..255).contains(&host), "{entry}: {ip}");
        }

        let config = plan["kinitConfig"].as_str().unwrap();
        validate(config);
        let algorithm = if key == "rsa" {
            "RSA-2048"
        } else {
            "ECDSA-P256"
        };
        assert!(
            config.contains(&format!("encryptionAlgorithm: {algorithm}\n")),
            "{entry}:\n{config}"
        );
        assert!(
            config.contains(&format!("kubernetesVersion: v{minor}.0\n")),
            "{entry}:\n{config}"
        );
        assert!(
            config.contains(&format!(
                "advertiseAddress: {}\n",
                first[0]["ip"].as_str().unwrap()
            )),
            "{entry}:\n{config}"
        );
        if topology == "ha" {
            // Every node reaches the cluster through the load balancer, and control planes join with the certificates init uploads.
            let lb = machines
                .iter()
                .find(|m| m["role"] == "loadbalancer")
                .unwrap();
            let endpoint = format!("{}:6443", lb["ip"].as_str().unwrap());
            assert!(
                config.contains(&format!("controlPlaneEndpoint: {endpoint}\n")),
                "{entry}:\n{config}"
            );
            assert_eq!(plan["endpoint"], endpoint.as_str());
            assert_eq!(plan["uploadCerts"], true, "{entry}");
        } else {
            assert!(
                !config.contains("controlPlaneEndpoint"),
                "{entry}:\n{config}"
            );
            assert_eq!(plan["uploadCerts"], false, "{entry}");
        }
    }
}

/// What the Vagrantfile defines for an entry, loaded by vagrant/stub_vagrant.rb with the entry's env vars.
fn vagrantfile_machines(entry: &str, run_dir: &Path) -> Value {
    let parts: Vec<&str> = entry.split(':').collect();
    let out = Command::new("ruby")
        .arg("stub_vagrant.rb")
        .current_dir(vagrant_dir())
        .envs([
            ("KINIT_BOX", parts[0]),
            ("KINIT_TOPOLOGY", parts[1]),
            ("KINIT_KEY", parts[2]),
            ("KINIT_MINOR", parts[3]),
        ])
        .env("KINIT_BIN", "/opt/kinit-under-test")
        .env("KINIT_RUN_DIR", run_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{entry}: the Vagrantfile does not load: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_vagrantfile_defines_every_entry_as_planned() {
    let Some(list) = plan_rb(&["--list"]) else {
        return;
    };
    for entry in list.lines() {
        let plan: Value = serde_json::from_str(&plan_rb(&[entry]).unwrap()).unwrap();
        let run = tempfile::tempdir().unwrap();
        let defined = vagrantfile_machines(entry, run.path());
        assert_eq!(defined["*box*"], plan["box"], "{entry}");
        // The config the first control plane reads from the shared folder is the plan's, byte for byte.
        let written = std::fs::read_to_string(run.path().join("kinit-config.yaml")).unwrap();
        assert_eq!(written, plan["kinitConfig"].as_str().unwrap(), "{entry}");

        let machines = plan["machines"].as_array().unwrap();
        assert_eq!(
            defined.as_object().unwrap().len(),
            machines.len() + 1,
            "{entry}: {defined}"
        );
        let control_planes: Vec<&Value> = machines
            .iter()
            .filter(|m| m["role"] == "controlplane")
            .map(|m| &m["ip"])
            .collect();
        for m in machines {
            let name = m["name"].as_str().unwrap();
            let vm = &defined[name];
            assert_eq!(vm["hostname"], m["name"], "{entry} {name}");
            assert_eq!(vm["network"]["type"], "private_network", "{entry} {name}");
            assert_eq!(vm["network"]["ip"], m["ip"], "{entry} {name}");
            assert_eq!(
                vm["providers"]["virtualbox"]["memory"], m["memory"],
                "{entry} {name}"
            );
            assert_eq!(
                vm["providers"]["virtualbox"]["cpus"], m["cpus"],
                "{entry} {name}"
            );
            let steps = vm["provision"].as_array().unwrap();
            for step in steps.iter().filter(|s| s["type"] == "shell") {
                let path = step["path"].as_str().unwrap();
                assert!(
                    vagrant_dir().join(path).is_file(),
                    "{entry} {name}: no vagrant/{path}"
                );
            }
            let shell = |i: usize, path: &str, args: Value| {
                assert_eq!(steps[i]["type"], "shell", "{entry} {name}: {steps:?}");
                assert_eq!(steps[i]["path"], path, "{entry} {name}");
                assert_eq!(steps[i]["args"], args, "{entry} {name}");
            };
            if m["role"] == "loadbalancer" {
                assert_eq!(steps.len(), 1, "{entry} {name}: {steps:?}");
                shell(
                    0,
                    "scripts/loadbalancer.sh",
                    Value::from(
                        control_planes
                            .iter()
                            .map(|ip| (*ip).clone())
                            .collect::<Vec<_>>(),
                    ),
                );
                continue;
            }
            assert_eq!(steps.len(), 3, "{entry} {name}: {steps:?}");
            assert_eq!(steps[0]["type"], "file", "{entry} {name}");
            assert_eq!(
                steps[0]["source"], "/opt/kinit-under-test",
                "{entry} {name}: the kinit binary is KINIT_BIN"
            );
            shell(
                1,
                "scripts/node.sh",
                serde_json::json!([plan["family"], plan["minor"], m["ip"]]),
            );
            if m["init"] == true {
                let upload = plan["uploadCerts"].as_bool().unwrap().to_string();
                shell(
                    2,
                    "scripts/init.sh",
                    serde_json::json!([name, upload, plan["ipPrefix"], plan["cniManifest"]]),
                );
            } else {
                shell(
                    2,
                    "scripts/join.sh",
                    serde_json::json!([name, m["ip"], m["role"]]),
                );
            }
        }
    }
}

#[test]
fn an_unknown_entry_is_refused_with_the_known_names() {
    if plan_rb(&["--list"]).is_none() {
        return;
    }
    let out = Command::new("ruby")
        .args(["plan.rb", "fedora-40:single:rsa:1.34"])
        .current_dir(vagrant_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown box \"fedora-40\"") && err.contains("ubuntu-24.04"),
        "{err}"
    );
}

/// A stand-in for the `vagrant` command: logs each call with the entry it was made for; `up` writes the
/// timings init.sh and join.sh would, and fails for the entries in FAIL_UP.
const FAKE_VAGRANT: &str = r#"#!/usr/bin/env bash
echo "$* [$KINIT_BOX:$KINIT_TOPOLOGY:$KINIT_KEY:$KINIT_MINOR]" >>"$FAKE_CALLS"
if [ "$1" = up ]; then
  mkdir -p "$KINIT_RUN_DIR/timings"
  echo '{"node": "cp1", "command": "init", "totalMs": 1500.4, "phases": [{"phase": "preflight", "durationMs": 3.5, "outcome": "ok"}]}' >"$KINIT_RUN_DIR/timings/cp1.json"
  echo '{"node": "w1", "command": "join", "totalMs": 700, "phases": []}' >"$KINIT_RUN_DIR/timings/w1.json"
  case " $FAIL_UP " in *" $KINIT_BOX:$KINIT_TOPOLOGY:$KINIT_KEY:$KINIT_MINOR "*) exit 1 ;; esac
fi
"#;

#[test]
fn matrix_sh_runs_a_filter_of_the_matrix_and_summarises_it() {
    if plan_rb(&["--list"]).is_none() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("vagrant"), FAKE_VAGRANT).unwrap();
    std::fs::set_permissions(bin.join("vagrant"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let calls = tmp.path().join("calls");
    let results = tmp.path().join("results");
    let out = Command::new("bash")
        .arg(vagrant_dir().join("matrix.sh"))
        .arg("debian-12:ha:")
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("KINIT_BIN", env!("CARGO_BIN_EXE_kinit"))
        .env("KINIT_RUN_DIR", tmp.path().join("run"))
        .env("KINIT_RESULTS_DIR", &results)
        .env("FAKE_CALLS", &calls)
        .env("FAIL_UP", "debian-12:ha:ecdsa:1.33")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // One entry failed: the whole run says so.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(results.join("summary.json")).unwrap())
            .unwrap();
    let rows = summary.as_array().unwrap();
    assert_eq!(rows.len(), 4, "{summary}");
    for row in rows {
        let entry = row["entry"].as_str().unwrap();
        assert!(entry.starts_with("debian-12:ha:"), "{entry}");
        let expected = if entry == "debian-12:ha:ecdsa:1.33" {
            "fail"
        } else {
            "pass"
        };
        assert_eq!(row["result"], expected, "{entry}");
        // kinit's timings are kept, also of an entry that failed.
        assert_eq!(row["initMs"], 1500, "{entry}");
        assert_eq!(row["joinMs"], 700, "{entry}");
        assert_eq!(
            row["nodes"][0]["phases"][0]["phase"], "preflight",
            "{entry}"
        );
    }
    let table = std::fs::read_to_string(results.join("summary.txt")).unwrap();
    assert!(table.starts_with("ENTRY"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["debian-12:ha:ecdsa:1.33", "fail", "1500", "700"]),
        "{table}"
    );

    let calls = std::fs::read_to_string(calls).unwrap();
    let passed = "[debian-12:ha:rsa:1.34]";
    let of_entry: Vec<&str> = calls
        .lines()
        .filter(|l| l.ends_with(passed))
        .map(|l| l.trim_end_matches(passed).trim_end())
        .collect();
    assert_eq!(
        of_entry,
        [
            "up",
            "ssh cp1 -c sudo bash /vagrant/scripts/accept.sh cp1 cp2 cp3 w1",
            // Workers first, the first control plane (whose etcd the others joined) last.
            "ssh w1 -c sudo bash /vagrant/scripts/reset.sh",
            "ssh cp3 -c sudo bash /vagrant/scripts/reset.sh",
            "ssh cp2 -c sudo bash /vagrant/scripts/reset.sh",
            "ssh cp1 -c sudo bash /vagrant/scripts/reset.sh",
            "destroy -f",
        ],
        "{calls}"
    );
    // A failed entry is destroyed and the next one still runs.
    let failed: Vec<&str> = calls
        .lines()
        .filter(|l| l.ends_with("[debian-12:ha:ecdsa:1.33]"))
        .collect();
    assert_eq!(failed.len(), 2, "{calls}");
    assert!(
        failed[0].starts_with("up") && failed[1].starts_with("destroy -f"),
        "{calls}"
    );
}
