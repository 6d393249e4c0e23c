//! Applies the safe remedies preflight names (`--fix`) through the effects layer, and says what it did.

use crate::exec::effects::Effects;
use kinit_preflight::{Fix, Host};

pub const SYSCTL_FILE: &str = "/etc/sysctl.d/99-kinit.conf";
pub const MODULES_FILE: &str = "/etc/modules-load.d/kinit.conf";
pub const FSTAB: &str = "/etc/fstab";
pub const FSTAB_BACKUP: &str = "/etc/fstab.kinit-backup";

/// What one remedy did, or why it could not.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FixOutcome {
    pub fix: Fix,
    pub done: Vec<String>,
    pub not_done: Vec<String>,
}

/// Adds `key = 1` lines to the persisted sysctl file, keeping what is there.
fn persist_sysctl(effects: &mut dyn Effects, key: &str, outcome: &mut FixOutcome) {
    // Through the effects, which hold what an earlier fix of this run wrote (and a dry run's plan).
    let existing = effects
        .read_file(SYSCTL_FILE)
        .ok()
        .flatten()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let already = existing.lines().any(|line| {
        line.split('=').next().map(str::trim) == Some(key)
            && line.split('=').nth(1).map(str::trim) == Some("1")
    });
    if already {
        return;
    }
    let mut content: String = existing
        .lines()
        .filter(|line| line.split('=').next().map(str::trim) != Some(key))
        .map(|line| format!("{line}\n"))
        .collect();
    if content.is_empty() {
        content.push_str(
            "# Written by `kinit preflight --fix`: kernel settings Kubernetes networking needs.\n",
        );
    }
    content.push_str(&format!("{key} = 1\n"));
    match effects.write_file(SYSCTL_FILE, content.as_bytes(), 0o644) {
        Ok(()) => outcome
            .done
            .push(format!("persisted {key} = 1 in {SYSCTL_FILE}")),
        Err(e) => outcome.not_done.push(e),
    }
}

fn enable_sysctl(host: &dyn Host, effects: &mut dyn Effects, path: &str, outcome: &mut FixOutcome) {
    let key = Fix::sysctl_key(path);
    if host.read_file(path).is_ok_and(|v| v.starts_with('1')) {
        // Already on now; only persistence may be missing.
    } else if !host.exists(path) {
        outcome.not_done.push(format!(
            "cannot set {key} now: {path} does not exist on this kernel"
        ));
    } else {
        match effects.write_kernel_file(path, "1\n") {
            Ok(()) => outcome.done.push(format!("set {key} = 1")),
            Err(e) => outcome.not_done.push(format!("cannot set {key} now: {e}")),
        }
    }
    persist_sysctl(effects, &key, outcome);
}

/// Loads and persists the modules (once per run), then sets and persists the one bridge setting that failed.
fn load_bridge_modules(
    host: &dyn Host,
    effects: &mut dyn Effects,
    path: &str,
    loaded: &mut bool,
    outcome: &mut FixOutcome,
) {
    if !*loaded {
        *loaded = true;
        load_modules(host, effects, outcome);
    }
    if host.exists(path) {
        enable_sysctl(host, effects, path, outcome);
    } else {
        persist_sysctl(effects, &Fix::sysctl_key(path), outcome);
    }
}

fn load_modules(host: &dyn Host, effects: &mut dyn Effects, outcome: &mut FixOutcome) {
    for module in ["br_netfilter", "overlay"] {
        match effects.run("modprobe", &[module]) {
            Ok(true) => outcome.done.push(format!("loaded the {module} module")),
            Ok(false) => outcome.not_done.push(format!("modprobe {module} failed: this kernel cannot load it now (it is persisted for the next boot)")),
            Err(e) => outcome.not_done.push(format!("cannot load {module} now: {e}")),
        }
    }
    let wanted = "br_netfilter\noverlay\n";
    if host.read_file(MODULES_FILE).ok().as_deref() != Some(wanted) {
        match effects.write_file(MODULES_FILE, wanted.as_bytes(), 0o644) {
            Ok(()) => outcome.done.push(format!(
                "persisted br_netfilter and overlay in {MODULES_FILE}"
            )),
            Err(e) => outcome.not_done.push(e),
        }
    }
}

/// Comments out every active swap line of an fstab; None when there is none.
pub fn fstab_without_swap(fstab: &str) -> Option<String> {
    let mut changed = false;
    let mut out = String::new();
    for line in fstab.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if !line.trim_start().starts_with('#') && fields.len() >= 3 && fields[2] == "swap" {
            out.push_str(&format!("# {line}  # swap disabled by kinit\n"));
            changed = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    changed.then_some(out)
}

fn disable_swap(host: &dyn Host, effects: &mut dyn Effects, outcome: &mut FixOutcome) {
    match effects.run("swapoff", &["-a"]) {
        Ok(true) => outcome.done.push("turned swap off (swapoff -a)".into()),
        Ok(false) => outcome.not_done.push("swapoff -a failed".into()),
        Err(e) => outcome
            .not_done
            .push(format!("cannot turn swap off now: {e}")),
    }
    let Ok(fstab) = host.read_file(FSTAB) else {
        return;
    };
    let Some(updated) = fstab_without_swap(&fstab) else {
        return;
    };
    // The first backup is the user's original; a later run must not replace it with an edited copy.
    if !host.exists(FSTAB_BACKUP) {
        if let Err(e) = effects.write_file(FSTAB_BACKUP, fstab.as_bytes(), 0o644) {
            outcome
                .not_done
                .push(format!("left {FSTAB} unchanged: cannot back it up: {e}"));
            return;
        }
        outcome
            .done
            .push(format!("backed up {FSTAB} to {FSTAB_BACKUP}"));
    }
    match effects.write_file(FSTAB, updated.as_bytes(), 0o644) {
        Ok(()) => outcome
            .done
            .push(format!("commented out the swap lines of {FSTAB}")),
        Err(e) => outcome.not_done.push(e),
    }
}

/// Applies the fixes and puts their files in place, so the checks that run again see them.
pub fn apply(fixes: &[Fix], host: &dyn Host, effects: &mut dyn Effects) -> Vec<FixOutcome> {
    let mut modules_loaded = false;
    let mut outcomes: Vec<FixOutcome> = fixes
        .iter()
        .map(|fix| {
            let mut outcome = FixOutcome {
                fix: fix.clone(),
                done: Vec::new(),
                not_done: Vec::new(),
            };
            match fix {
                Fix::EnableSysctl { path } => enable_sysctl(host, effects, path, &mut outcome),
                Fix::LoadBridgeModules { path } => {
                    load_bridge_modules(host, effects, path, &mut modules_loaded, &mut outcome)
                }
                Fix::DisableSwap => disable_swap(host, effects, &mut outcome),
            }
            outcome
        })
        .collect();
    if let (Err(e), Some(last)) = (effects.commit(), outcomes.last_mut()) {
        last.not_done.push(e);
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_lines_are_commented_once() {
        let fstab =
            "UUID=1 / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n# /old none swap sw 0 0\n";
        let updated = fstab_without_swap(fstab).unwrap();
        assert!(updated.contains("# /swapfile none swap sw 0 0"));
        assert!(updated.starts_with("UUID=1 / ext4 defaults 0 1\n"));
        assert!(fstab_without_swap(&updated).is_none());
    }
}
