//! What the real API server stored from kinit's init, against what kubeadm's dry run would create
//! for the same configuration: every object kubeadm's dry run writes is read back with the real
//! kubectl, and every field kubeadm would set must be stored with kubeadm's value, unless the
//! README's table lists the difference (tests/oracle). Fields only the server fills in
//! (uid, managedFields, defaults) are not kubeadm's and are left out, as is `status`, which the
//! server owns.

use super::{text, Kubectl};
use crate::oracle::objects::{kubeadm_objects, object_facts};
use crate::oracle::{compare, listed_differences, report};
use crate::support::hosts::Host;
use crate::support::real::real_tool;
use serde_json::Value;

/// kubeadm's dry run of cp1's own configuration, in a scratch root inside cp1's namespace (its
/// ports are taken by the running control plane: preflight errors are ignored).
fn kubeadm_dry_run(cp1: &Host) -> Vec<Value> {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    std::fs::create_dir_all(root.join("proc/net")).unwrap();
    for file in ["route", "if_inet6"] {
        let content = cp1.ns.must(&["cat", &format!("/proc/net/{file}")]);
        std::fs::write(root.join("proc/net").join(file), content).unwrap();
    }
    std::fs::copy(cp1.path("/kinit.yaml"), root.join("kubeadm.yaml")).unwrap();
    let out = cp1
        .command(real_tool("kubeadm"))
        .args([
            "init",
            "--dry-run",
            "--upload-certs",
            "--ignore-preflight-errors=all",
        ])
        .args(["--config", "/kubeadm.yaml", "--rootfs"])
        .arg(root)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "kubeadm init --dry-run: {stdout}{}",
        text(&out.stderr)
    );
    kubeadm_objects(&stdout)
}

/// Every object of kubeadm's dry run, as the real server stored kinit's.
pub fn stored_objects_are_kubeadms(cp1: &Host, admin: &Kubectl, token_id: &str) {
    let objects = kubeadm_dry_run(cp1);
    assert!(
        objects.len() > 20,
        "{} objects in kubeadm's dry run",
        objects.len()
    );
    let mut stored = Vec::new();
    for object in &objects {
        let kind = object["kind"].as_str().unwrap();
        let api_version = object["apiVersion"].as_str().unwrap();
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let resource = if group.is_empty() {
            kind.to_lowercase()
        } else {
            format!("{}.{group}", kind.to_lowercase())
        };
        let mut name = object["metadata"]["name"].as_str().unwrap().to_string();
        // The token kubeadm would make is its own; kinit's init made the one the cluster has.
        if name.starts_with("bootstrap-token-") {
            name = format!("bootstrap-token-{token_id}");
        }
        let mut args = vec!["get".to_string(), resource, name];
        if let Some(namespace) = object["metadata"]["namespace"].as_str() {
            args.extend(["-n".to_string(), namespace.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        stored.push(
            admin
                .json(&args)
                .unwrap_or_else(|e| panic!("kubeadm would create it, kinit's init did not: {e}")),
        );
    }
    let kubeadm = object_facts(&objects);
    let server = object_facts(&stored);
    let owned_by_server = |key: &str| {
        let fact = key.split_once(": ").map_or("", |(_, f)| f);
        fact.starts_with("status") || fact == "metadata.creationTimestamp"
    };
    let kubeadm: crate::oracle::facts::Facts = kubeadm
        .into_iter()
        .filter(|(k, _)| !owned_by_server(k))
        .collect();
    let server = server
        .into_iter()
        .filter(|(k, _)| kubeadm.contains_key(k))
        .collect();
    let comparison = compare(
        "stored by the real server",
        &kubeadm,
        &server,
        &listed_differences(),
    );
    let table = report(std::slice::from_ref(&comparison), &listed_differences());
    println!("kubeadm's dry run vs the objects the real server stored from kinit's init:\n{table}");
    assert!(comparison.compared > 300, "{table}");
    assert!(comparison.unlisted().is_empty(), "{table}");
}
