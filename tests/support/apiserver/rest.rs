//! Requests: the request info (k8s.io/apiserver RequestInfoFactory), authorization, then the
//! REST verbs on the store, discovery and the health and version endpoints.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Value};

use super::auth::UserInfo;
use super::rbac::{self, Attributes};
use super::store::{
    self, b64_decode, b64_encode, field_paths, get_path, kind_by_resource, managed_of, now_unix,
    overlaps, remove_path, rfc3339, same_ignoring_times, set_managed, update_ownership, with_type,
    Kind, Managed, Store, KINDS,
};
use super::validate::{self, Validator};
use super::State;

pub struct Req<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub content_type: &'a str,
    pub accept: &'a str,
    pub user_agent: &'a str,
    pub body: &'a [u8],
}

/// An error as a `Status` object.
#[derive(Debug)]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: &str) -> ApiError {
        ApiError {
            code,
            reason: reason.to_string(),
            message: message.to_string(),
            details: None,
        }
    }

    fn details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

type Result<T> = std::result::Result<T, ApiError>;

/// StatusDetails as the real server serialises them (empty fields omitted).
pub fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut d = serde_json::Map::new();
    for (k, v) in [("name", name), ("group", group), ("kind", kind)] {
        if !v.is_empty() {
            d.insert(k.into(), json!(v));
        }
    }
    Value::Object(d)
}

fn bad_request(msg: &str) -> ApiError {
    ApiError::new(400, "BadRequest", msg)
}

fn not_found(kind: &Kind, name: &str) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        &format!("{} {name:?} not found", kind.qualified()),
    )
    .details(details(name, kind.group, kind.resource))
}

fn page_not_found() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
    .details(json!({}))
}

fn conflict(kind: &Kind, name: &str) -> ApiError {
    ApiError::new(
        409,
        "Conflict",
        &format!(
            "Operation cannot be fulfilled on {} {name:?}: the object has been modified; please apply your changes to the latest version and try again",
            kind.qualified()
        ),
    )
    .details(details(name, kind.group, kind.resource))
}

/// 422 with field causes, worded like the real server's `field.ErrorList`.
fn invalid(kind: &Kind, name: &str, causes: &[(String, String)]) -> ApiError {
    let joined: Vec<String> = causes
        .iter()
        .map(|(f, m)| {
            if f.is_empty() {
                m.clone()
            } else {
                format!("{f}: {m}")
            }
        })
        .collect();
    let message = if joined.len() == 1 {
        format!("{} {name:?} is invalid: {}", kind.kind, joined[0])
    } else {
        format!("{} {name:?} is invalid: [{}]", kind.kind, joined.join(", "))
    };
    let causes: Vec<Value> = causes
        .iter()
        .map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f}))
        .collect();
    let mut d = details(name, kind.group, kind.kind);
    d["causes"] = json!(causes);
    ApiError::new(422, "Invalid", &message).details(d)
}

/// An answer: a JSON document (or a bare string, sent as text), or a watch to stream.
pub enum Reply {
    Json(u16, Value),
    Watch(Watch),
}

/// A watch on a collection: events after `from_rv` that pass `filter`, after the `initial`
/// ones, until `timeout`.
pub struct Watch {
    pub filter: Filter,
    pub from_rv: u64,
    pub initial: Vec<Value>,
    pub timeout: std::time::Duration,
}

pub fn handle(state: &State, user: &UserInfo, req: &Req) -> Reply {
    WATCH.with(|w| *w.borrow_mut() = None);
    match handle_inner(state, user, req) {
        Ok(r) => match WATCH.with(|w| w.borrow_mut().take()) {
            Some(watch) => Reply::Watch(watch),
            None => Reply::Json(r.0, r.1),
        },
        Err(e) => Reply::Json(e.code, e.status()),
    }
}

thread_local! {
    /// Set by [`watch`]: the watch to stream instead of the JSON answer.
    static WATCH: std::cell::RefCell<Option<Watch>> = const { std::cell::RefCell::new(None) };
}

fn percent_decode(s: &str) -> String {
    decode(s, true)
}

fn path_decode(s: &str) -> String {
    decode(s, false)
}

/// %XX escapes; `+` is a space only in queries.
fn decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(v) => {
                    out.push(v);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where a request goes.
struct Info {
    attrs: Attributes,
    group: String,
    version: String,
}

fn request_info(method: &str, path: &str, query: &HashMap<String, String>) -> Info {
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let verb_for = |m: &str| match m {
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "get",
    };
    let non_resource = Info {
        attrs: Attributes {
            // Non-resource requests are authorized with the lowercase HTTP method.
            verb: method.to_ascii_lowercase(),
            resource_request: false,
            api_group: String::new(),
            resource: String::new(),
            subresource: String::new(),
            namespace: String::new(),
            name: String::new(),
            path: path.to_string(),
        },
        group: String::new(),
        version: String::new(),
    };
    let (group, version, rest) = match parts.first() {
        Some(&"api") if parts.len() >= 3 => ("", parts[1], &parts[2..]),
        Some(&"apis") if parts.len() >= 4 => (parts[1], parts[2], &parts[3..]),
        _ => return non_resource,
    };
    let mut rest: Vec<&str> = rest.to_vec();
    let mut namespace = "";
    if rest[0] == "namespaces" && rest.len() > 1 {
        namespace = rest[1];
        if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
            rest = rest[2..].to_vec();
        }
    }
    let resource = rest[0];
    let name = rest.get(1).copied().unwrap_or("");
    let subresource = rest.get(2..).map(|s| s.join("/")).unwrap_or_default();
    let mut verb = verb_for(method).to_string();
    if method == "GET" || method == "HEAD" {
        verb = if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
            "watch".into()
        } else if name.is_empty() {
            "list".into()
        } else {
            "get".into()
        };
    }
    if method == "DELETE" && name.is_empty() {
        verb = "deletecollection".into();
    }
    Info {
        attrs: Attributes {
            verb,
            resource_request: true,
            api_group: group.to_string(),
            resource: resource.to_string(),
            subresource,
            namespace: namespace.to_string(),
            name: name.to_string(),
            path: path.to_string(),
        },
        group: group.to_string(),
        version: version.to_string(),
    }
}

fn handle_inner(state: &State, user: &UserInfo, req: &Req) -> Result<(u16, Value)> {
    let (path, query_str) = req.uri.split_once('?').unwrap_or((req.uri, ""));
    let path = path_decode(path);
    let mut query = HashMap::new();
    for pair in query_str.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query.insert(percent_decode(k), percent_decode(v));
    }
    let info = request_info(req.method, &path, &query);
    let mut store = state.store.lock().unwrap();
    super::controllers::sync(&mut store);
    if !rbac::allowed(&store, user, &info.attrs) {
        let a = &info.attrs;
        let msg = rbac::forbidden_message(user, a);
        let details = if a.resource_request {
            details(&a.name, &a.api_group, &a.resource)
        } else {
            json!({})
        };
        return Err(ApiError::new(403, "Forbidden", &msg).details(details));
    }
    if !info.attrs.resource_request {
        drop(store);
        return non_resource(state, req.method, &path);
    }
    let a = &info.attrs;
    if !accepts_json(req.accept) {
        return Err(ApiError::new(
            406,
            "NotAcceptable",
            &format!("only the following media types are accepted: application/json (the test API server serves no protobuf or Table; asked for {:?})", req.accept),
        ));
    }
    let Some(kind) = kind_by_resource(&info.group, &info.version, &a.resource) else {
        return Err(page_not_found());
    };
    if !a.subresource.is_empty() {
        return Err(page_not_found());
    }
    let is_namespace_kind = kind.kind == "Namespace";
    let url_ns = if is_namespace_kind {
        ""
    } else {
        a.namespace.as_str()
    };
    if !kind.namespaced && !url_ns.is_empty() {
        return Err(page_not_found());
    }
    if kind.namespaced && url_ns.is_empty() && !matches!(a.verb.as_str(), "list" | "watch") {
        return Err(page_not_found());
    }
    let ctx = Ctx {
        validator: &state.validator,
        user,
        kind,
        ns: url_ns.to_string(),
        name: a.name.clone(),
        query: &query,
        req,
    };
    let named = !a.name.is_empty();
    if named
        == matches!(
            a.verb.as_str(),
            "create" | "list" | "watch" | "deletecollection"
        )
        && !(named && a.verb == "watch")
    {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            &format!(
                "the server does not allow this method on the requested resource ({} {})",
                req.method, a.path
            ),
        ));
    }
    match a.verb.as_str() {
        "get" => match store.get(kind, url_ns, &a.name) {
            Some(o) => Ok((200, with_type(kind, o))),
            None => Err(not_found(kind, &a.name)),
        },
        "list" => list(&store, &ctx),
        "watch" if a.name.is_empty() => watch(&store, &ctx),
        "create" => create(&mut store, &ctx),
        "update" => update(&mut store, &ctx),
        "patch" => patch(&mut store, &ctx),
        "delete" => delete(&mut store, &ctx),
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            &format!(
                "the test API server does not support {} on {}",
                a.verb, kind.resource
            ),
        )),
    }
}

/// Whether an Accept header admits plain JSON (not `as=Table`, not protobuf only).
fn accepts_json(accept: &str) -> bool {
    accept.trim().is_empty()
        || accept.split(',').any(|entry| {
            let mut parts = entry.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            let as_other = parts.any(|p| p.starts_with("as="));
            matches!(media, "application/json" | "application/*" | "*/*") && !as_other
        })
}

struct Ctx<'a> {
    validator: &'a Validator,
    user: &'a UserInfo,
    kind: &'static Kind,
    ns: String,
    name: String,
    query: &'a HashMap<String, String>,
    req: &'a Req<'a>,
}

impl Ctx<'_> {
    fn dry_run(&self) -> bool {
        self.query.get("dryRun").is_some_and(|d| d == "All")
    }

    fn field_manager(&self) -> Result<String> {
        let m = match self.query.get("fieldManager") {
            Some(m) => m.clone(),
            None => self
                .req
                .user_agent
                .split('/')
                .next()
                .unwrap_or("")
                .chars()
                .take(128)
                .collect(),
        };
        if m.len() > 128 {
            return Err(invalid_options(
                "fieldManager",
                "must be no more than 128 characters",
            ));
        }
        Ok(m)
    }
}

fn invalid_options(field: &str, msg: &str) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        &format!("PatchOptions.meta.k8s.io \"\" is invalid: {field}: {msg}"),
    )
}

// ---------------------------------------------------------------------------------------------
// Non-resource endpoints

fn non_resource(state: &State, method: &str, path: &str) -> Result<(u16, Value)> {
    if method != "GET" && method != "HEAD" {
        return Err(page_not_found());
    }
    let minor = state.version.split('.').nth(1).unwrap_or("34").to_string();
    let groups: BTreeSet<(&str, &str)> = KINDS.iter().map(|k| (k.group, k.version)).collect();
    let p = path.trim_end_matches('/');
    match p {
        "/healthz" | "/livez" | "/readyz" => Ok((200, Value::String("ok".into()))),
        "/version" => Ok((
            200,
            json!({
                "major": "1", "minor": minor, "emulationMajor": "1", "emulationMinor": minor,
                "minCompatibilityMajor": "1", "minCompatibilityMinor": minor,
                "gitVersion": format!("v1.{minor}.0"), "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24.0",
                "compiler": "gc", "platform": "linux/amd64"
            }),
        )),
        "/api" => Ok((
            200,
            json!({"kind": "APIVersions", "versions": ["v1"],
                   "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}),
        )),
        "/apis" => {
            let list: Vec<Value> = groups
                .iter()
                .filter(|(g, _)| !g.is_empty())
                .map(|(g, v)| {
                    let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
                    json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
                })
                .collect();
            Ok((
                200,
                json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list}),
            ))
        }
        _ => {
            let (group, version) = if let Some(v) = p.strip_prefix("/api/") {
                ("", v)
            } else if let Some(gv) = p.strip_prefix("/apis/") {
                match gv.split_once('/') {
                    Some((g, v)) => (g, v),
                    None => {
                        let Some((g, v)) = groups.iter().find(|(g, _)| *g == gv) else {
                            return Err(page_not_found());
                        };
                        let gvj = json!({"groupVersion": format!("{g}/{v}"), "version": v});
                        return Ok((
                            200,
                            json!({"kind": "APIGroup", "apiVersion": "v1", "name": g,
                                   "versions": [gvj.clone()], "preferredVersion": gvj}),
                        ));
                    }
                }
            } else {
                return Err(page_not_found());
            };
            if !groups.contains(&(group, version)) {
                return Err(page_not_found());
            }
            let mut resources = Vec::new();
            for k in KINDS
                .iter()
                .filter(|k| k.group == group && k.version == version)
            {
                resources.push(json!({
                    "name": k.resource, "singularName": k.kind.to_lowercase(), "namespaced": k.namespaced,
                    "kind": k.kind, "shortNames": k.short_names,
                    "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]
                }));
            }
            let gv = if group.is_empty() {
                version.to_string()
            } else {
                format!("{group}/{version}")
            };
            Ok((
                200,
                json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bodies

fn decode_body(ctx: &Ctx) -> Result<Value> {
    let ct = ctx
        .req
        .content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let text =
        std::str::from_utf8(ctx.req.body).map_err(|_| bad_request("the body is not UTF-8"))?;
    let v = match ct.as_str() {
        "" | "application/json" | "*/*" => serde_json::from_str(text)
            .map_err(|e| bad_request(&format!("couldn't get version/kind; json parse error: {e}")))?,
        "application/yaml" => super::patch::yaml_to_json(text)
            .map_err(|e| bad_request(&format!("yaml parse error: {e}")))?,
        other => {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                &format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {other})"),
            ))
        }
    };
    if !v.is_object() {
        return Err(bad_request("the body must be a JSON object"));
    }
    Ok(v)
}

/// apiVersion and kind must be the endpoint's.
fn check_type(kind: &Kind, obj: &Value) -> Result<()> {
    let k = obj["kind"].as_str().unwrap_or("");
    let v = obj["apiVersion"].as_str().unwrap_or("");
    if k.is_empty() {
        return Err(bad_request("Object 'Kind' is missing in the request body"));
    }
    if v.is_empty() {
        return Err(bad_request(
            "Object 'apiVersion' is missing in the request body",
        ));
    }
    if k != kind.kind || v != kind.api_version() {
        return Err(bad_request(&format!(
            "the API version in the data ({v}) does not match the expected API version ({})",
            kind.api_version()
        ))
        .details(json!({"kind": k})));
    }
    Ok(())
}

fn meta_str(obj: &Value, field: &str) -> String {
    obj["metadata"][field].as_str().unwrap_or("").to_string()
}

/// The URL's namespace and name against the body's.
fn check_identity(ctx: &Ctx, obj: &mut Value, need_name: bool) -> Result<()> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    let ns = meta_str(obj, "namespace");
    if ctx.kind.namespaced {
        if !ns.is_empty() && ns != ctx.ns {
            return Err(bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        obj["metadata"]["namespace"] = json!(ctx.ns);
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    let name = meta_str(obj, "name");
    if need_name && name != ctx.name {
        return Err(bad_request(&format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            ctx.name
        )));
    }
    Ok(())
}

fn namespace_exists(store: &Store, kind: &Kind, ns: &str) -> Result<()> {
    if kind.namespaced {
        let nsk = store::kind_by_name("Namespace").unwrap();
        if store.get(nsk, "", ns).is_none() {
            return Err(not_found(nsk, ns));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Verbs

/// Which objects of a kind a list or watch is about.
pub struct Filter {
    pub kind: &'static Kind,
    pub namespace: Option<String>,
    labels: Vec<LabelReq>,
    fields: Vec<(String, bool, String)>,
}

impl Filter {
    fn new(ctx: &Ctx) -> Result<Filter> {
        Ok(Filter {
            kind: ctx.kind,
            namespace: (!ctx.ns.is_empty()).then(|| ctx.ns.clone()),
            labels: parse_label_selector(
                ctx.query.get("labelSelector").map_or("", String::as_str),
            )?,
            fields: parse_field_selector(
                ctx.kind,
                ctx.query.get("fieldSelector").map_or("", String::as_str),
            )?,
        })
    }

    pub fn matches(&self, o: &Value) -> bool {
        let ns = o["metadata"]["namespace"].as_str().unwrap_or("");
        self.namespace.as_deref().is_none_or(|n| n == ns)
            && self
                .labels
                .iter()
                .all(|r| r.matches(&o["metadata"]["labels"]))
            && self.fields.iter().all(|(f, op_eq, v)| {
                let actual = match f.as_str() {
                    "metadata.name" => o["metadata"]["name"].as_str().unwrap_or(""),
                    "metadata.namespace" => ns,
                    "type" => o["type"].as_str().unwrap_or(""),
                    _ => "",
                };
                (actual == v) == *op_eq
            })
    }

    /// Events after `rv` that pass, as watch lines.
    pub fn events_after(&self, store: &Store, rv: u64) -> Vec<String> {
        let start = store.events.partition_point(|e| e.rv <= rv);
        store.events[start..]
            .iter()
            .filter(|e| e.kind == self.kind.kind && self.matches(&e.object))
            .map(|e| json!({"type": e.what, "object": e.object}).to_string())
            .collect()
    }
}

fn list(store: &Store, ctx: &Ctx) -> Result<(u16, Value)> {
    let filter = Filter::new(ctx)?;
    let items: Vec<Value> = store
        .list(ctx.kind, filter.namespace.as_deref())
        .into_iter()
        .filter(|o| filter.matches(o))
        .cloned()
        .collect();
    Ok((
        200,
        json!({"kind": format!("{}List", ctx.kind.kind), "apiVersion": ctx.kind.api_version(),
               "metadata": {"resourceVersion": store.rv.to_string()}, "items": items}),
    ))
}

/// A watch on a collection (`?watch=true`): with no resourceVersion (or "0"), or with
/// `sendInitialEvents=true`, the current objects come first as ADDED events (the latter closed by
/// the initial-events-end bookmark); then every change after that resourceVersion.
fn watch(store: &Store, ctx: &Ctx) -> Result<(u16, Value)> {
    let filter = Filter::new(ctx)?;
    let rv_param = ctx
        .query
        .get("resourceVersion")
        .map(String::as_str)
        .unwrap_or("");
    let send_initial = match ctx.query.get("sendInitialEvents").map(String::as_str) {
        None | Some("false") => None,
        Some("true") => Some(true),
        Some(other) => return Err(bad_request(&format!("invalid sendInitialEvents {other:?}"))),
    };
    if send_initial.is_some()
        && ctx.query.get("resourceVersionMatch").map(String::as_str) != Some("NotOlderThan")
    {
        return Err(invalid_list_options(
            "sendInitialEvents",
            "Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled and resourceVersionMatch is set to NotOlderThan",
        ));
    }
    let (from_rv, mut initial) =
        if send_initial == Some(true) || rv_param.is_empty() || rv_param == "0" {
            let objects: Vec<Value> = store
                .list(ctx.kind, filter.namespace.as_deref())
                .into_iter()
                .filter(|o| filter.matches(o))
                .map(|o| json!({"type": "ADDED", "object": with_type(ctx.kind, o)}))
                .collect();
            (store.rv, objects)
        } else {
            let rv: u64 = rv_param
                .parse()
                .map_err(|_| bad_request(&format!("invalid resource version: {rv_param}")))?;
            (rv, Vec::new())
        };
    if send_initial == Some(true) {
        initial.push(json!({"type": "BOOKMARK", "object": {
            "kind": ctx.kind.kind, "apiVersion": ctx.kind.api_version(),
            "metadata": {"resourceVersion": store.rv.to_string(),
                         "annotations": {"k8s.io/initial-events-end": "true"}}}}));
    }
    let timeout = match ctx.query.get("timeoutSeconds") {
        Some(t) => std::time::Duration::from_secs(
            t.parse()
                .map_err(|_| bad_request(&format!("invalid timeoutSeconds {t:?}")))?,
        ),
        None => std::time::Duration::from_secs(1800),
    };
    WATCH.with(|w| {
        *w.borrow_mut() = Some(Watch {
            filter,
            from_rv,
            initial,
            timeout,
        })
    });
    Ok((200, Value::Null))
}

fn invalid_list_options(field: &str, msg: &str) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        &format!("ListOptions.meta.k8s.io \"\" is invalid: {field}: {msg}"),
    )
}

enum LabelReq {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl LabelReq {
    fn matches(&self, labels: &Value) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        match self {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::Ne(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        }
    }
}

fn parse_label_selector(s: &str) -> Result<Vec<LabelReq>> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&s[start..]);
    let mut out = Vec::new();
    let bad = || {
        bad_request(&format!(
            "unable to parse requirement: invalid label selector {s:?}"
        ))
    };
    for t in terms.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        let list = |rest: &str| -> Result<Vec<String>> {
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(bad)?;
            Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
        };
        out.push(if let Some((k, v)) = t.split_once("!=") {
            LabelReq::Ne(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = t.split_once("==") {
            LabelReq::Eq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = t.split_once('=') {
            LabelReq::Eq(k.trim().into(), v.trim().into())
        } else if let Some((k, rest)) = t.split_once(" notin ") {
            LabelReq::NotIn(k.trim().into(), list(rest)?)
        } else if let Some((k, rest)) = t.split_once(" in ") {
            LabelReq::In(k.trim().into(), list(rest)?)
        } else if let Some(k) = t.strip_prefix('!') {
            LabelReq::NotExists(k.trim().into())
        } else if t.contains(|c: char| c.is_whitespace() || "()<>".contains(c)) {
            return Err(bad());
        } else {
            LabelReq::Exists(t.into())
        });
    }
    Ok(out)
}

fn parse_field_selector(kind: &Kind, s: &str) -> Result<Vec<(String, bool, String)>> {
    let mut out = Vec::new();
    for t in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (f, eq, v) = if let Some((f, v)) = t.split_once("!=") {
            (f, false, v)
        } else if let Some((f, v)) = t.split_once("==") {
            (f, true, v)
        } else if let Some((f, v)) = t.split_once('=') {
            (f, true, v)
        } else {
            return Err(bad_request(&format!(
                "invalid selector: '{s}'; can't understand '{t}'"
            )));
        };
        let known = f == "metadata.name"
            || (f == "metadata.namespace" && kind.namespaced)
            || (f == "type" && kind.kind == "Secret");
        if !known {
            return Err(bad_request(&format!("field label not supported: {f}")));
        }
        out.push((f.to_string(), eq, v.to_string()));
    }
    Ok(out)
}

fn create(store: &mut Store, ctx: &Ctx) -> Result<(u16, Value)> {
    let mut obj = decode_body(ctx)?;
    check_type(ctx.kind, &obj)?;
    check_identity(ctx, &mut obj, false)?;
    if meta_str(&obj, "name").is_empty() {
        let gen = meta_str(&obj, "generateName");
        if gen.is_empty() {
            return Err(invalid(
                ctx.kind,
                "",
                &[(
                    "metadata.name".into(),
                    "Required value: name or generateName is required".into(),
                )],
            ));
        }
        let suffix: String = (0..5)
            .map(|i| {
                let n = (store.rv as usize * 7 + i * 13 + now_unix() as usize) % 27;
                b"bcdfghjklmnpqrstvwxz2456789"[n] as char
            })
            .collect();
        obj["metadata"]["name"] = json!(format!("{gen}{suffix}"));
    }
    if !meta_str(&obj, "resourceVersion").is_empty() {
        return Err(ApiError::new(
            500,
            "InternalError",
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let name = meta_str(&obj, "name");
    namespace_exists(store, ctx.kind, &ctx.ns)?;
    if store.get(ctx.kind, &ctx.ns, &name).is_some() {
        return Err(ApiError::new(
            409,
            "AlreadyExists",
            &format!("{} {name:?} already exists", ctx.kind.qualified()),
        )
        .details(details(&name, ctx.kind.group, ctx.kind.resource)));
    }
    let manager = ctx.field_manager()?;
    prepare_create(ctx, &mut obj)?;
    update_ownership(ctx.kind, None, &mut obj, &manager, None);
    commit(store, ctx, None, obj)
}

/// What the real strategies' PrepareForCreate do.
fn prepare_create(ctx: &Ctx, obj: &mut Value) -> Result<()> {
    if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    if ctx.kind.status && !matches!(ctx.kind.kind, "Node" | "Namespace") {
        if let Some(m) = obj.as_object_mut() {
            m.remove("status");
        }
    }
    if ctx.kind.kind == "CertificateSigningRequest" {
        let spec = &mut obj["spec"];
        if spec.is_object() {
            spec["username"] = json!(ctx.user.name);
            spec["groups"] = json!(ctx.user.groups);
            if let Some(m) = spec.as_object_mut() {
                m.remove("uid");
                m.remove("extra");
            }
        }
    }
    Ok(())
}

fn update(store: &mut Store, ctx: &Ctx) -> Result<(u16, Value)> {
    let mut obj = decode_body(ctx)?;
    check_type(ctx.kind, &obj)?;
    check_identity(ctx, &mut obj, true)?;
    let Some(old) = store
        .get(ctx.kind, &ctx.ns, &ctx.name)
        .map(|o| with_type(ctx.kind, o))
    else {
        if ctx.kind.create_on_update() {
            authorize_create(store, ctx)?;
            namespace_exists(store, ctx.kind, &ctx.ns)?;
            if !meta_str(&obj, "resourceVersion").is_empty() {
                return Err(not_found(ctx.kind, &ctx.name));
            }
            let manager = ctx.field_manager()?;
            prepare_create(ctx, &mut obj)?;
            update_ownership(ctx.kind, None, &mut obj, &manager, None);
            return commit(store, ctx, None, obj);
        }
        return Err(not_found(ctx.kind, &ctx.name));
    };
    let rv = meta_str(&obj, "resourceVersion");
    if !rv.is_empty() && rv != meta_str(&old, "resourceVersion") {
        return Err(conflict(ctx.kind, &ctx.name));
    }
    uid_precondition(ctx, &old, &obj)?;
    let manager = ctx.field_manager()?;
    obj["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
    keep_server_fields(ctx.kind, &old, &mut obj);
    update_ownership(ctx.kind, Some(&old), &mut obj, &manager, None);
    commit(store, ctx, Some(&old), obj)
}

/// Fields only the server sets, carried over from the stored object.
fn keep_server_fields(kind: &Kind, old: &Value, new: &mut Value) {
    for f in ["uid", "creationTimestamp", "generation", "resourceVersion"] {
        match old["metadata"].get(f) {
            Some(v) => new["metadata"][f] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(f);
                }
            }
        }
    }
    if kind.status {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    if kind.kind == "CertificateSigningRequest" {
        new["spec"] = old["spec"].clone();
    }
}

fn patch(store: &mut Store, ctx: &Ctx) -> Result<(u16, Value)> {
    let ct = ctx
        .req
        .content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if ct == "application/apply-patch+yaml" {
        return apply(store, ctx);
    }
    let text =
        std::str::from_utf8(ctx.req.body).map_err(|_| bad_request("the body is not UTF-8"))?;
    let old = store
        .get(ctx.kind, &ctx.ns, &ctx.name)
        .map(|o| with_type(ctx.kind, o));
    let Some(old) = old else {
        if !matches!(
            ct.as_str(),
            "application/merge-patch+json"
                | "application/json-patch+json"
                | "application/strategic-merge-patch+json"
        ) {
            return Err(unsupported_patch(&ct));
        }
        return Err(not_found(ctx.kind, &ctx.name));
    };
    let mut new = old.clone();
    let patch_json = || -> Result<Value> {
        serde_json::from_str(text).map_err(|e| bad_request(&format!("error decoding patch: {e}")))
    };
    match ct.as_str() {
        "application/merge-patch+json" => {
            let p = patch_json()?;
            if !p.is_object() {
                return Err(bad_request("merge patch must be a JSON object"));
            }
            json_patch::merge(&mut new, &p);
        }
        "application/strategic-merge-patch+json" => {
            let p = patch_json()?;
            super::patch::strategic_merge(&mut new, &p)
                .map_err(|e| ApiError::new(422, "Invalid", &e))?;
        }
        "application/json-patch+json" => {
            let p: json_patch::Patch = serde_json::from_value(patch_json()?)
                .map_err(|e| bad_request(&format!("error decoding patch: {e}")))?;
            json_patch::patch(&mut new, &p).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    &format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
        }
        _ => return Err(unsupported_patch(&ct)),
    }
    if !new.is_object() || !new["metadata"].is_object() {
        return Err(bad_request(
            "the patched object is not an object with metadata",
        ));
    }
    if new["kind"] != old["kind"] || new["apiVersion"] != old["apiVersion"] {
        return Err(bad_request("the patch changes apiVersion or kind"));
    }
    if meta_str(&new, "name") != ctx.name
        || meta_str(&new, "namespace") != meta_str(&old, "namespace")
    {
        return Err(bad_request(&format!(
            "the name of the object ({}) does not match the name on the URL ({})",
            meta_str(&new, "name"),
            ctx.name
        )));
    }
    let rv = meta_str(&new, "resourceVersion");
    if rv != meta_str(&old, "resourceVersion") {
        return Err(conflict(ctx.kind, &ctx.name));
    }
    uid_precondition(ctx, &old, &new)?;
    let manager = ctx.field_manager()?;
    new["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
    keep_server_fields(ctx.kind, &old, &mut new);
    update_ownership(ctx.kind, Some(&old), &mut new, &manager, None);
    commit(store, ctx, Some(&old), new)
}

/// A field path as structured-merge-diff prints it: `.spec.containers[name="a"].image`.
fn display_path(p: &[String]) -> String {
    let mut out = String::new();
    for seg in p {
        if let Some(key) = seg.strip_prefix("k:") {
            let key: serde_json::Map<String, Value> = serde_json::from_str(key).unwrap_or_default();
            let parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out += &format!("[{}]", parts.join(","));
        } else if let Some(v) = seg.strip_prefix("v:") {
            out += &format!("[={v}]");
        } else {
            out += &format!(".{seg}");
        }
    }
    out
}

/// An update or apply that creates needs `create` too (the real handlers wrap their create
/// validation in an authorization check).
fn authorize_create(store: &Store, ctx: &Ctx) -> Result<()> {
    let attrs = Attributes {
        verb: "create".into(),
        resource_request: true,
        api_group: ctx.kind.group.into(),
        resource: ctx.kind.resource.into(),
        subresource: String::new(),
        namespace: ctx.ns.clone(),
        name: ctx.name.clone(),
        path: String::new(),
    };
    if rbac::allowed(store, ctx.user, &attrs) {
        return Ok(());
    }
    Err(
        ApiError::new(403, "Forbidden", &rbac::forbidden_message(ctx.user, &attrs))
            .details(details(&ctx.name, ctx.kind.group, ctx.kind.resource)),
    )
}

/// A uid in the body is a precondition.
fn uid_precondition(ctx: &Ctx, old: &Value, new: &Value) -> Result<()> {
    let uid = meta_str(new, "uid");
    if !uid.is_empty() && uid != meta_str(old, "uid") {
        return Err(ApiError::new(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on {} {:?}: Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                ctx.kind.qualified(),
                ctx.name,
                meta_str(old, "uid")
            ),
        ));
    }
    Ok(())
}

fn unsupported_patch(ct: &str) -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        &format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {ct:?})"),
    )
}

/// Server-side apply.
fn apply(store: &mut Store, ctx: &Ctx) -> Result<(u16, Value)> {
    let manager = match ctx.query.get("fieldManager") {
        Some(m) if !m.is_empty() => m.clone(),
        _ => {
            return Err(invalid_options(
                "fieldManager",
                "Required value: is required for apply patch",
            ))
        }
    };
    if manager.len() > 128 {
        return Err(invalid_options(
            "fieldManager",
            "must be no more than 128 characters",
        ));
    }
    let force = match ctx.query.get("force").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(bad_request("force must be true or false")),
    };
    let text =
        std::str::from_utf8(ctx.req.body).map_err(|_| bad_request("the body is not UTF-8"))?;
    let mut config = super::patch::yaml_to_json(text)
        .map_err(|e| bad_request(&format!("error decoding YAML: {e}")))?;
    if !config.is_object() {
        return Err(bad_request("the apply configuration must be an object"));
    }
    check_type(ctx.kind, &config)?;
    if !config["metadata"].is_object() {
        config["metadata"] = json!({});
    }
    let name = meta_str(&config, "name");
    if !name.is_empty() && name != ctx.name {
        return Err(bad_request(&format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            ctx.name
        )));
    }
    config["metadata"]["name"] = json!(ctx.name);
    check_identity(ctx, &mut config, true)?;
    if config["metadata"]
        .get("managedFields")
        .is_some_and(|m| !m.is_null())
    {
        return Err(bad_request("metadata.managedFields must be nil"));
    }
    let old = store
        .get(ctx.kind, &ctx.ns, &ctx.name)
        .map(|o| with_type(ctx.kind, o));
    let rv = meta_str(&config, "resourceVersion");
    if !rv.is_empty()
        && old
            .as_ref()
            .is_none_or(|o| meta_str(o, "resourceVersion") != rv)
    {
        return Err(conflict(ctx.kind, &ctx.name));
    }
    if let Some(m) = config["metadata"].as_object_mut() {
        for f in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
            "selfLink",
        ] {
            m.remove(f);
        }
    }
    let now = rfc3339(now_unix());
    let Some(old) = old else {
        authorize_create(store, ctx)?;
        namespace_exists(store, ctx.kind, &ctx.ns)?;
        let mut obj = config.clone();
        prepare_create(ctx, &mut obj)?;
        let paths = field_paths(ctx.kind, &obj);
        set_managed(
            ctx.kind,
            &mut obj,
            &[Managed {
                manager,
                operation: "Apply".into(),
                paths,
                time: now,
                subresource: None,
            }],
        );
        return commit(store, ctx, None, obj);
    };
    if ctx.kind.status {
        if let Some(m) = config.as_object_mut() {
            m.remove("status");
        }
    }
    let mut managed = managed_of(&old);
    let cfg_paths = field_paths(ctx.kind, &config);
    let mine = |m: &Managed| m.manager == manager && m.operation == "Apply";
    let mut conflicts: BTreeMap<String, BTreeSet<Vec<String>>> = BTreeMap::new();
    for m in managed.iter().filter(|m| !mine(m)) {
        for p in &m.paths {
            for q in cfg_paths.iter().filter(|q| overlaps(p, q)) {
                let short = if p.len() <= q.len() { p } else { q };
                if get_path(&old, short) != get_path(&config, short) {
                    conflicts
                        .entry(m.manager.clone())
                        .or_default()
                        .insert(q.clone());
                }
            }
        }
    }
    if !conflicts.is_empty() && !force {
        let n: usize = conflicts.values().map(BTreeSet::len).sum();
        let mut lines = Vec::new();
        let mut causes = Vec::new();
        for (m, paths) in &conflicts {
            for p in paths {
                let field = display_path(p);
                lines.push((m.clone(), field.clone()));
                causes.push(json!({"reason": "FieldManagerConflict",
                    "message": format!("conflict with {m:?} using {}", ctx.kind.api_version()), "field": field}));
            }
        }
        let message = if n == 1 {
            format!(
                "Apply failed with 1 conflict: conflict with {:?} using {}: {}",
                lines[0].0,
                ctx.kind.api_version(),
                lines[0].1
            )
        } else {
            let mut s = format!("Apply failed with {n} conflicts: ");
            for (m, paths) in &conflicts {
                s += &format!("conflicts with {m:?} using {}:", ctx.kind.api_version());
                for p in paths {
                    s += &format!("\n- {}", display_path(p));
                }
                s += "\n";
            }
            s.trim_end().to_string()
        };
        let mut d = details(&ctx.name, ctx.kind.group, ctx.kind.resource);
        d["causes"] = json!(causes);
        return Err(ApiError::new(409, "Conflict", &message).details(d));
    }
    if force {
        for m in managed
            .iter_mut()
            .filter(|m| !(m.manager == manager && m.operation == "Apply"))
        {
            if let Some(taken) = conflicts.get(&m.manager) {
                m.paths.retain(|p| !taken.iter().any(|q| overlaps(p, q)));
            }
        }
    }
    let mut new = old.clone();
    let prev: BTreeSet<Vec<String>> = managed
        .iter()
        .find(|m| mine(m))
        .map(|m| m.paths.clone())
        .unwrap_or_default();
    let owned_by_other = |p: &[String]| {
        managed
            .iter()
            .filter(|m| !mine(m))
            .any(|m| m.paths.iter().any(|o| overlaps(o, p)))
    };
    // List elements the manager stops applying go when nobody else owns anything in them.
    let mut elements: BTreeSet<Vec<String>> = BTreeSet::new();
    for p in &prev {
        for (i, seg) in p.iter().enumerate() {
            if seg.starts_with("k:") || seg.starts_with("v:") {
                elements.insert(p[..=i].to_vec());
            }
        }
    }
    let dropped: Vec<Vec<String>> = elements
        .into_iter()
        .filter(|e| {
            !cfg_paths
                .iter()
                .any(|q| q.len() >= e.len() && q[..e.len()] == e[..])
                && !owned_by_other(e)
        })
        .collect();
    for e in dropped.iter().rev() {
        remove_path(&mut new, e);
    }
    // Then the fields it stops applying, except in dropped elements and the key fields of the
    // elements that stay.
    for p in prev.difference(&cfg_paths) {
        let in_dropped = dropped
            .iter()
            .any(|e| p.len() >= e.len() && p[..e.len()] == e[..]);
        let is_key = p.len() >= 2
            && p[p.len() - 2].strip_prefix("k:").is_some_and(|k| {
                serde_json::from_str::<serde_json::Map<String, Value>>(k)
                    .is_ok_and(|k| k.contains_key(&p[p.len() - 1]))
            });
        if !in_dropped && !is_key && !owned_by_other(p) {
            remove_path(&mut new, p);
        }
    }
    store::merge_apply(ctx.kind, &mut new, &config, &mut Vec::new());
    match managed.iter_mut().find(|m| mine(m)) {
        Some(m) => {
            if m.paths != cfg_paths {
                m.time = now;
            }
            m.paths = cfg_paths;
        }
        None => managed.push(Managed {
            manager,
            operation: "Apply".into(),
            paths: cfg_paths,
            time: now,
            subresource: None,
        }),
    }
    keep_server_fields(ctx.kind, &old, &mut new);
    set_managed(ctx.kind, &mut new, &managed);
    commit(store, ctx, Some(&old), new)
}

fn delete(store: &mut Store, ctx: &Ctx) -> Result<(u16, Value)> {
    let Some(old) = store.get(ctx.kind, &ctx.ns, &ctx.name).cloned() else {
        return Err(not_found(ctx.kind, &ctx.name));
    };
    if !ctx.req.body.is_empty() {
        let opts: Value = serde_json::from_slice(ctx.req.body)
            .map_err(|e| bad_request(&format!("DeleteOptions: {e}")))?;
        let pre = &opts["preconditions"];
        if let Some(rv) = pre["resourceVersion"].as_str() {
            if rv != meta_str(&old, "resourceVersion") {
                return Err(ApiError::new(
                    409,
                    "Conflict",
                    &format!(
                        "Operation cannot be fulfilled on {} {:?}: Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        ctx.kind.qualified(), ctx.name, meta_str(&old, "resourceVersion")
                    ),
                ));
            }
        }
        if let Some(uid) = pre["uid"].as_str() {
            if uid != meta_str(&old, "uid") {
                return Err(ApiError::new(
                    409,
                    "Conflict",
                    &format!(
                        "Operation cannot be fulfilled on {} {:?}: Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        ctx.kind.qualified(), ctx.name, meta_str(&old, "uid")
                    ),
                ));
            }
        }
    }
    if ctx.dry_run() {
        return Ok((200, with_type(ctx.kind, &old)));
    }
    if ctx.kind.kind == "Namespace" {
        let inside: Vec<(&'static str, String)> = store
            .objects
            .keys()
            .filter(|(_, ns, _)| ns == &ctx.name)
            .map(|(k, _, n)| (*k, n.clone()))
            .collect();
        for (k, n) in inside {
            store.remove(store::kind_by_name(k).unwrap(), &ctx.name, &n);
        }
    }
    store.remove(ctx.kind, &ctx.ns, &ctx.name);
    super::controllers::sync(store);
    let mut d = details(&ctx.name, ctx.kind.group, ctx.kind.resource);
    d["uid"] = json!(meta_str(&old, "uid"));
    Ok((
        200,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": d}),
    ))
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Checks and stores a write. `new` has its managedFields already; `old` is the stored object.
fn commit(
    store: &mut Store,
    ctx: &Ctx,
    old: Option<&Value>,
    mut new: Value,
) -> Result<(u16, Value)> {
    let kind = ctx.kind;
    let name = meta_str(&new, "name");
    match old {
        Some(o) => keep_server_fields(kind, o, &mut new),
        None => {
            new["metadata"]["uid"] = json!(store.next_uid());
            new["metadata"]["creationTimestamp"] = json!(rfc3339(now_unix()));
            if kind.has_generation() {
                new["metadata"]["generation"] = json!(1);
            }
        }
    }
    if let Some(m) = new["metadata"].as_object_mut() {
        m.remove("selfLink");
        m.remove("deletionTimestamp");
    }
    kind_rules(store, ctx, old, &mut new)?;
    let mut causes = Vec::new();
    for e in validate::name_errors(kind.name_rule, &name) {
        causes.push((
            "metadata.name".to_string(),
            format!("Invalid value: {name:?}: {e}"),
        ));
    }
    if let Some(ann) = new["metadata"]["annotations"].as_object() {
        let total: usize = ann
            .iter()
            .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
            .sum();
        if total > 262_144 {
            causes.push((
                "metadata.annotations".into(),
                "Too long: must have at most 262144 bytes".into(),
            ));
        }
        for (k, e) in validate::label_errors(&json!(ann
            .keys()
            .map(|k| (k.clone(), json!("")))
            .collect::<serde_json::Map<_, _>>()))
        {
            causes.push((
                "metadata.annotations".into(),
                format!("Invalid value: {k:?}: {e}"),
            ));
        }
    }
    if matches!(kind.kind, "ConfigMap" | "Secret") {
        let mut total = 0usize;
        for field in ["data", "binaryData"] {
            if let Some(d) = new[field].as_object() {
                for (k, v) in d {
                    let len = v.as_str().map_or(0, |s| {
                        if kind.kind == "Secret" || field == "binaryData" {
                            b64_decode(s).map_or(s.len(), |b| b.len())
                        } else {
                            s.len()
                        }
                    });
                    total += k.len() + len;
                }
            }
        }
        if total > 1_048_576 {
            causes.push((
                "data".into(),
                "Too long: must have at most 1048576 bytes".into(),
            ));
        }
    }
    for (k, e) in validate::label_errors(&new["metadata"]["labels"]) {
        causes.push(("metadata.labels".to_string(), format!("{k}: {e}")));
    }
    if !causes.is_empty() {
        return Err(invalid(kind, &name, &causes));
    }
    if let Some((code, reason, msg)) =
        rbac::escalation_check(store, ctx.user, kind.kind, &ctx.ns, &new)
    {
        return Err(ApiError::new(code, reason, &msg).details(details(
            &name,
            kind.group,
            kind.resource,
        )));
    }
    if let Some(o) = old {
        if kind.has_generation() && o.get("spec") != new.get("spec") {
            let g = o["metadata"]["generation"].as_i64().unwrap_or(1);
            new["metadata"]["generation"] = json!(g + 1);
        }
        if same_ignoring_times(o, &new) {
            return Ok((200, o.clone()));
        }
    }
    if let Err(e) = ctx.validator.check(&new) {
        let (field, msg) = match e.split_once(": ") {
            Some((f, m)) if !f.contains(' ') => (f.to_string(), m.to_string()),
            _ => (String::new(), e.clone()),
        };
        return Err(invalid(kind, &name, &[(field, msg)]));
    }
    let code = if old.is_some() { 200 } else { 201 };
    if ctx.dry_run() {
        return Ok((code, new));
    }
    let stored = store.put(kind, new);
    super::controllers::sync(store);
    Ok((code, stored))
}

/// Stores an object as an administrator would, bypassing authorization (for test setup).
pub fn insert_direct(store: &mut Store, validator: &Validator, obj: Value) -> Result<()> {
    let kind = store::kind_by_name(obj["kind"].as_str().unwrap_or(""))
        .ok_or_else(|| bad_request("unknown kind"))?;
    let ns = meta_str(&obj, "namespace");
    let name = meta_str(&obj, "name");
    let body = serde_json::to_vec(&obj).unwrap();
    let admin = UserInfo {
        name: "test-setup".into(),
        groups: vec!["system:masters".into(), "system:authenticated".into()],
    };
    let query = HashMap::new();
    let req = Req {
        method: "POST",
        uri: "",
        content_type: "application/json",
        accept: "application/json",
        user_agent: "test-setup",
        body: &body,
    };
    let ctx = Ctx {
        validator,
        user: &admin,
        kind,
        ns: if kind.namespaced { ns } else { String::new() },
        name,
        query: &query,
        req: &req,
    };
    create(store, &ctx).map(|_| ())
}

/// Replaces (or creates) an object as a controller or the kubelet would, status included, with
/// no RBAC; validated, and a real write (new resourceVersion) when anything changed.
pub fn put_direct(store: &mut Store, validator: &Validator, obj: Value) -> Result<()> {
    let kind = store::kind_by_name(obj["kind"].as_str().unwrap_or(""))
        .ok_or_else(|| bad_request("unknown kind"))?;
    let ns = if kind.namespaced {
        meta_str(&obj, "namespace")
    } else {
        String::new()
    };
    let name = meta_str(&obj, "name");
    let Some(old) = store.get(kind, &ns, &name).map(|o| with_type(kind, o)) else {
        return insert_direct(store, validator, obj);
    };
    let mut new = obj;
    for f in ["uid", "creationTimestamp", "resourceVersion"] {
        new["metadata"][f] = old["metadata"][f].clone();
    }
    if kind.has_generation() {
        new["metadata"]["generation"] = old["metadata"]["generation"].clone();
    }
    new["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
    update_ownership(kind, Some(&old), &mut new, "test-setup", None);
    if same_ignoring_times(&old, &new) {
        return Ok(());
    }
    if let Err(e) = validator.check(&new) {
        return Err(invalid(kind, &name, &[(String::new(), e)]));
    }
    store.put(kind, new);
    super::controllers::sync(store);
    Ok(())
}

/// The per-kind rules of the real server's strategies and validation that the schema does not
/// express.
/// Service defaults (type, sessionAffinity, port protocol and targetPort, IP families) and the
/// ClusterIP allocator: an IP from the service CIDR, never one another Service holds, never
/// changed once set.
fn service_rules(
    store: &Store,
    old: Option<&Value>,
    new: &mut Value,
    causes: &mut Vec<(String, String)>,
) {
    let name = meta_str(new, "name");
    let ns = meta_str(new, "namespace");
    let spec = &mut new["spec"];
    if !spec.is_object() {
        return;
    }
    if spec["type"].as_str().is_none_or(str::is_empty) {
        spec["type"] = json!("ClusterIP");
    }
    if spec["type"] == "ExternalName" {
        return;
    }
    if spec["sessionAffinity"].is_null() {
        spec["sessionAffinity"] = json!("None");
    }
    if spec["internalTrafficPolicy"].is_null() {
        spec["internalTrafficPolicy"] = json!("Cluster");
    }
    if let Some(ports) = spec["ports"].as_array_mut() {
        for p in ports {
            if p["protocol"].is_null() {
                p["protocol"] = json!("TCP");
            }
            if p["targetPort"].is_null() {
                p["targetPort"] = p["port"].clone();
            }
        }
    }
    let (net, bits) = store.service_cidr;
    let cidr = format!("{}/{bits}", std::net::Ipv4Addr::from(net));
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    let old_ip = old
        .and_then(|o| o["spec"]["clusterIP"].as_str())
        .unwrap_or("")
        .to_string();
    let mut ip = spec["clusterIP"].as_str().unwrap_or("").to_string();
    if ip.is_empty() {
        if let Some(first) = spec["clusterIPs"].get(0).and_then(Value::as_str) {
            ip = first.to_string();
        }
    }
    if !old_ip.is_empty() {
        if ip.is_empty() {
            ip = old_ip.clone();
        } else if ip != old_ip {
            causes.push((
                "spec.clusterIPs[0]".into(),
                format!("Invalid value: {ip:?}: may not change once set"),
            ));
            return;
        }
    } else if ip == "None" {
        // headless
    } else {
        let held: BTreeSet<String> = store
            .list(store::kind_by_name("Service").unwrap(), None)
            .into_iter()
            .filter(|o| {
                !(o["metadata"]["name"] == name.as_str()
                    && o["metadata"]["namespace"] == ns.as_str())
            })
            .filter_map(|o| o["spec"]["clusterIP"].as_str().map(str::to_string))
            .collect();
        if ip.is_empty() {
            let size = 1u64 << (32 - bits as u64);
            let free = (1..size.saturating_sub(1))
                .map(|i| std::net::Ipv4Addr::from(net + i as u32).to_string())
                .find(|c| !held.contains(c));
            match free {
                Some(f) => ip = f,
                None => {
                    causes.push((
                        "spec.clusterIPs".into(),
                        "Internal error: range is full".into(),
                    ));
                    return;
                }
            }
        } else {
            let parsed: Option<std::net::Ipv4Addr> = ip.parse().ok();
            match parsed {
                None => causes.push(("spec.clusterIPs[0]".into(), format!("Invalid value: {ip:?}: must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))),
                Some(a) if u32::from(a) & mask != net => causes.push(("spec.clusterIPs".into(), format!("Invalid value: [\"{ip}\"]: failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {cidr}"))),
                Some(_) if held.contains(&ip) => causes.push(("spec.clusterIPs".into(), format!("Invalid value: [\"{ip}\"]: failed to allocate IP {ip}: provided IP is already allocated"))),
                Some(_) => {}
            }
        }
    }
    if let Some(ips) = spec["clusterIPs"].as_array() {
        if ips.first().and_then(Value::as_str).is_some_and(|f| f != ip) {
            causes.push((
                "spec.clusterIPs".into(),
                format!(
                    "Invalid value: {}: must match clusterIP",
                    spec["clusterIPs"]
                ),
            ));
        }
    }
    spec["clusterIP"] = json!(ip);
    spec["clusterIPs"] = json!([ip]);
    if ip != "None" {
        if spec["ipFamilies"].is_null() {
            spec["ipFamilies"] = json!(["IPv4"]);
        }
        if spec["ipFamilyPolicy"].is_null() {
            spec["ipFamilyPolicy"] = json!("SingleStack");
        }
    }
}

fn kind_rules(_store: &Store, ctx: &Ctx, old: Option<&Value>, new: &mut Value) -> Result<()> {
    let kind = ctx.kind;
    let name = meta_str(new, "name");
    let mut causes: Vec<(String, String)> = Vec::new();
    let immutable_flag = |o: Option<&Value>| o.is_some_and(|o| o["immutable"] == true);
    match kind.kind {
        "Secret" => {
            if let Some(Value::Object(sd)) = new.get("stringData").cloned() {
                if !new["data"].is_object() {
                    new["data"] = json!({});
                }
                for (k, v) in sd {
                    let s = v
                        .as_str()
                        .ok_or_else(|| bad_request("stringData values must be strings"))?;
                    new["data"][k] = json!(b64_encode(s.as_bytes()));
                }
            }
            if let Some(m) = new.as_object_mut() {
                m.remove("stringData");
            }
            if new
                .get("type")
                .is_none_or(|t| t.as_str().is_none_or(str::is_empty))
            {
                new["type"] = json!("Opaque");
            }
            if let Some(data) = new["data"].as_object() {
                for (k, v) in data {
                    let ok = v.as_str().is_some_and(|s| b64_decode(s).is_some());
                    if !ok {
                        return Err(bad_request(&format!(
                            "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data in data[{k:?}]"
                        )));
                    }
                    if !validate::config_key_ok(k) {
                        causes.push((format!("data[{k}]"), format!("Invalid value: {k:?}: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")));
                    }
                }
            }
            if let Some(o) = old {
                if o["type"] != new["type"] {
                    causes.push((
                        "type".into(),
                        format!("Invalid value: {}: field is immutable", new["type"]),
                    ));
                }
                if immutable_flag(old) {
                    if o.get("data") != new.get("data") {
                        causes.push((
                            "data".into(),
                            "Forbidden: field is immutable when `immutable` is set".into(),
                        ));
                    }
                    if new["immutable"] != true {
                        causes.push((
                            "immutable".into(),
                            "Forbidden: field is immutable when `immutable` is set".into(),
                        ));
                    }
                }
            }
        }
        "ConfigMap" => {
            let mut keys = BTreeSet::new();
            for field in ["data", "binaryData"] {
                if let Some(d) = new[field].as_object() {
                    for (k, v) in d {
                        if !validate::config_key_ok(k) {
                            causes.push((format!("{field}[{k}]"), format!("Invalid value: {k:?}: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")));
                        }
                        if !keys.insert(k.clone()) {
                            causes.push((
                                format!("{field}[{k}]"),
                                format!("Invalid value: {k:?}: duplicate of key present in data"),
                            ));
                        }
                        if field == "binaryData"
                            && v.as_str().is_none_or(|s| b64_decode(s).is_none())
                        {
                            return Err(bad_request(&format!(
                                "illegal base64 data in binaryData[{k:?}]"
                            )));
                        }
                    }
                }
            }
            if let Some(o) = old {
                if immutable_flag(old) {
                    if o.get("data") != new.get("data")
                        || o.get("binaryData") != new.get("binaryData")
                    {
                        causes.push((
                            "data".into(),
                            "Forbidden: field is immutable when `immutable` is set".into(),
                        ));
                    }
                    if new["immutable"] != true {
                        causes.push((
                            "immutable".into(),
                            "Forbidden: field is immutable when `immutable` is set".into(),
                        ));
                    }
                }
            }
        }
        "Namespace" => {
            if !new["metadata"]["labels"].is_object() {
                new["metadata"]["labels"] = json!({});
            }
            new["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            if new["spec"]["finalizers"].is_null() {
                new["spec"]["finalizers"] = json!(["kubernetes"]);
            }
            if old.is_none() {
                new["status"] = json!({"phase": "Active"});
            }
        }
        "Service" => {
            service_rules(_store, old, new, &mut causes);
            super::checks::service(new, &mut causes);
        }
        "Node" => super::checks::node(new, &mut causes),
        "Role" | "ClusterRole" => super::checks::rbac_rules(new, kind.kind == "Role", &mut causes),
        "RoleBinding" | "ClusterRoleBinding" => {
            let rr = &new["roleRef"];
            if rr["apiGroup"] != "rbac.authorization.k8s.io" {
                causes.push((
                    "roleRef.apiGroup".into(),
                    format!(
                        "Unsupported value: {}: supported values: \"rbac.authorization.k8s.io\"",
                        rr["apiGroup"]
                    ),
                ));
            }
            let ok_kinds: &[&str] = if kind.kind == "RoleBinding" {
                &["Role", "ClusterRole"]
            } else {
                &["ClusterRole"]
            };
            if !rr["kind"].as_str().is_some_and(|k| ok_kinds.contains(&k)) {
                causes.push((
                    "roleRef.kind".into(),
                    format!(
                        "Unsupported value: {}: supported values: {}",
                        rr["kind"],
                        ok_kinds
                            .iter()
                            .map(|k| format!("{k:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if rr["name"].as_str().is_none_or(str::is_empty) {
                causes.push(("roleRef.name".into(), "Required value".into()));
            }
            if let Some(subjects) = new["subjects"].as_array() {
                for (i, s) in subjects.iter().enumerate() {
                    match s["kind"].as_str().unwrap_or("") {
                        "ServiceAccount" => {
                            if kind.kind == "ClusterRoleBinding" && s["namespace"].as_str().is_none_or(str::is_empty) {
                                causes.push((format!("subjects[{i}].namespace"), "Required value".into()));
                            }
                            if s.get("apiGroup").and_then(Value::as_str).is_some_and(|g| !g.is_empty()) {
                                causes.push((format!("subjects[{i}].apiGroup"), format!("Unsupported value: {}: supported values: \"\"", s["apiGroup"])));
                            }
                        }
                        "User" | "Group" => {
                            if s["apiGroup"] != "rbac.authorization.k8s.io" {
                                causes.push((format!("subjects[{i}].apiGroup"), format!("Unsupported value: {}: supported values: \"rbac.authorization.k8s.io\"", s["apiGroup"])));
                            }
                        }
                        other => causes.push((format!("subjects[{i}].kind"), format!("Unsupported value: {other:?}: supported values: \"ServiceAccount\", \"User\", \"Group\""))),
                    }
                    if s["name"].as_str().is_none_or(str::is_empty) {
                        causes.push((format!("subjects[{i}].name"), "Required value".into()));
                    }
                }
            }
            if let Some(o) = old {
                if o["roleRef"] != new["roleRef"] {
                    causes.push((
                        "roleRef".into(),
                        format!("Invalid value: {}: cannot change roleRef", new["roleRef"]),
                    ));
                }
            }
        }
        "Deployment" | "DaemonSet" => {
            super::checks::pod_spec(
                &new["spec"]["template"]["spec"],
                "spec.template.spec",
                &mut causes,
            );
            if new["spec"]["replicas"].as_i64().is_some_and(|r| r < 0) {
                causes.push((
                    "spec.replicas".into(),
                    format!(
                        "Invalid value: {}: must be greater than or equal to 0",
                        new["spec"]["replicas"]
                    ),
                ));
            }
            let selector = &new["spec"]["selector"];
            let labels = &new["spec"]["template"]["metadata"]["labels"];
            if let Some(ml) = selector["matchLabels"].as_object() {
                if ml.iter().any(|(k, v)| labels.get(k) != Some(v)) {
                    causes.push((
                        "spec.template.metadata.labels".into(),
                        format!(
                            "Invalid value: {labels}: `selector` does not match template `labels`"
                        ),
                    ));
                }
            }
            if selector.is_object() && selector.as_object().unwrap().is_empty() {
                causes.push((
                    "spec.selector".into(),
                    "Invalid value: {}: empty selector is invalid for deployment".into(),
                ));
            }
            if let Some(o) = old {
                if o["spec"]["selector"] != new["spec"]["selector"] {
                    causes.push((
                        "spec.selector".into(),
                        format!(
                            "Invalid value: {}: field is immutable",
                            new["spec"]["selector"]
                        ),
                    ));
                }
            }
        }
        "CertificateSigningRequest" if old.is_none() => {
            let req = new["spec"]["request"].as_str().and_then(b64_decode);
            let ok = req.as_deref().is_some_and(|pem| {
                openssl::x509::X509Req::from_pem(pem)
                    .is_ok_and(|r| r.public_key().is_ok_and(|k| r.verify(&k).unwrap_or(false)))
            });
            if !ok {
                causes.push((
                    "spec.request".into(),
                    "Invalid value: []byte{...}: PEM block type must be CERTIFICATE REQUEST".into(),
                ));
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(invalid(kind, &name, &causes))
    }
}
