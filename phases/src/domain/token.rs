//! Bootstrap tokens as kubeadm makes them: `<id>.<secret>`, 6 and 16 characters of `[a-z0-9]`, and
//! their Secrets in kube-system, which the API server authenticates them by.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;

use crate::domain::config::types::BootstrapToken;
use crate::domain::config::validate::token_problem;
use crate::domain::time_text::{parse_rfc3339, rfc3339};

pub const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
pub const NAMESPACE: &str = "kube-system";
const USAGE_PREFIX: &str = "usage-bootstrap-";

const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
/// The largest multiple of 36 a byte holds: bytes from here up would favour the first characters.
const UNBIASED_BELOW: u8 = 252;

/// A random token, each character drawn evenly from the alphabet (as kubeadm: random bytes, those of
/// 252 and up thrown away, the rest taken modulo 36).
pub fn generate() -> Result<String, String> {
    Ok(format!("{}.{}", random_string(6)?, random_string(16)?))
}

fn random_string(len: usize) -> Result<String, String> {
    let mut out = String::with_capacity(len);
    let mut bytes = [0u8; 32];
    while out.len() < len {
        openssl::rand::rand_bytes(&mut bytes)
            .map_err(|e| format!("cannot draw random bytes for a token: {e}"))?;
        for byte in bytes.iter().filter(|b| **b < UNBIASED_BELOW) {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[usize::from(*byte % 36)] as char);
        }
    }
    Ok(out)
}

pub fn secret_name(id: &str) -> String {
    format!("bootstrap-token-{id}")
}

/// A token as its Secret describes it; `expires` is a Unix time, `None` for a token that never expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSecret {
    pub id: String,
    pub secret: String,
    pub description: String,
    pub expires: Option<i64>,
    pub usages: Vec<String>,
    pub groups: Vec<String>,
}

impl TokenSecret {
    /// The Secret for a configured token at `now`: a TTL counts from now, `expires` is taken as is.
    pub fn from_config(token: &BootstrapToken, now: i64) -> Result<TokenSecret, String> {
        let text = token
            .token
            .as_deref()
            .ok_or("the bootstrap token has no value")?;
        let (id, secret) = text.split_once('.').ok_or_else(|| {
            format!(
                "the bootstrap token {:?} is invalid",
                crate::domain::config::validate::redact_token(text)
            )
        })?;
        let expires =
            match (&token.expires, token.ttl) {
                (Some(at), _) => Some(parse_rfc3339(at).ok_or_else(|| {
                    format!("the token expiration {at:?} is not an RFC 3339 time")
                })?),
                (None, Some(ttl)) if !ttl.0.is_zero() => {
                    Some(now + i64::try_from(ttl.0.as_secs()).unwrap_or(i64::MAX / 2))
                }
                _ => None,
            };
        Ok(TokenSecret {
            id: id.into(),
            secret: secret.into(),
            description: token.description.clone(),
            expires,
            usages: token.usages.clone(),
            groups: token.groups.clone(),
        })
    }

    pub fn to_secret(&self) -> Secret {
        let mut data = BTreeMap::from([
            ("token-id".to_string(), self.id.clone()),
            ("token-secret".to_string(), self.secret.clone()),
        ]);
        if !self.description.is_empty() {
            data.insert("description".into(), self.description.clone());
        }
        if let Some(at) = self.expires {
            data.insert("expiration".into(), rfc3339(at));
        }
        for usage in &self.usages {
            data.insert(format!("{USAGE_PREFIX}{usage}"), "true".into());
        }
        if !self.groups.is_empty() {
            data.insert("auth-extra-groups".into(), self.groups.join(","));
        }
        Secret {
            metadata: ObjectMeta {
                name: Some(secret_name(&self.id)),
                namespace: Some(NAMESPACE.into()),
                ..Default::default()
            },
            type_: Some(SECRET_TYPE.into()),
            data: Some(
                data.into_iter()
                    .map(|(k, v)| (k, ByteString(v.into_bytes())))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    /// Reads a token back from its Secret as kubeadm does (`BootstrapTokenFromSecret`): a token-id
    /// the Secret is named after, a token-secret that forms a token with it, an RFC 3339
    /// expiration if any. The error says why it is not a token and never repeats the secret half.
    pub fn from_secret(secret: &Secret) -> Result<TokenSecret, String> {
        if secret.type_.as_deref() != Some(SECRET_TYPE) {
            return Err(format!("its type is not {SECRET_TYPE}"));
        }
        let no_data = BTreeMap::new();
        let data = secret.data.as_ref().unwrap_or(&no_data);
        let text = |key: &str| {
            data.get(key)
                .map(|v| String::from_utf8_lossy(&v.0).into_owned())
                .filter(|text| !text.is_empty())
        };
        let id = text("token-id").ok_or("it has no token-id")?;
        let name = secret.metadata.name.as_deref().unwrap_or_default();
        if name != secret_name(&id) {
            return Err(format!(
                "its name is not {:?}, bootstrap-token- and its token-id",
                secret_name(&id)
            ));
        }
        let secret_half = text("token-secret").ok_or("it has no token-secret")?;
        if token_problem(&format!("{id}.{secret_half}")).is_some() {
            return Err(
                "its token-id and token-secret do not form a token (6 and 16 characters [a-z0-9])"
                    .into(),
            );
        }
        let expires = match text("expiration") {
            None => None,
            Some(at) => Some(parse_rfc3339(&at).ok_or_else(|| {
                format!(
                    "its expiration {at:?} is not an RFC 3339 time such as 2026-08-19T10:03:27Z"
                )
            })?),
        };
        let mut usages: Vec<String> = data
            .iter()
            .filter(|(_, v)| v.0 == b"true")
            .filter_map(|(k, _)| k.strip_prefix(USAGE_PREFIX).map(String::from))
            .collect();
        usages.sort();
        Ok(TokenSecret {
            id,
            secret: secret_half,
            description: text("description").unwrap_or_default(),
            expires,
            usages,
            groups: text("auth-extra-groups")
                .map(|g| {
                    g.split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    pub fn expired(&self, now: i64) -> bool {
        self.expires.is_some_and(|at| at <= now)
    }

    /// An unexpired Secret that grants the same as this one needs no update: refreshing only its
    /// expiration would change the object on every re-run.
    pub fn satisfied_by(&self, existing: &TokenSecret, now: i64) -> bool {
        let mut usages = self.usages.clone();
        usages.sort();
        !existing.expired(now)
            && existing.secret == self.secret
            && existing.description == self.description
            && existing.usages == usages
            && existing.groups == self.groups
            && existing.expires.is_some() == self.expires.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::config::validate::token_problem;

    #[test]
    fn a_token_round_trips_through_its_secret() {
        let token = BootstrapToken {
            token: Some("abcdef.0123456789abcdef".into()),
            description: "d".into(),
            ttl: Some(crate::domain::config::duration::GoDuration::from_secs(3600)),
            expires: None,
            usages: vec!["signing".into(), "authentication".into()],
            groups: vec![
                "system:bootstrappers:a".into(),
                "system:bootstrappers:b".into(),
            ],
        };
        let made = TokenSecret::from_config(&token, 1_787_130_207).unwrap();
        let secret = made.to_secret();
        let data = secret.data.clone().unwrap();
        let text = |k: &str| String::from_utf8(data[k].0.clone()).unwrap();
        assert_eq!(
            secret.metadata.name.as_deref(),
            Some("bootstrap-token-abcdef")
        );
        assert_eq!(
            secret.type_.as_deref(),
            Some("bootstrap.kubernetes.io/token")
        );
        assert_eq!(text("expiration"), "2026-08-19T10:03:27Z");
        assert_eq!(text("usage-bootstrap-signing"), "true");
        assert_eq!(text("usage-bootstrap-authentication"), "true");
        assert_eq!(
            text("auth-extra-groups"),
            "system:bootstrappers:a,system:bootstrappers:b"
        );
        let back = TokenSecret::from_secret(&secret).unwrap();
        assert_eq!(back.usages, ["authentication", "signing"]);
        assert!(made.satisfied_by(&back, 1_787_130_207 + 10));
        assert!(!made.satisfied_by(&back, 1_787_130_207 + 3600), "expired");
        let never = TokenSecret::from_config(
            &BootstrapToken {
                ttl: Some(crate::domain::config::duration::GoDuration::from_secs(0)),
                ..token
            },
            0,
        )
        .unwrap();
        assert_eq!(never.expires, None);
        assert!(!never.to_secret().data.unwrap().contains_key("expiration"));
    }

    #[test]
    fn a_secret_kubeadm_would_not_read_as_a_token_is_refused_with_its_reason() {
        let good = TokenSecret {
            id: "abcdef".into(),
            secret: "0123456789abcdef".into(),
            description: String::new(),
            expires: Some(1_787_130_207),
            usages: vec!["authentication".into()],
            groups: Vec::new(),
        };
        assert_eq!(
            TokenSecret::from_secret(&good.to_secret()),
            Ok(good.clone())
        );
        let broken = |change: &dyn Fn(&mut Secret)| {
            let mut secret = good.to_secret();
            change(&mut secret);
            TokenSecret::from_secret(&secret).unwrap_err()
        };
        let set = |key: &'static str, value: &'static str| {
            move |s: &mut Secret| {
                s.data
                    .as_mut()
                    .unwrap()
                    .insert(key.into(), ByteString(value.into()));
            }
        };
        assert_eq!(
            broken(&|s| s.metadata.name = Some("bootstrap-token-other1".into())),
            "its name is not \"bootstrap-token-abcdef\", bootstrap-token- and its token-id"
        );
        assert_eq!(broken(&set("token-id", "")), "it has no token-id");
        let why = broken(&set("token-secret", "SHOUTED-SECRET-X"));
        assert!(
            why.starts_with("its token-id and token-secret do not form a token"),
            "{why}"
        );
        assert!(!why.contains("SHOUTED"), "{why}");
        assert_eq!(
            broken(&set("expiration", "tomorrow")),
            "its expiration \"tomorrow\" is not an RFC 3339 time such as 2026-08-19T10:03:27Z"
        );
        assert_eq!(
            broken(&|s| s.type_ = Some("Opaque".into())),
            "its type is not bootstrap.kubernetes.io/token"
        );
    }

    #[test]
    fn tokens_have_kubeadms_form_and_differ() {
        let tokens: Vec<String> = (0..200).map(|_| generate().unwrap()).collect();
        for token in &tokens {
            assert_eq!(token_problem(token), None, "{token}");
        }
        let mut unique = tokens.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), tokens.len());
        // 4400 draws from 36 characters: every character turns up.
        let seen: std::collections::BTreeSet<char> = tokens
            .iter()
            .flat_map(|t| t.chars())
            .filter(|c| *c != '.')
            .collect();
        assert_eq!(seen.len(), 36);
    }
}
