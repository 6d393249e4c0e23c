//! The steps of `kinit upgrade apply` and `kinit upgrade node` that init has no twin of: the
//! upgrade's preflight (health of the cluster, the version policy, the question), the static Pods
//! rewritten (`control_plane`), the kubelet's config file, and the gate before the addons.

pub(crate) mod control_plane;
mod health;
pub(crate) mod kubelet;
mod mirror_pods;

use k8s_openapi::api::core::v1::Pod;
use kinit_preflight::Check;
use kube::api::{Api, ListParams};

use crate::domain::upgrade::policy::{self, PolicyInput};
use crate::domain::versions::parse_kubernetes_version;
use crate::workflow::cluster;
use crate::workflow::{failed, PhaseContext, PhaseError, UpgradeData};
use PhaseError::PreflightFailed;

pub use health::{cluster_health, judge};

/// Runs the health checks in the run's session and prints them; an error not ignored stops it.
fn report(ctx: &mut PhaseContext<'_, UpgradeData>) -> Result<Vec<String>, PhaseError> {
    let host = ctx.host;
    let pause =
        crate::domain::images::pause_image(&ctx.data.config.cluster, &ctx.data.config.version);
    let findings = ctx
        .live(
            |_| {
                vec![
                    "run the cluster health checks CreateJob, ControlPlaneNodesReady and StaticPodManifest"
                        .into(),
                ]
            },
            |ctx| Ok(cluster_health(cluster::session(ctx)?, host, &pause)),
        )?
        .unwrap_or_default();
    let (warnings, error) = judge(findings, &ctx.ignore);
    for warning in &warnings {
        ctx.sink.line(&format!("\t{warning}"));
    }
    match error {
        Some(text) => Err(PhaseError::PreflightFailed(text)),
        None => Ok(warnings),
    }
}

/// kubeadm's host checks before an upgrade: root first, alone (a warning in a dry run), then
/// the system verification (kernel, cgroups), as its `RunRootCheckOnly` and `RunUpgradeChecks`.
/// Returns the warnings.
fn root_check(ctx: &mut PhaseContext<'_, UpgradeData>) -> Result<Vec<String>, PhaseError> {
    let root = Check::IsPrivilegedUser {
        dry_run: ctx.dry_run,
    };
    let mut warnings = checks_alone(ctx, &[root])?;
    warnings.extend(checks_alone(ctx, &[Check::SystemVerification])?);
    Ok(warnings)
}

/// `checks` run on their own, as kubeadm runs each group before an upgrade: an error not ignored
/// stops the phase; the warnings are printed and returned.
fn checks_alone(
    ctx: &mut PhaseContext<'_, UpgradeData>,
    checks: &[Check],
) -> Result<Vec<String>, PhaseError> {
    let report = kinit_preflight::run(checks, ctx.host, &ctx.ignore);
    if report.has_fatal() {
        return Err(PreflightFailed(report.error_text()));
    }
    for line in report.warning_lines() {
        ctx.sink.line(&line);
    }
    Ok(report.warning_summaries())
}

/// `upgrade apply phase preflight`: root, the cluster's health, the version policy and the question.
pub fn preflight_apply(ctx: &mut PhaseContext<'_, UpgradeData>) -> Result<Vec<String>, PhaseError> {
    ctx.sink
        .line("[upgrade/preflight] Running preflight checks");
    let mut warnings = root_check(ctx)?;
    ctx.sink.line("[upgrade] Running cluster health checks");
    warnings.extend(report(ctx)?);
    let target = ctx.data.config.version.clone();
    ctx.sink.line(&format!(
        "[upgrade/preflight] You have chosen to upgrade the cluster version to {:?}",
        target.text
    ));
    let facts = &ctx.data.facts;
    ctx.sink.line(&format!(
        "[upgrade/versions] Cluster version: {}",
        facts.server_version
    ));
    ctx.sink.line(&format!(
        "[upgrade/versions] kubeadm version: {}",
        crate::domain::upgrade::plan::kubeadm_version().text
    ));
    let cluster = parse_kubernetes_version(&facts.server_version)
        .map_err(|e| failed(format!("Unable to fetch cluster version: {e}")))?;
    let kubelets: Vec<String> = facts.versions.kubelets.keys().cloned().collect();
    let options = &ctx.data.options;
    let errors = policy::enforce(&PolicyInput {
        cluster: &cluster,
        target: &target,
        kubelets: Ok(kubelets),
        allow_experimental: options.allow_experimental,
        allow_rc: options.allow_rc,
    });
    if let Some(forced) = errors.verdict(options.force).map_err(failed)? {
        ctx.sink.line(&forced);
        warnings.extend(errors.skippable.clone());
    }
    if !options.no_question {
        ask(ctx)?;
    }
    warnings.extend(prepull(ctx, "[dryrun]")?);
    Ok(warnings)
}

/// kubeadm's image pull before a control plane is upgraded: the ImagePull check, through the
/// node's CRI, for the images of the target version (ignorable by its name, as every check).
fn prepull(
    ctx: &mut PhaseContext<'_, UpgradeData>,
    dry_run_tag: &str,
) -> Result<Vec<String>, PhaseError> {
    if ctx.dry_run {
        ctx.sink.line(&format!(
            "{dry_run_tag} Would pull the required images (like 'kinit config images pull')"
        ));
        return Ok(Vec::new());
    }
    for line in [
        "[upgrade/preflight] Pulling images required for setting up a Kubernetes cluster",
        "[upgrade/preflight] This might take a minute or two, depending on the speed of your internet connection",
        "[upgrade/preflight] You can also perform this action beforehand using 'kinit config images pull'",
    ] {
        ctx.sink.line(line);
    }
    // kubeadm says it pulls, then its check pulls nothing under the policy Never.
    if !ctx.data.options.pull_images {
        return Ok(Vec::new());
    }
    let config = &ctx.data.config;
    let check = Check::ImagePull {
        images: crate::domain::images::images(&config.cluster, &config.version),
        cri_socket: config.init.node_registration.cri_socket.clone(),
    };
    checks_alone(ctx, &[check])
}

/// kubeadm's question: only `y` or `yes` goes on.
fn ask(ctx: &mut PhaseContext<'_, UpgradeData>) -> Result<(), PhaseError> {
    use std::io::Write;
    print!("[upgrade] Are you sure you want to proceed? [y/N]: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    let _ = ctx;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(failed(
            "won't proceed; the user didn't answer (Y|y) in order to continue",
        )),
    }
}

/// `upgrade node phase preflight`: root only; the control plane's version was checked by apply.
pub fn preflight_node(ctx: &mut PhaseContext<'_, UpgradeData>) -> Result<Vec<String>, PhaseError> {
    ctx.sink
        .line("[upgrade/preflight] Running pre-flight checks");
    let mut warnings = root_check(ctx)?;
    if !ctx.data.control_plane {
        ctx.sink
            .line("[upgrade/preflight] Skipping prepull. Not a control plane node.");
        return Ok(warnings);
    }
    warnings.extend(prepull(ctx, "[upgrade/preflight]")?);
    Ok(warnings)
}

/// Whether the addons may be upgraded now: on a control plane, once every kube-apiserver runs the
/// image this node's does (kubeadm's `UnupgradedControlPlaneInstances`). Says why not.
pub fn addons_may_go(
    ctx: &mut PhaseContext<'_, UpgradeData>,
    addon: &str,
) -> Result<bool, PhaseError> {
    if !ctx.data.control_plane {
        ctx.sink.line(&format!(
            "[upgrade/addon] Skipping the addon/{addon} phase. Not a control plane node."
        ));
        return Ok(false);
    }
    let behind = ctx.live(
        |_| vec![format!("check that every control plane runs this node's kube-apiserver image before the {addon} addon")],
        |ctx| control_planes_behind(ctx),
    )?;
    match behind {
        Some(behind) if !behind.is_empty() => {
            ctx.sink.line(&format!(
                "[upgrade/addon] Skipping upgrade of addons because control plane instances [{}] have not been upgraded",
                behind.join(" ")
            ));
            Ok(false)
        }
        _ => Ok(true),
    }
}

/// The control-plane nodes whose kube-apiserver runs another image than this node's.
fn control_planes_behind(
    ctx: &mut PhaseContext<'_, UpgradeData>,
) -> Result<Vec<String>, PhaseError> {
    let node = ctx.data.node.name.clone();
    let session = cluster::session(ctx)?;
    let pods: Api<Pod> = Api::namespaced(session.client(), "kube-system");
    let params = ListParams::default().labels("component=kube-apiserver");
    let list = session
        .call("list Pods in kube-system with labels component=kube-apiserver", || pods.list(&params))
        .map_err(|e| failed(format!("failed to determine whether all the control plane instances have been upgraded: {e}")))?;
    let image_of = |pod: &Pod| {
        pod.spec.as_ref().and_then(|s| {
            s.containers
                .iter()
                .find(|c| c.name == "kube-apiserver")
                .and_then(|c| c.image.clone())
        })
    };
    let on = |pod: &Pod| {
        pod.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default()
    };
    let mine = list.items.iter().find(|p| on(p) == node).and_then(image_of).ok_or_else(|| {
        failed(format!("failed to determine whether all the control plane instances have been upgraded: cannot find kube-apiserver image for current control plane instance {node}"))
    })?;
    let mut behind: Vec<String> = list
        .items
        .iter()
        .filter(|p| image_of(p).as_deref() != Some(mine.as_str()))
        .map(on)
        .collect();
    behind.sort();
    Ok(behind)
}

pub fn addon_coredns(ctx: &mut PhaseContext<'_, UpgradeData>) -> Result<Vec<String>, PhaseError> {
    if ctx.data.config.cluster.dns.disabled {
        ctx.sink
            .line("[upgrade/addon] Skipping the addon/coredns phase. The addon is disabled.");
        return Ok(Vec::new());
    }
    if !addons_may_go(ctx, "coredns")? {
        return Ok(Vec::new());
    }
    crate::steps::addons::run_coredns(ctx)
}

pub fn addon_kube_proxy(
    ctx: &mut PhaseContext<'_, UpgradeData>,
) -> Result<Vec<String>, PhaseError> {
    if ctx.data.config.cluster.proxy.disabled {
        ctx.sink
            .line("[upgrade/addon] Skipping the addon/kube-proxy phase. The addon is disabled.");
        return Ok(Vec::new());
    }
    if !addons_may_go(ctx, "kube-proxy")? {
        return Ok(Vec::new());
    }
    crate::steps::addons::run_kube_proxy(ctx)
}

/// `post-upgrade`: nothing is left to do, as in kubeadm; the phase is kept for its name.
pub fn post_upgrade(_ctx: &mut PhaseContext<'_, UpgradeData>) -> Result<Vec<String>, PhaseError> {
    Ok(Vec::new())
}
