//! `kinit init phase mark-control-plane`: the control-plane labels and taints on this node's Node
//! object, patched with a precondition on what was read so a concurrent writer is not overwritten.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Taint};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::domain::config::types::Taint as ConfiguredTaint;
use crate::exec::api;
use crate::workflow::cluster::{self, Shown};
use crate::workflow::{NodeData, PhaseContext, PhaseError};

pub const LABELS: [&str; 2] = [
    "node-role.kubernetes.io/control-plane",
    "node.kubernetes.io/exclude-from-external-load-balancers",
];
const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// `nodeRegistration.taints` unset means kubeadm's control-plane taint; an empty list means none.
pub fn taints(configured: Option<&[ConfiguredTaint]>) -> Vec<Taint> {
    match configured {
        None => vec![Taint {
            key: "node-role.kubernetes.io/control-plane".into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        }],
        Some(list) => list
            .iter()
            .map(|t| Taint {
                key: t.key.clone(),
                value: (!t.value.is_empty()).then(|| t.value.clone()),
                effect: t.effect.clone(),
                time_added: None,
            })
            .collect(),
    }
}

/// `key=value:Effect`, or `key:Effect` without a value, as kubeadm prints a taint.
fn taint_text(t: &Taint) -> String {
    match t.value.as_deref() {
        Some(v) if !v.is_empty() => format!("{}={v}:{}", t.key, t.effect),
        _ => format!("{}:{}", t.key, t.effect),
    }
}

/// The configured taints first, then every taint the node already has that is not among them.
pub fn merged_taints(wanted: &[Taint], existing: &[Taint]) -> Vec<Taint> {
    let mut all = wanted.to_vec();
    all.extend(existing.iter().filter(|t| !wanted.contains(t)).cloned());
    all
}

/// The node to mark and the taints it must carry.
pub fn target<D: NodeData>(ctx: &PhaseContext<'_, D>) -> (String, Vec<Taint>) {
    (
        ctx.data.config().init.node_registration.name.clone(),
        taints(ctx.data.config().init.node_registration.taints.as_deref()),
    )
}

/// The label and taints, applied when the API session opens.
pub fn ahead<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
    session: &api::Session,
) -> Result<Option<api::Work>, PhaseError> {
    let (node, taints) = target(ctx);
    Ok(Some(work(session, node, taints)))
}

pub fn run<D: NodeData>(ctx: &mut PhaseContext<'_, D>) -> Result<Vec<String>, PhaseError> {
    let (node_name, wanted) = target(ctx);
    ctx.sink.line(&format!(
        "[mark-control-plane] Marking the node {node_name} as control-plane by adding the labels: [{}]",
        LABELS.join(" ")
    ));
    if !wanted.is_empty() {
        let shown: Vec<String> = wanted.iter().map(taint_text).collect();
        ctx.sink.line(&format!(
            "[mark-control-plane] Marking the node {node_name} as control-plane by adding the taints [{}]",
            shown.join(" ")
        ));
    }
    let shown = format!(
        "patch Node {node_name}: labels {} set to \"\", taints {:?} added to those it has",
        LABELS.join(", "),
        wanted.iter().map(taint_text).collect::<Vec<_>>()
    );
    cluster::run_work(
        ctx,
        |session| work(session, node_name, wanted),
        || Ok(Shown::Line(shown)),
    )?;
    Ok(Vec::new())
}

/// Reads the Node and patches in what is missing, as work that can start ahead of the phase.
pub fn work(session: &api::Session, node_name: String, wanted: Vec<Taint>) -> api::Work {
    let nodes: Api<Node> = Api::all(session.client());
    let limit = session.call_limit();
    Box::pin(async move {
        let what = format!("mark Node {node_name} as control-plane");
        api::call(limit, &what, || mark(&nodes, &node_name, &wanted))
            .await
            .map_err(String::from)
    })
}

async fn mark(nodes: &Api<Node>, node_name: &str, wanted: &[Taint]) -> Result<(), kube::Error> {
    // The kubelet registers the Node; until it has, with its hostname label, there is nothing to
    // mark yet, so the read is retried like a busy server.
    let node = nodes
        .get(node_name)
        .await
        .map_err(|e| api::node::wait_if_missing(node_name, e))?;
    let labels = node.metadata.labels.clone().unwrap_or_default();
    if !labels.contains_key(HOSTNAME_LABEL) {
        return Err(api::node::not_registered_yet(node_name));
    }
    let existing = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let taints = merged_taints(wanted, &existing);
    let labelled = LABELS
        .iter()
        .all(|l| labels.get(*l).is_some_and(String::is_empty));
    if labelled && taints == existing {
        return Ok(());
    }
    let new_labels: BTreeMap<&str, &str> = LABELS.iter().map(|l| (*l, "")).collect();
    // The resourceVersion makes the patch fail with a conflict, and be retried from a fresh
    // read, if the node changed since it was read.
    let patch = json!({
        "metadata": {"labels": new_labels, "resourceVersion": node.metadata.resource_version},
        "spec": {"taints": taints},
    });
    nodes
        .patch(node_name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: value.map(Into::into),
            effect: effect.into(),
            time_added: None,
        }
    }

    #[test]
    fn unset_taints_mean_the_control_plane_taint_and_an_empty_list_none() {
        assert_eq!(
            taints(None),
            [taint(
                "node-role.kubernetes.io/control-plane",
                None,
                "NoSchedule"
            )]
        );
        assert!(taints(Some(&[])).is_empty());
        assert_eq!(
            taint_text(&taint("a", Some("b"), "NoExecute")),
            "a=b:NoExecute"
        );
    }

    #[test]
    fn existing_taints_are_kept_after_the_configured_ones() {
        let cp = taint("node-role.kubernetes.io/control-plane", None, "NoSchedule");
        let not_ready = taint("node.kubernetes.io/not-ready", None, "NoSchedule");
        assert_eq!(
            merged_taints(std::slice::from_ref(&cp), &[not_ready.clone(), cp.clone()]),
            [cp.clone(), not_ready]
        );
    }
}
