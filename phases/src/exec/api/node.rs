//! Changes to this node's Node object, which the kubelet registers on its own time: a Node that is
//! not there yet is waited for like a busy server, within the same call budget.

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use serde_json::Value;

use super::session::{ApiError, Session};

/// A Node the kubelet has not registered (or not labelled) yet, as an error worth retrying.
pub fn not_registered_yet(node: &str) -> kube::Error {
    kube::Error::Api(Box::new(
        kube::core::Status::failure(
            &format!("the Node {node:?} has not been registered by its kubelet yet; is the kubelet running?"),
            "ServiceUnavailable",
        )
        .with_code(503),
    ))
}

/// Turns "not found" into [`not_registered_yet`], so the caller's retries wait for the kubelet.
pub fn wait_if_missing(node: &str, error: kube::Error) -> kube::Error {
    match &error {
        kube::Error::Api(status) if status.is_not_found() => not_registered_yet(node),
        _ => error,
    }
}

/// A JSON merge patch of the Node, retried until the Node exists.
pub fn merge(session: &Session, node: &str, what: &str, patch: &Value) -> Result<(), ApiError> {
    let nodes: Api<Node> = Api::all(session.client());
    let params = PatchParams::default();
    session.call(what, || async {
        nodes
            .patch(node, &params, &Patch::Merge(patch))
            .await
            .map(drop)
            .map_err(|e| wait_if_missing(node, e))
    })
}
