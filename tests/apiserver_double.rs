//! The test API server of `tests/support/apiserver` checked with the real `kubectl` (from .venv)
//! over the PKI and kubeconfigs `kinit init phase certs all` + `kubeconfig all` write: the
//! answers must be the real server's (codes, reasons, messages kubectl prints), and whatever the
//! real server refuses must be refused.
//!
//! Expectations come from Kubernetes' behaviour (reference/kubeadm.md §7–§9, the API
//! conventions), never from the double's own code: the JWS is recomputed with the openssl CLI.

mod common;
use common::{text, venv_tool};

use kinit_test_support as support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::apiserver::{Fault, Options, TestApiServer};

// ---------------------------------------------------------------------------------------------
// Setup

/// One PKI and set of kubeconfigs for the whole file, written by kinit.
struct Pki {
    root: tempfile::TempDir,
}

impl Pki {
    fn path(&self, host_path: &str) -> PathBuf {
        self.root.path().join(host_path.trim_start_matches('/'))
    }
    fn pki_dir(&self) -> PathBuf {
        self.path("/etc/kubernetes/pki")
    }
    fn conf(&self, name: &str) -> PathBuf {
        self.path(&format!("/etc/kubernetes/{name}"))
    }
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let root = tempfile::tempdir().unwrap();
        for phase in ["certs", "kubeconfig"] {
            let out = Command::new(env!("CARGO_BIN_EXE_kinit"))
                .args(["init", "phase", phase, "all", "--rootfs"])
                .arg(root.path())
                .args([
                    "--apiserver-advertise-address",
                    "127.0.0.1",
                    "--node-name",
                    "cp-1",
                ])
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "kinit {phase} all: {}",
                text(&out.stderr)
            );
        }
        Pki { root }
    })
}

fn start() -> TestApiServer {
    TestApiServer::start(
        &pki().pki_dir(),
        Options {
            node: Some("cp-1".into()),
            ..Default::default()
        },
    )
}

/// How kubectl authenticates.
#[derive(Clone)]
enum Creds {
    /// A kubeconfig of the shared PKI (server 127.0.0.1:6443, overridden with the double's URL).
    Kubeconfig(PathBuf),
    /// A kubeconfig that already points at the double.
    OwnKubeconfig(PathBuf),
    Cert(PathBuf, PathBuf),
    Token(String),
}

struct Kubectl<'a> {
    server: &'a TestApiServer,
    creds: Creds,
    scratch: tempfile::TempDir,
}

impl<'a> Kubectl<'a> {
    fn new(server: &'a TestApiServer, creds: Creds) -> Kubectl<'a> {
        Kubectl {
            server,
            creds,
            scratch: tempfile::tempdir().unwrap(),
        }
    }

    fn super_admin(server: &'a TestApiServer) -> Kubectl<'a> {
        Kubectl::new(server, Creds::Kubeconfig(pki().conf("super-admin.conf")))
    }

    fn run_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = Command::new(venv_tool("kubectl"));
        if !matches!(self.creds, Creds::OwnKubeconfig(_)) {
            c.arg("--server").arg(self.server.url());
        }
        c.arg("--cache-dir").arg(self.scratch.path().join("cache"));
        c.arg("--request-timeout=20s");
        match &self.creds {
            Creds::Kubeconfig(conf) | Creds::OwnKubeconfig(conf) => {
                c.arg("--kubeconfig").arg(conf);
            }
            other => {
                let empty = self.scratch.path().join("empty.conf");
                std::fs::write(&empty, "apiVersion: v1\nkind: Config\n").unwrap();
                c.arg("--kubeconfig").arg(&empty);
                c.arg("--certificate-authority")
                    .arg(pki().pki_dir().join("ca.crt"));
                match other {
                    Creds::Cert(crt, key) => {
                        c.arg("--client-certificate").arg(crt);
                        c.arg("--client-key").arg(key);
                    }
                    Creds::Token(t) => {
                        c.arg("--token").arg(t);
                    }
                    _ => {}
                }
            }
        }
        c.args(args);
        // The double serves no OpenAPI documents, which kubectl's client-side validation needs;
        // the server validates every object itself.
        if matches!(
            args.first(),
            Some(&"create") | Some(&"apply") | Some(&"replace")
        ) && !args.contains(&"--validate=false")
            && !args.contains(&"--raw")
        {
            c.arg("--validate=false");
        }
        c.env("HOME", self.scratch.path());
        c.env_remove("KUBECONFIG");
        c.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("run kubectl");
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_stdin(args, None)
    }

    /// Succeeds; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {} failed: {}{}",
            args.join(" "),
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn ok_stdin(&self, args: &[&str], input: &str) -> String {
        let out = self.run_stdin(args, Some(input));
        assert!(
            out.status.success(),
            "kubectl {} failed: {}{}",
            args.join(" "),
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Fails; its standard error.
    fn err(&self, args: &[&str]) -> String {
        self.err_stdin(args, None)
    }

    fn err_stdin(&self, args: &[&str], input: Option<&str>) -> String {
        let out = self.run_stdin(args, input);
        assert!(
            !out.status.success(),
            "kubectl {} should have failed: {}",
            args.join(" "),
            text(&out.stdout)
        );
        text(&out.stderr)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }
}

/// One HTTPS request without kubectl (which would prompt for a user name when it has no
/// credentials): the status code and body. Verifies the server against the cluster CA.
fn raw_request(
    server: &TestApiServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    raw_request_as(server, None, method, path, headers, body)
}

/// [`raw_request`] with a client certificate and key.
fn raw_request_as(
    server: &TestApiServer,
    cert: Option<&(PathBuf, PathBuf)>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    support::https::request(
        server.addr(),
        &pki().pki_dir().join("ca.crt"),
        cert,
        method,
        path,
        headers,
        body,
    )
}

fn rv(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A client certificate signed by the cluster CA with the openssl CLI: (cert, key) paths.
fn client_cert(dir: &Path, cn: &str, orgs: &[&str]) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{cn}.key"));
    let crt = dir.join(format!("{cn}.crt"));
    let csr = dir.join(format!("{cn}.csr"));
    let ext = dir.join(format!("{cn}.ext"));
    std::fs::write(
        &ext,
        "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n",
    )
    .unwrap();
    let mut subj = format!("/CN={cn}");
    for o in orgs {
        subj += &format!("/O={o}");
    }
    let ca = pki().pki_dir();
    let steps: Vec<Vec<String>> = vec![
        vec![
            "genrsa".into(),
            "-out".into(),
            key.display().to_string(),
            "2048".into(),
        ],
        vec![
            "req".into(),
            "-new".into(),
            "-key".into(),
            key.display().to_string(),
            "-subj".into(),
            subj,
            "-out".into(),
            csr.display().to_string(),
        ],
        vec![
            "x509".into(),
            "-req".into(),
            "-in".into(),
            csr.display().to_string(),
            "-CA".into(),
            ca.join("ca.crt").display().to_string(),
            "-CAkey".into(),
            ca.join("ca.key").display().to_string(),
            "-set_serial".into(),
            // Not -CAcreateserial: tests run in parallel and would share ca.srl.
            format!(
                "{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ),
            "-days".into(),
            "1".into(),
            "-extfile".into(),
            ext.display().to_string(),
            "-out".into(),
            crt.display().to_string(),
        ],
    ];
    for args in steps {
        let out = Command::new("openssl").args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            text(&out.stderr)
        );
    }
    (crt, key)
}

fn b64(s: &str) -> String {
    openssl::base64::encode_block(s.as_bytes())
}

fn token_secret(id: &str, secret: &str, expiration: Option<&str>, signing: bool) -> Value {
    let mut data = json!({
        "token-id": b64(id), "token-secret": b64(secret),
        "usage-bootstrap-authentication": b64("true"),
        "auth-extra-groups": b64("system:bootstrappers:kubeadm:default-node-token"),
    });
    if signing {
        data["usage-bootstrap-signing"] = json!(b64("true"));
    }
    if let Some(e) = expiration {
        data["expiration"] = json!(b64(e));
    }
    json!({"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
           "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": "kube-system"}, "data": data})
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn create_get_list_and_delete_answer_like_the_real_server() {
    let server = start();
    let k = Kubectl::super_admin(&server);
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"demo","namespace":"kube-system","labels":{"app":"demo"}},"data":{"a":"1"}}"#;
    let created: Value =
        serde_json::from_str(&k.ok_stdin(&["create", "-f", "-", "-o", "json"], cm)).unwrap();
    assert!(created["metadata"]["uid"]
        .as_str()
        .is_some_and(|u| u.len() == 36));
    assert!(created["metadata"]["creationTimestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let got = k.json(&["get", "configmap", "demo", "-n", "kube-system"]);
    assert_eq!(got["data"]["a"], "1");
    assert_eq!(rv(&got), rv(&created));
    let stored = server.get("ConfigMap", "kube-system", "demo").unwrap();
    assert_eq!(
        stored["metadata"]["managedFields"][0]["manager"],
        "kubectl-create"
    );
    assert_eq!(
        stored["metadata"]["managedFields"][0]["operation"],
        "Update"
    );

    // 409 AlreadyExists, worded as kubectl prints the real one.
    let err = k.err_stdin(&["create", "-f", "-"], Some(cm));
    assert!(err.contains(r#"Error from server (AlreadyExists): error when creating "STDIN": configmaps "demo" already exists"#), "{err}");
    // 404 NotFound.
    let err = k.err(&["get", "configmap", "nope", "-n", "kube-system"]);
    assert!(
        err.contains(r#"Error from server (NotFound): configmaps "nope" not found"#),
        "{err}"
    );
    // A namespace that does not exist.
    let err = k.err_stdin(
        &["create", "-f", "-", "-n", "nowhere"],
        Some(&cm.replace("kube-system", "nowhere")),
    );
    assert!(err.contains(r#"namespaces "nowhere" not found"#), "{err}");
    // An unknown resource.
    let err = k.err(&["get", "--raw", "/api/v1/namespaces/default/widgets"]);
    assert!(err.contains("NotFound"), "{err}");

    // kubectl's default output asks for a Table and falls back to the plain list.
    let table = k.ok(&["get", "configmaps", "-n", "kube-system"]);
    assert!(table.contains("demo"), "{table}");
    // List with a label selector.
    let list = k.json(&["get", "configmaps", "-A", "-l", "app=demo"]);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["metadata"]["name"], "demo");
    assert_eq!(
        k.json(&["get", "configmaps", "-A", "-l", "app!=demo"])["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["metadata"]["name"] == "demo")
            .count(),
        0
    );

    // Delete, then it is gone.
    let out = k.ok(&["delete", "configmap", "demo", "-n", "kube-system"]);
    assert!(out.contains(r#"configmap "demo" deleted"#), "{out}");
    assert!(server.get("ConfigMap", "kube-system", "demo").is_none());
    let err = k.err(&["delete", "configmap", "demo", "-n", "kube-system"]);
    assert!(err.contains(r#"configmaps "demo" not found"#), "{err}");

    // The seeded objects.
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(server.get("Namespace", "", ns).is_some(), "{ns}");
    }
    assert!(server.get("Node", "", "cp-1").is_some());
    assert!(server
        .get("ClusterRole", "", "system:node-bootstrapper")
        .is_some());

    // A test can play the kubelet: the Node becomes Ready, with a new resourceVersion.
    let mut node = server.get("Node", "", "cp-1").unwrap();
    let before = rv(&node);
    node["status"]["conditions"][0]["status"] = json!("True");
    node["status"]["conditions"][0]["reason"] = json!("KubeletReady");
    server.put(node);
    let ready = k.json(&["get", "node", "cp-1"]);
    assert_eq!(ready["status"]["conditions"][0]["status"], "True");
    assert!(rv(&ready) > before);
}

#[test]
fn update_with_a_stale_resource_version_is_a_conflict_and_no_op_writes_keep_it() {
    let server = start();
    let k = Kubectl::super_admin(&server);
    k.ok_stdin(&["create", "-f", "-"], r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"default"},"data":{"a":"1"}}"#);
    let first = k.json(&["get", "cm", "c", "-n", "default"]);
    let mut changed = first.clone();
    changed["data"]["a"] = json!("2");
    k.ok_stdin(&["replace", "-f", "-"], &changed.to_string());
    let second = k.json(&["get", "cm", "c", "-n", "default"]);
    assert!(rv(&second) > rv(&first));
    // Replacing with the first (now stale) resourceVersion.
    let mut stale = first.clone();
    stale["data"]["a"] = json!("3");
    let err = k.err_stdin(&["replace", "-f", "-"], Some(&stale.to_string()));
    assert!(
        err.contains(r#"Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on configmaps "c": the object has been modified; please apply your changes to the latest version and try again"#),
        "{err}"
    );
    // A patch that changes nothing keeps the resourceVersion.
    k.ok(&[
        "patch",
        "cm",
        "c",
        "-n",
        "default",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"a":"2"}}"#,
    ]);
    assert_eq!(
        rv(&k.json(&["get", "cm", "c", "-n", "default"])),
        rv(&second)
    );
    // Name mismatches are 400.
    let mut renamed = second.clone();
    renamed["metadata"]["name"] = json!("other");
    let err = k.err_stdin(
        &[
            "replace",
            "--raw",
            "/api/v1/namespaces/default/configmaps/c",
            "-f",
            "-",
        ],
        Some(&renamed.to_string()),
    );
    assert!(
        err.contains("BadRequest") || err.contains("does not match"),
        "{err}"
    );
}

#[test]
fn patches_merge_json_and_strategic() {
    let server = start();
    let k = Kubectl::super_admin(&server);
    k.ok_stdin(&["create", "-f", "-"], r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"p","namespace":"default"},"data":{"a":"1","b":"2"}}"#);
    k.ok(&[
        "patch",
        "cm",
        "p",
        "-n",
        "default",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"a":null,"c":"3"}}"#,
    ]);
    let got = k.json(&["get", "cm", "p", "-n", "default"]);
    assert_eq!(got["data"], json!({"b": "2", "c": "3"}));
    k.ok(&[
        "patch",
        "cm",
        "p",
        "-n",
        "default",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/data/b","value":"20"}]"#,
    ]);
    assert_eq!(
        k.json(&["get", "cm", "p", "-n", "default"])["data"]["b"],
        "20"
    );
    // A failing JSON patch test operation is refused.
    let err = k.err(&[
        "patch",
        "cm",
        "p",
        "-n",
        "default",
        "--type",
        "json",
        "-p",
        r#"[{"op":"test","path":"/data/b","value":"nope"}]"#,
    ]);
    assert!(err.contains("value did not match"), "{err}");

    // The seeded Node carries the node lifecycle controller's not-ready taint.
    let node = server.get("Node", "", "cp-1").unwrap();
    assert_eq!(
        node["spec"]["taints"],
        json!([{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}])
    );
    let owners: Vec<&str> = node["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["kubelet", "kube-controller-manager"]);
    // What mark-control-plane does to the Node: labels and taints by strategic merge, the taint
    // list (atomic) sent whole with the existing taints kept, as kubeadm's two-way patch does.
    k.ok(&[
        "patch", "node", "cp-1", "--type", "strategic", "-p",
        r#"{"metadata":{"labels":{"node-role.kubernetes.io/control-plane":"","node.kubernetes.io/exclude-from-external-load-balancers":""}},"spec":{"taints":[{"key":"node.kubernetes.io/not-ready","effect":"NoSchedule"},{"key":"node-role.kubernetes.io/control-plane","effect":"NoSchedule"}]}}"#,
    ]);
    let node = server.get("Node", "", "cp-1").unwrap();
    assert_eq!(
        node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
        ""
    );
    assert_eq!(node["metadata"]["labels"]["kubernetes.io/hostname"], "cp-1");
    assert_eq!(
        node["spec"]["taints"],
        json!([{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
               {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}])
    );
    // A schema-invalid patch result is 422.
    let err = k.err(&[
        "patch",
        "node",
        "cp-1",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"taints":[{"effect":"NoSchedule","bogus":1}]}}"#,
    ]);
    assert!(
        err.contains("Error from server (Invalid)") || err.contains("is invalid"),
        "{err}"
    );

    // Containers merge by name.
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}},
                              "spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}});
    let created: Value = serde_json::from_str(
        &k.ok_stdin(&["create", "-f", "-", "-o", "json"], &deploy.to_string()),
    )
    .unwrap();
    assert_eq!(created["metadata"]["generation"], 1);
    k.ok(&[
        "patch",
        "deploy",
        "d",
        "-n",
        "default",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"b:2"}]}}}}"#,
    ]);
    let d = server.get("Deployment", "default", "d").unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"],
        json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}])
    );
    assert_eq!(d["metadata"]["generation"], 2);
    // The selector is immutable.
    let err = k.err(&["patch", "deploy", "d", "-n", "default", "--type", "merge", "-p", r#"{"spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}}}}}"#]);
    assert!(err.contains("field is immutable"), "{err}");
}

#[test]
fn server_side_apply_owns_fields_and_conflicts() {
    let server = start();
    let k = Kubectl::super_admin(&server);
    let cm = |v: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"s","namespace":"default"}},"data":{{"key":"{v}"}}}}"#
        )
    };
    k.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "kinit",
            "-f",
            "-",
        ],
        &cm("1"),
    );
    let first = server.get("ConfigMap", "default", "s").unwrap();
    assert_eq!(first["metadata"]["managedFields"][0]["manager"], "kinit");
    assert_eq!(first["metadata"]["managedFields"][0]["operation"], "Apply");
    assert_eq!(
        first["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:data": {"f:key": {}}})
    );
    // The same apply again changes nothing.
    k.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "kinit",
            "-f",
            "-",
        ],
        &cm("1"),
    );
    assert_eq!(
        rv(&server.get("ConfigMap", "default", "s").unwrap()),
        rv(&first)
    );
    // Another manager with another value conflicts ...
    let err = k.err_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "other",
            "-f",
            "-",
        ],
        Some(&cm("2")),
    );
    assert!(
        err.contains(r#"Apply failed with 1 conflict: conflict with "kinit""#)
            && err.contains(".data.key"),
        "{err}"
    );
    // ... unless forced, which takes the field.
    k.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "other",
            "--force-conflicts",
            "-f",
            "-",
        ],
        &cm("2"),
    );
    let forced = server.get("ConfigMap", "default", "s").unwrap();
    assert_eq!(forced["data"]["key"], "2");
    let managers: Vec<&str> = forced["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["other"]);
    // A field a manager stops applying goes away.
    k.ok_stdin(&["apply", "--server-side", "--field-manager", "other", "-f", "-"], r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"s","namespace":"default"},"data":{"new":"x"}}"#);
    assert_eq!(
        server.get("ConfigMap", "default", "s").unwrap()["data"],
        json!({"new": "x"})
    );
    // Containers are a list keyed by name: a container another manager added stays, and each
    // manager owns only its own elements' fields.
    let deploy = |image: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "default"},
               "spec": {"selector": {"matchLabels": {"app": "d"}},
                        "template": {"metadata": {"labels": {"app": "d"}},
                                     "spec": {"containers": [{"name": "a", "image": image,
                                                              "ports": [{"containerPort": 53, "protocol": "UDP"}]}]}}}})
        .to_string()
    };
    k.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "kinit",
            "-f",
            "-",
        ],
        &deploy("a:1"),
    );
    k.ok(&[
        "patch",
        "deploy",
        "d",
        "-n",
        "default",
        "--type",
        "strategic",
        "--field-manager",
        "user",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"s:1"}]}}}}"#,
    ]);
    let before = server.get("Deployment", "default", "d").unwrap();
    k.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "kinit",
            "-f",
            "-",
        ],
        &deploy("a:1"),
    );
    let after = server.get("Deployment", "default", "d").unwrap();
    assert_eq!(
        rv(&after),
        rv(&before),
        "re-applying the same configuration is no write"
    );
    let names: Vec<&str> = after["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "sidecar"]);
    let kinit_fields = &after["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["manager"] == "kinit")
        .unwrap()["fieldsV1"];
    assert!(
        kinit_fields["f:spec"]["f:template"]["f:spec"]["f:containers"]
            .get(r#"k:{"name":"a"}"#)
            .is_some(),
        "{kinit_fields}"
    );
    // The user changes kinit's container: kinit's next apply with another image conflicts on
    // exactly that field.
    k.ok(&[
        "patch",
        "deploy",
        "d",
        "-n",
        "default",
        "--type",
        "strategic",
        "--field-manager",
        "user",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:user"}]}}}}"#,
    ]);
    let err = k.err_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "kinit",
            "-f",
            "-",
        ],
        Some(&deploy("a:2")),
    );
    assert!(
        err.contains(r#"conflict with "user""#)
            && err.contains(r#".spec.template.spec.containers[name="a"].image"#),
        "{err}"
    );
    // Forced, kinit takes the image back; the sidecar stays the user's.
    k.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "kinit",
            "--force-conflicts",
            "-f",
            "-",
        ],
        &deploy("a:2"),
    );
    let forced = server.get("Deployment", "default", "d").unwrap();
    let containers = &forced["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        (
            containers[0]["image"].as_str(),
            containers[1]["name"].as_str()
        ),
        (Some("a:2"), Some("sidecar"))
    );
    // A container kinit stops applying goes; the user's stays.
    let two = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}},
                              "spec": {"containers": [{"name": "a", "image": "a:2", "ports": [{"containerPort": 53, "protocol": "UDP"}]},
                                                      {"name": "b", "image": "b:1", "ports": [{"containerPort": 80}]}]}}}});
    k.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "kinit",
            "-f",
            "-",
        ],
        &two.to_string(),
    );
    let names = |d: &Value| -> Vec<String> {
        d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&server.get("Deployment", "default", "d").unwrap()),
        ["a", "sidecar", "b"]
    );
    k.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "kinit",
            "-f",
            "-",
        ],
        &deploy("a:2"),
    );
    assert_eq!(
        names(&server.get("Deployment", "default", "d").unwrap()),
        ["a", "sidecar"]
    );
    // Apply creates what is missing (201) and needs a field manager.
    let created = k.ok_stdin(&["apply", "--server-side", "--field-manager", "kinit", "-f", "-"], r#"{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"sa1","namespace":"kube-system"}}"#);
    assert!(created.contains("serverside-applied"), "{created}");
}

#[test]
fn schema_invalid_objects_are_422() {
    let server = start();
    let k = Kubectl::super_admin(&server);
    // An unknown field: kubernetes-validate --strict refuses it (kubectl's own check is off).
    let bad = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"bad","namespace":"default"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i","bogusField":1}]}}}}"#;
    let err = k.err_stdin(&["create", "--validate=false", "-f", "-"], Some(bad));
    assert!(
        err.contains(r#"The Deployment "bad" is invalid"#) && err.contains("bogusField"),
        "{err}"
    );
    // A missing required field.
    let err = k.err_stdin(&["create", "--validate=false", "-f", "-"], Some(r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"bad","namespace":"default"},"spec":{}}"#));
    assert!(
        err.contains(r#"The Deployment "bad" is invalid: spec: 'selector' is a required property"#),
        "{err}"
    );
    // A bad name.
    let err = k.err_stdin(&["create", "-f", "-"], Some(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name","namespace":"default"}}"#));
    assert!(
        err.contains(
            r#"ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name""#
        ),
        "{err}"
    );
    // A bad ConfigMap key.
    let err = k.err_stdin(&["create", "-f", "-"], Some(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"k","namespace":"default"},"data":{"a/b":"x"}}"#));
    assert!(err.contains("a valid config key"), "{err}");
    assert!(server.get("Deployment", "default", "bad").is_none());
    assert!(server.get("ConfigMap", "default", "k").is_none());
}

#[test]
fn admin_conf_is_forbidden_until_the_cluster_admins_binding_exists() {
    let server = start();
    let admin = Kubectl::new(&server, Creds::Kubeconfig(pki().conf("admin.conf")));
    let err = admin.err(&["get", "configmaps", "-n", "kube-system", "-o", "json"]);
    assert!(
        err.contains(r#"Error from server (Forbidden): configmaps is forbidden: User "kubernetes-admin" cannot list resource "configmaps" in API group "" in the namespace "kube-system""#),
        "{err}"
    );
    // The same with an admin.conf kinit wrote for the double's port (no --server override);
    // --kubeconfig-dir is a path under the root.
    let port = server.addr().port().to_string();
    let kc_dir = format!("/etc/kubernetes/port-{port}");
    let out = Command::new(env!("CARGO_BIN_EXE_kinit"))
        .args(["init", "phase", "kubeconfig", "admin", "--rootfs"])
        .arg(pki().root.path())
        .args([
            "--apiserver-advertise-address",
            "127.0.0.1",
            "--apiserver-bind-port",
            &port,
        ])
        .args(["--node-name", "cp-1", "--kubeconfig-dir", &kc_dir])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kinit kubeconfig admin: {}",
        text(&out.stderr)
    );
    let own = Kubectl::new(
        &server,
        Creds::OwnKubeconfig(pki().path(&format!("{kc_dir}/admin.conf"))),
    );
    let err = own.err(&["get", "configmaps", "-n", "kube-system", "-o", "json"]);
    assert!(
        err.contains(r#"User "kubernetes-admin" cannot list resource "configmaps""#),
        "{err}"
    );
    // kubeadm's kubeadm:cluster-admins binding, created with super-admin.conf (system:masters).
    let crb = r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"kubeadm:cluster-admins"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"kubeadm:cluster-admins"}]}"#;
    Kubectl::super_admin(&server).ok_stdin(&["create", "-f", "-"], crb);
    admin.ok(&["get", "configmaps", "-n", "kube-system", "-o", "json"]);
    own.ok(&["get", "configmaps", "-n", "kube-system", "-o", "json"]);
}

#[test]
fn rbac_grants_only_what_roles_bind_and_anonymous_reads_nothing() {
    let server = start();
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = client_cert(dir.path(), "jane", &["team-a"]);
    let jane = Kubectl::new(&server, Creds::Cert(crt, key));
    let admin = Kubectl::super_admin(&server);
    admin.ok_stdin(&["create", "-f", "-"], r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"allowed","namespace":"kube-system"}}"#);
    admin.ok_stdin(&["create", "-f", "-"], r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"secret-ish","namespace":"kube-system"}}"#);
    let err = jane.err(&["get", "cm", "allowed", "-n", "kube-system", "-o", "json"]);
    assert!(err.contains(r#"configmaps "allowed" is forbidden: User "jane" cannot get resource "configmaps" in API group "" in the namespace "kube-system""#), "{err}");
    // A Role for one named ConfigMap, bound to the group.
    admin.ok_stdin(&["create", "-f", "-"], r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"read-allowed","namespace":"kube-system"},"rules":[{"apiGroups":[""],"resources":["configmaps"],"verbs":["get"],"resourceNames":["allowed"]}]}"#);
    admin.ok_stdin(&["create", "-f", "-"], r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"read-allowed","namespace":"kube-system"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"read-allowed"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"team-a"}]}"#);
    jane.ok(&["get", "cm", "allowed", "-n", "kube-system", "-o", "json"]);
    let err = jane.err(&["get", "cm", "secret-ish", "-n", "kube-system", "-o", "json"]);
    assert!(err.contains("Forbidden"), "{err}");
    let err = jane.err(&["get", "cm", "allowed", "-n", "default", "-o", "json"]);
    assert!(err.contains("Forbidden"), "{err}");
    let err = jane.err(&["get", "cm", "-n", "kube-system", "-o", "json"]);
    assert!(err.contains("cannot list resource"), "{err}");
    // A RoleBinding may grant a ClusterRole's rules inside its namespace only.
    admin.ok_stdin(&["create", "-f", "-"], r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"secret-reader"},"rules":[{"apiGroups":[""],"resources":["secrets"],"verbs":["get","list"]}]}"#);
    admin.ok_stdin(&["create", "-f", "-"], r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"secret-reader","namespace":"default"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"secret-reader"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"jane"}]}"#);
    jane.ok(&["get", "secrets", "-n", "default", "-o", "json"]);
    let err = jane.err(&["get", "secrets", "-n", "kube-system", "-o", "json"]);
    assert!(
        err.contains(
            r#"cannot list resource "secrets" in API group "" in the namespace "kube-system""#
        ),
        "{err}"
    );
    // With the right to create RoleBindings, binding a role that does not exist is NotFound and
    // binding one with more than she holds is forbidden (the RBAC escalation check).
    admin.ok_stdin(&["create", "-f", "-"], r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"binder","namespace":"default"},"rules":[{"apiGroups":["rbac.authorization.k8s.io"],"resources":["rolebindings"],"verbs":["create"]}]}"#);
    admin.ok_stdin(&["create", "-f", "-"], r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"binder","namespace":"default"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"binder"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"jane"}]}"#);
    let binding = |role_kind: &str, role: &str| {
        format!(
            r#"{{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{{"name":"jane-{role}","namespace":"default"}},"roleRef":{{"apiGroup":"rbac.authorization.k8s.io","kind":"{role_kind}","name":"{role}"}},"subjects":[{{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"jane"}}]}}"#
        )
    };
    let err = jane.err_stdin(&["create", "-f", "-"], Some(&binding("Role", "nope")));
    assert!(
        err.contains(r#"roles.rbac.authorization.k8s.io "nope" not found"#),
        "{err}"
    );
    let err = jane.err_stdin(
        &["create", "-f", "-"],
        Some(&binding("ClusterRole", "cluster-admin")),
    );
    assert!(
        err.contains("is attempting to grant RBAC permissions not currently held"),
        "{err}"
    );
    // What she holds she may pass on.
    jane.ok_stdin(
        &["create", "-f", "-"],
        &binding("ClusterRole", "secret-reader"),
    );
    // Server-side apply that would create needs create as well as patch.
    admin.ok_stdin(&["create", "-f", "-"], r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"patcher","namespace":"default"},"rules":[{"apiGroups":[""],"resources":["configmaps"],"verbs":["patch"]}]}"#);
    admin.ok_stdin(&["create", "-f", "-"], r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"patcher","namespace":"default"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"patcher"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"jane"}]}"#);
    let err = jane.err_stdin(&["apply", "--server-side", "--field-manager", "jane", "-f", "-"], Some(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"new","namespace":"default"}}"#));
    assert!(err.contains(r#"User "jane" cannot create resource "configmaps" in API group "" in the namespace "default""#), "{err}");
    assert!(server.get("ConfigMap", "default", "new").is_none());
    // kubectl auth can-i asks the server (SelfSubjectAccessReview); impersonation needs its verb.
    assert_eq!(
        jane.ok(&[
            "auth",
            "can-i",
            "get",
            "configmaps/allowed",
            "-n",
            "kube-system"
        ])
        .trim(),
        "yes"
    );
    let out = jane.run(&["auth", "can-i", "list", "secrets", "-n", "kube-system"]);
    assert_eq!(
        (text(&out.stdout).trim(), out.status.success()),
        ("no", false)
    );
    let err = jane.err(&[
        "get",
        "cm",
        "allowed",
        "-n",
        "kube-system",
        "--as",
        "system:admin",
        "-o",
        "json",
    ]);
    assert!(err.contains(r#"users "system:admin" is forbidden: User "jane" cannot impersonate resource "users" in API group "" at the cluster scope"#), "{err}");
    // Jane may not grant herself more than she holds.
    let err = jane.err_stdin(&["create", "-f", "-"], Some(r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"more","namespace":"kube-system"},"rules":[{"apiGroups":[""],"resources":["secrets"],"verbs":["get"]}]}"#));
    assert!(err.contains("Forbidden"), "{err}");

    // Anonymous: the health and version endpoints, nothing else.
    assert_eq!(
        raw_request(&server, "GET", "/healthz", &[], ""),
        (200, "ok".to_string())
    );
    let (code, body) = raw_request(&server, "GET", "/version", &[], "");
    assert_eq!(code, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["major"], "1");
    let (code, body) = raw_request(
        &server,
        "GET",
        "/api/v1/namespaces/kube-system/configmaps/allowed",
        &[],
        "",
    );
    assert_eq!(code, 403);
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        status,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "configmaps \"allowed\" is forbidden: User \"system:anonymous\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"kube-system\"",
               "reason": "Forbidden", "details": {"name": "allowed", "kind": "configmaps"}, "code": 403})
    );
    let (code, body) = raw_request(&server, "GET", "/api", &[], "");
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains(r#"forbidden: User \"system:anonymous\" cannot get path \"/api\""#),
        "{body}"
    );
    // Basic credentials are no credentials (the real server has no basic authenticator) ...
    let (code, _) = raw_request(
        &server,
        "GET",
        "/api",
        &[("Authorization", "Basic YTpi")],
        "",
    );
    assert_eq!(code, 403);
    // ... while a bearer token nobody knows is 401.
    let (code, body) = raw_request(
        &server,
        "GET",
        "/healthz",
        &[("Authorization", "Bearer abc")],
        "",
    );
    assert_eq!(code, 401);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    );
    // A certificate from another CA is 401, not anonymous.
    let other = tempfile::tempdir().unwrap();
    let okey = other.path().join("o.key");
    let ocrt = other.path().join("o.crt");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=mallory/O=system:masters",
            "-days",
            "1",
            "-keyout",
        ])
        .arg(&okey)
        .arg("-out")
        .arg(&ocrt)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mallory = Kubectl::new(&server, Creds::Cert(ocrt, okey));
    let err = mallory.err(&["get", "--raw", "/healthz"]);
    assert!(err.contains("Unauthorized"), "{err}");
}

#[test]
fn bootstrap_tokens_authenticate_while_valid() {
    let server = start();
    server.insert(token_secret(
        "abcdef",
        "0123456789abcdef",
        Some("2099-01-01T00:00:00Z"),
        true,
    ));
    server.insert(token_secret(
        "expire",
        "0123456789abcdef",
        Some("2001-01-01T00:00:00Z"),
        true,
    ));
    // kubeadm's binding: the token's group may get nodes.
    server.insert(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "kubeadm:get-nodes"}, "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]}));
    server.insert(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "kubeadm:get-nodes"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubeadm:get-nodes"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:bootstrappers:kubeadm:default-node-token"}]}));
    let token = Kubectl::new(&server, Creds::Token("abcdef.0123456789abcdef".into()));
    assert_eq!(
        token.json(&["get", "node", "cp-1"])["metadata"]["name"],
        "cp-1"
    );
    let err = token.err(&["get", "cm", "-n", "kube-system", "-o", "json"]);
    assert!(
        err.contains(r#"User "system:bootstrap:abcdef" cannot list resource "configmaps""#),
        "{err}"
    );
    let user = server
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.code == 403)
        .unwrap()
        .user;
    assert_eq!(user, "system:bootstrap:abcdef");

    // kubeadm:kubelet-bootstrap: the token's group may post CSRs; the server records who did.
    server.insert(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "kubeadm:kubelet-bootstrap"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:node-bootstrapper"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:bootstrappers:kubeadm:default-node-token"}]}));
    let dir = tempfile::tempdir().unwrap();
    // The kubelet's key and CSR (its CSR object is made here, with a generated name).
    support::kubelet::node_csr(dir.path(), "cp-2", "unused");
    let csr = dir.path().join("csr.pem");
    let csr_obj = |request: &str| {
        json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
               "metadata": {"generateName": "csr-"},
               "spec": {"request": request, "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                        "usages": ["digital signature", "client auth"], "username": "someone-else"}})
        .to_string()
    };
    token.ok_stdin(
        &["create", "-f", "-"],
        &csr_obj(&b64(&std::fs::read_to_string(&csr).unwrap())),
    );
    let csrs = server.list("CertificateSigningRequest");
    assert_eq!(csrs.len(), 1);
    assert!(csrs[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("csr-"));
    assert_eq!(csrs[0]["spec"]["username"], "system:bootstrap:abcdef");
    assert_eq!(
        csrs[0]["spec"]["groups"],
        json!([
            "system:bootstrappers",
            "system:bootstrappers:kubeadm:default-node-token",
            "system:authenticated"
        ])
    );
    let err = token.err_stdin(&["create", "-f", "-"], Some(&csr_obj(&b64("not a CSR"))));
    assert!(err.contains("spec.request"), "{err}");
    let bad_usage = csr_obj(&b64(&std::fs::read_to_string(&csr).unwrap()))
        .replace("client auth", "client-auth");
    let err = token.err_stdin(&["create", "-f", "-"], Some(&bad_usage));
    assert!(
        err.contains(r#"spec.usages[1]: Unsupported value: "client-auth""#),
        "{err}"
    );

    let unauthorized = |t: &str| {
        let err = Kubectl::new(&server, Creds::Token(t.into()))
            .err(&["get", "node", "cp-1", "-o", "json"]);
        // kubectl's words for a 401 (its discovery client does not show the Status message).
        assert!(
            err.contains("error: You must be logged in to the server"),
            "{t}: {err}"
        );
    };
    unauthorized("abcdef.0123456789abcdee"); // wrong secret
    unauthorized("expire.0123456789abcdef"); // expired
    unauthorized("zzzzzz.0123456789abcdef"); // no Secret
    unauthorized("not-a-bootstrap-token");
    // Deleted: 401 from then on.
    Kubectl::super_admin(&server).ok(&[
        "delete",
        "secret",
        "bootstrap-token-abcdef",
        "-n",
        "kube-system",
    ]);
    unauthorized("abcdef.0123456789abcdef");
}

/// The detached JWS computed with the openssl CLI, independent of the double's code.
fn jws_with_openssl_cli(id: &str, secret: &str, payload: &str) -> String {
    let b64url = |data: &[u8]| {
        openssl::base64::encode_block(data)
            .replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
            .to_string()
    };
    let header = b64url(format!(r#"{{"alg":"HS256","kid":"{id}"}}"#).as_bytes());
    let input = format!("{header}.{}", b64url(payload.as_bytes()));
    let out = common::output_with_input(
        Command::new("openssl").args(["dgst", "-sha256", "-binary", "-hmac", secret]),
        Some(input.as_bytes()),
    );
    assert!(out.status.success());
    format!("{header}..{}", b64url(&out.stdout))
}

#[test]
fn the_bootstrap_signer_signs_cluster_info_for_each_signing_token() {
    let server = start();
    let k = Kubectl::super_admin(&server);
    let kubeconfig = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: AAAA\n    server: https://127.0.0.1:6443\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {}\nusers: null\n";
    let info = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-info", "namespace": "kube-public"},
                      "data": {"kubeconfig": kubeconfig}});
    k.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "kinit",
            "-f",
            "-",
        ],
        &info.to_string(),
    );
    server.insert(token_secret(
        "abcdef",
        "0123456789abcdef",
        Some("2099-01-01T00:00:00Z"),
        true,
    ));
    server.insert(token_secret("second", "fedcba9876543210", None, true));
    server.insert(token_secret("nosign", "0123456789abcdef", None, false));
    server.insert(token_secret(
        "expird",
        "0123456789abcdef",
        Some("2001-01-01T00:00:00Z"),
        true,
    ));
    let got = k.json(&["get", "cm", "cluster-info", "-n", "kube-public"]);
    let data = got["data"].as_object().unwrap();
    let keys: Vec<&String> = data.keys().collect();
    assert_eq!(
        keys,
        [
            "jws-kubeconfig-abcdef",
            "jws-kubeconfig-second",
            "kubeconfig"
        ]
    );
    assert_eq!(
        data["jws-kubeconfig-abcdef"],
        jws_with_openssl_cli("abcdef", "0123456789abcdef", kubeconfig)
    );
    assert_eq!(
        data["jws-kubeconfig-second"],
        jws_with_openssl_cli("second", "fedcba9876543210", kubeconfig)
    );
    // kinit re-applying cluster-info keeps the signatures (another manager owns them).
    let before = rv(&got);
    k.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "kinit",
            "-f",
            "-",
        ],
        &info.to_string(),
    );
    let again = k.json(&["get", "cm", "cluster-info", "-n", "kube-public"]);
    assert_eq!(rv(&again), before);
    // A deleted token's signature goes.
    k.ok(&[
        "delete",
        "secret",
        "bootstrap-token-abcdef",
        "-n",
        "kube-system",
    ]);
    let after = k.json(&["get", "cm", "cluster-info", "-n", "kube-public"]);
    assert!(after["data"].get("jws-kubeconfig-abcdef").is_none());
    assert!(after["data"].get("jws-kubeconfig-second").is_some());
}

#[test]
fn requests_are_counted_and_can_be_delayed() {
    let server = start();
    let k = Kubectl::super_admin(&server);
    let before = server.request_count();
    k.ok(&["get", "--raw", "/healthz"]);
    assert_eq!(server.request_count(), before + 1);
    server.set_delay(Duration::from_millis(300));
    let t = Instant::now();
    k.ok(&["get", "--raw", "/healthz"]);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(server.request_count(), before + 2);
    assert!(server.writes().is_empty());
    let last = server.requests().pop().unwrap();
    assert_eq!((last.method.as_str(), last.code), ("GET", 200));
    assert!(last.uri.starts_with("/healthz"), "{}", last.uri);
    assert_eq!(last.user, "kubernetes-super-admin");
}

#[test]
fn service_cidrs_of_either_family() {
    use support::apiserver::store::ServiceCidr;
    let v4 = ServiceCidr::parse("10.96.0.0/12").unwrap();
    assert_eq!(v4.address(10), "10.96.0.10");
    assert!(v4.contains(v4.parse_address("10.111.255.254").unwrap()));
    assert!(!v4.contains(v4.parse_address("10.112.0.1").unwrap()));
    assert_eq!(v4.parse_address("fd00::1"), None);
    let v6 = ServiceCidr::parse("fd00:10:96::/112").unwrap();
    assert_eq!(v6.address(10), "fd00:10:96::a");
    assert_eq!(v6.to_string(), "fd00:10:96::/112");
    assert!(v6.contains(v6.parse_address("fd00:10:96::ffff").unwrap()));
    assert!(!v6.contains(v6.parse_address("fd00:10:97::1").unwrap()));
    assert_eq!(v6.parse_address("10.96.0.1"), None);
    assert!(ServiceCidr::parse("10.0.0.0/31").is_none());
    // A server on an IPv6 range seeds default/kubernetes with its first address.
    let server = TestApiServer::start(
        &pki().pki_dir(),
        Options {
            service_cidr: "fd00:10:96::/112".into(),
            check_schemas: false,
            ..Default::default()
        },
    );
    let kubernetes = server.get("Service", "default", "kubernetes").unwrap();
    assert_eq!(kubernetes["spec"]["clusterIP"], "fd00:10:96::1");
    assert_eq!(kubernetes["spec"]["ipFamilies"], json!(["IPv6"]));
}

#[test]
fn services_get_cluster_ips_from_the_service_cidr() {
    let server = start();
    let k = Kubectl::super_admin(&server);
    let kubernetes = server.get("Service", "default", "kubernetes").unwrap();
    assert_eq!(kubernetes["spec"]["clusterIP"], "10.96.0.1");
    let svc = |name: &str, ip: Option<&str>| {
        let mut s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "kube-system"},
            "spec": {"selector": {"k8s-app": name}, "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53}]}});
        if let Some(ip) = ip {
            s["spec"]["clusterIP"] = json!(ip);
        }
        s.to_string()
    };
    k.ok_stdin(&["create", "-f", "-"], &svc("kube-dns", Some("10.96.0.10")));
    let dns = server.get("Service", "kube-system", "kube-dns").unwrap();
    assert_eq!(dns["spec"]["clusterIPs"], json!(["10.96.0.10"]));
    assert_eq!(dns["spec"]["type"], "ClusterIP");
    let err = k.err_stdin(
        &["create", "-f", "-"],
        Some(&svc("again", Some("10.96.0.10"))),
    );
    assert!(
        err.contains("failed to allocate IP 10.96.0.10: provided IP is already allocated"),
        "{err}"
    );
    let err = k.err_stdin(
        &["create", "-f", "-"],
        Some(&svc("outside", Some("10.200.0.10"))),
    );
    assert!(err.contains("the provided IP (10.200.0.10) is not in the valid range. The range of valid IPs is 10.96.0.0/12"), "{err}");
    k.ok_stdin(&["create", "-f", "-"], &svc("auto", None));
    let auto = server.get("Service", "kube-system", "auto").unwrap();
    let ip = auto["spec"]["clusterIP"].as_str().unwrap();
    assert!(
        ip.starts_with("10.96.") && ip != "10.96.0.1" && ip != "10.96.0.10",
        "{ip}"
    );
    let err = k.err(&[
        "patch",
        "svc",
        "kube-dns",
        "-n",
        "kube-system",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"clusterIP":"10.96.0.11","clusterIPs":["10.96.0.11"]}}"#,
    ]);
    assert!(err.contains("may not change once set"), "{err}");
    // A Service name must be a DNS-1035 label.
    let err = k.err_stdin(&["create", "-f", "-"], Some(&svc("1dns", None)));
    assert!(err.contains("a DNS-1035 label"), "{err}");
}

#[test]
fn requests_the_real_server_refuses_are_refused() {
    let server = start();
    let dir = tempfile::tempdir().unwrap();
    let root = client_cert(dir.path(), "root", &["system:masters"]);
    let req = |method: &str, path: &str, headers: &[(&str, &str)], body: &str| {
        raw_request_as(&server, Some(&root), method, path, headers, body)
    };
    let json_ct = [("Content-Type", "application/json")];
    let cms = "/api/v1/namespaces/default/configmaps";
    let cm = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}});
    let status = |body: &str| serde_json::from_str::<Value>(body).unwrap();

    let (code, body) = req("POST", cms, &json_ct, &cm("a").to_string());
    assert_eq!(code, 201, "{body}");
    let created = status(&body);
    assert_eq!(created["metadata"]["namespace"], "default");
    // Validation comes before AlreadyExists, as in the real server.
    let mut bad_existing = cm("a");
    bad_existing["data"] = json!({"a/b": "x"});
    assert_eq!(req("POST", cms, &json_ct, &bad_existing.to_string()).0, 422);
    assert_eq!(req("POST", cms, &json_ct, &cm("a").to_string()).0, 409);
    // resourceVersion set on create.
    let mut with_rv = cm("b");
    with_rv["metadata"]["resourceVersion"] = json!("5");
    let (code, body) = req("POST", cms, &json_ct, &with_rv.to_string());
    assert_eq!(
        (code, status(&body)["message"].as_str().unwrap()),
        (
            500,
            "resourceVersion should not be set on objects to be created"
        )
    );
    // Another kind's body, another namespace's body.
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}});
    assert_eq!(req("POST", cms, &json_ct, &secret.to_string()).0, 400);
    let mut other_ns = cm("c");
    other_ns["metadata"]["namespace"] = json!("kube-system");
    let (code, body) = req("POST", cms, &json_ct, &other_ns.to_string());
    assert_eq!(code, 400);
    assert_eq!(
        status(&body)["message"],
        "the namespace of the provided object does not match the namespace sent on the request"
    );
    // A wrong uid on update.
    let mut wrong_uid = created.clone();
    wrong_uid["metadata"]["uid"] = json!("00000000-0000-0000-0000-000000000000");
    wrong_uid["data"]["a"] = json!("2");
    let (code, body) = req("PUT", &format!("{cms}/a"), &json_ct, &wrong_uid.to_string());
    assert_eq!(code, 409, "{body}");
    assert!(status(&body)["message"]
        .as_str()
        .unwrap()
        .contains("Precondition failed: UID in precondition"));
    // Update of something missing (ConfigMaps are not created by update).
    let (code, body) = req(
        "PUT",
        &format!("{cms}/missing"),
        &json_ct,
        &cm("missing").to_string(),
    );
    assert_eq!(code, 404, "{body}");
    // Media types.
    assert_eq!(
        req(
            "GET",
            &format!("{cms}/a"),
            &[("Accept", "application/vnd.kubernetes.protobuf")],
            ""
        )
        .0,
        406
    );
    assert_eq!(
        req(
            "GET",
            &format!("{cms}/a"),
            &[(
                "Accept",
                "application/vnd.kubernetes.protobuf, application/json"
            )],
            ""
        )
        .0,
        200
    );
    assert_eq!(
        req(
            "POST",
            cms,
            &[("Content-Type", "application/vnd.kubernetes.protobuf")],
            "x"
        )
        .0,
        415
    );
    assert_eq!(
        req(
            "PATCH",
            &format!("{cms}/a"),
            &[("Content-Type", "text/plain")],
            "{}"
        )
        .0,
        415
    );
    // Server-side apply needs a field manager.
    let (code, body) = req(
        "PATCH",
        &format!("{cms}/a"),
        &[("Content-Type", "application/apply-patch+yaml")],
        &cm("a").to_string(),
    );
    assert_eq!(code, 422, "{body}");
    assert!(
        body.contains("fieldManager: Required value: is required for apply patch"),
        "{body}"
    );
    // Methods that name no route.
    assert_eq!(
        req("POST", &format!("{cms}/a"), &json_ct, &cm("a").to_string()).0,
        405
    );
    assert_eq!(req("PUT", cms, &json_ct, &cm("a").to_string()).0, 405);
    // Watching one object by name (deprecated) and deletecollection are not served.
    assert_eq!(req("GET", &format!("{cms}/a?watch=true"), &[], "").0, 405);
    assert_eq!(req("DELETE", cms, &[], "").0, 405);
    // A body over 3 MiB.
    let big = "x".repeat(3 * 1024 * 1024 + 10);
    assert_eq!(req("POST", cms, &json_ct, &big).0, 413);
    // dryRun=All answers but stores nothing.
    let (code, _) = req(
        "POST",
        &format!("{cms}?dryRun=All"),
        &json_ct,
        &cm("dry").to_string(),
    );
    assert_eq!(code, 201);
    assert!(server.get("ConfigMap", "default", "dry").is_none());
    // Secret data must be base64; stringData is folded into data.
    let bad_b64 = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "not base64!"}});
    assert_eq!(
        req(
            "POST",
            "/api/v1/namespaces/default/secrets",
            &json_ct,
            &bad_b64.to_string()
        )
        .0,
        400
    );
    let string_data = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}});
    assert_eq!(
        req(
            "POST",
            "/api/v1/namespaces/default/secrets",
            &json_ct,
            &string_data.to_string()
        )
        .0,
        201
    );
    let s = server.get("Secret", "default", "s").unwrap();
    assert_eq!(
        (
            s["data"]["k"].as_str(),
            s.get("stringData"),
            s["type"].as_str()
        ),
        (Some("dg=="), None, Some("Opaque"))
    );
    // The type of a Secret never changes.
    let mut retyped = s.clone();
    retyped["type"] = json!("kubernetes.io/tls");
    let (code, body) = req(
        "PUT",
        "/api/v1/namespaces/default/secrets/s",
        &json_ct,
        &retyped.to_string(),
    );
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("field is immutable"), "{body}");
    // A binding's roleRef never changes; a ClusterRoleBinding cannot point at a Role.
    let crb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:discovery"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "g"}]});
    let crbs = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";
    assert_eq!(req("POST", crbs, &json_ct, &crb.to_string()).0, 201);
    let mut moved = crb.clone();
    moved["roleRef"]["name"] = json!("cluster-admin");
    let (code, body) = req("PUT", &format!("{crbs}/b"), &json_ct, &moved.to_string());
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("cannot change roleRef"), "{body}");
    let mut to_role = crb.clone();
    to_role["metadata"]["name"] = json!("c");
    to_role["roleRef"]["kind"] = json!("Role");
    assert_eq!(req("POST", crbs, &json_ct, &to_role.to_string()).0, 422);
    // RBAC kinds are created by update.
    let mut by_put = crb.clone();
    by_put["metadata"]["name"] = json!("put");
    assert_eq!(
        req("PUT", &format!("{crbs}/put"), &json_ct, &by_put.to_string()).0,
        201
    );
    // Unknown resources and groups.
    assert_eq!(req("GET", "/apis/example.com/v1/widgets", &[], "").0, 404);
    assert_eq!(
        req("GET", "/api/v1/namespaces/default/nodes/x", &[], "").0,
        404
    );
}

#[test]
fn semantic_checks_refuse_what_the_schema_lets_through() {
    let server = start();
    let k = Kubectl::super_admin(&server);
    let ds = |mutate: &dyn Fn(&mut Value)| {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                     "template": {"metadata": {"labels": {"k8s-app": "kube-proxy"}},
                                  "spec": {"containers": [{"name": "kube-proxy", "image": "registry.k8s.io/kube-proxy:v1.34.0",
                                                           "volumeMounts": [{"name": "kube-proxy", "mountPath": "/var/lib/kube-proxy"}],
                                                           "resources": {"requests": {"cpu": "100m", "memory": "70Mi"}, "limits": {"memory": "170Mi"}}}],
                                           "volumes": [{"name": "kube-proxy", "configMap": {"name": "kube-proxy"}}],
                                           "tolerations": [{"operator": "Exists"}]}}}});
        mutate(&mut d);
        d.to_string()
    };
    type Mutation<'a> = &'a dyn Fn(&mut Value);
    let cases: Vec<(Mutation, &str)> = vec![
        (
            &|d| d["spec"]["template"]["spec"]["volumes"][0]["name"] = json!("other"),
            r#"volumeMounts[0].name: Not found: "kube-proxy""#,
        ),
        (
            &|d| d["spec"]["template"]["spec"]["volumes"][0]["hostPath"] = json!({"path": "/x"}),
            "may not specify more than 1 volume type",
        ),
        (
            &|d| {
                d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"] =
                    json!("200Mi")
            },
            "must be less than or equal to memory limit",
        ),
        (
            &|d| {
                d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] =
                    json!("170MB")
            },
            "quantities must match",
        ),
        (
            &|d| d["spec"]["template"]["spec"]["tolerations"][0]["value"] = json!("x"),
            "value must be empty when `operator` is 'Exists'",
        ),
        (
            &|d| {
                d["spec"]["template"]["spec"]["containers"][0]["ports"] =
                    json!([{"containerPort": 70000}])
            },
            "must be between 1 and 65535",
        ),
        (
            &|d| d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never"),
            r#"Unsupported value: "Never""#,
        ),
        (
            &|d| {
                d["spec"]["template"]["spec"]["containers"][0]["livenessProbe"] =
                    json!({"httpGet": {"path": "/", "port": 8080}, "tcpSocket": {"port": 8080}})
            },
            "may not specify more than 1 handler type",
        ),
        (
            &|d| {
                d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["gpu"] =
                    json!("1")
            },
            "must be a standard resource type or fully qualified",
        ),
        (
            &|d| {
                d["spec"]["updateStrategy"] =
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "one"}})
            },
            "a valid percent string",
        ),
        (
            &|d| d["spec"]["template"]["spec"]["containers"][0]["env"] = json!([{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.node"}}}]),
            r#"fieldRef.fieldPath: Unsupported value: "spec.node""#,
        ),
    ];
    for (mutate, expected) in cases {
        let err = k.err_stdin(&["create", "-f", "-"], Some(&ds(mutate)));
        assert!(
            err.contains(r#"The DaemonSet "kube-proxy" is invalid"#) && err.contains(expected),
            "{expected}: {err}"
        );
    }
    k.ok_stdin(&["create", "-f", "-"], &ds(&|_| {}));

    // Taints are unique by key and effect.
    let err = k.err(&["patch", "node", "cp-1", "--type", "merge", "-p",
        r#"{"spec":{"taints":[{"key":"a","effect":"NoSchedule"},{"key":"a","effect":"NoSchedule"}]}}"#]);
    assert!(
        err.contains("taints must be unique by key and effect pair"),
        "{err}"
    );
    // A Role may not name non-resource URLs; a resource rule needs groups and resources.
    let err = k.err_stdin(&["create", "-f", "-"], Some(r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"r","namespace":"default"},"rules":[{"nonResourceURLs":["/healthz"],"verbs":["get"]}]}"#));
    assert!(
        err.contains("namespaced rules cannot apply to non-resource URLs"),
        "{err}"
    );
    let err = k.err_stdin(&["create", "-f", "-"], Some(r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"r"},"rules":[{"resources":["nodes"],"verbs":["get"]}]}"#));
    assert!(
        err.contains("resource rules must supply at least one api group"),
        "{err}"
    );
    // Two Service ports need names.
    let err = k.err_stdin(&["create", "-f", "-"], Some(r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"default"},"spec":{"ports":[{"port":53,"protocol":"UDP"},{"port":53,"protocol":"TCP"}]}}"#));
    assert!(err.contains("spec.ports[0].name: Required value"), "{err}");
}

#[test]
fn delayed_requests_overlap_when_sent_together() {
    let server = start();
    let dir = tempfile::tempdir().unwrap();
    let root = client_cert(dir.path(), "root", &["system:masters"]);
    server.set_delay(Duration::from_millis(500));
    let before = server.request_count();
    let t = Instant::now();
    std::thread::scope(|s| {
        for i in 0..10 {
            let (server, root) = (&server, &root);
            s.spawn(move || {
                let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c{i}")}, "data": {"i": i.to_string()}});
                let (code, body) = raw_request_as(server, Some(root), "POST", "/api/v1/namespaces/default/configmaps",
                    &[("Content-Type", "application/json")], &cm.to_string());
                assert_eq!(code, 201, "{body}");
            });
        }
    });
    let elapsed = t.elapsed();
    assert_eq!(server.request_count(), before + 10);
    // Ten requests of 500 ms each, sent together: the delays overlap (one at a time would be 5 s;
    // the bound leaves room for a loaded machine).
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_millis(4000),
        "{elapsed:?}"
    );
    for i in 0..10 {
        assert!(server
            .get("ConfigMap", "default", &format!("c{i}"))
            .is_some());
    }
}

#[test]
fn strategic_merge_directives() {
    let server = start();
    let k = Kubectl::super_admin(&server);
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "default", "finalizers": ["example.com/a", "example.com/b"]},
        "spec": {"selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}},
                              "spec": {"containers": [
                                  {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
                                  {"name": "b", "image": "b:1"}]}}}});
    k.ok_stdin(&["create", "-f", "-"], &deploy.to_string());
    // $patch: delete removes a list element by its merge key; $setElementOrder is accepted.
    k.ok(&["patch", "deploy", "d", "-n", "default", "--type", "strategic", "-p",
        r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"a"}],"containers":[{"name":"b","$patch":"delete"}]}}}}"#]);
    let d = server.get("Deployment", "default", "d").unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // env merges by name: Y changes, X stays, Z is added.
    k.ok(&["patch", "deploy", "d", "-n", "default", "--type", "strategic", "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"a","env":[{"name":"Y","value":"20"},{"name":"Z","value":"3"}]}]}}}}"#]);
    let d = server.get("Deployment", "default", "d").unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["env"],
        json!([{"name": "X", "value": "1"}, {"name": "Y", "value": "20"}, {"name": "Z", "value": "3"}])
    );
    // Finalizers merge as a set; $deleteFromPrimitiveList removes.
    k.ok(&["patch", "deploy", "d", "-n", "default", "--type", "strategic", "-p",
        r#"{"metadata":{"finalizers":["example.com/c"],"$deleteFromPrimitiveList/finalizers":["example.com/a"]}}"#]);
    let d = server.get("Deployment", "default", "d").unwrap();
    assert_eq!(
        d["metadata"]["finalizers"],
        json!(["example.com/b", "example.com/c"])
    );
    // A list element without its merge key is refused.
    let err = k.err(&[
        "patch",
        "deploy",
        "d",
        "-n",
        "default",
        "--type",
        "strategic",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}"#,
    ]);
    assert!(
        err.contains("does not contain declared merge key: name"),
        "{err}"
    );
}

#[test]
fn time_and_quantity_formats() {
    use support::apiserver::{checks::quantity, store};
    assert_eq!(
        store::parse_rfc3339("2099-01-01T00:00:00Z"),
        Some(4_070_908_800)
    );
    assert_eq!(
        store::parse_rfc3339("2099-01-01T01:00:00+01:00"),
        Some(4_070_908_800)
    );
    assert_eq!(
        store::parse_rfc3339("2099-01-01T00:00:00.123Z"),
        Some(4_070_908_800)
    );
    for bad in [
        "2099-01-01",
        "2099-01-01 00:00:00Z",
        "2099-13-01T00:00:00Z",
        "soon",
        "2099-01-01T00:00:00",
    ] {
        assert_eq!(store::parse_rfc3339(bad), None, "{bad}");
    }
    assert_eq!(store::rfc3339(4_070_908_800), "2099-01-01T00:00:00Z");
    assert_eq!(store::rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(quantity("100m"), Some(0.1));
    assert_eq!(quantity("170Mi"), Some(170.0 * 1024.0 * 1024.0));
    assert_eq!(quantity("2"), Some(2.0));
    assert_eq!(quantity("1e3"), Some(1000.0));
    for bad in ["", "170MB", "1.2.3", "Mi", "x"] {
        assert_eq!(quantity(bad), None, "{bad}");
    }
}

/// kubeadm's RBAC objects of reference §7 (bootstrap-token and upload-config), as kinit will
/// write them: the join identity can do what join needs and nothing else, and anonymous clients
/// can read cluster-info and nothing else.
#[test]
fn kubeadm_rbac_lets_join_do_its_work_and_nothing_else() {
    let server = start();
    let bg = "system:bootstrappers:kubeadm:default-node-token";
    let group = |name: &str| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name});
    let role = |ns: &str, name: &str, resource: &str, names: &[&str]| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name, "namespace": ns},
               "rules": [{"apiGroups": [""], "resources": [resource], "verbs": ["get"], "resourceNames": names}]})
    };
    let role_binding = |ns: &str, name: &str, subjects: Value| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name, "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}, "subjects": subjects})
    };
    let crb = |name: &str, role: &str, subjects: Value| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}, "subjects": subjects})
    };
    let cm = |ns: &str, name: &str, key: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": {key: "x"}});
    for obj in [
        cm("kube-system", "kubeadm-config", "ClusterConfiguration"),
        cm("kube-system", "kubelet-config", "kubelet"),
        cm("kube-system", "kube-proxy", "config.conf"),
        cm("kube-public", "cluster-info", "kubeconfig"),
        cm("kube-public", "other", "x"),
        role(
            "kube-system",
            "kubeadm:nodes-kubeadm-config",
            "configmaps",
            &["kubeadm-config"],
        ),
        role_binding(
            "kube-system",
            "kubeadm:nodes-kubeadm-config",
            json!([group(bg), group("system:nodes")]),
        ),
        role(
            "kube-system",
            "kubeadm:kubelet-config",
            "configmaps",
            &["kubelet-config"],
        ),
        role_binding(
            "kube-system",
            "kubeadm:kubelet-config",
            json!([group(bg), group("system:nodes")]),
        ),
        role(
            "kube-public",
            "kubeadm:bootstrap-signer-clusterinfo",
            "configmaps",
            &["cluster-info"],
        ),
        role_binding(
            "kube-public",
            "kubeadm:bootstrap-signer-clusterinfo",
            json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:anonymous"}]),
        ),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "kubeadm:get-nodes"},
               "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]}),
        crb("kubeadm:get-nodes", "kubeadm:get-nodes", json!([group(bg)])),
        crb(
            "kubeadm:kubelet-bootstrap",
            "system:node-bootstrapper",
            json!([group(bg)]),
        ),
        crb(
            "kubeadm:node-autoapprove-bootstrap",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            json!([group(bg)]),
        ),
        crb(
            "kubeadm:node-autoapprove-certificate-rotation",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            json!([group("system:nodes")]),
        ),
        token_secret(
            "abcdef",
            "0123456789abcdef",
            Some("2099-01-01T00:00:00Z"),
            true,
        ),
    ] {
        server.insert(obj);
    }

    let anon = |method: &str, path: &str| raw_request(&server, method, path, &[], "").0;
    assert_eq!(
        anon(
            "GET",
            "/api/v1/namespaces/kube-public/configmaps/cluster-info"
        ),
        200
    );
    for path in [
        "/api/v1/namespaces/kube-public/configmaps",
        "/api/v1/namespaces/kube-public/configmaps/other",
        "/api/v1/namespaces/kube-system/configmaps/kubeadm-config",
        "/api/v1/nodes/cp-1",
    ] {
        assert_eq!(anon("GET", path), 403, "anonymous GET {path}");
    }

    let bearer = [
        ("Authorization", "Bearer abcdef.0123456789abcdef"),
        ("Content-Type", "application/json"),
    ];
    let token =
        |method: &str, path: &str, body: &str| raw_request(&server, method, path, &bearer, body).0;
    for path in [
        "/api/v1/namespaces/kube-system/configmaps/kubeadm-config",
        "/api/v1/namespaces/kube-system/configmaps/kubelet-config",
        "/api/v1/nodes/cp-1",
        "/apis/certificates.k8s.io/v1/certificatesigningrequests",
    ] {
        assert_eq!(token("GET", path, ""), 200, "token GET {path}");
    }
    // cluster-info is for anonymous readers only (join fetches it before it has credentials).
    for (method, path) in [
        (
            "GET",
            "/api/v1/namespaces/kube-public/configmaps/cluster-info",
        ),
        (
            "GET",
            "/api/v1/namespaces/kube-system/configmaps/kube-proxy",
        ),
        ("GET", "/api/v1/namespaces/kube-system/configmaps"),
        (
            "GET",
            "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef",
        ),
        ("GET", "/api/v1/nodes"),
        ("DELETE", "/api/v1/nodes/cp-1"),
        ("PATCH", "/api/v1/nodes/cp-1"),
        (
            "DELETE",
            "/api/v1/namespaces/kube-system/configmaps/kubeadm-config",
        ),
    ] {
        assert_eq!(token(method, path, ""), 403, "token {method} {path}");
    }
    // The same questions through `kubectl auth can-i` (SelfSubjectAccessReview), asked by the
    // super admin impersonating the token's identity.
    let admin = Kubectl::super_admin(&server);
    let as_token = [
        "--as",
        "system:bootstrap:abcdef",
        "--as-group",
        "system:bootstrappers",
        "--as-group",
        bg,
    ];
    let can_i = |args: &[&str]| {
        let mut all = vec!["auth", "can-i"];
        all.extend_from_slice(args);
        all.extend_from_slice(&as_token);
        let out = admin.run(&all);
        (text(&out.stdout).trim().to_string(), out.status.success())
    };
    assert_eq!(
        can_i(&["get", "configmaps/kubeadm-config", "-n", "kube-system"]),
        ("yes".to_string(), true)
    );
    assert_eq!(
        can_i(&["create", "certificatesigningrequests.certificates.k8s.io"]),
        ("yes".to_string(), true)
    );
    assert_eq!(
        can_i(&["get", "configmaps/kube-proxy", "-n", "kube-system"]),
        ("no".to_string(), false)
    );
    assert_eq!(
        can_i(&["list", "secrets", "-n", "kube-system"]),
        ("no".to_string(), false)
    );
    let dir = tempfile::tempdir().unwrap();
    let (key, csr) = (dir.path().join("k.key"), dir.path().join("k.csr"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args(["-subj", "/O=system:nodes/CN=system:node:cp-2", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .output()
        .unwrap();
    assert!(out.status.success());
    let body = json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": "node-csr-1"},
        "spec": {"request": b64(&std::fs::read_to_string(&csr).unwrap()), "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                 "usages": ["digital signature", "client auth"]}});
    assert_eq!(
        token(
            "POST",
            "/apis/certificates.k8s.io/v1/certificatesigningrequests",
            &body.to_string()
        ),
        201
    );
}

#[test]
fn expired_tokens_are_cleaned_and_owned_objects_go_with_their_owner() {
    let server = start();
    server.insert(token_secret(
        "abcdef",
        "0123456789abcdef",
        Some("2099-01-01T00:00:00Z"),
        false,
    ));
    let owner = server
        .get("Secret", "kube-system", "bootstrap-token-abcdef")
        .unwrap();
    let owned = |name: &str, uid: &Value| {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "kube-system",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Secret", "name": "bootstrap-token-abcdef", "uid": uid,
                                 "controller": true, "blockOwnerDeletion": true}]},
            "data": {"ca.crt": b64("x")}})
    };
    server.insert(owned("kubeadm-certs", &owner["metadata"]["uid"]));
    assert!(server
        .get("Secret", "kube-system", "kubeadm-certs")
        .is_some());
    // An owner reference with another uid names no existing owner: collected at once.
    server.insert(owned(
        "wrong-uid",
        &json!("00000000-0000-0000-0000-000000000000"),
    ));
    assert!(server.get("Secret", "kube-system", "wrong-uid").is_none());
    // Deleting the owner collects what it owns.
    Kubectl::super_admin(&server).ok(&[
        "delete",
        "secret",
        "bootstrap-token-abcdef",
        "-n",
        "kube-system",
    ]);
    assert!(server
        .get("Secret", "kube-system", "kubeadm-certs")
        .is_none());
    // The token cleaner deletes expired token Secrets (and so, with them, what they own).
    server.insert(token_secret(
        "short1",
        "0123456789abcdef",
        Some("2001-01-01T00:00:00Z"),
        true,
    ));
    assert!(server
        .get("Secret", "kube-system", "bootstrap-token-short1")
        .is_none());
}

#[test]
fn injected_failures_answer_like_an_overloaded_server() {
    let server = start();
    let cm = "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication";
    server.inject(Fault {
        method: Some("GET".into()),
        path_contains: Some("/configmaps/".into()),
        code: 429,
        times: 1,
    });
    server.inject(Fault {
        code: 503,
        times: 1,
        ..Default::default()
    });
    server.inject(Fault {
        code: 0,
        times: 1,
        ..Default::default()
    });
    let (code, body) = raw_request(&server, "GET", cm, &[], "");
    assert_eq!(code, 429);
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            status["reason"].as_str(),
            status["details"]["retryAfterSeconds"].as_i64()
        ),
        (Some("TooManyRequests"), Some(1))
    );
    let (code, body) = raw_request(&server, "GET", "/healthz", &[], "");
    assert_eq!(code, 503, "{body}");
    assert_eq!(raw_request(&server, "GET", "/healthz", &[], "").0, 0);
    // Used up: answers again.
    assert_eq!(
        raw_request(&server, "GET", "/healthz", &[], ""),
        (200, "ok".to_string())
    );
    let codes: Vec<u16> = server.requests().iter().map(|r| r.code).collect();
    assert_eq!(codes, [429, 503, 0, 200]);
}

#[test]
fn watches_stream_the_changes() {
    let server = start();
    let dir = tempfile::tempdir().unwrap();
    let root = client_cert(dir.path(), "root", &["system:masters"]);
    let json_ct = [("Content-Type", "application/json")];
    let cms = "/api/v1/namespaces/default/configmaps";
    let cm = |name: &str, app: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": app}}}).to_string()
    };
    let req = |method: &str, path: &str, body: &str| {
        let ct: &[(&str, &str)] = if method == "PATCH" {
            &[("Content-Type", "application/merge-patch+json")]
        } else {
            &json_ct
        };
        raw_request_as(&server, Some(&root), method, path, ct, body)
    };
    assert_eq!(req("POST", cms, &cm("w1", "a")).0, 201);
    let after_w1 = server.resource_version();
    // A watch read as it streams, until `want` events came (or 30 s passed).
    let events = |query: &str, want: usize| -> Vec<(String, String)> {
        use openssl::ssl::{SslConnector, SslFiletype, SslMethod};
        use std::io::{Read, Write};
        let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
        b.set_ca_file(pki().pki_dir().join("ca.crt")).unwrap();
        b.set_certificate_file(&root.0, SslFiletype::PEM).unwrap();
        b.set_private_key_file(&root.1, SslFiletype::PEM).unwrap();
        let tcp = std::net::TcpStream::connect(server.addr()).unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut tls = b.build().connect("127.0.0.1", tcp).unwrap();
        let request = format!("GET {cms}?watch=true&timeoutSeconds=30&{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        tls.write_all(request.as_bytes()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut raw = Vec::new();
        let mut got = Vec::new();
        while got.len() < want && Instant::now() < deadline {
            let mut buf = [0u8; 4096];
            match tls.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
            // Each event is one chunk holding one JSON line.
            let body = text(&raw);
            let body = body.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
            got = body
                .lines()
                .map(|l| l.trim_end_matches('\r'))
                .filter(|l| l.starts_with('{'))
                .map(|l| {
                    let e: Value = serde_json::from_str(l).unwrap();
                    let name = e["object"]["metadata"]["name"]
                        .as_str()
                        .unwrap_or("")
                        .to_string();
                    (e["type"].as_str().unwrap().to_string(), name)
                })
                .collect();
        }
        assert!(text(&raw).starts_with("HTTP/1.1 200"), "{}", text(&raw));
        got
    };
    // Changes made while a watch runs.
    let got = std::thread::scope(|s| {
        let w = s.spawn(|| events("labelSelector=app%3Da", 4));
        std::thread::sleep(Duration::from_millis(700));
        assert_eq!(req("POST", cms, &cm("w2", "a")).0, 201);
        assert_eq!(req("POST", cms, &cm("other", "b")).0, 201);
        assert_eq!(
            req("PATCH", &format!("{cms}/w1"), r#"{"data":{"k":"v"}}"#).0,
            200
        );
        assert_eq!(req("DELETE", &format!("{cms}/w1"), "").0, 200);
        w.join().unwrap()
    });
    let expected: Vec<(String, String)> = [
        ("ADDED", "w1"),
        ("ADDED", "w2"),
        ("MODIFIED", "w1"),
        ("DELETED", "w1"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, expected);
    // From a resourceVersion: only what came after it, without the initial list.
    let got = events(
        &format!("resourceVersion={after_w1}&labelSelector=app%3Da"),
        3,
    );
    assert_eq!(got, expected[1..]);
    // Streaming initial events needs resourceVersionMatch=NotOlderThan, and ends them with a bookmark.
    assert_eq!(
        req(
            "GET",
            &format!("{cms}?watch=true&sendInitialEvents=true"),
            ""
        )
        .0,
        422
    );
    let got = events(
        "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
        3,
    );
    let names: Vec<&str> = got
        .iter()
        .map(|(t, n)| {
            if t == "BOOKMARK" {
                "BOOKMARK"
            } else {
                n.as_str()
            }
        })
        .collect();
    assert_eq!(names, ["other", "w2", "BOOKMARK"]);
}
