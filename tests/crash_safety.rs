//! Crash safety: the local part of `kinit init` is killed with SIGKILL at pseudo-random moments on a
//! temp root; after each kill the next run completes and leaves every file whole: each certificate
//! verifies against its CA and matches its key, every kubeconfig and manifest parses (kubeconfigs also
//! through the real kubectl), modes are kubeadm's, and no empty or temp file is left.
//!
//! The kill moments come from a fixed seed spread over the measured length of one run, so a failure
//! reproduces; `KINIT_CRASH_SEED=<n>` tries another sequence.

mod common;
use common::{mode, text, venv_tool};

use kinit_phases::domain::config::yaml::parse_documents;
use openssl::pkey::{PKey, Private, Public};
use openssl::x509::X509;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// The local phases of `kinit init`, in init's order, each run as its own `kinit init phase ...`.
/// A new local phase (kubelet-start) is one more line here, plus its files in [`check_node`].
const LOCAL_PHASES: &[&[&str]] = &[
    &["certs", "all"],
    &["kubeconfig", "all"],
    &["etcd", "local"],
    &["control-plane", "all"],
    &["kubelet-start"],
];

/// Fresh roots, each killed once or twice before the run that completes (more rounds when too few
/// kills landed).
const ROUNDS: usize = 24;
/// Kills that must have landed (the chain still running when the signal came).
const MIN_KILLS: usize = 20;

/// Certificates with the CA that signs them (`None`: self-signed), relative to the pki folder.
const CERTIFICATES: &[(&str, Option<&str>)] = &[
    ("ca", None),
    ("apiserver", Some("ca")),
    ("apiserver-kubelet-client", Some("ca")),
    ("front-proxy-ca", None),
    ("front-proxy-client", Some("front-proxy-ca")),
    ("etcd/ca", None),
    ("etcd/server", Some("etcd/ca")),
    ("etcd/peer", Some("etcd/ca")),
    ("etcd/healthcheck-client", Some("etcd/ca")),
    ("apiserver-etcd-client", Some("etcd/ca")),
];
const KUBECONFIGS: &[&str] = &[
    "admin.conf",
    "super-admin.conf",
    "kubelet.conf",
    "controller-manager.conf",
    "scheduler.conf",
];
/// The files the phases after the PKI write, which hold nothing random: every round must end with a clean
/// run's bytes, and the mode each must have.
const DETERMINISTIC: &[(&str, u32)] = &[
    ("etc/kubernetes/manifests/etcd.yaml", 0o600),
    ("etc/kubernetes/manifests/kube-apiserver.yaml", 0o600),
    (
        "etc/kubernetes/manifests/kube-controller-manager.yaml",
        0o600,
    ),
    ("etc/kubernetes/manifests/kube-scheduler.yaml", 0o600),
    ("var/lib/kubelet/config.yaml", 0o644),
    ("var/lib/kubelet/kubeadm-flags.env", 0o644),
    (
        "etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
        0o644,
    ),
];

/// ECDSA keys keep a run short, so the kills spread over file writes rather than RSA key generation.
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

/// splitmix64: a fixed, dependency-free sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

fn phase_command(root: &Path, config: &Path, words: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kinit"));
    command
        .args(["init", "phase"])
        .args(words)
        .arg("--rootfs")
        .arg(root)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null());
    command
}

/// Every local phase to completion, failing with kinit's output if one fails; returns how long each took.
fn run_all(root: &Path, config: &Path, context: &str) -> Vec<Duration> {
    let mut took = Vec::new();
    for words in LOCAL_PHASES {
        let started = Instant::now();
        let out = phase_command(root, config, words).output().unwrap();
        took.push(started.elapsed());
        assert!(
            out.status.success(),
            "{context}: `kinit init phase {}` failed after the kill\nstdout: {}\nstderr: {}",
            words.join(" "),
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    took
}

/// Runs the local phases one after another and SIGKILLs phase `target` `delay` after it started (the ones
/// before it run to completion). Returns whether the kill landed (false when the phase finished first).
fn run_killed(root: &Path, config: &Path, target: usize, delay: Duration, context: &str) -> bool {
    for (index, words) in LOCAL_PHASES.iter().enumerate().take(target + 1) {
        let started = Instant::now();
        let mut child = phase_command(root, config, words)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut stderr = String::new();
                use std::io::Read;
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr)
                    .unwrap();
                assert!(
                    status.success(),
                    "{context}: `kinit init phase {}` failed before the kill: {stderr}",
                    words.join(" ")
                );
                break;
            }
            if index == target && started.elapsed() >= delay {
                // Child::kill is SIGKILL on Unix.
                child.kill().unwrap();
                child.wait().unwrap();
                return true;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    false
}

fn read(path: &Path, context: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{context}: {}: {e}", path.display()))
}

fn cert_from(pem: &[u8], what: &str) -> X509 {
    X509::from_pem(pem).unwrap_or_else(|e| panic!("{what} is not a whole certificate: {e}"))
}

fn key_from(pem: &[u8], what: &str) -> PKey<Private> {
    PKey::private_key_from_pem(pem).unwrap_or_else(|e| panic!("{what} is not a whole key: {e}"))
}

/// The certificate is signed by `ca` and holds the public half of `key`.
fn check_pair(cert: &X509, key: &PKey<Private>, ca: &X509, what: &str) {
    let ca_key: PKey<Public> = ca.public_key().unwrap();
    assert!(
        cert.verify(&ca_key).unwrap(),
        "{what} is not signed by its CA"
    );
    assert_eq!(
        cert.issuer_name().to_der().unwrap(),
        ca.subject_name().to_der().unwrap(),
        "{what}: issuer is not its CA"
    );
    assert!(
        cert.public_key().unwrap().public_eq(key),
        "{what} does not match its key"
    );
}

fn b64(value: &Value, what: &str) -> Vec<u8> {
    openssl::base64::decode_block(value.as_str().unwrap_or_else(|| panic!("{what} missing")))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Everything the local phases leave, checked for wholeness; `manifests` are the bytes of a run that
/// was never killed (manifests hold nothing random, so they must come out the same).
fn check_node(root: &Path, manifests: &[(String, Vec<u8>)], context: &str) {
    assert_eq!(manifests.len(), DETERMINISTIC.len());
    let k8s = root.join("etc/kubernetes");
    let pki = k8s.join("pki");

    // No file is empty, none is a leftover temp file (effects.rs writes `.<name>.kinit-<pid>`).
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(path);
                continue;
            }
            assert!(
                !name.starts_with('.') && !name.contains(".kinit-"),
                "{context}: temp file left behind: {}",
                path.display()
            );
            assert!(
                std::fs::metadata(&path).unwrap().len() > 0,
                "{context}: empty file {}",
                path.display()
            );
        }
    }

    // The PKI: every certificate whole, signed by its CA and matching its key; modes 0644/0600.
    let load = |base: &str| {
        let crt = pki.join(format!("{base}.crt"));
        let key = pki.join(format!("{base}.key"));
        let what = format!("{context}: {}", crt.display());
        assert_eq!(mode(&crt), 0o644, "{what}: mode");
        assert_eq!(mode(&key), 0o600, "{what}: key mode");
        (
            cert_from(&read(&crt, context), &what),
            key_from(&read(&key, context), &what),
        )
    };
    for (base, signer) in CERTIFICATES {
        let (cert, key) = load(base);
        let ca = match signer {
            Some(ca_base) => load(ca_base).0,
            None => cert.clone(),
        };
        check_pair(&cert, &key, &ca, &format!("{context}: {base}.crt"));
    }
    let sa_key = key_from(&read(&pki.join("sa.key"), context), "sa.key");
    let sa_pub = PKey::public_key_from_pem(&read(&pki.join("sa.pub"), context))
        .unwrap_or_else(|e| panic!("{context}: sa.pub is not whole: {e}"));
    assert!(
        sa_pub.public_eq(&sa_key),
        "{context}: sa.pub is not sa.key's"
    );
    assert_eq!(mode(&pki.join("sa.key")), 0o600);
    // kubeadm writes the public key with its key writer: owner only.
    assert_eq!(mode(&pki.join("sa.pub")), 0o600);

    // Kubeconfigs: parse, carry the cluster CA, and a client certificate signed by it with its key.
    let ca_pem = read(&pki.join("ca.crt"), context);
    let ca = cert_from(&ca_pem, "ca.crt");
    for name in KUBECONFIGS {
        let path = k8s.join(name);
        let what = format!("{context}: {}", path.display());
        assert_eq!(mode(&path), 0o600, "{what}: mode");
        let content = String::from_utf8(read(&path, context)).unwrap();
        let doc = parse_documents(&content)
            .unwrap_or_else(|e| panic!("{what} does not parse: {e:?}"))
            .remove(0)
            .value;
        assert_eq!(doc["kind"], "Config", "{what}");
        assert_eq!(
            b64(
                &doc["clusters"][0]["cluster"]["certificate-authority-data"],
                &what
            ),
            ca_pem,
            "{what}: not the cluster CA"
        );
        let user = &doc["users"][0]["user"];
        let cert = cert_from(&b64(&user["client-certificate-data"], &what), &what);
        let key = key_from(&b64(&user["client-key-data"], &what), &what);
        check_pair(&cert, &key, &ca, &what);
    }
    // The same files through kubectl's own reader (all five merged in one call).
    let kubectl = venv_tool("kubectl");
    let paths: Vec<PathBuf> = KUBECONFIGS.iter().map(|n| k8s.join(n)).collect();
    let out = Command::new(&kubectl)
        .args(["config", "view", "--raw", "-o", "name"])
        .env("KUBECONFIG", std::env::join_paths(&paths).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{context}: kubectl cannot read the kubeconfigs: {}",
        text(&out.stderr)
    );

    // Manifests and kubelet files: whole, byte for byte those of a run never killed, with their modes;
    // the manifests folder 0700, the kubelet's 0700 as kubeadm makes it.
    assert_eq!(mode(&k8s.join("manifests")), 0o700, "{context}: manifests/");
    assert_eq!(
        mode(&root.join("var/lib/kubelet")),
        0o700,
        "{context}: /var/lib/kubelet"
    );
    for ((name, expected), (_, want_mode)) in manifests.iter().zip(DETERMINISTIC) {
        let path = root.join(name);
        let bytes = read(&path, context);
        if name.ends_with(".yaml") {
            let doc = parse_documents(&String::from_utf8(bytes.clone()).unwrap())
                .unwrap_or_else(|e| panic!("{context}: {name} does not parse: {e:?}"))
                .remove(0)
                .value;
            let kind = if name.contains("manifests/") {
                "Pod"
            } else {
                "KubeletConfiguration"
            };
            assert_eq!(doc["kind"], kind, "{context}: {name}");
        }
        assert!(
            &bytes == expected,
            "{context}: {name} differs from a clean run's"
        );
        assert_eq!(mode(&path), *want_mode, "{context}: {name}: mode");
    }
}

/// Every file under `root` with its bytes and mtime.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (Vec<u8>, SystemTime)> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.insert(path, (bytes, meta.modified().unwrap()));
            }
        }
    }
    files
}

#[test]
fn killed_local_init_phases_are_finished_by_the_next_run_with_every_file_whole() {
    let seed = std::env::var("KINIT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_123u64);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kinit.yaml");
    std::fs::write(&config, CONFIG).unwrap();

    // Clean runs: each phase's shortest time spreads the kills aimed at it (the first run of a test is
    // often slowed by cold caches), and their files, all the same, are what every round must end with.
    let mut lengths = vec![Duration::MAX; LOCAL_PHASES.len()];
    let mut manifests: Vec<(String, Vec<u8>)> = Vec::new();
    for run in 0..3 {
        let clean = dir.path().join(format!("clean-{run}"));
        for (shortest, took) in lengths
            .iter_mut()
            .zip(run_all(&clean, &config, "clean run"))
        {
            *shortest = (*shortest).min(took);
        }
        let these: Vec<(String, Vec<u8>)> = DETERMINISTIC
            .iter()
            .map(|(name, _)| (name.to_string(), read(&clean.join(name), "clean run")))
            .collect();
        if manifests.is_empty() {
            manifests = these;
        }
        check_node(&clean, &manifests, "clean run");
    }

    let mut rng = Rng(seed);
    let mut landed = vec![0; LOCAL_PHASES.len()];
    let mut round = 0;
    // ROUNDS rounds, and more while fewer than MIN_KILLS landed (a slow machine finishes sooner than
    // the clean run said less often than a fast one), up to three times as many.
    while round < ROUNDS
        || ((landed.iter().sum::<usize>() < MIN_KILLS || landed.contains(&0)) && round < 3 * ROUNDS)
    {
        let root = dir.path().join(format!("round-{round}"));
        // One round in three also kills the run that picks up after the first kill.
        let kills = if rng.below(3) == 0 { 2 } else { 1 };
        let mut kills_at = Vec::new();
        for kill in 0..kills {
            // The first kill of a round aims at each phase in turn, the second at any.
            let target = if kill == 0 {
                round % LOCAL_PHASES.len()
            } else {
                rng.below(LOCAL_PHASES.len() as u64) as usize
            };
            let delay = Duration::from_micros(rng.below(lengths[target].as_micros() as u64));
            kills_at.push(format!("{} +{delay:?}", LOCAL_PHASES[target].join(" ")));
            let context = format!("seed {seed}, round {round}, kills at {kills_at:?}");
            if run_killed(&root, &config, target, delay, &context) {
                landed[target] += 1;
            }
        }
        let context = format!("seed {seed}, round {round}, kills at {kills_at:?}");
        run_all(&root, &config, &context);
        check_node(&root, &manifests, &context);
        // A run on a finished node changes no byte and no mtime.
        let before = snapshot(&root);
        run_all(&root, &config, &context);
        assert!(
            snapshot(&root) == before,
            "{context}: a run on the finished node changed files"
        );
        std::fs::remove_dir_all(&root).unwrap();
        round += 1;
    }
    let summary: Vec<String> = LOCAL_PHASES
        .iter()
        .zip(&landed)
        .map(|(words, n)| format!("{}: {n}", words.join(" ")))
        .collect();
    let total: usize = landed.iter().sum();
    eprintln!(
        "seed {seed}: {total} kills landed, phases timed at {lengths:?} ({})",
        summary.join(", ")
    );
    assert!(
        total >= MIN_KILLS,
        "only {total} of the kills landed while kinit ran (seed {seed}, phases timed at {lengths:?})"
    );
    for (words, n) in LOCAL_PHASES.iter().zip(&landed) {
        assert!(
            *n > 0,
            "no kill landed in `{}` (seed {seed}): {}",
            words.join(" "),
            summary.join(", ")
        );
    }
}
