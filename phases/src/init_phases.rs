//! `kinit init`, top to bottom: kubeadm's init phases in kubeadm's order, with their names.

use crate::phase::Phase;
use crate::preflight_phase;
use crate::{
    addons, bootstrap_token_phase, certs_phase, etcd, join, kubeconfig_phase, kubelet,
    kubelet_finalize_phase, manifests_phase, mark_control_plane_phase, reset, show_join_phase,
    upload_certs_phase, upload_config_phase, wait,
};

pub static INIT_PHASES: &[Phase] = &[
    Phase::leaf("preflight", "Run pre-flight checks").runs(preflight_phase::run_init),
    Phase::parent("certs", "Certificate generation", &[
        Phase::leaf("ca", "Generate the self-signed Kubernetes CA to provision identities for other Kubernetes components").runs(certs_phase::run),
        Phase::leaf("apiserver", "Generate the certificate for serving the Kubernetes API").runs(certs_phase::run),
        Phase::leaf("apiserver-kubelet-client", "Generate the certificate for the API server to connect to kubelet").runs(certs_phase::run),
        Phase::leaf("front-proxy-ca", "Generate the self-signed CA to provision identities for front proxy").runs(certs_phase::run),
        Phase::leaf("front-proxy-client", "Generate the certificate for the front proxy client").runs(certs_phase::run),
        Phase::leaf("etcd-ca", "Generate the self-signed CA to provision identities for etcd").runs(certs_phase::run),
        Phase::leaf("etcd-server", "Generate the certificate for serving etcd").runs(certs_phase::run),
        Phase::leaf("etcd-peer", "Generate the certificate for etcd nodes to communicate with each other").runs(certs_phase::run),
        Phase::leaf("etcd-healthcheck-client", "Generate the certificate for liveness probes to healthcheck etcd").runs(certs_phase::run),
        Phase::leaf("apiserver-etcd-client", "Generate the certificate the apiserver uses to access etcd").runs(certs_phase::run),
        Phase::leaf("sa", "Generate a private key for signing service account tokens along with its public key").runs(certs_phase::run),
    ]),
    Phase::parent("kubeconfig", "Generate all kubeconfig files necessary to establish the control plane and the admin kubeconfig file", &[
        Phase::leaf("admin", "Generate a kubeconfig file for the admin to use and for kubeadm itself").runs(kubeconfig_phase::run),
        Phase::leaf("super-admin", "Generate a kubeconfig file for the super-admin").runs(kubeconfig_phase::run),
        Phase::leaf("kubelet", "Generate a kubeconfig file for the kubelet to use *only* for cluster bootstrapping purposes").runs(kubeconfig_phase::run),
        Phase::leaf("controller-manager", "Generate a kubeconfig file for the controller manager to use").runs(kubeconfig_phase::run),
        Phase::leaf("scheduler", "Generate a kubeconfig file for the scheduler to use").runs(kubeconfig_phase::run),
    ]),
    Phase::parent("etcd", "Generate static Pod manifest file for local etcd", &[
        Phase::leaf("local", "Generate the static Pod manifest file for a local, single-node local etcd instance").runs(manifests_phase::run_etcd),
    ]),
    Phase::parent("control-plane", "Generate all static Pod manifest files necessary to establish the control plane", &[
        Phase::leaf("apiserver", "Generates the kube-apiserver static Pod manifest").runs(manifests_phase::run_control_plane),
        Phase::leaf("controller-manager", "Generates the kube-controller-manager static Pod manifest").runs(manifests_phase::run_control_plane),
        Phase::leaf("scheduler", "Generates the kube-scheduler static Pod manifest").runs(manifests_phase::run_control_plane),
    ]),
    Phase::leaf("kubelet-start", "Write kubelet settings and (re)start the kubelet").runs(kubelet::run_init),
    Phase::leaf("wait-control-plane", "Wait for the control plane to start").runs(wait::run_init),
    Phase::parent("upload-config", "Upload the kubeadm and kubelet configuration to a ConfigMap", &[
        Phase::leaf("kubeadm", "Upload the kubeadm ClusterConfiguration to a ConfigMap").runs(upload_config_phase::run_kubeadm),
        Phase::leaf("kubelet", "Upload the kubelet component config to a ConfigMap").runs(upload_config_phase::run_kubelet),
    ]),
    Phase::leaf("upload-certs", "Upload certificates to kubeadm-certs").runs(upload_certs_phase::run),
    Phase::leaf("mark-control-plane", "Mark a node as a control-plane").runs(mark_control_plane_phase::run),
    Phase::leaf("bootstrap-token", "Generates bootstrap tokens used to join a node to a cluster").runs(bootstrap_token_phase::run),
    Phase::parent("kubelet-finalize", "Updates settings relevant to the kubelet after TLS bootstrap", &[
        Phase::leaf("enable-client-cert-rotation", "Enable kubelet client certificate rotation").runs(kubelet_finalize_phase::run_enable_client_cert_rotation),
    ]),
    Phase::parent("addon", "Install required addons for passing conformance tests", &[
        Phase::leaf("coredns", "Install the CoreDNS addon to a Kubernetes cluster").runs(addons::run_coredns),
        Phase::leaf("kube-proxy", "Install the kube-proxy addon to a Kubernetes cluster").runs(addons::run_kube_proxy),
    ]),
    Phase::leaf("show-join-command", "Show the join command for control-plane and worker node").runs(show_join_phase::run),
];

pub static JOIN_PHASES: &[Phase] = &[
    Phase::leaf("preflight", "Run join pre-flight checks").runs(preflight_phase::run_join),
    Phase::parent("control-plane-prepare", "Prepare the machine for serving a control plane", &[
        Phase::leaf("download-certs", "Download certificates shared among control-plane nodes from the kubeadm-certs Secret").runs(join::download_certs::run),
        Phase::leaf("certs", "Generate the certificates for the new control plane components").runs(join::control_plane::run_certs),
        Phase::leaf("kubeconfig", "Generate the kubeconfig for the new control plane components").runs(join::control_plane::run_kubeconfig),
        Phase::leaf("control-plane", "Generate the manifests for the new control plane components").runs(join::control_plane::run_control_plane),
    ]),
    Phase::leaf("kubelet-start", "Write kubelet settings, certificates and (re)start the kubelet").runs(join::kubelet_start::run),
    Phase::leaf("etcd-join", "Join etcd for control plane nodes").runs(etcd::join::run),
    Phase::leaf("kubelet-wait-bootstrap", "[EXPERIMENTAL] Wait for the kubelet to bootstrap itself (only used when feature gate ControlPlaneKubeletLocalMode is enabled)").runs(join::kubelet_wait_bootstrap::run),
    Phase::parent("control-plane-join", "Join a machine as a control plane instance", &[
        Phase::leaf("mark-control-plane", "Mark a node as a control-plane").runs(join::control_plane::run_mark_control_plane),
    ]),
    Phase::leaf("wait-control-plane", "Wait for the control plane to start").runs(join::control_plane::run_wait_control_plane),
];

pub static RESET_PHASES: &[Phase] = &[
    Phase::leaf("preflight", "Run reset pre-flight checks").runs(reset::preflight::run),
    Phase::leaf("remove-etcd-member", "Remove a local etcd member").runs(etcd::remove::run),
    Phase::leaf("cleanup-node", "Run cleanup node").runs(reset::cleanup::run),
];
