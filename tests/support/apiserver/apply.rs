//! Server-side apply (`application/apply-patch+yaml`): field ownership per manager, conflicts,
//! force, and the merge of an apply configuration into the live object.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::rest::*;
use super::store::{self, *};

/// A field path as structured-merge-diff prints it: `.spec.containers[name="a"].image`.
pub fn display_path(p: &[String]) -> String {
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

/// Server-side apply.
pub fn apply(store: &mut Store, ctx: &Ctx) -> Result<(u16, Value)> {
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
