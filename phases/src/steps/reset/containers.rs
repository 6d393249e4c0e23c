//! Removing the Kubernetes pods through the container runtime's CRI, with crictl as kubeadm's users do.

use super::{step, warn};
use crate::workflow::{PhaseContext, ResetData};

/// The socket to clean through: the reset configuration's, else the one found on the node (several
/// found is kubeadm's error: which runtime holds the pods cannot be guessed).
fn socket(ctx: &PhaseContext<'_, ResetData>) -> Result<String, String> {
    match &ctx.data.reset.cri_socket {
        socket if !socket.is_empty() => Ok(socket.clone()),
        _ => crate::domain::config::defaults::cri_socket(&ctx.host.host_path("/")),
    }
}

pub fn remove(ctx: &mut PhaseContext<'_, ResetData>, warnings: &mut Vec<String>) {
    let socket = match socket(ctx) {
        Ok(socket) => socket,
        Err(e) => {
            warn(
                ctx,
                warnings,
                format!("the Kubernetes containers were not removed: {e}"),
            );
            return;
        }
    };
    step(
        ctx,
        "Removing Kubernetes-managed containers",
        "Would remove Kubernetes-managed containers",
    );
    let manual = format!("crictl --runtime-endpoint {socket} rmp --all --force");
    let Some(crictl) = ctx.host.find_in_path("crictl") else {
        warn(
            ctx,
            warnings,
            format!("crictl is not on PATH, so the Kubernetes containers were not removed: run `{manual}` once crictl is installed, or remove them through your container runtime"),
        );
        return;
    };
    // Listing changes nothing, so a dry run lists too and can name the pods it would remove.
    let listed = ctx
        .host
        .run(&crictl, &["--runtime-endpoint", &socket, "pods", "--quiet"]);
    let pods: Vec<String> = match listed {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        Ok(out) => {
            let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
            warn(
                ctx,
                warnings,
                format!("cannot list the pods through {socket} ({why}); if the runtime holds Kubernetes containers, run `{manual}`"),
            );
            return;
        }
        Err(e) => {
            warn(ctx, warnings, format!("cannot run crictl: {e}"));
            return;
        }
    };
    if pods.is_empty() {
        ctx.sink.line("[reset] No Kubernetes pods to remove");
        return;
    }
    let mut args = vec!["--runtime-endpoint", socket.as_str(), "rmp", "--force"];
    args.extend(pods.iter().map(String::as_str));
    match ctx.effects.run("crictl", &args) {
        Ok(true) => {}
        Ok(false) => warn(
            ctx,
            warnings,
            format!("`crictl {}` failed: run `{manual}`", args.join(" ")),
        ),
        Err(e) => warn(ctx, warnings, format!("{e}: run `{manual}`")),
    }
}
