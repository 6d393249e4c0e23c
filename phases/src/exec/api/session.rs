//! A connection to the API server from a kubeconfig: kube's client on a one-thread runtime, every
//! call retried within `timeouts.kubernetesAPICall`, independent objects applied concurrently.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::ApiResource;
use kube::{Client, Config};

use super::object::{ApiObject, Mode};
use super::retry::retrying;
use crate::exec::net::{excerpt, ERROR_EXCERPT};

/// kinit's field manager for server-side apply.
pub const FIELD_MANAGER: &str = "kinit";

/// A failed call: what was attempted ("get Node cp1") and the API's answer, or why no answer
/// came. Callers act on the kind (`is_forbidden`, `is_not_found`, `is_already_exists`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The API server answered with an error status.
    #[error("could not {what}: {message} ({})", status_words(*.code, .reason))]
    Status {
        what: String,
        code: u16,
        reason: String,
        message: String,
    },
    /// No answer came (connection refused, TLS refused, timeout).
    #[error("could not {what}: the API server did not answer: {message}")]
    NoAnswer { what: String, message: String },
    /// An answer came that is not what was asked for, or the request could not be made at all.
    #[error("could not {what}: {message}")]
    Unusable { what: String, message: String },
}

/// kube's reason for an error answer that was not an API Status (a proxy's page, plain text).
const NOT_A_STATUS: &str = "Failed to parse error data";

/// "404 NotFound"; "HTTP 502" for an answer without a reason of the API's.
fn status_words(code: u16, reason: &str) -> String {
    if reason.is_empty() {
        format!("HTTP {code}")
    } else {
        format!("{code} {reason}")
    }
}

impl ApiError {
    pub fn new(what: &str, error: kube::Error) -> ApiError {
        let what = what.to_string();
        match error {
            kube::Error::Api(status) => {
                let reason = match status.reason.as_str() {
                    NOT_A_STATUS => String::new(),
                    reason => reason.to_string(),
                };
                let message = match excerpt(&status.message, ERROR_EXCERPT) {
                    message if message.is_empty() => "the API server gave no reason".to_string(),
                    message => message,
                };
                ApiError::Status {
                    what,
                    code: status.code,
                    reason,
                    message,
                }
            }
            kube::Error::SerdeError(e) => ApiError::Unusable {
                what,
                message: format!("the API server's answer is not what was asked for: {e}"),
            },
            other => {
                let no_answer =
                    matches!(other, kube::Error::HyperError(_) | kube::Error::Service(_));
                let message = with_causes(&other);
                if no_answer {
                    ApiError::NoAnswer { what, message }
                } else {
                    ApiError::Unusable { what, message }
                }
            }
        }
    }

    fn code(&self) -> Option<u16> {
        match self {
            ApiError::Status { code, .. } => Some(*code),
            ApiError::NoAnswer { .. } | ApiError::Unusable { .. } => None,
        }
    }

    pub fn is_forbidden(&self) -> bool {
        self.code() == Some(403)
    }

    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }

    pub fn is_already_exists(&self) -> bool {
        matches!(self, ApiError::Status { code: 409, reason, .. } if reason == "AlreadyExists")
    }
}

/// An error and its causes, each once: kube's own message names only the outermost layer, and
/// some layers repeat the one below.
fn with_causes(error: &kube::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message = format!("{message}: {cause_text}");
        }
        source = cause.source();
    }
    message
}

/// kubeadm's default `timeouts.kubernetesAPICall`.
pub const DEFAULT_CALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Work that runs API calls reports their failures as text.
impl From<ApiError> for String {
    fn from(error: ApiError) -> String {
        error.to_string()
    }
}

/// One API call with retries within `limit`; `what` names it for the error ("get Node cp1").
pub async fn call<T, F, Fut>(limit: Duration, what: &str, call: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    retrying(limit, call)
        .await
        .map_err(|e| ApiError::new(what, e))
}

/// API work started ahead of the phase that reports it; its error is the phase's error text.
pub type Work = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>>;

pub struct Session {
    runtime: tokio::runtime::Runtime,
    client: Client,
    call_limit: Duration,
    /// Where the credentials came from, for messages.
    pub source: String,
    /// Work of later phases already under way, by phase unit (`bootstrap-token`).
    ahead: Mutex<HashMap<String, tokio::task::JoinHandle<Result<(), String>>>>,
}

/// The address of a URI whose host is an IPv6 literal (`https://[fd00::1]:6443`), without brackets.
pub fn ipv6_literal(uri: &http::Uri) -> Option<String> {
    let host = uri.host()?.strip_prefix('[')?.strip_suffix(']')?;
    host.parse::<std::net::Ipv6Addr>().ok()?;
    Some(host.to_string())
}

/// Why kube cannot read a kubeconfig: the first line of its error, which gives the line and
/// column. The lines after it quote the file, and a kubeconfig holds keys.
fn unusable_kubeconfig(source: &str, error: &kube::config::KubeconfigError) -> String {
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default();
    // The YAML reader's advice is about its own options, not the file.
    let first = first.trim_end_matches(", set DuplicateKeyPolicy in Options if acceptable");
    format!("{source} is not a usable kubeconfig: {first}")
}

/// `kubeconfig` with the files it names (client certificate and key, cluster CA) read through
/// `read` and carried inline: under `--rootfs` they are paths of the node, which the API client
/// would read on this machine (kubelet.conf names its rotated client certificate by path). A
/// kubeconfig that names no file comes back as it is.
pub fn with_files_inline(
    kubeconfig: &str,
    source: &str,
    read: impl Fn(&str) -> Result<String, String>,
) -> Result<String, String> {
    let mut parsed =
        Kubeconfig::from_yaml(kubeconfig).map_err(|e| unusable_kubeconfig(source, &e))?;
    let mut inlined = false;
    let mut data = |path: String, what: &str| -> Result<String, String> {
        inlined = true;
        let text = read(&path)
            .map_err(|e| format!("cannot read the {what} {path} that {source} names: {e}"))?;
        Ok(openssl::base64::encode_block(text.as_bytes()))
    };
    for named in &mut parsed.auth_infos {
        if let Some(user) = named.auth_info.as_mut() {
            if let Some(path) = user.client_certificate.take() {
                user.client_certificate_data = Some(data(path, "client certificate")?);
            }
            if let Some(path) = user.client_key.take() {
                user.client_key_data = Some(data(path, "client key")?.into());
            }
        }
    }
    for named in &mut parsed.clusters {
        if let Some(cluster) = named.cluster.as_mut() {
            if let Some(path) = cluster.certificate_authority.take() {
                cluster.certificate_authority_data = Some(data(path, "certificate authority")?);
            }
        }
    }
    if !inlined {
        return Ok(kubeconfig.to_string());
    }
    // JSON is YAML, which is what kubeconfig readers take.
    serde_json::to_string(&parsed).map_err(|e| format!("{source}: {e}"))
}

impl Session {
    /// A client for the cluster and user of `kubeconfig` (its current context), read from `source`.
    pub fn connect(
        kubeconfig: &str,
        source: &str,
        call_limit: Duration,
    ) -> Result<Session, String> {
        // Worker threads carry work started ahead while the phases before it run.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the API client: {e}"))?;
        let parsed =
            Kubeconfig::from_yaml(kubeconfig).map_err(|e| unusable_kubeconfig(source, &e))?;
        let mut config = runtime
            .block_on(Config::from_custom_kubeconfig(
                parsed,
                &KubeConfigOptions::default(),
            ))
            .map_err(|e| format!("{source} is not a usable kubeconfig: {e}"))?;
        // One slow answer must not outlast the budget of the whole call.
        config.connect_timeout = Some(call_limit.min(Duration::from_secs(10)));
        config.read_timeout = Some(call_limit);
        config.write_timeout = Some(call_limit);
        // hyper-openssl checks the certificate against the URI's host as written: an IPv6 literal
        // keeps its brackets and never matches the certificate's IP address. Given here without
        // them, kube checks the IP address instead.
        if config.tls_server_name.is_none() {
            config.tls_server_name = ipv6_literal(&config.cluster_url);
        }
        tracing::debug!("API server {} as the user of {source}", config.cluster_url);
        let client = {
            // kube's client starts its request buffer on the runtime it is made in.
            let _entered = runtime.enter();
            crate::exec::net::tls::client(config)
                .map_err(|e| format!("cannot use {source}: {e}"))?
        };
        Ok(Session::over(runtime, client, call_limit, source))
    }

    /// A session whose calls go through `client`, made on `runtime`.
    pub(crate) fn over(
        runtime: tokio::runtime::Runtime,
        client: Client,
        call_limit: Duration,
        source: &str,
    ) -> Session {
        Session {
            runtime,
            client,
            call_limit,
            source: source.to_string(),
            ahead: Mutex::new(HashMap::new()),
        }
    }

    /// Starts `work` now for the phase unit `unit`, which collects it with [`Session::finish`].
    pub fn start(&self, unit: &str, work: Work) {
        let handle = self.runtime.spawn(work);
        self.ahead
            .lock()
            .expect("not poisoned")
            .insert(unit.to_string(), handle);
    }

    /// The outcome of the work started ahead for `unit`, once it is done; `None` if none was started.
    pub fn finish(&self, unit: &str) -> Option<Result<(), String>> {
        let handle = self.ahead.lock().expect("not poisoned").remove(unit)?;
        Some(
            self.runtime
                .block_on(handle)
                .unwrap_or_else(|e| Err(format!("the API work of {unit} stopped: {e}"))),
        )
    }

    /// Applying `objects` as work that owns what it needs, to run while other phases go on.
    pub fn apply_work(&self, objects: Vec<ApiObject>) -> Work {
        let (client, limit) = (self.client.clone(), self.call_limit);
        Box::pin(async move { apply_objects(&client, limit, &objects).await })
    }

    pub fn call_limit(&self) -> Duration {
        self.call_limit
    }

    /// Runs `future` (API work, one call) to its end on the session's runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Runs one API call with retries; `what` names it for the error ("get Node cp1").
    pub fn call<T, F, Fut>(&self, what: &str, call: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        tracing::debug!("API: {what}");
        self.runtime
            .block_on(self::call(self.call_limit, what, call))
    }

    /// [`Session::call`] bounded by `limit` as a whole, the request under way included: for a
    /// wait that must end on time whatever the API server does.
    pub fn call_within<T, F, Fut>(
        &self,
        limit: Duration,
        what: &str,
        call: F,
    ) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let limit = limit.min(self.call_limit);
        tracing::debug!("API: {what} (within {limit:?})");
        self.runtime.block_on(async {
            tokio::time::timeout(limit, self::call(limit, what, call))
                .await
                .unwrap_or_else(|_| {
                    Err(ApiError::NoAnswer {
                        what: what.to_string(),
                        message: format!("no answer within {limit:?}"),
                    })
                })
        })
    }

    /// Applies every object at once; they must not depend on each other. Every failure is
    /// reported, one per line.
    pub fn apply_all(&self, objects: &[ApiObject]) -> Result<(), Vec<ApiError>> {
        self.runtime
            .block_on(apply_all(&self.client, self.call_limit, objects))
    }
}

pub fn join(errors: &[ApiError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn dynamic(client: &Client, resource: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
        None => Api::all_with(client.clone(), resource),
    }
}

/// Applies `objects` concurrently inside other API work; the error lists every failure.
pub async fn apply_objects(
    client: &Client,
    limit: Duration,
    objects: &[ApiObject],
) -> Result<(), String> {
    apply_all(client, limit, objects)
        .await
        .map_err(|errors| join(&errors))
}

async fn apply_all(
    client: &Client,
    limit: Duration,
    objects: &[ApiObject],
) -> Result<(), Vec<ApiError>> {
    let calls = objects
        .iter()
        .map(|object| apply_one(client, limit, object));
    let failures: Vec<ApiError> = futures::future::join_all(calls)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}

async fn apply_one(client: &Client, limit: Duration, object: &ApiObject) -> Result<(), ApiError> {
    let api = dynamic(client, &object.resource, object.namespace.as_deref());
    tracing::debug!("API: {} {}", object.mode.verb(), object.describe());
    match object.mode {
        Mode::Apply => {
            let params = PatchParams::apply(FIELD_MANAGER).force();
            let patch = Patch::Apply(&object.body);
            let what = format!("apply {}", object.describe());
            call(limit, &what, || api.patch(&object.name, &params, &patch))
                .await
                .map(drop)
        }
        Mode::KeepExisting => {
            let dynamic = as_dynamic(object)?;
            let params = PostParams::default();
            let what = format!("create {}", object.describe());
            match call(limit, &what, || api.create(&params, &dynamic)).await {
                Err(e) if e.is_already_exists() => {
                    tracing::info!("{} exists and is kept as it is", object.describe());
                    Ok(())
                }
                other => other.map(drop),
            }
        }
        Mode::CreateOrUpdate { keep } => {
            let dynamic = as_dynamic(object)?;
            let params = PostParams::default();
            // A conflict on the update retries the whole exchange with a fresh copy.
            let what = format!("create or update {}", object.describe());
            call(limit, &what, || async {
                match api.create(&params, &dynamic).await {
                    Err(kube::Error::Api(status)) if status.is_already_exists() => {
                        let existing = api.get(&object.name).await?;
                        let existing_value =
                            serde_json::to_value(&existing).map_err(kube::Error::SerdeError)?;
                        if keep(&existing_value, &object.body) {
                            return Ok(());
                        }
                        let mut replacement = dynamic.clone();
                        replacement.metadata.resource_version = existing.metadata.resource_version;
                        api.replace(&object.name, &params, &replacement)
                            .await
                            .map(drop)
                    }
                    other => other.map(drop),
                }
            })
            .await
        }
    }
}

fn as_dynamic(object: &ApiObject) -> Result<DynamicObject, ApiError> {
    serde_json::from_value(object.body.clone()).map_err(|e| ApiError::Unusable {
        what: format!("send {}", object.describe()),
        message: format!("it is not a Kubernetes object: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::{ipv6_literal, with_files_inline, ApiError};

    #[test]
    fn an_answer_that_is_not_an_api_status_is_quoted_in_part_with_its_http_status() {
        let page = format!("<html>{}</html>", "bad gateway ".repeat(100));
        let status =
            kube::core::Status::failure(&page, "Failed to parse error data").with_code(502);
        let error = ApiError::new("get Node cp1", kube::Error::Api(Box::new(status))).to_string();
        assert!(
            error.starts_with("could not get Node cp1: <html>bad gateway"),
            "{error}"
        );
        assert!(error.ends_with("... (HTTP 502)"), "{error}");
        let status = kube::core::Status::failure("", "NotFound").with_code(404);
        let error = ApiError::new("get Node cp1", kube::Error::Api(Box::new(status))).to_string();
        assert_eq!(
            error,
            "could not get Node cp1: the API server gave no reason (404 NotFound)"
        );
    }

    #[test]
    fn an_answer_of_the_wrong_shape_is_not_called_no_answer() {
        let serde = serde_json::from_str::<k8s_openapi::api::core::v1::Node>("[]").unwrap_err();
        let error = ApiError::new("get Node cp1", kube::Error::SerdeError(serde)).to_string();
        assert!(
            error.starts_with("could not get Node cp1: the API server's answer is not what was asked for: invalid type: sequence"),
            "{error}"
        );
    }

    #[test]
    fn a_broken_kubeconfig_is_reported_by_line_without_quoting_its_keys() {
        let kubeconfig = "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    client-key-data: c2VjcmV0a2V5bWF0ZXJpYWw=\n    token: [unclosed\n";
        let error =
            with_files_inline(kubeconfig, "admin.conf", |_| Err("unused".into())).unwrap_err();
        assert!(
            error.starts_with("admin.conf is not a usable kubeconfig: "),
            "{error}"
        );
        assert!(error.contains("line 7 column 12"), "{error}");
        assert!(!error.contains("c2VjcmV0"), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }

    #[test]
    fn an_ipv6_literal_host_is_checked_without_its_brackets() {
        let uri = |s: &str| s.parse::<http::Uri>().unwrap();
        assert_eq!(
            ipv6_literal(&uri("https://[fd00::1]:6443")).as_deref(),
            Some("fd00::1")
        );
        assert_eq!(ipv6_literal(&uri("https://198.51.100.1:6443")), None);
        assert_eq!(ipv6_literal(&uri("https://cp.example:6443")), None);
    }
}
