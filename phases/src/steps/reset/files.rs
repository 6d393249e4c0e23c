//! The files and folder contents kubeadm's reset removes, plus the CNI configuration.

use super::{step, warn};
use crate::workflow::{PhaseContext, ResetData};
use kinit_preflight::root_path::resolve_in_root;
use std::path::Path;

pub use crate::domain::layout::{CNI_CONFIG_DIR, KUBERNETES_DIR, MANIFESTS_DIR, TMP_DIR};

/// The kubeconfig files of init and join in /etc/kubernetes, in kubeadm's order.
pub use crate::domain::layout::KUBECONFIG_FILES;

/// Go prints a list of strings as `[a b c]`; kubeadm's reset lines do, so kinit's do too.
pub fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Removes what is inside each folder and keeps the folders: their owners and modes were set by
/// whoever installed the node, and a package may own them.
pub fn clean_dirs(
    ctx: &mut PhaseContext<'_, ResetData>,
    dirs: &[String],
    warnings: &mut Vec<String>,
) {
    step(
        ctx,
        &format!("Deleting contents of directories: {}", go_list(dirs)),
        &format!("Would delete contents of directories: {}", go_list(dirs)),
    );
    for given in dirs {
        let dir = &in_root(ctx, given);
        if too_broad(given) || too_broad(dir) {
            warn(
                ctx,
                warnings,
                format!("{given:?} is too close to / to be emptied; remove what is Kubernetes' in it yourself"),
            );
            continue;
        }
        let mut names = match ctx.host.dir_entries(dir) {
            Ok(names) => names,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                warn(
                    ctx,
                    warnings,
                    format!("failed to delete contents of {dir:?}: {e}"),
                );
                continue;
            }
        };
        names.sort();
        for name in names {
            let path = format!("{}/{name}", dir.trim_end_matches('/'));
            if let Err(e) = ctx.effects.remove(&path) {
                warn(
                    ctx,
                    warnings,
                    format!("failed to delete contents of {dir:?}: {e}"),
                );
            }
        }
    }
}

pub fn remove_files(
    ctx: &mut PhaseContext<'_, ResetData>,
    files: &[String],
    warnings: &mut Vec<String>,
) {
    step(
        ctx,
        &format!("Deleting files: {}", go_list(files)),
        &format!("Would delete files: {}", go_list(files)),
    );
    for file in files {
        if let Err(e) = ctx.effects.remove(&file_in_root(ctx, file)) {
            warn(ctx, warnings, format!("failed to remove file: {e}"));
        }
    }
}

pub fn kubeconfig_files() -> Vec<String> {
    KUBECONFIG_FILES
        .iter()
        .map(|name| format!("{KUBERNETES_DIR}/{name}"))
        .collect()
}

/// `/`, `/etc` or `/var` as a certificates folder would take the node with it; kubeadm would empty it.
fn too_broad(dir: &str) -> bool {
    Path::new(dir)
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .count()
        < 2
}

/// A folder with its links followed inside the root: under `--rootfs`, a link to an absolute path must
/// not lead out of the root to the machine's own files.
pub fn in_root(ctx: &PhaseContext<'_, ResetData>, dir: &str) -> String {
    resolve_in_root(&ctx.host.host_path("/"), dir).unwrap_or_else(|_| dir.to_string())
}

/// A file in a folder resolved by [`in_root`]; the file itself, if a link, is removed as a link.
pub fn file_in_root(ctx: &PhaseContext<'_, ResetData>, file: &str) -> String {
    let path = Path::new(file);
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => format!(
            "{}/{}",
            in_root(ctx, &parent.to_string_lossy()).trim_end_matches('/'),
            name.to_string_lossy()
        ),
        _ => file.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_folders_are_too_broad_to_empty() {
        for dir in ["/", "/etc", "/var/", "/etc/../"] {
            assert!(too_broad(dir), "{dir}");
        }
        for dir in ["/etc/kubernetes/pki", "/srv/pki"] {
            assert!(!too_broad(dir), "{dir}");
        }
    }
}
