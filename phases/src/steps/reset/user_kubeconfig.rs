//! The user's `$HOME/.kube/config`, which kubeadm tells people to copy admin.conf to and its reset leaves.
//! It goes only when it points at this node's cluster alone: a kubeconfig for other clusters is kept.

use super::{step, warn};
use crate::domain::kubeconfig::{unbase64, Kubeconfig};
use crate::workflow::{PhaseContext, ResetData};
use kinit_preflight::Host;

/// The home of the person who ran kinit: under sudo, the invoking user's (from /etc/passwd), since
/// sudo may leave HOME as root's.
pub fn home(host: &dyn Host) -> Option<String> {
    if let Some(user) = host
        .env("SUDO_USER")
        .filter(|u| !u.is_empty() && u != "root")
    {
        let passwd = host.read_file("/etc/passwd").unwrap_or_default();
        if let Some(home) = passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 6 && fields[0] == user).then(|| fields[5].to_string())
        }) {
            return Some(home);
        }
    }
    host.env("HOME").filter(|h| !h.is_empty())
}

pub fn path(host: &dyn Host) -> Option<String> {
    home(host).map(|home| format!("{}/.kube/config", home.trim_end_matches('/')))
}

fn der(pem: &[u8]) -> Option<Vec<u8>> {
    openssl::x509::X509::from_pem(pem)
        .ok()
        .and_then(|c| c.to_der().ok())
}

/// Why the kubeconfig must stay, or None when every cluster in it trusts exactly `ca` (PEM).
pub fn reason_to_keep(text: &str, ca: Option<&[u8]>) -> Option<String> {
    let Some(ca) = ca.and_then(der) else {
        return Some("this node has no cluster CA to compare it with".into());
    };
    let config = match Kubeconfig::parse(text, "the kubeconfig") {
        Ok(config) => config,
        Err(_) => return Some("it is not a kubeconfig kinit can read".into()),
    };
    if config.clusters.is_empty() {
        return Some("it names no cluster".into());
    }
    let same = |data: &Option<String>| {
        data.as_deref()
            .and_then(|d| unbase64(d).ok())
            .and_then(|pem| der(&pem))
            .is_some_and(|cert| cert == ca)
    };
    if config
        .clusters
        .iter()
        .all(|c| same(&c.cluster.certificate_authority_data))
    {
        None
    } else {
        Some("its cluster's certificate-authority-data is not this node's CA".into())
    }
}

/// Read before the PKI goes: the CA the kubeconfig is compared with.
pub fn node_ca(ctx: &PhaseContext<'_, ResetData>, cert_dir: &str) -> Option<Vec<u8>> {
    let path = format!("{}/ca.crt", cert_dir.trim_end_matches('/'));
    ctx.effects.read_file(&path).ok().flatten()
}

pub fn remove(
    ctx: &mut PhaseContext<'_, ResetData>,
    ca: Option<&[u8]>,
    warnings: &mut Vec<String>,
) {
    let Some(path) = path(ctx.host) else {
        return;
    };
    let target = super::files::file_in_root(ctx, &path);
    let text = match ctx.effects.read_file(&target) {
        Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        Ok(None) => return,
        Err(e) => {
            warn(ctx, warnings, format!("{e}; it is left as it is"));
            return;
        }
    };
    match reason_to_keep(&text, ca) {
        None => {
            step(
                ctx,
                &format!("Deleting {path}: it is for this node's cluster"),
                &format!("Would delete {path}: it is for this node's cluster"),
            );
            if let Err(e) = ctx.effects.remove(&target) {
                warn(ctx, warnings, format!("failed to remove file: {e}"));
            }
        }
        Some(why) => ctx.sink.line(&format!("[reset] Keeping {path}: {why}")),
    }
}
