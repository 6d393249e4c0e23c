//! `kinit token create|list|delete` against the test API server, with admin.conf as kinit writes it.
//! Expectations come from kubeadm (reference §8, kubeadm's token.go printer and messages): the
//! Secret's keys, the table's padding, the one-line join command, whose CA pin is recomputed with
//! the openssl CLI; and the token secret never reaches standard error.

mod common;
use common::text;

use kinit_test_support as support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use support::apiserver::{Fault, Options, TestApiServer};

const TOKEN: &str = "abcdef.0123456789abcdef";
const SECRET: &str = "0123456789abcdef";
const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const DEFAULT_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

/// One PKI for the whole file, written by kinit; each cluster gets its own admin.conf.
fn pki_root() -> &'static Path {
    static ROOT: OnceLock<tempfile::TempDir> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_kinit"))
            .args(["init", "phase", "certs", "all", "--rootfs"])
            .arg(root.path())
            .args(["--apiserver-advertise-address", "127.0.0.1"])
            .args(["--node-name", "cp-1"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "certs all: {}", text(&out.stderr));
        root
    })
    .path()
}

/// A test API server with admin.conf bound to cluster-admin (as `kinit init` leaves it), and the
/// path of an admin.conf (under the PKI root) that reaches it.
struct Cluster {
    server: TestApiServer,
    /// The kubeconfig's path as kinit sees it under --rootfs.
    kubeconfig: String,
}

impl Cluster {
    fn start() -> Cluster {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        let dir = format!("/etc/kubernetes/port-{port}");
        let out = Command::new(env!("CARGO_BIN_EXE_kinit"))
            .args(["init", "phase", "kubeconfig", "admin", "--rootfs"])
            .arg(pki_root())
            .args(["--apiserver-advertise-address", "127.0.0.1"])
            .args(["--apiserver-bind-port", &port])
            .args(["--node-name", "cp-1", "--kubeconfig-dir", &dir])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubeconfig admin: {}",
            text(&out.stderr)
        );
        let server = TestApiServer::start_on(
            listener,
            &pki_root().join("etc/kubernetes/pki"),
            Options {
                node: Some("cp-1".into()),
                ..Default::default()
            },
        );
        server.insert(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "kubeadm:cluster-admins"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "kubeadm:cluster-admins"}]
        }));
        Cluster {
            server,
            kubeconfig: format!("{dir}/admin.conf"),
        }
    }

    fn kinit(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kinit"))
            .args(args)
            .arg("--rootfs")
            .arg(pki_root())
            .args(["--kubeconfig", &self.kubeconfig])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.kinit(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "kinit {args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Fails with `code` and returns standard error.
    fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.kinit(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "kinit {args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stderr)
    }

    fn token_secrets(&self) -> Vec<Value> {
        self.server
            .list("Secret")
            .into_iter()
            .filter(|s| s["type"] == "bootstrap.kubernetes.io/token")
            .collect()
    }

    /// The decoded data of a token's Secret.
    fn data(&self, id: &str) -> serde_json::Map<String, Value> {
        let secret = self
            .server
            .get("Secret", "kube-system", &format!("bootstrap-token-{id}"))
            .unwrap_or_else(|| panic!("no Secret for token {id}"));
        assert_eq!(secret["type"], "bootstrap.kubernetes.io/token");
        secret["data"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let bytes = openssl::base64::decode_block(v.as_str().unwrap()).unwrap();
                (k.clone(), Value::String(String::from_utf8(bytes).unwrap()))
            })
            .collect()
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Unix time of an RFC 3339 UTC time as kinit writes it (`2026-08-19T09:03:27Z`), by `date`.
fn unix_of(rfc3339: &str) -> i64 {
    let out = Command::new("date")
        .args(["-u", "-d", rfc3339, "+%s"])
        .output()
        .unwrap();
    text(&out.stdout).trim().parse().unwrap()
}

fn is_token(text: &str) -> bool {
    let ok = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    matches!(text.split_once('.'), Some((id, secret)) if ok(id, 6) && ok(secret, 16))
}

#[test]
fn create_list_delete_round_trip() {
    let c = Cluster::start();
    let out = c.ok(&[
        "token",
        "create",
        TOKEN,
        "--ttl",
        "2h30m",
        "--description",
        "for node 2",
        "--groups",
        &format!("{DEFAULT_GROUP},system:bootstrappers:extra"),
    ]);
    assert_eq!(out, format!("{TOKEN}\n"));
    let created = now();
    let data = c.data("abcdef");
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "auth-extra-groups",
            "description",
            "expiration",
            "token-id",
            "token-secret",
            "usage-bootstrap-authentication",
            "usage-bootstrap-signing"
        ]
    );
    assert_eq!(data["token-id"], "abcdef");
    assert_eq!(data["token-secret"], SECRET);
    assert_eq!(data["description"], "for node 2");
    assert_eq!(
        data["auth-extra-groups"],
        format!("{DEFAULT_GROUP},system:bootstrappers:extra")
    );
    assert_eq!(data["usage-bootstrap-signing"], "true");
    assert_eq!(data["usage-bootstrap-authentication"], "true");
    let expiration = data["expiration"].as_str().unwrap().to_string();
    let expires = unix_of(&expiration);
    assert!(
        (expires - (created + 9000)).abs() <= 30,
        "expiration {expiration} is not now + 2h30m"
    );

    // A generated token, never expiring, with kubeadm's default usages and group.
    let generated = c.ok(&["token", "create", "--ttl", "0"]);
    let generated = generated.trim_end();
    assert!(is_token(generated), "{generated:?}");
    let id = &generated[..6];
    let data = c.data(id);
    assert!(!data.contains_key("expiration"));
    assert_eq!(data["token-secret"], generated[7..]);
    assert_eq!(data["auth-extra-groups"], DEFAULT_GROUP);
    assert!(!data.contains_key("description"));
    assert_eq!(c.token_secrets().len(), 2);

    // The list has both; the output API carries the same facts.
    let table = c.ok(&["token", "list"]);
    assert!(table.starts_with("TOKEN "), "{table}");
    assert!(
        table.contains(TOKEN) && table.contains(generated),
        "{table}"
    );
    let json_out = c.ok(&["token", "list", "-o", "json"]);
    let documents: Vec<Value> = serde_json::Deserializer::from_str(&json_out)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(documents.len(), 2, "{json_out}");
    let mine = documents.iter().find(|d| d["token"] == TOKEN).unwrap();
    assert_eq!(
        mine,
        &json!({
            "kind": "BootstrapToken",
            "apiVersion": "output.kubeadm.k8s.io/v1alpha3",
            "token": TOKEN,
            "description": "for node 2",
            "expires": expiration,
            "usages": ["authentication", "signing"],
            "groups": [DEFAULT_GROUP, "system:bootstrappers:extra"],
        })
    );
    assert!(
        json_out.starts_with("{\n    \"kind\": \"BootstrapToken\",\n    \"apiVersion\""),
        "kubectl's JSON printer indents by four: {json_out}"
    );
    let yaml_out = c.ok(&["token", "list", "-o", "yaml"]);
    assert_eq!(
        yaml_out.matches("kind: BootstrapToken").count(),
        2,
        "{yaml_out}"
    );
    assert_eq!(yaml_out.matches("\n---\n").count(), 1, "{yaml_out}");
    assert!(yaml_out.contains(&format!("token: {TOKEN}")), "{yaml_out}");

    // Delete one by id and the other by the whole token.
    assert_eq!(
        c.ok(&["token", "delete", "abcdef"]),
        "bootstrap token \"abcdef\" deleted\n"
    );
    assert_eq!(
        c.ok(&["token", "delete", generated]),
        format!("bootstrap token \"{id}\" deleted\n")
    );
    assert!(c.token_secrets().is_empty());
    assert_eq!(c.ok(&["token", "list"]), "", "no tokens, no header");
}

#[test]
fn the_list_table_is_kubeadms() {
    let c = Cluster::start();
    c.ok(&[
        "token",
        "create",
        TOKEN,
        "--ttl",
        "2h30m",
        "--description",
        "for node 2",
    ]);
    c.ok(&["token", "create", "zyxwvu.zyxwvutsrqponmlk", "--ttl", "0"]);
    let expires = c.data("abcdef")["expiration"].as_str().unwrap().to_string();
    let table = c.ok(&["token", "list"]);
    // kubeadm pads TTL to 9, USAGES to 22 and DESCRIPTION to 56 itself and aligns each token with a
    // tabwriter of its own (minwidth 10, padding 3), the header sharing the first one.
    let expected = [
        "TOKEN                     TTL         EXPIRES                USAGES                   DESCRIPTION                                                EXTRA GROUPS".to_string(),
        format!("abcdef.0123456789abcdef   2h          {expires}   authentication,signing   for node 2                                                 {DEFAULT_GROUP}"),
        format!("zyxwvu.zyxwvutsrqponmlk   <forever>   <never>   authentication,signing   <none>                                                     {DEFAULT_GROUP}"),
    ];
    assert_eq!(table, format!("{}\n", expected.join("\n")), "{table}");
}

/// `openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256sum`, kubeadm's documented
/// recipe for the CA pin.
fn openssl_ca_hash() -> String {
    let ca = pki_root().join("etc/kubernetes/pki/ca.crt");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -pubkey -noout -in {} | openssl pkey -pubin -outform der | sha256sum",
            ca.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn print_join_command_is_one_line_with_the_ca_pin() {
    let c = Cluster::start();
    let port = c.server.addr().port();
    let hash = openssl_ca_hash();
    let out = c.ok(&["token", "create", TOKEN, "--print-join-command"]);
    assert_eq!(
        out,
        format!("kinit join 127.0.0.1:{port} --token {TOKEN} --discovery-token-ca-cert-hash sha256:{hash} \n")
    );
    assert!(c.data("abcdef")["token-secret"] == SECRET);

    let out = c.ok(&[
        "token",
        "create",
        "--print-join-command",
        "--certificate-key",
        KEY,
    ]);
    let line = out.strip_suffix('\n').unwrap();
    let token = line.split(' ').nth(4).unwrap();
    assert!(is_token(token), "{line}");
    assert_eq!(
        line,
        format!("kinit join 127.0.0.1:{port} --token {token} --discovery-token-ca-cert-hash sha256:{hash} --control-plane --certificate-key {KEY}")
    );

    let err = c.fails(2, &["token", "create", "--certificate-key", KEY]);
    assert!(
        err.contains("cannot use --certificate-key without --print-join-command"),
        "{err}"
    );
    assert_eq!(c.token_secrets().len(), 2);
}

#[test]
fn invalid_input_is_refused_with_the_rule_and_creates_nothing() {
    let c = Cluster::start();
    let cases: [(&[&str], &str); 6] = [
        (
            &["token", "create", "abcdef.0123456789ABCDEF"],
            "6 characters [a-z0-9], a dot, then 16 characters [a-z0-9]",
        ),
        (
            &["token", "create", "--ttl", "5x"],
            "invalid argument \"5x\" for \"--ttl\" flag",
        ),
        (
            &["token", "create", "--usages", "signing,bogus"],
            "invalid bootstrap token usage string: bogus, valid usage options: signing,authentication",
        ),
        (
            &["token", "create", "--groups", "admins"],
            "bootstrap group \"admins\" is invalid (must match system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9])",
        ),
        (
            &["token", "create", "--usages", "signing"],
            "token groups cannot be specified unless --usages includes \"authentication\"",
        ),
        (
            &["token", "create", "--config", "/nonexistent.yaml", TOKEN],
            "cannot read the configuration file",
        ),
    ];
    for (args, rule) in cases {
        let out = c.kinit(args);
        let err = text(&out.stderr);
        assert!(matches!(out.status.code(), Some(1 | 2)), "{args:?}: {err}");
        assert!(err.contains(rule), "{args:?}: {err}");
        assert!(
            !err.contains("0123456789ABCDEF"),
            "a token secret in: {err}"
        );
    }
    assert_eq!(
        c.fails(2, &["token", "create", "--ttl", "5x"])
            .lines()
            .count(),
        1
    );
    assert!(c.token_secrets().is_empty());
    assert!(
        c.server.writes().is_empty(),
        "nothing written: {:?}",
        c.server.writes()
    );
}

#[test]
fn a_second_token_with_the_same_id_is_refused() {
    let c = Cluster::start();
    c.ok(&["token", "create", TOKEN, "--description", "first"]);
    let err = c.fails(1, &["token", "create", "abcdef.ffffffffffffffff"]);
    assert!(
        err.contains("a token with id \"abcdef\" already exists"),
        "{err}"
    );
    let data = c.data("abcdef");
    assert_eq!(data["token-secret"], SECRET, "the first is kept");
    assert_eq!(data["description"], "first");
}

#[test]
fn delete_refuses_missing_and_malformed_arguments_and_reports_an_absent_token() {
    let c = Cluster::start();
    let err = c.fails(2, &["token", "delete"]);
    assert!(
        err.contains(r#"missing argument; 'token delete' is missing token of form "\\A([a-z0-9]{6})\\.([a-z0-9]{16})\\z" or "\\A([a-z0-9]{6})\\z""#),
        "{err}"
    );
    let err = c.fails(2, &["token", "delete", "abcdef.0123456789ABCDEF"]);
    assert!(err.contains("given token didn't match pattern"), "{err}");
    assert!(!err.contains("0123456789ABCDEF"), "{err}");

    c.ok(&["token", "create", TOKEN]);
    let err = c.fails(1, &["token", "delete", "qqqqqq", "abcdef"]);
    assert!(
        err.contains("failed to delete bootstrap token \"qqqqqq\"")
            && err.contains("secrets \"bootstrap-token-qqqqqq\" not found"),
        "{err}"
    );
    // A malformed argument anywhere deletes nothing.
    c.fails(2, &["token", "delete", "abcdef", "nope"]);
    assert_eq!(c.token_secrets().len(), 1);
}

#[test]
fn the_token_secret_never_reaches_standard_error() {
    let c = Cluster::start();
    let runs: [&[&str]; 4] = [
        &["token", "create", TOKEN, "-v", "-v", "-v"],
        &[
            "token",
            "create",
            "zyxwvu.zyxwvutsrqponmlk",
            "--print-join-command",
            "-v",
            "-v",
            "-v",
        ],
        &["token", "list", "-v", "-v", "-v"],
        &[
            "token",
            "delete",
            TOKEN,
            "zyxwvu.zyxwvutsrqponmlk",
            "-v",
            "-v",
            "-v",
        ],
    ];
    for args in runs {
        let out = c.kinit(args);
        let err = text(&out.stderr);
        assert!(out.status.success(), "{args:?}: {err}");
        assert!(!err.is_empty(), "-v -v -v logs something");
        for secret in [SECRET, "zyxwvutsrqponmlk"] {
            assert!(
                !err.contains(secret),
                "{args:?} logged a token secret:\n{err}"
            );
        }
    }
    assert!(c.token_secrets().is_empty());
}

#[test]
fn yaml_output_is_refused_outside_token_list() {
    let out = Command::new(env!("CARGO_BIN_EXE_kinit"))
        .args(["version", "-o", "yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn config_file_tokens_are_all_created_and_flags_beside_it_are_refused() {
    let c = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("init.yaml");
    std::fs::write(
        &config,
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n\
             - token: {TOKEN}\n  ttl: 1h\n  description: from a file\n\
             - token: zyxwvu.zyxwvutsrqponmlk\n  usages: [authentication]\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let err = c.fails(
        2,
        &[
            "token", "create", "--config", config, "--ttl", "2h", "--usages", "signing",
        ],
    );
    assert!(
        err.contains("can not mix '--config' with arguments [ttl usages]"),
        "{err}"
    );
    assert!(c.token_secrets().is_empty());

    // Every token of the file is created; the first is printed.
    assert_eq!(
        c.ok(&["token", "create", "--config", config]),
        format!("{TOKEN}\n")
    );
    let first = c.data("abcdef");
    assert_eq!(first["description"], "from a file");
    assert!(first.contains_key("expiration"));
    let second = c.data("zyxwvu");
    assert!(second.contains_key("usage-bootstrap-authentication"));
    assert!(!second.contains_key("usage-bootstrap-signing"));
    assert_eq!(second["auth-extra-groups"], DEFAULT_GROUP);
}

#[test]
fn a_busy_server_is_retried() {
    let c = Cluster::start();
    c.server.inject(Fault {
        method: Some("POST".into()),
        path_contains: Some("/secrets".into()),
        code: 503,
        times: 2,
    });
    assert_eq!(c.ok(&["token", "create", TOKEN]), format!("{TOKEN}\n"));
    assert_eq!(c.data("abcdef")["token-secret"], SECRET);
    let posts = c
        .server
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.uri.contains("/secrets"))
        .count();
    assert_eq!(posts, 3, "two refused, one created");
}

#[test]
fn a_dry_run_creates_and_deletes_nothing() {
    let c = Cluster::start();
    assert_eq!(
        c.ok(&["token", "create", TOKEN, "--dry-run"]),
        format!("[dryrun] Would create Secret kube-system/bootstrap-token-abcdef\n{TOKEN}\n")
    );
    assert!(c.token_secrets().is_empty());
    c.ok(&["token", "create", TOKEN]);
    assert_eq!(
        c.ok(&["token", "delete", "abcdef", "--dry-run"]),
        "[dryrun] Would delete Secret kube-system/bootstrap-token-abcdef\n"
    );
    assert_eq!(c.token_secrets().len(), 1);
    assert_eq!(c.server.writes().len(), 1, "{:?}", c.server.writes());
}

/// Secrets of the token type that kubeadm's `token list` would not read (a name that is not
/// bootstrap-token-<id>, a malformed secret half) are skipped with the reason, the secret half
/// never repeated; the good token is still listed. (An expiration that is no time is refused too,
/// see the unit test in domain/token.rs; here the token cleaner removes such a Secret first.)
#[test]
fn secrets_that_are_no_token_are_skipped_with_the_reason() {
    let c = Cluster::start();
    c.ok(&["token", "create", TOKEN]);
    let b64 = |text: &str| openssl::base64::encode_block(text.as_bytes());
    let bad = |name: &str, id: &str, secret: &str, expiration: &str| {
        c.server.insert(json!({
            "apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
            "metadata": {"name": name, "namespace": "kube-system"},
            "data": {"token-id": b64(id), "token-secret": b64(secret), "expiration": b64(expiration)}
        }));
    };
    bad(
        "bootstrap-token-misfit",
        "abc123",
        "0123456789abcdef",
        "2030-01-01T00:00:00Z",
    );
    bad(
        "bootstrap-token-qqqqqq",
        "qqqqqq",
        "SHOUTED-SECRET-X",
        "2030-01-01T00:00:00Z",
    );
    let out = c.kinit(&["token", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert!(listed.contains("abcdef.0123456789abcdef"), "{listed}");
    assert_eq!(
        listed.lines().count(),
        2,
        "the header and the one token: {listed}"
    );
    let warnings = text(&out.stderr);
    for expected in [
        "W: Secret kube-system/bootstrap-token-misfit has the bootstrap token type but is not a token: its name is not \"bootstrap-token-abc123\", bootstrap-token- and its token-id; skipped",
        "W: Secret kube-system/bootstrap-token-qqqqqq has the bootstrap token type but is not a token: its token-id and token-secret do not form a token (6 and 16 characters [a-z0-9]); skipped",
    ] {
        assert!(warnings.contains(expected), "{expected}\nin:\n{warnings}");
    }
    assert!(!warnings.contains("SHOUTED"), "{warnings}");
}
