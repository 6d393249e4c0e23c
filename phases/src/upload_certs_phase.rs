//! `kinit init phase upload-certs --upload-certs`: the shared certificates sealed into the
//! `kubeadm-certs` Secret, owned by a 2-hour token so the garbage collector removes both, and the
//! Role that lets joining control planes read it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::ByteString;
use kube::api::{Api, PostParams};

use crate::api::{self, rbac, ApiObject};
use crate::cert_upload::{decode_key, decrypt, encrypt, shared_files, SECRET_NAME};
use crate::join_command::WITHHELD;
use crate::pki::cert::now_unix;
use crate::runner::{PhaseContext, PhaseError};
use crate::token::{self, TokenSecret};
use crate::upload_config_phase::KUBE_SYSTEM;

/// kubeadm's DefaultCertTokenDuration: how long uploaded certificates live.
const CERT_TOKEN_SECONDS: i64 = 2 * 3600;
/// An upload with more than this left is reused by a re-run; an older one is renewed, as users
/// re-run the phase to get a fresh two hours.
const REUSE_IF_LEFT_SECONDS: i64 = 3600;
const TOKEN_DESCRIPTION: &str = "Proxy for managing TTL for the kubeadm-certs secret";

fn failed(e: impl ToString) -> PhaseError {
    PhaseError::Failed(e.to_string())
}

fn certs_secret(data: BTreeMap<String, ByteString>, owner: OwnerReference) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(SECRET_NAME.into()),
            namespace: Some(KUBE_SYSTEM.into()),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    }
}

fn owner(token_id: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Secret".into(),
        name: token::secret_name(token_id),
        uid: uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn rbac_objects() -> [ApiObject; 2] {
    let role = "kubeadm:kubeadm-certs";
    [
        rbac::get_one_role(KUBE_SYSTEM, role, "secrets", SECRET_NAME),
        rbac::role_binding(
            KUBE_SYSTEM,
            role,
            role,
            vec![rbac::group(rbac::NODE_BOOTSTRAPPERS)],
        ),
    ]
}

/// The uploaded Secret still holds exactly these files and its owner token has time left.
fn upload_still_current(
    session: &api::Session,
    key: &[u8],
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<bool, PhaseError> {
    let secrets: Api<Secret> = Api::namespaced(session.client(), KUBE_SYSTEM);
    let what = format!("get Secret {KUBE_SYSTEM}/{SECRET_NAME}");
    let Some(existing) = session
        .call(&what, || secrets.get_opt(SECRET_NAME))
        .map_err(failed)?
    else {
        return Ok(false);
    };
    let stored = existing.data.unwrap_or_default();
    let same_files = stored.len() == files.len()
        && files.iter().all(|(name, plain)| {
            stored
                .get(name)
                .is_some_and(|sealed| match plain.is_empty() {
                    true => sealed.0.is_empty(),
                    false => decrypt(key, &sealed.0).is_ok_and(|opened| opened == *plain),
                })
        });
    let Some(owner) = existing
        .metadata
        .owner_references
        .unwrap_or_default()
        .into_iter()
        .next()
    else {
        return Ok(false);
    };
    if !same_files {
        return Ok(false);
    }
    let what = format!("get Secret {KUBE_SYSTEM}/{}", owner.name);
    let token = session
        .call(&what, || secrets.get_opt(&owner.name))
        .map_err(failed)?;
    let left = token
        .filter(|t| t.metadata.uid.as_deref() == Some(owner.uid.as_str()))
        .and_then(|t| TokenSecret::from_secret(&t))
        .and_then(|t| t.expires)
        .map_or(0, |at| at - now_unix());
    Ok(left > REUSE_IF_LEFT_SECONDS)
}

/// Creates the short-lived token the upload hangs off, and returns its Secret's uid.
fn create_owner_token(
    ctx: &mut PhaseContext<'_>,
    proxy: &TokenSecret,
) -> Result<String, PhaseError> {
    let session = api::session(ctx)?;
    let secrets: Api<Secret> = Api::namespaced(session.client(), KUBE_SYSTEM);
    let secret = proxy.to_secret();
    let what = format!(
        "create Secret {KUBE_SYSTEM}/{}",
        token::secret_name(&proxy.id)
    );
    let params = PostParams::default();
    let created = session
        .call(&what, || secrets.create(&params, &secret))
        .map_err(failed)?;
    created.metadata.uid.ok_or_else(|| {
        failed(format!(
            "the API server gave {} no uid",
            token::secret_name(&proxy.id)
        ))
    })
}

pub fn run(ctx: &mut PhaseContext<'_>) -> Result<Vec<String>, PhaseError> {
    if !ctx.config.printing.upload_certs {
        ctx.sink
            .line("[upload-certs] Skipping phase. Please see --upload-certs");
        return Ok(Vec::new());
    }
    ctx.sink.line(&format!(
        "[upload-certs] Storing the certificates in Secret {SECRET_NAME:?} in the {KUBE_SYSTEM:?} Namespace"
    ));
    let key_hex = ctx.config.init.certificate_key.clone();
    let key = decode_key(&key_hex).map_err(failed)?;
    let mut files = BTreeMap::new();
    for (name, path) in shared_files(ctx.config) {
        // kubeadm stores a file that is not there as an empty value, and joins fail on it later.
        let content = ctx
            .effects
            .read_file(&path)
            .map_err(failed)?
            .unwrap_or_default();
        files.insert(name, content);
    }

    let reuse = !ctx.dry_run && upload_still_current(api::session(ctx)?, &key, &files)?;
    if reuse {
        tracing::info!(
            "{SECRET_NAME} already holds these certificates for more than an hour; kept"
        );
        api::apply(ctx, &rbac_objects())?;
    } else {
        let generated = token::generate().map_err(failed)?;
        let (id, secret) = generated
            .split_once('.')
            .expect("generated tokens have a dot");
        let proxy = TokenSecret {
            id: id.into(),
            secret: secret.into(),
            description: TOKEN_DESCRIPTION.into(),
            expires: Some(now_unix() + CERT_TOKEN_SECONDS),
            usages: Vec::new(),
            groups: Vec::new(),
        };
        let uid = if ctx.dry_run {
            "<uid of the token Secret>".to_string()
        } else {
            create_owner_token(ctx, &proxy)?
        };
        let mut data = BTreeMap::new();
        for (name, plain) in &files {
            let sealed = if plain.is_empty() {
                Vec::new()
            } else {
                encrypt(&key, plain).map_err(failed)?
            };
            data.insert(name.clone(), ByteString(sealed));
        }
        let mut objects = Vec::new();
        if ctx.dry_run {
            objects.push(ApiObject::new(&proxy.to_secret()));
        }
        objects.push(ApiObject::new(&certs_secret(data, owner(&proxy.id, &uid))));
        objects.extend(rbac_objects());
        api::apply(ctx, &objects)?;
    }
    if !ctx.config.printing.skip_certificate_key_print {
        let shown = if ctx.dry_run {
            WITHHELD
        } else {
            key_hex.as_str()
        };
        ctx.sink
            .line(&format!("[upload-certs] Using certificate key:\n{shown}"));
    }
    Ok(Vec::new())
}
