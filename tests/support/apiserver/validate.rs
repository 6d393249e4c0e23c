//! Validation: the schema check by kubernetes-validate (strict) in one long-lived Python helper,
//! and the name and key rules of the real server's ObjectMeta validation.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use serde_json::Value;

use super::store::NameRule;

const HELPER: &str = r#"
import functools, json, sys
import kubernetes_validate
from kubernetes_validate import utils
# kubernetes_validate.validate reads the schema files (the definitions are megabytes) on every
# call; caching the reads makes a check take about a millisecond instead of 15.
utils.schema_contents = functools.lru_cache(maxsize=None)(utils.schema_contents)
utils.all_versions = functools.lru_cache(maxsize=None)(utils.all_versions)
version = sys.argv[1]
kubernetes_validate.validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "warm-up"}}, version, strict=True)
for line in sys.stdin:
    obj = json.loads(line)
    try:
        kubernetes_validate.validate(obj, version, strict=True)
        out = {"ok": True}
    except utils.SchemaNotFoundError:
        out = {"ok": True, "unknown": True}
    except utils.ValidationError as e:
        path = ".".join(str(p) for p in e.path)
        out = {"ok": False, "error": (path + ": " if path else "") + e.message}
    except Exception as e:
        out = {"ok": False, "error": "could not be validated: %s" % e}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
"#;

struct Helper {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// One Python process running kubernetes_validate, objects in as JSON lines, verdicts out.
pub struct Validator {
    helper: Mutex<Option<Helper>>,
    version: String,
}

impl Validator {
    pub fn start(version: &str) -> Validator {
        let v = Validator {
            helper: Mutex::new(None),
            version: version.to_string(),
        };
        *v.helper.lock().unwrap() = Some(v.spawn());
        v
    }

    fn spawn(&self) -> Helper {
        let python = crate::repo_root().join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run scripts/test.sh, which installs kubernetes-validate into .venv",
            python.display()
        );
        let mut child = Command::new(&python)
            .args(["-c", HELPER, &self.version])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the kubernetes-validate helper");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Helper {
            child,
            stdin,
            stdout,
        }
    }

    /// A validator that accepts every object, for benchmarks ([`super::Options::check_schemas`]).
    pub fn off() -> Validator {
        Validator {
            helper: Mutex::new(None),
            version: String::new(),
        }
    }

    /// `Ok(())` when kubernetes-validate --strict accepts the object (or does not know its
    /// kind), else its message.
    pub fn check(&self, obj: &Value) -> Result<(), String> {
        let mut guard = self.helper.lock().unwrap();
        let Some(helper) = guard.as_mut() else {
            return Ok(());
        };
        let mut line = serde_json::to_string(obj).unwrap();
        line.push('\n');
        helper
            .stdin
            .write_all(line.as_bytes())
            .expect("write to the kubernetes-validate helper");
        let mut answer = String::new();
        helper
            .stdout
            .read_line(&mut answer)
            .expect("read from the kubernetes-validate helper");
        let verdict: Value = serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("kubernetes-validate helper said {answer:?}: {e}"));
        if verdict["ok"] == true {
            Ok(())
        } else {
            Err(verdict["error"].as_str().unwrap_or("invalid").to_string())
        }
    }
}

impl Drop for Validator {
    fn drop(&mut self) {
        if let Some(mut h) = self.helper.lock().unwrap().take() {
            drop(h.stdin);
            let _ = h.child.kill();
            let _ = h.child.wait();
        }
    }
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const LABEL1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    s.len() <= 63 && label_chars(s)
}

/// A DNS label apart from its length.
fn label_chars(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The problems with a name under a kind's rule (empty when fine).
pub fn name_errors(rule: NameRule, name: &str) -> Vec<String> {
    match rule {
        NameRule::Subdomain => {
            let mut e = Vec::new();
            if name.len() > 253 {
                e.push("must be no more than 253 characters".into());
            }
            if !name.split('.').all(is_label) {
                e.push(SUBDOMAIN_MSG.into());
            }
            e
        }
        NameRule::Label => {
            let mut e = Vec::new();
            if name.len() > 63 {
                e.push("must be no more than 63 characters".into());
            }
            if !label_chars(name) {
                e.push(LABEL_MSG.into());
            }
            e
        }
        NameRule::Label1035 => {
            let mut e = Vec::new();
            if name.len() > 63 {
                e.push("must be no more than 63 characters".into());
            }
            if !label_chars(name) || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
                e.push(LABEL1035_MSG.into());
            }
            e
        }
        NameRule::PathSegment => {
            if name == "." || name == ".." {
                vec![format!("may not be '{name}'")]
            } else if name.contains('/') {
                vec!["may not contain '/'".into()]
            } else if name.contains('%') {
                vec!["may not contain '%'".into()]
            } else {
                vec![]
            }
        }
    }
}

/// ConfigMap and Secret keys: `[-._a-zA-Z0-9]+`, at most 253 characters, not `.`/`..`.
pub fn config_key_ok(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
        && key != "."
        && key != ".."
        && !key.starts_with("..")
}

/// Label keys and values as metav1 validation checks them (qualified name / label value).
pub fn label_errors(labels: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(m) = labels.as_object() else {
        return out;
    };
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.len() <= 63
            && n.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
            && n.as_bytes()[0].is_ascii_alphanumeric()
            && n.as_bytes()[n.len() - 1].is_ascii_alphanumeric()
    };
    for (k, v) in m {
        let key_ok = match k.split_once('/') {
            Some((prefix, n)) => {
                prefix.len() <= 253 && prefix.split('.').all(is_label) && name_ok(n)
            }
            None => name_ok(k),
        };
        if !key_ok {
            out.push((k.clone(), "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".into()));
        }
        let val = v.as_str().unwrap_or("");
        if !(val.is_empty() || name_ok(val)) {
            out.push((k.clone(), format!("Invalid value: {val:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")));
        }
    }
    out
}
