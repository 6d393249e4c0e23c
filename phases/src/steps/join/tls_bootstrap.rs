//! The wait for the kubelet's TLS bootstrap (reference §9.3): the kubelet posts a CSR with the
//! bootstrap token, the controller manager approves and signs it, and the kubelet writes
//! `kubelet.conf` with its own client certificate. Done when that file gives credentials the
//! cluster CA vouches for; on timeout, the CSRs tell which step stopped.

use std::time::{Duration, Instant};

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::api::{Api, ListParams};
use openssl::x509::X509;

use super::{JoinedCluster, KUBELET_KUBECONFIG};
use crate::domain::kubeconfig::{unbase64, Kubeconfig};
use crate::domain::pki::{cert, keys};
use crate::exec::api;
use crate::exec::effects::Effects;
use crate::workflow::{failed, JoinData, NodeData, PhaseContext, PhaseError};

/// kubeadm looks every second; reading one small file is cheap enough to look five times as
/// often, so a node is not kept waiting for up to a second after its kubelet is done.
const POLL: Duration = Duration::from_millis(200);
/// How often a line says the wait goes on.
const REPORT_EVERY: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
const DIAGNOSIS_CALL_LIMIT: Duration = Duration::from_secs(10);

/// Why `kubelet.conf` does not (yet) hold working credentials for `node`.
pub fn problem(effects: &dyn Effects, ca: &X509, node: &str) -> Option<String> {
    let text = match effects.read_file(KUBELET_KUBECONFIG) {
        Ok(Some(text)) => text,
        Ok(None) => return Some(format!("{KUBELET_KUBECONFIG} has not been written yet")),
        Err(e) => return Some(e),
    };
    let config = match Kubeconfig::parse(&String::from_utf8_lossy(&text), KUBELET_KUBECONFIG) {
        Ok(config) => config,
        Err(e) => return Some(e),
    };
    let Some((_, user)) = config.current() else {
        return Some(format!("{KUBELET_KUBECONFIG} has no current context"));
    };
    let read =
        |data: &Option<String>, file: &Option<String>, what: &str| -> Result<Vec<u8>, String> {
            match (data, file) {
                (Some(data), _) => unbase64(data),
                (None, Some(path)) => effects
                    .read_file(path)?
                    .ok_or_else(|| format!("the kubelet's client {what} {path} does not exist")),
                (None, None) => Err(format!("{KUBELET_KUBECONFIG} names no client {what}")),
            }
        };
    let check = || -> Result<(), String> {
        let cert_pem = read(
            &user.client_certificate_data,
            &user.client_certificate,
            "certificate",
        )?;
        let key_pem = read(&user.client_key_data, &user.client_key, "key")?;
        let client = cert::parse_pem(&cert_pem, "the kubelet's client certificate")?;
        let key = keys::parse_private_key(&key_pem, "the kubelet's client key")?;
        if !cert::key_matches(&client, &key) {
            return Err("the kubelet's client key does not match its certificate".into());
        }
        if !cert::signed_by(&client, ca) {
            return Err("the kubelet's client certificate is not signed by the cluster CA".into());
        }
        if cert::not_after_unix(&client) <= cert::now_unix() {
            return Err("the kubelet's client certificate has expired".into());
        }
        let expected = format!("system:node:{node}");
        if cert::common_name(&client) != expected {
            return Err(format!(
                "the kubelet's client certificate is for {:?}, not {expected:?}",
                cert::common_name(&client)
            ));
        }
        Ok(())
    };
    check().err()
}

/// Waits within `timeouts.tlsBootstrap` for working kubelet credentials.
pub fn wait(
    ctx: &mut PhaseContext<'_, JoinData>,
    cluster: &JoinedCluster,
) -> Result<(), PhaseError> {
    let limit = ctx
        .data
        .config()
        .init
        .timeouts
        .as_ref()
        .and_then(|t| t.tls_bootstrap)
        .map_or(DEFAULT_TIMEOUT, |d| d.0);
    let node = ctx.data.config().init.node_registration.name.clone();
    let ca = cert::parse_pem(&cluster.info.ca_pem, "the cluster CA").map_err(failed)?;
    ctx.sink.line(&format!(
        "[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap. This can take up to {}",
        crate::domain::config::duration::format(limit)
    ));
    let start = Instant::now();
    let mut reported = start;
    loop {
        let Some(why) = problem(ctx.effects, &ca, &node) else {
            return Ok(());
        };
        if start.elapsed() >= limit {
            return Err(PhaseError::TimedOut(diagnose(cluster, &node, &why, limit)));
        }
        if reported.elapsed() >= REPORT_EVERY {
            reported = Instant::now();
            ctx.sink.line(&format!(
                "[kubelet-start] Still waiting for the TLS Bootstrap ({}s): {why}",
                start.elapsed().as_secs()
            ));
        }
        std::thread::sleep(POLL.min(limit.saturating_sub(start.elapsed())));
    }
}

/// Which step of the bootstrap stopped, from the CSRs the token posted.
fn diagnose(cluster: &JoinedCluster, node: &str, why: &str, limit: Duration) -> String {
    let token_id = cluster
        .tls_bootstrap_token
        .split('.')
        .next()
        .unwrap_or_default();
    let user = format!("system:bootstrap:{token_id}");
    let head = format!(
        "the kubelet did not complete its TLS bootstrap within {} (timeouts.tlsBootstrap): {why}",
        crate::domain::config::duration::format(limit)
    );
    let listed = cluster.session().and_then(|session| {
        let csrs: Api<CertificateSigningRequest> = Api::all(session.client());
        // The diagnosis adds to a wait that already ran out: it gets little time of its own.
        let call_limit = cluster.call_limit.min(DIAGNOSIS_CALL_LIMIT);
        let every = ListParams::default();
        session
            .block_on(api::call(
                call_limit,
                "list CertificateSigningRequests",
                || csrs.list(&every),
            ))
            .map_err(String::from)
    });
    let csrs = match listed {
        Ok(list) => list.items,
        Err(e) => return format!("{head}\n  the CSRs could not be read to tell more: {e}"),
    };
    // The token may be shared by many joining nodes: this node's CSR asks for its own name.
    let subject = format!("system:node:{node}");
    let ours: Vec<&CertificateSigningRequest> = csrs
        .iter()
        .filter(|csr| csr.spec.username.as_deref() == Some(user.as_str()))
        .filter(|csr| requested_name(csr).as_deref() == Some(subject.as_str()))
        .collect();
    let step = match ours.last() {
        None => format!(
            "no certificate signing request from {user} for {subject} exists: the kubelet never asked. Is it running (`systemctl status kubelet`, `journalctl -u kubelet`), started with --bootstrap-kubeconfig={}?",
            super::BOOTSTRAP_KUBECONFIG
        ),
        Some(csr) => {
            let name = csr.metadata.name.clone().unwrap_or_default();
            let status = csr.status.as_ref();
            let approved = status
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Approved" && c.status == "True"));
            let issued = status.and_then(|s| s.certificate.as_ref()).is_some();
            match (approved, issued) {
                (false, _) => format!("CSR {name} is still pending: the controller manager approves node client CSRs (the kubeadm:node-autoapprove-bootstrap binding); is kube-controller-manager running? `kubectl certificate approve {name}` approves it by hand"),
                (true, false) => format!("CSR {name} is approved but not signed: the controller manager's signer needs --cluster-signing-cert-file and --cluster-signing-key-file; is kube-controller-manager running?"),
                (true, true) => format!("CSR {name} was signed, but the kubelet has not written working credentials to {KUBELET_KUBECONFIG}: see `journalctl -u kubelet`"),
            }
        }
    };
    format!("{head}\n  {step}")
}

/// The common name a CSR asks for.
fn requested_name(csr: &CertificateSigningRequest) -> Option<String> {
    let request = openssl::x509::X509Req::from_pem(&csr.spec.request.0).ok()?;
    let name = request
        .subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()?;
    String::from_utf8(name.data().as_slice().to_vec()).ok()
}
