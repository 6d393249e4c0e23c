//! What a node's files say, as facts: `(file, what) → value`, read with tools that are not kinit's
//! (the openssl CLI and crate, an independent YAML parser). Two trees, kubeadm's and kinit's, are then
//! compared fact by fact. Values that must differ between any two runs (key material, serial numbers,
//! timestamps, key identifiers) are reduced to what they mean: which CA signed a certificate, whether an
//! embedded CA is the tree's own, how long a certificate is valid.

use openssl::x509::X509;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub type Facts = BTreeMap<String, String>;

/// The folders of a node that init's and join's file phases write, relative to its root.
pub const NODE_FOLDERS: [&str; 2] = ["etc/kubernetes", "var/lib/kubelet"];

/// Every fact of the files under `root`'s node folders; the certificates folder may lie elsewhere
/// (`certificatesDir`), and is then read too, under the name `<pki>`.
pub fn tree_facts(root: &Path, cert_dir: &str) -> Facts {
    let mut facts = Facts::new();
    let tree = Tree {
        root: root.to_path_buf(),
        cert_dir: cert_dir.trim_start_matches('/').to_string(),
    };
    let mut files = Vec::new();
    for folder in NODE_FOLDERS {
        walk(&root.join(folder), &mut files);
    }
    if !NODE_FOLDERS
        .iter()
        .any(|f| tree.cert_dir.starts_with(&format!("{f}/")))
    {
        walk(&root.join(&tree.cert_dir), &mut files);
    }
    files.sort();
    for path in files {
        let name = tree.name(&path);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        facts.insert(format!("{name}: mode"), format!("{mode:o}"));
        tree.file_facts(&path, &name, &mut facts);
    }
    facts
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

struct Tree {
    root: PathBuf,
    cert_dir: String,
}

impl Tree {
    /// A file's name in the facts: relative to the root, the certificates folder shown as `<pki>`.
    fn name(&self, path: &Path) -> String {
        let rel = path.strip_prefix(&self.root).unwrap().to_string_lossy();
        match rel.strip_prefix(&self.cert_dir) {
            Some(rest) if rest.starts_with('/') => format!("<pki>{rest}"),
            _ => rel.into_owned(),
        }
    }

    fn file_facts(&self, path: &Path, name: &str, facts: &mut Facts) {
        let bytes = std::fs::read(path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        if name.ends_with(".crt") || name.ends_with(".pem") && text.contains("CERTIFICATE") {
            for (what, value) in self.cert_facts(&text) {
                facts.insert(format!("{name}: {what}"), value);
            }
            if let Some(key) = pem_labels(&text).iter().find(|l| l.contains("PRIVATE KEY")) {
                facts.insert(format!("{name}: key format"), key.clone());
            }
        } else if name.ends_with(".key") || name.ends_with(".pub") {
            for (what, value) in key_facts(&text) {
                facts.insert(format!("{name}: {what}"), value);
            }
        } else if name.starts_with("etc/kubernetes/") && name.ends_with(".conf") {
            self.kubeconfig_facts(&text, name, facts);
        } else if name.ends_with(".yaml") {
            for (key, value) in flatten_documents(&text) {
                facts.insert(format!("{name}: {key}"), value);
            }
        } else if name.ends_with(".env") {
            for (key, value) in env_facts(&text) {
                facts.insert(format!("{name}: {key}"), value);
            }
        } else {
            facts.insert(format!("{name}: content"), text.into_owned());
        }
    }

    /// Subject, issuer, extensions, key, validity length and signing CA of one PEM certificate.
    fn cert_facts(&self, pem: &str) -> Vec<(String, String)> {
        let cert = X509::from_pem(pem.as_bytes()).expect("a PEM certificate");
        let text = openssl_stdin(&["x509", "-noout", "-text"], pem);
        let mut out = vec![
            ("subject".to_string(), line_after(&text, "Subject:")),
            ("issuer".to_string(), line_after(&text, "Issuer:")),
            (
                "public key".to_string(),
                format!(
                    "{} {}",
                    line_after(&text, "Public Key Algorithm:"),
                    line_after(&text, "Public-Key:")
                ),
            ),
            (
                "signature algorithm".to_string(),
                line_after(&text, "Signature Algorithm:"),
            ),
            ("validity".to_string(), validity(&cert)),
            ("signed by".to_string(), self.signer(&cert)),
        ];
        if let Some(curve) = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("NIST CURVE:"))
        {
            out.push(("curve".to_string(), curve.trim().to_string()));
        }
        for (name, (critical, value)) in extensions(&text) {
            // Key identifiers differ with every key; that they are there is the fact.
            let value = if name.contains("Key Identifier") {
                "present".to_string()
            } else if name == "X509v3 Subject Alternative Name" {
                let mut items: Vec<&str> = value.split(", ").collect();
                items.sort();
                items.join(", ")
            } else {
                value
            };
            let critical = if critical { " (critical)" } else { "" };
            out.push((name, format!("{value}{critical}")));
        }
        out
    }

    /// Which of the tree's CAs signed `cert`: its file name, `self` for a CA, or `unknown`.
    fn signer(&self, cert: &X509) -> String {
        for ca in ["ca.crt", "front-proxy-ca.crt", "etcd/ca.crt"] {
            let Ok(pem) = std::fs::read(self.root.join(&self.cert_dir).join(ca)) else {
                continue;
            };
            let ca_cert = X509::from_pem(&pem).unwrap();
            if cert.verify(&ca_cert.public_key().unwrap()).unwrap_or(false) {
                return if ca_cert.to_der().unwrap() == cert.to_der().unwrap() {
                    "self".to_string()
                } else {
                    format!("<pki>/{ca}")
                };
            }
        }
        "unknown".to_string()
    }

    fn kubeconfig_facts(&self, text: &str, name: &str, facts: &mut Facts) {
        let own_ca = std::fs::read_to_string(self.root.join(&self.cert_dir).join("ca.crt"))
            .unwrap_or_default();
        for (key, value) in flatten_documents(text) {
            let decoded = || {
                let b64 = value.trim_matches('"');
                String::from_utf8(openssl::base64::decode_block(b64).expect("base64 data")).unwrap()
            };
            if key.ends_with(".certificate-authority-data") {
                let ca = decoded();
                let which = if ca == own_ca {
                    "<pki>/ca.crt"
                } else {
                    "other"
                };
                facts.insert(format!("{name}: {key}"), which.to_string());
            } else if key.ends_with(".client-certificate-data") {
                for (what, v) in self.cert_facts(&decoded()) {
                    facts.insert(format!("{name}: {key} {what}"), v);
                }
            } else if key.ends_with(".client-key-data") {
                for (what, v) in key_facts(&decoded()) {
                    facts.insert(format!("{name}: {key} {what}"), v);
                }
            } else if key.ends_with(".token") {
                facts.insert(format!("{name}: {key}"), "<token>".to_string());
            } else {
                facts.insert(format!("{name}: {key}"), value);
            }
        }
    }
}

fn openssl_stdin(args: &[&str], input: &str) -> String {
    let out = crate::common::output_with_input(
        Command::new("openssl").args(args),
        Some(input.as_bytes()),
    );
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn line_after(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "(none)".to_string())
}

/// The X509v3 extensions of `openssl x509 -text`: name → (critical, value on one line).
fn extensions(text: &str) -> BTreeMap<String, (bool, String)> {
    let mut found: BTreeMap<String, (bool, String)> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_extensions = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("X509v3 extensions:") {
            in_extensions = true;
            continue;
        }
        if !in_extensions {
            continue;
        }
        if trimmed.starts_with("Signature Algorithm:") {
            break;
        }
        if let Some((name, rest)) = trimmed.split_once(':') {
            if name.starts_with("X509v3 ") || name.starts_with("Netscape") {
                found.insert(name.to_string(), (rest.trim() == "critical", String::new()));
                current = Some(name.to_string());
                continue;
            }
        }
        if let Some(name) = &current {
            let entry = found.get_mut(name).unwrap();
            if !entry.1.is_empty() {
                entry.1.push(' ');
            }
            entry.1.push_str(trimmed);
        }
    }
    found
}

/// How long a certificate is valid, and how far its start lies before now, in whole minutes.
fn validity(cert: &X509) -> String {
    let start = cert.not_before();
    let end = cert.not_after();
    let length = start.diff(end).unwrap();
    let length_minutes = (i64::from(length.days) * 86400 + i64::from(length.secs) + 30) / 60;
    let now = openssl::asn1::Asn1Time::days_from_now(0).unwrap();
    let back = start.diff(&now).unwrap();
    let back_minutes = (i64::from(back.days) * 86400 + i64::from(back.secs) + 30) / 60;
    format!("{length_minutes} min, starting {back_minutes} min ago")
}

fn pem_labels(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("-----BEGIN "))
        .map(|l| l.trim_end_matches('-').to_string())
        .collect()
}

/// A key file's PEM format and the key's algorithm and size.
fn key_facts(text: &str) -> Vec<(String, String)> {
    let labels = pem_labels(text);
    let mut out = vec![("format".to_string(), labels.join(" + "))];
    let public = labels.iter().all(|l| l.contains("PUBLIC"));
    let mut args = vec!["pkey", "-noout", "-text"];
    if public {
        args.push("-pubin");
    }
    let described = openssl_stdin(&args, text);
    out.push((
        "key".to_string(),
        described
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
    ));
    if let Some(curve) = described
        .lines()
        .find_map(|l| l.trim().strip_prefix("NIST CURVE:"))
    {
        out.push(("curve".to_string(), curve.trim().to_string()));
    }
    out
}

/// `KEY="--a=1 --b=2"` lines: each flag its own fact, and their order.
fn env_facts(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((key, value)) = line.split_once('=') else {
            out.push(("line".to_string(), line.to_string()));
            continue;
        };
        let value = value.trim_matches('"');
        let mut order = Vec::new();
        for flag in value.split_whitespace() {
            let (name, v) = flag.split_once('=').unwrap_or((flag, ""));
            order.push(name.to_string());
            out.push((format!("{key} {name}"), v.to_string()));
        }
        out.push((format!("{key} (order)"), order.join(" ")));
    }
    out
}

/// Every YAML document of `text`, flattened: `a.b{name=x}.c` → scalar. Lists of named things (containers,
/// volumes, mounts, clusters, users, contexts) are keyed by their name and get an `(order)` fact; a
/// container's `command` is keyed by flag, with its own `(order)`.
pub fn flatten_documents(text: &str) -> Vec<(String, String)> {
    let docs = yaml_rust2::YamlLoader::load_from_str(text)
        .unwrap_or_else(|e| panic!("not YAML ({e}):\n{text}"));
    let mut out = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let value = to_json(doc);
        let prefix = if docs.len() > 1 {
            format!("doc{i}")
        } else {
            String::new()
        };
        flatten(&value, &prefix, &mut out);
    }
    out
}

pub fn to_json(yaml: &yaml_rust2::Yaml) -> Value {
    use yaml_rust2::Yaml;
    match yaml {
        Yaml::Real(s) => Value::String(s.clone()),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        other => format!("{other:?}"),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Yaml::Null | Yaml::BadValue => Value::Null,
        Yaml::Alias(_) => Value::String("<alias>".to_string()),
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The key a list item is known by, when the list is one of named things.
fn item_key(item: &Value) -> Option<String> {
    let object = item.as_object()?;
    ["name", "mountPath", "containerPort"]
        .iter()
        .find_map(|k| object.get(*k).map(|v| format!("{k}={}", scalar(v))))
}

pub fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn flatten(value: &Value, prefix: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) if map.is_empty() => out.push((prefix.to_string(), "{}".to_string())),
        Value::Object(map) => {
            for (k, v) in map {
                flatten(v, &join(prefix, k), out);
            }
        }
        Value::Array(items) if items.is_empty() => out.push((prefix.to_string(), "[]".to_string())),
        Value::Array(items) if prefix.ends_with("command") || prefix.ends_with("args") => {
            let mut order = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let text = scalar(item);
                match text.split_once('=').filter(|_| text.starts_with("--")) {
                    Some((flag, v)) => {
                        order.push(flag.to_string());
                        out.push((format!("{prefix}{{{flag}}}"), v.to_string()));
                    }
                    None => {
                        order.push(text.clone());
                        out.push((format!("{prefix}[{i}]"), text));
                    }
                }
            }
            out.push((format!("{prefix} (order)"), order.join(" ")));
        }
        Value::Array(items) => {
            let keys: Vec<Option<String>> = items.iter().map(item_key).collect();
            let named = keys.iter().all(Option::is_some);
            let mut order = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let key = if named {
                    let k = keys[i].clone().unwrap();
                    order.push(k.clone());
                    format!("{prefix}{{{k}}}")
                } else {
                    format!("{prefix}[{i}]")
                };
                flatten(item, &key, out);
            }
            if named && items.len() > 1 {
                out.push((format!("{prefix} (order)"), order.join(" ")));
            }
        }
        other => out.push((prefix.to_string(), scalar(other))),
    }
}
