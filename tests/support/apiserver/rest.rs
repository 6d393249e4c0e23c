//! Requests: the request info (k8s.io/apiserver RequestInfoFactory), authorization, then the
//! REST verbs on the store, discovery and the health and version endpoints.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::apply::apply;
use super::auth::UserInfo;
use super::discovery::non_resource;
use super::rbac::{self, Attributes};
use super::select::{list, watch, Filter};
use super::store::{
    self, b64_decode, kind_by_resource, now_unix, rfc3339, same_ignoring_times, update_ownership,
    with_type, Kind, Store,
};
use super::strategy::kind_rules;
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

    pub fn details(mut self, details: Value) -> ApiError {
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

pub type Result<T> = std::result::Result<T, ApiError>;

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

pub fn bad_request(msg: &str) -> ApiError {
    ApiError::new(400, "BadRequest", msg)
}

pub fn not_found(kind: &Kind, name: &str) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        &format!("{} {name:?} not found", kind.qualified()),
    )
    .details(details(name, kind.group, kind.resource))
}

pub fn page_not_found() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
    .details(json!({}))
}

pub fn conflict(kind: &Kind, name: &str) -> ApiError {
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
pub fn invalid(kind: &Kind, name: &str, causes: &[(String, String)]) -> ApiError {
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
    pub static WATCH: std::cell::RefCell<Option<Watch>> = const { std::cell::RefCell::new(None) };
}

pub fn percent_decode(s: &str) -> String {
    decode(s, true)
}

pub fn path_decode(s: &str) -> String {
    decode(s, false)
}

/// %XX escapes; `+` is a space only in queries.
pub fn decode(s: &str, plus_is_space: bool) -> String {
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
pub struct Info {
    attrs: Attributes,
    group: String,
    version: String,
}

pub fn request_info(method: &str, path: &str, query: &HashMap<String, String>) -> Info {
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

pub fn handle_inner(state: &State, user: &UserInfo, req: &Req) -> Result<(u16, Value)> {
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
    if (info.group.as_str(), info.version.as_str()) == ("authorization.k8s.io", "v1")
        && matches!(
            a.resource.as_str(),
            "selfsubjectaccessreviews" | "subjectaccessreviews"
        )
        && a.subresource.is_empty()
        && a.namespace.is_empty()
    {
        if a.verb != "create" || !a.name.is_empty() {
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            ));
        }
        return rbac::access_review(&store, user, &a.resource, req.body);
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
pub fn accepts_json(accept: &str) -> bool {
    accept.trim().is_empty()
        || accept.split(',').any(|entry| {
            let mut parts = entry.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            let as_other = parts.any(|p| p.starts_with("as="));
            matches!(media, "application/json" | "application/*" | "*/*") && !as_other
        })
}

pub struct Ctx<'a> {
    pub validator: &'a Validator,
    pub user: &'a UserInfo,
    pub kind: &'static Kind,
    pub ns: String,
    pub name: String,
    pub query: &'a HashMap<String, String>,
    pub req: &'a Req<'a>,
}

impl Ctx<'_> {
    pub fn dry_run(&self) -> bool {
        self.query.get("dryRun").is_some_and(|d| d == "All")
    }

    pub fn field_manager(&self) -> Result<String> {
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

pub fn invalid_options(field: &str, msg: &str) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        &format!("PatchOptions.meta.k8s.io \"\" is invalid: {field}: {msg}"),
    )
}

// ---------------------------------------------------------------------------------------------
// Bodies

pub fn decode_body(ctx: &Ctx) -> Result<Value> {
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
pub fn check_type(kind: &Kind, obj: &Value) -> Result<()> {
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

pub fn meta_str(obj: &Value, field: &str) -> String {
    obj["metadata"][field].as_str().unwrap_or("").to_string()
}

/// The URL's namespace and name against the body's.
pub fn check_identity(ctx: &Ctx, obj: &mut Value, need_name: bool) -> Result<()> {
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

pub fn namespace_exists(store: &Store, kind: &Kind, ns: &str) -> Result<()> {
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

pub fn create(store: &mut Store, ctx: &Ctx) -> Result<(u16, Value)> {
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
    namespace_exists(store, ctx.kind, &ctx.ns)?;
    let manager = ctx.field_manager()?;
    prepare_create(ctx, &mut obj)?;
    update_ownership(ctx.kind, None, &mut obj, &manager, None);
    commit(store, ctx, None, obj)
}

/// What the real strategies' PrepareForCreate do.
pub fn prepare_create(ctx: &Ctx, obj: &mut Value) -> Result<()> {
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

pub fn update(store: &mut Store, ctx: &Ctx) -> Result<(u16, Value)> {
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
pub fn keep_server_fields(kind: &Kind, old: &Value, new: &mut Value) {
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

pub fn patch(store: &mut Store, ctx: &Ctx) -> Result<(u16, Value)> {
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

/// An update or apply that creates needs `create` too (the real handlers wrap their create
/// validation in an authorization check).
pub fn authorize_create(store: &Store, ctx: &Ctx) -> Result<()> {
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
pub fn uid_precondition(ctx: &Ctx, old: &Value, new: &Value) -> Result<()> {
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

pub fn unsupported_patch(ct: &str) -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        &format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {ct:?})"),
    )
}

pub fn delete(store: &mut Store, ctx: &Ctx) -> Result<(u16, Value)> {
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
pub fn commit(
    store: &mut Store,
    ctx: &Ctx,
    old: Option<&Value>,
    mut new: Value,
) -> Result<(u16, Value)> {
    let kind = ctx.kind;
    let name = meta_str(&new, "name");
    // The order of the real server: the RBAC storage's escalation check, then validation, then
    // the storage's AlreadyExists.
    if let Some((code, reason, msg)) =
        rbac::escalation_check(store, ctx.user, kind.kind, &ctx.ns, &new)
    {
        return Err(ApiError::new(code, reason, &msg).details(details(
            &name,
            kind.group,
            kind.resource,
        )));
    }
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
    if old.is_none() && store.get(kind, &ctx.ns, &name).is_some() {
        return Err(ApiError::new(
            409,
            "AlreadyExists",
            &format!("{} {name:?} already exists", kind.qualified()),
        )
        .details(details(&name, kind.group, kind.resource)));
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
