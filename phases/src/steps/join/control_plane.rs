//! The control-plane steps of `kinit join` that init already knows how to do: this node's
//! certificates from the shared CAs, its kubeconfig files, its static Pods, mark-control-plane and
//! the wait for its components. The join flow runs them only on a joining control plane.

use crate::domain::manifests::Component;
use crate::domain::pki::table;
use crate::steps::certs::{self, cert_dir, path};
use crate::workflow::{failed, JoinData, NodeData, PhaseContext, PhaseError};
use crate::{steps::kubeconfig, steps::manifests};

/// What a joining control plane writes of its own; super-admin.conf belongs to the first node
/// only, and kubelet.conf comes from the TLS bootstrap.
const KUBECONFIG_FILES: [&str; 3] = ["admin", "controller-manager", "scheduler"];
const MANIFESTS: [Component; 3] = [
    Component::ApiServer,
    Component::ControllerManager,
    Component::Scheduler,
];

/// The certificates this node makes itself: every one its CAs sign (the CAs and the service
/// account key are the cluster's, shared).
fn own_certificates(ctx: &PhaseContext<'_, JoinData>) -> Result<Vec<&'static str>, String> {
    let (specs, _) = table::certificates(ctx.data.config())?;
    Ok(specs
        .iter()
        .filter(|s| s.ca.is_some())
        .map(|s| s.phase)
        .collect())
}

/// The keys of this node's own certificates, made in one batch with its kubeconfig keys.
pub fn certs_key_demand(ctx: &PhaseContext<'_, JoinData>) -> Result<Vec<String>, String> {
    certs::key_demand(ctx, &own_certificates(ctx)?)
}

pub fn kubeconfig_key_demand(ctx: &PhaseContext<'_, JoinData>) -> Result<Vec<String>, String> {
    kubeconfig::key_demand(ctx, &KUBECONFIG_FILES)
}

pub fn run_certs(ctx: &mut PhaseContext<'_, JoinData>) -> Result<Vec<String>, PhaseError> {
    let (specs, _) = table::certificates(ctx.data.config()).map_err(failed)?;
    let dir = cert_dir(ctx.data.config()).to_string();
    // A joining node must sign with the cluster's CAs: making new ones would split the cluster.
    let mut shared: Vec<String> = specs
        .iter()
        .filter(|s| s.ca.is_none())
        .map(|s| path(&dir, s.base, "crt"))
        .collect();
    shared.push(path(&dir, "sa", "key"));
    shared.push(path(&dir, "sa", "pub"));
    let mut missing = Vec::new();
    for file in shared {
        if ctx.effects.read_file(&file).map_err(failed)?.is_none() {
            missing.push(file);
        }
    }
    if !missing.is_empty() {
        return Err(failed(format!(
            "the cluster's shared certificates are missing on this node: {}. Join with --certificate-key to download them (after `kinit init phase upload-certs --upload-certs` on a control-plane node), or copy them from one",
            missing.join(", ")
        )));
    }
    let mut warnings = certs::before_certs(ctx)?;
    for phase in own_certificates(ctx).map_err(failed)? {
        warnings.extend(certs::run_cert(ctx, phase)?);
    }
    Ok(warnings)
}

pub fn run_kubeconfig(ctx: &mut PhaseContext<'_, JoinData>) -> Result<Vec<String>, PhaseError> {
    let mut warnings = kubeconfig::before_kubeconfigs(ctx)?;
    for phase in KUBECONFIG_FILES {
        warnings.extend(kubeconfig::run_file(ctx, phase)?);
    }
    Ok(warnings)
}

pub fn run_control_plane(ctx: &mut PhaseContext<'_, JoinData>) -> Result<Vec<String>, PhaseError> {
    let mut warnings = manifests::before_manifests(ctx)?;
    for component in MANIFESTS {
        warnings.extend(manifests::run_control_plane(ctx, component)?);
    }
    Ok(warnings)
}
