//! The preflight phase of init and join: build the check list from the configuration, run it, fix what
//! `--fix` may fix, and decide whether the run goes on.

use crate::domain::config::resolve::InitConfig;
use crate::domain::images::images;
use crate::domain::versions;
use crate::steps::fixes;
use crate::workflow::{InitData, JoinData, NodeData, PhaseContext, PhaseError, ResetData};
use kinit_preflight::{Check, EtcdClientFiles, EtcdFacts, NodeFacts, Report};

pub fn node_facts(config: &InitConfig, dry_run: bool) -> NodeFacts {
    let cluster = &config.cluster;
    let row = config.version_row();
    let split = |text: &str| -> Vec<String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let etcd = match (&cluster.etcd.local, &cluster.etcd.external) {
        (_, Some(external)) => EtcdFacts::External {
            endpoints: external.endpoints.clone(),
            files: EtcdClientFiles {
                ca_file: external.ca_file.clone(),
                cert_file: external.cert_file.clone(),
                key_file: external.key_file.clone(),
            },
            min_version: row.min_external_etcd.to_string(),
        },
        (Some(local), None) => EtcdFacts::Local {
            data_dir: local.data_dir.clone(),
        },
        (None, None) => EtcdFacts::Local {
            data_dir: crate::domain::config::defaults::DEFAULT_ETCD_DATA_DIR.into(),
        },
    };
    NodeFacts {
        dry_run,
        kubernetes_version: config.version.text.clone(),
        kubernetes_minor: config.version.minor,
        newest_supported_minor: versions::newest().minor,
        advertise_address: config.init.local_api_endpoint.advertise_address.clone(),
        bind_port: u16::try_from(config.init.local_api_endpoint.bind_port).unwrap_or(6443),
        service_cidrs: split(&cluster.networking.service_subnet),
        pod_cidrs: split(&cluster.networking.pod_subnet),
        cri_socket: config.init.node_registration.cri_socket.clone(),
        node_name: config.init.node_registration.name.clone(),
        manifests_dir: crate::domain::layout::MANIFESTS_DIR.into(),
        etcd,
        kube_proxy_ipvs: config.kube_proxy_mode() == "ipvs",
        images: images(cluster, &config.version),
        pull_images: config.init.node_registration.image_pull_policy != "Never",
    }
}

/// `fix`: `preflight --fix`, apply the safe remedies and check again.
fn run_checks<D>(
    ctx: &mut PhaseContext<'_, D>,
    all_checks: &[Check],
    fix: bool,
) -> Result<Vec<String>, PhaseError> {
    // Images are pulled only once every other check passed, as kubeadm does: a failing node downloads nothing.
    let (pulls, checks): (Vec<Check>, Vec<Check>) = all_checks
        .iter()
        .cloned()
        .partition(|c| matches!(c, Check::ImagePull { .. }));
    let checks = checks.as_slice();
    ctx.sink.line("[preflight] Running pre-flight checks");
    let mut report = kinit_preflight::run(checks, ctx.host, &ctx.ignore);
    let mut fix_outcomes = Vec::new();
    if fix {
        let fixes = report.fixes();
        if fixes.is_empty() {
            ctx.sink.line("[preflight] --fix: nothing to fix");
        } else {
            fix_outcomes = fixes::apply(&fixes, ctx.host, ctx.effects);
            let done_word = ctx.wording("fixed", "[dry-run] would fix");
            for outcome in &fix_outcomes {
                for done in &outcome.done {
                    ctx.sink.line(&format!("[preflight] {done_word}: {done}"));
                }
                for not_done in &outcome.not_done {
                    ctx.sink
                        .line(&format!("[preflight] could not fix: {not_done}"));
                }
            }
            let again = ctx.live(
                |_| Vec::new(),
                |ctx| {
                    ctx.sink.line("[preflight] Running pre-flight checks again");
                    Ok(kinit_preflight::run(checks, ctx.host, &ctx.ignore))
                },
            )?;
            if let Some(again) = again {
                report = again;
            }
        }
    }
    if !pulls.is_empty() && !report.has_fatal() {
        ctx.sink
            .line("[preflight] Pulling images required for setting up a Kubernetes cluster");
        let pulled = kinit_preflight::run(&pulls, ctx.host, &ctx.ignore);
        report.checks.extend(pulled.checks);
    }
    for line in report.warning_lines() {
        ctx.sink.line(&line);
    }
    let mut detail = serde_json::to_value(&report).unwrap_or_default();
    if fix {
        detail["fixes"] = serde_json::to_value(&fix_outcomes).unwrap_or_default();
    }
    ctx.report = Some(detail);
    let warnings = report.warning_summaries();
    finish(ctx, &report, warnings)
}

fn finish<D>(
    ctx: &mut PhaseContext<'_, D>,
    report: &Report,
    warnings: Vec<String>,
) -> Result<Vec<String>, PhaseError> {
    if !report.has_fatal() {
        return Ok(warnings);
    }
    ctx.warnings_before_failure = warnings;
    Err(PhaseError::PreflightFailed(report.error_text()))
}

pub fn run_init(ctx: &mut PhaseContext<'_, InitData>) -> Result<Vec<String>, PhaseError> {
    let facts = node_facts(ctx.data.config(), ctx.dry_run);
    let checks = kinit_preflight::init_checks(&facts);
    let fix = ctx.data.fix();
    let result = run_checks(ctx, &checks, fix);
    // A dry run goes on past preflight errors (see the runner), so it shows the pulls too.
    if matches!(result, Ok(_) | Err(PhaseError::PreflightFailed(_))) {
        ctx.dry_run_note(|_| {
            let mut lines = vec![
                "[preflight] Would pull the required images (like 'kinit config images pull'):"
                    .to_string(),
            ];
            lines.extend(
                facts
                    .images
                    .iter()
                    .map(|image| format!("[preflight] Would pull the image {image}")),
            );
            Ok(lines)
        })?;
    }
    if result.is_ok() {
        ctx.live(
            |_| Vec::new(),
            |ctx| {
                if facts.pull_images {
                    ctx.sink.line("[preflight] The images required for setting up a Kubernetes cluster are present or were pulled");
                }
                Ok(())
            },
        )?;
    }
    result
}

pub fn run_join(ctx: &mut PhaseContext<'_, JoinData>) -> Result<Vec<String>, PhaseError> {
    let join = &ctx.data.target;
    // A second API server is only reachable through an address that is not the first one's own.
    if join.facts.control_plane
        && join.cluster.is_some()
        && ctx.data.config().cluster.control_plane_endpoint.is_empty()
    {
        return Err(PhaseError::Failed(
            "unable to add a new control plane instance to a cluster that doesn't have a stable controlPlaneEndpoint address: set controlPlaneEndpoint (`kinit init --control-plane-endpoint`) when the cluster is made".into(),
        ));
    }
    let facts = node_facts(ctx.data.config(), ctx.dry_run);
    let checks = kinit_preflight::join_checks(&facts, &join.facts);
    let fix = ctx.data.fix();
    run_checks(ctx, &checks, fix)
}

/// The one check of `kinit reset`, as kubeadm's reset runs only its root check.
pub fn run_reset(ctx: &mut PhaseContext<'_, ResetData>) -> Result<Vec<String>, PhaseError> {
    let checks = [Check::IsPrivilegedUser {
        dry_run: ctx.dry_run,
    }];
    run_checks(ctx, &checks, false)
}
