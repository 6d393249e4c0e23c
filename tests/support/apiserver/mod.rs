//! A test double of the Kubernetes API server, for testing kinit's API phases without a cluster
//! (../shared/reference/test-environment.md: no registry has kube-apiserver).
//!
//! Its rule: **refuse whatever the real API server refuses; never accept more.** Where the double
//! is simpler than the real server it errs on the side of refusing.
//!
//! # What it is
//! - HTTPS (HTTP/1.1, ALPN `http/1.1`) on its own thread and tokio runtime, so blocking tests can
//!   use it. It serves the `apiserver.crt`/`apiserver.key` kinit generated and *requests* (does
//!   not require) a client certificate, which is verified against `ca.crt` like the real x509
//!   authenticator (chain and the clientAuth purpose): an invalid one is 401.
//! - Authentication ([`auth`]): client certificate → user = CN, groups = O; `Authorization:
//!   Bearer <id>.<secret>` → the kube-system Secret `bootstrap-token-<id>` (type
//!   `bootstrap.kubernetes.io/token`, matching `token-secret`, `usage-bootstrap-authentication:
//!   "true"`, `expiration` not past) → `system:bootstrap:<id>`, groups `system:bootstrappers` +
//!   `auth-extra-groups`; any other bearer token, or a missing/expired token Secret → 401; no
//!   credentials (or another scheme, such as Basic) → `system:anonymous` /
//!   `system:unauthenticated`. Authenticated users also get `system:authenticated`.
//! - Authorization ([`rbac`]): RBAC evaluated from the Roles, ClusterRoles and bindings in the
//!   store (seeded with the bootstrap policy a real 1.31+ server creates at startup, see
//!   `bootstrap_policy.json`), plus `system:masters`. 403 Status bodies are worded like the real
//!   server's. Creating or updating a Role/ClusterRole needs the permissions it grants (or
//!   `escalate`), a binding needs the bound role's permissions (or `bind`), as the real RBAC
//!   escalation check does. An apply or update that creates needs `create` as well.
//!   Impersonation (`kubectl --as/--as-group`) needs the `impersonate` verb on the user (or
//!   service account) and each group. SelfSubjectAccessReview and SubjectAccessReview answer with
//!   the same decision (`kubectl auth can-i`; kubectl sends these as protobuf, which is decoded
//!   for them alone).
//! - REST ([`rest`]): `/api/v1` and `/apis/<group>/<version>` for the kinds in [`store::KINDS`]:
//!   create (201, 409 AlreadyExists, 404 when the namespace is missing), get (404), list (label
//!   selectors; field selectors on metadata.name, metadata.namespace and Secret `type`), update
//!   (409 on a stale resourceVersion, 404 when missing except for the RBAC kinds, which the real
//!   server creates on update), patch (`merge-patch+json`, `json-patch+json`,
//!   `strategic-merge-patch+json` with the merge keys of the fields kinit patches, and
//!   `apply-patch+yaml` server-side apply with `fieldManager` and `force`), delete (Status
//!   Success), watch on collections (`?watch=true`: the current objects as ADDED unless a
//!   resourceVersion is given, then ADDED/MODIFIED/DELETED as the store changes, selectors
//!   applied; `sendInitialEvents` with its closing bookmark; `timeoutSeconds`). Discovery
//!   (`/api`, `/apis`, `/api/v1`, `/apis/<g>/<v>`, legacy form), `/version`, `/healthz`,
//!   `/livez`, `/readyz`. Every error is a `Status` object with reason and code.
//! - Object metadata: uid, resourceVersion (one global counter), creationTimestamp, generation for
//!   Deployment/DaemonSet, managedFields per manager and operation (FieldsV1). A write that
//!   changes nothing (ignoring managedFields timestamps) is skipped and the resourceVersion stays.
//! - Server-side apply ([`apply`], ownership in [`store`]): field ownership is a set of leaf paths
//!   per manager, kept in `managedFields` as FieldsV1. Maps are granular; the lists the real types
//!   declare as list-maps are granular by key (containers, initContainers, volumes,
//!   imagePullSecrets by name, a container's env by name, volumeMounts by mountPath and ports by
//!   containerPort and protocol, Service ports by port and protocol, ownerReferences by uid),
//!   finalizers are a set, **every other list is atomic** (which can only report more conflicts
//!   than the real server). Applying a field another manager owns with a different value is a
//!   409 conflict naming `.spec.template.spec.containers[name="a"].image` the way the real one
//!   does, unless `force=true`, which takes the field over. Fields and list elements a manager
//!   stops applying are removed when no other manager owns them. Non-apply writes take ownership
//!   of what they change.
//! - Validation ([`validate`]): every object written is checked by the `kubernetes_validate`
//!   library (strict, the server's version, 1.34 by default) in one long-lived Python helper
//!   process; invalid → 422. Unknown fields are always refused (the real server's default
//!   `fieldValidation=Warn` would drop them). Names are checked as the real server checks them
//!   (DNS subdomain, label, or path segment per kind), ConfigMap/Secret keys too, Secret data
//!   must be base64, `stringData` is folded into `data`. Immutable fields (Secret `type`, binding
//!   `roleRef`, workload selectors, Service `clusterIP`, `immutable` ConfigMaps/Secrets) → 422.
//! - Semantic checks the schema cannot express ([`checks`], [`strategy`]): pod templates
//!   (container and volume names, a volume mount must name a volume, one source per volume,
//!   ports, quantities and requests ≤ limits, restartPolicy Always, DNS policy, tolerations, env
//!   names), Node taints (unique by key and effect), Service ports, RBAC rules (verbs, groups and
//!   resources, no non-resource URLs in a Role) → 422.
//! - Services: defaults (type, sessionAffinity, internalTrafficPolicy, port protocol and
//!   targetPort, IP family), ClusterIPs allocated from [`Options::service_cidr`]; an IP outside
//!   it or held by another Service is 422, and a ClusterIP never changes. `default/kubernetes` is
//!   seeded with the first IP.
//! - Other refusals of the real server: resourceVersion set on create (500), a uid or
//!   resourceVersion precondition that does not hold (409), a body of another kind or namespace
//!   (400), update of a missing object (404, except RBAC kinds), a method that names no route
//!   (405), an Accept header without plain JSON (406), a body over 3 MiB (413), ConfigMap/Secret
//!   data over 1 MiB and annotations over 256 KiB (422).
//! - Controllers ([`controllers`]), run before each request: the token cleaner deletes expired
//!   bootstrap token Secrets; the garbage collector deletes an object once none of its owners
//!   exists with the referenced uid (so the `kubeadm-certs` Secret goes with its token); the
//!   bootstrap signer ([`signer`]): for each unexpired token Secret with
//!   `usage-bootstrap-signing: "true"`, kube-public/cluster-info gets `jws-kubeconfig-<id>`, the
//!   detached JWS (HS256, header `{"alg":"HS256","kid":"<id>"}`, payload the `kubeconfig` value,
//!   HMAC key the token *secret*, as cluster-bootstrap's `ComputeDetachedSignature`) computed
//!   here with OpenSSL's HMAC; keys of deleted or expired tokens are removed. The real
//!   controllers run in kube-controller-manager a moment later; here they act at once, as
//!   manager `kube-controller-manager`.
//! - An optional delay before each request is handled ([`TestApiServer::set_delay`]), injected
//!   failures (429, 5xx, dropped connections: [`TestApiServer::inject`]) for clients' retries, a
//!   request log and counter. `KINIT_TEST_APISERVER_LOG=1` prints every request and its answer.
//!
//! # Not done (refused, or left out)
//! No watch of a single object by name (405; watching a collection with a field selector works),
//! no deletecollection (405), no subresources (404), no Table or protobuf responses (JSON only; a
//! protobuf body is 415, except an access review), no OpenAPI documents (404: `kubectl` needs
//! `--validate=false`), no aggregated discovery (legacy discovery only, which clients fall back
//! to), no defaulting beyond the Service defaults above, Secret `type: Opaque`, the Namespace
//! finalizer, phase and `kubernetes.io/metadata.name` label, and CSR `spec.username/groups` from
//! the requester; no admission beyond NamespaceLifecycle's missing-namespace check; no graceful
//! deletion (a Namespace goes at once, with its objects). `limit`/`continue` on lists are ignored
//! (everything comes in one page, which the real server also does below the limit).
//!
//! # Modules
//! [`http`] serves (TLS, HTTP, delay, faults, streaming); [`auth`] authenticates and
//! impersonates; [`rbac`] authorizes and answers access reviews; [`rest`] reads a request and
//! runs the verbs, with [`select`] (lists and watches), [`apply`] (server-side apply), [`patch`]
//! (strategic merge, YAML) and [`strategy`] (per-kind defaults and rules) beside it; [`store`]
//! holds objects, events and field ownership; [`validate`] and [`checks`] validate;
//! [`controllers`] and [`signer`] play kube-controller-manager; [`discovery`] answers the
//! non-resource endpoints.
//!
//! # Using it
//! ```ignore
//! mod support;
//! use support::apiserver::{Options, TestApiServer};
//! // After `kinit init phase certs all --apiserver-advertise-address 127.0.0.1 ...`:
//! let server = TestApiServer::start(&root.join("etc/kubernetes/pki"), Options {
//!     node: Some("cp-1".into()),
//!     ..Default::default()
//! });
//! // `kinit init phase kubeconfig all --apiserver-bind-port <server.addr().port()> ...` writes
//! // kubeconfigs that point at it (or give kubectl `--server server.url()`); run kinit, then:
//! let cm = server.get("ConfigMap", "kube-system", "kubeadm-config").unwrap();
//! println!("{} requests, {} writes", server.request_count(), server.writes().len());
//! ```
//! [`TestApiServer`] also has `objects()`, `list(kind)`, `insert(obj)` (as an administrator),
//! `put(obj)` (as a controller or the kubelet, status included), `requests()`,
//! `resource_version()`, `set_delay(d)`, `inject(fault)`, and `start_on(listener, ..)` for a
//! listener bound inside a network namespace. From a bench:
//! `#[path = "../tests/support/mod.rs"] mod support;`.

pub mod apply;
pub mod auth;
pub mod checks;
pub mod controllers;
pub mod discovery;
pub mod http;
pub mod patch;
pub mod rbac;
pub mod rest;
pub mod select;
pub mod signer;
pub mod store;
pub mod strategy;
pub mod validate;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// How to start a [`TestApiServer`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Where to listen; port 0 picks a free one. Default 127.0.0.1:0.
    pub addr: SocketAddr,
    /// The Kubernetes version the server claims and validates against ("1.34").
    pub kubernetes_version: String,
    /// Seed a Node of this name, as the kubelet registered it (NotReady, labels by the kubelet)
    /// with the `node.kubernetes.io/not-ready:NoSchedule` taint the node lifecycle controller
    /// adds (manager `kube-controller-manager`).
    pub node: Option<String>,
    /// Delay before each request is handled.
    pub delay: Duration,
    /// The service CIDR ClusterIPs come from (kube-apiserver `--service-cluster-ip-range`).
    pub service_cidr: String,
    /// Check every written object with `kubernetes-validate` (on by default). Benchmarks turn it
    /// off: the checker is one Python process that takes the writes one at a time, which would
    /// measure it instead of the client.
    pub check_schemas: bool,
    /// How long a written binding takes to reach the authorizer. The real API server authorizes
    /// from an informer cache that learns of a new (Cluster)RoleBinding a moment after it is
    /// stored; until then it still refuses what the binding allows. Zero by default.
    pub authorizer_lag: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            addr: "127.0.0.1:0".parse().unwrap(),
            kubernetes_version: "1.34".into(),
            node: None,
            delay: Duration::ZERO,
            service_cidr: "10.96.0.0/12".into(),
            check_schemas: true,
            authorizer_lag: Duration::ZERO,
        }
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// The authenticated user name ("" when authentication failed).
    pub user: String,
    pub code: u16,
}

/// A failure to inject: the next `times` requests matching `method` (when set) and containing
/// `path_contains` in their path and query (when set) get `code` instead of an answer: 429
/// (with `Retry-After: 1`), 500, 503, 504 as the real server words them, or 0 to close the
/// connection unanswered. They are counted, delayed and logged like any request.
#[derive(Clone, Debug, Default)]
pub struct Fault {
    pub method: Option<String>,
    pub path_contains: Option<String>,
    pub code: u16,
    pub times: usize,
}

/// What the request handlers share.
pub struct State {
    pub store: Mutex<store::Store>,
    pub validator: validate::Validator,
    pub ca: openssl::x509::X509,
    pub version: String,
    delay_ms: AtomicU64,
    count: AtomicU64,
    requests: Mutex<Vec<RequestRecord>>,
    faults: Mutex<Vec<Fault>>,
}

impl State {
    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms.load(Ordering::SeqCst))
    }

    pub fn record(&self, record: RequestRecord) {
        self.requests.lock().unwrap().push(record);
    }

    pub fn count_request(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    /// The code of an injected failure for this request, using it up.
    pub fn take_fault(&self, method: &str, uri: &str) -> Option<u16> {
        let mut faults = self.faults.lock().unwrap();
        let f = faults.iter_mut().find(|f| {
            f.times > 0
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && f.path_contains.as_deref().is_none_or(|p| uri.contains(p))
        })?;
        f.times -= 1;
        Some(f.code)
    }
}

/// A running test API server; dropping it shuts it down.
pub struct TestApiServer {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestApiServer {
    /// Starts serving with the PKI in `pki_dir` (`apiserver.crt`, `apiserver.key`, `ca.crt`, as
    /// `kinit init phase certs all` writes them).
    pub fn start(pki_dir: &Path, options: Options) -> TestApiServer {
        let listener = std::net::TcpListener::bind(options.addr)
            .unwrap_or_else(|e| panic!("test API server: bind {}: {e}", options.addr));
        TestApiServer::start_on(listener, pki_dir, options)
    }

    /// Serves on a listener the caller bound, e.g. inside a network namespace (the socket stays
    /// in the namespace it was made in); `options.addr` is ignored.
    pub fn start_on(
        listener: std::net::TcpListener,
        pki_dir: &Path,
        options: Options,
    ) -> TestApiServer {
        let read = |name: &str| {
            let path = pki_dir.join(name);
            std::fs::read(&path)
                .unwrap_or_else(|e| panic!("test API server: {}: {e}", path.display()))
        };
        let ca = openssl::x509::X509::from_pem(&read("ca.crt")).expect("ca.crt");
        let tls = http::tls_acceptor(&read("apiserver.crt"), &read("apiserver.key"), &ca);
        let mut store = store::Store::default();
        store.authorizer_lag = options.authorizer_lag;
        store.seed(options.node.as_deref(), &options.service_cidr);
        let state = Arc::new(State {
            store: Mutex::new(store),
            validator: match options.check_schemas {
                true => validate::Validator::start(&options.kubernetes_version),
                false => validate::Validator::off(),
            },
            ca,
            version: options.kubernetes_version.clone(),
            delay_ms: AtomicU64::new(options.delay.as_millis() as u64),
            count: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
        });
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let serve_state = state.clone();
        let thread = std::thread::Builder::new()
            .name("test-apiserver".into())
            .spawn(move || http::serve(listener, tls, serve_state, rx))
            .unwrap();
        TestApiServer {
            addr,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every stored object, with apiVersion and kind, ordered by kind, namespace, name.
    pub fn objects(&self) -> Vec<Value> {
        self.state.store.lock().unwrap().all()
    }

    /// One stored object by kind ("ConfigMap"), namespace ("" for cluster-scoped) and name.
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        self.state
            .store
            .lock()
            .unwrap()
            .get_full(kind, namespace, name)
    }

    /// Every stored object of a kind ("ConfigMap"), across namespaces.
    pub fn list(&self, kind: &str) -> Vec<Value> {
        self.objects()
            .into_iter()
            .filter(|o| o["kind"] == kind)
            .collect()
    }

    /// Stores an object as if an administrator had created it (validated, no RBAC).
    pub fn insert(&self, object: Value) {
        let mut store = self.state.store.lock().unwrap();
        rest::insert_direct(&mut store, &self.state.validator, object)
            .unwrap_or_else(|e| panic!("test API server: insert refused: {}", e.message));
    }

    /// Replaces (or creates) an object as a controller or the kubelet would: status included, no
    /// RBAC, validated (e.g. to make the Node Ready).
    pub fn put(&self, object: Value) {
        let mut store = self.state.store.lock().unwrap();
        rest::put_direct(&mut store, &self.state.validator, object)
            .unwrap_or_else(|e| panic!("test API server: put refused: {}", e.message));
    }

    /// Requests received so far.
    pub fn request_count(&self) -> u64 {
        self.state.count.load(Ordering::SeqCst)
    }

    /// Every request so far, in order of completion.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The requests that may have written (every method but GET and HEAD).
    pub fn writes(&self) -> Vec<RequestRecord> {
        self.requests()
            .into_iter()
            .filter(|r| r.method != "GET" && r.method != "HEAD")
            .collect()
    }

    /// The current resourceVersion counter.
    pub fn resource_version(&self) -> u64 {
        self.state.store.lock().unwrap().rv
    }

    /// Makes the next matching requests fail (see [`Fault`]).
    pub fn inject(&self, fault: Fault) {
        self.state.faults.lock().unwrap().push(fault);
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
