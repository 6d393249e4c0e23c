//! `kinit init phase kubelet-start`: the kubelet's files (config.yaml, kubeadm-flags.env and, when
//! no package installed one, its systemd drop-in), written between stopping and starting it.

pub(crate) mod config;
pub(crate) mod flags_env;
pub(crate) mod service;
pub(crate) mod systemd_files;

use crate::steps::manifests::patch_set;
use crate::workflow::{failed, NodeData, PhaseContext, PhaseError};
use kinit_preflight::ServiceState;
use serde_json::Value;
use service::ServiceManager;

pub use crate::domain::layout::KUBELET_DIR;
/// The kubelet keeps its client keys below here.
pub const KUBELET_DIR_MODE: u32 = 0o700;
pub use crate::domain::layout::KUBELET_CONFIG;
pub use crate::domain::layout::KUBELET_FLAGS_ENV;
/// This node's own part of the kubelet's configuration (NodeLocalCRISocket): its CRI endpoint.
pub use crate::domain::layout::KUBELET_INSTANCE_CONFIG;
pub const FILE_MODE: u32 = 0o644;
const SERVICE: &str = "kubelet";
const PATCH_TARGET: &str = "kubeletconfiguration";

/// Whether the CRI endpoint is this node's own file (`instance-config.yaml`, merged into config.yaml)
/// rather than a kubelet flag and a Node annotation: kubeadm's `NodeLocalCRISocket` gate, on by default
/// from 1.34; the gate in the configuration decides.
pub fn node_local_cri_socket(config: &crate::domain::config::resolve::InitConfig) -> bool {
    config
        .cluster
        .feature_gates
        .get("NodeLocalCRISocket")
        .copied()
        .unwrap_or(config.version.minor >= 34)
}

/// The KubeletConfiguration as it will be written: defaults, the user's document, then the
/// `kubeletconfiguration` patches. Also kubeadm's warnings about the user's values.
/// What the kubelet's configuration depends on beyond kinit's own.
pub fn host_facts(host: &dyn kinit_preflight::Host) -> config::HostFacts {
    config::HostFacts {
        resolved_active: host.service("systemd-resolved") == ServiceState::Enabled { active: true },
    }
}

pub fn kubelet_configuration<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
) -> Result<(Value, Vec<String>), PhaseError> {
    let (mut value, warnings) = config::build(ctx.data.config(), host_facts(ctx.host));
    if let Some(set) = patch_set(ctx)? {
        if set.files_for(PATCH_TARGET).next().is_some() {
            let (patched, lines) = set.apply(PATCH_TARGET, value).map_err(failed)?;
            for line in lines {
                ctx.sink.line(&line);
            }
            if !patched.is_object() {
                return Err(failed(format!(
                    "the {PATCH_TARGET} patches in {} leave no KubeletConfiguration object",
                    set.dir
                )));
            }
            value = patched;
        }
    }
    Ok((value, warnings))
}

/// The hostname the kubelet would register under by itself.
fn hostname() -> String {
    crate::domain::config::defaults::node_name().unwrap_or_default()
}

/// What a person must run when kinit cannot start the kubelet itself.
fn manual_start(args: &[String]) -> String {
    format!(
        "kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf --config={KUBELET_CONFIG} {}",
        args.join(" ")
    )
}

pub fn run_init<D: NodeData>(ctx: &mut PhaseContext<'_, D>) -> Result<Vec<String>, PhaseError> {
    write_and_start(ctx, &[])
}

/// Stops the kubelet, writes its config.yaml and flags (with `register_with_taints`, a joining
/// worker's own taints) and starts it again.
pub fn write_and_start<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
    register_with_taints: &[crate::domain::config::types::Taint],
) -> Result<Vec<String>, PhaseError> {
    let (mut value, mut warnings) = kubelet_configuration(ctx)?;
    for warning in &warnings {
        ctx.sink
            .line(&format!("[kubelet-start] WARNING: {warning}"));
    }
    // The node's CRI endpoint overrides whatever the cluster-wide configuration says, as kubeadm's
    // patch of config.yaml with instance-config.yaml does.
    let instance_endpoint = node_local_cri_socket(ctx.data.config())
        .then(|| flags_env::runtime_endpoint(&ctx.data.config().init.node_registration.cri_socket));
    if let (Some(endpoint), Some(object)) = (&instance_endpoint, value.as_object_mut()) {
        object.insert("containerRuntimeEndpoint".into(), endpoint.clone().into());
    }
    let config_text = crate::domain::config::to_yaml(&value).map_err(failed)?;
    let args = flags_env::args(ctx.data.config(), &hostname(), register_with_taints);
    let env_text = flags_env::render(&args);

    let manager = ServiceManager::detect(ctx.host);
    // The kubelet must not read half-updated files; a kubelet that is not running is fine.
    if let (ServiceManager::Systemd, Err(e)) = (&manager, manager.stop(ctx.effects, SERVICE)) {
        let warning = format!("unable to stop the kubelet service momentarily: {e}");
        ctx.sink
            .line(&format!("[kubelet-start] WARNING: {warning}"));
        warnings.push(warning);
    }

    ctx.effects
        .ensure_dir(KUBELET_DIR, KUBELET_DIR_MODE)
        .map_err(failed)?;
    ctx.sink.line(&format!(
        "[kubelet-start] Writing kubelet environment file with flags to file {KUBELET_FLAGS_ENV:?}"
    ));
    ctx.effects
        .write_file(KUBELET_FLAGS_ENV, env_text.as_bytes(), FILE_MODE)
        .map_err(failed)?;
    if let Some(endpoint) = &instance_endpoint {
        ctx.sink.line(&format!(
            "[kubelet-start] Writing kubelet configuration to file {KUBELET_INSTANCE_CONFIG:?}"
        ));
        let text = format!(
            "containerRuntimeEndpoint: {}\n",
            flags_env::go_quote(endpoint)
        );
        ctx.effects
            .write_file(KUBELET_INSTANCE_CONFIG, text.as_bytes(), FILE_MODE)
            .map_err(failed)?;
    }
    ctx.sink.line(&format!(
        "[kubelet-start] Writing kubelet configuration to file {KUBELET_CONFIG:?}"
    ));
    ctx.effects
        .write_file(KUBELET_CONFIG, config_text.as_bytes(), FILE_MODE)
        .map_err(failed)?;

    // Without a unit systemd cannot start the kubelet at all; one kinit writes is also enabled, as a
    // package's postinst would, so the kubelet comes back after a reboot.
    let kubelet = systemd_files::kubelet_binary(ctx.host);
    let unit_written = write_if_missing(ctx, &systemd_files::UNIT, &kubelet)?;
    write_if_missing(ctx, &systemd_files::DROPIN, &kubelet)?;

    ctx.sink.line("[kubelet-start] Starting the kubelet");
    if let Err(why) = manager.start(ctx.effects, SERVICE) {
        let warning = match manager {
            ServiceManager::Systemd => format!("unable to start the kubelet service: {why}"),
            ServiceManager::Unmanaged(_) => format!("kinit could not manage the kubelet: {why}"),
        };
        ctx.sink
            .line(&format!("[kubelet-start] WARNING: {warning}"));
        ctx.sink.line(&format!(
            "[kubelet-start] Start the kubelet yourself and keep it running, for example:\n  {}",
            manual_start(&args)
        ));
        warnings.push(warning);
    } else if unit_written {
        if let Err(why) = manager.enable(ctx.effects, SERVICE) {
            let warning = format!("the kubelet will not start at boot: {why}");
            ctx.sink
                .line(&format!("[kubelet-start] WARNING: {warning}"));
            warnings.push(warning);
        }
    }
    Ok(warnings)
}

/// Writes `file` when none is installed; whether it did.
fn write_if_missing<D>(
    ctx: &mut PhaseContext<'_, D>,
    file: &systemd_files::SystemdFile,
    kubelet: &str,
) -> Result<bool, PhaseError> {
    if let Some(path) = file.installed(ctx.host) {
        tracing::debug!(%path, "{} is installed; kinit leaves it", file.name);
        return Ok(false);
    }
    let text = file.render(kubelet).map_err(failed)?;
    let doing = ctx.wording("writing", "would write");
    ctx.sink.line(&format!(
        "[kubelet-start] {}; {doing} {}",
        file.missing, file.path
    ));
    ctx.effects
        .write_file(file.path, text.as_bytes(), systemd_files::MODE)
        .map_err(failed)?;
    Ok(true)
}
