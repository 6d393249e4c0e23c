//! Layers in one direction: no module of kinit's crates reaches, through `crate::` and `super::`
//! paths, a module that reaches back to it. Checked among the siblings of every folder (the top-level
//! modules of a crate, the files of `workflow/`, ...), so a cycle between two files of one module
//! counts as much as one between two layers. Test code (`#[cfg(test)]` onwards) is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every module of a crate by its path (`["workflow", "runner"]`), with its source text.
fn modules(src: &Path) -> BTreeMap<Vec<String>, String> {
    let mut found = BTreeMap::new();
    let mut folders = vec![PathBuf::from(src)];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut segments: Vec<String> = relative
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            if matches!(
                segments.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                segments.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap().to_string();
            found.insert(segments, without_comments(&code));
        }
    }
    found
}

fn without_comments(code: &str) -> String {
    code.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths named after `start` (`a::b`, or each of `{a::b, c}`), as segment lists.
fn paths_after(text: &str) -> Vec<Vec<String>> {
    let text = text.trim_start();
    if let Some(group) = text.strip_prefix('{') {
        let mut depth = 1;
        let mut end = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = i;
                break;
            }
        }
        let inner = &group[..end];
        let mut parts = Vec::new();
        let (mut depth, mut from) = (0, 0);
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&inner[from..i]);
                    from = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&inner[from..]);
        return parts.into_iter().flat_map(paths_after).collect();
    }
    let mut segments = Vec::new();
    let mut rest = text;
    loop {
        let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        segments.push(rest[..end].to_string());
        match rest[end..].strip_prefix("::") {
            Some(after) if after.starts_with('{') => {
                return paths_after(after)
                    .into_iter()
                    .map(|tail| segments.iter().cloned().chain(tail).collect())
                    .collect();
            }
            Some(after) => rest = after,
            None => break,
        }
    }
    vec![segments]
}

/// The modules `module` names through `crate::` and `super::` paths.
fn references(
    module: &[String],
    text: &str,
    known: &BTreeSet<Vec<String>>,
) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    for (at, _) in text
        .match_indices("crate::")
        .chain(text.match_indices("super::"))
    {
        if at > 0 && text[..at].ends_with(|c: char| is_ident(c) || c == ':') {
            continue;
        }
        let mut base: Vec<String> = Vec::new();
        let mut rest = &text[at..];
        if let Some(after) = rest.strip_prefix("crate::") {
            rest = after;
        } else {
            base = module.to_vec();
            while let Some(after) = rest.strip_prefix("super::") {
                base.pop();
                rest = after;
            }
        }
        for path in paths_after(rest) {
            let mut full = base.clone();
            let mut target = base.clone();
            for segment in path {
                if segment == "self" {
                    continue;
                }
                full.push(segment);
                if known.contains(&full) {
                    target = full.clone();
                } else {
                    break;
                }
            }
            found.insert(target);
        }
    }
    found
}

/// For an edge between two modules: the two siblings under their common parent, if they differ.
fn sibling_edge(from: &[String], to: &[String]) -> Option<(Vec<String>, Vec<String>)> {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    if common == from.len() || common == to.len() {
        return None;
    }
    Some((from[..=common].to_vec(), to[..=common].to_vec()))
}

/// The cycles (strongly connected groups of two or more) of a graph.
fn cycles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    let nodes: Vec<&Vec<String>> = graph.keys().collect();
    let reach = |from: &Vec<String>| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(node) = todo.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&Vec<String>, BTreeSet<Vec<String>>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut groups: Vec<Vec<Vec<String>>> = Vec::new();
    for node in &nodes {
        if !reachable[node].contains(*node) || groups.iter().any(|g| g.contains(node)) {
            continue;
        }
        let group: Vec<Vec<String>> = nodes
            .iter()
            .filter(|other| reachable[node].contains(**other) && reachable[**other].contains(*node))
            .map(|n| (*n).clone())
            .collect();
        groups.push(group);
    }
    groups
}

fn check(crate_src: &str) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(crate_src);
    let modules = modules(&src);
    let known: BTreeSet<Vec<String>> = modules.keys().cloned().collect();
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut why: BTreeMap<(Vec<String>, Vec<String>), Vec<String>> = BTreeMap::new();
    for (module, text) in &modules {
        for target in references(module, text, &known) {
            if let Some((from, to)) = sibling_edge(module, &target) {
                graph.entry(from.clone()).or_default().insert(to.clone());
                why.entry((from, to)).or_default().push(format!(
                    "{} -> {}",
                    module.join("::"),
                    target.join("::")
                ));
            }
        }
    }
    cycles(&graph)
        .into_iter()
        .map(|group| {
            let names: Vec<String> = group.iter().map(|m| m.join("::")).collect();
            let edges: Vec<String> = why
                .iter()
                .filter(|((from, to), _)| group.contains(from) && group.contains(to))
                .flat_map(|(_, reasons)| reasons.clone())
                .collect();
            format!(
                "{crate_src}: {} ({})",
                names.join(" <-> "),
                edges.join("; ")
            )
        })
        .collect()
}

#[test]
fn no_module_reaches_back_to_a_module_that_reaches_it() {
    let mut found = Vec::new();
    for crate_src in ["src", "phases/src", "preflight/src"] {
        found.extend(check(crate_src));
    }
    assert!(found.is_empty(), "module cycles:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_grouped_and_relative_paths() {
    let known: BTreeSet<Vec<String>> = [
        vec!["a".to_string()],
        vec!["b".to_string()],
        vec!["b".to_string(), "c".to_string()],
        vec!["d".to_string()],
    ]
    .into_iter()
    .collect();
    let module = vec!["b".to_string(), "c".to_string()];
    let found = references(
        &module,
        "use crate::{a::Thing, d};\nuse super::super::a::X;\nfn f() { crate::b::c::g() }",
        &known,
    );
    let names: Vec<String> = found.iter().map(|m| m.join("::")).collect();
    assert_eq!(names, ["a", "b::c", "d"]);
    let mut graph = BTreeMap::new();
    graph.insert(
        known.iter().next().unwrap().clone(),
        [vec!["d".to_string()]].into(),
    );
    graph.insert(vec!["d".to_string()], [vec!["a".to_string()]].into());
    assert_eq!(cycles(&graph).len(), 1);
}
