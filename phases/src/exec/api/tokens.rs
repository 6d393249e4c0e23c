//! The bootstrap-token Secrets `kinit token` creates, lists and deletes, each call retried by the
//! session. Messages name a token by its id only: the secret half is a credential.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, PostParams};

use super::session::{ApiError, Session};
use crate::domain::token::{secret_name, TokenSecret, NAMESPACE, SECRET_TYPE};

/// A Secret of the token type that does not describe a token (hand-made, or damaged), and why.
#[derive(Debug, Clone)]
pub struct BadTokenSecret {
    pub name: String,
    pub why: String,
}

impl Session {
    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client(), NAMESPACE)
    }

    /// Creates the token's Secret. An existing one is never overwritten: it could be another
    /// user's token with other grants, so a clash is an error, as in kubeadm.
    pub fn create_token(&self, token: &TokenSecret) -> Result<(), String> {
        let api = self.secrets();
        let secret = token.to_secret();
        let params = PostParams::default();
        let what = format!("create Secret {NAMESPACE}/{}", secret_name(&token.id));
        match self.call(&what, || api.create(&params, &secret)) {
            Ok(_) => Ok(()),
            Err(e) if e.is_already_exists() => {
                Err(format!("a token with id {:?} already exists", token.id))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Every Secret of the bootstrap-token type in kube-system, read back as tokens, in the
    /// server's order (by name).
    pub fn list_tokens(&self) -> Result<Vec<Result<TokenSecret, BadTokenSecret>>, ApiError> {
        let api = self.secrets();
        let params = ListParams::default().fields(&format!("type={SECRET_TYPE}"));
        let what = format!("list Secrets of type {SECRET_TYPE} in {NAMESPACE}");
        let list = self.call(&what, || api.list(&params))?;
        Ok(list
            .items
            .iter()
            .map(|secret| {
                TokenSecret::from_secret(secret).map_err(|why| BadTokenSecret {
                    name: secret.metadata.name.clone().unwrap_or_default(),
                    why,
                })
            })
            .collect())
    }

    pub fn delete_token(&self, id: &str) -> Result<(), ApiError> {
        let api = self.secrets();
        let name = secret_name(id);
        let params = DeleteParams::default();
        self.call(&format!("delete Secret {NAMESPACE}/{name}"), || {
            api.delete(&name, &params)
        })
        .map(drop)
    }
}
