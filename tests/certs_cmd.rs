//! `kinit certs check-expiration|renew|certificate-key` and `kinit kubeconfig user` on a PKI that kinit's
//! own phases made under a temporary root, checked with the real openssl and kubectl.

mod common;
use common::{kinit, text, venv_tool};

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs kinit and expects success, returning standard output.
fn ok(args: &[&str]) -> String {
    let out = kinit(args);
    assert!(
        out.status.success(),
        "{args:?} failed ({:?}): {}{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs kinit and expects `code`, with `phrase` on standard error and no panic.
fn refused(args: &[&str], code: i32, phrase: &str) -> String {
    let out = kinit(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(
        stderr.contains(phrase),
        "{args:?}: expected {phrase:?} in {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    stderr
}

fn openssl(args: &[&str]) -> Output {
    Command::new("openssl").args(args).output().unwrap()
}

fn openssl_ok(args: &[&str]) -> String {
    let out = openssl(args);
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Subject, SANs and notAfter as openssl prints them.
fn describe(cert: &Path) -> (String, String, String) {
    let out = openssl_ok(&[
        "x509",
        "-in",
        cert.to_str().unwrap(),
        "-noout",
        "-subject",
        "-ext",
        "subjectAltName",
        "-enddate",
    ]);
    let subject = out
        .lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or("");
    let end = out
        .lines()
        .find(|l| l.starts_with("notAfter="))
        .unwrap_or("");
    let sans = out
        .lines()
        .skip_while(|l| !l.contains("Subject Alternative Name"))
        .nth(1)
        .unwrap_or("")
        .trim();
    (subject.into(), sans.into(), end.into())
}

fn verifies(ca: &Path, cert: &Path) -> bool {
    let out = openssl(&[
        "verify",
        "-CAfile",
        ca.to_str().unwrap(),
        cert.to_str().unwrap(),
    ]);
    out.status.success() && text(&out.stdout).contains(": OK")
}

/// The client certificate embedded in a kubeconfig, written next to it as PEM.
fn embedded_cert(kubeconfig: &Path) -> PathBuf {
    let yaml = std::fs::read_to_string(kubeconfig).unwrap();
    let data = yaml
        .lines()
        .find_map(|l| l.trim().strip_prefix("client-certificate-data: "))
        .expect("client-certificate-data");
    let b64 = kubeconfig.with_extension("b64");
    std::fs::write(&b64, data).unwrap();
    let pem = kubeconfig.with_extension("pem");
    openssl_ok(&[
        "base64",
        "-d",
        "-A",
        "-in",
        b64.to_str().unwrap(),
        "-out",
        pem.to_str().unwrap(),
    ]);
    pem
}

fn embedded_key_line(kubeconfig: &Path) -> String {
    std::fs::read_to_string(kubeconfig)
        .unwrap()
        .lines()
        .find(|l| l.contains("client-key-data:"))
        .unwrap()
        .to_string()
}

const FLAGS: [&str; 4] = [
    "--apiserver-advertise-address",
    "198.51.100.10",
    "--node-name",
    "cp1",
];

/// A control-plane PKI and its kubeconfig files, as `kinit init phase certs|kubeconfig all` make them.
fn make_pki(root: &Path, config: Option<&Path>) {
    let root = root.to_str().unwrap();
    for phase in ["certs", "kubeconfig"] {
        let mut args = vec!["init", "phase", phase, "all", "--rootfs", root];
        match config {
            Some(file) => args.extend(["--config", file.to_str().unwrap()]),
            None => args.extend(FLAGS),
        }
        ok(&args);
    }
}

fn write_config(dir: &Path, cluster_extra: &str) -> PathBuf {
    let file = dir.join("kubeadm.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 198.51.100.10
nodeRegistration:
  name: cp1
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
{cluster_extra}"
        ),
    )
    .unwrap();
    file
}

const ROWS: [(&str, &str); 11] = [
    ("admin.conf", "ca"),
    ("apiserver", "ca"),
    ("apiserver-etcd-client", "etcd-ca"),
    ("apiserver-kubelet-client", "ca"),
    ("controller-manager.conf", "ca"),
    ("etcd-healthcheck-client", "etcd-ca"),
    ("etcd-peer", "etcd-ca"),
    ("etcd-server", "etcd-ca"),
    ("front-proxy-client", "front-proxy-ca"),
    ("scheduler.conf", "ca"),
    ("super-admin.conf", "ca"),
];

fn cells(line: &str) -> Vec<String> {
    line.split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn check_expiration_prints_kubeadms_two_tables() {
    let root = tempfile::tempdir().unwrap();
    make_pki(root.path(), None);
    let r = root.path().to_str().unwrap();
    let out = ok(&["certs", "check-expiration", "--rootfs", r]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "CERTIFICATE                EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED",
        "{out}"
    );
    for (index, (name, ca)) in ROWS.iter().enumerate() {
        let line = lines[index + 1];
        // Every column starts where the header's does; the last cell is Go's %-8v.
        assert_eq!(&line[..27], format!("{name:<27}"), "{out}");
        for column in [
            "EXPIRES",
            "RESIDUAL TIME",
            "CERTIFICATE AUTHORITY",
            "EXTERNALLY",
        ] {
            let at = lines[0].rfind(column).unwrap();
            assert!(
                &line[at - 1..at] == " " && &line[at..=at] != " ",
                "{column} in {line:?}"
            );
        }
        assert!(line.ends_with("no      "), "{line:?}");
        let row = cells(line);
        assert_eq!(row[2], "364d", "{line}");
        assert_eq!(row[3], *ca, "{line}");
        assert_eq!(row[4], "no", "{line}");
    }
    assert_eq!(lines[12], "");
    assert_eq!(
        lines[13],
        "CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED"
    );
    for (line, name) in lines[14..].iter().zip(["ca", "etcd-ca", "front-proxy-ca"]) {
        let row = cells(line);
        assert_eq!(
            (row[0].as_str(), row[2].as_str(), row[3].as_str()),
            (name, "9y", "no"),
            "{line}"
        );
    }
    assert_eq!(lines.len(), 17, "{out}");

    // A missing file is a row of its own; a CA without its key is external.
    let pki = root.path().join("etc/kubernetes/pki");
    std::fs::remove_file(pki.join("front-proxy-client.crt")).unwrap();
    std::fs::remove_file(root.path().join("etc/kubernetes/scheduler.conf")).unwrap();
    std::fs::remove_file(pki.join("ca.key")).unwrap();
    let out = ok(&["certs", "check-expiration", "--rootfs", r]);
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .map(cells)
            .unwrap_or_else(|| panic!("no row {name} in {out}"))
    };
    assert!(out.contains("!MISSING! front-proxy-client   "), "{out}");
    assert!(out.contains("!MISSING! scheduler.conf"), "{out}");
    assert_eq!(row("apiserver")[4], "yes");
    assert_eq!(row("admin.conf")[4], "yes");
    assert_eq!(row("etcd-server")[4], "no");
    assert_eq!(row("ca")[3], "yes");
    assert_eq!(row("front-proxy-ca")[3], "no");

    let json: serde_json::Value = serde_json::from_str(&ok(&[
        "certs",
        "check-expiration",
        "--rootfs",
        r,
        "-o",
        "json",
    ]))
    .unwrap();
    let certificates = json["certificates"].as_array().unwrap();
    let names: Vec<&str> = certificates
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ROWS.map(|(n, _)| n));
    let apiserver = &certificates[1];
    assert_eq!(apiserver["ca"], "ca");
    assert_eq!(apiserver["externallyManaged"], true);
    assert_eq!(apiserver["missing"], false);
    let residual = apiserver["residualSeconds"].as_i64().unwrap();
    assert!(
        (364 * 86_400..365 * 86_400).contains(&residual),
        "{residual}"
    );
    let expires = apiserver["expires"].as_str().unwrap();
    assert!(
        expires.len() == 20 && expires.ends_with('Z') && expires.as_bytes()[10] == b'T',
        "{expires}"
    );
    let missing = &certificates[8];
    assert_eq!(
        (missing["name"].as_str(), missing["missing"].as_bool()),
        (Some("front-proxy-client"), Some(true))
    );
    assert!(missing["expires"].is_null());
    let cas = json["certificateAuthorities"].as_array().unwrap();
    assert_eq!(cas.len(), 3);
    assert_eq!(cas[0]["name"], "ca");
    assert_eq!(cas[0]["externallyManaged"], true);
    assert!(cas[0]["residualSeconds"].as_i64().unwrap() > 9 * 365 * 86_400);
}

#[test]
fn with_external_etcd_the_etcd_certificates_are_not_listed_or_renewed() {
    let root = tempfile::tempdir().unwrap();
    let config = write_config(
        root.path(),
        "etcd:
  external:
    endpoints: [\"https://10.0.0.5:2379\"]
    caFile: /etc/etcd/ca.crt
    certFile: /etc/etcd/client.crt
    keyFile: /etc/etcd/client.key
",
    );
    make_pki(root.path(), Some(&config));
    let r = root.path().to_str().unwrap();
    let c = config.to_str().unwrap();
    let out = ok(&["certs", "check-expiration", "--rootfs", r, "--config", c]);
    assert!(!out.contains("etcd"), "{out}");
    assert_eq!(out.lines().count(), 1 + 7 + 1 + 1 + 2, "{out}");
    refused(
        &[
            "certs",
            "renew",
            "etcd-server",
            "--rootfs",
            r,
            "--config",
            c,
        ],
        1,
        "external etcd",
    );
    let out = ok(&["certs", "renew", "all", "--rootfs", r, "--config", c]);
    assert_eq!(
        out.lines().filter(|l| l.ends_with(" renewed")).count(),
        7,
        "{out}"
    );
}

/// The certificate files `renew all` rewrites, each with the CA that must still verify it.
const FILES: [(&str, &str); 7] = [
    ("apiserver", "ca"),
    ("apiserver-kubelet-client", "ca"),
    ("front-proxy-client", "front-proxy-ca"),
    ("apiserver-etcd-client", "etcd/ca"),
    ("etcd/server", "etcd/ca"),
    ("etcd/peer", "etcd/ca"),
    ("etcd/healthcheck-client", "etcd/ca"),
];

/// The public key a certificate or private key file holds, as openssl prints it.
fn public_key_of_cert(cert: &Path) -> String {
    openssl_ok(&["x509", "-noout", "-pubkey", "-in", cert.to_str().unwrap()])
}

fn public_key_of_key(key: &Path) -> String {
    openssl_ok(&["pkey", "-pubout", "-in", key.to_str().unwrap()])
}

#[test]
fn renew_all_keeps_subjects_and_names_makes_new_keys_and_moves_the_expiry() {
    let root = tempfile::tempdir().unwrap();
    let short = write_config(root.path(), "certificateValidityPeriod: 24h\n");
    make_pki(root.path(), Some(&short));
    let r = root.path().to_str().unwrap();
    let pki = root.path().join("etc/kubernetes/pki");
    let admin = root.path().join("etc/kubernetes/admin.conf");
    let crt = |base: &str| pki.join(format!("{base}.crt"));
    let key = |base: &str| pki.join(format!("{base}.key"));
    let before: Vec<_> = FILES.iter().map(|(base, _)| describe(&crt(base))).collect();
    let keys_before: Vec<_> = FILES
        .iter()
        .map(|(base, _)| std::fs::read(key(base)).unwrap())
        .collect();
    let admin_before = describe(&embedded_cert(&admin));
    let admin_key = embedded_key_line(&admin);
    let out = ok(&["certs", "check-expiration", "--rootfs", r]);
    let apiserver_row = cells(out.lines().nth(2).unwrap());
    assert!(["23h", "1d"].contains(&apiserver_row[2].as_str()), "{out}");

    // A dry run says what it would renew and changes nothing.
    let apiserver_pem = std::fs::read(crt("apiserver")).unwrap();
    let out = ok(&["certs", "renew", "all", "--rootfs", r, "--dry-run"]);
    assert!(
        out.contains("[dry-run] would renew the certificate for serving the Kubernetes API (/etc/kubernetes/pki/apiserver.crt)"),
        "{out}"
    );
    assert_eq!(std::fs::read(crt("apiserver")).unwrap(), apiserver_pem);

    // Without --config, the renewed certificates get kubeadm's default year.
    let out = ok(&["certs", "renew", "all", "--rootfs", r]);
    assert!(
        out.contains("certificate for serving the Kubernetes API renewed\n"),
        "{out}"
    );
    assert!(
        out.contains("certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself renewed\n"),
        "{out}"
    );
    assert!(out.ends_with("Done renewing certificates. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates.\n"), "{out}");
    for (((base, ca), old), old_key) in FILES.iter().zip(&before).zip(&keys_before) {
        let new = describe(&crt(base));
        assert_eq!(
            (&new.0, &new.1),
            (&old.0, &old.1),
            "{base}: subject and SANs kept"
        );
        assert_ne!(new.2, old.2, "{base}: notAfter moved");
        assert!(
            verifies(&crt(ca), &crt(base)),
            "{base} verifies against {ca}"
        );
        assert_ne!(
            &std::fs::read(key(base)).unwrap(),
            old_key,
            "{base}: a new key, as kubeadm's renewal makes"
        );
        assert_eq!(
            public_key_of_cert(&crt(base)),
            public_key_of_key(&key(base)),
            "{base}: the renewed certificate is for the new key"
        );
        let mode = std::fs::metadata(crt(base)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{base}");
        let mode = std::fs::metadata(key(base)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{base}");
    }
    let apiserver = describe(&crt("apiserver"));
    assert!(
        apiserver.1.contains("DNS:cp1") && apiserver.1.contains("IP Address:198.51.100.10"),
        "{apiserver:?}"
    );
    let new_admin = describe(&embedded_cert(&admin));
    assert_eq!(new_admin.0, admin_before.0);
    assert!(
        new_admin.0.contains("kubeadm:cluster-admins") && new_admin.0.contains("kubernetes-admin"),
        "{new_admin:?}"
    );
    assert_ne!(new_admin.2, admin_before.2);
    assert!(verifies(&crt("ca"), &embedded_cert(&admin)));
    assert_ne!(
        embedded_key_line(&admin),
        admin_key,
        "the kubeconfig gets a new client key"
    );
    assert_eq!(
        std::fs::metadata(&admin).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let out = ok(&["certs", "check-expiration", "--rootfs", r]);
    assert_eq!(
        out.lines()
            .skip(1)
            .take(11)
            .filter(|l| l.contains(" 364d "))
            .count(),
        11,
        "{out}"
    );

    // With --config, the file's period counts.
    let short = short.to_str().unwrap();
    ok(&[
        "certs",
        "renew",
        "scheduler.conf",
        "--rootfs",
        r,
        "--config",
        short,
    ]);
    let out = ok(&["certs", "check-expiration", "--rootfs", r]);
    let scheduler = cells(
        out.lines()
            .find(|l| l.starts_with("scheduler.conf"))
            .unwrap(),
    );
    // Exactly 24 hours left, read within the second of renewal, is kubeadm's `1d`.
    assert!(["23h", "1d"].contains(&scheduler[2].as_str()), "{out}");
}

#[test]
fn renew_refuses_unknown_names_missing_files_and_external_cas_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    make_pki(root.path(), None);
    let r = root.path().to_str().unwrap();
    let pki = root.path().join("etc/kubernetes/pki");
    let stderr = refused(
        &["certs", "renew", "kube-proxy", "--rootfs", r],
        2,
        "kube-proxy",
    );
    assert!(
        stderr.contains("apiserver-kubelet-client") && stderr.contains("super-admin.conf"),
        "{stderr}"
    );

    let apiserver = std::fs::read(pki.join("apiserver.crt")).unwrap();
    std::fs::remove_file(pki.join("front-proxy-client.crt")).unwrap();
    refused(
        &["certs", "renew", "front-proxy-client", "--rootfs", r],
        1,
        "/etc/kubernetes/pki/front-proxy-client.crt is missing",
    );
    refused(
        &["certs", "renew", "all", "--rootfs", r],
        1,
        "front-proxy-client.crt is missing",
    );
    assert_eq!(
        std::fs::read(pki.join("apiserver.crt")).unwrap(),
        apiserver,
        "nothing was written"
    );

    std::fs::remove_file(pki.join("ca.key")).unwrap();
    let stderr = refused(
        &["certs", "renew", "apiserver", "--rootfs", r],
        1,
        "/etc/kubernetes/pki/ca.key is missing",
    );
    assert!(stderr.contains("external CA"), "{stderr}");
    refused(
        &["certs", "renew", "admin.conf", "--rootfs", r],
        1,
        "ca.key is missing",
    );
    assert_eq!(std::fs::read(pki.join("apiserver.crt")).unwrap(), apiserver);
    // The etcd CA still has its key, so its certificates can be renewed.
    ok(&["certs", "renew", "etcd-peer", "--rootfs", r]);
}

#[test]
fn certificate_keys_are_64_hex_characters_and_new_each_time() {
    let first = ok(&["certs", "certificate-key"]);
    let second = ok(&["certs", "certificate-key"]);
    for key in [&first, &second] {
        let key = key.trim_end();
        assert_eq!(key.len(), 64, "{key}");
        assert!(
            key.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "{key}"
        );
    }
    assert_ne!(first, second);
}

fn kubectl(args: &[&str]) -> String {
    let kubectl = venv_tool("kubectl");
    let out = Command::new(kubectl).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_string()
}

#[test]
fn kubeconfig_user_prints_a_kubeconfig_signed_by_the_cluster_ca() {
    let root = tempfile::tempdir().unwrap();
    make_pki(root.path(), None);
    let r = root.path().to_str().unwrap();
    let config = write_config(root.path(), "");
    let c = config.to_str().unwrap();
    let yaml = ok(&[
        "kubeconfig",
        "user",
        "--rootfs",
        r,
        "--config",
        c,
        "--client-name",
        "alice",
        "--org",
        "dev",
        "--org",
        "ops",
        "--validity-period",
        "48h",
    ]);
    let file = root.path().join("alice.conf");
    std::fs::write(&file, &yaml).unwrap();
    let f = file.to_str().unwrap();
    assert!(kubectl(&["config", "view", "--kubeconfig", f]).contains("alice@kubernetes"));
    assert_eq!(
        kubectl(&["config", "current-context", "--kubeconfig", f]),
        "alice@kubernetes"
    );
    assert_eq!(
        kubectl(&[
            "config",
            "view",
            "--kubeconfig",
            f,
            "-o",
            "jsonpath={.clusters[0].cluster.server}"
        ]),
        "https://198.51.100.10:6443"
    );
    let cert = embedded_cert(&file);
    let ca = root.path().join("etc/kubernetes/pki/ca.crt");
    assert!(verifies(&ca, &cert));
    let (subject, _, _) = describe(&cert);
    assert_eq!(subject, "subject=O = dev, O = ops, CN = alice");
    let usage = openssl_ok(&[
        "x509",
        "-in",
        cert.to_str().unwrap(),
        "-noout",
        "-ext",
        "extendedKeyUsage",
    ]);
    assert!(usage.contains("TLS Web Client Authentication"), "{usage}");
    let holds = |seconds: &str| {
        openssl(&[
            "x509",
            "-in",
            cert.to_str().unwrap(),
            "-noout",
            "-checkend",
            seconds,
        ])
        .status
        .success()
    };
    assert!(holds("169200") && !holds("172900"), "valid for 48 hours");

    // A control-plane endpoint names the server and the cluster name the context.
    let lb = write_config(
        root.path(),
        "controlPlaneEndpoint: lb.example.com\nclusterName: prod\n",
    );
    let yaml = ok(&[
        "kubeconfig",
        "user",
        "--rootfs",
        r,
        "--config",
        lb.to_str().unwrap(),
        "--client-name",
        "bob",
    ]);
    std::fs::write(&file, &yaml).unwrap();
    assert_eq!(
        kubectl(&["config", "current-context", "--kubeconfig", f]),
        "bob@prod"
    );
    assert_eq!(
        kubectl(&[
            "config",
            "view",
            "--kubeconfig",
            f,
            "-o",
            "jsonpath={.clusters[0].cluster.server}"
        ]),
        "https://lb.example.com:6443"
    );

    refused(
        &[
            "kubeconfig",
            "user",
            "--rootfs",
            r,
            "--config",
            c,
            "--client-name",
            "a",
            "--validity-period",
            "soon",
        ],
        2,
        "--validity-period",
    );
    refused(
        &["kubeconfig", "user", "--rootfs", r, "--config", c],
        2,
        "--client-name",
    );
    std::fs::remove_file(root.path().join("etc/kubernetes/pki/ca.key")).unwrap();
    refused(
        &[
            "kubeconfig",
            "user",
            "--rootfs",
            r,
            "--config",
            c,
            "--client-name",
            "alice",
        ],
        1,
        "/etc/kubernetes/pki/ca.key is missing",
    );
}
