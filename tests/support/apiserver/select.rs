//! Lists and watches: which objects a request is about (namespace, label and field
//! selectors), and the watch plan the server streams.

use serde_json::{json, Value};

use super::rest::*;
use super::store::*;

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

pub fn list(store: &Store, ctx: &Ctx) -> Result<(u16, Value)> {
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
pub fn watch(store: &Store, ctx: &Ctx) -> Result<(u16, Value)> {
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

pub fn invalid_list_options(field: &str, msg: &str) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        &format!("ListOptions.meta.k8s.io \"\" is invalid: {field}: {msg}"),
    )
}

pub enum LabelReq {
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

pub fn parse_label_selector(s: &str) -> Result<Vec<LabelReq>> {
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

pub fn parse_field_selector(kind: &Kind, s: &str) -> Result<Vec<(String, bool, String)>> {
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
