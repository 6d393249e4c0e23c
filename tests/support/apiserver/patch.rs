//! Patches: strategic merge (with the merge keys of the core types' fields kinit patches and the
//! `$patch`, `$retainKeys`, `$deleteFromPrimitiveList`, `$setElementOrder` directives), and YAML
//! bodies (apply configurations) turned into JSON.

use serde_json::{Map, Value};

/// The patchMergeKey of a list field (k8s.io/api struct tags); `None` = the list is replaced.
fn merge_key(field: &str, patch_items: &[Value]) -> Option<&'static str> {
    Some(match field {
        "containers" | "initContainers" | "ephemeralContainers" => "name",
        "env" | "volumes" | "imagePullSecrets" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "ownerReferences" => "uid",
        "conditions" => "type",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        "addresses" => "type",
        "ports" => {
            if patch_items.iter().any(|i| i.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        _ => return None,
    })
}

/// Lists of primitives merged as sets (patchStrategy merge).
fn merges_primitives(field: &str) -> bool {
    field == "finalizers"
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

pub fn strategic_merge(target: &mut Value, patch: &Value) -> Result<(), String> {
    let Value::Object(p) = patch else {
        return Err("strategic merge patch must be a JSON object".into());
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    merge_map(target.as_object_mut().unwrap(), p)
}

fn merge_map(target: &mut Map<String, Value>, patch: &Map<String, Value>) -> Result<(), String> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *target = strip_directives(&Value::Object(patch.clone()))
                .as_object()
                .unwrap()
                .clone();
            return Ok(());
        }
        Some("delete") => {
            target.clear();
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => return Err(format!("unknown patch type: {other:?}")),
    }
    for (k, v) in patch {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let Value::Array(remove) = v else {
                return Err(format!("{k} must be a list"));
            };
            if let Some(Value::Array(list)) = target.get_mut(field) {
                list.retain(|x| !remove.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            return Err(format!("unknown patch directive {k:?}"));
        }
        match v {
            Value::Null => {
                target.remove(k);
            }
            Value::Object(pm) => {
                if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
                    target.remove(k);
                    continue;
                }
                match target.get_mut(k) {
                    Some(Value::Object(tm)) => merge_map(tm, pm)?,
                    _ => {
                        let mut fresh = Map::new();
                        merge_map(&mut fresh, pm)?;
                        target.insert(k.clone(), Value::Object(fresh));
                    }
                }
            }
            Value::Array(items) => {
                if let Some(key) = merge_key(k, items) {
                    if let Some(Value::Array(existing)) = target.get_mut(k) {
                        merge_list(existing, items, key)?;
                        continue;
                    }
                    let mut fresh = Vec::new();
                    merge_list(&mut fresh, items, key)?;
                    target.insert(k.clone(), Value::Array(fresh));
                } else if merges_primitives(k) {
                    let list = target
                        .entry(k.clone())
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(list) = list {
                        for item in items {
                            if !list.contains(item) {
                                list.push(item.clone());
                            }
                        }
                    }
                } else {
                    target.insert(k.clone(), strip_directives(v));
                }
            }
            other => {
                target.insert(k.clone(), other.clone());
            }
        }
    }
    if let Some(Value::Array(keep)) = patch.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        target.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(())
}

fn merge_list(target: &mut Vec<Value>, patch: &[Value], key: &str) -> Result<(), String> {
    if patch
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *target = patch
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .map(strip_directives)
            .collect();
        return Ok(());
    }
    for item in patch {
        let Value::Object(im) = item else {
            return Err(format!("list items merged by {key:?} must be objects"));
        };
        let Some(id) = im.get(key) else {
            return Err(format!(
                "map: {item} does not contain declared merge key: {key}"
            ));
        };
        let pos = target.iter().position(|t| t.get(key) == Some(id));
        if im.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(p) = pos {
                target.remove(p);
            }
            continue;
        }
        match pos {
            Some(p) => {
                if let Value::Object(tm) = &mut target[p] {
                    merge_map(tm, im)?;
                }
            }
            None => target.push(strip_directives(item)),
        }
    }
    Ok(())
}

/// One YAML (or JSON) document as JSON.
pub fn yaml_to_json(text: &str) -> Result<Value, String> {
    use yaml_rust2::{Yaml, YamlLoader};
    // Clients (kube, kubectl) send JSON, which is YAML; parse it as JSON when it is.
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(v);
    }
    let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    if docs.len() != 1 {
        return Err(format!("expected one YAML document, found {}", docs.len()));
    }
    fn conv(y: &Yaml) -> Result<Value, String> {
        Ok(match y {
            Yaml::Null => Value::Null,
            Yaml::Boolean(b) => Value::Bool(*b),
            Yaml::Integer(i) => Value::from(*i),
            Yaml::Real(r) => {
                let f: f64 = r.parse().map_err(|_| format!("bad number {r}"))?;
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or(format!("bad number {r}"))?
            }
            Yaml::String(s) => Value::String(s.clone()),
            Yaml::Array(a) => Value::Array(a.iter().map(conv).collect::<Result<_, _>>()?),
            Yaml::Hash(h) => {
                let mut m = Map::new();
                for (k, v) in h {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        Yaml::Real(r) => r.clone(),
                        _ => return Err("unsupported YAML map key".into()),
                    };
                    m.insert(key, conv(v)?);
                }
                Value::Object(m)
            }
            _ => return Err("unsupported YAML value (alias or bad value)".into()),
        })
    }
    conv(&docs[0])
}
