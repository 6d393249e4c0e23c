//! The run's etcd executor. Reads are made in a dry run too (asking briefly, and going on with a
//! warning when etcd does not answer); changes to the membership and the waits for it are made
//! only in a real run, and a dry run says and plans them instead.

use std::time::Duration;

use crate::domain::config::types::Timeouts;
use crate::exec::effects::Change;
use crate::exec::effects::Effects;
use crate::exec::etcd_client::{Credentials, EtcdClient, EtcdError, Member};
use crate::workflow::{failed, PhaseContext, PhaseError};

/// kubeadm's default `timeouts.etcdAPICall`.
pub const DEFAULT_CALL_LIMIT: Duration = Duration::from_secs(120);

/// How long a dry run asks etcd before it goes on without the answer: it only reads, and kubeadm's
/// dry run does not ask at all.
pub const DRY_RUN_CALL_LIMIT: Duration = Duration::from_secs(5);

/// The time every etcd call of this run may take with its retries.
pub fn call_limit<D>(ctx: &PhaseContext<'_, D>, timeouts: Option<&Timeouts>) -> Duration {
    let limit = timeouts
        .and_then(|t| t.etcd_api_call)
        .map_or(DEFAULT_CALL_LIMIT, |d| d.0);
    if ctx.dry_run {
        limit.min(DRY_RUN_CALL_LIMIT)
    } else {
        limit
    }
}

/// The files kubeadm talks to etcd with: the API server's etcd client certificate, trusting the
/// etcd CA, all from the certificates folder. Read through the effects layer, so that a dry run
/// sees the certificates an earlier phase would have written.
pub fn credentials(effects: &dyn Effects, cert_dir: &str) -> Result<Credentials, String> {
    let dir = cert_dir.trim_end_matches('/');
    let read = |name: &str| -> Result<Vec<u8>, String> {
        let path = format!("{dir}/{name}");
        effects.read_file(&path)?.ok_or_else(|| {
            format!(
                "{path} does not exist: etcd is reached with the etcd CA and the API server's etcd client certificate (`kinit init phase certs etcd-ca` / `apiserver-etcd-client`, or the join's control-plane-prepare certs)"
            )
        })
    };
    let (ca, cert, key) = (
        read("etcd/ca.crt")?,
        read("apiserver-etcd-client.crt")?,
        read("apiserver-etcd-client.key")?,
    );
    Credentials::from_pem(
        &ca,
        &cert,
        &key,
        &format!("{dir}/etcd/ca.crt, {dir}/apiserver-etcd-client.crt and .key"),
    )
}

/// The members as etcd listed them, the client that read them (none when a dry run could not),
/// and the warnings of the read.
pub struct Listed {
    pub members: Vec<Member>,
    pub client: Option<EtcdClient>,
    pub warnings: Vec<String>,
}

/// The members as etcd lists them through `endpoints`. A dry run that cannot read them goes on
/// with none: the failure is printed and returned as a warning.
pub fn read<D>(
    ctx: &mut PhaseContext<'_, D>,
    endpoints: Vec<String>,
    cert_dir: &str,
    limit: Duration,
) -> Result<Listed, PhaseError> {
    let listed = credentials(&*ctx.effects, cert_dir)
        .and_then(|credentials| EtcdClient::new(endpoints, &credentials, limit))
        .and_then(|client| Ok((client.member_list()?, client)));
    match listed {
        Ok((members, client)) => Ok(Listed {
            members,
            client: Some(client),
            warnings: Vec::new(),
        }),
        Err(e) if ctx.dry_run => {
            let warning = format!("the etcd members could not be read in the dry run: {e}");
            ctx.sink.line(&format!("[dryrun] {warning}"));
            Ok(Listed {
                members: Vec::new(),
                client: None,
                warnings: vec![warning],
            })
        }
        Err(e) => Err(failed(e)),
    }
}

/// Whether etcd answers a member list through `endpoints` within `limit` (kubeadm's
/// `WaitForClusterAvailable`): the error is etcd's last answer.
pub fn available(
    effects: &dyn Effects,
    endpoints: Vec<String>,
    cert_dir: &str,
    limit: Duration,
) -> Result<(), String> {
    let credentials = credentials(effects, cert_dir)?;
    let client = EtcdClient::new(endpoints, &credentials, limit)?;
    client.member_list().map(|_| ()).map_err(|e| e.to_string())
}

/// Adds `peer_url` as a learner and returns the members after it. A dry run says so and returns
/// the members with a learner in its place, as etcd would list them.
pub fn add_learner<D>(
    ctx: &mut PhaseContext<'_, D>,
    client: Option<&EtcdClient>,
    members: Vec<Member>,
    peer_url: &str,
) -> Result<Vec<Member>, PhaseError> {
    if ctx.dry_run {
        ctx.sink
            .line(&format!("[etcd] Would add etcd member: {peer_url}"));
        ctx.effects.plan(Change::Cluster {
            what: format!("add etcd member {peer_url} as a learner"),
        });
        let mut members = members;
        members.push(Member {
            id: 0,
            name: String::new(),
            peer_urls: vec![peer_url.to_string()],
            client_urls: Vec::new(),
            is_learner: true,
        });
        return Ok(members);
    }
    let client = client.ok_or_else(|| failed("no etcd client"))?;
    let members = match client.member_add(peer_url, true) {
        Ok((_, members)) => members,
        // Added by a run that stopped before it could say so.
        Err(e) if e.is_peer_url_taken() => client.member_list().map_err(failed)?,
        Err(e) => return Err(failed(e)),
    };
    ctx.sink
        .line("[etcd] Announced new etcd member joining to the existing etcd cluster");
    Ok(members)
}

/// Runs `join` (promoting the new member and waiting for the cluster) with the client; a dry run
/// says it would wait and plans that.
pub fn join<D>(
    ctx: &mut PhaseContext<'_, D>,
    client: Option<EtcdClient>,
    promote_and_wait: impl FnOnce(&mut PhaseContext<'_, D>, EtcdClient) -> Result<(), PhaseError>,
) -> Result<(), PhaseError> {
    if ctx.dry_run {
        ctx.sink
            .line("[etcd] Would wait for the new etcd member to join the cluster");
        ctx.effects.plan(Change::Live {
            what: "wait for the new etcd member to join the cluster".into(),
        });
        return Ok(());
    }
    let client = client.ok_or_else(|| failed("no etcd client"))?;
    promote_and_wait(ctx, client)
}

/// Takes `member` (`describe`d as "cp2 (ID 1234, https://...:2380)") out of the cluster and says
/// `done`; one already gone counts as removed. A dry run says and plans it instead.
pub fn remove<D>(
    ctx: &mut PhaseContext<'_, D>,
    client: &EtcdClient,
    member: &Member,
    describe: &str,
    done: &str,
) -> Result<(), EtcdError> {
    if ctx.dry_run {
        ctx.sink.line(&format!(
            "[dryrun] Would remove the etcd member {describe} from the etcd cluster"
        ));
        ctx.effects.plan(Change::Cluster {
            what: format!("remove the etcd member {describe}"),
        });
        return Ok(());
    }
    match client.member_remove(member.id) {
        Ok(_) => {}
        // Removed by an earlier run, or by someone else meanwhile.
        Err(e) if e.is_member_not_found() => {}
        Err(e) => return Err(e),
    }
    ctx.sink.line(done);
    Ok(())
}
