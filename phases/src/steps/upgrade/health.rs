//! kubeadm's `CheckClusterHealth` before an upgrade: a test Job run to completion on a
//! schedulable Node (`CreateJob`), the control-plane Nodes Ready (`ControlPlaneNodesReady`) and
//! this node's control-plane manifests in place (`StaticPodManifest`), each named as kubeadm
//! names it for `--ignore-preflight-errors`.

use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams, PostParams};

use crate::domain::manifests::Component;
use crate::exec::api::Session;

/// How long kubeadm gives the test Job to be made and to complete, each.
const JOB_TIMEOUT: Duration = Duration::from_secs(15);
const JOB_PREFIX: &str = "upgrade-health-check";

/// One check of the cluster's health, named as kubeadm names it for `--ignore-preflight-errors`.
pub type Finding = (&'static str, Result<(), String>);

/// The three checks, in kubeadm's order. `pause_image` is what the test Job runs.
pub fn cluster_health(
    session: &Session,
    host: &dyn kinit_preflight::Host,
    pause_image: &str,
) -> Vec<Finding> {
    let mut findings: Vec<Finding> = vec![("CreateJob", create_job(session, pause_image))];
    let nodes: Api<Node> = Api::all(session.client());
    let label = "node-role.kubernetes.io/control-plane";
    let params = ListParams::default().labels(&format!("{label}="));
    let ready = match session.call("list control-plane Nodes", || nodes.list(&params)) {
        Err(e) => Err(format!("could not list nodes labeled with {label:?}: {e}")),
        Ok(list) => {
            let not_ready: Vec<String> = list
                .items
                .iter()
                .filter(|n| {
                    !n.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                })
                .filter_map(|n| n.metadata.name.clone())
                .collect();
            if not_ready.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "there are NotReady control-planes in the cluster: [{}]",
                    not_ready.join(" ")
                ))
            }
        }
    };
    findings.push(("ControlPlaneNodesReady", ready));
    let missing: Vec<String> = [
        Component::ApiServer,
        Component::ControllerManager,
        Component::Scheduler,
    ]
    .iter()
    .map(|c| c.manifest_path())
    .filter(|p| !host.exists(p))
    .collect();
    findings.push((
        "StaticPodManifest",
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("manifest files not found: [{}]", missing.join(" ")))
        },
    ));
    findings
}

/// The findings as kubeadm's `RunChecks` reports them: the warning lines (errors that are
/// ignored), and the error text when one is not.
pub fn judge(
    findings: Vec<Finding>,
    ignore: &kinit_preflight::IgnoreList,
) -> (Vec<String>, Option<String>) {
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for (name, outcome) in findings {
        match outcome {
            Ok(()) => {}
            Err(e) if ignore.ignores(name) => warnings.push(format!("[WARNING {name}]: {e}")),
            Err(e) => errors.push(format!("[ERROR {name}]: {e}")),
        }
    }
    let error = (!errors.is_empty()).then(|| {
        let listed: String = errors.iter().map(|e| format!("\t{e}\n")).collect();
        format!("[preflight] Some fatal errors occurred:\n{listed}[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`")
    });
    (warnings, error)
}

/// What is left of one of the check's 15 s waits begun at `start`, for one API call.
fn left(start: Instant) -> Duration {
    JOB_TIMEOUT
        .saturating_sub(start.elapsed())
        .max(Duration::from_secs(1))
}

/// kubeadm's `CreateJob`: when a Node can take Pods, a Job of one pause container (as user 999,
/// tolerating the control-plane taint, gone 20 s after it ends) must complete within 15 s; without
/// such a Node the check is skipped with a warning.
fn create_job(session: &Session, pause_image: &str) -> Result<(), String> {
    let nodes: Api<Node> = Api::all(session.client());
    let schedulable = ListParams::default()
        .fields("spec.unschedulable=false")
        .limit(1);
    let start = Instant::now();
    let list = session
        .call_within(left(start), "list schedulable Nodes", || {
            nodes.list(&schedulable)
        })
        .map_err(|e| {
            format!(
                "could not check if there is at least one Node that can schedule a test Pod: {e}"
            )
        })?;
    if list.items.is_empty() {
        tracing::warn!("The preflight check \"CreateJob\" was skipped because there are no schedulable Nodes in the cluster.");
        return Ok(());
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let name = format!("{JOB_PREFIX}-{stamp}");
    let lifetime = (JOB_TIMEOUT + Duration::from_secs(5)).as_secs();
    let job: Job = serde_json::from_value(serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": lifetime,
            "activeDeadlineSeconds": lifetime,
            "template": {"spec": {
                "restartPolicy": "Never",
                "securityContext": {"runAsUser": 999, "runAsGroup": 999, "runAsNonRoot": true},
                "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
                "containers": [{"name": JOB_PREFIX, "image": pause_image, "args": ["-v"]}]
            }}
        }
    }))
    .map_err(|e| format!("the test Job {name}: {e}"))?;
    let jobs: Api<Job> = Api::namespaced(session.client(), "kube-system");
    let post = PostParams::default();
    let start = Instant::now();
    session
        .call_within(
            left(start),
            &format!("create Job kube-system/{name}"),
            || jobs.create(&post, &job),
        )
        .map_err(|e| {
            format!("could not create Job {name:?} in the namespace \"kube-system\": {e}")
        })?;
    let start = Instant::now();
    let mut last;
    loop {
        let what = format!("get Job kube-system/{name}");
        last = match session.call_within(left(start), &what, || jobs.get(&name)) {
            Ok(job) => {
                let complete = job
                    .status
                    .and_then(|s| s.conditions)
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Complete"));
                if complete {
                    return Ok(());
                }
                "no condition of type Complete (is a kubelet running Pods on the schedulable Nodes? cordoned Nodes are not used)".to_string()
            }
            Err(e) => e.to_string(),
        };
        if start.elapsed() >= JOB_TIMEOUT {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    Err(format!(
        "Job {name:?} in the namespace \"kube-system\" did not complete in {}s: {last}",
        JOB_TIMEOUT.as_secs()
    ))
}
