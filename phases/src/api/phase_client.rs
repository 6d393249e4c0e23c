//! The API session of a `kinit init` run: opened once from admin.conf when the first phase needs
//! it, after making sure admin.conf's group is bound to cluster-admin, as kubeadm does.

use std::time::Duration;

use super::object::ApiObject;
use super::rbac;
use super::session::Session;
use crate::runner::{PhaseContext, PhaseError};

/// The group admin.conf's certificate carries, bound to cluster-admin by `kubeadm:cluster-admins`.
pub const CLUSTER_ADMINS_GROUP: &str = "kubeadm:cluster-admins";

/// kubeadm's default `timeouts.kubernetesAPICall`.
pub const DEFAULT_CALL_LIMIT: Duration = Duration::from_secs(60);

pub fn call_limit(ctx: &PhaseContext<'_>) -> Duration {
    ctx.config
        .init
        .timeouts
        .as_ref()
        .and_then(|t| t.kubernetes_api_call)
        .map_or(DEFAULT_CALL_LIMIT, |d| d.0)
}

fn failed(e: impl ToString) -> PhaseError {
    PhaseError::Failed(e.to_string())
}

fn connect_with(ctx: &mut PhaseContext<'_>, path: &str) -> Result<Session, PhaseError> {
    let text = ctx.effects.read_file(path).map_err(failed)?.ok_or_else(|| {
        failed(format!(
            "{path} does not exist: run `kinit init phase kubeconfig` first, or point --kubeconfig at a kubeconfig for this cluster"
        ))
    })?;
    Session::connect(&String::from_utf8_lossy(&text), path, call_limit(ctx)).map_err(failed)
}

fn cluster_admins_binding() -> ApiObject {
    rbac::cluster_role_binding(
        CLUSTER_ADMINS_GROUP,
        "cluster-admin",
        vec![rbac::group(CLUSTER_ADMINS_GROUP)],
    )
    .keep_existing()
}

/// The run's session, opened on first use. admin.conf's identity is only an admin once the
/// `kubeadm:cluster-admins` binding exists; when the API server refuses admin.conf to create it,
/// super-admin.conf (in `system:masters`) creates it, and admin.conf is used from then on.
pub fn session<'c>(ctx: &'c mut PhaseContext<'_>) -> Result<&'c Session, PhaseError> {
    if ctx.api.is_none() {
        let admin = connect_with(ctx, &ctx.kubeconfig.clone())?;
        let binding = [cluster_admins_binding()];
        match admin.apply_all(&binding) {
            Ok(()) => {}
            Err(errors) if errors.iter().all(|e| e.is_forbidden()) => {
                let super_admin = format!(
                    "{}/super-admin.conf",
                    ctx.kubeconfig_dir.trim_end_matches('/')
                );
                tracing::info!(
                    "{} may not create the {CLUSTER_ADMINS_GROUP} ClusterRoleBinding yet; creating it with {super_admin}",
                    admin.source
                );
                connect_with(ctx, &super_admin)?
                    .apply_all(&binding)
                    .map_err(|errors| failed(join_errors(&errors)))?;
            }
            Err(errors) => return Err(failed(join_errors(&errors))),
        }
        ctx.api = Some(admin);
    }
    Ok(ctx.api.as_ref().expect("opened above"))
}

pub fn join_errors(errors: &[super::session::ApiError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Applies objects that do not depend on each other, all at once. A dry run prints each instead,
/// in order, and contacts nothing.
pub fn apply(ctx: &mut PhaseContext<'_>, objects: &[ApiObject]) -> Result<(), PhaseError> {
    if ctx.dry_run {
        for object in objects {
            ctx.sink.line(&format!(
                "[dryrun] Would apply {}:\n{}",
                object.describe(),
                object.display_yaml().trim_end()
            ));
        }
        return Ok(());
    }
    session(ctx)?
        .apply_all(objects)
        .map_err(|errors| failed(join_errors(&errors)))
}
