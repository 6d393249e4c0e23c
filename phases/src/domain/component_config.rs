//! kubeadm's rule for the component configs it hands on (KubeletConfiguration, KubeProxyConfiguration):
//! a field the user left unset gets kubeadm's value; a field the user set keeps the user's value, with a
//! warning when kubeadm recommends another.

use serde_json::{Map, Value};

/// Go's `%v` of a JSON value, as kubeadm's warning prints the user's value.
fn go_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_value).collect::<Vec<_>>().join(" ")
        ),
        Value::Null => "<nil>".into(),
        other => other.to_string(),
    }
}

pub fn warning(kind: &str, field: &str, recommended: &Value, provided: &Value) -> String {
    format!(
        "The recommended value for {field:?} in {kind:?} is: {}; the provided value is: {}",
        go_value(recommended),
        go_value(provided)
    )
}

/// The object at `path`, made when missing (a non-object in the way is replaced, as decoding it would
/// have failed earlier).
fn object_at<'a>(root: &'a mut Map<String, Value>, path: &[&str]) -> &'a mut Map<String, Value> {
    let mut current = root;
    for key in path {
        let entry = current
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        current = entry.as_object_mut().expect("made an object just above");
    }
    current
}

/// Sets `path` to `recommended` when the user left it unset (or empty, for strings and lists Go
/// cannot tell from unset); warns when the user set something else.
pub fn default_field(
    kind: &str,
    root: &mut Map<String, Value>,
    path: &[&str],
    recommended: Value,
    warnings: &mut Vec<String>,
) {
    let (last, parents) = path.split_last().expect("a field path is never empty");
    let parent = object_at(root, parents);
    let unset = match parent.get(*last) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(_) => false,
    };
    if unset {
        parent.insert(last.to_string(), recommended);
    } else if let Some(provided) = parent.get(*last) {
        if !same(provided, &recommended) {
            warnings.push(warning(kind, last, &recommended, provided));
        }
    }
}

/// Numbers compare by value: `10248` and `10248.0` are the same port.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_prints_lists_with_spaces() {
        assert_eq!(go_value(&json!(["a", "b"])), "[a b]");
        assert_eq!(go_value(&json!(true)), "true");
        assert_eq!(go_value(&json!("x")), "x");
    }
}
