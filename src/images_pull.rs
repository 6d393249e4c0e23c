//! `kinit config images pull`: the control-plane images pulled through the node's container
//! runtime, over its CRI socket, one line per image.

use std::path::Path;

use crate::cli::{GlobalArgs, OutputFormat};
use crate::exit::{self, Exit};
use crate::output::emit;
use kinit_phases::domain::config::decode::ConfigFile;
use kinit_phases::domain::config::defaults;
use kinit_phases::exec::cri::{CriClient, Ensured};
use serde_json::json;

/// The runtime's socket: the flag, else nodeRegistration.criSocket of the configuration file,
/// else the one known socket found on the node (kubeadm's detection).
fn endpoint(file: Option<&ConfigFile>, flag: Option<&str>, root: &Path) -> Result<String, Exit> {
    if let Some(socket) = flag {
        return Ok(socket.to_string());
    }
    let configured = file.and_then(|f| {
        f.init
            .as_ref()
            .map(|i| i.node_registration.cri_socket.clone())
            .or(f
                .join
                .as_ref()
                .map(|j| j.node_registration.cri_socket.clone()))
            .filter(|s| !s.is_empty())
    });
    match configured {
        Some(socket) => Ok(socket),
        None => defaults::cri_socket(root).map_err(Exit::usage),
    }
}

pub fn run(
    global: &GlobalArgs,
    images: &[String],
    flag: Option<&str>,
    file: Option<&ConfigFile>,
) -> Result<i32, Exit> {
    let root = Path::new(global.rootfs.as_deref().unwrap_or("/"));
    let endpoint = endpoint(file, flag, root)?;
    let json = !matches!(global.output, OutputFormat::Text);
    if global.dry_run {
        for image in images {
            println!("[dryrun] Would pull {image} through {endpoint} unless the runtime has it");
        }
        return Ok(exit::SUCCESS);
    }
    let cri = CriClient::connect(root, &endpoint).map_err(|e| Exit::failure(e.to_string()))?;
    let runtime = cri.runtime_version();
    if !json {
        println!(
            "[config/images] Container runtime {} {} (CRI {}) at {}",
            runtime.name,
            runtime.version,
            runtime.api_version,
            cri.path()
        );
    }
    for image in images {
        let ensured = cri
            .ensure(image, || {
                if !json {
                    println!("[config/images] Pulling {image}");
                }
            })
            .map_err(|e| Exit::failure(format!("failed to pull image {image:?}: {e}")))?;
        let outcome = match ensured {
            Ensured::Present => "present",
            Ensured::Pulled => "pulled",
        };
        if json {
            emit(&json!({ "event": "image", "image": image, "outcome": outcome }));
        } else if ensured == Ensured::Present {
            println!("[config/images] Present {image}");
        } else {
            println!("[config/images] Pulled {image}");
        }
    }
    Ok(exit::SUCCESS)
}
