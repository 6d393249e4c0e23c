//! `kinit init phase show-join-command`: the commands other nodes join with, from admin.conf's endpoint,
//! the CA on disk and the run's bootstrap token, as the closing text of `kinit init`.

use crate::domain::join_command::{InitDone, JoinCommand, WITHHELD};
use crate::domain::kubeconfig::Kubeconfig;
use crate::domain::pki::cert;
use crate::steps::certs::{cert_dir, path};
use crate::workflow::{failed, InitData, NodeData, PhaseContext, PhaseError};
use serde_json::json;

pub fn run(ctx: &mut PhaseContext<'_, InitData>) -> Result<Vec<String>, PhaseError> {
    let admin_path = crate::domain::layout::file_in(
        &ctx.data.kubeconfig_dir,
        crate::domain::layout::ADMIN_CONF_FILE,
    );
    let admin =
        Kubeconfig::read_admin(|p| ctx.effects.read_file(p), &admin_path).map_err(failed)?;
    let server = admin
        .clusters
        .first()
        .map(|c| c.cluster.server.clone())
        .ok_or_else(|| failed(format!("{admin_path} names no cluster")))?;
    let endpoint = server.trim_start_matches("https://").to_string();

    let ca_path = path(cert_dir(ctx.data.config()), "ca", "crt");
    let ca_pem = ctx
        .effects
        .read_file(&ca_path)
        .map_err(failed)?
        .ok_or_else(|| {
            failed(format!(
                "{ca_path} does not exist: run `kinit init phase certs ca` first"
            ))
        })?;
    let hashes = vec![
        cert::ca_cert_hash(&cert::parse_pem(&ca_pem, &ca_path).map_err(failed)?).map_err(failed)?,
    ];

    let printing = &ctx.data.config().printing;
    let token = ctx
        .data
        .config()
        .init
        .bootstrap_tokens
        .first()
        .and_then(|t| t.token.clone())
        .ok_or_else(|| failed("the configuration has no bootstrap token to join with"))?;
    let shown_token = if printing.skip_token_print {
        WITHHELD.to_string()
    } else {
        ctx.shown_secret(&token).to_string()
    };
    let key = &ctx.data.config().init.certificate_key;
    let shown_key = if printing.skip_certificate_key_print {
        WITHHELD
    } else {
        ctx.shown_secret(key)
    };
    let uploaded = printing.upload_certs && !key.is_empty();

    let worker = JoinCommand {
        endpoint: &endpoint,
        token: &shown_token,
        ca_cert_hashes: &hashes,
        control_plane: None,
    };
    let control_plane = JoinCommand {
        control_plane: Some(uploaded.then_some(shown_key)),
        ..worker
    };
    // A control plane joins at the shared endpoint; without one there is nothing to offer it.
    let has_endpoint = !ctx.data.config().cluster.control_plane_endpoint.is_empty();
    let done = InitDone {
        admin_kubeconfig: &admin_path,
        worker: &worker,
        control_plane: has_endpoint.then_some(&control_plane),
        certificates_uploaded: uploaded,
    };
    ctx.sink.line(&done.text());
    ctx.report = Some(json!({
        "endpoint": endpoint,
        "token": shown_token,
        "caCertHashes": hashes,
        "certificateKey": uploaded.then_some(shown_key),
        "adminKubeconfig": admin_path,
        "joinWorker": worker.one_line().trim_end(),
        "joinControlPlane": has_endpoint.then(|| control_plane.one_line().trim_end().to_string()),
    }));
    Ok(Vec::new())
}
