//! `kinit reset`: undo what init or join did on this node. kubeadm's steps, then what kubeadm leaves
//! behind and its users clean by hand (kube-proxy's rules, CNI, the user's kubeconfig).

pub(crate) mod cleanup;
pub(crate) mod confirm;
pub(crate) mod containers;
pub(crate) mod files;
pub(crate) mod mounts;
pub(crate) mod network;
pub(crate) mod preflight;
pub(crate) mod user_kubeconfig;

use crate::workflow::{PhaseContext, ResetData};

/// Prints a warning the kubeadm way and keeps it for the phase's record.
pub(crate) fn warn(
    ctx: &mut PhaseContext<'_, ResetData>,
    warnings: &mut Vec<String>,
    text: String,
) {
    ctx.sink.line(&format!("[reset] WARNING: {text}"));
    warnings.push(text);
}

/// kubeadm prints a dry run's steps with "Would"; the effects layer lists the details after.
pub(crate) fn step(ctx: &mut PhaseContext<'_, ResetData>, doing: &str, would: &str) {
    let text = ctx.wording(doing, would);
    ctx.sink.line(&format!("[reset] {text}"));
}
