//! `kinit config images pull`: the control-plane images pulled through the node's container
//! runtime, over its CRI socket, one line per image.

use std::path::Path;

use crate::cli::{GlobalArgs, OutputFormat};
use crate::exit::{self, Exit};
use crate::output::emit;
use crate::run_phases::load_lenient;
use kinit_phases::domain::config::defaults;
use kinit_phases::exec::cri::CriClient;
use serde_json::json;

/// The runtime's socket: the flag, else nodeRegistration.criSocket of --config, else the one
/// known socket found on the node (kubeadm's detection).
fn endpoint(global: &GlobalArgs, flag: Option<&str>, root: &Path) -> Result<String, Exit> {
    if let Some(socket) = flag {
        return Ok(socket.to_string());
    }
    if let Some(path) = &global.config {
        let file = load_lenient(path)?;
        let configured = file
            .init
            .map(|i| i.node_registration.cri_socket)
            .or(file.join.map(|j| j.node_registration.cri_socket))
            .filter(|s| !s.is_empty());
        if let Some(socket) = configured {
            return Ok(socket);
        }
    }
    defaults::cri_socket(root).map_err(Exit::usage)
}

pub fn run(global: &GlobalArgs, images: &[String], flag: Option<&str>) -> Result<i32, Exit> {
    let root = Path::new(global.rootfs.as_deref().unwrap_or("/"));
    let endpoint = endpoint(global, flag, root)?;
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
        let present = cri
            .image_present(image)
            .map_err(|e| Exit::failure(e.to_string()))?;
        let outcome = if present {
            "present"
        } else {
            if !json {
                println!("[config/images] Pulling {image}");
            }
            cri.pull(image).map_err(|e| Exit::failure(e.to_string()))?;
            "pulled"
        };
        if json {
            emit(&json!({ "event": "image", "image": image, "outcome": outcome }));
        } else if present {
            println!("[config/images] Present {image}");
        } else {
            println!("[config/images] Pulled {image}");
        }
    }
    Ok(exit::SUCCESS)
}
