//! `kinit init phase certs <child>`: each certificate of kubeadm's list, kept when the one on disk is
//! sound, refused with the reason when it is not, made (with its key) when it is missing.

use crate::domain::config::resolve::InitConfig;
use crate::domain::pki::cert::{self, CertProfile, Usage, Validity};
use crate::domain::pki::keys::{self, KeyAlgorithm};
use crate::domain::pki::table::{self, CertSpec};
use crate::workflow::{failed, NodeData, PhaseContext, PhaseError};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use std::time::Duration;

pub const CERT_MODE: u32 = 0o644;
pub const KEY_MODE: u32 = 0o600;
/// kubeadm writes sa.pub with its key writer, so owner-only like a private key (a joining control
/// plane's copy, written with the certificate writer, is 0644).
pub const PUBLIC_KEY_MODE: u32 = 0o600;

pub fn cert_dir(config: &InitConfig) -> &str {
    &config.cluster.certificates_dir
}

pub fn path(dir: &str, base: &str, extension: &str) -> String {
    format!("{}/{base}.{extension}", dir.trim_end_matches('/'))
}

pub fn algorithm(config: &InitConfig) -> Result<KeyAlgorithm, PhaseError> {
    KeyAlgorithm::parse(&config.cluster.encryption_algorithm).map_err(failed)
}

fn period(
    value: Option<&crate::domain::config::duration::GoDuration>,
    default_hours: u64,
) -> Duration {
    value.map_or(Duration::from_secs(default_hours * 3600), |d| d.0)
}

pub fn leaf_validity<D: NodeData>(ctx: &PhaseContext<'_, D>) -> Validity {
    Validity {
        start: ctx.keys.start,
        period: period(
            ctx.data
                .config()
                .cluster
                .certificate_validity_period
                .as_ref(),
            8760,
        ),
    }
}

fn ca_validity<D: NodeData>(ctx: &PhaseContext<'_, D>) -> Validity {
    Validity {
        start: ctx.keys.start,
        period: period(
            ctx.data
                .config()
                .cluster
                .ca_certificate_validity_period
                .as_ref(),
            87600,
        ),
    }
}

/// A certificate and, when present, its key, as the run sees them now.
pub struct Pair {
    pub cert: Option<X509>,
    pub key: Option<PKey<Private>>,
}

pub fn read_pair<D>(ctx: &PhaseContext<'_, D>, dir: &str, base: &str) -> Result<Pair, PhaseError> {
    let cert_path = path(dir, base, "crt");
    let key_path = path(dir, base, "key");
    let cert = ctx
        .effects
        .read_file(&cert_path)
        .map_err(failed)?
        .map(|pem| cert::parse_pem(&pem, &cert_path))
        .transpose()
        .map_err(failed)?;
    let key = ctx
        .effects
        .read_file(&key_path)
        .map_err(failed)?
        .map(|pem| keys::parse_private_key(&pem, &key_path))
        .transpose()
        .map_err(failed)?;
    Ok(Pair { cert, key })
}

pub fn write_pair<D>(
    ctx: &mut PhaseContext<'_, D>,
    dir: &str,
    base: &str,
    cert: &X509,
    key: &PKey<Private>,
) -> Result<(), PhaseError> {
    // The key goes first: a run killed in between leaves a key without a certificate, which the next
    // run replaces, never a certificate without its key.
    let key_pem = keys::private_key_pem(key).map_err(failed)?;
    ctx.effects
        .write_file(&path(dir, base, "key"), &key_pem, KEY_MODE)
        .map_err(failed)?;
    let cert_pem = cert::to_pem(cert).map_err(failed)?;
    ctx.effects
        .write_file(&path(dir, base, "crt"), &cert_pem, CERT_MODE)
        .map_err(failed)
}

fn key_name(phase: &str) -> String {
    format!("certs/{phase}")
}

/// What runs before the first certificate of a run: say where they go, and make every key the
/// run will need at once, over all cores.
pub fn before_certs<D: NodeData>(ctx: &mut PhaseContext<'_, D>) -> Result<Vec<String>, PhaseError> {
    let dir = cert_dir(ctx.data.config()).to_string();
    ctx.sink
        .line(&format!("[certs] Using certificateDir folder {dir:?}"));
    ctx.make_keys_ahead()?;
    Ok(Vec::new())
}

/// The keys the certificates of children `phases` will make: one for each whose certificate or
/// key is missing (for `sa`, whose key is).
pub fn key_demand<D: NodeData>(
    ctx: &PhaseContext<'_, D>,
    phases: &[&str],
) -> Result<Vec<String>, String> {
    let dir = cert_dir(ctx.data.config());
    let missing = |base: &str, extension| {
        ctx.effects
            .read_file(&path(dir, base, extension))
            .map(|f| f.is_none())
    };
    let (specs, _) = table::certificates(ctx.data.config())?;
    let mut needed = Vec::new();
    for &phase in phases {
        let wanted = if phase == "sa" {
            missing("sa", "key")?
        } else {
            match specs.iter().find(|s| s.phase == phase) {
                Some(spec) => missing(spec.base, "crt")? || missing(spec.base, "key")?,
                None => false,
            }
        };
        if wanted {
            needed.push(key_name(phase));
        }
    }
    Ok(needed)
}

fn names_line(profile: &CertProfile) -> String {
    let ips: Vec<String> = profile.ips.iter().map(ToString::to_string).collect();
    format!(
        "DNS names [{}] and IPs [{}]",
        profile.dns_names.join(" "),
        ips.join(" ")
    )
}

fn run_ca<D: NodeData>(ctx: &mut PhaseContext<'_, D>, spec: &CertSpec) -> Result<(), PhaseError> {
    let dir = cert_dir(ctx.data.config()).to_string();
    let existing = read_pair(ctx, &dir, spec.base)?;
    let crt = path(&dir, spec.base, "crt");
    match (&existing.cert, &existing.key) {
        (Some(ca), Some(key)) => {
            if let Some(problem) = cert::problem_with(ca, key, &spec.profile, None) {
                return Err(failed(format!("{crt}: {problem}: fix or remove {crt} and its key, or restore the CA this cluster was made with")));
            }
            ctx.sink.line(&format!(
                "[certs] Using existing {} certificate authority",
                spec.phase
            ));
            return Ok(());
        }
        (Some(ca), None) => {
            // External CA mode: the CA key stays elsewhere and every certificate it signs must exist.
            if !cert::signed_by(ca, ca) {
                return Err(failed(format!("{crt} is not a self-signed CA certificate")));
            }
            if cert::not_after_unix(ca) <= cert::now_unix() {
                return Err(failed(format!("{crt}: the CA certificate has expired")));
            }
            ctx.sink.line(&format!(
                "[certs] Using existing {} keyless certificate authority",
                spec.phase
            ));
            return Ok(());
        }
        (None, Some(_)) => ctx.sink.line(&format!(
            "[certs] {} has no certificate next to it: making a new {} CA",
            path(&dir, spec.base, "key"),
            spec.phase
        )),
        (None, None) => {}
    }
    ctx.sink.line(&format!(
        "[certs] Generating {:?} certificate and key",
        spec.base
    ));
    let key = ctx
        .keys
        .take(&key_name(spec.phase), algorithm(ctx.data.config())?)
        .map_err(failed)?;
    let ca = cert::build(&spec.profile, &key, None, ca_validity(ctx)).map_err(failed)?;
    write_pair(ctx, &dir, spec.base, &ca, &key)
}

fn run_leaf<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
    spec: &CertSpec,
    ca_base: &str,
) -> Result<(), PhaseError> {
    let dir = cert_dir(ctx.data.config()).to_string();
    let signer = read_pair(ctx, &dir, ca_base)?;
    let ca_crt = path(&dir, ca_base, "crt");
    let Some(ca) = signer.cert else {
        return Err(failed(format!(
            "cannot make {}: the CA certificate {ca_crt} is missing (run `kinit init phase certs {}` first)",
            spec.base,
            ca_base.replace('/', "-")
        )));
    };
    let existing = read_pair(ctx, &dir, spec.base)?;
    let crt = path(&dir, spec.base, "crt");
    if let (Some(cert), Some(key)) = (&existing.cert, &existing.key) {
        if let Some(problem) = cert::problem_with(cert, key, &spec.profile, Some(&ca)) {
            return Err(failed(format!(
                "{crt}: {problem}; kinit does not overwrite it: remove {crt} and {} to have it made again",
                path(&dir, spec.base, "key")
            )));
        }
        ctx.sink.line(&format!(
            "[certs] Using existing {} certificate and key on disk",
            spec.phase
        ));
        return Ok(());
    }
    let Some(ca_key) = signer.key else {
        return Err(failed(format!(
            "{crt} or its key is missing, and without {} (external CA mode) kinit cannot sign it: provide {crt} and its key signed by {ca_crt}",
            path(&dir, ca_base, "key")
        )));
    };
    ctx.sink.line(&format!(
        "[certs] Generating {:?} certificate and key",
        spec.base
    ));
    if spec.profile.usages.contains(&Usage::ServerAuth) {
        ctx.sink.line(&format!(
            "[certs] {} serving cert is signed for {}",
            spec.base,
            names_line(&spec.profile)
        ));
    }
    let key = ctx
        .keys
        .take(&key_name(spec.phase), algorithm(ctx.data.config())?)
        .map_err(failed)?;
    let made = cert::build(
        &spec.profile,
        &key,
        Some((&ca, &ca_key)),
        leaf_validity(ctx),
    )
    .map_err(failed)?;
    write_pair(ctx, &dir, spec.base, &made, &key)
}

fn run_service_account_key<D: NodeData>(ctx: &mut PhaseContext<'_, D>) -> Result<(), PhaseError> {
    let dir = cert_dir(ctx.data.config()).to_string();
    let key_path = path(&dir, "sa", "key");
    let pub_path = path(&dir, "sa", "pub");
    if let Some(pem) = ctx.effects.read_file(&key_path).map_err(failed)? {
        let key = keys::parse_private_key(&pem, &key_path).map_err(failed)?;
        let public = keys::public_key_pem(&key).map_err(failed)?;
        match ctx.effects.read_file(&pub_path).map_err(failed)? {
            Some(existing) if existing != public => {
                let matches = PKey::public_key_from_pem(&existing).is_ok_and(|p| p.public_eq(&key));
                if !matches {
                    return Err(failed(format!("{pub_path} does not hold the public half of {key_path}: remove {pub_path} to have it written again")));
                }
            }
            Some(_) => {}
            None => ctx
                .effects
                .write_file(&pub_path, &public, PUBLIC_KEY_MODE)
                .map_err(failed)?,
        }
        ctx.sink.line("[certs] Using the existing \"sa\" key");
        return Ok(());
    }
    ctx.sink
        .line("[certs] Generating \"sa\" key and public key");
    let key = ctx
        .keys
        .take(&key_name("sa"), algorithm(ctx.data.config())?)
        .map_err(failed)?;
    let private = keys::private_key_pem(&key).map_err(failed)?;
    ctx.effects
        .write_file(&key_path, &private, KEY_MODE)
        .map_err(failed)?;
    let public = keys::public_key_pem(&key).map_err(failed)?;
    ctx.effects
        .write_file(&pub_path, &public, PUBLIC_KEY_MODE)
        .map_err(failed)
}

/// Child `phase` of `kinit init phase certs`: its certificate (or for `sa`, the service account
/// key pair) kept, refused or made.
pub fn run_cert<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
    phase: &str,
) -> Result<Vec<String>, PhaseError> {
    if phase == "sa" {
        run_service_account_key(ctx)?;
        return Ok(Vec::new());
    }
    let (specs, warnings) = table::certificates(ctx.data.config()).map_err(failed)?;
    let Some(spec) = specs.iter().find(|s| s.phase == phase) else {
        // With external etcd the etcd certificates are not kubeadm's to make.
        ctx.sink.line(&format!(
            "[certs] External etcd mode: skipping {phase} certificate generation"
        ));
        return Ok(Vec::new());
    };
    match spec.ca {
        None => run_ca(ctx, spec)?,
        Some(ca) => run_leaf(ctx, spec, ca)?,
    }
    // SAN warnings belong to the certificate that dropped them.
    Ok(warnings
        .into_iter()
        .filter(|w| w.contains(&format!(" {} SAN", spec.base)))
        .collect())
}
