//! File discovery: the cluster is named by a kubeconfig on disk or at an https URL (verified
//! against the host's trusted CAs), instead of by a token and CA pins.

use std::time::Duration;

use super::ClusterInfo;
use crate::domain::kubeconfig::{unbase64, Kubeconfig};
use crate::domain::pki::table::split_endpoint;
use crate::exec::net::probe::{self, Target, Transport};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The kubeconfig text at `location` (a path or an https URL).
pub fn read(location: &str) -> Result<String, String> {
    let Some(rest) = location.strip_prefix("https://") else {
        if location.starts_with("http://") {
            return Err(format!(
                "--discovery-file {location}: only https URLs are accepted, so that the file cannot be changed on the way"
            ));
        }
        // Like --config, a file the user names is read where it is, not under --rootfs.
        return std::fs::read_to_string(location)
            .map_err(|e| format!("cannot read the discovery file {location}: {e}"));
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = match split_endpoint(authority) {
        (host, Some(port)) => (host.to_string(), port),
        // Without a port, the host is a name or an address, never one with a stray `:x`.
        (host, None) if !host.contains(':') || host.parse::<std::net::Ipv6Addr>().is_ok() => {
            (host.to_string(), 443)
        }
        _ => return Err(format!("--discovery-file {location}: bad port")),
    };
    let target = Target {
        host,
        port,
        path: format!("/{path}"),
        transport: Transport::HttpsSystemRoots,
    };
    match probe::get(&target, REQUEST_TIMEOUT) {
        Ok((200, body)) => Ok(body),
        Ok((status, _)) => Err(format!("--discovery-file {location}: HTTP {status}")),
        Err(failure) => Err(format!("--discovery-file {location}: {failure}")),
    }
}

/// The cluster of the file's current context, or its first cluster when it has no context (as
/// cluster-info's kubeconfig has none); the CA inline or in a file beside it.
pub fn cluster_info(text: &str, location: &str) -> Result<(ClusterInfo, Kubeconfig), String> {
    let config = Kubeconfig::parse(text, location)?;
    let cluster = match config.current() {
        Some((cluster, _)) => cluster.clone(),
        None => config
            .clusters
            .first()
            .map(|c| c.cluster.clone())
            .ok_or_else(|| format!("{location} names no cluster"))?,
    };
    let ca_pem = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(data), _) => {
            unbase64(data).map_err(|e| format!("{location}: the CA is not base64: {e}"))?
        }
        (None, Some(path)) => std::fs::read(path)
            .map_err(|e| format!("{location}: cannot read its CA file {path}: {e}"))?,
        (None, None) => return Err(format!("{location} carries no CA for its cluster")),
    };
    let info = ClusterInfo {
        server: cluster.server.clone(),
        ca_pem,
    };
    Ok((info, config))
}
