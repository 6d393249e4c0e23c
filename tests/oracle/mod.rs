//! kubeadm as the oracle: facts of what kubeadm and kinit wrote or would send, compared one by one. A
//! difference passes only when the README's "Differences from kubeadm" lists it, in the table between
//! the `oracle-differences` markers (artifact and fact patterns, `*` matches any run of characters; a fact
//! pattern ending in ` (zero value)` covers only facts kubeadm wrote as a Go zero value and kinit left out).
#![allow(dead_code)]

pub mod facts;
pub mod inputs;
pub mod objects;

use facts::Facts;
use std::fmt::Write as _;

/// One listed difference: where, what, and the README's reason.
#[derive(Debug, Clone)]
pub struct Listed {
    pub artifact: String,
    pub fact: String,
    pub reason: String,
}

/// The table of listed differences, read from the README.
pub fn listed_differences() -> Vec<Listed> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("<!-- oracle-differences: begin -->")
        .expect("README.md has no oracle-differences table");
    let end = readme
        .find("<!-- oracle-differences: end -->")
        .expect("README.md's oracle-differences table has no end marker");
    let mut rows = Vec::new();
    for line in readme[start..end].lines() {
        let cells: Vec<&str> = line.trim().trim_matches('|').split(" | ").collect();
        if cells.len() != 3 || cells[0].starts_with("---") || cells[0].trim() == "artifact" {
            continue;
        }
        let unquote = |s: &str| s.trim().trim_matches('`').replace("\\|", "|");
        rows.push(Listed {
            artifact: unquote(cells[0]),
            fact: unquote(cells[1]),
            reason: cells[2].trim().to_string(),
        });
    }
    assert!(
        !rows.is_empty(),
        "the README's oracle-differences table is empty"
    );
    rows
}

/// A fact pattern ending in this matches only where kubeadm wrote a Go zero value and kinit wrote nothing.
pub const ZERO_VALUE: &str = " (zero value)";

/// What Go's marshalling writes for a field nobody set.
fn is_go_zero(value: &str) -> bool {
    matches!(value, "0s" | "0" | "{}" | "[]" | "" | "null" | "false")
}

/// `pattern` with `*` for any run of characters, matched against the whole of `text`.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// One fact that differs: its key, kubeadm's value and kinit's (`None`: not there).
#[derive(Debug, Clone)]
pub struct Difference {
    pub key: String,
    pub kubeadm: Option<String>,
    pub kinit: Option<String>,
    pub listed: Option<usize>,
}

#[derive(Debug, Default)]
pub struct Comparison {
    pub name: String,
    pub compared: usize,
    pub equal: usize,
    pub differences: Vec<Difference>,
}

impl Comparison {
    pub fn listed(&self) -> usize {
        self.differences
            .iter()
            .filter(|d| d.listed.is_some())
            .count()
    }

    pub fn unlisted(&self) -> Vec<&Difference> {
        self.differences
            .iter()
            .filter(|d| d.listed.is_none())
            .collect()
    }
}

/// Compares kubeadm's facts with kinit's; each key is `<artifact>: <fact>`.
pub fn compare(name: &str, kubeadm: &Facts, kinit: &Facts, listed: &[Listed]) -> Comparison {
    let mut keys: Vec<&String> = kubeadm.keys().chain(kinit.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut comparison = Comparison {
        name: name.to_string(),
        ..Default::default()
    };
    for key in keys {
        comparison.compared += 1;
        let a = kubeadm.get(key);
        let b = kinit.get(key);
        if a == b {
            comparison.equal += 1;
            continue;
        }
        let (artifact, fact) = key.split_once(": ").unwrap_or((key, ""));
        let listed = listed.iter().position(|l| {
            let (pattern, zero_only) = match l.fact.strip_suffix(ZERO_VALUE) {
                Some(pattern) => (pattern, true),
                None => (l.fact.as_str(), false),
            };
            glob(&l.artifact, artifact)
                && glob(pattern, fact)
                && (!zero_only || (b.is_none() && a.is_some_and(|v| is_go_zero(v))))
        });
        comparison.differences.push(Difference {
            key: key.clone(),
            kubeadm: a.cloned(),
            kinit: b.cloned(),
            listed,
        });
    }
    comparison
}

/// The table of every comparison, then each unlisted difference in full.
pub fn report(comparisons: &[Comparison], listed: &[Listed]) -> String {
    let mut out = String::new();
    let width = comparisons
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(4)
        .max(5);
    let _ = writeln!(
        out,
        "{:width$}  {:>8}  {:>6}  {:>17}  {:>19}",
        "input", "compared", "equal", "different, listed", "different, unlisted"
    );
    for c in comparisons {
        let _ = writeln!(
            out,
            "{:width$}  {:>8}  {:>6}  {:>17}  {:>19}",
            c.name,
            c.compared,
            c.equal,
            c.listed(),
            c.unlisted().len()
        );
    }
    let mut used: Vec<usize> = comparisons
        .iter()
        .flat_map(|c| c.differences.iter().filter_map(|d| d.listed))
        .collect();
    used.sort();
    used.dedup();
    if !used.is_empty() {
        let _ = writeln!(out, "\nlisted differences met:");
        for i in used {
            let _ = writeln!(out, "  {} | {}", listed[i].artifact, listed[i].fact);
        }
    }
    for c in comparisons {
        for d in c.unlisted() {
            let _ = writeln!(
                out,
                "UNLISTED {}: {}\n    kubeadm: {}\n    kinit:   {}",
                c.name,
                d.key,
                d.kubeadm.as_deref().unwrap_or("(absent)"),
                d.kinit.as_deref().unwrap_or("(absent)")
            );
        }
    }
    out
}
