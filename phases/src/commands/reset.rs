//! `kinit reset`'s configuration: the file's ResetConfiguration with the flags over it, kubeadm's
//! defaults, and kubeadm's validation.

use super::PrepareError;
use crate::domain::config::types::ResetConfiguration;
use crate::domain::config::{defaults, resolve, validate, ConfigFile};

/// The flags of `kinit reset` that the file also sets.
#[derive(Debug, Default, Clone)]
pub struct ResetFlags {
    pub cert_dir: Option<String>,
    pub cri_socket: Option<String>,
    pub force: bool,
    pub cleanup_tmp_dir: bool,
    pub ignore_preflight_errors: Vec<String>,
}

pub fn configuration(
    file: Option<&ConfigFile>,
    flags: &ResetFlags,
) -> Result<ResetConfiguration, PrepareError> {
    let mut reset = file.and_then(|f| f.reset.clone()).unwrap_or_default();
    if let Some(dir) = &flags.cert_dir {
        reset.certificates_dir = dir.clone();
    }
    if let Some(socket) = &flags.cri_socket {
        reset.cri_socket = socket.clone();
    }
    reset.force |= flags.force;
    reset.cleanup_tmp_dir |= flags.cleanup_tmp_dir;
    // The file's and the flag's names together, as kubeadm unions them.
    for name in &flags.ignore_preflight_errors {
        if !reset
            .ignore_preflight_errors
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name))
        {
            reset.ignore_preflight_errors.push(name.clone());
        }
    }
    defaults::reset(&mut reset);
    let mut findings = Vec::new();
    validate::reset(&reset, &mut findings);
    if !findings.is_empty() {
        return Err(PrepareError::Invalid {
            what: "invalid reset configuration",
            problems: resolve::finding_messages(file, findings),
        });
    }
    Ok(reset)
}
