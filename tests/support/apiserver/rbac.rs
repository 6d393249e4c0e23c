//! RBAC authorization as kube-apiserver's RBAC authorizer evaluates it (rbac/v1 helpers:
//! VerbMatches, APIGroupMatches, ResourceMatches with `*/subresource`, ResourceNameMatches,
//! NonResourceURLMatches with a trailing `*`), plus the `system:masters` group, and the RBAC
//! escalation check on Roles and bindings.

use serde_json::{json, Value};

use super::rest::{bad_request, ApiError};

use super::auth::UserInfo;
use super::store::{kind_by_name, Store};

/// What a request asks to do (k8s.io/apiserver authorizer.Attributes).
#[derive(Clone, Debug)]
pub struct Attributes {
    pub verb: String,
    pub resource_request: bool,
    pub api_group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub path: String,
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn has(list: &[&str], s: &str) -> bool {
    list.contains(&s)
}

pub fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    let verbs = strs(&rule["verbs"]);
    if !(has(&verbs, "*") || has(&verbs, &a.verb)) {
        return false;
    }
    if !a.resource_request {
        return strs(&rule["nonResourceURLs"]).iter().any(|u| {
            *u == "*"
                || *u == a.path
                || (u.ends_with('*') && a.path.starts_with(u.trim_end_matches('*')))
        });
    }
    let groups = strs(&rule["apiGroups"]);
    if !(has(&groups, "*") || has(&groups, &a.api_group)) {
        return false;
    }
    let combined = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let resources = strs(&rule["resources"]);
    let resource_ok = resources.iter().any(|r| {
        *r == "*"
            || *r == combined
            || (!a.subresource.is_empty() && *r == format!("*/{}", a.subresource))
    });
    if !resource_ok {
        return false;
    }
    let names = strs(&rule["resourceNames"]);
    names.is_empty() || has(&names, &a.name)
}

fn subject_matches(subject: &Value, user: &UserInfo, binding_ns: &str) -> bool {
    let name = subject["name"].as_str().unwrap_or("");
    match subject["kind"].as_str().unwrap_or("") {
        "User" => user.name == name,
        "Group" => user.groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let ns = subject["namespace"].as_str().unwrap_or(binding_ns);
            user.name == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

fn binds(binding: &Value, user: &UserInfo, ns: &str) -> bool {
    binding["subjects"]
        .as_array()
        .is_some_and(|s| s.iter().any(|s| subject_matches(s, user, ns)))
}

/// The rules of a roleRef (a missing role grants nothing).
fn role_rules(store: &Store, role_ref: &Value, ns: &str) -> Vec<Value> {
    let name = role_ref["name"].as_str().unwrap_or("");
    let role = match role_ref["kind"].as_str() {
        Some("ClusterRole") => store.get(kind_by_name("ClusterRole").unwrap(), "", name),
        Some("Role") => store.get(kind_by_name("Role").unwrap(), ns, name),
        _ => None,
    };
    role.and_then(|r| r["rules"].as_array().cloned())
        .unwrap_or_default()
}

/// Every rule that applies to `user` in `namespace` ("" = cluster scope only).
pub fn rules_for(store: &Store, user: &UserInfo, namespace: &str) -> Vec<Value> {
    let mut rules = Vec::new();
    let crb = kind_by_name("ClusterRoleBinding").unwrap();
    for b in store.authorizer_list(crb, None) {
        if b["roleRef"]["kind"] == "ClusterRole" && binds(b, user, "") {
            rules.extend(role_rules(store, &b["roleRef"], ""));
        }
    }
    if !namespace.is_empty() {
        let rb = kind_by_name("RoleBinding").unwrap();
        for b in store.authorizer_list(rb, Some(namespace)) {
            if binds(b, user, namespace) {
                rules.extend(role_rules(store, &b["roleRef"], namespace));
            }
        }
    }
    rules
}

pub fn is_master(user: &UserInfo) -> bool {
    user.groups.iter().any(|g| g == "system:masters")
}

pub fn allowed(store: &Store, user: &UserInfo, a: &Attributes) -> bool {
    is_master(user)
        || rules_for(store, user, &a.namespace)
            .iter()
            .any(|r| rule_allows(r, a))
}

/// The message of the real server's 403 (k8s.io/apiserver endpoints/handlers/responsewriters).
pub fn forbidden_message(user: &UserInfo, a: &Attributes) -> String {
    if !a.resource_request {
        return format!(
            "forbidden: User {:?} cannot {} path {:?}",
            user.name, a.verb, a.path
        );
    }
    let mut resource = a.resource.clone();
    if !a.subresource.is_empty() {
        resource = format!("{resource}/{}", a.subresource);
    }
    let why = if a.namespace.is_empty() {
        format!(
            "User {:?} cannot {} resource {:?} in API group {:?} at the cluster scope",
            user.name, a.verb, resource, a.api_group
        )
    } else {
        format!(
            "User {:?} cannot {} resource {:?} in API group {:?} in the namespace {:?}",
            user.name, a.verb, resource, a.api_group, a.namespace
        )
    };
    let qualified = if a.api_group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.api_group)
    };
    if a.name.is_empty() {
        format!("{qualified} is forbidden: {why}")
    } else {
        format!("{qualified} {:?} is forbidden: {why}", a.name)
    }
}

/// Whether `owner` rules cover every permission of `rule` (rbac validation.Covers, broken down
/// per verb, group, resource and name).
fn covered(owner: &[Value], rule: &Value) -> bool {
    let verbs = strs(&rule["verbs"]);
    let urls = strs(&rule["nonResourceURLs"]);
    if !urls.is_empty() {
        return verbs.iter().all(|v| {
            urls.iter().all(|u| {
                owner.iter().any(|o| {
                    let ov = strs(&o["verbs"]);
                    (has(&ov, "*") || has(&ov, v))
                        && strs(&o["nonResourceURLs"]).iter().any(|ou| {
                            *ou == "*"
                                || ou == u
                                || (ou.ends_with('*') && u.starts_with(ou.trim_end_matches('*')))
                        })
                })
            })
        });
    }
    let groups = strs(&rule["apiGroups"]);
    let resources = strs(&rule["resources"]);
    let names = strs(&rule["resourceNames"]);
    for v in &verbs {
        for g in &groups {
            for r in &resources {
                let ok = owner.iter().any(|o| {
                    let ov = strs(&o["verbs"]);
                    let og = strs(&o["apiGroups"]);
                    let or = strs(&o["resources"]);
                    let on = strs(&o["resourceNames"]);
                    let sub = r.split_once('/').map(|(_, s)| s);
                    (has(&ov, "*") || has(&ov, v))
                        && (has(&og, "*") || has(&og, g))
                        && (has(&or, "*")
                            || has(&or, r)
                            || sub.is_some_and(|s| has(&or, &format!("*/{s}"))))
                        && (on.is_empty()
                            || (!names.is_empty() && names.iter().all(|n| has(&on, n))))
                });
                if !ok {
                    return false;
                }
            }
        }
    }
    true
}

/// The RBAC escalation check for writing a Role, ClusterRole or binding: `None` when allowed,
/// else the real server's error (code, reason, message): Forbidden, or NotFound for a binding to
/// a missing role by a user who may not `bind` it.
pub fn escalation_check(
    store: &Store,
    user: &UserInfo,
    kind: &str,
    ns: &str,
    obj: &Value,
) -> Option<(u16, &'static str, String)> {
    if is_master(user) {
        return None;
    }
    let owner = rules_for(store, user, ns);
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let (resource, rules, verb) = match kind {
        "Role" | "ClusterRole" => (
            if kind == "Role" {
                "roles"
            } else {
                "clusterroles"
            },
            obj["rules"].as_array().cloned().unwrap_or_default(),
            "escalate",
        ),
        "RoleBinding" | "ClusterRoleBinding" => {
            let rref = &obj["roleRef"];
            let rules = role_rules(store, rref, ns);
            let res = if rref["kind"] == "Role" {
                "roles"
            } else {
                "clusterroles"
            };
            (res, rules, "bind")
        }
        _ => return None,
    };
    let target_name = if verb == "bind" {
        obj["roleRef"]["name"].as_str().unwrap_or("").to_string()
    } else {
        name.to_string()
    };
    let special = Attributes {
        verb: verb.into(),
        resource_request: true,
        api_group: "rbac.authorization.k8s.io".into(),
        resource: resource.into(),
        subresource: String::new(),
        namespace: ns.into(),
        name: target_name,
        path: String::new(),
    };
    if owner.iter().any(|r| rule_allows(r, &special)) {
        return None;
    }
    if verb == "bind" {
        let rref = &obj["roleRef"];
        let rname = rref["name"].as_str().unwrap_or("");
        let exists = match rref["kind"].as_str() {
            Some("ClusterRole") => store
                .get(kind_by_name("ClusterRole").unwrap(), "", rname)
                .is_some(),
            Some("Role") => store
                .get(kind_by_name("Role").unwrap(), ns, rname)
                .is_some(),
            _ => false,
        };
        if !exists {
            return Some((
                404,
                "NotFound",
                format!("{resource}.rbac.authorization.k8s.io {rname:?} not found"),
            ));
        }
    }
    if rules.iter().all(|r| covered(&owner, r)) {
        return None;
    }
    let plural = match kind {
        "Role" => "roles",
        "ClusterRole" => "clusterroles",
        "RoleBinding" => "rolebindings",
        _ => "clusterrolebindings",
    };
    Some((
        403,
        "Forbidden",
        format!(
            "{plural}.rbac.authorization.k8s.io {name:?} is forbidden: user {:?} (groups={:?}) is attempting to grant RBAC permissions not currently held",
            user.name, user.groups
        ),
    ))
}

/// SelfSubjectAccessReview and SubjectAccessReview: the RBAC decision for the requester, or for
/// the user and groups in the review (`kubectl auth can-i`).
pub fn access_review(
    store: &Store,
    requester: &UserInfo,
    resource: &str,
    body: &[u8],
) -> Result<(u16, Value), ApiError> {
    let mut review: Value = match review_from_protobuf(body) {
        Some(v) => v,
        None => serde_json::from_slice(body)
            .map_err(|e| bad_request(&format!("couldn't decode the review: {e}")))?,
    };
    let kind = if resource == "selfsubjectaccessreviews" {
        "SelfSubjectAccessReview"
    } else {
        "SubjectAccessReview"
    };
    if review["kind"] != kind || review["apiVersion"] != "authorization.k8s.io/v1" {
        return Err(bad_request(&format!(
            "the body must be an authorization.k8s.io/v1 {kind}"
        )));
    }
    let invalid = |field: &str, msg: &str| {
        ApiError::new(
            422,
            "Invalid",
            &format!("{kind}.authorization.k8s.io \"\" is invalid: {field}: {msg}"),
        )
    };
    let spec = &review["spec"];
    let res = spec.get("resourceAttributes").filter(|v| !v.is_null());
    let non = spec.get("nonResourceAttributes").filter(|v| !v.is_null());
    if res.is_some() == non.is_some() {
        return Err(invalid(
            "spec.resourceAttributes",
            "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    }
    let subject = if kind == "SelfSubjectAccessReview" {
        requester.clone()
    } else {
        let user = spec["user"].as_str().unwrap_or("").to_string();
        let groups: Vec<String> = spec["groups"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|g| g.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if user.is_empty() && groups.is_empty() {
            return Err(invalid(
                "spec.user",
                "Invalid value: \"\": at least one of user or group must be specified",
            ));
        }
        UserInfo { name: user, groups }
    };
    let s = |v: &Value, f: &str| v[f].as_str().unwrap_or("").to_string();
    let attrs = match (res, non) {
        (Some(r), _) => Attributes {
            verb: s(r, "verb"),
            resource_request: true,
            api_group: s(r, "group"),
            resource: s(r, "resource"),
            subresource: s(r, "subresource"),
            namespace: s(r, "namespace"),
            name: s(r, "name"),
            path: String::new(),
        },
        (_, Some(n)) => Attributes {
            verb: s(n, "verb"),
            resource_request: false,
            api_group: String::new(),
            resource: String::new(),
            subresource: String::new(),
            namespace: String::new(),
            name: String::new(),
            path: s(n, "path"),
        },
        _ => unreachable!(),
    };
    let allowed = allowed(store, &subject, &attrs);
    if kind == "SelfSubjectAccessReview" {
        if let Some(m) = review["spec"].as_object_mut() {
            m.remove("user");
            m.remove("groups");
        }
    }
    review["metadata"] = json!({"creationTimestamp": null});
    review["status"] = json!({"allowed": allowed});
    Ok((201, review))
}

/// A protobuf field: its number, and a varint (Ok) or length-delimited bytes (Err).
type ProtoField<'a> = (u64, Result<u64, &'a [u8]>);

/// The fields of one protobuf message.
fn proto_fields(mut b: &[u8]) -> Option<Vec<ProtoField<'_>>> {
    fn varint(b: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let tag = varint(&mut b)?;
        match tag & 7 {
            0 => out.push((tag >> 3, Ok(varint(&mut b)?))),
            2 => {
                let len = varint(&mut b)? as usize;
                if len > b.len() {
                    return None;
                }
                out.push((tag >> 3, Err(&b[..len])));
                b = &b[len..];
            }
            _ => return None,
        }
    }
    Some(out)
}

/// A SelfSubjectAccessReview or SubjectAccessReview sent as Kubernetes protobuf (as kubectl's
/// typed client does): `k8s\0` + runtime.Unknown{typeMeta, raw}, decoded into its JSON form.
fn review_from_protobuf(body: &[u8]) -> Option<Value> {
    let envelope = proto_fields(body.strip_prefix(b"k8s\0")?)?;
    let bytes = |fields: &[ProtoField], n: u64| -> Vec<Vec<u8>> {
        fields
            .iter()
            .filter(|(f, _)| *f == n)
            .filter_map(|(_, v)| v.err().map(<[u8]>::to_vec))
            .collect()
    };
    let string = |fields: &[ProtoField], n: u64| -> String {
        bytes(fields, n)
            .last()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    let type_meta_bytes = bytes(&envelope, 1).pop()?;
    let type_meta = proto_fields(&type_meta_bytes)?;
    let (api_version, kind) = (string(&type_meta, 1), string(&type_meta, 2));
    let raw = bytes(&envelope, 2).last()?.clone();
    let review = proto_fields(&raw)?;
    let spec_bytes = bytes(&review, 2).pop().unwrap_or_default();
    let spec = proto_fields(&spec_bytes)?;
    let mut spec_json = serde_json::Map::new();
    if let Some(ra) = bytes(&spec, 1).last() {
        let ra = proto_fields(ra)?;
        let names = [
            "namespace",
            "verb",
            "group",
            "version",
            "resource",
            "subresource",
            "name",
        ];
        let mut m = serde_json::Map::new();
        for (i, name) in names.iter().enumerate() {
            let v = string(&ra, i as u64 + 1);
            if !v.is_empty() {
                m.insert(name.to_string(), json!(v));
            }
        }
        spec_json.insert("resourceAttributes".into(), Value::Object(m));
    }
    if let Some(na) = bytes(&spec, 2).last() {
        let na = proto_fields(na)?;
        spec_json.insert(
            "nonResourceAttributes".into(),
            json!({"path": string(&na, 1), "verb": string(&na, 2)}),
        );
    }
    if kind == "SubjectAccessReview" {
        spec_json.insert("user".into(), json!(string(&spec, 3)));
        let groups: Vec<String> = bytes(&spec, 4)
            .into_iter()
            .map(|g| String::from_utf8_lossy(&g).into_owned())
            .collect();
        spec_json.insert("groups".into(), json!(groups));
    }
    Some(json!({"apiVersion": api_version, "kind": kind, "metadata": {}, "spec": spec_json}))
}
