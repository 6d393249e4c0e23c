//! `kinit kubeconfig user`: a kubeconfig for a person or a tool, with a client certificate of its own
//! signed by the cluster CA on this control-plane node.

use crate::commands::certs_commands::{read_cert, read_key};
use crate::domain::config::resolve::InitConfig;
use crate::domain::kubeconfig::Kubeconfig;
use crate::domain::pki::cert::Validity;
use crate::domain::pki::keys::KeyAlgorithm;
use crate::exec::effects::Effects;
use crate::steps::certs::path;
use crate::steps::kubeconfig::{client_kubeconfig, control_plane_endpoint};
use std::time::Duration;

/// Who the kubeconfig is for, and for how long its certificate holds.
#[derive(Debug, Clone)]
pub struct UserRequest {
    pub client_name: String,
    pub organizations: Vec<String>,
    pub validity: Duration,
}

/// The kubeconfig for `request`, speaking to the cluster's control-plane endpoint, with a new key of the
/// configured algorithm, signed by the CA in the configuration's certificatesDir.
pub fn user_kubeconfig(
    effects: &dyn Effects,
    config: &InitConfig,
    request: &UserRequest,
) -> Result<Kubeconfig, String> {
    if request.client_name.trim().is_empty() {
        return Err("--client-name must name the user the kubeconfig is for".into());
    }
    if request.validity.is_zero() {
        return Err("--validity-period must be longer than 0".into());
    }
    let cert_dir = &config.cluster.certificates_dir;
    let ca_crt = path(cert_dir, "ca", "crt");
    let ca_key_file = path(cert_dir, "ca", "key");
    let ca = read_cert(effects, &ca_crt)?.ok_or_else(|| {
        format!("the cluster CA certificate {ca_crt} is missing: run this on a control-plane node, or pass --cert-dir")
    })?;
    let ca_key = read_key(effects, &ca_key_file)?.ok_or_else(|| {
        format!("{ca_key_file} is missing (external CA mode): kinit cannot sign a client certificate without the CA key")
    })?;
    let algorithm = KeyAlgorithm::parse(&config.cluster.encryption_algorithm)?;
    let key = algorithm.generate()?;
    client_kubeconfig(
        &config.cluster.cluster_name,
        &request.client_name,
        &request.organizations,
        &control_plane_endpoint(config),
        (&ca, &ca_key),
        &key,
        Validity::from_now(request.validity),
    )
}
