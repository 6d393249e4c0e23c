//! Writes configuration values as YAML, keys sorted as kubeadm prints them.

use serde::Serialize;
use serde_json::Value;
use yaml_rust2::{yaml::Hash, Yaml, YamlEmitter};

fn to_yaml_node(value: &Value) -> Yaml {
    match value {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(n.to_string()),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(items) => Yaml::Array(items.iter().map(to_yaml_node).collect()),
        Value::Object(map) => {
            let mut hash = Hash::new();
            for (key, value) in map {
                hash.insert(Yaml::String(key.clone()), to_yaml_node(value));
            }
            Yaml::Hash(hash)
        }
    }
}

/// One YAML document (no leading `---`) for a value; `null` is spelled as Go spells it.
pub fn to_yaml<T: Serialize>(value: &T) -> Result<String, String> {
    let json = serde_json::to_value(value).map_err(|e| e.to_string())?;
    let mut out = String::new();
    YamlEmitter::new(&mut out)
        .dump(&to_yaml_node(&json))
        .map_err(|e| e.to_string())?;
    let body = out.strip_prefix("---\n").unwrap_or(&out);
    let body = body.strip_prefix("---").unwrap_or(body);
    let mut text: String = body
        .lines()
        .map(|line| match line.strip_suffix(": ~") {
            Some(key) => format!("{key}: null"),
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    text.push('\n');
    Ok(text)
}
