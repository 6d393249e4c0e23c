//! `kinit init phase kubelet-finalize enable-client-cert-rotation`: once the kubelet holds a
//! rotating client certificate, kubelet.conf points at it instead of the embedded one kinit made,
//! which would otherwise expire with nobody to renew it.

use crate::domain::kubeconfig::Kubeconfig;
use crate::steps::kubelet::service::ServiceManager;
use crate::workflow::{failed, NodeData, PhaseContext, PhaseError};

use crate::domain::layout::KUBELET_CONF;
use crate::domain::layout::KUBELET_PKI_DIR as DEFAULT_KUBELET_PKI;
const CLIENT_PEM: &str = "kubelet-client-current.pem";

/// Where the kubelet keeps its certificates: its `cert-dir` extra arg (the last one), or the default.
fn kubelet_pki<D: NodeData>(ctx: &PhaseContext<'_, D>) -> String {
    ctx.data
        .config()
        .init
        .node_registration
        .kubelet_extra_args
        .iter()
        .rev()
        .find(|a| a.name == "cert-dir")
        .map_or_else(|| DEFAULT_KUBELET_PKI.to_string(), |a| a.value.clone())
}

pub fn run_enable_client_cert_rotation<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
) -> Result<Vec<String>, PhaseError> {
    let pem = format!("{}/{CLIENT_PEM}", kubelet_pki(ctx).trim_end_matches('/'));
    if ctx.effects.read_file(&pem).map_err(failed)?.is_none() {
        tracing::info!("[kubelet-finalize] Assuming that kubelet client certificate rotation is disabled: {pem} does not exist");
        return Ok(Vec::new());
    }
    tracing::info!("[kubelet-finalize] Assuming that kubelet client certificate rotation is enabled: found {pem:?}");
    ctx.sink.line(&format!(
        "[kubelet-finalize] Updating {KUBELET_CONF:?} to point to a rotatable kubelet client certificate and key"
    ));
    Ok(ctx
        .live(|_| Vec::new(), |ctx| point_at_rotating_pem(ctx, pem))?
        .unwrap_or_default())
}

/// Rewrites kubelet.conf to name the rotating certificate file instead of embedding its first
/// certificate, and restarts the kubelet. Only the kubelet writes kubelet.conf, so a dry run has
/// none to rewrite.
fn point_at_rotating_pem<D>(
    ctx: &mut PhaseContext<'_, D>,
    pem: String,
) -> Result<Vec<String>, PhaseError> {
    let text = ctx
        .effects
        .read_file(KUBELET_CONF)
        .map_err(failed)?
        .ok_or_else(|| {
            failed(format!(
                "could not load {KUBELET_CONF:?}: it does not exist"
            ))
        })?;
    let mut kubeconfig =
        Kubeconfig::parse(&String::from_utf8_lossy(&text), KUBELET_CONF).map_err(failed)?;
    if kubeconfig.current_context.is_empty() {
        return Err(failed(format!(
            "the file {KUBELET_CONF:?} does not have current context set"
        )));
    }
    let current = kubeconfig.current_context.clone();
    let user_name = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == current)
        .map(|c| c.context.user.clone())
        .ok_or_else(|| {
            failed(format!(
                "the file {KUBELET_CONF:?} is not a valid kubeconfig: {current:?} set as current-context, but not found in context list"
            ))
        })?;
    let user = kubeconfig
        .users
        .iter_mut()
        .find(|u| u.name == user_name && !user_name.is_empty())
        .ok_or_else(|| {
            failed(format!(
                "the file {KUBELET_CONF:?} does not contain authentication for user {user_name:?}"
            ))
        })?;
    user.user.client_certificate_data = None;
    user.user.client_key_data = None;
    user.user.client_certificate = Some(pem.clone());
    user.user.client_key = Some(pem);
    let yaml = kubeconfig.to_yaml().map_err(failed)?;
    ctx.effects
        .write_file(KUBELET_CONF, yaml.as_bytes(), 0o600)
        .map_err(failed)?;
    tracing::info!(
        "[kubelet-finalize] Restarting the kubelet to enable client certificate rotation"
    );
    let mut warnings = Vec::new();
    if let Err(e) = ServiceManager::detect(ctx.host).restart(ctx.effects, "kubelet") {
        let warning = format!(
            "could not restart the kubelet, restart it to use the rotated certificate: {e}"
        );
        ctx.sink
            .line(&format!("[kubelet-finalize] WARNING: {warning}"));
        warnings.push(warning);
    }
    Ok(warnings)
}
