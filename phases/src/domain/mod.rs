//! Pure Kubernetes knowledge: the PKI, kubeconfig files, static Pod manifests, patches, tokens, images and versions, and the node's paths. Nothing here touches the machine.

pub mod cert_upload;
pub mod component_config;
pub mod config;
pub mod images;
pub mod join_command;
pub mod kubeconfig;
pub mod layout;
pub mod manifests;
pub mod patches;
pub mod pki;
pub mod templates;
pub mod time_text;
pub mod token;
pub mod versions;
