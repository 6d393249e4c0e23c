//! API work of later phases started as soon as the session opens, so that their round trips
//! overlap instead of adding up: upload-config, upload-certs, mark-control-plane, bootstrap-token
//! and the addons depend on nothing a phase before them does in the cluster. Each phase still
//! prints its lines and reports its own outcome, in order, when its turn comes (`api::apply`,
//! `api::run_work` and `api::finish_ahead` collect the work). CoreDNS with `--patches` waits for
//! its turn, where the patches print their lines.
//!
//! Unlike kubeadm, a run that fails in one phase may therefore have applied the objects of a later
//! one; every object is applied idempotently, so the next run converges.

use crate::api::Session;
use crate::runner::{failed, PhaseContext, PhaseError};
use crate::{
    addons, bootstrap_token_phase, mark_control_plane_phase, upload_certs_phase,
    upload_config_phase,
};

pub fn start(ctx: &mut PhaseContext<'_>, session: &Session) -> Result<(), PhaseError> {
    let later: Vec<String> = ctx
        .selected
        .iter()
        .skip_while(|unit| **unit != ctx.current)
        .skip(1)
        .cloned()
        .collect();
    for unit in later {
        if unit == "mark-control-plane" {
            let (node, taints) = mark_control_plane_phase::target(ctx);
            session.start(&unit, mark_control_plane_phase::work(session, node, taints));
            continue;
        }
        if unit == "addon/coredns" {
            if let Some(addon) = addons::coredns_ahead(ctx)? {
                session.start(&unit, addons::coredns_work(session, addon));
            }
            continue;
        }
        if unit == "upload-certs" {
            if let Some(upload) = upload_certs_phase::prepare(ctx)? {
                session.start(&unit, upload_certs_phase::work(session, upload));
            }
            continue;
        }
        let objects = match unit.as_str() {
            "upload-config/kubeadm" => {
                upload_config_phase::kubeadm_config_objects(ctx.config).map_err(failed)?
            }
            "upload-config/kubelet" => upload_config_phase::kubelet_objects(ctx)?,
            "bootstrap-token" => bootstrap_token_phase::objects(ctx)?,
            "addon/kube-proxy" => match addons::kube_proxy_objects(ctx)? {
                Some((objects, _)) => objects,
                None => continue,
            },
            _ => continue,
        };
        tracing::debug!("API: {unit} started ahead ({} objects)", objects.len());
        session.start(&unit, session.apply_work(objects));
    }
    Ok(())
}
