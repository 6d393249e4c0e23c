//! `kinit join`, top to bottom: kubeadm's join phases in kubeadm's order, with their names. The
//! control-plane phases run only on a node joining with `--control-plane`; on a worker they end at
//! once. Discovery and the read of the cluster's configuration come before the phases (see `join`).

use crate::steps::join::{self, control_plane, is_control_plane, kubelet_local_mode};
use crate::workflow::{JoinData, Phase};
use crate::{steps::etcd, steps::mark_control_plane, steps::preflight, steps::wait};

pub fn phases() -> Vec<Phase<JoinData>> {
    vec![
        Phase::new("preflight", "Run join pre-flight checks", preflight::run_join),
        Phase::group("control-plane-prepare", "Prepare the machine for serving a control plane", vec![
            Phase::new("download-certs", "Download certificates shared among control-plane nodes from the kubeadm-certs Secret", join::download_certs::run)
                .run_if(is_control_plane),
            Phase::new("certs", "Generate the certificates for the new control plane components", control_plane::run_certs)
                .run_if(is_control_plane)
                .makes_keys(control_plane::certs_key_demand),
            Phase::new("kubeconfig", "Generate the kubeconfig for the new control plane components", control_plane::run_kubeconfig)
                .run_if(is_control_plane)
                .makes_keys(control_plane::kubeconfig_key_demand),
            Phase::new("control-plane", "Generate the manifests for the new control plane components", control_plane::run_control_plane)
                .run_if(is_control_plane),
        ]),
        Phase::new("kubelet-start", "Write kubelet settings, certificates and (re)start the kubelet", join::kubelet_start::run),
        Phase::new("etcd-join", "Join etcd for control plane nodes", etcd::join::run),
        Phase::new("kubelet-wait-bootstrap", "[EXPERIMENTAL] Wait for the kubelet to bootstrap itself (only used when feature gate ControlPlaneKubeletLocalMode is enabled)", join::kubelet_wait_bootstrap::run)
            .run_if(kubelet_local_mode),
        Phase::group("control-plane-join", "Join a machine as a control plane instance", vec![
            Phase::new("mark-control-plane", "Mark a node as a control-plane", mark_control_plane::run)
                .run_if(is_control_plane),
        ]),
        Phase::new("wait-control-plane", "Wait for the control plane to start", wait::run_init)
            .run_if(is_control_plane),
    ]
}
