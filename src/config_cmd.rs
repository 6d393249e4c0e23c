//! `kinit config`: print defaults, validate a file, migrate it to v1beta4, list and pull images.

use crate::cli::{
    ConfigCommand, GlobalArgs, ImagesArgs, ImagesCommand, OutputFormat, PrintCommand,
};
use crate::exit::{self, Exit};
use crate::output::emit;
use crate::run_phases::load_lenient;
use kinit_phases::domain::config::decode::ConfigFile;
use kinit_phases::domain::config::{self, defaults, resolve, to_yaml};
use kinit_phases::domain::images::images;
use kinit_phases::domain::versions;
use serde::Serialize;
use serde_json::json;

const API_VERSION: &str = "kubeadm.k8s.io/v1beta4";

/// One kind as a YAML document with its apiVersion and kind first, as kubeadm writes them (keys sorted).
fn document<T: Serialize>(kind: &str, value: &T) -> Result<String, Exit> {
    let mut json = serde_json::to_value(value).map_err(|e| Exit::failure(e.to_string()))?;
    json["apiVersion"] = json!(API_VERSION);
    json["kind"] = json!(kind);
    to_yaml(&json).map_err(Exit::failure)
}

pub fn run(global: &GlobalArgs, command: &ConfigCommand) -> Result<i32, Exit> {
    match command {
        ConfigCommand::Print(what) => {
            let text = match what {
                PrintCommand::InitDefaults => {
                    let (init, cluster) = resolve::init_defaults();
                    format!(
                        "{}---\n{}",
                        document("InitConfiguration", &init)?,
                        document("ClusterConfiguration", &cluster)?
                    )
                }
                PrintCommand::JoinDefaults => {
                    let name = defaults::node_name().unwrap_or_else(|_| "node".into());
                    document("JoinConfiguration", &resolve::join_defaults(&name))?
                }
                PrintCommand::ResetDefaults => {
                    document("ResetConfiguration", &resolve::reset_defaults())?
                }
            };
            print!("{text}");
            Ok(exit::SUCCESS)
        }
        ConfigCommand::Validate => validate(global),
        ConfigCommand::Migrate {
            old_config,
            new_config,
        } => migrate(old_config, new_config.as_deref()),
        ConfigCommand::Images(ImagesCommand::List(which)) => {
            let list = image_list(config_file(global)?.as_ref(), which)?;
            match global.output {
                OutputFormat::Json | OutputFormat::Yaml => emit(
                    &json!({ "kind": "Images", "apiVersion": "output.kubeadm.k8s.io/v1alpha3", "images": list }),
                ),
                OutputFormat::Text => list.iter().for_each(|image| println!("{image}")),
            }
            Ok(exit::SUCCESS)
        }
        ConfigCommand::Images(ImagesCommand::Pull { images, cri_socket }) => {
            let file = config_file(global)?;
            let list = image_list(file.as_ref(), images)?;
            crate::images_pull::run(global, &list, cri_socket.as_deref(), file.as_ref())
        }
    }
}

/// The file of --config, read leniently, when one is given.
fn config_file(global: &GlobalArgs) -> Result<Option<ConfigFile>, Exit> {
    global.config.as_deref().map(load_lenient).transpose()
}

/// The images of `config images list`: the control plane's for the version and registry that
/// the flags, else the configuration file, else the defaults name.
fn image_list(file: Option<&ConfigFile>, which: &ImagesArgs) -> Result<Vec<String>, Exit> {
    let ImagesArgs {
        kubernetes_version,
        image_repository,
    } = which;
    let mut cluster = file.and_then(|f| f.cluster.clone()).unwrap_or_default();
    if let Some(v) = kubernetes_version {
        cluster.kubernetes_version = v.clone();
    }
    if let Some(repo) = image_repository {
        cluster.image_repository = repo.clone();
    }
    defaults::cluster(&mut cluster);
    let version =
        versions::parse_kubernetes_version(&cluster.kubernetes_version).map_err(Exit::failure)?;
    if let Some(warning) = versions::row_for(version.minor).1 {
        eprintln!("W: {warning}");
    }
    Ok(images(&cluster, &version))
}

fn validate(global: &GlobalArgs) -> Result<i32, Exit> {
    let path = global
        .config
        .as_deref()
        .ok_or_else(|| Exit::usage("kinit config validate needs --config FILE"))?;
    let text = config::read_source(path).map_err(Exit::failure)?;
    let (file, problems) = config::validate_text(&text);
    let valid = problems.is_empty();
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => emit(
            &json!({ "file": path, "valid": valid, "problems": problems, "notices": file.notices }),
        ),
        OutputFormat::Text => {
            for notice in &file.notices {
                eprintln!("W: {path}: {notice}");
            }
            if valid {
                println!("ok: {path} is a valid configuration");
            } else {
                eprintln!("{path}: {} problem(s):", problems.len());
                for problem in &problems {
                    eprintln!("  {path}: {problem}");
                }
            }
        }
    }
    Ok(if valid { exit::SUCCESS } else { exit::FAILURE })
}

fn migrate(old: &str, new: Option<&str>) -> Result<i32, Exit> {
    let text = config::read_source(old).map_err(Exit::failure)?;
    let (file, problems) = config::validate_text(&text);
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(|p| format!("  {old}: {p}")).collect();
        return Err(Exit::failure(format!(
            "cannot migrate {old}:\n{}",
            lines.join("\n")
        )));
    }
    let mut documents = Vec::new();
    if file.init.is_some() || file.cluster.is_some() {
        let mut init = file.init.clone().unwrap_or_default();
        let mut cluster = file.cluster.clone().unwrap_or_default();
        defaults::init(&mut init);
        defaults::cluster(&mut cluster);
        documents.push(document("InitConfiguration", &init)?);
        documents.push(document("ClusterConfiguration", &cluster)?);
    }
    if let Some(join) = &file.join {
        let mut join = join.clone();
        defaults::join(&mut join);
        documents.push(document("JoinConfiguration", &join)?);
    }
    if let Some(reset) = &file.reset {
        let mut reset = reset.clone();
        defaults::reset(&mut reset);
        documents.push(document("ResetConfiguration", &reset)?);
    }
    let output = documents.join("---\n");
    match new {
        None => print!("{output}"),
        Some(path) => {
            let mut effects = kinit_phases::exec::effects::HostEffects::new("/");
            let absolute = std::path::absolute(path)
                .map_err(|e| Exit::failure(format!("cannot resolve {path}: {e}")))?;
            kinit_phases::exec::effects::Effects::write_file(
                &mut effects,
                &absolute.to_string_lossy(),
                output.as_bytes(),
                0o644,
            )
            .map_err(Exit::failure)?;
            kinit_phases::exec::effects::Effects::commit(&mut effects).map_err(Exit::failure)?;
        }
    }
    Ok(exit::SUCCESS)
}
