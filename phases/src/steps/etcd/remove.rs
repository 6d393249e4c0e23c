//! `kinit reset phase remove-etcd-member`: on a control-plane node with local etcd, take this
//! node's member out of the etcd cluster (unless it is the last one) and empty its data folder.

use serde_json::Value;

use crate::domain::manifests::flags::{host_port, ETCD_CLIENT_PORT};
use crate::domain::manifests::MANIFESTS_DIR;
use crate::exec::etcd_client::{EtcdClient, Member};
use crate::workflow::{failed, PhaseContext, PhaseError, ResetData};

/// What the local etcd manifest says about this node's member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMember {
    pub name: String,
    pub client_urls: Vec<String>,
    pub peer_url: String,
    pub data_dir: String,
    /// The client URLs of the other members at the time this one joined (`--initial-cluster`,
    /// their peer hosts on the client port), to reach the cluster when this member does not answer.
    pub others: Vec<String>,
}

/// kubeadm's default data folder when the manifest names none.
pub use crate::domain::layout::ETCD_DATA_DIR as DEFAULT_DATA_DIR;

pub fn manifest_path() -> String {
    format!("{MANIFESTS_DIR}/etcd.yaml")
}

/// Reads this member from the etcd manifest's command.
pub fn parse_manifest(text: &str, path: &str) -> Result<LocalMember, String> {
    let documents = crate::domain::config::yaml::parse_documents(text)
        .map_err(|e| format!("{path} is not YAML (line {}: {})", e.line, e.message))?;
    let pod: Value = documents
        .into_iter()
        .next()
        .map(|d| d.value)
        .ok_or_else(|| format!("{path} is empty"))?;
    let command: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == "etcd")
        .or_else(|| pod["spec"]["containers"].get(0))
        .into_iter()
        .flat_map(|c| {
            let command = c["command"].as_array().into_iter().flatten();
            command.chain(c["args"].as_array().into_iter().flatten())
        })
        .filter_map(Value::as_str)
        .collect();
    if command.is_empty() {
        return Err(format!("{path} has no etcd container with a command"));
    }
    let flag = |name: &str| {
        let prefix = format!("--{name}=");
        command
            .iter()
            .rev()
            .find_map(|a| a.strip_prefix(&prefix))
            .map(str::to_string)
    };
    let list = |text: Option<String>| -> Vec<String> {
        text.unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let name = flag("name").unwrap_or_else(|| "default".into());
    let peer_url = list(flag("initial-advertise-peer-urls"))
        .into_iter()
        .next()
        .ok_or_else(|| format!("{path}: the etcd command has no --initial-advertise-peer-urls"))?;
    let others = list(flag("initial-cluster"))
        .iter()
        .filter_map(|entry| entry.split_once('='))
        .filter(|(_, url)| *url != peer_url)
        .filter_map(|(_, url)| client_url_of_peer(url))
        .collect();
    Ok(LocalMember {
        name,
        client_urls: list(flag("advertise-client-urls")),
        peer_url,
        data_dir: flag("data-dir").unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
        others,
    })
}

/// `https://host:2380` → `https://host:2379`: kubeadm's members serve clients on the peer's host.
fn client_url_of_peer(peer: &str) -> Option<String> {
    let rest = peer.strip_prefix("https://")?;
    let authority = rest.split('/').next()?;
    let host = crate::domain::pki::table::endpoint_host(authority);
    Some(format!("https://{}", host_port(host, ETCD_CLIENT_PORT)))
}

/// The phase.
pub fn run(ctx: &mut PhaseContext<'_, ResetData>) -> Result<Vec<String>, PhaseError> {
    let path = manifest_path();
    let Some(text) = ctx.effects.read_file(&path).map_err(failed)? else {
        ctx.sink
            .line("[reset] No etcd config found. Assuming external etcd");
        ctx.sink
            .line("[reset] Please, manually reset etcd to prevent further issues");
        return Ok(Vec::new());
    };
    let local = parse_manifest(&String::from_utf8_lossy(&text), &path).map_err(failed)?;
    let mut warnings = Vec::new();
    if let Err(warning) = remove_member(ctx, &local) {
        ctx.sink.line(&format!("[reset] WARNING: {warning}"));
        warnings.push(warning);
    }
    clean_data_dir(ctx, &local.data_dir)?;
    Ok(warnings)
}

/// Takes this member out of the cluster; the error is the warning to give, with the way to do it
/// by hand.
fn remove_member(ctx: &mut PhaseContext<'_, ResetData>, local: &LocalMember) -> Result<(), String> {
    let reset = &ctx.data.reset;
    let (cert_dir, timeouts) = (reset.certificates_dir.clone(), reset.timeouts.as_ref());
    let limit = crate::workflow::etcd::call_limit(ctx, timeouts);
    let by_hand = |why: String, id: Option<&Member>| {
        let dir = cert_dir.trim_end_matches('/');
        let id = id.map_or_else(|| format!("<ID of {}>", local.name), Member::hex_id);
        let endpoint = local
            .others
            .first()
            .cloned()
            .unwrap_or_else(|| "<a remaining member's client URL>".into());
        format!(
            "{why}\nThe etcd member {} ({}) must be removed by hand, from a remaining control-plane node: \
             etcdctl --endpoints={endpoint} --cacert={dir}/etcd/ca.crt --cert={dir}/apiserver-etcd-client.crt \
             --key={dir}/apiserver-etcd-client.key member remove {id}",
            local.name, local.peer_url
        )
    };
    let mut endpoints = local.client_urls.clone();
    for other in &local.others {
        if !endpoints.contains(other) {
            endpoints.push(other.clone());
        }
    }
    let credentials = crate::workflow::etcd::credentials(&*ctx.effects, &cert_dir)
        .map_err(|e| by_hand(format!("cannot reach etcd: {e}"), None))?;
    let client = EtcdClient::new(endpoints, &credentials, limit).map_err(|e| by_hand(e, None))?;
    let members = client
        .member_list()
        .map_err(|e| by_hand(format!("failed to remove the etcd member: {e}"), None))?;
    let Some(this) = members
        .iter()
        .find(|m| m.peer_urls.contains(&local.peer_url))
    else {
        ctx.sink.line(&format!(
            "[reset] The etcd member {} ({}) is not in the etcd cluster: nothing to remove",
            local.name, local.peer_url
        ));
        return Ok(());
    };
    if members.len() == 1 {
        ctx.sink.line(&format!(
            "[reset] The etcd member {} is the only member of the etcd cluster: it is not removed",
            local.name
        ));
        return Ok(());
    }
    let describe = format!("{} (ID {}, {})", local.name, this.hex_id(), local.peer_url);
    let done = format!(
        "[reset] Removed the etcd member {} (ID {}) from the etcd cluster",
        local.name,
        this.hex_id()
    );
    crate::workflow::etcd::remove(ctx, &client, this, &describe, &done)
        .map_err(|e| by_hand(format!("failed to remove the etcd member: {e}"), Some(this)))
}

/// Empties the data folder, keeping the folder itself, as kubeadm does.
fn clean_data_dir(ctx: &mut PhaseContext<'_, ResetData>, data_dir: &str) -> Result<(), PhaseError> {
    let dir = data_dir.trim_end_matches('/');
    // A data folder read from a hand-edited manifest must not turn into `rm -rf /`.
    if !dir.starts_with('/') {
        return Err(failed(format!(
            "{}: the etcd data folder {data_dir:?} is not an absolute path that can be emptied; empty it by hand",
            manifest_path()
        )));
    }
    let entries = match ctx.host.dir_entries(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(failed(format!("cannot list {dir}: {e}"))),
    };
    ctx.sink.line(&format!(
        "[reset] {} contents of the etcd data directory: {dir}",
        ctx.wording("Deleting the", "Would delete the")
    ));
    let mut names = entries;
    names.sort();
    for name in names {
        ctx.effects
            .remove(&format!("{dir}/{name}"))
            .map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\nspec:\n  containers:\n  - name: etcd\n    command:\n    - etcd\n    - --advertise-client-urls=https://198.51.100.11:2379\n    - --data-dir=/var/lib/etcd\n    - --initial-advertise-peer-urls=https://198.51.100.11:2380\n    - --initial-cluster=cp1=https://198.51.100.10:2380,cp2=https://198.51.100.11:2380\n    - --initial-cluster-state=existing\n    - --name=cp2\n";

    #[test]
    fn the_member_is_read_from_the_manifest() {
        let member = parse_manifest(MANIFEST, "etcd.yaml").unwrap();
        assert_eq!(
            member,
            LocalMember {
                name: "cp2".into(),
                client_urls: vec!["https://198.51.100.11:2379".into()],
                peer_url: "https://198.51.100.11:2380".into(),
                data_dir: "/var/lib/etcd".into(),
                others: vec!["https://198.51.100.10:2379".into()],
            }
        );
        assert!(parse_manifest("kind: Pod\n", "etcd.yaml")
            .unwrap_err()
            .contains("no etcd container"));
    }
}
