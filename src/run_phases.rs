//! `kinit init` and `kinit join` (and their `phase` sub-commands): load the configuration, run the phase table, print.

use crate::cli::{
    GlobalArgs, InitFlags, JoinCommand, OutputFormat, PhaseArgs, ResetArgs, UpgradeApplyArgs,
    UpgradeNodeArgs, UpgradeSub,
};
use crate::exit::{self, Exit};
use crate::output::{emit, timing_summary, JsonSink, TextSink};
use kinit_phases::commands::join::JoinRequest;
use kinit_phases::commands::reset::ResetFlags;
use kinit_phases::commands::{self, PrepareError};
use kinit_phases::domain::config::resolve::{self, InitConfig, InitPrinting};
use kinit_phases::domain::config::types::UpgradeConfiguration;
use kinit_phases::domain::config::{self, ConfigFile};
use kinit_phases::exec::effects::{DryRunEffects, Effects, HostEffects};
use kinit_phases::exec::node_host::NodeHost;
use kinit_phases::flows;
use kinit_phases::steps::kubeconfig::DEFAULT_KUBECONFIG_DIR;
use kinit_phases::workflow::{self, EventSink, InitData, PhaseContext, ResetData, RunSummary};
use kinit_phases::workflow::{all_paths, find, Phase};
use kinit_preflight::IgnoreList;
use serde_json::json;
use std::path::PathBuf;

pub fn root(global: &GlobalArgs) -> PathBuf {
    PathBuf::from(global.rootfs.as_deref().unwrap_or("/"))
}

/// Reads --config leniently, as init/join/reset do: unknown fields and kinds are warnings, wrong types stop.
pub fn load_lenient(path: &str) -> Result<ConfigFile, Exit> {
    let text = config::read_source(path).map_err(Exit::failure)?;
    let file = config::load(&text);
    for warning in file.warnings(false) {
        eprintln!("W: {path}: {warning}");
    }
    for notice in &file.notices {
        eprintln!("W: {path}: {notice}");
    }
    let errors = file.errors(false);
    if !errors.is_empty() {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {path}: {e}")).collect();
        return Err(Exit::failure(format!(
            "the configuration file {path} cannot be used:\n{}",
            lines.join("\n")
        )));
    }
    Ok(file)
}

fn resolve_phase_path<D>(
    table: &[Phase<D>],
    args: &PhaseArgs,
    command: &str,
) -> Result<String, Exit> {
    let path = match &args.child {
        Some(child) => format!("{}/{child}", args.phase),
        None => args.phase.clone(),
    };
    if find(table, &path).is_none() {
        return Err(Exit::usage(format!(
            "unknown phase {path:?} of `kinit {command}`: choose one of {}",
            all_paths(table).join(", ")
        )));
    }
    Ok(path)
}

fn check_skip_phases<D>(table: &[Phase<D>], skip: &[String]) -> Result<(), Exit> {
    let known = all_paths(table);
    for name in skip {
        if !known.contains(name) {
            return Err(Exit::usage(format!(
                "--skip-phases: unknown phase {name:?}: choose from {}",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

fn admin_conf(kubeconfig_dir: &str) -> String {
    kinit_phases::domain::layout::file_in(
        kubeconfig_dir,
        kinit_phases::domain::layout::ADMIN_CONF_FILE,
    )
}

/// A command's run as the binary hands it to the engine.
struct Plan<'a, D> {
    table: Vec<Phase<D>>,
    only: Option<String>,
    skip: Vec<String>,
    data: &'a D,
    /// What the configuration warned about, told before the phases.
    warnings: &'a [String],
    /// The preflight errors to ignore, besides the flag's.
    ignore: &'a [String],
    /// What a finished whole run tells the person at the terminal, after its phases.
    closing: Option<String>,
    command: &'static str,
    /// How long a join's discovery (and its read of the cluster's configuration) took before the
    /// phases: kubeadm does it inside its preflight phase, so it counts in the total.
    discovery_ms: Option<f64>,
}

fn execute<D>(global: &GlobalArgs, plan: Plan<'_, D>) -> Result<i32, Exit> {
    let host = NodeHost::new(root(global));
    let mut effects: Box<dyn Effects> = if global.dry_run {
        Box::new(DryRunEffects::new(root(global)))
    } else {
        Box::new(HostEffects::new(root(global)))
    };
    let json = global.output == OutputFormat::Json;
    let single_preflight = plan.only.as_deref() == Some("preflight");
    let mut text_sink = TextSink::default();
    let mut json_sink = JsonSink;
    let mut quiet = QuietSink;
    let sink: &mut dyn EventSink = match (json, single_preflight) {
        (true, true) => &mut quiet,
        (true, false) => &mut json_sink,
        (false, _) => &mut text_sink,
    };
    if global.dry_run && !json {
        sink.line(&format!(
            "[dry-run] nothing is written or changed; this shows what `kinit {}` would do",
            plan.command
        ));
    }
    for warning in plan.warnings {
        sink.line(&format!("W: {warning}"));
    }
    let mut ignore_names = plan.ignore.to_vec();
    ignore_names.extend(global.ignore_preflight_errors.iter().cloned());
    let mut ctx = PhaseContext::new(plan.data, &host, effects.as_mut(), sink, global.dry_run);
    ctx.ignore = IgnoreList::new(ignore_names);
    let summary = workflow::run(&plan.table, plan.only.as_deref(), &plan.skip, &mut ctx);
    if global.dry_run {
        let planned: Vec<String> = effects.changes().iter().map(ToString::to_string).collect();
        if !json {
            for change in &planned {
                println!("[dry-run] would {change}");
            }
        }
    }
    let code = exit_code(&summary);
    if json && single_preflight {
        let mut report = summary
            .records
            .first()
            .and_then(|r| r.report.clone())
            .unwrap_or_else(|| json!({}));
        // Passed means no error that was not ignored, whether or not this was a dry run.
        let fatal = report["checks"].as_array().is_some_and(|checks| {
            checks
                .iter()
                .any(|c| c["passed"] == false && c["ignored"] == false && c["severity"] == "error")
        });
        report["passed"] = json!(!fatal && summary.error.is_none());
        report["wouldStop"] = json!(summary.would_stop);
        report["dryRun"] = json!(global.dry_run);
        emit(&report);
    } else if json {
        let mut result = result_object(plan.command, &summary, code, global.dry_run);
        if let Some(discovery) = plan.discovery_ms {
            result["discoveryMs"] = json!(discovery);
            result["totalMs"] = json!(result["totalMs"].as_f64().unwrap_or(0.0) + discovery);
        }
        // Configuration warnings and the dry run's plan go to people as lines; in JSON they ride on the result.
        result["warnings"] = json!(plan.warnings);
        // The join material, for scripts that hand it to other nodes (`kinit init -o json | jq .join`).
        if let Some(join) = summary
            .records
            .iter()
            .find(|r| r.phase == "show-join-command")
            .and_then(|r| r.report.clone())
        {
            result["join"] = join;
        }
        result["planned"] = json!(effects
            .changes()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>());
        emit(&result);
    } else {
        print_text_end(plan.command, &summary, plan.only.is_none());
        let finished = plan.only.is_none() && summary.error.is_none() && !global.dry_run;
        if let (true, Some(closing)) = (finished, &plan.closing) {
            print!("{closing}");
        }
    }
    Ok(code)
}

/// Used where one JSON document is printed at the end instead of events.
struct QuietSink;

impl EventSink for QuietSink {
    fn phase_start(&mut self, _phase: &str) {}
    fn line(&mut self, text: &str) {
        tracing::info!("{text}");
    }
    fn phase_end(&mut self, _record: &workflow::PhaseRecord) {}
}

fn exit_code(summary: &RunSummary) -> i32 {
    match &summary.error {
        Some(workflow::PhaseError::PreflightFailed(_)) => exit::PREFLIGHT,
        Some(workflow::PhaseError::Failed(_)) => exit::FAILURE,
        Some(workflow::PhaseError::TimedOut(_)) => exit::TIMED_OUT,
        None => exit::SUCCESS,
    }
}

fn outcome_word(code: i32) -> &'static str {
    match code {
        exit::SUCCESS => "success",
        exit::PREFLIGHT => "preflight-errors",
        exit::TIMED_OUT => "timed-out",
        _ => "failed",
    }
}

fn result_object(
    command: &str,
    summary: &RunSummary,
    code: i32,
    dry_run: bool,
) -> serde_json::Value {
    let phases: Vec<serde_json::Value> = summary
        .records
        .iter()
        .map(|r| json!({ "phase": r.phase, "durationMs": r.duration_ms, "outcome": r.outcome }))
        .collect();
    json!({
        "event": "result",
        "command": command,
        "outcome": outcome_word(code),
        "exitCode": code,
        "dryRun": dry_run,
        "error": summary.error.as_ref().map(ToString::to_string),
        "wouldStop": summary.would_stop,
        "phases": phases,
        "totalMs": summary.records.iter().map(|r| r.duration_ms).sum::<f64>(),
    })
}

/// What a finished join tells the person at the terminal; scripts look for its first line, as
/// they do after kubeadm.
fn join_closing_text(control_plane: bool) -> String {
    if !control_plane {
        return "\nThis node has joined the cluster:\n\
                * The kubelet sent a certificate signing request with the bootstrap token and got its certificate.\n\
                * The kubelet now talks to the API server with its own credentials.\n\n\
                Run 'kubectl get nodes' on a control-plane node to see it.\n"
            .into();
    }
    "\nThis node has joined the cluster and a new control plane instance was created:\n\n\
     * The kubelet bootstrapped its own credentials with the bootstrap token.\n\
     * The node carries the control-plane label and taint.\n\
     * This node runs the control-plane static Pods, and its etcd member was added to the cluster's etcd.\n\n\
     To administer the cluster from this node as a regular user:\n\n\
     \tmkdir -p $HOME/.kube\n\
     \tsudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\n\
     \tsudo chown $(id -u):$(id -g) $HOME/.kube/config\n\n\
     Run 'kubectl get nodes' to see this node in the cluster.\n"
        .into()
}

fn print_text_end(command: &str, summary: &RunSummary, whole_run: bool) {
    if let Some(error) = &summary.error {
        let phase = summary
            .records
            .last()
            .map(|r| r.phase.as_str())
            .unwrap_or(command);
        eprintln!("error execution phase {phase}: {error}");
    }
    if let Some(stop) = &summary.would_stop {
        println!("\n[dry-run] summary: a real run would have stopped at preflight:\n{stop}");
    }
    if whole_run {
        print!("{}", timing_summary(summary));
    }
}

fn to_resolve_flags(flags: &InitFlags, global: &GlobalArgs) -> resolve::InitFlags {
    resolve::InitFlags {
        apiserver_advertise_address: flags.apiserver_advertise_address.clone(),
        apiserver_bind_port: flags.apiserver_bind_port,
        apiserver_cert_extra_sans: flags.apiserver_cert_extra_sans.clone(),
        cert_dir: flags.cert_dir.clone(),
        certificate_key: flags.certificate_key.clone(),
        control_plane_endpoint: flags.control_plane_endpoint.clone(),
        cri_socket: flags.cri_socket.clone(),
        feature_gates: flags.feature_gates.clone(),
        image_repository: flags.image_repository.clone(),
        kubernetes_version: flags.kubernetes_version.clone(),
        node_name: flags.node_name.clone(),
        patches: flags.patches.clone(),
        pod_network_cidr: flags.pod_network_cidr.clone(),
        service_cidr: flags.service_cidr.clone(),
        service_dns_domain: flags.service_dns_domain.clone(),
        token: flags.token.clone(),
        token_ttl: flags.token_ttl.clone(),
        skip_phases: global.skip_phases.clone(),
        ignore_preflight_errors: global.ignore_preflight_errors.clone(),
        dry_run: global.dry_run,
    }
}

/// Reads `--config` when given, refusing flags the file owns as kubeadm does.
fn load_unmixed(
    global: &GlobalArgs,
    config_owned_flags: &[&str],
) -> Result<Option<ConfigFile>, Exit> {
    let Some(path) = &global.config else {
        return Ok(None);
    };
    if !config_owned_flags.is_empty() {
        return Err(Exit::usage(format!(
            "can not mix '--config' with arguments [{}]",
            config_owned_flags.join(" ")
        )));
    }
    load_lenient(path).map(Some)
}

/// Why a command could not start its phases, as the binary reports it.
fn not_prepared(error: PrepareError) -> Exit {
    Exit::failure(error.to_string())
}

pub fn init_config(global: &GlobalArgs, flags: &InitFlags) -> Result<InitConfig, Exit> {
    let file = load_unmixed(global, &flags.config_owned())?;
    let printing = InitPrinting {
        skip_token_print: flags.skip_token_print,
        skip_certificate_key_print: flags.skip_certificate_key_print,
        upload_certs: flags.upload_certs,
    };
    commands::init::configuration(
        file.as_ref(),
        &to_resolve_flags(flags, global),
        printing,
        &root(global),
    )
    .map_err(not_prepared)
}

pub fn init(
    global: &GlobalArgs,
    flags: &InitFlags,
    phase: Option<&PhaseArgs>,
) -> Result<i32, Exit> {
    check_skip_phases(&flows::init::phases(), &global.skip_phases)?;
    let only = phase
        .map(|p| resolve_phase_path(&flows::init::phases(), p, "init"))
        .transpose()?;
    let fix = phase.is_some_and(|p| p.fix);
    if fix && only.as_deref() != Some("preflight") {
        return Err(Exit::usage("--fix belongs to `kinit init phase preflight`"));
    }
    let kubeconfig_dir = phase.map_or_else(
        || DEFAULT_KUBECONFIG_DIR.to_string(),
        |p| p.kubeconfig_dir.clone(),
    );
    let config = init_config(global, flags)?;
    // `dryRun: true` in the file makes a dry run, as in kubeadm.
    let global = &GlobalArgs {
        dry_run: global.dry_run || config.init.dry_run,
        ..global.clone()
    };
    let skip = if only.is_some() {
        Vec::new()
    } else {
        config.init.skip_phases.clone()
    };
    check_skip_phases(&flows::init::phases(), &skip)?;
    let data = InitData {
        kubeconfig: flags
            .kubeconfig
            .clone()
            .unwrap_or_else(|| admin_conf(&kubeconfig_dir)),
        kubeconfig_dir,
        fix,
        config,
    };
    execute(
        global,
        Plan {
            table: flows::init::phases(),
            only,
            skip,
            data: &data,
            warnings: &data.config.warnings,
            ignore: &data.config.init.node_registration.ignore_preflight_errors,
            closing: None,
            command: "init",
            discovery_ms: None,
        },
    )
}

pub fn join(global: &GlobalArgs, command: &JoinCommand) -> Result<i32, Exit> {
    check_skip_phases(&flows::join::phases(), &global.skip_phases)?;
    let phase = command
        .phase
        .as_ref()
        .map(|crate::cli::JoinSub::Phase(p)| p);
    // `kinit join phase <phase> [<child>] [<endpoint>]`: a second word that is no child of the phase is the endpoint.
    let mut phase_endpoint = phase.and_then(|p| p.endpoint.clone());
    let phase_args = phase.map(|p| {
        let is_child = p.child.as_deref().is_some_and(|c| {
            c == "all"
                || find(&flows::join::phases(), &p.phase)
                    .is_some_and(|(ph, _)| ph.child(c).is_some())
        });
        if is_child || p.child.is_none() {
            PhaseArgs {
                phase: p.phase.clone(),
                child: p.child.clone(),
                endpoint: None,
                fix: p.fix,
                kubeconfig_dir: p.kubeconfig_dir.clone(),
            }
        } else {
            phase_endpoint = phase_endpoint.clone().or_else(|| p.child.clone());
            PhaseArgs {
                phase: p.phase.clone(),
                child: None,
                endpoint: None,
                fix: p.fix,
                kubeconfig_dir: p.kubeconfig_dir.clone(),
            }
        }
    });
    let phase = phase_args.as_ref();
    let only = phase
        .map(|p| resolve_phase_path(&flows::join::phases(), p, "join"))
        .transpose()?;
    let fix = phase.is_some_and(|p| p.fix);
    if fix && only.as_deref() != Some("preflight") {
        return Err(Exit::usage("--fix belongs to `kinit join phase preflight`"));
    }
    let file = load_unmixed(global, &command.config_owned())?;
    let flags = resolve::JoinFlags {
        api_server_endpoint: command.api_server_endpoint.clone().or(phase_endpoint),
        token: command.token.clone(),
        discovery_token: command.discovery_token.clone(),
        discovery_token_ca_cert_hash: command.discovery_token_ca_cert_hash.clone(),
        discovery_token_unsafe_skip_ca_verification: command
            .discovery_token_unsafe_skip_ca_verification,
        discovery_file: command.discovery_file.clone(),
        tls_bootstrap_token: command.tls_bootstrap_token.clone(),
        control_plane: command.control_plane,
        certificate_key: command.certificate_key.clone(),
        apiserver_advertise_address: command.apiserver_advertise_address.clone(),
        apiserver_bind_port: command.apiserver_bind_port,
        cri_socket: command.cri_socket.clone(),
        node_name: command.node_name.clone(),
        patches: command.patches.clone(),
    };
    let join_config = resolve::resolve_join(file.as_ref(), &flags).map_err(|errors| {
        Exit::failure(format!(
            "invalid join configuration:\n  {}",
            errors.join("\n  ")
        ))
    })?;
    let global = &GlobalArgs {
        dry_run: global.dry_run || join_config.dry_run,
        ..global.clone()
    };
    let json = global.output == OutputFormat::Json;
    let mut progress = |line: &str| {
        if json {
            tracing::info!("{line}");
        } else {
            println!("{line}");
        }
    };
    let request = JoinRequest {
        endpoint: command.api_server_endpoint.as_deref(),
        needs_cluster: only.as_deref() != Some("preflight"),
        host_root: &root(global),
        dry_run: global.dry_run,
        fix,
    };
    let discovery_started = std::time::Instant::now();
    let data =
        commands::join::prepare(&join_config, &request, &mut progress).map_err(not_prepared)?;
    let discovery_ms = request
        .needs_cluster
        .then(|| discovery_started.elapsed().as_secs_f64() * 1000.0);
    let skip = skipped(global, only.as_deref(), &join_config.skip_phases);
    check_skip_phases(&flows::join::phases(), &skip)?;
    execute(
        global,
        Plan {
            table: flows::join::phases(),
            only,
            skip,
            data: &data,
            warnings: &data.config.warnings,
            ignore: &data.config.init.node_registration.ignore_preflight_errors,
            closing: Some(join_closing_text(data.target.facts.control_plane)),
            command: "join",
            discovery_ms,
        },
    )
}

pub fn reset(global: &GlobalArgs, flags: &ResetArgs) -> Result<i32, Exit> {
    check_skip_phases(&flows::reset::phases(), &global.skip_phases)?;
    // `kinit reset phase <name>`: the phase alone, as kubeadm's `reset phase` (no children).
    let only = flags
        .phase
        .as_ref()
        .map(|crate::cli::ResetSub::Phase(p)| {
            let args = PhaseArgs {
                phase: p.phase.clone(),
                child: None,
                endpoint: None,
                fix: false,
                kubeconfig_dir: DEFAULT_KUBECONFIG_DIR.into(),
            };
            resolve_phase_path(&flows::reset::phases(), &args, "reset")
        })
        .transpose()?;
    let file = load_unmixed(global, &flags.config_owned())?;
    let reset = commands::reset::configuration(
        file.as_ref(),
        &ResetFlags {
            cert_dir: flags.cert_dir.clone(),
            cri_socket: flags.cri_socket.clone(),
            force: flags.force,
            cleanup_tmp_dir: flags.cleanup_tmp_dir,
            ignore_preflight_errors: global.ignore_preflight_errors.clone(),
        },
    )
    .map_err(not_prepared)?;
    let global = &GlobalArgs {
        dry_run: global.dry_run || reset.dry_run,
        ..global.clone()
    };
    let skip = skipped(global, only.as_deref(), &reset.skip_phases);
    check_skip_phases(&flows::reset::phases(), &skip)?;
    // The question is the preflight phase's; it would land in the JSON stream and its answer has
    // nowhere to come from in a script.
    let runs_preflight =
        only.as_deref().is_none_or(|p| p == "preflight") && !skip.iter().any(|s| s == "preflight");
    let asks = !reset.force && !global.dry_run && runs_preflight;
    if asks && global.output == OutputFormat::Json {
        return Err(Exit::usage(
            "`kinit reset -o json` cannot ask for confirmation: give -f (--force), or --dry-run",
        ));
    }
    let ignore = reset.ignore_preflight_errors.clone();
    let data = ResetData { reset };
    execute(
        global,
        Plan {
            table: flows::reset::phases(),
            only,
            skip,
            data: &data,
            warnings: &[],
            ignore: &ignore,
            closing: None,
            command: "reset",
            discovery_ms: None,
        },
    )
}

/// A phase path given to `upgrade apply|node phase`, checked against the table.
fn upgrade_phase<D>(
    table: &[Phase<D>],
    sub: Option<&UpgradeSub>,
    command: &str,
) -> Result<Option<String>, Exit> {
    sub.map(|UpgradeSub::Phase(p)| {
        let args = PhaseArgs {
            phase: p.phase.clone(),
            child: None,
            endpoint: None,
            fix: false,
            kubeconfig_dir: DEFAULT_KUBECONFIG_DIR.into(),
        };
        resolve_phase_path(table, &args, command)
    })
    .transpose()
}

/// The UpgradeConfiguration of --config (a defaulted one without), refusing flags it owns.
pub fn upgrade_configuration(
    global: &GlobalArgs,
    owned: &[&str],
) -> Result<UpgradeConfiguration, Exit> {
    let file = load_unmixed(global, owned)?;
    match file {
        None => Ok(UpgradeConfiguration::default()),
        Some(file) => file.upgrade.clone().ok_or_else(|| {
            Exit::failure(format!(
                "no UpgradeConfiguration found in the supplied config {}",
                global.config.as_deref().unwrap_or_default()
            ))
        }),
    }
}

/// The patches folder: the flag's, else the file's when it names one.
fn patches_dir(
    flag: &Option<String>,
    file: &Option<kinit_phases::domain::config::types::Patches>,
) -> Option<String> {
    flag.clone().or_else(|| {
        file.as_ref()
            .map(|p| p.directory.clone())
            .filter(|d| !d.is_empty())
    })
}

/// The phases to skip: none when one phase runs alone, else the flag's, else the file's.
fn skipped(global: &GlobalArgs, only: Option<&str>, file: &[String]) -> Vec<String> {
    if only.is_some() {
        Vec::new()
    } else if global.skip_phases.is_empty() {
        file.to_vec()
    } else {
        global.skip_phases.clone()
    }
}

/// The names of the flags given, of (given, name) pairs: what `--config` may not be mixed with.
pub fn given_flags(flags: &[(bool, &'static str)]) -> Vec<&'static str> {
    flags
        .iter()
        .filter(|(given, _)| *given)
        .map(|(_, name)| *name)
        .collect()
}

/// The union of the flag's and the file's names, as kubeadm takes them.
pub fn union(flags: &[String], file: &[String]) -> Vec<String> {
    let mut all = flags.to_vec();
    for name in file {
        if !all.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            all.push(name.clone());
        }
    }
    all
}

fn manifests_timeout(
    timeouts: Option<&kinit_phases::domain::config::types::Timeouts>,
) -> std::time::Duration {
    timeouts
        .and_then(|t| t.upgrade_manifests)
        .map_or(std::time::Duration::from_secs(300), |d| d.0)
}

pub fn upgrade_apply(global: &GlobalArgs, args: &UpgradeApplyArgs) -> Result<i32, Exit> {
    let table = flows::upgrade::apply_phases();
    let only = upgrade_phase(&table, args.phase.as_ref(), "upgrade apply")?;
    let owned = given_flags(&[
        (args.force, "force"),
        (args.common.etcd_upgrade.is_some(), "etcd-upgrade"),
        (args.certificate_renewal.is_some(), "certificate-renewal"),
        (
            args.common.allow_experimental_upgrades,
            "allow-experimental-upgrades",
        ),
        (
            args.common.allow_release_candidate_upgrades,
            "allow-release-candidate-upgrades",
        ),
        (args.common.print_config, "print-config"),
        (args.patches.is_some(), "patches"),
    ]);
    let config = upgrade_configuration(global, &owned)?;
    let apply = &config.apply;
    let phase_version = args
        .phase
        .as_ref()
        .and_then(|UpgradeSub::Phase(p)| p.version.clone());
    if args.version.is_some() && phase_version.is_some() {
        return Err(Exit::usage(
            "the version is given twice: before `phase` and after the phase's name",
        ));
    }
    let version = args
        .version
        .clone()
        .or(phase_version)
        .or_else(|| Some(apply.kubernetes_version.clone()).filter(|v| !v.is_empty()))
        .ok_or_else(|| {
            Exit::usage("missing one or more required arguments. Required arguments: [version]")
        })?;
    let dry_run = global.dry_run || apply.dry_run.unwrap_or(false);
    let force = args.force || apply.force_upgrade.unwrap_or(false);
    let options = kinit_phases::workflow::UpgradeOptions {
        force,
        no_question: args.yes || force || dry_run,
        certificate_renewal: args
            .certificate_renewal
            .or(apply.certificate_renewal)
            .unwrap_or(true),
        etcd_upgrade: args
            .common
            .etcd_upgrade
            .or(apply.etcd_upgrade)
            .unwrap_or(true),
        allow_experimental: args.common.allow_experimental_upgrades
            || apply.allow_experimental_upgrades.unwrap_or(false),
        allow_rc: args.common.allow_release_candidate_upgrades
            || apply.allow_rc_upgrades.unwrap_or(false),
        manifests_timeout: manifests_timeout(config.timeouts.as_ref()),
        pull_images: apply.image_pull_policy != "Never",
    };
    if !options.no_question && global.output == OutputFormat::Json {
        return Err(Exit::usage(
            "`kinit upgrade apply -o json` cannot ask for confirmation: give -y (--yes), or --dry-run",
        ));
    }
    let skip = skipped(global, only.as_deref(), &apply.skip_phases);
    check_skip_phases(&table, &skip)?;
    let request = commands::upgrade::UpgradeRequest {
        host_root: &root(global),
        kubeconfig: &args.common.kubeconfig,
        target: Some(&version),
        patches: patches_dir(&args.patches, &apply.patches),
        timeouts: config.timeouts.clone(),
        options,
    };
    run_upgrade(
        global,
        table,
        only,
        skip,
        &request,
        union(
            &global.ignore_preflight_errors,
            &apply.ignore_preflight_errors,
        ),
        dry_run,
        "upgrade apply",
    )
}

pub fn upgrade_node(global: &GlobalArgs, args: &UpgradeNodeArgs) -> Result<i32, Exit> {
    let table = flows::upgrade::node_phases();
    if let Some(UpgradeSub::Phase(p)) = &args.phase {
        if let Some(version) = &p.version {
            return Err(Exit::usage(format!(
                "unexpected argument {version:?}: upgrade node takes no version (it upgrades this node to the version of the cluster's kubeadm-config)"
            )));
        }
    }
    let only = upgrade_phase(&table, args.phase.as_ref(), "upgrade node")?;
    let owned = given_flags(&[
        (args.etcd_upgrade.is_some(), "etcd-upgrade"),
        (args.certificate_renewal.is_some(), "certificate-renewal"),
        (args.patches.is_some(), "patches"),
    ]);
    let config = upgrade_configuration(global, &owned)?;
    let node = &config.node;
    let dry_run = global.dry_run || node.dry_run.unwrap_or(false);
    let options = kinit_phases::workflow::UpgradeOptions {
        force: false,
        no_question: true,
        certificate_renewal: args
            .certificate_renewal
            .or(node.certificate_renewal)
            .unwrap_or(true),
        etcd_upgrade: args.etcd_upgrade.or(node.etcd_upgrade).unwrap_or(true),
        allow_experimental: false,
        allow_rc: false,
        manifests_timeout: manifests_timeout(config.timeouts.as_ref()),
        pull_images: node.image_pull_policy != "Never",
    };
    let skip = skipped(global, only.as_deref(), &node.skip_phases);
    check_skip_phases(&table, &skip)?;
    let host_root = root(global);
    // As kubeadm: admin.conf on a control plane, kubelet.conf on a worker.
    let kubeconfig = args.kubeconfig.clone().unwrap_or_else(|| {
        let api_server = kinit_phases::domain::layout::file_in(
            kinit_phases::domain::layout::MANIFESTS_DIR,
            "kube-apiserver.yaml",
        );
        if host_root.join(api_server.trim_start_matches('/')).exists() {
            kinit_phases::domain::layout::ADMIN_CONF.to_string()
        } else {
            kinit_phases::domain::layout::KUBELET_CONF.to_string()
        }
    });
    let request = commands::upgrade::UpgradeRequest {
        host_root: &host_root,
        kubeconfig: &kubeconfig,
        target: None,
        patches: patches_dir(&args.patches, &node.patches),
        timeouts: config.timeouts.clone(),
        options,
    };
    run_upgrade(
        global,
        table,
        only,
        skip,
        &request,
        union(
            &global.ignore_preflight_errors,
            &node.ignore_preflight_errors,
        ),
        dry_run,
        "upgrade node",
    )
}

#[allow(clippy::too_many_arguments)]
fn run_upgrade(
    global: &GlobalArgs,
    table: Vec<Phase<kinit_phases::workflow::UpgradeData>>,
    only: Option<String>,
    skip: Vec<String>,
    request: &commands::upgrade::UpgradeRequest<'_>,
    ignore: Vec<String>,
    dry_run: bool,
    command: &'static str,
) -> Result<i32, Exit> {
    let json = global.output == OutputFormat::Json;
    let data = commands::upgrade::prepare(request, &mut |line| {
        if !json {
            println!("{line}");
        }
    })
    .map_err(not_prepared)?;
    let warnings = data.config.warnings.clone();
    let version = data.config.version.text.clone();
    let apply = data.apply;
    let global = &GlobalArgs {
        dry_run,
        ignore_preflight_errors: Vec::new(),
        ..global.clone()
    };
    let closing = (apply && !dry_run).then(|| {
        format!("\n[upgrade] SUCCESS! A control plane node of your cluster was upgraded to {version:?}.\n\n[upgrade] Now please proceed with upgrading the rest of the nodes by following the right order.\n")
    });
    execute(
        global,
        Plan {
            table,
            only,
            skip,
            data: &data,
            warnings: &warnings,
            ignore: &ignore,
            closing,
            command,
            discovery_ms: None,
        },
    )
}
