//! Why a check did not pass: its severity, the message, the remedy and, when one is safe, the fix.

use crate::fix::Fix;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// Why a check did not pass, and what a person can do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub severity: Severity,
    pub message: String,
    pub remedy: String,
    pub fix: Option<Fix>,
}

impl Failure {
    pub fn error(message: impl Into<String>, remedy: impl Into<String>) -> Self {
        Failure {
            severity: Severity::Error,
            message: message.into(),
            remedy: remedy.into(),
            fix: None,
        }
    }
    pub fn warning(message: impl Into<String>, remedy: impl Into<String>) -> Self {
        Failure {
            severity: Severity::Warning,
            message: message.into(),
            remedy: remedy.into(),
            fix: None,
        }
    }
    pub fn with_fix(mut self, fix: Fix) -> Self {
        self.fix = Some(fix);
        self
    }
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }
}
