//! What `kinit certs check-expiration` reports: for each managed certificate and each CA, when it expires,
//! how long it has left, and whether its CA is kept off this machine.

use super::{authorities, embedded_client, file_of, managed, read_cert, Dirs, Source};
use crate::domain::config::resolve::InitConfig;
use crate::domain::pki::cert;
use crate::exec::effects::Effects;
use crate::steps::certs::path;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    pub name: String,
    /// notAfter in seconds since the epoch; 0 when the file is missing.
    pub expires: i64,
    pub residual_seconds: i64,
    /// The signer's name; `None` for a CA.
    pub ca: Option<&'static str>,
    pub externally_managed: bool,
    pub missing: bool,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub certificates: Vec<Expiry>,
    pub authorities: Vec<Expiry>,
}

/// A CA is kept elsewhere (kubeadm's external CA mode) when its certificate is here and its key is not.
fn externally_managed(effects: &dyn Effects, dirs: &Dirs, base: &str) -> Result<bool, String> {
    let cert = effects.read_file(&path(&dirs.cert_dir, base, "crt"))?;
    let key = effects.read_file(&path(&dirs.cert_dir, base, "key"))?;
    Ok(cert.is_some() && key.is_none())
}

/// Whole seconds from `now` to `expires`, cut toward zero as Go's `time.Until(notAfter) / time.Second`:
/// the fraction of the current second counts, so a certificate made this second for a year shows `364d`.
fn residual_seconds(expires: i64, now: SystemTime) -> i64 {
    let now_nanos = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    let left = i128::from(expires) * 1_000_000_000 - now_nanos;
    i64::try_from(left / 1_000_000_000).unwrap_or(i64::MAX)
}

fn expiry(
    name: &str,
    found: Option<&openssl::x509::X509>,
    ca: Option<&'static str>,
    externally_managed: bool,
    now: SystemTime,
) -> Expiry {
    let expires = found.map_or(0, cert::not_after_unix);
    Expiry {
        name: name.to_string(),
        expires,
        residual_seconds: if found.is_some() {
            residual_seconds(expires, now)
        } else {
            0
        },
        ca,
        externally_managed,
        missing: found.is_none(),
    }
}

/// Reads every managed certificate and CA of this configuration; a file that is there but cannot be read
/// as a certificate is an error, a file that is not there is a `missing` row.
pub fn check(
    effects: &dyn Effects,
    config: &InitConfig,
    dirs: &Dirs,
    now: SystemTime,
) -> Result<Report, String> {
    let mut certificates = Vec::new();
    for item in managed(config)? {
        let file = file_of(&item, dirs);
        let found = match item.source {
            Source::Files { .. } => read_cert(effects, &file)?,
            Source::Kubeconfig { .. } => match effects.read_file(&file)? {
                Some(bytes) => Some(embedded_client(&String::from_utf8_lossy(&bytes), &file)?.0),
                None => None,
            },
        };
        let external = externally_managed(effects, dirs, item.ca_base)?;
        certificates.push(expiry(
            &item.name,
            found.as_ref(),
            Some(item.ca_name),
            external,
            now,
        ));
    }
    let mut cas = Vec::new();
    for authority in authorities(config)? {
        let found = read_cert(effects, &path(&dirs.cert_dir, authority.base, "crt"))?;
        let external = externally_managed(effects, dirs, authority.base)?;
        cas.push(expiry(authority.name, found.as_ref(), None, external, now));
    }
    Ok(Report {
        certificates,
        authorities: cas,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn residual_time_counts_the_started_second_as_go_does() {
        let now = UNIX_EPOCH + Duration::from_millis(1_000_250);
        assert_eq!(residual_seconds(1_000 + 86_400, now), 86_399);
        assert_eq!(residual_seconds(1_000, now), 0);
        assert_eq!(residual_seconds(990, now), -10);
        assert_eq!(
            residual_seconds(1_000 + 60, UNIX_EPOCH + Duration::from_secs(1_000)),
            60
        );
    }
}
