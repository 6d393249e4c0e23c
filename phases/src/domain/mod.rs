//! Pure Kubernetes knowledge: the PKI, kubeconfig files, static Pod manifests, patches, tokens, images and versions, and the node's paths. Nothing here touches the machine.

pub(crate) mod cert_upload;
pub(crate) mod component_config;
pub mod config;
pub mod images;
pub mod join_command;
pub mod kubeconfig;
pub mod layout;
pub(crate) mod manifests;
pub(crate) mod patches;
pub mod pki;
pub(crate) mod templates;
pub mod time_text;
pub mod token;
pub mod upgrade;
pub mod versions;
