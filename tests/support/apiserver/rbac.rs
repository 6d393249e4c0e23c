//! RBAC authorization as kube-apiserver's RBAC authorizer evaluates it (rbac/v1 helpers:
//! VerbMatches, APIGroupMatches, ResourceMatches with `*/subresource`, ResourceNameMatches,
//! NonResourceURLMatches with a trailing `*`), plus the `system:masters` group, and the RBAC
//! escalation check on Roles and bindings.

use serde_json::Value;

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
    for b in store.list(crb, None) {
        if b["roleRef"]["kind"] == "ClusterRole" && binds(b, user, "") {
            rules.extend(role_rules(store, &b["roleRef"], ""));
        }
    }
    if !namespace.is_empty() {
        let rb = kind_by_name("RoleBinding").unwrap();
        for b in store.list(rb, Some(namespace)) {
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
