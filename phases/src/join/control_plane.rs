//! The control-plane steps of `kinit join` that init already knows how to do: this node's
//! certificates from the shared CAs, its kubeconfig files, its static Pods, mark-control-plane and
//! the wait for its components. On a worker each is a no-op.

use super::is_control_plane;
use crate::certs_phase::{self, cert_dir, path};
use crate::pki::table;
use crate::runner::{failed, PhaseContext, PhaseError};
use crate::{kubeconfig_phase, manifests_phase, mark_control_plane_phase, wait};

/// What a joining control plane writes of its own; super-admin.conf belongs to the first node
/// only, and kubelet.conf comes from the TLS bootstrap.
const KUBECONFIG_FILES: [&str; 3] = ["admin", "controller-manager", "scheduler"];
const MANIFESTS: [&str; 3] = ["apiserver", "controller-manager", "scheduler"];

/// Runs init's `unit` (`certs/apiserver`) as part of the current join unit.
fn run_as(
    ctx: &mut PhaseContext<'_>,
    unit: &str,
    run: fn(&mut PhaseContext<'_>) -> Result<Vec<String>, PhaseError>,
) -> Result<Vec<String>, PhaseError> {
    let own = std::mem::replace(&mut ctx.current, unit.to_string());
    let outcome = run(ctx);
    ctx.current = own;
    outcome
}

/// Counts init's `units` as selected in this run: the certs phase makes the keys of every
/// selected certificate and kubeconfig in one parallel batch, as in init.
fn select(ctx: &mut PhaseContext<'_>, units: &[String]) {
    for unit in units {
        if !ctx.selected.contains(unit) {
            ctx.selected.push(unit.clone());
        }
    }
}

fn kubeconfig_units() -> Vec<String> {
    KUBECONFIG_FILES
        .iter()
        .map(|f| format!("kubeconfig/{f}"))
        .collect()
}

/// Runs init's `units` in order as part of the current join unit.
fn run_all(
    ctx: &mut PhaseContext<'_>,
    units: &[String],
    run: fn(&mut PhaseContext<'_>) -> Result<Vec<String>, PhaseError>,
) -> Result<Vec<String>, PhaseError> {
    select(ctx, units);
    let mut warnings = Vec::new();
    for unit in units {
        warnings.extend(run_as(ctx, unit, run)?);
    }
    Ok(warnings)
}

pub fn run_certs(ctx: &mut PhaseContext<'_>) -> Result<Vec<String>, PhaseError> {
    if !is_control_plane(ctx) {
        return Ok(Vec::new());
    }
    let (specs, _) = table::certificates(ctx.config).map_err(failed)?;
    let dir = cert_dir(ctx.config).to_string();
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
    let leaves: Vec<String> = specs
        .iter()
        .filter(|s| s.ca.is_some())
        .map(|s| format!("certs/{}", s.phase))
        .collect();
    // The kubeconfig files' client keys come in the same batch as the certificates' keys.
    if ctx
        .selected
        .iter()
        .any(|u| u == "control-plane-prepare/kubeconfig")
    {
        select(ctx, &kubeconfig_units());
    }
    run_all(ctx, &leaves, certs_phase::run)
}

pub fn run_kubeconfig(ctx: &mut PhaseContext<'_>) -> Result<Vec<String>, PhaseError> {
    if !is_control_plane(ctx) {
        return Ok(Vec::new());
    }
    run_all(ctx, &kubeconfig_units(), kubeconfig_phase::run)
}

pub fn run_control_plane(ctx: &mut PhaseContext<'_>) -> Result<Vec<String>, PhaseError> {
    if !is_control_plane(ctx) {
        return Ok(Vec::new());
    }
    let units: Vec<String> = MANIFESTS
        .iter()
        .map(|m| format!("control-plane/{m}"))
        .collect();
    run_all(ctx, &units, manifests_phase::run_control_plane)
}

pub fn run_mark_control_plane(ctx: &mut PhaseContext<'_>) -> Result<Vec<String>, PhaseError> {
    if !is_control_plane(ctx) {
        return Ok(Vec::new());
    }
    run_as(ctx, "mark-control-plane", mark_control_plane_phase::run)
}

pub fn run_wait_control_plane(ctx: &mut PhaseContext<'_>) -> Result<Vec<String>, PhaseError> {
    if !is_control_plane(ctx) {
        return Ok(Vec::new());
    }
    wait::run_init(ctx)
}
