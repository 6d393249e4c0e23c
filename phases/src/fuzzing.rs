//! The entry points through which kinit reads what people and the network hand it, one per fuzz
//! target (`fuzz/`), each calling the functions kinit itself calls and checking the property the
//! input must keep. Built only with the `fuzzing` feature; the saved corpora are replayed through
//! the same functions by `tests/fuzz_corpora.rs`, so a regression input runs with every test.
//!
//! A function returns normally for any input: an error kinit reports is fine, a panic is the bug.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde_json::{json, Value};

use crate::domain::cert_upload;
use crate::domain::config::{self, duration, validate};
use crate::domain::time_text;
use crate::domain::token::TokenSecret;
use crate::exec::api::Session;
use crate::exec::etcd_client::{self, EtcdError};
use crate::exec::net::probe;

/// A fuzz target: its name (of its file under `fuzz/fuzz_targets/` and its folders under `fuzz/`)
/// and the function it calls.
pub type Target = (&'static str, fn(&[u8]));

/// Every fuzz target.
pub const TARGETS: [Target; 8] = [
    ("config", config_file),
    ("patches", patches),
    ("kubeconfig", kubeconfig),
    ("cluster_info", cluster_info),
    ("flags", flags),
    ("pem", pem),
    ("etcd_answers", etcd_answers),
    ("api_answers", api_answers),
];

/// The HTTP statuses an answer of the `api_answers` target comes with, picked by the input's
/// first byte.
const STATUSES: [u16; 12] = [200, 201, 400, 401, 403, 404, 409, 422, 429, 500, 502, 503];

/// An answer: the status the first byte picks and the rest as its body.
fn answer(data: &[u8]) -> Option<(u16, &[u8])> {
    let (&pick, body) = data.split_first()?;
    Some((STATUSES[usize::from(pick) % STATUSES.len()], body))
}

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Every error kinit reports must be a sentence: not empty, not a bare debug dump. With
/// `KINIT_FUZZ_ERRORS` set, each is printed, for reading what the inputs make kinit say.
fn readable(error: &str) {
    if std::env::var_os("KINIT_FUZZ_ERRORS").is_some() {
        eprintln!("{error}");
    }
    assert!(!error.trim().is_empty(), "an empty error message");
}

/// A configuration file (every kind, both API versions, the component configs): decoded,
/// defaulted and validated as `kinit config validate` does. A file without problems, written out
/// again document by document, decodes to the same configuration.
pub fn config_file(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let (file, problems) = config::validate_text(text);
    for problem in &problems {
        readable(&problem.to_string());
    }
    if !problems.is_empty() {
        return;
    }
    let again: Vec<String> = file
        .sources
        .values()
        .map(|doc| config::to_yaml(&doc.value).expect("a decoded document writes out"))
        .collect();
    let reread = config::decode::load(&again.join("---\n"));
    let typed = |f: &config::decode::ConfigFile| {
        json!([
            f.init,
            f.cluster,
            f.join,
            f.reset,
            f.upgrade,
            f.kubelet,
            f.kube_proxy
        ])
    };
    assert_eq!(
        typed(&reread),
        typed(&file),
        "written out and read again, the configuration changed:\n{}",
        again.join("---\n")
    );
}

/// A folder for the patch file of one run, kept for the whole process.
fn patch_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("kinit-fuzz-patches-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp folder");
        dir
    })
}

/// The kube-apiserver Pod a patch is applied to.
fn api_server_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "kube-apiserver", "namespace": "kube-system",
            "labels": {"component": "kube-apiserver", "tier": "control-plane"}},
        "spec": {"hostNetwork": true, "containers": [{
            "name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.34.4",
            "command": ["kube-apiserver", "--advertise-address=10.0.0.1"],
            "volumeMounts": [{"name": "k8s-certs", "mountPath": "/srv/certs", "readOnly": true}],
            "ports": [{"containerPort": 6443, "name": "https"}],
            "env": [{"name": "A", "value": "1"}]}],
            "volumes": [{"name": "k8s-certs", "hostPath": {"path": "/srv/certs", "type": "DirectoryOrCreate"}}]}
    })
}

/// A patch file as `--patches` reads it (the first byte picks its type), applied to a
/// kube-apiserver Pod, then applied again to what came out.
pub fn patches(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let name = match kind % 3 {
        0 => "kube-apiserver+strategic.yaml",
        1 => "kube-apiserver+merge.yaml",
        _ => "kube-apiserver+json.yaml",
    };
    let dir = patch_dir();
    for old in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let _ = std::fs::remove_file(old.path());
    }
    let mut file = std::fs::File::create(dir.join(name)).expect("a patch file");
    file.write_all(body).expect("written");
    drop(file);
    let host = kinit_preflight::RealHost::new("/");
    let set = match crate::domain::patches::PatchSet::load(&host, &dir.to_string_lossy()) {
        Ok(set) => set,
        Err(e) => return readable(&e),
    };
    match set.apply("kube-apiserver", api_server_pod()) {
        Ok((patched, _)) => {
            if let Err(e) = set.apply("kube-apiserver", patched) {
                readable(&e);
            }
        }
        Err(e) => readable(&e),
    }
}

/// A kubeconfig as `join --discovery-file` reads it, and as the API client takes one (its files
/// read from nowhere).
pub fn kubeconfig(data: &[u8]) {
    let Some(text) = text(data) else { return };
    if let Err(e) = crate::discovery::file::cluster_info(text, "the discovery file") {
        readable(&e);
    }
    if let Err(e) = crate::exec::api::with_files_inline(text, "the kubeconfig", |path| {
        Err(format!("{path}: no such file"))
    }) {
        readable(&e);
    }
}

/// The `cluster-info` ConfigMap's kubeconfig and a JWS over it, as token discovery reads them.
/// A signature made with a token verifies for that token and for no other secret.
pub fn cluster_info(data: &[u8]) {
    let Some(text) = text(data) else { return };
    if let Err(e) = crate::discovery::token::parse_cluster_info(text) {
        readable(&e);
    }
    let (signature, payload) = text.split_once('\n').unwrap_or((text, ""));
    let _ = crate::discovery::jws::verify(signature, "abcdef", "0123456789abcdef", payload);
    let signed = crate::discovery::jws::sign("abcdef", "0123456789abcdef", payload)
        .expect("any payload can be signed");
    assert!(crate::discovery::jws::verify(
        &signed,
        "abcdef",
        "0123456789abcdef",
        payload
    ));
    assert!(!crate::discovery::jws::verify(
        &signed,
        "abcdef",
        "0123456789abcdeg",
        payload
    ));
}

/// The values flags and fields take as text: bootstrap tokens, CA hash pins, certificate keys,
/// CIDR lists, Go durations (written back, a duration reads the same), quantities, RFC 3339 times
/// as a token's expiration carries them (written back, a time reads the same), host:port
/// endpoints, SANs and image repositories.
pub fn flags(data: &[u8]) {
    let Some(text) = text(data) else { return };
    for problem in [
        validate::token_problem(text),
        validate::ca_cert_hash_problem(text),
        validate::certificate_key_problem(text),
        validate::host_port_problem(text),
        validate::san_problem(text),
        validate::image_repository_problem(text),
    ]
    .into_iter()
    .flatten()
    {
        readable(&problem);
    }
    if let Err(e) = validate::parse_cidrs(text) {
        readable(&e);
    }
    if let Err(e) = config::components::quantity(text) {
        readable(&e);
    }
    if let Some(at) = time_text::parse_rfc3339(text) {
        let written = time_text::rfc3339(at);
        assert_eq!(
            time_text::parse_rfc3339(&written),
            Some(at),
            "{text:?} read as {at}, written as {written:?}"
        );
    }
    match duration::parse(text) {
        Ok(parsed) => {
            let written = duration::format(parsed);
            assert_eq!(
                duration::parse(&written),
                Ok(parsed),
                "{text:?} read as {parsed:?}, written as {written:?}"
            );
        }
        Err(e) => readable(&e),
    }
}

/// Certificates and keys as kinit loads them from disk, base64 as kubeconfig files carry them,
/// and the `kubeadm-certs` Secret's sealed data opened with a certificate key.
pub fn pem(data: &[u8]) {
    if let Err(e) = crate::domain::pki::cert::parse_pem(data, "the certificate") {
        readable(&e);
    }
    if let Err(e) = crate::domain::pki::keys::parse_private_key(data, "the key") {
        readable(&e);
    }
    if let Some(text) = text(data) {
        if let Err(e) = crate::domain::kubeconfig::unbase64(text) {
            readable(&e);
        }
        if let Err(e) = crate::domain::cert_upload::decode_key(text) {
            readable(&e);
        }
    }
    let key = [7u8; 32];
    if let Err(e) = crate::domain::cert_upload::decrypt(&key, data) {
        readable(&e);
    }
}

/// What etcd's gateway sends back for a member call or a status request, as raw HTTP: read by
/// kinit's HTTP client (status line, headers, chunked body), then decoded as the etcd client
/// decodes it: its JSON, or an error kinit reports and classifies.
pub fn etcd_answers(data: &[u8]) {
    let Some((status, body)) = probe::parse_answer(data) else {
        return;
    };
    match etcd_client::decode_answer(status, &body) {
        Ok(answer) => {
            let _ = etcd_client::members(&answer);
            let _ = etcd_client::member(&answer["member"]);
            let _ = etcd_client::endpoint_status(&answer);
        }
        Err((code, message)) => {
            let error = EtcdError::new(
                "list the etcd members",
                "https://10.0.0.1:2379",
                code,
                message,
            );
            let _ = error.is_retryable();
            readable(&error.to_string());
        }
    }
}

/// What the API server of the `api_answers` target answers next.
static API_ANSWER: Mutex<(u16, Vec<u8>)> = Mutex::new((200, Vec::new()));

/// A session whose every request is answered with [`API_ANSWER`], kept for the whole process.
/// Its calls are never tried again: each input is one answer.
fn answered_session() -> &'static Session {
    static SESSION: OnceLock<Session> = OnceLock::new();
    SESSION.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let server = tower::service_fn(|_: http::Request<kube::client::Body>| async {
            let (status, body) = API_ANSWER.lock().expect("not poisoned").clone();
            http::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(kube::client::Body::from(body))
        });
        let client = {
            let _entered = runtime.enter();
            kube::Client::new(server, "default")
        };
        Session::over(runtime, client, Duration::ZERO, "the fuzzed API server")
    })
}

/// An API answer (status and body) to the calls that read what the API server holds: the list of
/// bootstrap-token Secrets (`kinit token list`) and the `kubeadm-certs` Secret opened with a
/// certificate key (`join --control-plane`). A token read from a Secret, written as a Secret and
/// read again, is the same token; every file of the Secret, sealed and opened again, is the same.
pub fn api_answers(data: &[u8]) {
    let Some((status, body)) = answer(data) else {
        return;
    };
    *API_ANSWER.lock().expect("not poisoned") = (status, body.to_vec());
    let session = answered_session();
    match session.list_tokens() {
        Ok(tokens) => {
            for token in tokens.into_iter().flatten() {
                assert_eq!(
                    TokenSecret::from_secret(&token.to_secret()).as_ref(),
                    Ok(&token),
                    "a token written as a Secret reads back differently"
                );
            }
        }
        Err(e) => readable(&e.to_string()),
    }
    let secrets: Api<Secret> = Api::namespaced(session.client(), "kube-system");
    let secret = match session.call("get Secret kube-system/kubeadm-certs", || {
        secrets.get(cert_upload::SECRET_NAME)
    }) {
        Ok(secret) => secret,
        Err(e) => return readable(&e.to_string()),
    };
    let data = secret.data.unwrap_or_default();
    let files: Vec<(String, String)> = data
        .keys()
        .map(|name| (name.clone(), format!("/srv/certs/{name}")))
        .collect();
    if let Err(e) = cert_upload::open(&[7u8; 32], &data, files.clone()) {
        readable(&e);
    }
    let key = [9u8; 32];
    let plain_files = data
        .iter()
        .map(|(name, plain)| (name.clone(), plain.0.clone()))
        .collect();
    let sealed = cert_upload::seal(&key, &plain_files).expect("anything can be sealed");
    let opened = cert_upload::open(&key, &sealed, files).expect("sealed with the same key");
    let plain: Vec<&[u8]> = data
        .values()
        .map(|plain| plain.0.as_slice())
        .filter(|plain| !plain.is_empty())
        .collect();
    let reopened: Vec<&[u8]> = opened.iter().map(|file| file.plain.as_slice()).collect();
    assert_eq!(
        plain, reopened,
        "sealed and opened, the Secret's files changed"
    );
}
