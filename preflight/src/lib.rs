//! kinit's preflight checks: each check is a small value (see [`Check`]) run against a [`Host`], and a run
//! of many checks gives a [`Report`] that prints the way kubeadm prints its checks.

mod check;
pub mod checks;
mod failure;
mod fix;
pub mod host;
mod plan;
pub mod root_path;

pub use check::Check;
pub use checks::network::dns1123_subdomain_problem;
pub use failure::{Failure, Severity};
pub use fix::Fix;
pub use host::EtcdClientFiles;
pub use host::{Host, RealHost, ServiceState};
pub use plan::{init_checks, join_checks, EtcdFacts, JoinFacts, NodeFacts};

use serde::Serialize;
use std::collections::HashSet;

/// The outcome of one check in a run.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub name: String,
    pub severity: Severity,
    pub passed: bool,
    pub ignored: bool,
    pub message: String,
    pub remedy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
}

impl CheckReport {
    /// A failed error that was not ignored: it stops the run.
    pub fn is_fatal(&self) -> bool {
        !self.passed && !self.ignored && self.severity == Severity::Error
    }

    /// Printed as a warning: a failed warning, or a failed error the user chose to ignore.
    pub fn is_warning(&self) -> bool {
        !self.passed && !self.is_fatal()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub checks: Vec<CheckReport>,
}

/// The `--ignore-preflight-errors` names, matched case-insensitively; `all` ignores every error.
#[derive(Debug, Clone, Default)]
pub struct IgnoreList {
    names: HashSet<String>,
}

impl IgnoreList {
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(names: I) -> Self {
        IgnoreList {
            names: names
                .into_iter()
                .map(|n| n.as_ref().trim().to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect(),
        }
    }

    pub fn ignores(&self, check_name: &str) -> bool {
        self.names.contains("all") || self.names.contains(&check_name.to_ascii_lowercase())
    }
}

fn run_guarded(check: &Check, host: &dyn Host) -> Result<(), Failure> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check.run(host))).unwrap_or_else(
        |_| {
            Err(Failure::error(
                format!("the {} check crashed", check.name()),
                "report this as a kinit bug",
            ))
        },
    )
}

/// Runs the checks concurrently and reports them in their order. Each check that may wait on something
/// outside the process (a program, DNS, a socket) gets its own thread; the quick file reads run on the
/// calling thread meanwhile, since a thread costs more to start than such a read takes.
pub fn run(checks: &[Check], host: &dyn Host, ignore: &IgnoreList) -> Report {
    let outcomes: Vec<Result<(), Failure>> = std::thread::scope(|scope| {
        let waiting: Vec<_> = checks
            .iter()
            .map(|check| {
                check
                    .may_block()
                    .then(|| scope.spawn(move || run_guarded(check, host)))
            })
            .collect();
        let quick: Vec<Option<Result<(), Failure>>> = checks
            .iter()
            .map(|check| (!check.may_block()).then(|| run_guarded(check, host)))
            .collect();
        waiting
            .into_iter()
            .zip(quick)
            .map(|(thread, quick)| match (thread, quick) {
                (Some(thread), _) => thread.join().unwrap_or_else(|_| {
                    Err(Failure::error(
                        "a check thread failed",
                        "report this as a kinit bug",
                    ))
                }),
                (None, Some(outcome)) => outcome,
                (None, None) => Err(Failure::error(
                    "the check did not run",
                    "report this as a kinit bug",
                )),
            })
            .collect()
    });
    let checks = checks
        .iter()
        .zip(outcomes)
        .map(|(check, outcome)| {
            let name = check.name();
            tracing::debug!(check = %name, passed = outcome.is_ok(), "preflight check");
            match outcome {
                Ok(()) => CheckReport {
                    severity: check.severity(),
                    passed: true,
                    ignored: false,
                    message: String::new(),
                    remedy: String::new(),
                    fix: None,
                    name,
                },
                Err(failure) => CheckReport {
                    ignored: failure.severity == Severity::Error && ignore.ignores(&name),
                    severity: failure.severity,
                    passed: false,
                    message: failure.message,
                    remedy: failure.remedy,
                    fix: failure.fix,
                    name,
                },
            }
        })
        .collect();
    Report { checks }
}

impl Report {
    pub fn fatal(&self) -> impl Iterator<Item = &CheckReport> {
        self.checks.iter().filter(|c| c.is_fatal())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &CheckReport> {
        self.checks.iter().filter(|c| c.is_warning())
    }

    pub fn has_fatal(&self) -> bool {
        self.fatal().next().is_some()
    }

    /// The fixes that `--fix` may apply, without repeats, in check order.
    pub fn fixes(&self) -> Vec<Fix> {
        let mut fixes: Vec<Fix> = Vec::new();
        for fix in self
            .checks
            .iter()
            .filter(|c| !c.passed)
            .filter_map(|c| c.fix.clone())
        {
            if !fixes.contains(&fix) {
                fixes.push(fix);
            }
        }
        fixes
    }

    /// Each warning as a run lists it among its warnings: `[WARNING <name>]: <message>`.
    pub fn warning_summaries(&self) -> Vec<String> {
        self.warnings()
            .map(|c| format!("[WARNING {}]: {}", c.name, c.message))
            .collect()
    }

    /// The warning lines, as kubeadm prints them: `\t[WARNING Name]: message`, each followed by its remedy.
    pub fn warning_lines(&self) -> Vec<String> {
        self.warnings()
            .flat_map(|c| {
                [
                    format!("\t[WARNING {}]: {}", c.name, c.message),
                    format!("\t\tremedy: {}", c.remedy),
                ]
            })
            .collect()
    }

    /// The fatal errors as kubeadm prints them under its header, with the `--ignore-preflight-errors` hint.
    pub fn error_text(&self) -> String {
        let mut text = String::from("[preflight] Some fatal errors occurred:\n");
        let mut names = Vec::new();
        for check in self.fatal() {
            text.push_str(&format!(
                "\t[ERROR {}]: {}\n\t\tremedy: {}\n",
                check.name, check.message, check.remedy
            ));
            names.push(check.name.clone());
        }
        text.push_str(&format!(
            "[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors={}`",
            names.join(",")
        ));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_list_is_case_insensitive_and_knows_all() {
        let list = IgnoreList::new(["numcpu", " Swap "]);
        assert!(list.ignores("NumCPU"));
        assert!(list.ignores("swap"));
        assert!(!list.ignores("Mem"));
        assert!(IgnoreList::new(["ALL"]).ignores("Port-6443"));
        assert!(!IgnoreList::new(Vec::<String>::new()).ignores("Mem"));
    }
}
