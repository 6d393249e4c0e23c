//! A problem found in a configuration file, named by document kind, field path and line.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Problem {
    Syntax,
    UnsupportedApi,
    MissingKind,
    UnknownKind,
    DuplicateKind,
    UnknownField,
    DuplicateField,
    WrongType,
    Invalid,
}

impl Problem {
    /// kubeadm's init/join/reset only warn about these and drop them; validate and migrate refuse them.
    pub fn is_strict_only(self) -> bool {
        matches!(
            self,
            Problem::UnknownKind | Problem::UnknownField | Problem::DuplicateField
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub problem: Problem,
    pub kind: String,
    pub path: String,
    pub line: usize,
    pub message: String,
}

impl Diagnostic {
    pub fn new(
        problem: Problem,
        kind: &str,
        path: &str,
        line: usize,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            problem,
            kind: kind.to_string(),
            path: path.to_string(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        match (self.kind.is_empty(), self.path.is_empty()) {
            (true, _) => write!(f, "{}", self.message),
            (false, true) => write!(f, "{}: {}", self.kind, self.message),
            (false, false) => match self.problem {
                Problem::UnknownField | Problem::DuplicateField => {
                    write!(f, "{} in {}", self.message, self.kind)
                }
                _ => write!(f, "{}.{}: {}", self.kind, self.path, self.message),
            },
        }
    }
}
