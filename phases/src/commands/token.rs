//! `kinit token create|list|delete`'s engine work: the tokens a request asks for, with kubeadm's
//! defaults and validation; where other nodes join (the endpoint and CA pin) from a kubeconfig;
//! and creating, listing and deleting the token Secrets. The binary reads the flags and prints.
//! A token's secret is a credential: no error or line from here carries one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::domain::config::duration::{self, GoDuration};
use crate::domain::config::types::{BootstrapToken, InitConfiguration};
use crate::domain::config::{defaults, validate};
use crate::domain::kubeconfig::{unbase64, Kubeconfig};
use crate::domain::pki::cert;
use crate::domain::token::{self, TokenSecret};
use crate::exec::api::{BadTokenSecret, Session};
use crate::exec::effects::{Effects, HostEffects};

/// cluster-bootstrap's patterns, quoted in kubeadm's messages about a token argument.
pub const TOKEN_PATTERN: &str = r"\A([a-z0-9]{6})\.([a-z0-9]{16})\z";
pub const TOKEN_ID_PATTERN: &str = r"\A([a-z0-9]{6})\z";

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

/// The cluster a token command talks to, through a kubeconfig read under the node's root.
pub struct TokenCluster {
    text: String,
    path: String,
    root: PathBuf,
}

impl TokenCluster {
    pub fn read(root: &Path, path: &str) -> Result<TokenCluster, TokenError> {
        let effects = HostEffects::new(root);
        let bytes = effects
            .read_file(path)
            .map_err(TokenError::Failed)?
            .ok_or_else(|| {
                TokenError::Failed(format!(
                    "{path} does not exist: point --kubeconfig at a kubeconfig for this cluster (kinit init writes /etc/kubernetes/admin.conf)"
                ))
            })?;
        Ok(TokenCluster {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            path: path.to_string(),
            root: root.to_path_buf(),
        })
    }

    /// A session whose every call may take `call_limit` with its retries.
    pub fn connect(&self, call_limit: Duration) -> Result<Session, TokenError> {
        Session::connect(&self.text, &self.path, call_limit).map_err(TokenError::Failed)
    }

    /// [`join_target`] of this kubeconfig, a CA file it names read under the root.
    pub fn join_target(&self) -> Result<(String, String), TokenError> {
        let effects = HostEffects::new(&self.root);
        join_target(&self.text, &self.path, |path| effects.read_file(path))
            .map_err(TokenError::Failed)
    }
}

/// Creates `tokens` as kube-system Secrets; a dry run (no `session`) contacts nothing, as
/// kubeadm's dry-run client, and `say`s what it would create. The first token's value.
pub fn create(
    session: Option<&Session>,
    tokens: &[BootstrapToken],
    now: i64,
    say: &mut dyn FnMut(&str),
) -> Result<String, TokenError> {
    let mut first = None;
    for token in tokens {
        let secret = TokenSecret::from_config(token, now).map_err(TokenError::Failed)?;
        match session {
            Some(session) => {
                tracing::info!("creating bootstrap token {:?}", secret.id);
                session.create_token(&secret).map_err(TokenError::Failed)?;
            }
            None => say(&format!(
                "[dryrun] Would create Secret kube-system/{}",
                token::secret_name(&secret.id)
            )),
        }
        first.get_or_insert_with(|| format!("{}.{}", secret.id, secret.secret));
    }
    first.ok_or_else(|| TokenError::Failed("no bootstrap token to create".into()))
}

/// The cluster's tokens, and the Secrets of the token type that describe none (with why): as
/// kubeadm, one unreadable Secret does not hide the other tokens.
pub fn list(session: &Session) -> Result<(Vec<TokenSecret>, Vec<BadTokenSecret>), TokenError> {
    let mut tokens = Vec::new();
    let mut unreadable = Vec::new();
    for entry in session
        .list_tokens()
        .map_err(|e| TokenError::Failed(e.to_string()))?
    {
        match entry {
            Ok(token) => tokens.push(token),
            Err(bad) => unreadable.push(bad),
        }
    }
    Ok((tokens, unreadable))
}

/// The id of an argument that is an id or a whole token; the message never repeats the argument,
/// which may hold a secret.
pub fn token_id(arg: &str) -> Result<&str, TokenError> {
    let id_ok = |id: &str| {
        id.len() == 6
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if id_ok(arg) {
        return Ok(arg);
    }
    match arg.split_once('.') {
        Some((id, _)) if validate::token_problem(arg).is_none() => Ok(id),
        _ => Err(TokenError::Usage(format!(
            "given token didn't match pattern {TOKEN_PATTERN:?} or {TOKEN_ID_PATTERN:?}"
        ))),
    }
}

/// Deletes the tokens of `args` (ids or whole tokens), every argument checked before the first
/// deletion so that a typo deletes nothing; `cluster` is asked for a session only when there is
/// something to delete and this is no dry run. `say`s a line per token.
pub fn delete(
    args: &[String],
    dry_run: bool,
    cluster: impl FnOnce() -> Result<Session, TokenError>,
    say: &mut dyn FnMut(&str),
) -> Result<(), TokenError> {
    if args.is_empty() {
        return Err(TokenError::Usage(format!(
            "missing argument; 'token delete' is missing token of form {TOKEN_PATTERN:?} or {TOKEN_ID_PATTERN:?}"
        )));
    }
    let ids = args
        .iter()
        .map(|arg| token_id(arg))
        .collect::<Result<Vec<&str>, TokenError>>()?;
    if dry_run {
        for id in ids {
            say(&format!(
                "[dryrun] Would delete Secret kube-system/{}",
                token::secret_name(id)
            ));
        }
        return Ok(());
    }
    let session = cluster()?;
    for id in ids {
        session.delete_token(id).map_err(|e| {
            TokenError::Failed(format!("failed to delete bootstrap token {id:?}: {e}"))
        })?;
        say(&format!("bootstrap token {id:?} deleted"));
    }
    Ok(())
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

    #[test]
    fn delete_takes_an_id_or_a_whole_token_and_never_echoes_a_bad_one() {
        assert_eq!(token_id("abcdef").unwrap(), "abcdef");
        assert_eq!(token_id("abcdef.0123456789abcdef").unwrap(), "abcdef");
        let err = token_id("abcdef.0123456789ABCDEF").unwrap_err();
        assert!(matches!(err, TokenError::Usage(_)), "{err:?}");
        assert!(!err.to_string().contains("0123456789"), "{err}");
        assert_eq!(
            err.to_string(),
            r#"given token didn't match pattern "\\A([a-z0-9]{6})\\.([a-z0-9]{16})\\z" or "\\A([a-z0-9]{6})\\z""#
        );
    }

    #[test]
    fn a_delete_with_one_bad_argument_deletes_nothing_and_a_dry_run_connects_nowhere() {
        let mut said = Vec::new();
        let never = || -> Result<Session, TokenError> { panic!("no session may be opened") };
        let args = ["abcdef".to_string(), "nope".to_string()];
        let err = delete(&args, false, never, &mut |l| said.push(l.to_string())).unwrap_err();
        assert!(matches!(err, TokenError::Usage(_)), "{err:?}");
        assert!(said.is_empty(), "{said:?}");

        let args = ["abcdef.0123456789abcdef".to_string()];
        delete(&args, true, never, &mut |l| said.push(l.to_string())).unwrap();
        assert_eq!(
            said,
            ["[dryrun] Would delete Secret kube-system/bootstrap-token-abcdef"]
        );
        assert!(matches!(
            delete(&[], true, never, &mut |_| {}),
            Err(TokenError::Usage(why)) if why.starts_with("missing argument")
        ));
    }
}
