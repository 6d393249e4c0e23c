//! Every path of the node's layout is written once, in `phases/src/domain/layout.rs`: no other source
//! file of kinit's crates spells one out (test code, from `#[cfg(test)]` on, may).

use std::path::Path;

const LAYOUT_ROOTS: [&str; 6] = [
    "\"/etc/kubernetes",
    "\"/var/lib/kubelet",
    "\"/var/lib/etcd",
    "\"/etc/systemd",
    "\"/usr/lib/systemd",
    "\"/etc/cni",
];

fn sources(folder: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn the_layout_is_spelled_only_in_layout_rs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for crate_src in ["src", "phases/src", "preflight/src"] {
        sources(&root.join(crate_src), &mut files);
    }
    assert!(files.len() > 100, "the sources were not found: {files:?}");
    let mut spelled = Vec::new();
    for file in files {
        if file.ends_with("phases/src/domain/layout.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (number, line) in code.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            if LAYOUT_ROOTS.iter().any(|root| line.contains(root)) {
                spelled.push(format!("{}:{}: {line}", file.display(), number + 1));
            }
        }
    }
    assert!(
        spelled.is_empty(),
        "paths of the node's layout outside phases/src/domain/layout.rs:\n{}",
        spelled.join("\n")
    );
}
