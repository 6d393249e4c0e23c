//! `kinit token create`'s engine work: the tokens a request asks for, with kubeadm's defaults
//! and validation, and where other nodes join (the endpoint and CA pin) from a kubeconfig. The
//! binary reads the flags and talks to the API server.

use crate::domain::config::duration::{self, GoDuration};
use crate::domain::config::types::{BootstrapToken, InitConfiguration};
use crate::domain::config::{defaults, validate};
use crate::domain::kubeconfig::{unbase64, Kubeconfig};
use crate::domain::pki::cert;
use crate::domain::token;

/// Why a token request cannot be met: the caller's mistake (a usage error), or a failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
}

/// The token flags of `kinit token create`, as given.
#[derive(Debug, Default, Clone)]
pub struct TokenFlags {
    pub token: Option<String>,
    pub ttl: Option<String>,
    pub usages: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
    pub description: Option<String>,
}

/// The tokens to create: the --config file's bootstrapTokens, or one built from the flags, with
/// kubeadm's defaults, a generated value where none is given, and kubeadm's validation.
pub fn requested_tokens(
    flags: &TokenFlags,
    config: Option<&InitConfiguration>,
) -> Result<Vec<BootstrapToken>, TokenError> {
    let mut init = match config {
        Some(init) => {
            // As kubeadm: the file owns the token's settings, so flags beside it would be ignored.
            let mixed: Vec<&str> = [
                (flags.token.is_some(), "token"),
                (flags.ttl.is_some(), "ttl"),
                (flags.usages.is_some(), "usages"),
                (flags.groups.is_some(), "groups"),
                (flags.description.is_some(), "description"),
            ]
            .iter()
            .filter(|(given, _)| *given)
            .map(|(_, name)| *name)
            .collect();
            if !mixed.is_empty() {
                return Err(TokenError::Usage(format!(
                    "can not mix '--config' with arguments [{}]: set them in the file's bootstrapTokens instead",
                    mixed.join(" ")
                )));
            }
            init.clone()
        }
        None => {
            if let Some(problem) = flags.token.as_deref().and_then(validate::token_problem) {
                return Err(TokenError::Usage(problem));
            }
            let ttl = match &flags.ttl {
                Some(text) => Some(GoDuration(duration::parse(text).map_err(|e| {
                    TokenError::Usage(format!("invalid argument {text:?} for \"--ttl\" flag: {e}"))
                })?)),
                None => None,
            };
            InitConfiguration {
                bootstrap_tokens: vec![BootstrapToken {
                    token: flags.token.clone(),
                    description: flags.description.clone().unwrap_or_default(),
                    ttl,
                    expires: None,
                    usages: flags.usages.clone().unwrap_or_default(),
                    groups: flags.groups.clone().unwrap_or_default(),
                }],
                ..Default::default()
            }
        }
    };
    defaults::bootstrap_tokens(&mut init.bootstrap_tokens);
    let mut findings = Vec::new();
    validate::init(&init, &mut findings);
    let problems: Vec<String> = findings
        .into_iter()
        .filter(|(_, path, _)| path.starts_with("bootstrapTokens"))
        .map(|(_, path, why)| format!("{path}: {why}"))
        .collect();
    if !problems.is_empty() {
        return Err(TokenError::Usage(format!(
            "invalid bootstrap token:\n  {}",
            problems.join("\n  ")
        )));
    }
    for token in &mut init.bootstrap_tokens {
        if token.token.as_deref().is_none_or(str::is_empty) {
            token.token = Some(token::generate().map_err(TokenError::Failed)?);
        }
    }
    Ok(init.bootstrap_tokens)
}

/// `host:port` and the CA pin other nodes join with, from the kubeconfig's current cluster, as
/// kubeadm takes them; `read` reads a CA file the kubeconfig names. Worked out before any token
/// is created, so a kubeconfig without a CA leaves no token behind.
pub fn join_target(
    text: &str,
    source: &str,
    read: impl Fn(&str) -> Result<Option<Vec<u8>>, String>,
) -> Result<(String, String), String> {
    let kubeconfig = Kubeconfig::parse(text, source)?;
    let cluster = kubeconfig
        .current()
        .map(|(cluster, _)| cluster)
        .or_else(|| kubeconfig.clusters.first().map(|c| &c.cluster))
        .ok_or_else(|| format!("{source} names no cluster"))?;
    let endpoint = cluster.server.replace("https://", "");
    let ca_pem = match (&cluster.certificate_authority_data, &cluster.certificate_authority) {
        (Some(data), _) => {
            unbase64(data).map_err(|e| format!("{source}: certificate-authority-data: {e}"))?
        }
        (None, Some(path)) => read(path)?.ok_or_else(|| {
            format!("{path} (certificate-authority of {source}) does not exist")
        })?,
        (None, None) => {
            return Err(format!(
                "{source} has no certificate authority for its cluster, so the join command cannot pin it"
            ))
        }
    };
    let ca = cert::parse_pem(&ca_pem, source)?;
    Ok((endpoint, cert::ca_cert_hash(&ca)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_one_defaulted_token_and_mistakes_are_usage_errors() {
        let tokens = requested_tokens(&TokenFlags::default(), None).unwrap();
        assert_eq!(tokens.len(), 1);
        let token = tokens[0].token.as_deref().unwrap();
        assert!(validate::token_problem(token).is_none(), "{token}");
        assert_eq!(tokens[0].usages, ["signing", "authentication"]);
        assert_eq!(
            tokens[0].groups,
            ["system:bootstrappers:kubeadm:default-node-token"]
        );

        let bad = TokenFlags {
            ttl: Some("a day".into()),
            ..Default::default()
        };
        assert!(matches!(
            requested_tokens(&bad, None),
            Err(TokenError::Usage(why)) if why.contains("--ttl")
        ));
        let mixed = TokenFlags {
            description: Some("x".into()),
            ..Default::default()
        };
        assert!(matches!(
            requested_tokens(&mixed, Some(&InitConfiguration::default())),
            Err(TokenError::Usage(why)) if why.contains("can not mix '--config' with arguments [description]")
        ));
    }

    #[test]
    fn a_kubeconfig_without_a_ca_gives_no_join_target() {
        let text = "apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: https://10.0.0.1:6443\ncontexts:\n- name: c\n  context:\n    cluster: k\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n";
        let error = join_target(text, "admin.conf", |_| Ok(None)).unwrap_err();
        assert!(error.contains("no certificate authority"), "{error}");
        let text = text.replace(
            "    server:",
            "    certificate-authority: /nowhere/ca.crt\n    server:",
        );
        let error = join_target(&text, "admin.conf", |_| Ok(None)).unwrap_err();
        assert!(error.contains("/nowhere/ca.crt"), "{error}");
    }
}
