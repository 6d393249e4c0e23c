//! A phase as data: its name on the command line, a one-line description, its children and what it runs.

use crate::runner::{PhaseContext, PhaseError};

/// Runs a phase; Ok carries the warnings it wants reported.
pub type PhaseFn = fn(&mut PhaseContext<'_>) -> Result<Vec<String>, PhaseError>;

#[derive(Clone, Copy)]
pub struct Phase {
    pub name: &'static str,
    pub description: &'static str,
    pub children: &'static [Phase],
    /// `None` until the phase is implemented: running it stops with a "not implemented yet" error.
    pub run: Option<PhaseFn>,
}

impl Phase {
    pub const fn leaf(name: &'static str, description: &'static str) -> Phase {
        Phase {
            name,
            description,
            children: &[],
            run: None,
        }
    }

    pub const fn parent(
        name: &'static str,
        description: &'static str,
        children: &'static [Phase],
    ) -> Phase {
        Phase {
            name,
            description,
            children,
            run: None,
        }
    }

    pub const fn runs(mut self, run: PhaseFn) -> Phase {
        self.run = Some(run);
        self
    }

    pub fn child(&self, name: &str) -> Option<&Phase> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// Finds `name` or `name/child` in a table.
pub fn find<'t>(table: &'t [Phase], path: &str) -> Option<(&'t Phase, Option<&'t Phase>)> {
    let (name, child) = match path.split_once('/') {
        Some((name, child)) => (name, Some(child)),
        None => (path, None),
    };
    let phase = table.iter().find(|p| p.name == name)?;
    match child {
        None => Some((phase, None)),
        Some("all") if !phase.children.is_empty() => Some((phase, None)),
        Some(child) => phase.child(child).map(|c| (phase, Some(c))),
    }
}

/// Every `name` and `name/child` of a table, for help text and for checking `--skip-phases`.
pub fn all_paths(table: &[Phase]) -> Vec<String> {
    let mut paths = Vec::new();
    for phase in table {
        paths.push(phase.name.to_string());
        for child in phase.children {
            paths.push(format!("{}/{}", phase.name, child.name));
        }
    }
    paths
}

/// The phase list as `kinit init --help` shows it.
pub fn help_text(table: &[Phase]) -> String {
    let mut text = String::from("The phases, in the order they run:\n");
    for phase in table {
        text.push_str(&format!("  {:<28}{}\n", phase.name, phase.description));
        for child in phase.children {
            text.push_str(&format!("    /{:<25}{}\n", child.name, child.description));
        }
    }
    text
}
