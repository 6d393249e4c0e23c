//! The bootstrap signer (kube-controller-manager's bootstrapsigner), written from the JWS spec
//! (RFC 7515 detached content) and cluster-bootstrap's behaviour, independent of kinit's code:
//! `jws-kubeconfig-<id>` = `b64url(header) + ".." + b64url(HMAC-SHA256(secret, b64url(header) +
//! "." + b64url(kubeconfig)))` with header `{"alg":"HS256","kid":"<id>"}` and the HMAC key the
//! token's 16-character secret.

use std::collections::BTreeMap;

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde_json::json;

use super::auth::{expired, token_secret_data};
use super::store::{kind_by_name, update_ownership, Store};

pub fn b64url(data: &[u8]) -> String {
    openssl::base64::encode_block(data)
        .replace('+', "-")
        .replace('/', "_")
        .trim_end_matches('=')
        .to_string()
}

pub fn detached_jws(token_id: &str, token_secret: &str, payload: &str) -> String {
    let header = b64url(format!(r#"{{"alg":"HS256","kid":"{token_id}"}}"#).as_bytes());
    let input = format!("{header}.{}", b64url(payload.as_bytes()));
    let key = PKey::hmac(token_secret.as_bytes()).unwrap();
    let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
    signer.update(input.as_bytes()).unwrap();
    let mac = signer.sign_to_vec().unwrap();
    format!("{header}..{}", b64url(&mac))
}

/// Brings cluster-info's signatures in line with the signing tokens; writes only on change.
pub fn sync(store: &mut Store) {
    let cm = kind_by_name("ConfigMap").unwrap();
    let Some(info) = store.get(cm, "kube-public", "cluster-info").cloned() else {
        return;
    };
    let Some(kubeconfig) = info["data"]["kubeconfig"].as_str().map(str::to_string) else {
        return;
    };
    let secret = kind_by_name("Secret").unwrap();
    let mut wanted = BTreeMap::new();
    for s in store.list(secret, Some("kube-system")) {
        let Some(data) = token_secret_data(
            &serde_json::json!({"type": s["type"], "data": s["data"], "metadata": s["metadata"]}),
        ) else {
            continue;
        };
        let (Some(id), Some(sec)) = (data.get("token-id"), data.get("token-secret")) else {
            continue;
        };
        if s["metadata"]["name"].as_str() != Some(&format!("bootstrap-token-{id}"))
            || data.get("usage-bootstrap-signing").map(String::as_str) != Some("true")
            || expired(&data)
        {
            continue;
        }
        wanted.insert(
            format!("jws-kubeconfig-{id}"),
            detached_jws(id, sec, &kubeconfig),
        );
    }
    let mut new = info.clone();
    let data = new["data"].as_object_mut().unwrap();
    data.retain(|k, _| !k.starts_with("jws-kubeconfig-") || wanted.contains_key(k));
    for (k, v) in wanted {
        data.insert(k, json!(v));
    }
    if new == info {
        return;
    }
    update_ownership(cm, Some(&info), &mut new, "kube-controller-manager", None);
    store.put(cm, new);
}
