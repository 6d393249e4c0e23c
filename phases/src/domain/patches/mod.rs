//! kubeadm's `--patches` folder: files named `target[suffix][+patchtype].{yaml,json}` that change what
//! kinit writes for a target, applied in file-name order. Types: `strategic` (the default), `merge`
//! (RFC 7386) and `json` (RFC 6902). A file may hold several patches as YAML documents.

pub(crate) mod strategic;

use crate::domain::config::decode::read_at;
use crate::domain::config::yaml::parse_documents;
use kinit_preflight::Host;
use serde_json::Value;
use strategic::Schema;

/// The targets kubeadm knows, in its order.
pub const TARGETS: [&str; 6] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubeletconfiguration",
    "corednsdeployment",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Strategic,
    Merge,
    Json,
}

impl PatchType {
    /// The name kubeadm prints, the media type of the patch.
    pub fn media_type(self) -> &'static str {
        match self {
            PatchType::Strategic => "application/strategic-merge-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Json => "application/json-patch+json",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PatchFile {
    pub name: String,
    pub target: &'static str,
    pub patch_type: PatchType,
    pub patches: Vec<Value>,
}

/// Every patch file of a folder, read once.
#[derive(Debug, Clone, Default)]
pub struct PatchSet {
    pub dir: String,
    pub files: Vec<PatchFile>,
    /// Files that are no patch, with the reason (`None`: the file is empty), as kubeadm reports them.
    pub ignored: Vec<(String, Option<String>)>,
}

/// What a file name says: a target and a type, a reason to pass the file over, or an error.
enum Parsed {
    Patch(&'static str, PatchType),
    Ignore(String),
}

/// kubeadm's parseFilename: `^(target)([^.+\n]*)?(\+)?(json|merge|strategic)?` on a `.json`/`.yaml` name.
fn parse_file_name(name: &str) -> Result<Parsed, String> {
    let has_extension = [".json", ".yaml"]
        .iter()
        .any(|ext| name.len() > ext.len() && name.ends_with(ext));
    if !has_extension {
        return Ok(Parsed::Ignore(
            "the file extension must be one of [json yaml]".into(),
        ));
    }
    let Some(target) = TARGETS.iter().find(|t| name.starts_with(*t)) else {
        return Ok(Parsed::Ignore(format!(
            "unknown target, must be one of [{}]",
            TARGETS.join(" ")
        )));
    };
    let rest = &name[target.len()..];
    let suffix_len = rest.find(['.', '+', '\n']).unwrap_or(rest.len());
    let Some(after_plus) = rest[suffix_len..].strip_prefix('+') else {
        return Ok(Parsed::Patch(target, PatchType::Strategic));
    };
    let patch_type = [
        ("json", PatchType::Json),
        ("merge", PatchType::Merge),
        ("strategic", PatchType::Strategic),
    ]
    .into_iter()
    .find(|(word, _)| after_plus.starts_with(word))
    .map(|(_, t)| t)
    .ok_or("unknown or missing patch type after '+', must be one of [json merge strategic]")?;
    Ok(Parsed::Patch(target, patch_type))
}

/// A relative folder is taken from where kinit was started, as kubeadm takes it.
fn absolute(dir: &str) -> String {
    if dir.starts_with('/') {
        return dir.to_string();
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(dir).to_string_lossy().into_owned(),
        Err(_) => dir.to_string(),
    }
}

impl PatchSet {
    /// Reads the folder through `host` (so under `--rootfs`); sub-folders are passed over.
    pub fn load(host: &dyn Host, dir: &str) -> Result<PatchSet, String> {
        let folder = absolute(dir);
        let mut names = host
            .dir_entries(&folder)
            .map_err(|e| format!("could not list patch files for path {dir:?}: {e}"))?;
        names.sort();
        let mut set = PatchSet {
            dir: dir.to_string(),
            ..Default::default()
        };
        for name in names {
            let path = format!("{}/{name}", folder.trim_end_matches('/'));
            if host.dir_entries(&path).is_ok() {
                continue;
            }
            let parsed =
                parse_file_name(&name).map_err(|e| format!("the patch file {path}: {e}"))?;
            let (target, patch_type) = match parsed {
                Parsed::Patch(target, patch_type) => (target, patch_type),
                Parsed::Ignore(reason) => {
                    set.ignored.push((name, Some(reason)));
                    continue;
                }
            };
            let text = host
                .read_file(&path)
                .map_err(|e| format!("could not read the patch file {path}: {e}"))?;
            if text.is_empty() {
                set.ignored.push((name, None));
                continue;
            }
            let documents = parse_documents(&text).map_err(|e| {
                format!(
                    "the patch file {path} is not YAML or JSON (line {}: {})",
                    e.line, e.message
                )
            })?;
            let patches = documents
                .into_iter()
                .map(|d| d.value)
                .filter(|v| !v.is_null())
                .collect();
            set.files.push(PatchFile {
                name,
                target,
                patch_type,
                patches,
            });
        }
        Ok(set)
    }

    /// kubeadm's lines on reading the folder.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "[patches] Reading patches from path {:?}",
            self.dir
        )];
        for (name, reason) in &self.ignored {
            lines.push(match reason {
                Some(reason) => format!("[patches] Ignoring file {name:?}: {reason}"),
                None => format!("[patches] Ignoring empty file: {name:?}"),
            });
        }
        if !self.files.is_empty() {
            let names: Vec<&str> = self.files.iter().map(|f| f.name.as_str()).collect();
            lines.push(format!(
                "[patches] Found the following patch files: [{}]",
                names.join(" ")
            ));
        }
        if !self.ignored.is_empty() {
            let names: Vec<&str> = self.ignored.iter().map(|(n, _)| n.as_str()).collect();
            lines.push(format!(
                "[patches] Ignored the following files: [{}]",
                names.join(" ")
            ));
        }
        lines
    }

    pub fn files_for<'a>(&'a self, target: &'a str) -> impl Iterator<Item = &'a PatchFile> + 'a {
        self.files.iter().filter(move |f| f.target == target)
    }

    /// Applies the target's patches in file-name order; also returns kubeadm's line for each applied patch.
    pub fn apply(&self, target: &str, value: Value) -> Result<(Value, Vec<String>), String> {
        let schema = if target == "kubeletconfiguration" {
            Schema::Plain
        } else {
            Schema::Kubernetes
        };
        let mut value = value;
        let mut lines = Vec::new();
        for file in self.files_for(target) {
            for patch in &file.patches {
                value = apply_one(value, patch, file.patch_type, schema).map_err(|e| {
                    format!(
                        "could not apply the patch file {}/{} ({} patch) to {target:?}: {e}",
                        self.dir.trim_end_matches('/'),
                        file.name,
                        match file.patch_type {
                            PatchType::Strategic => "strategic merge",
                            PatchType::Merge => "merge",
                            PatchType::Json => "json",
                        }
                    )
                })?;
                lines.push(format!(
                    "[patches] Applied patch of type {:?} to target {target:?}",
                    file.patch_type.media_type()
                ));
            }
        }
        Ok((value, lines))
    }
}

fn apply_one(
    mut value: Value,
    patch: &Value,
    patch_type: PatchType,
    schema: Schema,
) -> Result<Value, String> {
    match patch_type {
        PatchType::Json => {
            let operations: json_patch::Patch = read_at(patch).map_err(|(path, why)| {
                let at = if path.is_empty() {
                    String::new()
                } else {
                    format!("operation {path}: ")
                };
                format!("not an RFC 6902 JSON patch: {at}{why}")
            })?;
            json_patch::patch(&mut value, &operations).map_err(|e| e.to_string())?;
            Ok(value)
        }
        PatchType::Merge => {
            json_patch::merge(&mut value, patch);
            Ok(value)
        }
        PatchType::Strategic => strategic::apply(value, patch, schema),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kinit_preflight::RealHost;
    use serde_json::json;

    fn kinds(name: &str) -> Result<Option<(&'static str, PatchType)>, String> {
        parse_file_name(name).map(|p| match p {
            Parsed::Patch(t, ty) => Some((t, ty)),
            Parsed::Ignore(_) => None,
        })
    }

    #[test]
    fn a_broken_json_patch_names_the_operation_at_fault() {
        let patch = serde_json::json!([{"op": "add", "path": "/a", "value": 1}, {"path": "/b"}]);
        let error = apply_one(
            serde_json::json!({}),
            &patch,
            PatchType::Json,
            Schema::Kubernetes,
        )
        .unwrap_err();
        assert_eq!(
            error,
            "not an RFC 6902 JSON patch: operation [1]: missing field `op`"
        );
    }

    #[test]
    fn file_names_are_read_as_kubeadm_reads_them() {
        use PatchType::*;
        assert_eq!(
            kinds("kube-apiserver.yaml"),
            Ok(Some(("kube-apiserver", Strategic)))
        );
        assert_eq!(kinds("etcd0+json.json"), Ok(Some(("etcd", Json))));
        assert_eq!(
            kinds("kube-scheduler-mine+merge.yaml"),
            Ok(Some(("kube-scheduler", Merge)))
        );
        assert_eq!(
            kinds("kubeletconfiguration+strategic.json"),
            Ok(Some(("kubeletconfiguration", Strategic)))
        );
        assert_eq!(kinds("kube-apiserver.yml"), Ok(None));
        assert_eq!(kinds("README.md"), Ok(None));
        assert_eq!(kinds("kube-proxy.yaml"), Ok(None));
        assert!(kinds("etcd+banana.yaml").unwrap_err().contains("after '+'"));
    }

    #[test]
    fn patches_apply_in_file_name_order_through_the_host() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("patches");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/etcd.yaml"), "a: sub\n").unwrap();
        std::fs::write(dir.join("etcd1+merge.yaml"), "a: merge\nb: null\n").unwrap();
        std::fs::write(
            dir.join("etcd2+json.json"),
            r#"[{"op": "add", "path": "/c", "value": "json"}]"#,
        )
        .unwrap();
        std::fs::write(dir.join("etcd0.yaml"), "a: first\n---\nb: second\n").unwrap();
        std::fs::write(dir.join("empty-etcd.yaml"), "").unwrap();
        std::fs::write(dir.join("etcd9.yaml"), "").unwrap();
        let host = RealHost::new(root.path());
        let set = PatchSet::load(&host, "/patches").unwrap();
        let (value, lines) = set.apply("etcd", json!({"b": 1})).unwrap();
        assert_eq!(value, json!({"a": "merge", "c": "json"}));
        assert_eq!(lines.len(), 4);
        assert_eq!(
            set.summary_lines().join("\n"),
            "[patches] Reading patches from path \"/patches\"\n\
             [patches] Ignoring file \"empty-etcd.yaml\": unknown target, must be one of [etcd kube-apiserver kube-controller-manager kube-scheduler kubeletconfiguration corednsdeployment]\n\
             [patches] Ignoring empty file: \"etcd9.yaml\"\n\
             [patches] Found the following patch files: [etcd0.yaml etcd1+merge.yaml etcd2+json.json]\n\
             [patches] Ignored the following files: [empty-etcd.yaml etcd9.yaml]"
        );
        std::fs::write(
            dir.join("etcd3+json.json"),
            r#"[{"op": "replace", "path": "/missing", "value": 1}]"#,
        )
        .unwrap();
        let err = PatchSet::load(&host, "/patches")
            .unwrap()
            .apply("etcd", json!({}))
            .unwrap_err();
        assert!(err.contains("/patches/etcd3+json.json"), "{err}");
        assert!(PatchSet::load(&host, "/nowhere").is_err());
    }
}
