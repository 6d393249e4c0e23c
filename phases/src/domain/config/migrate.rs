//! v1beta3 → v1beta4, done on the raw document the way `kubeadm config migrate` does it: argument maps
//! become name-sorted `{name, value}` lists and the two v1beta3 timeouts move into `timeouts`.

use super::diagnostics::{Diagnostic, Problem};
use super::yaml::Document;
use serde_json::{Map, Value};

/// Fields v1beta4 added; in a v1beta3 document they are unknown, as kubeadm's v1beta3 decoder says.
fn v1beta4_only_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "InitConfiguration" => &["dryRun", "timeouts", "nodeRegistration.imagePullSerial"],
        "JoinConfiguration" => &["dryRun", "timeouts", "nodeRegistration.imagePullSerial"],
        "ClusterConfiguration" => &[
            "proxy",
            "encryptionAlgorithm",
            "certificateValidityPeriod",
            "caCertificateValidityPeriod",
            "dns.disabled",
            "apiServer.extraEnvs",
            "controllerManager.extraEnvs",
            "scheduler.extraEnvs",
            "etcd.local.extraEnvs",
        ],
        _ => &[],
    }
}

fn extra_args_paths(kind: &str) -> &'static [&'static str] {
    match kind {
        "InitConfiguration" | "JoinConfiguration" => &["nodeRegistration.kubeletExtraArgs"],
        "ClusterConfiguration" => &[
            "apiServer.extraArgs",
            "controllerManager.extraArgs",
            "scheduler.extraArgs",
            "etcd.local.extraArgs",
        ],
        _ => &[],
    }
}

fn parent_and_key<'v>(
    value: &'v mut Value,
    path: &str,
) -> Option<(&'v mut Map<String, Value>, String)> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let key = parts.pop()?.to_string();
    let mut current = value;
    for part in parts {
        current = current.as_object_mut()?.get_mut(part)?;
    }
    Some((current.as_object_mut()?, key))
}

/// What migration moved out of a document that belongs in another kind.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Moved {
    /// `ClusterConfiguration.apiServer.timeoutForControlPlane`, bound for `InitConfiguration.timeouts`.
    pub control_plane_timeout: Option<Value>,
}

pub fn v1beta3_to_v1beta4(
    kind: &str,
    value: &mut Value,
    doc: &Document,
    diagnostics: &mut Vec<Diagnostic>,
) -> Moved {
    let mut moved = Moved::default();
    for path in v1beta4_only_fields(kind) {
        if let Some((parent, key)) = parent_and_key(value, path) {
            if parent.remove(&key).is_some() {
                diagnostics.push(Diagnostic::new(
                    Problem::UnknownField,
                    kind,
                    path,
                    doc.line_of(path),
                    format!("unknown field {path:?}"),
                ));
            }
        }
    }
    for path in extra_args_paths(kind) {
        let Some((parent, key)) = parent_and_key(value, path) else {
            continue;
        };
        match parent.get(&key) {
            None | Some(Value::Null) => {}
            Some(Value::Object(args)) => {
                let mut list = Vec::new();
                let mut names: Vec<&String> = args.keys().collect();
                names.sort();
                for name in names {
                    match &args[name] {
                        Value::String(v) => {
                            list.push(serde_json::json!({ "name": name, "value": v }))
                        }
                        // As kubeadm's YAML reader does for a map of strings: `maxage: 30` means "30".
                        scalar @ (Value::Number(_) | Value::Bool(_)) => list
                            .push(serde_json::json!({ "name": name, "value": scalar.to_string() })),
                        other => {
                            let arg_path = format!("{path}.{name}");
                            diagnostics.push(Diagnostic::new(
                                Problem::WrongType,
                                kind,
                                &arg_path,
                                doc.line_of(&arg_path),
                                format!("invalid type: {}, expected a string", type_name(other)),
                            ));
                        }
                    }
                }
                parent.insert(key, Value::Array(list));
            }
            Some(other) => {
                diagnostics.push(Diagnostic::new(
                    Problem::WrongType,
                    kind,
                    path,
                    doc.line_of(path),
                    format!(
                        "invalid type: {}, expected a map of flag names to values (v1beta3)",
                        type_name(other)
                    ),
                ));
                parent.remove(&key);
            }
        }
    }
    match kind {
        "ClusterConfiguration" => {
            if let Some((parent, key)) = parent_and_key(value, "apiServer.timeoutForControlPlane") {
                moved.control_plane_timeout = parent.remove(&key);
            }
        }
        "JoinConfiguration" => {
            if let Some((parent, key)) = parent_and_key(value, "discovery.timeout") {
                if let Some(timeout) = parent.remove(&key) {
                    if let Some(object) = value.as_object_mut() {
                        object.insert(
                            "timeouts".into(),
                            serde_json::json!({ "discovery": timeout }),
                        );
                    }
                }
            }
        }
        _ => {}
    }
    moved
}

pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "sequence",
        Value::Object(_) => "map",
    }
}
