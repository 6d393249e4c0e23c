//! File discovery: the cluster is named by a kubeconfig on disk or at an https URL (verified
//! against the host's trusted CAs), instead of by a token and CA pins.

use std::time::Duration;

use super::ClusterInfo;
use crate::effects::Effects;
use crate::kubeconfig::{unbase64, Kubeconfig};
use crate::wait::probe::{self, Target, Transport};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The kubeconfig text at `location` (a path, read through `effects`, or an https URL).
pub fn read(effects: &dyn Effects, location: &str) -> Result<String, String> {
    let Some(rest) = location.strip_prefix("https://") else {
        if location.starts_with("http://") {
            return Err(format!(
                "--discovery-file {location}: only https URLs are accepted, so that the file cannot be changed on the way"
            ));
        }
        let bytes = effects
            .read_file(location)?
            .ok_or_else(|| format!("the discovery file {location} does not exist"))?;
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = match authority.rsplit_once(':') {
        Some((_, port)) if !port.ends_with(']') => super::token::split_endpoint(authority)?,
        _ => (authority.trim_matches(['[', ']']).to_string(), 443),
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

/// The cluster of the file's current context, which must carry its CA inline.
pub fn cluster_info(text: &str, location: &str) -> Result<(ClusterInfo, Kubeconfig), String> {
    let config = Kubeconfig::parse(text, location)?;
    let (cluster, _) = config
        .current()
        .ok_or_else(|| format!("{location} has no usable current context"))?;
    let ca = cluster
        .certificate_authority_data
        .as_deref()
        .ok_or_else(|| {
            format!("{location} must carry its cluster's CA as certificate-authority-data")
        })?;
    let info = ClusterInfo {
        server: cluster.server.clone(),
        ca_pem: unbase64(ca).map_err(|e| format!("{location}: the CA is not base64: {e}"))?,
    };
    Ok((info, config))
}
