//! kubeadm-compatible configuration: reading files (v1beta4, and v1beta3 migrated in memory), defaults,
//! validation, and the resolved configuration each command runs with.

pub(crate) mod components;
pub mod decode;
pub mod defaults;
pub(crate) mod diagnostics;
pub mod duration;
mod emit;
pub(crate) mod migrate;
pub mod resolve;
pub mod types;
pub mod validate;
pub mod yaml;

pub use decode::{load, ConfigFile};
pub use diagnostics::{Diagnostic, Problem};
pub use emit::to_yaml;

use std::io::Read;

/// Reads a configuration file, or standard input for `-`.
pub fn read_source(path: &str) -> Result<String, String> {
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read the configuration from standard input: {e}"))?;
        return Ok(text);
    }
    std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the configuration file {path}: {e}"))
}

/// Semantic problems of every kind in the file, checked on defaulted copies, with their lines.
pub fn semantic_diagnostics(file: &ConfigFile) -> Vec<Diagnostic> {
    let mut findings = Vec::new();
    if let Some(init) = &file.init {
        let mut init = init.clone();
        defaults::init(&mut init);
        validate::init(&init, &mut findings);
    }
    if let Some(cluster) = &file.cluster {
        let mut cluster = cluster.clone();
        defaults::cluster(&mut cluster);
        validate::cluster(&cluster, &mut findings);
    }
    if let Some(join) = &file.join {
        let mut join = join.clone();
        defaults::join(&mut join);
        validate::join(&join, &mut findings);
    }
    if let Some(reset) = &file.reset {
        let mut reset = reset.clone();
        defaults::reset(&mut reset);
        validate::reset(&reset, &mut findings);
    }
    findings
        .into_iter()
        .map(|(kind, path, message)| {
            let line = file.line_of(kind, &path);
            Diagnostic::new(Problem::Invalid, kind, &path, line, message)
        })
        .collect()
}

/// Everything `kinit config validate` reports: decoding problems (all strict) and semantic ones.
pub fn validate_text(text: &str) -> (ConfigFile, Vec<Diagnostic>) {
    let mut file = load(text);
    if let Some(cluster) = &file.cluster {
        let mut warnings = validate::cluster_warnings(cluster);
        let oldest = crate::domain::versions::VERSION_TABLE[0].minor;
        if let Ok(version) =
            crate::domain::versions::parse_kubernetes_version(&cluster.kubernetes_version)
        {
            if version.minor < oldest {
                warnings.push(format!("kubernetesVersion {} is older than v1.{oldest}: the file is valid, but `kinit init` will refuse to deploy it", version.text));
            }
        }
        file.notices.extend(warnings);
    }
    let mut problems: Vec<Diagnostic> = file.diagnostics.clone();
    if !problems.iter().any(|d| d.problem == Problem::Syntax) {
        problems.extend(semantic_diagnostics(&file));
    }
    // A file of UpgradeConfiguration or component configurations alone is valid, as kubeadm says;
    // a file with no document at all is refused (kubeadm says ok: README, differences).
    let no_document = file.is_empty()
        && file.upgrade.is_none()
        && file.kubelet.is_none()
        && file.kube_proxy.is_none();
    if no_document && problems.is_empty() {
        problems.push(Diagnostic::new(Problem::MissingKind, "", "", 1, "the file holds no configuration document (InitConfiguration, ClusterConfiguration, JoinConfiguration, ResetConfiguration, UpgradeConfiguration, KubeletConfiguration or KubeProxyConfiguration)"));
    }
    problems.sort_by_key(|d| d.line);
    (file, problems)
}
