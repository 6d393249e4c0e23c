//! The files and folder contents kubeadm's reset removes, plus the CNI configuration.

use super::{step, warn};
use crate::runner::PhaseContext;

pub const KUBERNETES_DIR: &str = "/etc/kubernetes";
pub const MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";
pub const TMP_DIR: &str = "/etc/kubernetes/tmp";
pub const CNI_CONFIG_DIR: &str = "/etc/cni/net.d";

/// The kubeconfig files of init and join in /etc/kubernetes, in kubeadm's order.
pub const KUBECONFIG_FILES: [&str; 6] = [
    "admin.conf",
    "super-admin.conf",
    "kubelet.conf",
    "bootstrap-kubelet.conf",
    "controller-manager.conf",
    "scheduler.conf",
];

/// Go prints a list of strings as `[a b c]`; kubeadm's reset lines do, so kinit's do too.
pub fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Removes what is inside each folder and keeps the folders: their owners and modes were set by
/// whoever installed the node, and a package may own them.
pub fn clean_dirs(ctx: &mut PhaseContext<'_>, dirs: &[String], warnings: &mut Vec<String>) {
    step(
        ctx,
        &format!("Deleting contents of directories: {}", go_list(dirs)),
        &format!("Would delete contents of directories: {}", go_list(dirs)),
    );
    for dir in dirs {
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

pub fn remove_files(ctx: &mut PhaseContext<'_>, files: &[String], warnings: &mut Vec<String>) {
    step(
        ctx,
        &format!("Deleting files: {}", go_list(files)),
        &format!("Would delete files: {}", go_list(files)),
    );
    for file in files {
        if let Err(e) = ctx.effects.remove(file) {
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
