//! A phase as data: its name on the command line, a one-line description, its children, what it
//! runs, when it runs, and what it can prepare before its turn.

use std::rc::Rc;

use super::context::{Ahead, Condition, KeyDemand, PhaseContext, Step};
use super::error::PhaseError;

/// A phase of a command whose steps read `D`, the command's data.
pub struct Phase<D> {
    pub name: &'static str,
    pub description: &'static str,
    pub children: Vec<Phase<D>>,
    /// A leaf's work; for a parent, what runs once before the first of its children that runs
    /// (kubeadm's parent phases print their folder there).
    pub(crate) run: Option<Step<D>>,
    pub(crate) run_if: Option<Condition<D>>,
    pub(crate) ahead: Option<Ahead<D>>,
    pub(crate) keys: Option<KeyDemand<D>>,
}

// Not derived: a derive would ask `D: Clone` of the command's data, which is never cloned.
impl<D> Clone for Phase<D> {
    fn clone(&self) -> Self {
        Phase {
            name: self.name,
            description: self.description,
            children: self.children.clone(),
            run: self.run.clone(),
            run_if: self.run_if,
            ahead: self.ahead,
            keys: self.keys.clone(),
        }
    }
}

impl<D> Phase<D> {
    /// A phase that does `run`.
    pub fn new(
        name: &'static str,
        description: &'static str,
        run: impl Fn(&mut PhaseContext<'_, D>) -> Result<Vec<String>, PhaseError> + 'static,
    ) -> Phase<D> {
        Phase {
            name,
            description,
            children: Vec::new(),
            run: Some(Rc::new(run)),
            run_if: None,
            ahead: None,
            keys: None,
        }
    }

    /// A phase made of `children`, run one by one.
    pub fn group(
        name: &'static str,
        description: &'static str,
        children: Vec<Phase<D>>,
    ) -> Phase<D> {
        Phase {
            name,
            description,
            children,
            run: None,
            run_if: None,
            ahead: None,
            keys: None,
        }
    }

    /// For a group: what runs once, before the first of its children that runs.
    pub fn before_children(
        mut self,
        run: impl Fn(&mut PhaseContext<'_, D>) -> Result<Vec<String>, PhaseError> + 'static,
    ) -> Phase<D> {
        self.run = Some(Rc::new(run));
        self
    }

    pub fn run_if(mut self, condition: Condition<D>) -> Phase<D> {
        self.run_if = Some(condition);
        self
    }

    pub fn ahead(mut self, ahead: Ahead<D>) -> Phase<D> {
        self.ahead = Some(ahead);
        self
    }

    pub fn makes_keys(
        mut self,
        demand: impl Fn(&PhaseContext<'_, D>) -> Result<Vec<String>, String> + 'static,
    ) -> Phase<D> {
        self.keys = Some(Rc::new(demand));
        self
    }

    pub fn child(&self, name: &str) -> Option<&Phase<D>> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// Finds `name` or `name/child` in a table.
pub fn find<'t, D>(
    table: &'t [Phase<D>],
    path: &str,
) -> Option<(&'t Phase<D>, Option<&'t Phase<D>>)> {
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
pub fn all_paths<D>(table: &[Phase<D>]) -> Vec<String> {
    let mut paths = Vec::new();
    for phase in table {
        paths.push(phase.name.to_string());
        for child in &phase.children {
            paths.push(format!("{}/{}", phase.name, child.name));
        }
    }
    paths
}

/// The phase list as `kinit init --help` shows it.
pub fn help_text<D>(table: &[Phase<D>]) -> String {
    let mut text = String::from("The phases, in the order they run:\n");
    for phase in table {
        text.push_str(&format!("  {:<28}{}\n", phase.name, phase.description));
        for child in &phase.children {
            text.push_str(&format!("    /{:<25}{}\n", child.name, child.description));
        }
    }
    text
}
