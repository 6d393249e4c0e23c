//! `kinit certs generate-csr`: keys and certificate signing requests for an external CA, as
//! kubeadm's: every leaf certificate of its list (`<base>.key` and `<base>.csr` in the
//! certificates folder) and every kubeconfig file, holding its client key and neither CA nor
//! certificate, with `<file>.csr` beside it. Nothing is written when any of them exists.

use super::Dirs;
use crate::domain::config::resolve::InitConfig;
use crate::domain::kubeconfig::{base64, Cluster, Kubeconfig, User};
use crate::domain::pki::cert::CertProfile;
use crate::domain::pki::keys::{self, KeyAlgorithm};
use crate::domain::pki::{csr, table};
use crate::exec::effects::Effects;
use crate::steps::certs::path;
use crate::steps::kubeconfig;

/// kubeadm writes keys, CSRs and kubeconfig files readable by root alone.
const MODE: u32 = 0o600;

/// The files generate-csr writes, each with its bytes.
struct Planned {
    path: String,
    content: Vec<u8>,
}

/// Writes the keys, CSRs and kubeconfig files through `effects`, `say`ing kubeadm's lines (the
/// folder, then each certificate's base name or kubeconfig file).
pub fn generate(
    config: &InitConfig,
    dirs: &Dirs,
    effects: &mut dyn Effects,
    say: &mut dyn FnMut(&str),
) -> Result<(), String> {
    let algorithm = KeyAlgorithm::parse(&config.cluster.encryption_algorithm)?;
    let mut planned = Vec::new();
    let mut cert_names = Vec::new();
    for spec in leaf_certificates(config)? {
        let key = algorithm.generate()?;
        let request = csr::build(&spec.profile, &key)?;
        planned.push(Planned {
            path: path(&dirs.cert_dir, spec.base, "key"),
            content: keys::private_key_pem(&key)?,
        });
        planned.push(Planned {
            path: path(&dirs.cert_dir, spec.base, "csr"),
            content: csr::to_pem(&request)?,
        });
        cert_names.push(spec.base);
    }
    let mut kubeconfig_names = Vec::new();
    // kubeadm's generate-csr takes the files as its init would write them without the kubelet's
    // local mode (which its init applies in the kubeconfig phase alone): kubelet.conf names the
    // control-plane endpoint.
    let cluster_wide = kubeconfig::control_plane_endpoint(config);
    for mut spec in kubeconfig::specs(config) {
        if spec.file == crate::domain::layout::KUBELET_CONF_FILE {
            spec.server = cluster_wide.clone();
        }
        let key = algorithm.generate()?;
        let profile = CertProfile {
            common_name: spec.user.clone(),
            organizations: spec.organizations.clone(),
            dns_names: Vec::new(),
            ips: Vec::new(),
            usages: Vec::new(),
            is_ca: false,
        };
        let request = csr::build(&profile, &key)?;
        let file = Kubeconfig::single(
            &config.cluster.cluster_name,
            Cluster {
                server: spec.server.clone(),
                ..Default::default()
            },
            &spec.user,
            User {
                client_key_data: Some(base64(&keys::private_key_pem(&key)?)),
                ..Default::default()
            },
        );
        let kubeconfig_path = dirs.kubeconfig(spec.file);
        planned.push(Planned {
            path: format!("{kubeconfig_path}.csr"),
            content: csr::to_pem(&request)?,
        });
        planned.push(Planned {
            path: kubeconfig_path,
            content: file.to_yaml()?.into_bytes(),
        });
        kubeconfig_names.push(spec.file);
    }
    // Every file is checked before the first is written: a key or CSR already there may be the
    // one an external CA is signing, so nothing is replaced and nothing half-made is left.
    let present: Vec<&str> = planned
        .iter()
        .map(|p| p.path.as_str())
        .filter(|p| effects.read_file(p).is_ok_and(|f| f.is_some()))
        .collect();
    if !present.is_empty() {
        return Err(format!(
            "nothing was written: these files already exist (move them away to make new keys and CSRs):\n  {}",
            present.join("\n  ")
        ));
    }
    for file in &planned {
        effects.write_file(&file.path, &file.content, MODE)?;
    }
    effects.commit()?;
    say(&format!("generating keys and CSRs in {}", dirs.cert_dir));
    for name in cert_names {
        say(&format!("  {name}"));
    }
    say(&format!(
        "generating keys and CSRs in {}",
        dirs.kubeconfig_dir
    ));
    for name in kubeconfig_names {
        say(&format!("  {name}"));
    }
    Ok(())
}

/// kubeadm's leaf certificates: its whole list (the etcd ones too, even with external etcd, as
/// kubeadm's generate-csr makes them) without the CAs.
fn leaf_certificates(config: &InitConfig) -> Result<Vec<table::CertSpec>, String> {
    let mut whole = config.clone();
    whole.cluster.etcd.external = None;
    let (specs, _) = table::certificates(&whole)?;
    Ok(specs.into_iter().filter(|s| s.ca.is_some()).collect())
}
