//! `kinit init phase addon coredns|kube-proxy`: the two addons kubeadm installs so that a new cluster
//! passes conformance. Each is rendered from its template in `templates/`, parsed into typed objects
//! ([`render`]), and applied through the API session; `coredns.rs` and `kube_proxy.rs` say what goes
//! into each, this file wires them to the phase table.

pub(crate) mod coredns;
pub(crate) mod kube_proxy;
pub(crate) mod render;

use k8s_openapi::api::apps::v1::Deployment;

use crate::exec::api;
use crate::workflow::cluster;
use crate::workflow::{failed, InitData, NodeData, PhaseContext, PhaseError};

pub fn run_coredns<D: NodeData>(ctx: &mut PhaseContext<'_, D>) -> Result<Vec<String>, PhaseError> {
    // `dns.disabled` is kubeadm's v1beta4 replacement for skipping this phase by name.
    if ctx.data.config().cluster.dns.disabled {
        ctx.sink.line(
            "[addons] Not installing CoreDNS: dns.disabled is set in the ClusterConfiguration",
        );
        return Ok(Vec::new());
    }
    if cluster::finish_ahead(ctx)? {
        ctx.sink.line("[addons] Applied essential addon: CoreDNS");
        return Ok(Vec::new());
    }
    let mut addon = coredns::build(ctx.data.config()).map_err(failed)?;
    // kubeadm keeps the replica count of a CoreDNS already running (scaled by the user or an
    // autoscaler).
    let deployed = cluster::get::<Deployment, _>(ctx, coredns::NAMESPACE, coredns::NAME)?;
    if let Some(replicas) = deployed.and_then(|d| d.spec).and_then(|s| s.replicas) {
        addon.set_replicas(replicas);
    }
    if let Some(set) = crate::steps::manifests::patch_set(ctx)? {
        for line in addon.patch(&set).map_err(failed)? {
            ctx.sink.line(&line);
        }
    }
    cluster::apply(ctx, &addon.objects())?;
    ctx.sink.line("[addons] Applied essential addon: CoreDNS");
    Ok(Vec::new())
}

/// Keeps the replica count of a CoreDNS already deployed, then applies the addon.
fn coredns_work(session: &api::Session, mut addon: coredns::CoreDns) -> api::Work {
    let (client, limit) = (session.client(), session.call_limit());
    Box::pin(async move {
        if let Some(replicas) = deployed_replicas(client.clone(), limit).await? {
            addon.set_replicas(replicas);
        }
        api::apply_objects(&client, limit, &addon.objects()).await
    })
}

/// CoreDNS's work, started when the API session opens; not with `--patches`, whose lines print in
/// the phase.
pub fn coredns_ahead(
    ctx: &mut PhaseContext<'_, InitData>,
    session: &api::Session,
) -> Result<Option<api::Work>, PhaseError> {
    let patched = ctx
        .data
        .config()
        .init
        .patches
        .as_ref()
        .is_some_and(|p| !p.directory.is_empty());
    if ctx.data.config().cluster.dns.disabled || patched {
        return Ok(None);
    }
    let addon = coredns::build(ctx.data.config()).map_err(failed)?;
    Ok(Some(coredns_work(session, addon)))
}

/// kube-proxy's objects, applied when the API session opens.
pub fn kube_proxy_ahead(
    ctx: &mut PhaseContext<'_, InitData>,
    session: &api::Session,
) -> Result<Option<api::Work>, PhaseError> {
    Ok(kube_proxy_objects(ctx)?.map(|(objects, _)| session.apply_work(objects)))
}

/// The replica count of a CoreDNS already deployed, which kubeadm keeps.
async fn deployed_replicas(
    client: kube::Client,
    limit: std::time::Duration,
) -> Result<Option<i32>, api::ApiError> {
    let deployments: kube::Api<Deployment> = kube::Api::namespaced(client, coredns::NAMESPACE);
    let what = format!("get Deployment {}/{}", coredns::NAMESPACE, coredns::NAME);
    let existing = api::call(limit, &what, || deployments.get_opt(coredns::NAME)).await?;
    Ok(existing.and_then(|d| d.spec).and_then(|s| s.replicas))
}

/// An addon's objects and kubeadm's warnings about its configuration.
pub type AddonObjects = (Vec<api::ApiObject>, Vec<String>);

/// kube-proxy's objects and warnings; `None` when disabled.
pub fn kube_proxy_objects<D: NodeData>(
    ctx: &PhaseContext<'_, D>,
) -> Result<Option<AddonObjects>, PhaseError> {
    if ctx.data.config().cluster.proxy.disabled {
        return Ok(None);
    }
    let proxy_env = crate::domain::manifests::proxy_env(std::env::vars());
    kube_proxy::build(ctx.data.config(), &proxy_env)
        .map(Some)
        .map_err(failed)
}

pub fn run_kube_proxy<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
) -> Result<Vec<String>, PhaseError> {
    let Some((objects, warnings)) = kube_proxy_objects(ctx)? else {
        ctx.sink.line(
            "[addons] Not installing kube-proxy: proxy.disabled is set in the ClusterConfiguration",
        );
        return Ok(Vec::new());
    };
    cluster::apply(ctx, &objects)?;
    ctx.sink
        .line("[addons] Applied essential addon: kube-proxy");
    Ok(warnings)
}

/// A resolved configuration as `kinit init` would build it from these flags, for the addon tests.
#[cfg(test)]
pub(crate) fn test_config(
    flags: crate::domain::config::resolve::InitFlags,
) -> crate::domain::config::resolve::InitConfig {
    use crate::domain::config::resolve::{resolve_init, InitFlags};
    let flags = InitFlags {
        apiserver_advertise_address: flags
            .apiserver_advertise_address
            .or(Some("198.51.100.10".into())),
        node_name: Some("cp1".into()),
        kubernetes_version: flags.kubernetes_version.or(Some("v1.32.3".into())),
        ..flags
    };
    resolve_init(None, &flags, std::path::Path::new("/nonexistent")).unwrap()
}
