//! What a dry run would send to the API server, as facts: `(<Kind> <namespace>/<name>, what) → value`.
//! kubeadm's objects are read from the lines of its fake client (`[dryrun] Would perform action CREATE
//! ...`, then the object as YAML); kinit's from the `object` events of `-o json`. Values that must differ
//! between any two runs are reduced to what they mean: a bootstrap token's id and secret to their
//! form, its expiration to hours from now, an embedded CA to its subject, every other Secret value to
//! its presence (kinit's dry run withholds them, kubeadm's holds fresh key material).

use super::facts::{flatten, scalar, to_json, Facts};
use openssl::asn1::Asn1Time;
use openssl::x509::X509;
use serde_json::Value;

/// The objects kubeadm's dry run would create or update, in its order, from its standard output.
pub fn kubeadm_objects(stdout: &str) -> Vec<Value> {
    let mut objects = Vec::new();
    let mut lines = stdout.lines().peekable();
    let mut writing = false;
    while let Some(line) = lines.next() {
        if let Some(action) = line.strip_prefix("[dryrun] Would perform action ") {
            writing = action.starts_with("CREATE ") || action.starts_with("UPDATE ");
            continue;
        }
        if line != "[dryrun] Attached object:" {
            continue;
        }
        let mut yaml = String::new();
        while let Some(next) = lines.peek() {
            let top_level_key = next
                .split_once(':')
                .is_some_and(|(key, _)| !key.is_empty() && key.chars().all(char::is_alphanumeric));
            if !(next.starts_with(' ') || next.starts_with('-') || top_level_key) {
                break;
            }
            yaml.push_str(next);
            yaml.push('\n');
            lines.next();
        }
        // GETs answered by the fake client also attach an object; only what would be written counts.
        if writing {
            let docs = yaml_rust2::YamlLoader::load_from_str(&yaml).unwrap_or_else(|e| {
                panic!("kubeadm printed an object that is not YAML ({e}):\n{yaml}")
            });
            objects.push(to_json(&docs[0]));
        }
        writing = false;
    }
    objects
}

/// The objects of kinit's `object` events, in its order, from its `-o json` lines.
pub fn kinit_objects(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|event| event["event"] == "object")
        .map(|event| event["object"].clone())
        .collect()
}

/// Every fact of `objects`; an object sent twice counts as its last copy.
pub fn object_facts(objects: &[Value]) -> Facts {
    let mut facts = Facts::new();
    let mut seen = Vec::new();
    for object in objects.iter().rev() {
        let name = artifact(object);
        if seen.contains(&name) {
            continue;
        }
        seen.push(name.clone());
        let mut flat = Vec::new();
        flatten(&reduced(object), "", &mut flat);
        for (key, value) in flat {
            facts.insert(
                format!("{name}: {}", token_ids_hidden(&key)),
                token_ids_hidden(&value),
            );
        }
    }
    facts
}

/// `Secret kube-system/bootstrap-token-<id>`, `ClusterRole system:coredns`.
fn artifact(object: &Value) -> String {
    let kind = scalar(&object["kind"]);
    let name = token_ids_hidden(&scalar(&object["metadata"]["name"]));
    match object["metadata"]["namespace"].as_str() {
        Some(namespace) => format!("{kind} {namespace}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// `bootstrap-token-<id>` for every `bootstrap-token-` followed by a token id: the id is random.
fn token_ids_hidden(text: &str) -> String {
    const PREFIX: &str = "bootstrap-token-";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        let after = &rest[at + PREFIX.len()..];
        out.push_str(&rest[..at + PREFIX.len()]);
        if is_token_id(after.get(..6).unwrap_or("")) {
            out.push_str("<id>");
            rest = &after[6..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn is_token_id(text: &str) -> bool {
    text.len() == 6
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The object with its run-bound values reduced and its embedded documents opened.
fn reduced(object: &Value) -> Value {
    let mut object = object.clone();
    let owners = object
        .get_mut("metadata")
        .and_then(|m| m.get_mut("ownerReferences"))
        .and_then(Value::as_array_mut);
    for owner in owners.into_iter().flatten() {
        owner["uid"] = Value::String("<uid>".into());
    }
    if let Some(given) = object["metadata"]["annotations"][CHECKSUM_ANNOTATION]
        .as_str()
        .map(str::to_string)
    {
        let meaning = checksum_meaning(&given, &object["data"]);
        object["metadata"]["annotations"][CHECKSUM_ANNOTATION] = Value::String(meaning);
    }
    let kind = scalar(&object["kind"]);
    let token = object["type"] == "bootstrap.kubernetes.io/token";
    if let Some(data) = object.get_mut("data").and_then(Value::as_object_mut) {
        for (key, value) in data.iter_mut() {
            *value = match kind.as_str() {
                "Secret" if token => token_value(key, &scalar(value)),
                "Secret" => Value::String("<secret>".into()),
                _ => opened(&scalar(value)),
            };
        }
    }
    object
}

/// The annotation by which kubeadm tells its own component configuration from a user's.
const CHECKSUM_ANNOTATION: &str = "kubeadm.kubernetes.io/component-config.hash";

/// Whether `given` is kubeadm's checksum of a ConfigMap's `data`: sha256 over the values in the
/// order of their sorted keys. Each tool's data differs (zero values), so the hash that matters is
/// the one of its own data.
fn checksum_meaning(given: &str, data: &Value) -> String {
    let mut hasher = openssl::sha::Sha256::new();
    if let Some(values) = data.as_object() {
        let mut keys: Vec<&String> = values.keys().collect();
        keys.sort();
        for key in keys {
            hasher.update(scalar(&values[key]).as_bytes());
        }
    }
    let hex: String = hasher.finish().iter().map(|b| format!("{b:02x}")).collect();
    if given == format!("sha256:{hex}") {
        "sha256 of its own data".into()
    } else {
        format!("{given}, not the sha256 of its data")
    }
}

/// One value of a bootstrap token Secret, base64-decoded and reduced where it is random.
fn token_value(key: &str, encoded: &str) -> Value {
    let text = match encoded {
        "<redacted>" => return Value::String("<secret>".into()),
        _ => decoded(encoded),
    };
    Value::String(match key {
        "token-id" if is_token_id(&text) => "<id>".into(),
        "token-secret" if text.len() == 16 => "<secret>".into(),
        "expiration" => hours_from_now(&text),
        _ => text,
    })
}

fn decoded(encoded: &str) -> String {
    let bytes = openssl::base64::decode_block(encoded)
        .unwrap_or_else(|e| panic!("not base64 ({e}): {encoded}"));
    String::from_utf8(bytes).unwrap_or_else(|_| "<binary>".into())
}

/// `in 24h` for an RFC 3339 time about a day from now.
fn hours_from_now(rfc3339: &str) -> String {
    let digits: String = rfc3339
        .chars()
        .take_while(|c| *c != 'Z' && *c != '.' && *c != '+')
        .filter(char::is_ascii_digit)
        .collect();
    let Ok(time) = Asn1Time::from_str(&format!("{digits}Z")) else {
        return format!("not a UTC time: {rfc3339}");
    };
    let diff = Asn1Time::days_from_now(0).unwrap().diff(&time).unwrap();
    let seconds = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    format!("in {}h", (seconds + 1800) / 3600)
}

/// A ConfigMap value: a YAML mapping (a component configuration, a kubeconfig) opened into its
/// fields, with an embedded CA reduced to its subject; any other text as it is.
fn opened(text: &str) -> Value {
    let Ok(docs) = yaml_rust2::YamlLoader::load_from_str(text) else {
        return Value::String(text.into());
    };
    match docs.as_slice() {
        [doc] if doc.as_hash().is_some() => {
            let mut value = to_json(doc);
            ca_data_reduced(&mut value);
            value
        }
        _ => Value::String(text.into()),
    }
}

fn ca_data_reduced(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if key == "certificate-authority-data" {
                    let pem = decoded(&scalar(item));
                    let subject = X509::from_pem(pem.as_bytes())
                        .map(|c| format!("a CA with subject {:?}", c.subject_name()))
                        .unwrap_or_else(|e| format!("not a certificate: {e}"));
                    *item = Value::String(subject);
                } else {
                    ca_data_reduced(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(ca_data_reduced),
        _ => {}
    }
}
