//! `kinit init`'s configuration: the file and flags resolved, with kubeadm's defaults for a run
//! (a token when none was given; with --upload-certs, a certificate key when none was given).

use std::path::Path;

use super::PrepareError;
use crate::domain::config::resolve::{self, InitConfig, InitFlags, InitPrinting};
use crate::domain::config::ConfigFile;

pub fn configuration(
    file: Option<&ConfigFile>,
    flags: &InitFlags,
    printing: InitPrinting,
    host_root: &Path,
) -> Result<InitConfig, PrepareError> {
    let mut config = resolve::resolve_init(file, flags, host_root).map_err(|problems| {
        PrepareError::Invalid {
            what: "invalid configuration",
            problems,
        }
    })?;
    let upload_certs = printing.upload_certs;
    config.printing = printing;
    for token in &mut config.init.bootstrap_tokens {
        if token.token.is_none() {
            token.token = Some(crate::domain::token::generate().map_err(PrepareError::Failed)?);
        }
    }
    if upload_certs && config.init.certificate_key.is_empty() {
        config.init.certificate_key =
            crate::domain::pki::keys::certificate_key().map_err(PrepareError::Failed)?;
    }
    Ok(config)
}
