//! `kinit join phase etcd-join`: a joining control-plane node adds its etcd member to the cluster's
//! etcd and writes its etcd manifest to start into that cluster, then waits for the member to join.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use crate::domain::manifests::flags::{etcd_client_url, etcd_peer_url, EtcdPeer};
use crate::exec::api::Session;
use crate::exec::etcd_client::{EtcdClient, Member, RETRY_INTERVAL};
use crate::workflow::{failed, JoinData, NodeData, PhaseContext, PhaseError};

/// Where each etcd static Pod publishes its client URL, as kubeadm writes it.
pub const CLIENT_URLS_ANNOTATION: &str = "kubeadm.kubernetes.io/etcd.advertise-client-urls";
/// How kubeadm finds the etcd Pods.
pub const ETCD_POD_LABELS: &str = "component=etcd,tier=control-plane";

/// The phase: a no-op for a worker and with external etcd.
pub fn run(ctx: &mut PhaseContext<'_, JoinData>) -> Result<Vec<String>, PhaseError> {
    let join = &ctx.data.target;
    if !join.facts.control_plane {
        ctx.sink
            .line("[etcd] Skipping etcd-join: this node joins as a worker and runs no etcd");
        return Ok(Vec::new());
    }
    if crate::domain::manifests::local_etcd(ctx.data.config()).is_none() {
        ctx.sink
            .line("[etcd] External etcd mode: Skipping the addition of a local etcd member");
        return Ok(Vec::new());
    }
    let api_server = join.facts.api_server_endpoint.clone();
    let (endpoints, mut warnings) = cluster_endpoints(ctx, &api_server)?;
    warnings.extend(join_cluster(ctx, endpoints)?);
    Ok(warnings)
}

/// The client URLs of the cluster's etcd members as kubeadm finds them: the annotation of every
/// etcd Pod in kube-system; without any, the etcd on the API server's host. A dry run reads them
/// without the run's API session, which would write the admin binding.
fn cluster_endpoints(
    ctx: &mut PhaseContext<'_, JoinData>,
    api_server: &str,
) -> Result<(Vec<String>, Vec<String>), PhaseError> {
    let (urls, warnings) = crate::workflow::cluster::read_or_warn(ctx, list_client_urls, |e| {
        format!("the etcd Pods could not be listed in the dry run ({e})")
    })?;
    let urls = urls.unwrap_or_default();
    if !urls.is_empty() {
        return Ok((urls, warnings));
    }
    let fallback = super::client_url_of_host(api_server);
    ctx.sink.line(&format!(
        "[etcd] No etcd Pod in kube-system names its client URL ({CLIENT_URLS_ANNOTATION}); using {fallback}, the etcd on the API server's host"
    ));
    Ok((vec![fallback], warnings))
}

fn list_client_urls(session: &Session) -> Result<Vec<String>, String> {
    let pods: Api<Pod> = Api::namespaced(session.client(), "kube-system");
    let params = ListParams::default().labels(ETCD_POD_LABELS);
    let list = session
        .call("list the etcd Pods in kube-system", || pods.list(&params))
        .map_err(String::from)?;
    Ok(client_urls(&list.items))
}

/// The client URLs the etcd Pods announce, in Pod order, each once.
pub fn client_urls(pods: &[Pod]) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for pod in pods {
        let annotation = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(CLIENT_URLS_ANNOTATION));
        for url in annotation.into_iter().flat_map(|a| a.split(',')) {
            let url = url.trim().to_string();
            if !url.is_empty() && !urls.contains(&url) {
                urls.push(url);
            }
        }
    }
    urls
}

/// Adds this node's member (once) through `endpoints`, writes its etcd manifest, promotes the
/// member and waits for the cluster to be available. The work of the phase after finding the
/// endpoints.
///
/// The member is added as a learner, promoted once it has caught up, as kubeadm does since its
/// EtcdLearnerMode gate (a gate no more in 1.34): a voting member that never starts would cost a
/// two-member cluster its quorum, and a learner costs none.
pub fn join_cluster(
    ctx: &mut PhaseContext<'_, JoinData>,
    endpoints: Vec<String>,
) -> Result<Vec<String>, PhaseError> {
    let config = ctx.data.config();
    let node = config.init.node_registration.name.clone();
    let peer_url = etcd_peer_url(config);
    let limit = crate::workflow::etcd::call_limit(ctx, config.init.timeouts.as_ref());
    // A dry run shows the rest of the join without the members when etcd does not answer.
    let crate::workflow::etcd::Listed {
        members,
        client,
        mut warnings,
    } = crate::workflow::etcd::read(ctx, endpoints, &config.cluster.certificates_dir, limit)?;
    let ours = |m: &Member| m.peer_urls.contains(&peer_url);
    if let Some(other) = members.iter().find(|m| m.name == node && !ours(m)) {
        return Err(failed(format!(
            "the etcd cluster already has a member named {node} (ID {}) with peer URL {}, not this node's {peer_url}: remove it first (`kinit reset` on that node, or `etcdctl member remove {}`)",
            other.hex_id(),
            other.peer_urls.join(","),
            other.hex_id()
        )));
    }
    let members = match members.iter().find(|m| ours(m)) {
        Some(existing) => {
            // A re-run: the member is there, started or (without a name) added and not yet started.
            let state = match (existing.is_started(), existing.is_learner) {
                (true, false) => "started",
                (true, true) => "started, a learner",
                (false, false) => "added, not started yet",
                (false, true) => "added as a learner, not started yet",
            };
            ctx.sink.line(&format!(
                "[etcd] This node's etcd member {peer_url} is already in the etcd cluster (ID {}, {state}); not adding it again",
                existing.hex_id()
            ));
            members
        }
        None => crate::workflow::etcd::add_learner(ctx, client.as_ref(), members, &peer_url)?,
    };
    let peers = initial_cluster(&members, &node, &peer_url);
    tracing::debug!("etcd members after the join: {peers:?}");
    ctx.sink
        .line("[etcd] Creating static Pod manifest for \"etcd\"");
    warnings.extend(crate::steps::manifests::write_joining_etcd(ctx, peers)?);
    // The dry run's effects hold what would be written: the manifest to review.
    ctx.dry_run_note(|ctx| {
        let path = crate::domain::manifests::Component::Etcd.manifest_path();
        let text = ctx.effects.read_file(&path).map_err(failed)?;
        Ok(text
            .map(|text| {
                format!(
                    "[dryrun] The etcd manifest {path} would be:\n{}",
                    String::from_utf8_lossy(&text).trim_end()
                )
            })
            .into_iter()
            .collect())
    })?;
    crate::workflow::etcd::join(ctx, client, |ctx, client| {
        // The kubelet must see the manifest to start the member waited for below; the runner would
        // only put it in place at the end of the phase.
        ctx.effects.commit().map_err(failed)?;
        if let Some(learner) = members.iter().find(|m| ours(m) && m.is_learner) {
            match client.member_promote(learner.id) {
                Ok(_) => {}
                // Promoted by an earlier run that stopped before it could say so.
                Err(e) if e.is_not_a_learner() => {}
                Err(e) => {
                    let text = format!(
                            "the new etcd member {node} (learner {}) could not be given its vote: {e}\n{HINT}",
                            learner.hex_id()
                        );
                    return Err(if e.is_retryable() {
                        PhaseError::TimedOut(text)
                    } else {
                        PhaseError::Failed(text)
                    });
                }
            }
        }
        // kubeadm's wording: it polls 8 times 5 s; kinit polls until `timeouts.etcdAPICall`.
        ctx.sink.line(
            "[etcd] Waiting for the new etcd member to join the cluster. This can take up to 40s",
        );
        // Every member as etcd lists it (as kubeadm's client syncs its endpoints to the members), not
        // the URLs it was found through: a stale annotation must not hold the join up.
        let mut all: Vec<String> = members
            .iter()
            .filter(|m| !ours(m))
            .filter_map(|m| m.client_urls.first().cloned())
            .collect();
        all.push(etcd_client_url(config));
        wait_for_members(&client, &all, limit).map_err(PhaseError::TimedOut)
    })?;
    Ok(warnings)
}

/// Where to look when the new member does not come up.
const HINT: &str = "The new member's etcd runs as a static Pod from /etc/kubernetes/manifests/etcd.yaml: \
     check that the kubelet runs, then `crictl ps -a --name etcd` and `crictl logs <container>`. \
     A member that cannot reach the others on port 2380 (firewall, wrong advertise address) never joins.";

/// `--initial-cluster` as kubeadm's AddMember returns it: etcd's members in etcd's order, the
/// new one under this node's name, any other member without a name yet under its hex ID.
pub fn initial_cluster(members: &[Member], node: &str, peer_url: &str) -> Vec<EtcdPeer> {
    members
        .iter()
        .filter_map(|m| {
            let url = m.peer_urls.first()?;
            let name = if url == peer_url {
                node.to_string()
            } else if m.name.is_empty() {
                m.hex_id()
            } else {
                m.name.clone()
            };
            Some(EtcdPeer {
                name,
                peer_url: url.clone(),
            })
        })
        .collect()
}

/// Waits until every endpoint answers for its member (kubeadm's WaitForClusterAvailable); the
/// error is a diagnosis naming what each endpoint said last.
pub fn wait_for_members(
    client: &EtcdClient,
    endpoints: &[String],
    limit: Duration,
) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let failures: Vec<String> = endpoints
            .iter()
            .filter_map(|endpoint| match client.status(endpoint) {
                Ok(status) if status.errors.is_empty() => None,
                Ok(status) => Some(format!("{endpoint} reports: {}", status.errors.join("; "))),
                Err(e) => Some(e.to_string()),
            })
            .collect();
        if failures.is_empty() {
            return Ok(());
        }
        if started.elapsed() + RETRY_INTERVAL >= limit {
            return Err(format!(
                "the etcd cluster was not available within {:?} (timeouts.etcdAPICall):\n  {}\n{HINT}",
                limit,
                failures.join("\n  ")
            ));
        }
        std::thread::sleep(RETRY_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, name: &str, peer: &str) -> Member {
        Member {
            id,
            name: name.into(),
            peer_urls: vec![peer.into()],
            client_urls: Vec::new(),
            is_learner: false,
        }
    }

    #[test]
    fn client_urls_come_from_the_etcd_pods_annotations() {
        let pod = |annotation: Option<&str>| -> Pod {
            let mut pod = Pod::default();
            pod.metadata.annotations = annotation.map(|a| {
                std::collections::BTreeMap::from([(
                    CLIENT_URLS_ANNOTATION.to_string(),
                    a.to_string(),
                )])
            });
            pod
        };
        let pods = [
            pod(Some("https://10.0.0.1:2379")),
            pod(None),
            pod(Some("https://10.0.0.2:2379, https://10.0.0.1:2379")),
        ];
        assert_eq!(
            client_urls(&pods),
            ["https://10.0.0.1:2379", "https://10.0.0.2:2379"]
        );
        assert!(client_urls(&[pod(None)]).is_empty());
    }

    #[test]
    fn initial_cluster_names_the_new_member_after_the_node_and_keeps_etcds_order() {
        let members = [
            member(0x10, "", "https://10.0.0.3:2380"),
            member(0x20, "cp1", "https://10.0.0.1:2380"),
            member(0x30, "", "https://10.0.0.2:2380"),
        ];
        let peers = initial_cluster(&members, "cp2", "https://10.0.0.2:2380");
        let text: Vec<String> = peers
            .iter()
            .map(|p| format!("{}={}", p.name, p.peer_url))
            .collect();
        assert_eq!(
            text,
            [
                "10=https://10.0.0.3:2380",
                "cp1=https://10.0.0.1:2380",
                "cp2=https://10.0.0.2:2380"
            ]
        );
    }
}
