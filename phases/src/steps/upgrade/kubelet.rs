//! The kubelet's side of an upgrade: its config.yaml from the cluster's configuration, and the
//! move of the CRI socket from kubeadm-flags.env and the Node's annotation to
//! instance-config.yaml when the target version has `NodeLocalCRISocket` (1.34), as kubeadm does.

use serde_json::json;

use crate::domain::layout::{KUBELET_CONFIG, KUBELET_FLAGS_ENV, KUBELET_INSTANCE_CONFIG, TMP_DIR};
use crate::steps::kubelet::{flags_env, node_local_cri_socket};
use crate::steps::upload_config::{self, CRI_SOCKET_ANNOTATION};
use crate::workflow::cluster;
use crate::workflow::{failed, NodeData, PhaseContext, PhaseError, UpgradeData};

/// The mode kubeadm gives the kubelet's files.
const FILE_MODE: u32 = 0o644;

/// `kubelet-config`: the kubelet's configuration for the target version. The kubelet is not
/// restarted, as with kubeadm.
pub fn kubelet_config(ctx: &mut PhaseContext<'_, UpgradeData>) -> Result<Vec<String>, PhaseError> {
    let node_local = node_local_cri_socket(ctx.data.config());
    if node_local {
        move_cri_socket_to_instance_config(ctx)?;
    }
    let warnings = write_config(ctx)?;
    if node_local {
        remove_cri_socket_annotation(ctx)?;
    }
    ctx.sink.line(
        "[upgrade/kubelet-config] The kubelet configuration for this node was successfully upgraded!",
    );
    Ok(warnings)
}

/// `upload-config kubelet` of `upgrade apply`: init's, and with `NodeLocalCRISocket` the Node's
/// CRI socket annotation removed, as kubeadm's.
pub fn upload_kubelet(ctx: &mut PhaseContext<'_, UpgradeData>) -> Result<Vec<String>, PhaseError> {
    let warnings = upload_config::run_kubelet(ctx)?;
    if node_local_cri_socket(ctx.data.config()) {
        remove_cri_socket_annotation(ctx)?;
    }
    Ok(warnings)
}

fn remove_cri_socket_annotation(ctx: &mut PhaseContext<'_, UpgradeData>) -> Result<(), PhaseError> {
    let node = ctx.data.config().init.node_registration.name.clone();
    let patch = json!({"metadata": {"annotations": {CRI_SOCKET_ANNOTATION: null}}});
    let what = format!("remove the annotation {CRI_SOCKET_ANNOTATION} from Node {node}");
    cluster::patch_node(ctx, &node, &what, &patch)
}

/// A node made before `NodeLocalCRISocket` names its CRI socket in kubeadm-flags.env: as kubeadm's
/// upgrade, the flag leaves that file for instance-config.yaml (when that file is not there yet).
fn move_cri_socket_to_instance_config(
    ctx: &mut PhaseContext<'_, UpgradeData>,
) -> Result<(), PhaseError> {
    if ctx
        .effects
        .read_file(KUBELET_INSTANCE_CONFIG)
        .map_err(failed)?
        .is_some()
    {
        return Ok(());
    }
    let flags = ctx.effects.read_file(KUBELET_FLAGS_ENV).map_err(failed)?;
    let text = flags
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let quoted = text
        .split_once('"')
        .and_then(|(_, rest)| rest.rsplit_once('"'))
        .map_or("", |(inside, _)| inside);
    let mut endpoint = None;
    let mut kept = Vec::new();
    for arg in quoted.split_whitespace() {
        match arg.strip_prefix("--container-runtime-endpoint=") {
            Some(value) => endpoint = Some(value.to_string()),
            None => kept.push(arg.to_string()),
        }
    }
    if endpoint.is_some() {
        ctx.effects
            .write_file(
                KUBELET_FLAGS_ENV,
                flags_env::render(&kept).as_bytes(),
                FILE_MODE,
            )
            .map_err(failed)?;
    }
    // Without the flag, the socket this node was found to use (kubeadm stops there).
    let endpoint = endpoint.unwrap_or_else(|| {
        flags_env::runtime_endpoint(&ctx.data.config().init.node_registration.cri_socket)
    });
    ctx.sink.line(&format!(
        "[upgrade/kubelet-config] Writing kubelet configuration to file {KUBELET_INSTANCE_CONFIG:?}"
    ));
    let instance = format!(
        "containerRuntimeEndpoint: {}\n",
        flags_env::go_quote(&endpoint)
    );
    ctx.effects
        .write_file(KUBELET_INSTANCE_CONFIG, instance.as_bytes(), FILE_MODE)
        .map_err(failed)
}

/// The kubelet's config.yaml written again from the cluster's configuration, the old one kept in
/// /etc/kubernetes/tmp first; left alone when it is already that.
fn write_config(ctx: &mut PhaseContext<'_, UpgradeData>) -> Result<Vec<String>, PhaseError> {
    let backup_dir = format!("{TMP_DIR}/kubeadm-kubelet-config-{}", std::process::id());
    let old = ctx.effects.read_file(KUBELET_CONFIG).map_err(failed)?;
    let (mut value, warnings) = crate::steps::kubelet::kubelet_configuration(ctx)?;
    if crate::steps::kubelet::node_local_cri_socket(ctx.data.config()) {
        let socket = &ctx.data.config().init.node_registration.cri_socket;
        if let Some(object) = value.as_object_mut() {
            object.insert(
                "containerRuntimeEndpoint".into(),
                crate::steps::kubelet::flags_env::runtime_endpoint(socket).into(),
            );
        }
    }
    let text = crate::domain::config::to_yaml(&value).map_err(failed)?;
    if old.as_deref() == Some(text.as_bytes()) {
        // A re-run after the upgrade: nothing to back up or write.
        ctx.sink.line(&format!(
            "[upgrade/kubelet-config] {KUBELET_CONFIG} is already the configuration of this version"
        ));
        return Ok(warnings);
    }
    if let Some(old) = &old {
        ctx.effects.ensure_dir(TMP_DIR, 0o700).map_err(failed)?;
        ctx.effects.ensure_dir(&backup_dir, 0o700).map_err(failed)?;
        let backup = format!("{backup_dir}/config.yaml");
        ctx.sink.line(&format!(
            "[upgrade] Backing up kubelet config file to {backup}"
        ));
        ctx.effects
            .write_file(&backup, old, FILE_MODE)
            .map_err(|e| failed(format!("error backing up the kubelet config file: {e}")))?;
    }
    ctx.sink.line(&format!(
        "[kubelet-start] Writing kubelet configuration to file {KUBELET_CONFIG:?}"
    ));
    ctx.effects
        .write_file(KUBELET_CONFIG, text.as_bytes(), FILE_MODE)
        .map_err(failed)?;
    Ok(warnings)
}
