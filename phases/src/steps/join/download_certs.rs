//! `kinit join phase control-plane-prepare download-certs` (reference §9.4): the shared CAs and
//! keys from the `kubeadm-certs` Secret, opened with the certificate key. Any file that does not
//! open stops the phase before a single one is written.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use super::joined;
use crate::domain::cert_upload;
use crate::workflow::{failed, JoinData, NodeData, PhaseContext, PhaseError};

const KEY_MODE: u32 = 0o600;
const CERT_MODE: u32 = 0o644;

pub fn run(ctx: &mut PhaseContext<'_, JoinData>) -> Result<Vec<String>, PhaseError> {
    let key_hex = ctx.data.config().init.certificate_key.clone();
    if key_hex.is_empty() {
        ctx.sink.line("[download-certs] Skipping: no --certificate-key was given, so the shared certificates must already be on this node");
        return Ok(Vec::new());
    }
    let key = cert_upload::decode_key(&key_hex).map_err(failed)?;
    ctx.sink.line(&format!(
        "[download-certs] Downloading the certificates in Secret {:?} in the \"kube-system\" Namespace",
        cert_upload::SECRET_NAME
    ));
    let would = |ctx: &PhaseContext<'_, JoinData>| {
        cert_upload::shared_files(ctx.data.config())
            .into_iter()
            .map(|(_, path)| format!("write {path} from the Secret"))
            .collect()
    };
    ctx.live(would, |ctx| download(ctx, &key))?;
    Ok(Vec::new())
}

/// Reads the Secret, opens every file with `key`, and writes them once all have opened.
fn download(ctx: &mut PhaseContext<'_, JoinData>, key: &[u8]) -> Result<(), PhaseError> {
    let cluster = joined(ctx)?.clone();
    let session = cluster.session().map_err(failed)?;
    let secrets: Api<Secret> = Api::namespaced(session.client(), "kube-system");
    let secret = session
        .call(
            &format!("get Secret kube-system/{}", cert_upload::SECRET_NAME),
            || {
                let secrets = secrets.clone();
                async move { secrets.get(cert_upload::SECRET_NAME).await }
            },
        )
        .map_err(|e| {
            if e.is_not_found() {
                failed(format!(
                    "the {} Secret does not exist: it is removed 2 hours after upload. Upload the certificates again on a control-plane node with `kinit init phase upload-certs --upload-certs` and join with the key it prints",
                    cert_upload::SECRET_NAME
                ))
            } else {
                failed(e)
            }
        })?;
    let files = cert_upload::open(
        key,
        &secret.data.unwrap_or_default(),
        cert_upload::shared_files(ctx.data.config()),
    )
    .map_err(failed)?;
    for file in files {
        let mode = if file.is_key { KEY_MODE } else { CERT_MODE };
        ctx.effects
            .write_file(&file.path, &file.plain, mode)
            .map_err(failed)?;
    }
    Ok(())
}
