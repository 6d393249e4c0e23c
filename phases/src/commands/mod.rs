//! The commands beside the three flows that are more than flags over a phase: `certs`
//! (check-expiration, renew), `kubeconfig user` and `token create`'s requests.

pub mod certs_commands;
pub mod kubeconfig_user;
pub mod token;
