//! The cleanup-node phase of `kinit reset`: kubeadm's steps in kubeadm's order, then what kubeadm
//! leaves for people to clean by hand. A step that cannot be done is a warning; the others still run.

use super::files::{self, CNI_CONFIG_DIR, MANIFESTS_DIR, TMP_DIR};
use super::{containers, mounts, network, step, user_kubeconfig, warn};
use crate::domain::config::defaults::DEFAULT_CERTIFICATES_DIR;
use crate::steps::kubelet::service::ServiceManager;
use crate::workflow::{PhaseContext, PhaseError, ResetData};

pub fn run(ctx: &mut PhaseContext<'_, ResetData>) -> Result<Vec<String>, PhaseError> {
    let mut warnings = Vec::new();
    let reset = ctx.data.reset.clone();
    let cert_dir = if reset.certificates_dir.is_empty() {
        DEFAULT_CERTIFICATES_DIR.to_string()
    } else {
        reset.certificates_dir.clone()
    };
    // The user's kubeconfig is judged by the CA, which goes with the PKI below.
    let ca = user_kubeconfig::node_ca(ctx, &cert_dir);

    stop_kubelet(ctx, &mut warnings);
    let kubelet_dir = mounts::unmount_kubelet_dir(ctx, &mut warnings);
    containers::remove(ctx, &mut warnings);

    if cert_dir != DEFAULT_CERTIFICATES_DIR {
        warn(
            ctx,
            &mut warnings,
            format!("Cleaning a non-default certificates directory: {cert_dir:?}"),
        );
    }
    let config_dirs = [MANIFESTS_DIR.to_string(), cert_dir];
    files::clean_dirs(ctx, &config_dirs, &mut warnings);
    files::remove_files(ctx, &files::kubeconfig_files(), &mut warnings);
    let mut stateful: Vec<String> = kubelet_dir.into_iter().collect();
    if reset.cleanup_tmp_dir {
        stateful.push(TMP_DIR.to_string());
    }
    if !stateful.is_empty() {
        files::clean_dirs(ctx, &stateful, &mut warnings);
    }

    // Beyond kubeadm: what its reset asks people to clean by hand.
    network::remove_iptables(ctx, &mut warnings);
    network::remove_nftables(ctx, &mut warnings);
    network::remove_interfaces(ctx, &mut warnings);
    let cni = [CNI_CONFIG_DIR.to_string()];
    files::clean_dirs(ctx, &cni, &mut warnings);
    user_kubeconfig::remove(ctx, ca.as_deref(), &mut warnings);

    let cleaned: Vec<String> = config_dirs.into_iter().chain(stateful).chain(cni).collect();
    ctx.live(
        |_| Vec::new(),
        |ctx| {
            verify(ctx, &cleaned, &mut warnings);
            Ok(())
        },
    )?;
    Ok(warnings)
}

/// Looks again after a real run and names whatever is still there, so that a reset that says nothing
/// more left the node clean (a step may have failed with only a warning).
fn verify(ctx: &mut PhaseContext<'_, ResetData>, dirs: &[String], warnings: &mut Vec<String>) {
    let mut left: Vec<String> = Vec::new();
    for dir in dirs {
        let names = ctx
            .host
            .dir_entries(&files::in_root(ctx, dir))
            .unwrap_or_default();
        if !names.is_empty() {
            left.push(format!("{} entries in {dir}", names.len()));
        }
    }
    left.extend(
        files::kubeconfig_files()
            .into_iter()
            .filter(|file| ctx.host.exists(&files::file_in_root(ctx, file))),
    );
    left.extend(network::leftovers(ctx));
    if left.is_empty() {
        ctx.sink
            .line("[reset] Checked: nothing that cleanup-node removes is left on this node");
    } else {
        warn(
            ctx,
            warnings,
            format!("still on this node after the cleanup: {}", left.join(", ")),
        );
    }
}

fn stop_kubelet(ctx: &mut PhaseContext<'_, ResetData>, warnings: &mut Vec<String>) {
    match ServiceManager::detect(ctx.host) {
        ServiceManager::Unmanaged(why) => warn(
            ctx,
            warnings,
            format!("The kubelet service could not be stopped by kinit: {why}. Please ensure kubelet is stopped manually"),
        ),
        manager => {
            step(
                ctx,
                "Stopping the kubelet service",
                "Would stop the kubelet service",
            );
            if let Err(e) = manager.stop(ctx.effects, "kubelet") {
                warn(
                    ctx,
                    warnings,
                    format!("The kubelet service could not be stopped by kinit: {e}. Please ensure kubelet is stopped manually"),
                );
            }
        }
    }
}
