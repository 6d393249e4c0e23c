//! `kinit upgrade plan` and `diff`: what the cluster can be upgraded to, printed as kubeadm prints
//! it (two tables per upgrade, then the component configurations) or as kubeadm's UpgradePlan
//! object; and what an upgrade would change in this node's manifests.

use crate::cli::{GlobalArgs, OutputFormat, UpgradeDiffArgs, UpgradePlanArgs};
use crate::exit::{self, Exit};
use crate::run_phases::root;
use crate::tabwriter::align;
use kinit_phases::commands::upgrade::{diff, plan, DiffRequest, ManifestDiff, PlanRequest};
use kinit_phases::domain::upgrade::plan::{AvailableUpgrade, UpgradePlan};
use kinit_phases::domain::versions::parse_kubernetes_version;

const SEPARATOR: &str = "_____________________________________________________________________\n\n";

pub fn run_plan(global: &GlobalArgs, args: &UpgradePlanArgs) -> Result<i32, Exit> {
    let common = &args.common;
    let owned = crate::run_phases::given_flags(&[
        (common.etcd_upgrade.is_some(), "etcd-upgrade"),
        (
            common.allow_experimental_upgrades,
            "allow-experimental-upgrades",
        ),
        (
            common.allow_release_candidate_upgrades,
            "allow-release-candidate-upgrades",
        ),
        (common.print_config, "print-config"),
    ]);
    let config = crate::run_phases::upgrade_configuration(global, &owned)?;
    let file = &config.plan;
    let text = global.output == OutputFormat::Text;
    let target = args
        .version
        .clone()
        .or_else(|| Some(file.kubernetes_version.clone()).filter(|v| !v.is_empty()));
    let request = PlanRequest {
        host_root: &root(global),
        kubeconfig: &common.kubeconfig,
        target,
        allow_experimental: common.allow_experimental_upgrades
            || file.allow_experimental_upgrades.unwrap_or(false),
        allow_rc: common.allow_release_candidate_upgrades
            || file.allow_rc_upgrades.unwrap_or(false),
        etcd_upgrade: common.etcd_upgrade.or(file.etcd_upgrade).unwrap_or(true),
        ignore: crate::run_phases::union(
            &global.ignore_preflight_errors,
            &file.ignore_preflight_errors,
        ),
        call_limit: config
            .timeouts
            .as_ref()
            .and_then(|t| t.kubernetes_api_call)
            .map_or(kinit_phases::exec::api::DEFAULT_CALL_LIMIT, |d| d.0),
    };
    let found = plan(
        &request,
        &mut |line| {
            if text {
                println!("{line}");
            }
        },
        &mut |warning| eprintln!("{warning}"),
    )
    .map_err(|e| Exit::failure(e.to_string()))?;
    // As kubeadm: an up-to-date cluster prints nothing more, in any format.
    if found.available_upgrades.is_empty() {
        return Ok(exit::SUCCESS);
    }
    match global.output {
        OutputFormat::Text => print!("{}", render(&found)),
        OutputFormat::Json => {
            let mut out = Vec::new();
            let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
            serde::Serialize::serialize(&found, &mut serializer)
                .map_err(|e| Exit::failure(e.to_string()))?;
            println!("{}", String::from_utf8_lossy(&out));
        }
        OutputFormat::Yaml => {
            let value = serde_json::to_value(&found).map_err(|e| Exit::failure(e.to_string()))?;
            print!(
                "{}",
                kinit_phases::domain::config::to_yaml(&value).map_err(Exit::failure)?
            );
        }
    }
    Ok(exit::SUCCESS)
}

/// kubeadm's text: per upgrade, the kubelets' table and the control plane's, then the component
/// configurations.
pub fn render(plan: &UpgradePlan) -> String {
    let mut out = String::new();
    for upgrade in &plan.available_upgrades {
        out.push_str(&render_upgrade(upgrade));
    }
    out.push('\n');
    out.push_str("The table below shows the current state of component configs as understood by this version of kubeadm.\n");
    out.push_str("Configs that have a \"yes\" mark in the \"MANUAL UPGRADE REQUIRED\" column require manual config upgrade or\n");
    out.push_str("resetting to kubeadm defaults before a successful upgrade can be performed. The version to manually\n");
    out.push_str("upgrade to is denoted in the \"PREFERRED VERSION\" column.\n\n");
    let mut table =
        String::from("API GROUP\tCURRENT VERSION\tPREFERRED VERSION\tMANUAL UPGRADE REQUIRED\n");
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    for state in &plan.config_versions {
        table.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            state.group,
            dash(&state.current_version),
            dash(&state.preferred_version),
            if state.manual_upgrade_required {
                "yes"
            } else {
                "no"
            }
        ));
    }
    out.push_str(&align(&table));
    out.push_str(SEPARATOR);
    out
}

fn render_upgrade(upgrade: &AvailableUpgrade) -> String {
    let header = "COMPONENT\tNODE\tCURRENT\tTARGET\n";
    let row = |c: &kinit_phases::domain::upgrade::plan::ComponentUpgrade| {
        format!(
            "{}\t{}\t{}\t{}\n",
            c.name, c.node_name, c.current_version, c.new_version
        )
    };
    let find = |name: &str| upgrade.components.iter().find(|c| c.name == name);
    let kube_version = find("kube-apiserver")
        .map(|c| c.new_version.clone())
        .unwrap_or_default();
    let (kubeadm_before, kubeadm_after) = find("kubeadm")
        .map(|c| (c.current_version.clone(), c.new_version.clone()))
        .unwrap_or_default();
    let flag = match parse_kubernetes_version(&kube_version) {
        Ok(v) if v.pre_release().starts_with("rc") => " --allow-release-candidate-upgrades",
        Ok(v) if !v.pre_release().is_empty() => " --allow-experimental-upgrades",
        _ => "",
    };
    let mut out = String::from("Components that must be upgraded manually after you have upgraded the control plane with 'kinit upgrade apply':\n");
    let mut kubelets = header.to_string();
    for c in upgrade.components.iter().filter(|c| c.name == "kubelet") {
        kubelets.push_str(&row(c));
    }
    out.push_str(&align(&kubelets));
    out.push_str(&format!(
        "\nUpgrade to the latest {}:\n\n",
        upgrade.description
    ));
    let mut rest = header.to_string();
    for c in upgrade
        .components
        .iter()
        .filter(|c| c.name != "kubelet" && c.name != "kubeadm")
    {
        rest.push_str(&row(c));
    }
    out.push_str(&align(&rest));
    out.push_str("\nYou can now apply the upgrade by executing the following command:\n\n");
    out.push_str(&format!("\tkinit upgrade apply {kube_version}{flag}\n\n"));
    if kubeadm_before != kubeadm_after {
        out.push_str(&format!(
            "Note: Before you can perform this upgrade, you have to update kinit to {kubeadm_after}.\n\n"
        ));
    }
    out.push_str(SEPARATOR);
    out
}

/// `kinit upgrade diff [version]`: each control-plane manifest of this node against the one the
/// version gives, as kubeadm's unified diff (`--- <file>` / `+++ new manifest`).
pub fn run_diff(global: &GlobalArgs, args: &UpgradeDiffArgs) -> Result<i32, Exit> {
    let config = crate::run_phases::upgrade_configuration(global, &[])?;
    let file = &config.diff;
    let target = args
        .version
        .clone()
        .or_else(|| Some(file.kubernetes_version.clone()).filter(|v| !v.is_empty()));
    let context = args.context_lines.unwrap_or(match file.context_lines {
        n if n > 0 => n as usize,
        _ => 3,
    });
    let request = DiffRequest {
        host_root: &root(global),
        kubeconfig: &args.kubeconfig,
        target,
        manifests: [
            args.api_server_manifest.clone(),
            args.controller_manager_manifest.clone(),
            args.scheduler_manifest.clone(),
        ],
        call_limit: config
            .timeouts
            .as_ref()
            .and_then(|t| t.kubernetes_api_call)
            .map_or(kinit_phases::exec::api::DEFAULT_CALL_LIMIT, |d| d.0),
    };
    let diffs =
        diff(&request, &mut |line| println!("{line}")).map_err(|e| Exit::failure(e.to_string()))?;
    for manifest in diffs {
        print!("{}", unified(&manifest, context));
    }
    Ok(0)
}

/// One manifest's unified diff, empty when nothing changes.
fn unified(manifest: &ManifestDiff, context: usize) -> String {
    similar::TextDiff::from_lines(&manifest.current, &manifest.new)
        .unified_diff()
        .context_radius(context)
        .header(&manifest.path, "new manifest")
        .to_string()
}
