//! Token discovery (reference §9.1): fetch `cluster-info` without trusting the server, check its
//! JWS against the token, pin its CA by public-key hash, then fetch it again over TLS verified
//! against that CA alone and require the same bytes.

use std::time::{Duration, Instant};

use openssl::x509::X509;
use serde_json::Value;

use super::{jws, ClusterInfo};
use crate::domain::kubeconfig::{unbase64, Kubeconfig};
use crate::domain::pki::{cert, table};
use crate::exec::net::probe::{self, Failure, Target, Transport};

const CLUSTER_INFO_PATH: &str = "/api/v1/namespaces/kube-public/configmaps/cluster-info";
/// kubeadm's discovery retry interval.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// One request's own limit; the whole discovery is bounded by `timeouts.discovery`.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub struct TokenDiscovery<'a> {
    /// `host:port` of any API server of the cluster.
    pub endpoint: &'a str,
    /// `id.secret`.
    pub token: &'a str,
    pub ca_cert_hashes: &'a [String],
    pub unsafe_skip_ca_verification: bool,
    /// `timeouts.discovery`.
    pub timeout: Duration,
    pub interval: Duration,
}

/// Why one fetch of cluster-info did not give what discovery needs.
enum FetchError {
    /// Worth asking again: the server may come up, or the signer may not have signed yet.
    Retry(String),
    /// Asking again cannot help.
    Stop(String),
}

pub fn invalid_token(id: &str) -> String {
    format!(
        "token {id} is not valid or has expired; create one on a control-plane node with `kinit token create --print-join-command`"
    )
}

pub fn discover(
    request: &TokenDiscovery<'_>,
    progress: &mut dyn FnMut(&str),
) -> Result<ClusterInfo, String> {
    let (id, secret) = request
        .token
        .split_once('.')
        .ok_or_else(|| "the discovery token must look like abcdef.0123456789abcdef".to_string())?;
    // Validation asks for a pin or the explicit opt-out; discovery does not rely on it to decide
    // whether a CA may go unpinned.
    if request.ca_cert_hashes.is_empty() && !request.unsafe_skip_ca_verification {
        return Err("the cluster CA would not be pinned: give --discovery-token-ca-cert-hash, or --discovery-token-unsafe-skip-ca-verification to join without pinning it".into());
    }
    let (host, port) = split_endpoint(request.endpoint)?;
    let deadline = Instant::now() + request.timeout;
    let target = |transport| Target {
        host: host.clone(),
        port,
        path: CLUSTER_INFO_PATH.into(),
        transport,
    };
    progress(&format!(
        "[discovery] Fetching cluster-info from https://{}",
        request.endpoint
    ));
    let (kubeconfig_text, signature) = fetch_until(
        &target(Transport::HttpsUnverified),
        id,
        deadline,
        request,
        progress,
    )?;
    if !jws::verify(&signature, id, secret, &kubeconfig_text) {
        return Err(format!(
            "the JWS signature of cluster-info does not match token {id}: the token's secret is wrong (or cluster-info was changed on the way), so this API server cannot be trusted"
        ));
    }
    let info = parse_cluster_info(&kubeconfig_text)?;
    let ca = single_certificate(&info.ca_pem)?;
    if request.ca_cert_hashes.is_empty() {
        progress("[discovery] WARNING: the cluster CA is not pinned (--discovery-token-unsafe-skip-ca-verification): any server that knows the token could pose as this cluster");
        return Ok(info);
    }
    let found = cert::ca_cert_hash(&ca)?;
    if !request
        .ca_cert_hashes
        .iter()
        .any(|pin| pin.eq_ignore_ascii_case(&found))
    {
        return Err(format!(
            "the cluster CA's public key hash is {found}, which matches none of the given --discovery-token-ca-cert-hash values ({}): check the hash in the join command, or print it on a control-plane node with `kinit token create --print-join-command`",
            request.ca_cert_hashes.join(", ")
        ));
    }
    progress(&format!(
        "[discovery] The cluster CA matches the pin {found}; fetching cluster-info again over TLS verified against it"
    ));
    let (verified_text, _) = fetch_until(
        &target(Transport::HttpsVerified(vec![ca])),
        id,
        deadline,
        request,
        progress,
    )?;
    if verified_text != kubeconfig_text {
        return Err(
            "cluster-info changed between the unverified and the verified fetch: refusing to trust either"
                .into(),
        );
    }
    progress(&format!(
        "[discovery] Cluster info signature and contents are valid and TLS certificate validates against pinned roots, will use API Server {:?}",
        info.server
    ));
    Ok(info)
}

/// `host:port` (IPv6 in brackets) into its parts; both are required.
fn split_endpoint(endpoint: &str) -> Result<(String, u16), String> {
    match table::split_endpoint(endpoint) {
        (host, Some(port)) if !host.is_empty() => Ok((host.to_string(), port)),
        _ => Err(format!(
            "the API server endpoint {endpoint:?} is not host:port"
        )),
    }
}

/// Fetches cluster-info until it carries a signature for `id`, every `interval` until `deadline`,
/// with a line on each failure so that a wait never looks like a hang.
fn fetch_until(
    target: &Target,
    id: &str,
    deadline: Instant,
    request: &TokenDiscovery<'_>,
    progress: &mut dyn FnMut(&str),
) -> Result<(String, String), String> {
    loop {
        let error = match fetch(target, id) {
            Ok(found) => return Ok(found),
            Err(FetchError::Stop(why)) => return Err(why),
            Err(FetchError::Retry(why)) => why,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "{error} (gave up after {:?}, timeouts.discovery)",
                request.timeout
            ));
        }
        let pause = request.interval.min(left);
        progress(&format!(
            "[discovery] {error}; trying again in {}s ({}s left)",
            pause.as_secs_f64().ceil(),
            left.as_secs_f64().ceil()
        ));
        std::thread::sleep(pause);
    }
}

fn fetch(target: &Target, id: &str) -> Result<(String, String), FetchError> {
    let url = target.url();
    let (status, body) = probe::get(target, REQUEST_TIMEOUT).map_err(|failure| match failure {
        Failure::Tls { reason, names, .. }
            if matches!(target.transport, Transport::HttpsVerified(_)) =>
        {
            FetchError::Stop(format!(
                "the API server at {url} failed TLS verification against the pinned CA: {reason}{}",
                if names.is_empty() {
                    String::new()
                } else {
                    format!(" (its certificate is for {})", names.join(", "))
                }
            ))
        }
        failure => FetchError::Retry(format!("cannot reach the API server at {url}: {failure}")),
    })?;
    match status {
        200 => {}
        401 | 403 => {
            return Err(FetchError::Stop(format!(
                "the API server at {url} refuses anonymous reads of cluster-info (HTTP {status}): create it and its RBAC on a control-plane node with `kinit init phase bootstrap-token`"
            )))
        }
        404 => return Err(FetchError::Retry(format!("there is no cluster-info ConfigMap at {url} yet"))),
        _ => {
            return Err(FetchError::Retry(format!(
                "the API server at {url} answered HTTP {status}"
            )))
        }
    }
    let config_map: Value = serde_json::from_str(&body)
        .map_err(|e| FetchError::Stop(format!("{url} did not answer with a ConfigMap: {e}")))?;
    let data = &config_map["data"];
    let kubeconfig = data["kubeconfig"].as_str().ok_or_else(|| {
        FetchError::Stop(format!(
            "the cluster-info ConfigMap at {url} has no kubeconfig"
        ))
    })?;
    // The signer adds signatures a little after the token appears; until then, ask again.
    let signature = data[format!("jws-kubeconfig-{id}")]
        .as_str()
        .ok_or_else(|| FetchError::Retry(invalid_token(id)))?;
    Ok((kubeconfig.to_string(), signature.to_string()))
}

/// The server and CA of cluster-info's kubeconfig, which must name exactly one cluster.
pub fn parse_cluster_info(text: &str) -> Result<ClusterInfo, String> {
    let config = Kubeconfig::parse(text, "the kubeconfig in cluster-info")?;
    let [cluster] = config.clusters.as_slice() else {
        return Err(format!(
            "the kubeconfig in cluster-info names {} clusters; exactly one is expected",
            config.clusters.len()
        ));
    };
    let ca_data = cluster
        .cluster
        .certificate_authority_data
        .as_deref()
        .ok_or("the kubeconfig in cluster-info has no certificate-authority-data")?;
    Ok(ClusterInfo {
        server: cluster.cluster.server.clone(),
        ca_pem: unbase64(ca_data)
            .map_err(|e| format!("the CA in cluster-info is not base64: {e}"))?,
    })
}

/// The CA must be one PEM certificate and nothing after it.
fn single_certificate(pem: &[u8]) -> Result<X509, String> {
    let certificates = X509::stack_from_pem(pem)
        .map_err(|e| format!("the CA in cluster-info is not a PEM certificate: {e}"))?;
    let [ca] = certificates.as_slice() else {
        return Err(format!(
            "the CA in cluster-info holds {} certificates; exactly one is expected",
            certificates.len()
        ));
    };
    let text = String::from_utf8_lossy(pem);
    let after = text
        .rsplit_once("-----END CERTIFICATE-----")
        .map_or("", |(_, rest)| rest);
    if !after.trim().is_empty() {
        return Err("the CA in cluster-info has data after its certificate".into());
    }
    Ok(ca.clone())
}

#[cfg(test)]
mod tests {
    #[test]
    fn without_a_pin_nothing_is_fetched_unless_skipping_verification_was_asked_for() {
        let request = TokenDiscovery {
            // Nothing listens there: an attempt to fetch would fail differently.
            endpoint: "127.0.0.1:1",
            token: "abcdef.0123456789abcdef",
            ca_cert_hashes: &[],
            unsafe_skip_ca_verification: false,
            timeout: Duration::from_millis(10),
            interval: Duration::from_millis(5),
        };
        let mut lines = Vec::new();
        let error = super::discover(&request, &mut |l| lines.push(l.to_string())).unwrap_err();
        assert!(error.contains("would not be pinned"), "{error}");
        assert!(lines.is_empty(), "{lines:?}");
    }

    use super::*;

    #[test]
    fn endpoints_split_into_host_and_port() {
        assert_eq!(
            split_endpoint("10.0.0.1:6443").unwrap(),
            ("10.0.0.1".into(), 6443)
        );
        assert_eq!(
            split_endpoint("[fd00::1]:6443").unwrap(),
            ("fd00::1".into(), 6443)
        );
        assert!(split_endpoint("10.0.0.1").is_err());
        assert!(split_endpoint(":6443").is_err());
    }

    fn ca_pem() -> Vec<u8> {
        let key = openssl::pkey::PKey::from_ec_key(
            openssl::ec::EcKey::generate(
                &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                    .unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "kubernetes").unwrap();
        let name = name.build();
        let mut builder = openssl::x509::X509::builder().unwrap();
        builder.set_subject_name(&name).unwrap();
        builder.set_issuer_name(&name).unwrap();
        builder.set_pubkey(&key).unwrap();
        builder
            .set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        builder
            .set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        builder
            .sign(&key, openssl::hash::MessageDigest::sha256())
            .unwrap();
        builder.build().to_pem().unwrap()
    }

    #[test]
    fn the_ca_must_be_one_certificate_and_nothing_more() {
        let pem = ca_pem();
        assert!(single_certificate(&pem).is_ok());
        let two = [pem.clone(), pem.clone()].concat();
        assert!(single_certificate(&two)
            .unwrap_err()
            .contains("holds 2 certificates"));
        let trailing = [pem, b"junk\n".to_vec()].concat();
        assert!(single_certificate(&trailing)
            .unwrap_err()
            .contains("data after its certificate"));
    }

    #[test]
    fn cluster_info_needs_exactly_one_cluster_with_its_ca() {
        let ca = crate::domain::kubeconfig::base64(&ca_pem());
        let one = format!("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: https://10.0.0.1:6443\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\npreferences: {{}}\nusers: null\n");
        let info = parse_cluster_info(&one).unwrap();
        assert_eq!(info.server, "https://10.0.0.1:6443");
        assert_eq!(
            info.ca_pem,
            crate::domain::kubeconfig::unbase64(&ca).unwrap()
        );
        let none = "apiVersion: v1\nkind: Config\nclusters: null\n";
        assert!(parse_cluster_info(none)
            .unwrap_err()
            .contains("names 0 clusters"));
    }

    #[test]
    fn the_invalid_token_message_says_what_to_do() {
        assert_eq!(
            invalid_token("abcdef"),
            "token abcdef is not valid or has expired; create one on a control-plane node with `kinit token create --print-join-command`"
        );
    }
}
