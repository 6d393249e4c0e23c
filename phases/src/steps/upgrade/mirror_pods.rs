//! Waiting for the kubelet to run a static Pod's manifest, as seen through the component's mirror
//! Pod: its `kubernetes.io/config.hash`, its containers and its Pods' phase.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use crate::domain::config::duration;
use crate::domain::manifests::Component;
use crate::exec::api::Session;
use crate::workflow::{cluster, PhaseContext, UpgradeData};

/// How often the mirror Pod and the component's Pods are read (kubeadm's API retry interval).
const POLL: Duration = Duration::from_millis(500);
pub(super) const CONFIG_HASH: &str = "kubernetes.io/config.hash";

/// What is left of `timeout` since `start` for one API call (at least a second, so that a last
/// call can still be made).
fn left(start: Instant, timeout: Duration) -> Duration {
    timeout
        .saturating_sub(start.elapsed())
        .max(Duration::from_secs(1))
}

/// Asks `check` every half second, from `start` until `timeout` has passed, until it answers; it
/// is given what is left of the time for its call. After the timeout, what it last said.
fn poll<T>(
    start: Instant,
    timeout: Duration,
    mut check: impl FnMut(Duration) -> Result<T, String>,
) -> Result<T, String> {
    loop {
        let last = match check(left(start, timeout)) {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        if start.elapsed() > timeout {
            return Err(last);
        }
        std::thread::sleep(POLL);
    }
}

/// The mirror Pod's hash of `component` on `node`, asked for at most `limit`.
pub(super) fn mirror_hash(
    session: &Session,
    component: &str,
    node: &str,
    limit: Duration,
) -> Result<String, String> {
    let pod = mirror_pod(session, component, node, limit)?;
    let name = format!("{component}-{node}");
    pod.metadata
        .annotations
        .and_then(|mut a| a.remove(CONFIG_HASH))
        .ok_or_else(|| format!("the mirror Pod kube-system/{name} has no {CONFIG_HASH} annotation"))
}

fn mirror_pod(
    session: &Session,
    component: &str,
    node: &str,
    limit: Duration,
) -> Result<Pod, String> {
    let pods: Api<Pod> = Api::namespaced(session.client(), "kube-system");
    let name = format!("{component}-{node}");
    let what = format!("get Pod kube-system/{name}");
    session
        .call_within(limit, &what, || pods.get(&name))
        .map_err(|e| e.to_string())
}
/// Waits for the kubelet to run the new manifest: the mirror Pod's hash changes from `before` (when
/// the manifest changed), then every Pod of the component is Running. The error says what was
/// last seen.
pub(super) fn wait_restarted(
    ctx: &mut PhaseContext<'_, UpgradeData>,
    component: Component,
    before: Option<&str>,
    timeout: Duration,
) -> Result<(), String> {
    let node = ctx.data.node.name.clone();
    cluster::session(ctx).map_err(|e| e.to_string())?;
    // Held apart from the context while the wait prints through it; put back at the end.
    let session = ctx.api.take().expect("opened above");
    let outcome = wait_with(ctx, &session, component, &node, before, timeout);
    ctx.api = Some(session);
    outcome
}

fn wait_with(
    ctx: &mut PhaseContext<'_, UpgradeData>,
    session: &Session,
    component: Component,
    node: &str,
    before: Option<&str>,
    timeout: Duration,
) -> Result<(), String> {
    let name = component.name();
    // One timeout for both waits.
    let start = Instant::now();
    if let Some(before) = before {
        poll(start, timeout, |limit| match mirror_hash(session, name, node, limit) {
            Ok(hash) if hash != before => Ok(()),
            Ok(_) => Err(format!("the mirror Pod kube-system/{name}-{node} still has the hash {before} of the old manifest: the kubelet has not run the new one")),
            Err(e) => Err(e),
        })
        .map_err(|last| {
            format!(
                "static Pod hash for component {name} on Node {node} did not change after {}: {last}",
                duration::format(timeout)
            )
        })?;
    }
    let pods: Api<Pod> = Api::namespaced(session.client(), "kube-system");
    let selector = format!("component={name}");
    let params = ListParams::default().labels(&selector);
    let what = format!("list Pods in kube-system with labels {selector}");
    let mut seen = None;
    poll(start, timeout, |limit| {
        match session.call_within(limit, &what, || pods.list(&params)) {
            Ok(list) => {
                if seen != Some(list.items.len()) {
                    seen = Some(list.items.len());
                    ctx.sink.line(&format!(
                        "[apiclient] Found {} Pods for label selector {selector}",
                        list.items.len()
                    ));
                }
                let waiting: Vec<String> = list
                    .items
                    .iter()
                    .filter(|p| {
                        p.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Running")
                    })
                    .filter_map(|p| p.metadata.name.clone())
                    .collect();
                if !list.items.is_empty() && waiting.is_empty() {
                    return Ok(());
                }
                Err(format!("not Running yet: {}", waiting.join(", ")))
            }
            Err(e) => {
                ctx.sink.line(&format!(
                    "[apiclient] Error getting Pods with label selector {selector:?} [{e}]"
                ));
                Err(e.to_string())
            }
        }
    })
    .map_err(|last| {
        format!(
            "the Pods of {name} (labels {selector}) were not all Running after {}: {last}",
            duration::format(timeout)
        )
    })
}

/// Waits until `component`'s mirror Pod shows `hash` again: the kubelet runs the restored manifest.
pub(super) fn wait_hash_back(
    ctx: &mut PhaseContext<'_, UpgradeData>,
    component: Component,
    hash: &str,
    timeout: Duration,
) -> Result<(), String> {
    let node = ctx.data.node.name.clone();
    let session = cluster::session(ctx).map_err(|e| e.to_string())?;
    let name = component.name();
    poll(Instant::now(), timeout, |limit| {
        match mirror_hash(session, name, &node, limit) {
            Ok(now) if now == hash => Ok(()),
            Ok(now) => Err(format!(
                "its mirror Pod has the hash {now}, not {hash} of the restored manifest"
            )),
            Err(e) => Err(e),
        }
    })
    .map_err(|last| {
        format!(
            "the kubelet did not run the restored {name} manifest within {}: {last}",
            duration::format(timeout)
        )
    })
}

/// Each container's (name, image, command) of a Pod given as JSON.
fn containers(pod: &serde_json::Value) -> Vec<[serde_json::Value; 3]> {
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| [c["name"].clone(), c["image"].clone(), c["command"].clone()])
        .collect()
}

/// Whether the kubelet runs `manifest` for `component` on `node`: the mirror Pod has the
/// manifest's containers (names, images, commands) and is Running. Says what differs otherwise.
fn runs_manifest(
    session: &Session,
    component: &str,
    node: &str,
    manifest: &str,
    limit: Duration,
) -> Result<(), String> {
    let wanted = crate::domain::config::yaml::parse_documents(manifest)
        .ok()
        .and_then(|docs| docs.into_iter().next())
        .map(|doc| containers(&doc.value))
        .unwrap_or_default();
    let pod = mirror_pod(session, component, node, limit)?;
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    let seen = containers(&serde_json::to_value(&pod).map_err(|e| e.to_string())?);
    if seen != wanted {
        let images: Vec<String> = seen.iter().map(|c| c[1].to_string()).collect();
        return Err(format!(
            "the mirror Pod kube-system/{component}-{node} still describes the old manifest (images {})",
            images.join(", ")
        ));
    }
    if phase != "Running" {
        return Err(format!(
            "the mirror Pod kube-system/{component}-{node} is {phase:?}, not Running"
        ));
    }
    Ok(())
}

/// For a manifest this run found already written (a run before it was stopped after writing it):
/// waits until the kubelet runs it, rather than take the file for the fact. Returns at once
/// (false) when it does, else true once it waited for it; the error names the component and what
/// its mirror Pod last showed.
pub(super) fn wait_runs_manifest(
    ctx: &mut PhaseContext<'_, UpgradeData>,
    component: Component,
    manifest: &str,
    timeout: Duration,
) -> Result<bool, String> {
    let node = ctx.data.node.name.clone();
    let name = component.name();
    let session = cluster::session(ctx).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let first = match runs_manifest(session, name, &node, manifest, left(start, timeout)) {
        Ok(()) => return Ok(false),
        Err(e) => e,
    };
    ctx.sink.line(&format!(
        "[upgrade/staticpods] The manifest of {name} is already the new one, but the kubelet does not run it yet: waiting up to {} ({first})",
        duration::format(timeout)
    ));
    let session = cluster::session(ctx).map_err(|e| e.to_string())?;
    std::thread::sleep(POLL);
    poll(start, timeout, |limit| {
        runs_manifest(session, name, &node, manifest, limit)
    })
    .map(|()| true)
    .map_err(|last| {
        format!(
            "the kubelet did not run the {name} manifest already in {} within {}: {last}",
            component.manifest_path(),
            duration::format(timeout)
        )
    })
}

/// The likely cause of a wait for `component` that ended with `error`, and where to look
/// further (the container runtime at `cri_socket`), as `wait-control-plane` explains its waits;
/// nothing when the error did not come from a wait.
pub(super) fn likely_cause(component: Component, error: &str, cri_socket: &str) -> Option<String> {
    let name = component.name();
    let waited = [
        "did not change after",
        "were not all Running after",
        "did not run the",
    ];
    if !waited.iter().any(|w| error.contains(w)) {
        return None;
    }
    let cause = if error.contains("of the old manifest") {
        format!("the kubelet has not started the new {name} manifest: is the kubelet running ('systemctl status kubelet', 'journalctl -xeu kubelet')?")
    } else if error.contains("did not answer") && component == Component::ApiServer {
        "the new kube-apiserver does not serve: it most likely exits at start (a flag, a file or a certificate it cannot use)".to_string()
    } else if error.contains("did not answer") {
        format!("the API server stopped answering while {name} restarted")
    } else if error.contains("not Running") {
        format!("the new {name} started but is not Running (it keeps exiting, or is not ready)")
    } else {
        format!("the new {name} did not come up")
    };
    let crictl = format!("crictl --runtime-endpoint {cri_socket}");
    Some(format!("likely cause: {cause}; to look further: '{crictl} ps -a --name {name}', then '{crictl} logs CONTAINERID'"))
}

#[cfg(test)]
mod tests {
    use super::containers;
    use serde_json::json;

    #[test]
    fn a_failed_wait_names_its_likely_cause() {
        use crate::domain::manifests::Component;
        let socket = "unix:///var/run/containerd/containerd.sock";
        let cause = super::likely_cause(
            Component::ApiServer,
            "static Pod hash for component kube-apiserver on Node cp1 did not change after 40s: could not get Pod kube-system/kube-apiserver-cp1: the API server did not answer: connection refused",
            socket,
        )
        .unwrap();
        assert!(
            cause.starts_with("likely cause: the new kube-apiserver does not serve"),
            "{cause}"
        );
        assert!(cause.contains("'crictl --runtime-endpoint unix:///var/run/containerd/containerd.sock ps -a --name kube-apiserver'"), "{cause}");
        let cause = super::likely_cause(
            Component::Scheduler,
            "static Pod hash for component kube-scheduler on Node cp1 did not change after 5m0s: the mirror Pod kube-system/kube-scheduler-cp1 still has the hash 1 of the old manifest: the kubelet has not run the new one",
            socket,
        )
        .unwrap();
        assert!(
            cause.contains("the kubelet has not started the new kube-scheduler manifest"),
            "{cause}"
        );
        let cause = super::likely_cause(
            Component::ControllerManager,
            "the Pods of kube-controller-manager (labels component=kube-controller-manager) were not all Running after 5m0s: not Running yet: kube-controller-manager-cp1",
            socket,
        )
        .unwrap();
        assert!(cause.contains("started but is not Running"), "{cause}");
        // Not a wait: nothing to add.
        assert_eq!(
            super::likely_cause(
                Component::ApiServer,
                "failed to renew certificates for component \"kube-apiserver\": disk full",
                socket
            ),
            None
        );
    }

    #[test]
    fn a_mirror_pod_matches_its_manifest_whatever_the_kubelet_defaulted() {
        let manifest = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: kube-scheduler\n    image: registry.k8s.io/kube-scheduler:v1.34.4\n    command: [kube-scheduler, --leader-elect=true]\n";
        let doc = crate::domain::config::yaml::parse_documents(manifest).unwrap();
        let wanted = containers(&doc[0].value);
        let mut mirror = json!({"spec": {"containers": [{
            "name": "kube-scheduler",
            "image": "registry.k8s.io/kube-scheduler:v1.34.4",
            "command": ["kube-scheduler", "--leader-elect=true"],
            "imagePullPolicy": "IfNotPresent",
            "terminationMessagePath": "/dev/termination-log"
        }]}});
        assert_eq!(containers(&mirror), wanted);
        mirror["spec"]["containers"][0]["image"] = json!("registry.k8s.io/kube-scheduler:v1.33.13");
        assert_ne!(containers(&mirror), wanted);
        mirror["spec"]["containers"][0]["image"] = json!("registry.k8s.io/kube-scheduler:v1.34.4");
        mirror["spec"]["containers"][0]["command"][1] = json!("--leader-elect=false");
        assert_ne!(containers(&mirror), wanted);
    }
}
