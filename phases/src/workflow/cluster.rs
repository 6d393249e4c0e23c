//! The API session of a `kinit init` run: opened once from admin.conf when the first phase needs
//! it, after making sure admin.conf's group is bound to cluster-admin, as kubeadm does.

use std::time::Duration;

use super::{failed, NodeData, PhaseContext, PhaseError};
use crate::exec::api::object::ApiObject;
use crate::exec::api::rbac;
use crate::exec::api::session::{self, Session, DEFAULT_CALL_LIMIT};
use crate::exec::effects::Change;

/// How long a refusal of admin.conf may still be the authorizer catching up with its new binding.
const AUTHORIZER_CATCH_UP: Duration = Duration::from_secs(10);

/// The group admin.conf's certificate carries, bound to cluster-admin by `kubeadm:cluster-admins`.
pub const CLUSTER_ADMINS_GROUP: &str = "kubeadm:cluster-admins";

pub fn call_limit<D: NodeData>(ctx: &PhaseContext<'_, D>) -> Duration {
    ctx.data
        .config()
        .init
        .timeouts
        .as_ref()
        .and_then(|t| t.kubernetes_api_call)
        .map_or(DEFAULT_CALL_LIMIT, |d| d.0)
}

/// A client for the kubeconfig at `path`, read through the run's effects; no binding is made.
pub fn connect_with<D: NodeData>(
    ctx: &PhaseContext<'_, D>,
    path: &str,
) -> Result<Session, PhaseError> {
    let text = ctx.effects.read_file(path).map_err(failed)?.ok_or_else(|| {
        failed(format!(
            "{path} does not exist: run `kinit init phase kubeconfig` first, or point --kubeconfig at a kubeconfig for this cluster"
        ))
    })?;
    let text = crate::exec::api::with_files_inline(&String::from_utf8_lossy(&text), path, |file| {
        ctx.host.read_file(file).map_err(|e| e.to_string())
    })
    .map_err(failed)?;
    Session::connect(&text, path, call_limit(ctx)).map_err(failed)
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
pub fn session<'c, D: NodeData>(
    ctx: &'c mut PhaseContext<'_, D>,
) -> Result<&'c Session, PhaseError> {
    if ctx.api.is_none() {
        let super_admin = crate::domain::layout::file_in(
            ctx.data.kubeconfig_dir(),
            crate::domain::layout::SUPER_ADMIN_CONF_FILE,
        );
        // The fallback client is made while admin.conf's attempt is under way, off the critical
        // path (a client costs about 2 ms: its TLS trusts the kubeconfig's CA alone, see `tls`).
        let fallback = match ctx.effects.read_file(&super_admin).map_err(failed)? {
            Some(text) => {
                let (path, limit) = (super_admin.clone(), call_limit(ctx));
                Some(std::thread::spawn(move || {
                    Session::connect(&String::from_utf8_lossy(&text), &path, limit)
                }))
            }
            None => None,
        };
        let admin = connect_with(ctx, ctx.data.kubeconfig())?;
        // Only an identity the binding names needs it: a node's kubelet.conf (a worker's
        // `upgrade node`) goes on without it.
        let text = ctx
            .effects
            .read_file(ctx.data.kubeconfig())
            .map_err(failed)?;
        let in_group = text.is_some_and(|text| {
            certificate_in_group(
                &String::from_utf8_lossy(&text),
                &admin.source,
                CLUSTER_ADMINS_GROUP,
            )
        });
        let binding = [cluster_admins_binding()];
        let made = if in_group {
            admin.apply_all(&binding)
        } else {
            Ok(())
        };
        match made {
            Ok(()) => {}
            Err(errors) if errors.iter().all(|e| e.is_forbidden()) => {
                tracing::info!(
                    "{} may not create the {CLUSTER_ADMINS_GROUP} ClusterRoleBinding yet; creating it with {super_admin}",
                    admin.source
                );
                let fallback = fallback.ok_or_else(|| {
                    failed(format!(
                        "{} may not create the {CLUSTER_ADMINS_GROUP} ClusterRoleBinding, and there is no {super_admin} to create it with",
                        admin.source
                    ))
                })?;
                fallback
                    .join()
                    .map_err(|_| failed("the super-admin client could not be made"))?
                    .map_err(failed)?
                    .apply_all(&binding)
                    .map_err(|errors| failed(session::join(&errors)))?;
                // The API server's authorizer learns of the binding a moment after it is stored
                // and refuses admin.conf until then: its calls try a refusal again for a few
                // seconds (kubeadm retries its calls on any error).
                crate::exec::api::retry::authorizer_catching_up(AUTHORIZER_CATCH_UP);
            }
            Err(errors) => return Err(failed(session::join(&errors))),
        }
        // The API work of the phases still to run depends on nothing a phase before it does in
        // the cluster, so it starts now and overlaps instead of adding up. Unlike kubeadm, a run
        // that fails in one phase may therefore have applied a later one's objects; each object is
        // applied idempotently, so the next run converges.
        for (unit, ahead) in std::mem::take(&mut ctx.ahead) {
            if let Some(work) = ahead(ctx, &admin)? {
                tracing::debug!("API: {unit} started ahead");
                admin.start(&unit, work);
            }
        }
        ctx.api = Some(admin);
    }
    Ok(ctx.api.as_ref().expect("opened above"))
}

/// Whether the kubeconfig's own client certificate puts its user in `group` (admin.conf's is in
/// kubeadm:cluster-admins); false where it cannot tell (a token, a certificate in a file).
fn certificate_in_group(text: &str, source: &str, group: &str) -> bool {
    let Ok(kubeconfig) = crate::domain::kubeconfig::Kubeconfig::parse(text, source) else {
        return false;
    };
    kubeconfig
        .current()
        .and_then(|(_, user)| user.client_certificate_data.as_deref())
        .and_then(|data| crate::domain::kubeconfig::unbase64(data).ok())
        .and_then(|pem| crate::domain::pki::cert::parse_pem(&pem, source).ok())
        .is_some_and(|cert| {
            crate::domain::pki::cert::organizations(&cert)
                .iter()
                .any(|o| o == group)
        })
}

/// Applies objects that do not depend on each other, all at once, or collects the outcome of the
/// same objects started ahead (`Phase::ahead`). A dry run prints each instead, in order, and
/// contacts nothing.
pub fn apply<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
    objects: &[ApiObject],
) -> Result<(), PhaseError> {
    if ctx.dry_run {
        for object in objects {
            ctx.sink.object(object);
            ctx.effects.plan(Change::Api {
                verb: object.mode.verb(),
                object: object.describe(),
            });
            ctx.planned_objects.push(object.clone());
        }
        return Ok(());
    }
    let current = ctx.current.clone();
    let session = session(ctx)?;
    // Work started ahead for this phase already holds its outcome.
    if let Some(outcome) = session.finish(&current) {
        return outcome.map_err(failed);
    }
    session
        .apply_all(objects)
        .map_err(|errors| failed(session::join(&errors)))
}

/// What a dry run shows in place of API work that reads before it writes.
pub enum Shown {
    /// `[dryrun] Would <text>`.
    Line(String),
    /// The objects the work would send, shown as `apply` shows them.
    Objects(Vec<ApiObject>),
}

/// Runs a phase's API work, or collects it when it was started ahead. A dry run contacts nothing
/// and shows what `shown` makes instead.
pub fn run_work<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
    work: impl FnOnce(&Session) -> session::Work,
    shown: impl FnOnce() -> Result<Shown, String>,
) -> Result<(), PhaseError> {
    if ctx.dry_run {
        return match shown().map_err(failed)? {
            Shown::Line(what) => {
                ctx.sink.line(&format!("[dryrun] Would {what}"));
                ctx.effects.plan(Change::Cluster { what });
                Ok(())
            }
            Shown::Objects(objects) => apply(ctx, &objects),
        };
    }
    let current = ctx.current.clone();
    let session = session(ctx)?;
    let outcome = match session.finish(&current) {
        Some(outcome) => outcome,
        None => session.block_on(work(session)),
    };
    outcome.map_err(failed)
}

/// A merge patch of Node `node`; `what` says what it does ("annotate Node cp1 with ...") in errors
/// and in the dry run's line.
pub fn patch_node<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
    node: &str,
    what: &str,
    patch: &serde_json::Value,
) -> Result<(), PhaseError> {
    if ctx.dry_run {
        ctx.sink.line(&format!("[dryrun] Would {what}"));
        ctx.effects.plan(Change::Cluster {
            what: what.to_string(),
        });
        return Ok(());
    }
    crate::exec::api::node::merge(session(ctx)?, node, what, patch).map_err(failed)
}

/// Reads the object `namespace/name` of kind `K`. A real run asks the API server. A dry run
/// contacts nothing and answers from its own plan: an object an earlier step of the run would have
/// applied reads as it would have been sent; anything else is not there.
pub fn get<K, D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
    namespace: &str,
    name: &str,
) -> Result<Option<K>, PhaseError>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + serde::de::DeserializeOwned
        + Clone
        + std::fmt::Debug,
{
    let what = format!("get {} {namespace}/{name}", K::kind(&()));
    if ctx.dry_run {
        let kind = kube::core::ApiResource::erase::<K>(&());
        return ctx
            .planned_objects
            .iter()
            .rev()
            .find(|o| {
                o.resource.group == kind.group
                    && o.resource.kind == kind.kind
                    && o.namespace.as_deref() == Some(namespace)
                    && o.name == name
            })
            .map(|o| {
                serde_json::from_value(o.body.clone())
                    .map_err(|e| failed(format!("{what} from the dry run's plan: {e}")))
            })
            .transpose();
    }
    let session = session(ctx)?;
    let api: kube::Api<K> = kube::Api::namespaced(session.client(), namespace);
    session.call(&what, || api.get_opt(name)).map_err(failed)
}

/// A read a dry run makes too, through a session of its own: the run's session would create the
/// admin binding. A dry run that cannot read goes on without the answer: `warning` says why, and
/// it is printed and returned.
pub fn read_or_warn<T, D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
    read: impl FnOnce(&Session) -> Result<T, String>,
    warning: impl FnOnce(String) -> String,
) -> Result<(Option<T>, Vec<String>), PhaseError> {
    if !ctx.dry_run {
        let session = session(ctx)?;
        return read(session).map(|t| (Some(t), Vec::new())).map_err(failed);
    }
    match connect_with(ctx, ctx.data.kubeconfig())
        .map_err(|e| e.to_string())
        .and_then(|session| read(&session))
    {
        Ok(t) => Ok((Some(t), Vec::new())),
        Err(e) => {
            let warning = warning(e);
            ctx.sink.line(&format!("[dryrun] {warning}"));
            Ok((None, vec![warning]))
        }
    }
}

/// Collects the work started ahead for the running phase: `true` when there was some and it
/// succeeded, `false` when the phase must do its work itself.
pub fn finish_ahead<D>(ctx: &mut PhaseContext<'_, D>) -> Result<bool, PhaseError> {
    let Some(session) = ctx.api.as_ref() else {
        return Ok(false);
    };
    match session.finish(&ctx.current) {
        Some(outcome) => outcome.map(|()| true).map_err(failed),
        None => Ok(false),
    }
}
