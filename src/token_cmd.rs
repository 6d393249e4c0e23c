//! `kinit token create|list|delete`: read the flags, talk to the cluster through the session, and
//! print what kubeadm prints (the token or its join command; kubeadm's token table or its output
//! API; one line per deleted token). The token secret is a credential: it goes to standard output
//! when the user asked for it, and never into a log line or an error message.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::cli::{GlobalArgs, OutputFormat, TokenCreateArgs, TokenServerArgs};
use crate::exit::{self, Exit};
use crate::run_phases::{load_lenient, root};
use crate::tabwriter;
use kinit_phases::commands::token::{self, requested_tokens, TokenCluster, TokenError, TokenFlags};
use kinit_phases::domain::config::validate;
use kinit_phases::domain::join_command::JoinCommand;
use kinit_phases::domain::time_text::{rfc3339, short_human_duration};
use kinit_phases::domain::token::TokenSecret;
use kinit_phases::exec::api::DEFAULT_CALL_LIMIT;
use serde::Serialize;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A usage error is the caller's mistake; anything else failed.
fn exit_of(error: TokenError) -> Exit {
    match error {
        TokenError::Usage(why) => Exit::usage(why),
        TokenError::Failed(why) => Exit::failure(why),
    }
}

fn cluster(global: &GlobalArgs, server: &TokenServerArgs) -> Result<TokenCluster, Exit> {
    TokenCluster::read(&root(global), &server.kubeconfig).map_err(exit_of)
}

// ---------------------------------------------------------------------------------------------
// create

pub fn create(global: &GlobalArgs, args: &TokenCreateArgs) -> Result<i32, Exit> {
    if args.certificate_key.is_some() && !args.print_join_command {
        return Err(Exit::usage(
            "cannot use --certificate-key without --print-join-command",
        ));
    }
    if let Some(problem) = args
        .certificate_key
        .as_deref()
        .and_then(validate::certificate_key_problem)
    {
        return Err(Exit::usage(problem));
    }
    let file = global.config.as_deref().map(load_lenient).transpose()?;
    let config = file.as_ref().and_then(|f| f.init.as_ref());
    let flags = TokenFlags {
        token: args.token.clone(),
        ttl: args.ttl.clone(),
        usages: args.usages.clone(),
        groups: args.groups.clone(),
        description: args.description.clone(),
    };
    let tokens = requested_tokens(&flags, config).map_err(exit_of)?;
    let call_limit = config
        .and_then(|c| c.timeouts.as_ref())
        .and_then(|t| t.kubernetes_api_call)
        .map_or(DEFAULT_CALL_LIMIT, |d| d.0);

    let cluster = cluster(global, &args.server)?;
    let target = if args.print_join_command {
        Some(cluster.join_target().map_err(exit_of)?)
    } else {
        None
    };
    let session = if global.dry_run {
        None
    } else {
        Some(cluster.connect(call_limit).map_err(exit_of)?)
    };
    let token = token::create(session.as_ref(), &tokens, now(), &mut |line| {
        println!("{line}")
    })
    .map_err(exit_of)?;
    match target {
        Some((endpoint, hash)) => {
            let hashes = [hash];
            let command = JoinCommand {
                endpoint: &endpoint,
                token: &token,
                ca_cert_hashes: &hashes,
                control_plane: args.certificate_key.as_deref().map(Some),
            };
            println!("{}", command.one_line());
        }
        None => println!("{token}"),
    }
    Ok(exit::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// list

/// kubeadm's output API object for a token (`output.kubeadm.k8s.io/v1alpha3`, kind
/// BootstrapToken: TypeMeta inlined with the fields of bootstraptoken/v1 BootstrapToken), fields
/// in Go's declaration order, which is the order kubeadm's JSON printer writes them in.
#[derive(Serialize)]
struct OutputToken {
    kind: &'static str,
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    token: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    usages: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    groups: Vec<String>,
}

impl OutputToken {
    fn new(token: &TokenSecret) -> OutputToken {
        OutputToken {
            kind: "BootstrapToken",
            api_version: "output.kubeadm.k8s.io/v1alpha3",
            token: format!("{}.{}", token.id, token.secret),
            description: token.description.clone(),
            expires: token.expires.map(rfc3339),
            usages: token.usages.clone(),
            groups: token.groups.clone(),
        }
    }
}

fn or_none(text: String) -> String {
    if text.is_empty() {
        "<none>".into()
    } else {
        text
    }
}

/// One row of kubeadm's table. kubeadm pads TTL, USAGES and DESCRIPTION itself and then aligns
/// every token with a tabwriter of its own (the header shares the first one), so rows line up
/// only as far as that padding reaches; kinit reproduces that, long descriptions included.
fn table_row(token: &TokenSecret, now: i64) -> String {
    let (ttl, expires) = match token.expires {
        Some(at) => (short_human_duration(at - now), rfc3339(at)),
        None => ("<forever>".into(), "<never>".into()),
    };
    format!(
        "{}.{}\t{ttl:<9}\t{expires}\t{:<22}\t{:<56}\t{}\n",
        token.id,
        token.secret,
        or_none(token.usages.join(",")),
        or_none(token.description.clone()),
        or_none(token.groups.join(",")),
    )
}

fn table(tokens: &[TokenSecret], now: i64) -> String {
    tokens
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let header = if i == 0 {
                "TOKEN\tTTL\tEXPIRES\tUSAGES\tDESCRIPTION\tEXTRA GROUPS\n"
            } else {
                ""
            };
            tabwriter::align(&format!("{header}{}", table_row(token, now)))
        })
        .collect()
}

/// kubectl's JSON printer: four-space indents, a newline after each object.
fn json_document(token: &OutputToken) -> Result<String, Exit> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    token
        .serialize(&mut serializer)
        .map_err(|e| Exit::failure(e.to_string()))?;
    Ok(format!("{}\n", String::from_utf8_lossy(&out)))
}

pub fn list(global: &GlobalArgs, server: &TokenServerArgs) -> Result<i32, Exit> {
    let session = cluster(global, server)?
        .connect(DEFAULT_CALL_LIMIT)
        .map_err(exit_of)?;
    let (tokens, unreadable) = token::list(&session).map_err(exit_of)?;
    for bad in unreadable {
        eprintln!(
            "W: Secret kube-system/{} has the bootstrap token type but is not a token: {}; skipped",
            bad.name, bad.why
        );
    }
    let out = match global.output {
        OutputFormat::Text => table(&tokens, now()),
        OutputFormat::Json => tokens
            .iter()
            .map(|t| json_document(&OutputToken::new(t)))
            .collect::<Result<String, Exit>>()?,
        OutputFormat::Yaml => tokens
            .iter()
            .map(|t| {
                kinit_phases::domain::config::to_yaml(&OutputToken::new(t)).map_err(Exit::failure)
            })
            .collect::<Result<Vec<String>, Exit>>()?
            .join("---\n"),
    };
    print!("{out}");
    Ok(exit::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// delete

pub fn delete(global: &GlobalArgs, args: &[String], server: &TokenServerArgs) -> Result<i32, Exit> {
    let session =
        || TokenCluster::read(&root(global), &server.kubeconfig)?.connect(DEFAULT_CALL_LIMIT);
    token::delete(args, global.dry_run, session, &mut |line| {
        println!("{line}")
    })
    .map_err(exit_of)?;
    Ok(exit::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(expires: Option<i64>, description: &str) -> TokenSecret {
        TokenSecret {
            id: "abcdef".into(),
            secret: "0123456789abcdef".into(),
            description: description.into(),
            expires,
            usages: vec!["authentication".into(), "signing".into()],
            groups: vec!["system:bootstrappers:kubeadm:default-node-token".into()],
        }
    }

    #[test]
    fn the_table_pads_as_kubeadms_printer_and_aligns_each_token_alone() {
        let now = 1_787_130_207;
        let out = table(&[token(Some(now + 86_399), ""), token(None, "mine")], now);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            "TOKEN                     TTL         EXPIRES                USAGES                   DESCRIPTION                                                EXTRA GROUPS"
        );
        assert_eq!(
            lines[1],
            "abcdef.0123456789abcdef   23h         2026-08-20T09:03:26Z   authentication,signing   <none>                                                     system:bootstrappers:kubeadm:default-node-token"
        );
        assert_eq!(
            lines[2],
            "abcdef.0123456789abcdef   <forever>   <never>   authentication,signing   mine                                                       system:bootstrappers:kubeadm:default-node-token"
        );
        assert_eq!(table(&[], now), "");
    }
}
