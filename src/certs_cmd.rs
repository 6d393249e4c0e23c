//! `kinit certs` and `kinit kubeconfig`: read the configuration and flags, call the library, and print
//! kubeadm's tables and lines, or one JSON document with `-o json`.

use crate::cli::{CertsCommand, GlobalArgs, KubeconfigCommand, OutputFormat, PkiDirArgs, UserArgs};
use crate::exit::{self, Exit};
use crate::output::emit;
use crate::run_phases::{load_lenient, root};
use crate::tabwriter;
use kinit_phases::commands::certs_commands::expiration::{self, Expiry, Report};
use kinit_phases::commands::certs_commands::{generate_csr, renew, Dirs};
use kinit_phases::commands::kubeconfig_user::{user_kubeconfig, UserRequest};
use kinit_phases::domain::config::duration;
use kinit_phases::domain::config::resolve::{self, InitConfig};
use kinit_phases::domain::config::ConfigFile;
use kinit_phases::domain::pki::cert::Validity;
use kinit_phases::domain::pki::keys;
use kinit_phases::domain::pki::keys::KeyAlgorithm;
use kinit_phases::domain::time_text::{go_date, rfc3339, short_human_duration};
use kinit_phases::exec::effects::{DryRunEffects, Effects, HostEffects};
use serde_json::json;
use std::time::{Duration, SystemTime};

const DEFAULT_LEAF_PERIOD: Duration = Duration::from_secs(8760 * 3600);

pub fn certs(global: &GlobalArgs, command: &CertsCommand) -> Result<i32, Exit> {
    match command {
        CertsCommand::CheckExpiration(dirs) => check_expiration(global, dirs),
        CertsCommand::Renew { name, dirs } => renew(global, name, dirs),
        CertsCommand::GenerateCsr(dirs) => generate_csr(global, dirs),
        CertsCommand::CertificateKey => {
            let key = keys::certificate_key().map_err(Exit::failure)?;
            match global.output {
                OutputFormat::Json | OutputFormat::Yaml => emit(&json!({ "certificateKey": key })),
                OutputFormat::Text => println!("{key}"),
            }
            Ok(exit::SUCCESS)
        }
    }
}

pub fn kubeconfig(global: &GlobalArgs, command: &KubeconfigCommand) -> Result<i32, Exit> {
    match command {
        KubeconfigCommand::User(args) => user(global, args),
    }
}

fn load(global: &GlobalArgs) -> Result<Option<ConfigFile>, Exit> {
    global.config.as_deref().map(load_lenient).transpose()
}

/// The configuration from --config (or kubeadm's defaults). With `placeholders`, values taken from the
/// host (node name, advertise address) that cannot be found stand in as placeholders: the PKI commands
/// only read the ClusterConfiguration and must work on any control-plane node.
fn resolve(
    global: &GlobalArgs,
    file: Option<&ConfigFile>,
    placeholders: bool,
) -> Result<InitConfig, Exit> {
    let flags = resolve::InitFlags {
        dry_run: placeholders,
        ..Default::default()
    };
    resolve::resolve_init(file, &flags, &root(global)).map_err(|errors| {
        Exit::failure(format!("invalid configuration:\n  {}", errors.join("\n  ")))
    })
}

/// The configuration and folders of a `kinit certs` command: --cert-dir wins over the file's certificatesDir.
fn pki_setup(global: &GlobalArgs, args: &PkiDirArgs) -> Result<(InitConfig, Dirs), Exit> {
    let mut config = resolve(global, load(global)?.as_ref(), true)?;
    if let Some(dir) = &args.cert_dir {
        config.cluster.certificates_dir = dir.clone();
    }
    let dirs = Dirs {
        cert_dir: config.cluster.certificates_dir.clone(),
        kubeconfig_dir: args.kubeconfig_dir.clone(),
    };
    Ok((config, dirs))
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

/// kubeadm's two tables (certs.go's text printer), aligned as its tabwriter aligns them.
fn tables(report: &Report) -> String {
    let mut text = String::from(
        "CERTIFICATE\tEXPIRES\tRESIDUAL TIME\tCERTIFICATE AUTHORITY\tEXTERNALLY MANAGED\n",
    );
    for row in &report.certificates {
        if row.missing {
            text.push_str(&format!("!MISSING! {}\t\t\t\t\n", row.name));
            continue;
        }
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{:<8}\n",
            row.name,
            go_date(row.expires),
            short_human_duration(row.residual_seconds),
            row.ca.unwrap_or_default(),
            yes_no(row.externally_managed)
        ));
    }
    text.push_str("\nCERTIFICATE AUTHORITY\tEXPIRES\tRESIDUAL TIME\tEXTERNALLY MANAGED\n");
    for row in &report.authorities {
        if row.missing {
            text.push_str(&format!("!MISSING! {}\t\t\t\n", row.name));
            continue;
        }
        text.push_str(&format!(
            "{}\t{}\t{}\t{:<8}\n",
            row.name,
            go_date(row.expires),
            short_human_duration(row.residual_seconds),
            yes_no(row.externally_managed)
        ));
    }
    tabwriter::align(&text)
}

fn expiry_json(row: &Expiry) -> serde_json::Value {
    let mut value = json!({
        "name": row.name,
        "expires": (!row.missing).then(|| rfc3339(row.expires)),
        "residualSeconds": row.residual_seconds,
        "externallyManaged": row.externally_managed,
        "missing": row.missing,
    });
    if let Some(ca) = row.ca {
        value["ca"] = json!(ca);
    }
    value
}

fn check_expiration(global: &GlobalArgs, args: &PkiDirArgs) -> Result<i32, Exit> {
    let (config, dirs) = pki_setup(global, args)?;
    let effects = HostEffects::new(root(global));
    let report =
        expiration::check(&effects, &config, &dirs, SystemTime::now()).map_err(Exit::failure)?;
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => emit(&json!({
            "certificates": report.certificates.iter().map(expiry_json).collect::<Vec<_>>(),
            "certificateAuthorities": report.authorities.iter().map(expiry_json).collect::<Vec<_>>(),
        })),
        OutputFormat::Text => print!("{}", tables(&report)),
    }
    Ok(exit::SUCCESS)
}

fn generate_csr(global: &GlobalArgs, args: &PkiDirArgs) -> Result<i32, Exit> {
    let (config, dirs) = pki_setup(global, args)?;
    let mut effects: Box<dyn Effects> = if global.dry_run {
        Box::new(DryRunEffects::new(root(global)))
    } else {
        Box::new(HostEffects::new(root(global)))
    };
    let mut lines = Vec::new();
    generate_csr::generate(&config, &dirs, effects.as_mut(), &mut |line| {
        lines.push(line.to_string())
    })
    .map_err(Exit::failure)?;
    let changes: Vec<String> = effects.changes().iter().map(ToString::to_string).collect();
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => emit(&json!({
            "dryRun": global.dry_run,
            "planned": if global.dry_run { changes } else { Vec::new() },
        })),
        OutputFormat::Text => {
            for line in &lines {
                println!("{line}");
            }
            for change in changes.iter().filter(|_| global.dry_run) {
                println!("[dry-run] would {change}");
            }
        }
    }
    Ok(exit::SUCCESS)
}

fn renew(global: &GlobalArgs, name: &str, args: &PkiDirArgs) -> Result<i32, Exit> {
    let (config, dirs) = pki_setup(global, args)?;
    let selected = renew::select(&config, name).map_err(Exit::failure)?;
    let period = config
        .cluster
        .certificate_validity_period
        .map_or(DEFAULT_LEAF_PERIOD, |d| d.0);
    let mut effects: Box<dyn Effects> = if global.dry_run {
        Box::new(DryRunEffects::new(root(global)))
    } else {
        Box::new(HostEffects::new(root(global)))
    };
    let renewals = renew::plan(
        effects.as_ref(),
        &dirs,
        &selected,
        Validity::from_now(period),
        KeyAlgorithm::parse(&config.cluster.encryption_algorithm).map_err(Exit::failure)?,
    )
    .map_err(|errors| {
        let hint = if selected.len() > 1 {
            "\n(renew the others by name, e.g. `kinit certs renew apiserver`)"
        } else {
            ""
        };
        Exit::failure(format!(
            "nothing was renewed:\n  {}{hint}",
            errors.join("\n  ")
        ))
    })?;
    renew::apply(effects.as_mut(), &renewals).map_err(Exit::failure)?;
    effects.commit().map_err(Exit::failure)?;
    let changes: Vec<String> = effects.changes().iter().map(ToString::to_string).collect();
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => emit(&json!({
            "renewed": renewals.iter().map(|r| json!({
                "name": r.name,
                "file": r.file,
                "expires": rfc3339(r.not_after),
            })).collect::<Vec<_>>(),
            "dryRun": global.dry_run,
            "planned": if global.dry_run { changes } else { Vec::new() },
        })),
        OutputFormat::Text if global.dry_run => {
            for renewal in &renewals {
                println!(
                    "[dry-run] would renew the {} ({}) until {}",
                    renewal.long_name,
                    renewal.file,
                    go_date(renewal.not_after)
                );
            }
            for change in &changes {
                println!("[dry-run] would {change}");
            }
        }
        OutputFormat::Text => {
            // kubeadm's lines, word for word.
            for renewal in &renewals {
                println!("{} renewed", renewal.long_name);
            }
            println!("\nDone renewing certificates. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates.");
        }
    }
    Ok(exit::SUCCESS)
}

fn user(global: &GlobalArgs, args: &UserArgs) -> Result<i32, Exit> {
    let validity = duration::parse(&args.validity_period)
        .map_err(|e| Exit::usage(format!("--validity-period: {e}")))?;
    let file = load(global)?;
    // The server is the control-plane endpoint; only without one does this node's advertise address
    // count, and then it must be the real one, never a placeholder.
    let mut config = match resolve(global, file.as_ref(), true)? {
        sketch if !sketch.cluster.control_plane_endpoint.is_empty() => sketch,
        _ => resolve(global, file.as_ref(), false).map_err(|e| {
            // This command has no address flags of its own: point at the file instead.
            let message = e.message.replace(": pass --apiserver-advertise-address", "");
            Exit::failure(format!(
                "{message}\n  (kinit kubeconfig user takes the API server address from --config: set controlPlaneEndpoint or localAPIEndpoint.advertiseAddress)"
            ))
        })?,
    };
    if let Some(dir) = &args.cert_dir {
        config.cluster.certificates_dir = dir.clone();
    }
    let request = UserRequest {
        client_name: args.client_name.clone(),
        organizations: args.orgs.clone(),
        validity,
    };
    let effects = HostEffects::new(root(global));
    let kubeconfig = user_kubeconfig(&effects, &config, &request).map_err(Exit::failure)?;
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            emit(&serde_json::to_value(&kubeconfig).map_err(|e| Exit::failure(e.to_string()))?)
        }
        OutputFormat::Text => print!("{}", kubeconfig.to_yaml().map_err(Exit::failure)?),
    }
    Ok(exit::SUCCESS)
}
