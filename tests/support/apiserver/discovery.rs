//! The endpoints that are not resources: health, version and discovery.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::rest::*;
use super::store::*;
use super::*;

pub fn non_resource(state: &State, method: &str, path: &str) -> Result<(u16, Value)> {
    if method != "GET" && method != "HEAD" {
        return Err(page_not_found());
    }
    let minor = state.version.split('.').nth(1).unwrap_or("34").to_string();
    let mut groups: BTreeSet<(&str, &str)> = KINDS.iter().map(|k| (k.group, k.version)).collect();
    groups.insert(("authorization.k8s.io", "v1"));
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
            if (group, version) == ("authorization.k8s.io", "v1") {
                for (name, kind) in [
                    ("selfsubjectaccessreviews", "SelfSubjectAccessReview"),
                    ("subjectaccessreviews", "SubjectAccessReview"),
                ] {
                    resources.push(json!({"name": name, "singularName": kind.to_lowercase(),
                        "namespaced": false, "kind": kind, "verbs": ["create"]}));
                }
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
