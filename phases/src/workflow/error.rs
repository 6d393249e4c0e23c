//! How a phase fails: the kind decides the exit code, the text is what the person reads.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhaseError {
    #[error("{0}")]
    Failed(String),
    /// Preflight found errors that were not ignored; the text lists them as kubeadm does.
    #[error("{0}")]
    PreflightFailed(String),
    /// A wait ran out of time; the text is the diagnosis.
    #[error("{0}")]
    TimedOut(String),
}

/// A phase failure from any error message.
pub fn failed(e: impl ToString) -> PhaseError {
    PhaseError::Failed(e.to_string())
}
