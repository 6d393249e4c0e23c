//! `upgrade apply phase control-plane`: each static Pod of this node rewritten for the target
//! version, as kubeadm's `StaticPodControlPlane` does: etcd first, then kube-apiserver,
//! kube-controller-manager and kube-scheduler; the old manifest backed up; the kubelet's restart
//! awaited through the mirror Pod's `kubernetes.io/config.hash`; every manifest replaced so far put
//! back when a component does not come up.

use std::time::{Duration, Instant};

use crate::domain::config::duration;
use crate::domain::layout::{self, TMP_DIR};
use crate::domain::manifests::{self, Component, MANIFEST_MODE};
use crate::domain::pki::cert::Validity;
use crate::domain::pki::keys::KeyAlgorithm;
use crate::steps::manifests::render;
use crate::steps::renew_certs::{managed, renew, Dirs};
use crate::workflow::{cluster, etcd};
use crate::workflow::{failed, NodeData, PhaseContext, PhaseError, UpgradeData};

use super::mirror_pods::{
    likely_cause, mirror_hash, wait_hash_back, wait_restarted, wait_runs_manifest, CONFIG_HASH,
};

/// Where this node's own etcd member answers its clients.
const LOCAL_ETCD: &str = "https://127.0.0.1:2379";
const BACKUP_DIR_MODE: u32 = 0o700;

/// The certificates each component is restarted with, renewed before its manifest is replaced.
fn certificates_of(component: Component, local_etcd: bool) -> Vec<&'static str> {
    match component {
        Component::Etcd => vec!["etcd-server", "etcd-peer", "etcd-healthcheck-client"],
        Component::ApiServer => {
            let mut list = vec![
                "apiserver",
                "apiserver-kubelet-client",
                "front-proxy-client",
            ];
            if local_etcd {
                list.push("apiserver-etcd-client");
            }
            list
        }
        Component::ControllerManager => vec![layout::CONTROLLER_MANAGER_CONF_FILE],
        Component::Scheduler => vec![layout::SCHEDULER_CONF_FILE],
    }
}

/// Whether two manifests describe the same Pod, whatever their formatting.
fn same_pod(a: &str, b: &str) -> bool {
    let parse = |text: &str| crate::domain::config::yaml::parse_documents(text).ok();
    match (parse(a), parse(b)) {
        (Some(a), Some(b)) => {
            a.iter().map(|d| &d.value).collect::<Vec<_>>()
                == b.iter().map(|d| &d.value).collect::<Vec<_>>()
        }
        _ => a == b,
    }
}

/// Where this run keeps what it replaces.
struct Backups {
    manifests: String,
    etcd: String,
}

fn backups() -> Backups {
    let stamp = chrono_stamp();
    Backups {
        manifests: format!("{TMP_DIR}/kubeadm-backup-manifests-{stamp}"),
        etcd: format!("{TMP_DIR}/kubeadm-backup-etcd-{stamp}"),
    }
}

/// Local time as kubeadm stamps its backup folders (Go's `2006-01-02-15-04-05`).
fn chrono_stamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut tm: libc_tm::Tm = libc_tm::Tm::default();
    libc_tm::localtime(now, &mut tm);
    format!(
        "{:04}-{:02}-{:02}-{:02}-{:02}-{:02}",
        tm.year, tm.month, tm.day, tm.hour, tm.minute, tm.second
    )
}

mod libc_tm {
    /// A broken-down local time.
    #[derive(Default)]
    pub struct Tm {
        pub year: i32,
        pub month: u32,
        pub day: u32,
        pub hour: u32,
        pub minute: u32,
        pub second: u32,
    }

    /// The local time of `seconds` since the epoch, through the C library's time zone rules.
    pub fn localtime(seconds: i64, out: &mut Tm) {
        let time = seconds as nix::libc::time_t;
        // SAFETY: localtime_r writes only into the tm we own.
        let mut tm: nix::libc::tm = unsafe { std::mem::zeroed() };
        let ok = unsafe { !nix::libc::localtime_r(&time, &mut tm).is_null() };
        if ok {
            *out = Tm {
                year: tm.tm_year + 1900,
                month: (tm.tm_mon + 1) as u32,
                day: tm.tm_mday as u32,
                hour: tm.tm_hour as u32,
                minute: tm.tm_min as u32,
                second: tm.tm_sec as u32,
            };
        }
    }
}

/// Renews the certificates `names` with the CA on disk, as `certs renew` does.
fn renew_certificates(
    ctx: &mut PhaseContext<'_, UpgradeData>,
    names: &[&str],
) -> Result<(), String> {
    let config = ctx.data.config().clone();
    let dirs = Dirs {
        cert_dir: config.cluster.certificates_dir.clone(),
        kubeconfig_dir: layout::KUBERNETES_DIR.into(),
    };
    let selected: Vec<_> = managed(&config)?
        .into_iter()
        .filter(|m| names.contains(&m.name.as_str()))
        .collect();
    // An external CA (ca.crt without ca.key) signs nothing here, as kubeadm says.
    let ca_key = format!("{}/ca.key", dirs.cert_dir);
    if ctx.effects.read_file(&ca_key)?.is_none() {
        for name in names {
            ctx.sink.line(&format!(
                "[upgrade/staticpods] External CA detected, {name} certificate can't be renewed"
            ));
        }
        return Ok(());
    }
    for item in &selected {
        ctx.sink.line(&format!(
            "[upgrade/staticpods] Renewing {} certificate",
            item.name
        ));
    }
    let validity = Validity::from_now(
        config
            .cluster
            .certificate_validity_period
            .as_ref()
            .map_or(Duration::from_secs(8760 * 3600), |d| d.0),
    );
    let algorithm = KeyAlgorithm::parse(&config.cluster.encryption_algorithm)?;
    let renewals = renew::plan(ctx.effects, &dirs, &selected, validity, algorithm)
        .map_err(|e| e.join("; "))?;
    renew::apply(ctx.effects, &renewals)?;
    ctx.effects.commit()
}

/// What one component's step did, as the phase's report names it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// Its manifest was already the new one, and the kubelet ran it.
    Unchanged,
    /// Its manifest was already the new one (an earlier run, stopped, wrote it), and this run
    /// waited for the kubelet to run it.
    Finished,
    /// Its manifest was the new one, but it was restarted for its renewed certificates.
    Restarted,
    Upgraded,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Unchanged => "unchanged",
            Step::Finished => "finished",
            Step::Restarted => "restarted",
            Step::Upgraded => "upgraded",
        }
    }
}

/// One component: renew, back up, replace, wait.
fn upgrade_component(
    ctx: &mut PhaseContext<'_, UpgradeData>,
    component: Component,
    new: &str,
    before_hash: Option<&str>,
    backups: &Backups,
    api_server_changes: bool,
) -> Result<Step, String> {
    let name = component.name();
    let path = component.manifest_path();
    ctx.sink.line(&format!(
        "[upgrade/staticpods] Preparing for {name:?} upgrade"
    ));
    let current = ctx
        .effects
        .read_file(&path)?
        .ok_or_else(|| format!("{path} does not exist: is {name} run by this node's kubelet?"))?;
    let current = String::from_utf8_lossy(&current).into_owned();
    let equal = same_pod(&current, new);
    if equal && !api_server_changes {
        ctx.sink.line(&format!(
            "[upgrade/staticpods] Current and new manifests of {name} are equal, skipping upgrade"
        ));
        return Ok(if settled(ctx, component, new)? {
            Step::Finished
        } else {
            Step::Unchanged
        });
    }
    if ctx.data.options.certificate_renewal {
        let local_etcd = manifests::local_etcd(ctx.data.config()).is_some();
        renew_certificates(ctx, &certificates_of(component, local_etcd))
            .map_err(|e| format!("failed to renew certificates for component {name:?}: {e}"))?;
    }
    let backup = format!("{}/{name}.yaml", backups.manifests);
    ctx.effects
        .write_file(&backup, current.as_bytes(), MANIFEST_MODE)?;
    ctx.sink.line(&if equal {
        format!("[upgrade/staticpods] Restarting the {name} static pod and backing up its manifest to {:?}", backups.manifests)
    } else {
        format!("[upgrade/staticpods] Moving new manifest to {path:?} and backing up old manifest to {backup:?}")
    });
    ctx.effects
        .write_file(&path, new.as_bytes(), MANIFEST_MODE)?;
    ctx.effects.commit()?;
    let timeout = ctx.data.options.manifests_timeout;
    let waited = ctx
        .live(
            |_| {
                vec![format!(
                    "wait up to {} for the kubelet to restart {name} (its mirror Pod's {CONFIG_HASH} changes, then its Pods are Running)",
                    duration::format(timeout)
                )]
            },
            |ctx| {
                ctx.sink
                    .line("[upgrade/staticpods] Waiting for the kubelet to restart the component");
                ctx.sink.line(&format!(
                    "[upgrade/staticpods] This can take up to {}",
                    duration::format(timeout)
                ));
                // An unchanged manifest (etcd restarted for its renewed certificates) keeps its
                // hash: kubeadm waits only for its Pods then.
                let before = before_hash.filter(|_| !equal);
                wait_restarted(ctx, component, before, timeout).map_err(failed)
            },
        )
        .map_err(|e| e.to_string())?;
    if waited.is_some() {
        ctx.sink.line(&format!(
            "[upgrade/staticpods] Component {name:?} upgraded successfully!"
        ));
    }
    Ok(if equal {
        Step::Restarted
    } else {
        Step::Upgraded
    })
}

/// Checks that the kubelet runs `manifest`, already on disk for `component` (see
/// [`wait_runs_manifest`]); in a dry run, says it would. Whether it had to wait.
fn settled(
    ctx: &mut PhaseContext<'_, UpgradeData>,
    component: Component,
    manifest: &str,
) -> Result<bool, String> {
    let timeout = ctx.data.options.manifests_timeout;
    ctx.live(
        |_| {
            vec![format!(
                "check that the kubelet runs the {} manifest already in {}",
                component.name(),
                component.manifest_path()
            )]
        },
        |ctx| wait_runs_manifest(ctx, component, manifest, timeout).map_err(failed),
    )
    .map(|waited| waited.unwrap_or(false))
    .map_err(|e| e.to_string())
}

/// Puts the backed-up manifests of `replaced` back; says which.
fn roll_back(
    ctx: &mut PhaseContext<'_, UpgradeData>,
    replaced: &[Component],
    backups: &Backups,
) -> String {
    let mut restored = Vec::new();
    for component in replaced {
        let backup = format!("{}/{}.yaml", backups.manifests, component.name());
        let outcome = ctx.effects.read_file(&backup).and_then(|old| {
            let old = old.ok_or_else(|| format!("{backup} is gone"))?;
            ctx.effects
                .write_file(&component.manifest_path(), &old, MANIFEST_MODE)
        });
        match outcome {
            Ok(()) => restored.push(component.name().to_string()),
            Err(e) => restored.push(format!("{} NOT restored ({e})", component.name())),
        }
    }
    let _ = ctx.effects.commit();
    if restored.is_empty() {
        "no manifest had been replaced".into()
    } else {
        format!(
            "the old manifests of {} were put back from {}",
            restored.join(", "),
            backups.manifests
        )
    }
}

/// One component's line in the phase's `-o json` report: `upgraded`, `restarted` (an unchanged
/// manifest, for renewed certificates), `unchanged`, `finished` (a manifest an earlier run wrote,
/// now seen run), `failed` or `rolled-back`, with the time its step took.
fn component_record(component: Component, outcome: &str, took: Duration) -> serde_json::Value {
    serde_json::json!({
        "component": component.name(),
        "outcome": outcome,
        "durationMs": took.as_secs_f64() * 1000.0,
    })
}

/// After a failed etcd upgrade whose old manifest is back, as kubeadm: wait for the old etcd; if
/// it does not answer (the new one may have moved its data on), put the backed-up data back and
/// wait again. Returns the error to report, saying what was restored.
fn recover_etcd(
    ctx: &mut PhaseContext<'_, UpgradeData>,
    error: &str,
    data_dir: &str,
    backups: &Backups,
    old_hash: Option<&str>,
) -> String {
    let cert_dir = ctx.data.config().cluster.certificates_dir.clone();
    let limit = ctx.data.options.manifests_timeout;
    let endpoints = vec![LOCAL_ETCD.to_string()];
    ctx.sink
        .line(&format!("[upgrade/etcd] Failed to upgrade etcd: {error}"));
    ctx.sink
        .line("[upgrade/etcd] Waiting for previous etcd to become available");
    // Asked before the kubelet has stopped the new etcd, the new one would answer for the old.
    let back = match old_hash {
        Some(hash) => wait_hash_back(ctx, Component::Etcd, hash, limit),
        None => Ok(()),
    };
    let available =
        back.and_then(|()| etcd::available(&*ctx.effects, endpoints.clone(), &cert_dir, limit));
    if let Err(e) = available {
        ctx.sink.line(&format!(
            "[upgrade/etcd] Failed to healthcheck previous etcd: {e}"
        ));
        ctx.sink.line("[upgrade/etcd] Rolling back etcd data");
        let restored = ctx
            .effects
            .remove(data_dir)
            .and_then(|_| ctx.effects.copy_dir(&backups.etcd, data_dir));
        if let Err(e) = restored {
            return format!(
                "fatal error rolling back local etcd cluster datadir: {e}, the backup of etcd database is stored here:({})",
                backups.etcd
            );
        }
        ctx.sink
            .line("[upgrade/etcd] Etcd data rollback successful");
        ctx.sink
            .line("[upgrade/etcd] Waiting for previous etcd to become available");
        if let Err(e) = etcd::available(&*ctx.effects, endpoints, &cert_dir, limit) {
            return format!(
                "fatal error rolling back local etcd cluster manifest: {e}, the backup of etcd database is stored here:({})",
                backups.etcd
            );
        }
    }
    ctx.sink
        .line("[upgrade/etcd] Etcd was rolled back and is now available");
    format!("fatal error when trying to upgrade the etcd cluster, rolled the state back to pre-upgrade state: {error}")
}

pub fn run(ctx: &mut PhaseContext<'_, UpgradeData>) -> Result<Vec<String>, PhaseError> {
    if !ctx.data.control_plane {
        ctx.sink
            .line("[upgrade/control-plane] Skipping phase. Not a control plane node.");
        return Ok(Vec::new());
    }
    let version = ctx.data.config.version.text.clone();
    let timeout = ctx.data.options.manifests_timeout;
    let doing = format!("[upgrade/control-plane] Upgrading your static Pod-hosted control plane to version {version:?} (timeout: {})...", duration::format(timeout));
    let would = format!(
        "[dryrun] Would upgrade your static Pod-hosted control plane to version {version:?}"
    );
    let line = ctx.wording(&doing, &would).to_string();
    ctx.sink.line(&line);
    let local_etcd = manifests::local_etcd(ctx.data.config()).map(|l| l.data_dir.clone());
    let upgrade_etcd = local_etcd.is_some() && ctx.data.options.etcd_upgrade;
    let mut components = Vec::new();
    if upgrade_etcd {
        components.push(Component::Etcd);
    }
    components.extend([
        Component::ApiServer,
        Component::ControllerManager,
        Component::Scheduler,
    ]);
    let mut rendered = Vec::new();
    for component in &components {
        rendered.push((*component, render(ctx, *component, None)?));
    }
    // A run at the version this node already runs (a re-run after an upgrade) changes nothing:
    // no backup, no renewal, no restart (kubeadm backs up and renews admin.conf each time).
    let mut unchanged = true;
    for (component, new) in &rendered {
        let current = ctx
            .effects
            .read_file(&component.manifest_path())
            .map_err(failed)?;
        unchanged &= current.is_some_and(|c| same_pod(&String::from_utf8_lossy(&c), new));
    }
    if unchanged {
        let mut report = Vec::new();
        for (component, new) in &rendered {
            let started = Instant::now();
            let waited = settled(ctx, *component, new)
                .map_err(|e| failed(format!("couldn't complete the static pod upgrade: {e}")))?;
            let step = if waited {
                Step::Finished
            } else {
                Step::Unchanged
            };
            report.push(component_record(*component, step.name(), started.elapsed()));
        }
        ctx.report = Some(serde_json::json!({ "components": report }));
        ctx.sink.line(&format!(
            "[upgrade/control-plane] The control plane of this node already runs version {version:?}: nothing to upgrade"
        ));
        return Ok(Vec::new());
    }
    let node = ctx.data.node.name.clone();
    // The hashes the kubelet runs now, before anything changes.
    let hashes = ctx.live(
        |_| {
            vec![format!(
                "read the mirror Pods' {CONFIG_HASH} of {node}'s control-plane components"
            )]
        },
        |ctx| {
            let session = cluster::session(ctx)?;
            components
                .iter()
                .map(|c| {
                    mirror_hash(session, c.name(), &node, session.call_limit()).map_err(|e| {
                        failed(format!(
                            "failed to obtain static Pod hash for component {} on Node {node}: {e}",
                            c.name()
                        ))
                    })
                })
                .collect::<Result<Vec<String>, PhaseError>>()
        },
    )?;
    let backups = backups();
    ctx.effects
        .ensure_dir(TMP_DIR, BACKUP_DIR_MODE)
        .map_err(failed)?;
    ctx.effects
        .ensure_dir(&backups.manifests, BACKUP_DIR_MODE)
        .map_err(failed)?;
    let current_api_server = ctx
        .effects
        .read_file(&Component::ApiServer.manifest_path())
        .map_err(failed)?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let new_api_server = rendered
        .iter()
        .find(|(c, _)| *c == Component::ApiServer)
        .map(|(_, t)| t.clone())
        .unwrap_or_default();
    let api_server_changes = !same_pod(&current_api_server, &new_api_server);
    let mut replaced = Vec::new();
    let mut report = Vec::new();
    for (index, (component, new)) in rendered.iter().enumerate() {
        let started = Instant::now();
        if *component == Component::Etcd {
            let data_dir = local_etcd.clone().unwrap_or_default();
            ctx.effects
                .copy_dir(&data_dir, &backups.etcd)
                .map_err(|e| failed(format!("failed to back up etcd data: {e}")))?;
        }
        let before = hashes.as_ref().map(|h| h[index].as_str());
        let etcd_restart = *component == Component::Etcd && api_server_changes;
        let outcome = upgrade_component(ctx, *component, new, before, &backups, etcd_restart);
        let took = started.elapsed();
        match outcome {
            Ok(step @ (Step::Unchanged | Step::Finished)) => {
                report.push(component_record(*component, step.name(), took))
            }
            Ok(step) => {
                replaced.push(*component);
                report.push(component_record(*component, step.name(), took));
            }
            Err(e) => {
                report.push(component_record(*component, "failed", took));
                // etcd's manifest stays: its data moved on with it (kubeadm restores etcd only
                // when etcd itself failed).
                let mut put_back: Vec<Component> = replaced
                    .iter()
                    .copied()
                    .filter(|c| *c != Component::Etcd)
                    .collect();
                // A manifest found already new (written by an earlier run) has no backup of
                // this run's to go back to.
                let backed_up = ctx
                    .effects
                    .read_file(&format!("{}/{}.yaml", backups.manifests, component.name()))
                    .is_ok_and(|b| b.is_some());
                if backed_up && !put_back.contains(component) {
                    put_back.push(*component);
                }
                let restored = roll_back(ctx, &put_back, &backups);
                for record in report.iter_mut() {
                    if put_back.iter().any(|c| record["component"] == c.name())
                        && record["outcome"] == "upgraded"
                    {
                        record["outcome"] = "rolled-back".into();
                    }
                }
                ctx.report = Some(serde_json::json!({ "components": report }));
                if *component == Component::Etcd {
                    let data_dir = local_etcd.clone().unwrap_or_default();
                    return Err(failed(recover_etcd(ctx, &e, &data_dir, &backups, before)));
                }
                let cause = likely_cause(
                    *component,
                    &e,
                    &ctx.data.config.init.node_registration.cri_socket,
                )
                .map(|cause| format!("\n{cause}"))
                .unwrap_or_default();
                return Err(failed(format!(
                    "couldn't complete the static pod upgrade: couldn't upgrade control plane. kinit has tried to recover everything into the earlier state: {restored}. Errors faced: {e}{cause}"
                )));
            }
        }
    }
    ctx.report = Some(serde_json::json!({ "components": report }));
    if ctx.data.options.certificate_renewal {
        let mut confs = vec![layout::ADMIN_CONF_FILE];
        if ctx
            .effects
            .read_file(&layout::file_in(
                layout::KUBERNETES_DIR,
                layout::SUPER_ADMIN_CONF_FILE,
            ))
            .map_err(failed)?
            .is_some()
        {
            confs.push(layout::SUPER_ADMIN_CONF_FILE);
        }
        renew_certificates(ctx, &confs).map_err(failed)?;
    }
    ctx.sink.line(
        "[upgrade/control-plane] The control plane instance for this node was successfully upgraded!",
    );
    Ok(Vec::new())
}
