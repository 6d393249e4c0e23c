//! The commands beside the three flows that are more than flags over a phase: `certs`
//! (check-expiration, renew) and `kubeconfig user`.

pub mod certs_commands;
pub mod kubeconfig_user;
