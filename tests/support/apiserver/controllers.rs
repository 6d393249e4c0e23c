//! The kube-controller-manager controllers kubeadm relies on, run synchronously before each
//! request: the token cleaner (deletes expired bootstrap token Secrets), the garbage collector
//! (deletes an object once none of its owners exists with the referenced uid; owners of kinds the
//! double does not serve are assumed present) and the bootstrap signer ([`super::signer`]).

use serde_json::Value;

use super::auth::{expired, token_secret_data};
use super::store::{kind_by_name, Store};

pub fn sync(store: &mut Store) {
    token_cleaner(store);
    garbage_collector(store);
    super::signer::sync(store);
}

fn token_cleaner(store: &mut Store) {
    let secret = kind_by_name("Secret").unwrap();
    let expired_names: Vec<String> = store
        .list(secret, Some("kube-system"))
        .into_iter()
        .filter(|s| {
            let full = serde_json::json!({"type": s["type"], "data": s["data"], "metadata": s["metadata"]});
            token_secret_data(&full).is_some_and(|d| expired(&d))
        })
        .filter_map(|s| s["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    for name in expired_names {
        store.remove(secret, "kube-system", &name);
    }
}

/// Whether an owner reference points at an object that exists with that uid.
fn owner_present(store: &Store, dependent_ns: &str, owner: &Value) -> bool {
    let Some(kind) = owner["kind"].as_str().and_then(kind_by_name) else {
        return true;
    };
    if owner["apiVersion"].as_str() != Some(&kind.api_version()) {
        return true;
    }
    let ns = if kind.namespaced { dependent_ns } else { "" };
    let name = owner["name"].as_str().unwrap_or("");
    store
        .get(kind, ns, name)
        .is_some_and(|o| o["metadata"]["uid"] == owner["uid"])
}

fn garbage_collector(store: &mut Store) {
    loop {
        let orphans: Vec<(&'static str, String, String)> = store
            .objects
            .iter()
            .filter(|((_, ns, _), o)| {
                o["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|owners| {
                        !owners.is_empty() && !owners.iter().any(|r| owner_present(store, ns, r))
                    })
            })
            .map(|((k, ns, name), _)| (*k, ns.clone(), name.clone()))
            .collect();
        if orphans.is_empty() {
            return;
        }
        for (kind, ns, name) in orphans {
            store.remove(kind_by_name(kind).unwrap(), &ns, &name);
        }
    }
}
