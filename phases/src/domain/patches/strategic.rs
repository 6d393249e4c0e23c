//! The part of Kubernetes' strategic merge patch that kubeadm patches rely on.
//!
//! Supported: maps merge recursively; `null` removes a key; the core/v1 lists that Kubernetes merges by a
//! key (containers, initContainers, ephemeralContainers, volumes, env, imagePullSecrets, resourceClaims by
//! `name`; volumeMounts by `mountPath`; volumeDevices by `devicePath`; ports by `containerPort`; hostAliases
//! by `ip`) merge item by item, new items going last; every other list is replaced whole; `$patch: delete`
//! on a list item removes the item with that key, on a map removes the map; `$patch: replace` on a map or
//! as a list item replaces instead of merging.
//!
//! Not supported, and refused with an error rather than misapplied: `$retainKeys`, `$setElementOrder/…`,
//! `$deleteFromPrimitiveList/…`, and any other `$` directive. Lists of plain values that Kubernetes merges
//! (finalizers and the like) are replaced, as no static pod or kubelet setting has one.

use serde_json::{Map, Value};

/// Which merge keys apply: those of core/v1 objects, or none (KubeletConfiguration has no merged lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Kubernetes,
    Plain,
}

const DIRECTIVE: &str = "$patch";

fn merge_key(schema: Schema, field: &str) -> Option<&'static str> {
    if schema == Schema::Plain {
        return None;
    }
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "ports" => Some("containerPort"),
        "hostAliases" => Some("ip"),
        _ => None,
    }
}

/// Applies one patch; the patch must be a map, as a strategic merge patch always is.
pub fn apply(original: Value, patch: &Value, schema: Schema) -> Result<Value, String> {
    let Value::Object(patch) = patch else {
        return Err("a strategic merge patch must be a map".into());
    };
    let original = match original {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    Ok(merge_map(original, patch, schema, "")?.unwrap_or(Value::Null))
}

fn at(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `None` when the patch deletes the map.
fn merge_map(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    schema: Schema,
    path: &str,
) -> Result<Option<Value>, String> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        match directive.as_str() {
            Some("delete") => return Ok(None),
            Some("replace") => {
                let mut replaced = patch.clone();
                replaced.remove(DIRECTIVE);
                return Ok(Some(Value::Object(replaced)));
            }
            // Shown as JSON: a directive that is not text reads as what was written.
            _ => {
                return Err(format!(
                    "{}: unknown $patch directive {directive} (kinit knows delete and replace)",
                    at(path, DIRECTIVE)
                ))
            }
        }
    }
    for (key, value) in patch {
        if key == DIRECTIVE {
            continue;
        }
        if key.starts_with('$') {
            return Err(format!(
                "{}: the strategic merge directive {key} is not supported by kinit; use a json or merge patch",
                at(path, key)
            ));
        }
        let here = at(path, key);
        if value.is_null() {
            original.remove(key);
            continue;
        }
        let merged = match (original.remove(key), value) {
            (Some(Value::Object(old)), Value::Object(new)) => merge_map(old, new, schema, &here)?,
            (None, Value::Object(new)) => merge_map(Map::new(), new, schema, &here)?,
            (old, Value::Array(new)) => {
                let old = match old {
                    Some(Value::Array(items)) => items,
                    _ => Vec::new(),
                };
                Some(merge_list(old, new, merge_key(schema, key), schema, &here)?)
            }
            (_, new) => Some(new.clone()),
        };
        if let Some(merged) = merged {
            original.insert(key.clone(), merged);
        }
    }
    Ok(Some(Value::Object(original)))
}

fn merge_list(
    mut original: Vec<Value>,
    patch: &[Value],
    key: Option<&str>,
    schema: Schema,
    path: &str,
) -> Result<Value, String> {
    let is_replace = |item: &Value| item.get(DIRECTIVE).and_then(Value::as_str) == Some("replace");
    if patch.iter().any(is_replace) {
        return Ok(Value::Array(
            patch.iter().filter(|i| !is_replace(i)).cloned().collect(),
        ));
    }
    let Some(key) = key else {
        return Ok(Value::Array(patch.to_vec()));
    };
    for (index, item) in patch.iter().enumerate() {
        let here = format!("{path}[{index}]");
        let Value::Object(fields) = item else {
            return Err(format!("{here}: items of {path} must be maps"));
        };
        let Some(id) = fields.get(key) else {
            return Err(format!(
                "{here}: items of {path} are merged by {key}, and this one has none"
            ));
        };
        let found = original.iter().position(|o| o.get(key) == Some(id));
        if fields.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") {
            original.retain(|o| o.get(key) != Some(id));
            continue;
        }
        match found {
            Some(position) => {
                let old = match original.remove(position) {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                if let Some(merged) = merge_map(old, fields, schema, &here)? {
                    original.insert(position, merged);
                }
            }
            None => {
                if let Some(merged) = merge_map(Map::new(), fields, schema, &here)? {
                    original.push(merged);
                }
            }
        }
    }
    Ok(Value::Array(original))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "kube-apiserver", "labels": {"tier": "control-plane"}},
            "spec": {
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "kube-apiserver",
                    "command": ["kube-apiserver", "--a=1"],
                    "env": [{"name": "A", "value": "1"}],
                    "volumeMounts": [{"name": "k8s-certs", "mountPath": "/etc/kubernetes/pki"}]
                }],
                "volumes": [{"name": "k8s-certs"}, {"name": "ca-certs"}]
            }
        })
    }

    #[test]
    fn named_lists_merge_by_their_key_and_other_lists_replace() {
        let patch = json!({
            "metadata": {"labels": {"extra": "yes", "tier": null}},
            "spec": {"containers": [{
                "name": "kube-apiserver",
                "command": ["kube-apiserver", "--b=2"],
                "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "one"}],
                "volumeMounts": [{"mountPath": "/etc/kubernetes/pki", "readOnly": true}]
            }]}
        });
        let out = apply(pod(), &patch, Schema::Kubernetes).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"extra": "yes"}));
        let container = &out["spec"]["containers"][0];
        assert_eq!(container["command"], json!(["kube-apiserver", "--b=2"]));
        assert_eq!(
            container["env"],
            json!([{"name": "A", "value": "one"}, {"name": "B", "value": "2"}])
        );
        assert_eq!(
            container["volumeMounts"],
            json!([{"name": "k8s-certs", "mountPath": "/etc/kubernetes/pki", "readOnly": true}])
        );
        assert_eq!(out["spec"]["volumes"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn delete_and_replace_directives() {
        let patch = json!({"spec": {
            "volumes": [{"name": "ca-certs", "$patch": "delete"}],
            "securityContext": {"$patch": "delete"}
        }});
        let out = apply(pod(), &patch, Schema::Kubernetes).unwrap();
        assert_eq!(out["spec"]["volumes"], json!([{"name": "k8s-certs"}]));
        assert!(out["spec"].get("securityContext").is_none());
        let patch = json!({"spec": {"volumes": [{"$patch": "replace"}, {"name": "only"}]}});
        let out = apply(pod(), &patch, Schema::Kubernetes).unwrap();
        assert_eq!(out["spec"]["volumes"], json!([{"name": "only"}]));
    }

    #[test]
    fn what_cannot_be_applied_is_an_error() {
        let err = apply(
            pod(),
            &json!({"spec": {"containers": [{"image": "x"}]}}),
            Schema::Kubernetes,
        )
        .unwrap_err();
        assert!(
            err.contains("spec.containers[0]") && err.contains("name"),
            "{err}"
        );
        let err = apply(
            pod(),
            &json!({"spec": {"$retainKeys": ["containers"]}}),
            Schema::Kubernetes,
        )
        .unwrap_err();
        assert!(err.contains("not supported"), "{err}");
        assert!(apply(pod(), &json!([1]), Schema::Kubernetes).is_err());
    }

    #[test]
    fn plain_objects_replace_lists() {
        let out = apply(
            json!({"env": [{"name": "A"}], "tlsCipherSuites": ["a", "b"]}),
            &json!({"env": [{"name": "B"}], "tlsCipherSuites": ["c"]}),
            Schema::Plain,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"env": [{"name": "B"}], "tlsCipherSuites": ["c"]})
        );
    }
}
