//! `kinit init phase upload-certs --upload-certs`: the shared certificates sealed into the
//! `kubeadm-certs` Secret, owned by a 2-hour token so the garbage collector removes both, and the
//! Role that lets joining control planes read it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::ByteString;
use kube::api::{Api, PostParams};
use std::time::Duration;

use crate::domain::cert_upload::{decode_key, decrypt, seal, shared_files, SECRET_NAME};
use crate::domain::pki::cert::now_unix;
use crate::domain::token::{self, TokenSecret};
use crate::exec::api::{self, rbac, ApiObject};
use crate::steps::upload_config::KUBE_SYSTEM;
use crate::workflow::cluster::{self, Shown};
use crate::workflow::{failed, NodeData, PhaseContext, PhaseError};

/// kubeadm's DefaultCertTokenDuration: how long uploaded certificates live.
const CERT_TOKEN_SECONDS: i64 = 2 * 3600;
/// An upload with more than this left is reused by a re-run; an older one is renewed, as users
/// re-run the phase to get a fresh two hours.
const REUSE_IF_LEFT_SECONDS: i64 = 3600;
const TOKEN_DESCRIPTION: &str = "Proxy for managing TTL for the kubeadm-certs secret";

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
    rbac::may_get(
        KUBE_SYSTEM,
        "kubeadm:kubeadm-certs",
        "secrets",
        SECRET_NAME,
        vec![rbac::group(rbac::NODE_BOOTSTRAPPERS)],
    )
}

/// What an upload needs from this machine: the key and the files, read before any API work.
#[derive(Clone)]
pub struct Upload {
    key: Vec<u8>,
    files: BTreeMap<String, Vec<u8>>,
}

/// The upload `--upload-certs` asks for; `None` without it.
pub fn prepare<D: NodeData>(ctx: &PhaseContext<'_, D>) -> Result<Option<Upload>, PhaseError> {
    if !ctx.data.config().printing.upload_certs {
        return Ok(None);
    }
    let key = decode_key(&ctx.data.config().init.certificate_key).map_err(failed)?;
    let mut files = BTreeMap::new();
    for (name, path) in shared_files(ctx.data.config()) {
        // kubeadm stores a file that is not there as an empty value, and joins fail on it later.
        let content = ctx
            .effects
            .read_file(&path)
            .map_err(failed)?
            .unwrap_or_default();
        files.insert(name, content);
    }
    Ok(Some(Upload { key, files }))
}

impl Upload {
    fn sealed(&self) -> Result<BTreeMap<String, ByteString>, String> {
        seal(&self.key, &self.files)
    }

    /// The uploaded Secret still holds exactly these files and its owner token has time left.
    async fn still_current(&self, secrets: &Api<Secret>, limit: Duration) -> Result<bool, String> {
        let what = format!("get Secret {KUBE_SYSTEM}/{SECRET_NAME}");
        let existing = api::call(limit, &what, || secrets.get_opt(SECRET_NAME)).await?;
        let Some(existing) = existing else {
            return Ok(false);
        };
        let stored = existing.data.unwrap_or_default();
        let same_files = stored.len() == self.files.len()
            && self.files.iter().all(|(name, plain)| {
                stored
                    .get(name)
                    .is_some_and(|sealed| match plain.is_empty() {
                        true => sealed.0.is_empty(),
                        false => decrypt(&self.key, &sealed.0).is_ok_and(|opened| opened == *plain),
                    })
            });
        let owner = existing
            .metadata
            .owner_references
            .unwrap_or_default()
            .into_iter()
            .next();
        let Some(owner) = owner.filter(|_| same_files) else {
            return Ok(false);
        };
        let what = format!("get Secret {KUBE_SYSTEM}/{}", owner.name);
        let token = api::call(limit, &what, || secrets.get_opt(&owner.name)).await?;
        let left = token
            .filter(|t| t.metadata.uid.as_deref() == Some(owner.uid.as_str()))
            .and_then(|t| TokenSecret::from_secret(&t).ok())
            .and_then(|t| t.expires)
            .map_or(0, |at| at - now_unix());
        Ok(left > REUSE_IF_LEFT_SECONDS)
    }
}

fn proxy_token() -> Result<TokenSecret, String> {
    let generated = token::generate()?;
    let (id, secret) = generated
        .split_once('.')
        .expect("generated tokens have a dot");
    Ok(TokenSecret {
        id: id.into(),
        secret: secret.into(),
        description: TOKEN_DESCRIPTION.into(),
        expires: Some(now_unix() + CERT_TOKEN_SECONDS),
        usages: Vec::new(),
        groups: Vec::new(),
    })
}

/// Uploads afresh unless the upload in the cluster is still current, as work that can start ahead.
pub fn work(session: &api::Session, upload: Upload) -> api::Work {
    let (client, limit) = (session.client(), session.call_limit());
    Box::pin(async move {
        let secrets: Api<Secret> = Api::namespaced(client.clone(), KUBE_SYSTEM);
        if upload.still_current(&secrets, limit).await? {
            tracing::info!(
                "{SECRET_NAME} already holds these certificates for more than an hour; kept"
            );
            return api::apply_objects(&client, limit, &rbac_objects()).await;
        }
        let proxy = proxy_token()?;
        let secret = proxy.to_secret();
        let what = format!(
            "create Secret {KUBE_SYSTEM}/{}",
            token::secret_name(&proxy.id)
        );
        let params = PostParams::default();
        let created = api::call(limit, &what, || secrets.create(&params, &secret)).await?;
        let uid = created.metadata.uid.ok_or_else(|| {
            format!(
                "the API server gave {} no uid",
                token::secret_name(&proxy.id)
            )
        })?;
        let mut objects = vec![ApiObject::new(&certs_secret(
            upload.sealed()?,
            owner(&proxy.id, &uid),
        ))];
        objects.extend(rbac_objects());
        api::apply_objects(&client, limit, &objects).await
    })
}

/// The sealed certificates, uploaded when the API session opens.
pub fn ahead<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
    session: &api::Session,
) -> Result<Option<api::Work>, PhaseError> {
    Ok(prepare(ctx)?.map(|upload| work(session, upload)))
}

pub fn run<D: NodeData>(ctx: &mut PhaseContext<'_, D>) -> Result<Vec<String>, PhaseError> {
    let Some(upload) = prepare(ctx)? else {
        ctx.sink
            .line("[upload-certs] Skipping phase. Please see --upload-certs");
        return Ok(Vec::new());
    };
    ctx.sink.line(&format!(
        "[upload-certs] Storing the certificates in Secret {SECRET_NAME:?} in the {KUBE_SYSTEM:?} Namespace"
    ));
    let shown = || {
        let proxy = proxy_token()?;
        let mut objects = vec![
            ApiObject::new(&proxy.to_secret()),
            ApiObject::new(&certs_secret(
                upload.sealed()?,
                owner(&proxy.id, "<uid of the token Secret>"),
            )),
        ];
        objects.extend(rbac_objects());
        Ok(Shown::Objects(objects))
    };
    cluster::run_work(ctx, |session| work(session, upload.clone()), shown)?;
    if !ctx.data.config().printing.skip_certificate_key_print {
        let shown = ctx.shown_secret(&ctx.data.config().init.certificate_key);
        ctx.sink
            .line(&format!("[upload-certs] Using certificate key:\n{shown}"));
    }
    Ok(Vec::new())
}
