//! `kinit join phase kubelet-wait-bootstrap` (kubeadm's hidden phase of ControlPlaneKubeletLocalMode):
//! a joining control plane's kubelet, started by kubelet-start, bootstraps against the node's own
//! API server once etcd-join has its etcd member up; this phase waits for that, as kubelet-start
//! does for everything else. Nothing to do for a worker or with the gate off.

use super::joined;
use crate::workflow::{JoinData, PhaseContext, PhaseError};

pub fn run(ctx: &mut PhaseContext<'_, JoinData>) -> Result<Vec<String>, PhaseError> {
    let cluster = joined(ctx)?.clone();
    let bootstrapped = super::kubelet_start::bootstrapped(ctx, &cluster)?;
    super::kubelet_start::wait_for_bootstrap(ctx, &cluster, bootstrapped)?;
    Ok(Vec::new())
}
