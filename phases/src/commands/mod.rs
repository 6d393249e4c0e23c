//! The commands' work outside their phases: what `init`, `join` and `reset` prepare before their
//! phases run (their configuration; a join's discovery), and the commands beside the three flows
//! that are more than flags over a phase: `certs` (check-expiration, renew), `kubeconfig user`
//! and `token create`'s requests.

pub mod certs_commands;
pub mod init;
pub mod join;
pub mod kubeconfig_user;
pub mod reset;
pub mod token;
pub mod upgrade;

/// Why a command cannot start its phases.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The configuration (the file, the flags, or for a join the cluster's) cannot be used.
    #[error("{what}:\n  {}", .problems.join("\n  "))]
    Invalid {
        what: &'static str,
        problems: Vec<String>,
    },
    /// What the command needed before its phases could not be had (discovery, the cluster's
    /// configuration, randomness for a token).
    #[error("{0}")]
    Failed(String),
}
