//! `kinit certs generate-csr` against the real `kubeadm certs generate-csr` on the same
//! configuration: the same files with the same modes, requests with the same subjects, names and
//! key types (checked by the real openssl), kubeconfig files alike but for their keys, each key
//! matching its request; and a second run that writes nothing.

mod common;
use common::text;

use kinit_test_support as support;
use support::real::real_tool;

use std::path::Path;
use std::process::Command;

const CONFIG: &str = "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 198.51.100.10
nodeRegistration:
  name: cp1
  criSocket: unix:///run/containerd/containerd.sock
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.34.4
encryptionAlgorithm: ECDSA-P256
controlPlaneEndpoint: cp.example:6443
apiServer:
  certSANs: [extra.example, 203.0.113.7]
";

fn run(program: &Path, dir: &Path, config: &Path) {
    let out = Command::new(program)
        .args(["certs", "generate-csr", "--config"])
        .arg(config)
        .arg("--cert-dir")
        .arg(dir.join("pki"))
        .arg("--kubeconfig-dir")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}{}",
        program.display(),
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Every file under `dir` with its mode, relative.
fn files(dir: &Path) -> Vec<(String, u32)> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, u32)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
            } else {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
                let name = path.strip_prefix(base).unwrap().display().to_string();
                out.push((name, mode));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// What a request says, without its key and signature bytes (random).
fn request_facts(csr: &Path) -> Vec<String> {
    openssl(&["req", "-in", csr.to_str().unwrap(), "-noout", "-text"])
        .lines()
        .filter(|l| !l.trim().chars().all(|c| c.is_ascii_hexdigit() || c == ':'))
        .map(str::to_string)
        .collect()
}

fn kubeconfig_without_key(path: &Path) -> (String, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let key_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("client-key-data:"))
        .unwrap_or_else(|| panic!("{} holds no client key", path.display()));
    let key = key_line.split_once(':').unwrap().1.trim().to_string();
    let mut doc = serde_json::to_value(
        yaml_rust2::YamlLoader::load_from_str(&text.replace(key_line, "")).unwrap()[0]
            .as_hash()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| format!("{k:?}={v:?}"))
                    .collect::<Vec<_>>()
            })
            .unwrap(),
    )
    .unwrap();
    doc.as_array_mut().unwrap().sort_by_key(|v| v.to_string());
    (doc.to_string(), key)
}

fn public_key_of_request(csr: &Path) -> String {
    openssl(&["req", "-in", csr.to_str().unwrap(), "-noout", "-pubkey"])
}

fn public_key_of_key(pem: &[u8], scratch: &Path) -> String {
    let file = scratch.join("key.pem");
    std::fs::write(&file, pem).unwrap();
    openssl(&["pkey", "-in", file.to_str().unwrap(), "-pubout"])
}

fn unbase64(text: &str) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(["base64", "-d", "-A"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    out.stdout
}

#[test]
fn generate_csr_writes_what_kubeadm_writes_and_a_second_run_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("kubeadm.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let (theirs, ours) = (work.path().join("kubeadm"), work.path().join("kinit"));
    run(&real_tool("kubeadm"), &theirs, &config);
    let kinit = Path::new(env!("CARGO_BIN_EXE_kinit"));
    run(kinit, &ours, &config);

    let listed = files(&ours);
    assert_eq!(files(&theirs), listed);
    assert_eq!(listed.len(), 24, "{listed:?}");
    for (name, _) in &listed {
        let (path, reference) = (ours.join(name), theirs.join(name));
        if name.ends_with(".csr") {
            openssl(&["req", "-in", path.to_str().unwrap(), "-noout", "-verify"]);
            assert_eq!(request_facts(&path), request_facts(&reference), "{name}");
            // Its key: beside it for a certificate, inside the kubeconfig file for a kubeconfig.
            let stem = name.trim_end_matches(".csr");
            let key = if stem.ends_with(".conf") {
                unbase64(&kubeconfig_without_key(&ours.join(stem)).1)
            } else {
                std::fs::read(ours.join(format!("{stem}.key"))).unwrap()
            };
            assert_eq!(
                public_key_of_key(&key, work.path()),
                public_key_of_request(&path),
                "{name}: the key does not match the request"
            );
        } else if name.ends_with(".conf") {
            assert_eq!(
                kubeconfig_without_key(&path).0,
                kubeconfig_without_key(&reference).0,
                "{name}"
            );
        }
    }

    // A second run replaces nothing, not even the files that are not there yet.
    std::fs::remove_file(ours.join("pki/apiserver.key")).unwrap();
    let before: Vec<Vec<u8>> = listed
        .iter()
        .filter(|(n, _)| n != "pki/apiserver.key")
        .map(|(n, _)| std::fs::read(ours.join(n)).unwrap())
        .collect();
    let out = Command::new(kinit)
        .args(["certs", "generate-csr", "--config"])
        .arg(&config)
        .arg("--cert-dir")
        .arg(ours.join("pki"))
        .arg("--kubeconfig-dir")
        .arg(&ours)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("nothing was written: these files already exist"),
        "{}",
        text(&out.stderr)
    );
    assert!(!ours.join("pki/apiserver.key").exists());
    let after: Vec<Vec<u8>> = listed
        .iter()
        .filter(|(n, _)| n != "pki/apiserver.key")
        .map(|(n, _)| std::fs::read(ours.join(n)).unwrap())
        .collect();
    assert!(before == after, "a refused run changed a file");
}
