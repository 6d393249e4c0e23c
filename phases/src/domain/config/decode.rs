//! Turns a configuration file into typed kinds, collecting every problem with its kind, field and line.

use super::components::{self, Ty};
use super::diagnostics::{Diagnostic, Problem};
use super::migrate;
use super::types::*;
use super::yaml::{self, Document};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;

pub const KUBEADM_GROUP: &str = "kubeadm.k8s.io";
pub const KUBELET_API: &str = "kubelet.config.k8s.io/v1beta1";
pub const KUBE_PROXY_API: &str = "kubeproxy.config.k8s.io/v1alpha1";

/// kubeadm API versions no longer read, with the last kubeadm release that read them.
const OLD_KUBEADM_APIS: [(&str, &str); 5] = [
    ("v1alpha1", "v1.11"),
    ("v1alpha2", "v1.12"),
    ("v1alpha3", "v1.14"),
    ("v1beta1", "v1.15"),
    ("v1beta2", "v1.22"),
];

/// Everything a configuration file held, after decoding and v1beta3 migration (no defaults applied).
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    pub init: Option<InitConfiguration>,
    pub cluster: Option<ClusterConfiguration>,
    pub join: Option<JoinConfiguration>,
    pub reset: Option<ResetConfiguration>,
    pub upgrade: Option<UpgradeConfiguration>,
    pub kubelet: Option<Value>,
    pub kube_proxy: Option<Value>,
    /// The documents by kind, kept so later checks can point at lines.
    pub sources: BTreeMap<String, Document>,
    pub diagnostics: Vec<Diagnostic>,
    /// Notes such as the v1beta3 deprecation, printed as warnings.
    pub notices: Vec<String>,
}

impl ConfigFile {
    /// The problems that stop this command: all of them in strict mode, else all but unknown or duplicate fields and kinds.
    pub fn errors(&self, strict: bool) -> Vec<&Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| strict || !d.problem.is_strict_only())
            .collect()
    }

    /// What a lenient command prints as warnings and goes past.
    pub fn warnings(&self, strict: bool) -> Vec<&Diagnostic> {
        if strict {
            return Vec::new();
        }
        self.diagnostics
            .iter()
            .filter(|d| d.problem.is_strict_only())
            .collect()
    }

    pub fn line_of(&self, kind: &str, path: &str) -> usize {
        self.sources.get(kind).map_or(1, |doc| doc.line_of(path))
    }

    pub fn is_empty(&self) -> bool {
        self.init.is_none() && self.cluster.is_none() && self.join.is_none() && self.reset.is_none()
    }
}

fn format_ignored_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", format_ignored_path(parent)),
        Path::Map { parent, key } => {
            let parent = format_ignored_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => format_ignored_path(parent),
    }
}

/// `value` read as a `T`. On failure, the field path at fault (`clusters[0].cluster`; empty for
/// the whole value) and serde's reason in the words of the file's author.
pub(crate) fn read_at<T: DeserializeOwned>(value: &Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        (
            format_error_path(e.path()),
            without_rust_words(e.inner().to_string()),
        )
    })
}

/// serde names what it expected by the Rust type ("expected struct Networking", "expected
/// internally tagged enum PatchOperation"); a person writing YAML needs to know it is a map.
fn without_rust_words(message: String) -> String {
    for rust_words in ["expected struct ", "expected internally tagged enum "] {
        if let Some((before, rest)) = message.split_once(rust_words) {
            let name = rest.split_whitespace().next().unwrap_or_default();
            return format!("{before}expected a map of {name} fields");
        }
    }
    message
}

fn format_error_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut text = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => text.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Segment::Enum { variant } => text.push_str(variant),
            Segment::Unknown => {}
        }
    }
    text
}

/// Fields whose values are secrets; a type error about them must not echo the value.
fn is_secret_path(path: &str) -> bool {
    let field = path.rsplit('.').next().unwrap_or(path);
    matches!(field, "token" | "tlsBootstrapToken" | "certificateKey")
}

fn value_at_mut<'v>(
    value: &'v mut Value,
    path: &serde_path_to_error::Path,
) -> Option<&'v mut Value> {
    use serde_path_to_error::Segment;
    let mut current = value;
    for segment in path.iter() {
        current = match (segment, current) {
            (Segment::Map { key }, Value::Object(map)) => map.get_mut(key)?,
            (Segment::Seq { index }, Value::Array(items)) => items.get_mut(*index)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Removes the value at a serde path so decoding can go on past it.
fn remove_at(value: &mut Value, path: &serde_path_to_error::Path) -> bool {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut current = value;
    for segment in parents {
        current = match (segment, current) {
            (Segment::Map { key }, Value::Object(map)) => match map.get_mut(key) {
                Some(next) => next,
                None => return false,
            },
            (Segment::Seq { index }, Value::Array(items)) => match items.get_mut(*index) {
                Some(next) => next,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, current) {
        (Segment::Map { key }, Value::Object(map)) => map.remove(key).is_some(),
        (Segment::Seq { index }, Value::Array(items)) if *index < items.len() => {
            items.remove(*index);
            true
        }
        _ => false,
    }
}

/// Decodes one kind, reporting every unknown field and every wrong type, each with its line. After a
/// wrong type the offending field is set aside and decoding starts again, so one run finds them all.
fn decode_kind<T: DeserializeOwned>(
    kind: &str,
    mut value: Value,
    doc: &Document,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<T> {
    let mut unknown: Vec<String> = Vec::new();
    let mut wrong_types = 0;
    let mut set_aside: Vec<String> = Vec::new();
    let mut attempts = 0;
    let decoded = loop {
        attempts += 1;
        if attempts > 1000 {
            break None;
        }
        let mut seen = Vec::new();
        let mut record = |path: serde_ignored::Path<'_>| seen.push(format_ignored_path(&path));
        let deserializer = serde_ignored::Deserializer::new(value.clone(), &mut record);
        let result: Result<T, _> = serde_path_to_error::deserialize(deserializer);
        for path in seen {
            if !unknown.contains(&path) {
                unknown.push(path);
            }
        }
        match result {
            Ok(decoded) => break Some(decoded),
            Err(error) => {
                let path = format_error_path(error.path());
                let message = error.inner().to_string();
                // kubeadm's YAML reader turns a plain number or boolean into a string where the field
                // is a string (`value: 4`), so kinit does the same and decodes again.
                if message.ends_with("expected a string") {
                    if let Some(scalar) = value_at_mut(&mut value, error.path()) {
                        if scalar.is_number() || scalar.is_boolean() {
                            *scalar = Value::String(scalar.to_string());
                            continue;
                        }
                    }
                }
                // A field set aside for a wrong type is not missing as well.
                if let Some(field) = message
                    .strip_prefix("missing field `")
                    .and_then(|m| m.strip_suffix('`'))
                {
                    let full = if path.is_empty() {
                        field.to_string()
                    } else {
                        format!("{path}.{field}")
                    };
                    if set_aside.contains(&full) && remove_at(&mut value, error.path()) {
                        continue;
                    }
                }
                let message = if is_secret_path(&path) {
                    "invalid type: expected a string (the value is not shown: it is a secret)"
                        .to_string()
                } else {
                    without_rust_words(message)
                };
                diagnostics.push(Diagnostic::new(
                    Problem::WrongType,
                    kind,
                    &path,
                    doc.line_of(&path),
                    message,
                ));
                set_aside.push(path.clone());
                wrong_types += 1;
                if wrong_types >= 100 || !remove_at(&mut value, error.path()) {
                    break None;
                }
            }
        }
    };
    for path in unknown {
        diagnostics.push(Diagnostic::new(
            Problem::UnknownField,
            kind,
            &path,
            doc.line_of(&path),
            format!("unknown field {path:?}"),
        ));
    }
    if wrong_types > 0 {
        return None;
    }
    decoded
}

/// Checks a kubelet or kube-proxy document against its schema the way kubeadm's strict decoder does:
/// every unknown field and every wrong type at any depth, each with its line, sorted by line. False
/// when a type is wrong, since kubeadm then refuses the document.
fn check_component(
    kind: &str,
    value: &Value,
    schema: &Ty,
    doc: &Document,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    let mut found = Vec::new();
    walk_component(value, schema, "", &mut found);
    let mut found: Vec<Diagnostic> = found
        .into_iter()
        .map(|(problem, path, message)| {
            Diagnostic::new(problem, kind, &path, doc.line_of(&path), message)
        })
        .collect();
    found.sort_by_key(|d| d.line);
    let fits = found.iter().all(|d| d.problem != Problem::WrongType);
    diagnostics.extend(found);
    fits
}

fn walk_component(value: &Value, ty: &Ty, path: &str, found: &mut Vec<(Problem, String, String)>) {
    let child = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (ty, value) {
        (Ty::Object(fields), Value::Object(map)) => {
            for (key, item) in map {
                let path = child(key);
                match fields.iter().find(|(name, _)| name == key) {
                    Some((_, ty)) => walk_component(item, ty, &path, found),
                    None => {
                        let message = format!("unknown field {path:?}");
                        found.push((Problem::UnknownField, path, message));
                    }
                }
            }
        }
        (Ty::Map(ty), Value::Object(map)) => {
            for (key, item) in map {
                walk_component(item, ty, &child(key), found);
            }
        }
        (Ty::List(ty), Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                walk_component(item, ty, &format!("{path}[{index}]"), found);
            }
        }
        _ => {
            if let Err(message) = ty.check_leaf(value) {
                found.push((Problem::WrongType, path.to_string(), message));
            }
        }
    }
}

/// Reads a kubeadm configuration file: every document, every problem at once.
pub fn load(text: &str) -> ConfigFile {
    let mut file = ConfigFile::default();
    let documents = match yaml::parse_documents(text) {
        Ok(documents) => documents,
        Err(e) => {
            file.diagnostics.push(Diagnostic::new(
                Problem::Syntax,
                "",
                "",
                e.line,
                format!("YAML syntax error at column {}: {}", e.column, e.message),
            ));
            return file;
        }
    };
    let mut control_plane_timeout = None;
    for doc in documents {
        for (path, line) in &doc.duplicates {
            let kind = doc
                .value
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("document");
            file.diagnostics.push(Diagnostic::new(
                Problem::DuplicateField,
                kind,
                path,
                *line,
                format!("duplicate field {path:?}"),
            ));
        }
        let Value::Object(mut object) = doc.value.clone() else {
            file.diagnostics.push(Diagnostic::new(
                Problem::MissingKind,
                "",
                "",
                doc.line_of(""),
                "a document must be a map with apiVersion and kind",
            ));
            continue;
        };
        let api_version = object.remove("apiVersion");
        let kind_value = object.remove("kind");
        let (Some(Value::String(api_version)), Some(Value::String(kind))) =
            (api_version, kind_value)
        else {
            file.diagnostics.push(Diagnostic::new(
                Problem::MissingKind,
                "",
                "",
                doc.line_of(""),
                "kind and apiVersion is mandatory in every document",
            ));
            continue;
        };
        let mut value = Value::Object(object);
        let (group, version) = api_version
            .rsplit_once('/')
            .unwrap_or(("", api_version.as_str()));
        let line = doc.line_of("kind");
        if group == KUBEADM_GROUP {
            if let Some((_, release)) = OLD_KUBEADM_APIS.iter().find(|(old, _)| *old == version) {
                file.diagnostics.push(Diagnostic::new(
                    Problem::UnsupportedApi,
                    &kind,
                    "",
                    doc.line_of("apiVersion"),
                    format!("{api_version} is no longer supported: this file uses an old API spec (kind {kind}); kinit reads kubeadm.k8s.io/v1beta4 and v1beta3. Migrate it with kubeadm {release}'s `kubeadm config migrate`, then with `kinit config migrate`"),
                ));
                continue;
            }
            let kinds: &[&str] = match version {
                "v1beta4" => &[
                    "InitConfiguration",
                    "ClusterConfiguration",
                    "JoinConfiguration",
                    "ResetConfiguration",
                    "UpgradeConfiguration",
                ],
                "v1beta3" => &[
                    "InitConfiguration",
                    "ClusterConfiguration",
                    "JoinConfiguration",
                ],
                _ => {
                    file.diagnostics.push(Diagnostic::new(Problem::UnsupportedApi, &kind, "", doc.line_of("apiVersion"), format!("unknown configuration API {api_version}: kinit reads kubeadm.k8s.io/v1beta4 and kubeadm.k8s.io/v1beta3")));
                    continue;
                }
            };
            if !kinds.contains(&kind.as_str()) {
                file.diagnostics.push(Diagnostic::new(Problem::UnknownKind, &kind, "", line, format!("no kind {kind:?} is registered in {api_version}; it is ignored (the {group} group has {})", kinds.join(", "))));
                continue;
            }
            if version == "v1beta3" {
                file.notices.push(format!("{kind} uses the deprecated API spec {api_version}: it is read as v1beta4 (`kinit config migrate` writes the new spec)"));
                let moved =
                    migrate::v1beta3_to_v1beta4(&kind, &mut value, &doc, &mut file.diagnostics);
                if moved.control_plane_timeout.is_some() {
                    control_plane_timeout = moved.control_plane_timeout;
                }
            }
            match kind.as_str() {
                "InitConfiguration" => {
                    file.init = decode_kind(&kind, value, &doc, &mut file.diagnostics)
                }
                "ClusterConfiguration" => {
                    file.cluster = decode_kind(&kind, value, &doc, &mut file.diagnostics)
                }
                "JoinConfiguration" => {
                    file.join = decode_kind(&kind, value, &doc, &mut file.diagnostics)
                }
                "ResetConfiguration" => {
                    file.reset = decode_kind(&kind, value, &doc, &mut file.diagnostics)
                }
                _ => file.upgrade = decode_kind(&kind, value, &doc, &mut file.diagnostics),
            }
        } else if api_version == KUBELET_API && kind == "KubeletConfiguration" {
            if check_component(
                &kind,
                &value,
                &components::KUBELET,
                &doc,
                &mut file.diagnostics,
            ) {
                let mut value = value;
                components::normalize(&components::KUBELET, &mut value);
                file.kubelet = Some(value);
            }
        } else if api_version == KUBE_PROXY_API && kind == "KubeProxyConfiguration" {
            if check_component(
                &kind,
                &value,
                &components::KUBE_PROXY,
                &doc,
                &mut file.diagnostics,
            ) {
                let mut value = value;
                components::normalize(&components::KUBE_PROXY, &mut value);
                file.kube_proxy = Some(value);
            }
        } else {
            file.diagnostics.push(Diagnostic::new(
                Problem::UnknownKind,
                &kind,
                "",
                line,
                format!("unknown document kind {kind:?} of {api_version:?}; it is ignored (kinit reads {KUBEADM_GROUP}/v1beta4 kinds, {KUBELET_API} KubeletConfiguration and {KUBE_PROXY_API} KubeProxyConfiguration)"),
            ));
        }
        if let Some(first) = file.sources.get(&kind) {
            file.diagnostics.push(Diagnostic::new(
                Problem::DuplicateKind,
                &kind,
                "",
                line,
                format!(
                    "kind {kind:?} is specified twice in the file (first at line {}): keep one",
                    first.line_of("kind")
                ),
            ));
        }
        file.sources.insert(kind, doc);
    }
    if let Some(timeout) = control_plane_timeout {
        apply_moved_timeout(&mut file, timeout);
    }
    file
}

/// `timeoutForControlPlane` lands in InitConfiguration's timeouts, creating the document if the file had none.
fn apply_moved_timeout(file: &mut ConfigFile, timeout: Value) {
    let parsed = match serde_json::from_value::<super::duration::GoDuration>(timeout) {
        Ok(parsed) => parsed,
        Err(e) => {
            let line = file.line_of("ClusterConfiguration", "apiServer.timeoutForControlPlane");
            file.diagnostics.push(Diagnostic::new(
                Problem::WrongType,
                "ClusterConfiguration",
                "apiServer.timeoutForControlPlane",
                line,
                e.to_string(),
            ));
            return;
        }
    };
    let init = file.init.get_or_insert_with(InitConfiguration::default);
    let timeouts = init.timeouts.get_or_insert_with(Timeouts::default);
    timeouts
        .control_plane_component_health_check
        .get_or_insert(parsed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<(Problem, String, usize)> {
        load(text)
            .diagnostics
            .into_iter()
            .map(|d| (d.problem, d.path, d.line))
            .collect()
    }

    const INIT: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n";

    #[test]
    fn every_problem_kind_is_named_with_its_line() {
        assert_eq!(problems("a: [\n")[0].0, Problem::Syntax);
        assert_eq!(
            problems("apiVersion: kubeadm.k8s.io/v1beta2\nkind: InitConfiguration\n")[0].0,
            Problem::UnsupportedApi
        );
        assert_eq!(
            problems("apiVersion: kubeadm.k8s.io/v9\nkind: InitConfiguration\n")[0].0,
            Problem::UnsupportedApi
        );
        assert_eq!(problems("foo: bar\n")[0].0, Problem::MissingKind);
        assert_eq!(
            problems("apiVersion: kubeadm.k8s.io/v1beta4\nkind: Widget\n")[0],
            (Problem::UnknownKind, String::new(), 2)
        );
        assert_eq!(
            problems(&format!("{INIT}extra: 1\n"))[0],
            (Problem::UnknownField, "extra".into(), 3)
        );
        assert_eq!(
            problems(&format!("{INIT}dryRun: true\ndryRun: false\n"))[0],
            (Problem::DuplicateField, "dryRun".into(), 4)
        );
        assert_eq!(
            problems(&format!("{INIT}dryRun: maybe\n"))[0],
            (Problem::WrongType, "dryRun".into(), 3)
        );
        assert_eq!(
            problems(&format!("{INIT}---\n{INIT}"))[0].0,
            Problem::DuplicateKind
        );
    }

    #[test]
    fn plain_numbers_and_booleans_fill_string_fields_as_kubeadm_reads_them() {
        let file = load(&format!("{INIT}nodeRegistration:\n  kubeletExtraArgs:\n    - name: v\n      value: 4\n    - name: x\n      value: true\n"));
        assert!(file.diagnostics.is_empty(), "{:?}", file.diagnostics);
        let args = file.init.unwrap().node_registration.kubelet_extra_args;
        assert_eq!(
            (args[0].value.as_str(), args[1].value.as_str()),
            ("4", "true")
        );
        let v1beta3 = load("apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\napiServer:\n  extraArgs:\n    audit-log-maxage: 30\n");
        assert!(v1beta3.diagnostics.is_empty(), "{:?}", v1beta3.diagnostics);
        assert_eq!(
            v1beta3.cluster.unwrap().api_server.extra_args[0].value,
            "30"
        );
    }

    #[test]
    fn a_scalar_where_a_map_belongs_is_named_as_a_map_not_a_rust_type() {
        let file = load(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking: flat\n",
        );
        let text: Vec<String> = file.diagnostics.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            ["line 3: ClusterConfiguration.networking: invalid type: string \"flat\", expected a map of Networking fields"]
        );
    }

    #[test]
    fn secrets_are_not_echoed_and_a_set_aside_field_is_not_also_missing() {
        let file = load(&format!("{INIT}bootstrapTokens:\n  - token: 123456.1234567890123456\nnodeRegistration:\n  kubeletExtraArgs:\n    - name: v\n      value: [1]\n"));
        let text: Vec<String> = file.diagnostics.iter().map(ToString::to_string).collect();
        assert!(text.iter().all(|t| !t.contains("123456.123")), "{text:?}");
        assert_eq!(
            file.diagnostics.len(),
            1,
            "a numeric token is read as a string, as kubeadm does: {text:?}"
        );
        assert!(
            text.iter().all(|t| !t.contains("missing field")),
            "{text:?}"
        );
        let (_, all) = crate::domain::config::validate_text(&format!(
            "{INIT}bootstrapTokens:\n  - token: 123456.1234567890123456\n"
        ));
        let all: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert!(
            all.iter().any(|t| t.contains("is invalid"))
                && all.iter().all(|t| !t.contains("123456.123")),
            "{all:?}"
        );
    }

    #[test]
    fn every_wrong_type_of_a_document_is_reported() {
        let found = problems(&format!(
            "{INIT}dryRun: maybe\nlocalAPIEndpoint:\n  bindPort: high\nnodeRegistration:\n  kubeletExtraArgs: {{v: \"5\"}}\n  bogus: 1\n"
        ));
        let wrong: Vec<&str> = found
            .iter()
            .filter(|p| p.0 == Problem::WrongType)
            .map(|p| p.1.as_str())
            .collect();
        assert_eq!(
            wrong,
            vec![
                "dryRun",
                "localAPIEndpoint.bindPort",
                "nodeRegistration.kubeletExtraArgs"
            ]
        );
        assert!(found.contains(&(Problem::UnknownField, "nodeRegistration.bogus".into(), 8)));
    }

    #[test]
    fn v1beta3_fields_of_v1beta4_are_unknown_and_maps_migrate() {
        let file = load("apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nencryptionAlgorithm: RSA-2048\napiServer:\n  extraArgs:\n    b: \"2\"\n    a: \"1\"\n  timeoutForControlPlane: 2m\n");
        assert_eq!(file.diagnostics.len(), 1, "{:?}", file.diagnostics);
        assert_eq!(file.diagnostics[0].path, "encryptionAlgorithm");
        let cluster = file.cluster.unwrap();
        let names: Vec<&str> = cluster
            .api_server
            .extra_args
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(names, vec!["a", "b"]);
        let timeout = file
            .init
            .unwrap()
            .timeouts
            .unwrap()
            .control_plane_component_health_check
            .unwrap();
        assert_eq!(timeout.0.as_secs(), 120);
    }

    const KUBELET: &str = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n";
    const KUBE_PROXY: &str =
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n";

    #[test]
    fn unknown_fields_of_components_are_found_at_any_depth() {
        let found = problems(&format!(
            "{KUBELET}authentication:\n  x509:\n    clientCAFile: /ca.crt\n    bogus: 1\nregisterWithTaints:\n  - key: a\n    effect: NoSchedule\n    operator: Exists\npodManifestPath: /etc\n"
        ));
        assert_eq!(
            found,
            vec![
                (Problem::UnknownField, "authentication.x509.bogus".into(), 6),
                (
                    Problem::UnknownField,
                    "registerWithTaints[0].operator".into(),
                    10
                ),
                (Problem::UnknownField, "podManifestPath".into(), 11),
            ]
        );
        let file = load(&format!(
            "{INIT}---\n{KUBE_PROXY}mode: ipvs\nipvs:\n  strictARP: true\n  stricterARP: true\nconntrack:\n  maxPerCore: 0\n"
        ));
        assert_eq!(file.diagnostics.len(), 1, "{:?}", file.diagnostics);
        let found = &file.diagnostics[0];
        assert_eq!(
            (found.problem, found.path.as_str(), found.line),
            (Problem::UnknownField, "ipvs.stricterARP", 9)
        );
        assert_eq!(
            found.to_string(),
            "line 9: unknown field \"ipvs.stricterARP\" in KubeProxyConfiguration"
        );
        assert!(
            file.kube_proxy.is_some() && file.errors(false).is_empty(),
            "an unknown field only warns in init and join"
        );
        assert_eq!(file.errors(true).len(), 1);
    }

    #[test]
    fn every_wrong_type_of_a_component_is_reported_with_the_unknowns() {
        let file = load(&format!(
            "{KUBELET}maxPods: abc\nevictionHard: [memory.available]\nsyncFrequency: ten\nauthentication:\n  webhook:\n    cacheTTL: 120\nlogging:\n  verbosity: 2\n  vmodule: \"\"\n  flushFrequency: 5\nbogus: true\n"
        ));
        let found: Vec<(Problem, &str, usize, &str)> = file
            .diagnostics
            .iter()
            .map(|d| (d.problem, d.path.as_str(), d.line, d.message.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    Problem::WrongType,
                    "maxPods",
                    3,
                    "invalid type: string \"abc\", expected a 32-bit integer"
                ),
                (
                    Problem::WrongType,
                    "evictionHard",
                    4,
                    "invalid type: sequence, expected a map"
                ),
                (
                    Problem::WrongType,
                    "syncFrequency",
                    5,
                    "invalid value: string \"ten\", expected a duration string such as \"10s\" or \"1m0s\" (not a Go duration)"
                ),
                (
                    Problem::WrongType,
                    "authentication.webhook.cacheTTL",
                    8,
                    "invalid type: integer `120`, expected a duration string such as \"10s\" or \"1m0s\""
                ),
                (
                    Problem::WrongType,
                    "logging.vmodule",
                    11,
                    "invalid type: string \"\", expected a sequence"
                ),
                (Problem::UnknownField, "bogus", 13, "unknown field \"bogus\""),
            ]
        );
        assert!(file.kubelet.is_none());
        assert_eq!(
            file.errors(false).len(),
            5,
            "a wrong type stops init and join"
        );
        let proxy = problems(&format!(
            "{KUBE_PROXY}clientConnection:\n  qps: fast\n  burst: 1.5\nconfigSyncPeriod: 15\nnodePortAddresses: primary\n"
        ));
        let paths: Vec<&str> = proxy.iter().map(|p| p.1.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "clientConnection.qps",
                "clientConnection.burst",
                "configSyncPeriod",
                "nodePortAddresses"
            ]
        );
        assert!(proxy.iter().all(|p| p.0 == Problem::WrongType));
    }

    #[test]
    fn components_take_plain_scalars_as_strings_and_null_as_unset() {
        let text = format!(
            "{KUBELET}clusterDomain: 42\nclusterDNS: [10, true]\nevictionHard:\n  memory.available: 100\nstaticPodURLHeader:\n  X-Try: [1, yes]\nresolvConf: ~\nsyncFrequency: null\nshutdownGracePeriod: 60s\nmemoryThrottlingFactor: 1\nmaxPods: 110.0\nreservedMemory:\n  - numaNode: 0\n    limits: {{memory: 1Gi, hugepages-2Mi: 0}}\nlogging:\n  flushFrequency: 5s\n  options:\n    json:\n      infoBufferSize: \"0\"\n---\n{KUBE_PROXY}clientConnection:\n  qps: 5\nlogging:\n  flushFrequency: 5000000000\nconntrack:\n  tcpEstablishedTimeout: 24h0m0s\n"
        );
        let file = load(&text);
        assert!(file.diagnostics.is_empty(), "{:?}", file.diagnostics);
        let kubelet = file.kubelet.expect("the kubelet document is kept");
        // Written back as Go decoded it: the number as a string, the duration in Go's form.
        assert_eq!(kubelet["clusterDomain"], Value::from("42"));
        assert_eq!(kubelet["clusterDNS"], serde_json::json!(["10", "true"]));
        assert_eq!(kubelet["shutdownGracePeriod"], Value::from("1m0s"));
        assert_eq!(kubelet["logging"]["flushFrequency"], Value::from("5s"));
        assert!(file.kube_proxy.is_some());
    }

    #[test]
    fn config_validate_refuses_what_the_components_would() {
        let (_, all) = crate::domain::config::validate_text(&format!(
            "{INIT}---\n{KUBELET}authorization:\n  mode: Webhook\n  webhook:\n    cacheAuthorizedTTL: 5\n    cacheTTL: 5m\n"
        ));
        let all: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(
            all,
            vec![
                "line 9: KubeletConfiguration.authorization.webhook.cacheAuthorizedTTL: invalid type: integer `5`, expected a duration string such as \"10s\" or \"1m0s\"",
                "line 10: unknown field \"authorization.webhook.cacheTTL\" in KubeletConfiguration",
            ]
        );
    }

    #[test]
    fn lenient_mode_keeps_going_past_unknowns_only() {
        let file = load(&format!("{INIT}extra: 1\n---\napiVersion: v1\nkind: Pod\n"));
        assert!(file.errors(false).is_empty());
        assert_eq!(file.warnings(false).len(), 2);
        assert_eq!(file.errors(true).len(), 2);
        assert!(file.init.is_some());
    }
}
