//! Every real-world kubeadm file in ../shared/compat/kubeadm-configs is checked against its `# expect:` header,
//! so a file added there is tested without a code change.

use std::path::PathBuf;
use std::process::Command;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/compat/kubeadm-configs")
}

/// What the error output must say for a given `invalid:` reason.
fn required_phrases(reason: &str) -> Vec<String> {
    let mut phrases = Vec::new();
    for part in reason.split(';').map(str::trim) {
        if let Some(rest) = part.strip_prefix("unknown field ") {
            let field = rest.split_whitespace().next().unwrap_or_default();
            phrases.push(format!("unknown field \"{field}\""));
            if let Some(kind) = rest.split(" in ").nth(1) {
                phrases.push(kind.trim().to_string());
            }
        } else if part.starts_with("YAML syntax error") {
            phrases.push("YAML syntax error".into());
        } else if part.contains("no longer supported") {
            phrases.push(part.to_string());
        } else if part.contains("wrong type") {
            phrases.push("invalid type".into());
        } else if part.contains("both set") {
            phrases.push("cannot both be set".into());
        } else if part.contains("under the kubeadm.k8s.io group") {
            phrases.push(format!(
                "no kind \"{}\" is registered in kubeadm.k8s.io",
                part.split_whitespace().next().unwrap_or_default()
            ));
        }
    }
    phrases
}

#[test]
fn every_compat_file_meets_its_header() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("the compat corpus is beside the repository")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "expected the 20 corpus files, found {}",
        files.len()
    );
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no # expect: header", file.display()));
        let output = Command::new(env!("CARGO_BIN_EXE_kinit"))
            .args(["config", "validate", "--config"])
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let name = file.file_name().unwrap().to_string_lossy();
        if expect.trim() == "valid" {
            assert_eq!(
                output.status.code(),
                Some(0),
                "{name} should validate:\n{stderr}"
            );
            continue;
        }
        let reason = expect
            .trim()
            .strip_prefix("invalid:")
            .unwrap_or_else(|| panic!("{name}: unknown expectation {expect}"))
            .trim();
        assert_eq!(
            output.status.code(),
            Some(1),
            "{name} should be refused ({reason})"
        );
        assert!(
            stderr.contains("line "),
            "{name}: errors must name a line:\n{stderr}"
        );
        let phrases = required_phrases(reason);
        assert!(
            !phrases.is_empty(),
            "{name}: no rule knows how to check the reason {reason:?}"
        );
        for phrase in phrases {
            assert!(
                stderr.contains(&phrase),
                "{name}: expected {phrase:?} in:\n{stderr}"
            );
        }
    }
}

#[test]
fn lenient_commands_warn_about_unknown_fields_and_go_on() {
    let file = corpus_dir().join("10-v1beta3-init-skipphases-crio-unknown-field.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_kinit"))
        .args(["config", "images", "list", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("unknown field \"controlPlaneEndpoint\" in InitConfiguration"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("registry.k8s.io/kube-apiserver:v1."));
}

#[test]
fn migrate_turns_v1beta3_maps_into_sorted_lists_and_moves_the_timeout() {
    let file = corpus_dir().join("09-v1beta3-cluster-certsans-timeout.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_kinit"))
        .args(["config", "migrate", "--old-config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let migrated = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        migrated.contains("apiVersion: kubeadm.k8s.io/v1beta4"),
        "{migrated}"
    );
    assert!(
        migrated.contains("encryptionAlgorithm: RSA-2048"),
        "{migrated}"
    );
    assert!(
        migrated.contains("caCertificateValidityPeriod: 87600h0m0s"),
        "{migrated}"
    );
    assert!(migrated.contains("imagePullSerial: true"), "{migrated}");
    assert!(!migrated.contains("timeoutForControlPlane"), "{migrated}");
    let original = std::fs::read_to_string(&file).unwrap();
    let timeout = original
        .lines()
        .find_map(|l| l.trim().strip_prefix("timeoutForControlPlane:"))
        .unwrap()
        .trim()
        .to_string();
    assert!(
        migrated.contains(&format!("controlPlaneComponentHealthCheck: {timeout}")),
        "{migrated}"
    );
    assert!(
        migrated.contains("extraArgs:\n    - name: authorization-mode\n      value: \"Node,RBAC\""),
        "{migrated}"
    );
    // The migrated text is itself a valid v1beta4 file.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("new.yaml");
    std::fs::write(&out, &migrated).unwrap();
    let check = Command::new(env!("CARGO_BIN_EXE_kinit"))
        .args(["config", "validate", "--config"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn validate_warns_that_init_refuses_old_versions() {
    let file = corpus_dir().join("09-v1beta3-cluster-certsans-timeout.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_kinit"))
        .args(["config", "validate", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("older than v1.31") && stderr.contains("will refuse"),
        "{stderr}"
    );
}
