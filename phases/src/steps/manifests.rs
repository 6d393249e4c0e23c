//! `kinit init phase etcd local` and `kinit init phase control-plane <child>`: each static pod built,
//! patched from the patches folder when there is one, and written only when its bytes change.

use crate::domain::manifests::flags::EtcdPeer;
use crate::domain::manifests::{
    self, volumes::CA_CERTS_EXTRA_DIRS, Component, HostFacts, MANIFESTS_DIR, MANIFESTS_DIR_MODE,
    MANIFEST_MODE,
};
use crate::domain::patches::PatchSet;
use crate::workflow::{failed, NodeData, PhaseContext, PhaseError};

fn host_facts<D: NodeData>(
    ctx: &PhaseContext<'_, D>,
    etcd_join: Option<Vec<EtcdPeer>>,
) -> Result<HostFacts, PhaseError> {
    // Through the effects layer, so a dry run sees the CA an earlier phase would have written.
    facts_from(
        |dir| ctx.host.exists(dir),
        |path| ctx.effects.read_file(path).map(|f| f.is_some()),
        ctx.data.config(),
        etcd_join,
    )
    .map_err(failed)
}

/// What a manifest takes from the host: the CA certificate folders it has, whether the cluster CA
/// is external (its certificate without its key), and the proxy environment.
pub(crate) fn facts_from(
    exists: impl Fn(&str) -> bool,
    has_file: impl Fn(&str) -> Result<bool, String>,
    config: &crate::domain::config::resolve::InitConfig,
    etcd_join: Option<Vec<EtcdPeer>>,
) -> Result<HostFacts, String> {
    let ca_cert_dirs = CA_CERTS_EXTRA_DIRS
        .iter()
        .filter(|dir| exists(dir))
        .map(|dir| dir.to_string())
        .collect();
    let ca = |ext| manifests::flags::pki(config, &format!("ca.{ext}"));
    let external_ca = has_file(&ca("crt"))? && !has_file(&ca("key"))?;
    Ok(HostFacts {
        ca_cert_dirs,
        external_ca,
        proxy_env: manifests::proxy_env(std::env::vars()),
        etcd_join,
    })
}

/// The patches folder of the configuration, read now; its summary is printed once per run.
pub(crate) fn patch_set<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
) -> Result<Option<PatchSet>, PhaseError> {
    let Some(dir) = ctx
        .data
        .config()
        .init
        .patches
        .as_ref()
        .map(|p| p.directory.clone())
        .filter(|d| !d.is_empty())
    else {
        return Ok(None);
    };
    if let Some(loaded) = &ctx.patches {
        return Ok(Some(loaded.clone()));
    }
    let set = PatchSet::load(ctx.host, &dir).map_err(failed)?;
    for line in set.summary_lines() {
        ctx.sink.line(&line);
    }
    ctx.patches = Some(set.clone());
    Ok(Some(set))
}

/// The manifest of `component` as this run would write it: built from the configuration, then
/// patched from the patches folder when there is one.
pub(crate) fn render<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
    component: Component,
    etcd_join: Option<Vec<EtcdPeer>>,
) -> Result<String, PhaseError> {
    let name = component.name();
    let facts = host_facts(ctx, etcd_join)?;
    let mut pod = manifests::build(component, ctx.data.config(), &facts).map_err(failed)?;
    if let Some(set) = patch_set(ctx)? {
        if set.files_for(name).next().is_some() {
            let value =
                manifests::manifest_value(&pod, ctx.data.config().version.minor).map_err(failed)?;
            let (patched, lines) = set.apply(name, value).map_err(failed)?;
            for line in lines {
                ctx.sink.line(&line);
            }
            let files: Vec<&str> = set.files_for(name).map(|f| f.name.as_str()).collect();
            pod = manifests::pod_from_value(
                patched,
                &format!(
                    "the {name} manifest after the patches {} in {}",
                    files.join(", "),
                    set.dir
                ),
            )
            .map_err(failed)?;
        }
    }
    manifests::to_yaml(&pod, ctx.data.config().version.minor).map_err(failed)
}

/// `etcd_join`: the members of the cluster a joining node's etcd starts into.
fn write<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
    component: Component,
    etcd_join: Option<Vec<EtcdPeer>>,
) -> Result<Vec<String>, PhaseError> {
    let name = component.name();
    let path = component.manifest_path();
    let existed = ctx.effects.read_file(&path).map_err(failed)?.is_some();
    let tag = if component == Component::Etcd {
        "etcd"
    } else {
        "control-plane"
    };
    // The joining etcd's phase says kubeadm's line for it itself.
    if !existed && etcd_join.is_none() {
        ctx.sink.line(&match component {
            Component::Etcd => {
                format!("[etcd] Creating static Pod manifest for local etcd in {MANIFESTS_DIR:?}")
            }
            _ => format!("[control-plane] Creating static Pod manifest for {name:?}"),
        });
    }
    let text = render(ctx, component, etcd_join)?;
    ctx.effects
        .ensure_dir(MANIFESTS_DIR, MANIFESTS_DIR_MODE)
        .map_err(failed)?;
    let before = ctx.effects.changes().len();
    ctx.effects
        .write_file(&path, text.as_bytes(), MANIFEST_MODE)
        .map_err(failed)?;
    if existed {
        let changed = ctx.effects.changes().len() > before;
        ctx.sink.line(&if changed {
            let updated = ctx.wording("Updated", "Would update");
            format!("[{tag}] {updated} the static Pod manifest for {name:?}: {path}")
        } else {
            format!("[{tag}] The static Pod manifest for {name:?} is up to date: {path}")
        });
    }
    let mut warnings = Vec::new();
    if ctx
        .data
        .config()
        .cluster
        .feature_gates
        .get("RootlessControlPlane")
        .copied()
        .unwrap_or(false)
    {
        warnings.push(format!(
            "the RootlessControlPlane feature gate is not supported by kinit: {name} runs as root"
        ));
    }
    Ok(warnings)
}

/// `etcd/local`: nothing to write when the cluster uses external etcd.
pub fn run_etcd<D: NodeData>(ctx: &mut PhaseContext<'_, D>) -> Result<Vec<String>, PhaseError> {
    if manifests::local_etcd(ctx.data.config()).is_none() {
        ctx.sink
            .line("[etcd] External etcd mode: Skipping the creation of a manifest for local etcd");
        return Ok(Vec::new());
    }
    write(ctx, Component::Etcd, None)
}

/// The etcd manifest of a control-plane node joining the cluster of `members`.
pub(crate) fn write_joining_etcd<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
    members: Vec<EtcdPeer>,
) -> Result<Vec<String>, PhaseError> {
    write(ctx, Component::Etcd, Some(members))
}

/// What runs before the first control-plane manifest of a run: say where they go.
pub fn before_manifests<D>(ctx: &mut PhaseContext<'_, D>) -> Result<Vec<String>, PhaseError> {
    ctx.sink.line(&format!(
        "[control-plane] Using manifest folder {MANIFESTS_DIR:?}"
    ));
    Ok(Vec::new())
}

/// A child of `kinit init phase control-plane`: the manifest of `component`.
pub fn run_control_plane<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
    component: Component,
) -> Result<Vec<String>, PhaseError> {
    write(ctx, component, None)
}
