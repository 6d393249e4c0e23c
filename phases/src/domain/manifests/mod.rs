//! The static pods of a control-plane node: what goes into each (flags, volumes, probes), rendered from
//! `templates/static-pod.yaml.hbs`, parsed into a typed Pod, and written as kubeadm writes it.

pub(crate) mod flags;
pub(crate) mod probes;
pub(crate) mod volumes;

use crate::domain::config::resolve::InitConfig;
use crate::domain::config::types::{EnvVar, LocalEtcd};
use crate::domain::config::yaml::parse_documents;
use handlebars::Handlebars;
use k8s_openapi::api::core::v1::Pod;
use probes::Probe;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use volumes::HostPath;

pub use crate::domain::layout::MANIFESTS_DIR;
pub const MANIFEST_MODE: u32 = 0o600;
pub const MANIFESTS_DIR_MODE: u32 = 0o700;

const TEMPLATE: &str = include_str!("../../../../templates/static-pod.yaml.hbs");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Etcd,
    ApiServer,
    ControllerManager,
    Scheduler,
}

impl Component {
    /// The pod, container, binary and patch-target name.
    pub fn name(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::ApiServer => "kube-apiserver",
            Component::ControllerManager => "kube-controller-manager",
            Component::Scheduler => "kube-scheduler",
        }
    }

    pub fn manifest_path(self) -> String {
        format!("{MANIFESTS_DIR}/{}.yaml", self.name())
    }
}

/// What a manifest depends on besides the configuration, read from the host by the phase.
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    /// Which of [`volumes::CA_CERTS_EXTRA_DIRS`] exist on the host.
    pub ca_cert_dirs: Vec<String>,
    /// ca.crt without ca.key in the certificates folder.
    pub external_ca: bool,
    /// kinit's own `*_proxy` variables, handed to the control-plane components.
    pub proxy_env: Vec<EnvVar>,
    /// The etcd cluster a joining control-plane node's etcd starts into (see `flags::etcd`).
    pub etcd_join: Option<Vec<flags::EtcdPeer>>,
}

/// The variables kubeadm passes on: every one whose name ends in `_proxy` (any case) and is not empty.
pub fn proxy_env(vars: impl IntoIterator<Item = (String, String)>) -> Vec<EnvVar> {
    vars.into_iter()
        .filter(|(name, value)| name.to_lowercase().ends_with("_proxy") && !value.is_empty())
        .map(|(name, value)| EnvVar {
            name,
            value,
            value_from: None,
        })
        .collect()
}

/// kubeadm's MergeKubeadmEnvVars: a later list wins by name, and the result is sorted by name.
fn merge_env(lists: &[&[EnvVar]]) -> Vec<EnvVar> {
    let mut merged: BTreeMap<&str, &EnvVar> = BTreeMap::new();
    for list in lists {
        for var in *list {
            merged.insert(&var.name, var);
        }
    }
    merged.into_values().cloned().collect()
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplateVolume {
    name: String,
    path: String,
    #[serde(rename = "type")]
    path_type: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplateMount {
    name: String,
    mount_path: String,
    read_only: bool,
}

/// Everything the template needs for one pod.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplateData {
    name: &'static str,
    image: String,
    command: Vec<String>,
    annotations: Option<BTreeMap<String, String>>,
    env: Vec<EnvVar>,
    liveness_probe: Option<Probe>,
    readiness_probe: Option<Probe>,
    startup_probe: Option<Probe>,
    /// The probed port, named in the container's ports from 1.34.
    probe_port: Option<i32>,
    requests: BTreeMap<&'static str, &'static str>,
    mounts: Vec<TemplateMount>,
    volumes: Vec<TemplateVolume>,
}

fn mounts_and_volumes(list: Vec<HostPath>) -> (Vec<TemplateMount>, Vec<TemplateVolume>) {
    let mounts = list
        .iter()
        .map(|v| TemplateMount {
            name: v.name.clone(),
            mount_path: v.mount_path.clone(),
            read_only: v.read_only,
        })
        .collect();
    let mut volumes: Vec<TemplateVolume> = list
        .into_iter()
        .map(|v| TemplateVolume {
            name: v.name,
            path: v.host_path,
            path_type: v.path_type,
        })
        .collect();
    volumes.sort_by(|a, b| a.name.cmp(&b.name));
    (mounts, volumes)
}

/// The local etcd settings; `None` with external etcd, where kinit writes no etcd pod.
pub fn local_etcd(config: &InitConfig) -> Option<&LocalEtcd> {
    if config.cluster.etcd.external.is_some() {
        return None;
    }
    config.cluster.etcd.local.as_ref()
}

fn template_data(
    component: Component,
    config: &InitConfig,
    facts: &HostFacts,
) -> Result<TemplateData, String> {
    let cluster = &config.cluster;
    let timeout = probes::health_check_timeout(config);
    let minor = config.version.minor;
    let image = |name| crate::domain::images::kubernetes_image(cluster, &config.version, name);
    let data = match component {
        Component::Etcd => {
            let local = local_etcd(config).ok_or(
                "the configuration uses external etcd, so there is no local etcd pod to write",
            )?;
            let tag = crate::domain::images::etcd_tag(local, &config.version);
            let defaults = flags::etcd(
                config,
                &local.data_dir,
                flags::etcd_flag_style(tag),
                facts.etcd_join.as_deref(),
            );
            let endpoint = probes::etcd(config);
            let (mounts, volumes) = mounts_and_volumes(volumes::etcd(config, &local.data_dir));
            TemplateData {
                name: component.name(),
                image: crate::domain::images::etcd_image(cluster, local, &config.version),
                command: flags::command("etcd", defaults, &local.extra_args, minor),
                annotations: Some(BTreeMap::from([(
                    "kubeadm.kubernetes.io/etcd.advertise-client-urls".to_string(),
                    flags::etcd_client_url(config),
                )])),
                // kubeadm gives etcd only its own extraEnvs, not the proxy variables.
                env: merge_env(&[&local.extra_envs]),
                liveness_probe: Some(endpoint.liveness("/livez")),
                readiness_probe: Some(endpoint.readiness("/readyz")),
                startup_probe: Some(endpoint.startup("/readyz", timeout)),
                probe_port: Some(endpoint.port),
                requests: BTreeMap::from([("cpu", "100m"), ("memory", "100Mi")]),
                mounts,
                volumes,
            }
        }
        Component::ApiServer => {
            let api = &cluster.api_server;
            let endpoint = probes::apiserver(config);
            let local = &config.init.local_api_endpoint;
            let (mounts, volumes) =
                mounts_and_volumes(volumes::apiserver(config, &facts.ca_cert_dirs));
            TemplateData {
                name: component.name(),
                image: image(component.name()),
                command: flags::command(
                    "kube-apiserver",
                    flags::apiserver(config),
                    &api.extra_args,
                    minor,
                ),
                annotations: Some(BTreeMap::from([(
                    "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint".to_string(),
                    flags::host_port(&local.advertise_address, local.bind_port),
                )])),
                env: merge_env(&[&facts.proxy_env, &api.extra_envs]),
                liveness_probe: Some(endpoint.liveness("/livez")),
                readiness_probe: Some(endpoint.readiness("/readyz")),
                startup_probe: Some(endpoint.startup("/livez", timeout)),
                probe_port: Some(endpoint.port),
                requests: BTreeMap::from([("cpu", "250m")]),
                mounts,
                volumes,
            }
        }
        Component::ControllerManager => {
            let kcm = &cluster.controller_manager;
            let endpoint = probes::controller_manager(config);
            let (mounts, volumes) =
                mounts_and_volumes(volumes::controller_manager(config, &facts.ca_cert_dirs));
            TemplateData {
                name: component.name(),
                image: image(component.name()),
                command: flags::command(
                    "kube-controller-manager",
                    flags::controller_manager(config, facts.external_ca),
                    &kcm.extra_args,
                    minor,
                ),
                annotations: None,
                env: merge_env(&[&facts.proxy_env, &kcm.extra_envs]),
                liveness_probe: Some(endpoint.liveness("/healthz")),
                readiness_probe: None,
                startup_probe: Some(endpoint.startup("/healthz", timeout)),
                probe_port: Some(endpoint.port),
                requests: BTreeMap::from([("cpu", "200m")]),
                mounts,
                volumes,
            }
        }
        Component::Scheduler => {
            let scheduler = &cluster.scheduler;
            let endpoint = probes::scheduler(config);
            let (mounts, volumes) = mounts_and_volumes(volumes::scheduler(config));
            TemplateData {
                name: component.name(),
                image: image(component.name()),
                command: flags::command(
                    "kube-scheduler",
                    flags::scheduler(),
                    &scheduler.extra_args,
                    minor,
                ),
                annotations: None,
                env: merge_env(&[&facts.proxy_env, &scheduler.extra_envs]),
                // kubeadm probes the scheduler's /livez and /readyz from 1.32 on.
                liveness_probe: Some(endpoint.liveness(if minor >= 32 {
                    "/livez"
                } else {
                    "/healthz"
                })),
                readiness_probe: (minor >= 32).then(|| endpoint.readiness("/readyz")),
                startup_probe: Some(
                    endpoint.startup(if minor >= 32 { "/livez" } else { "/healthz" }, timeout),
                ),
                probe_port: Some(endpoint.port),
                requests: BTreeMap::from([("cpu", "100m")]),
                mounts,
                volumes,
            }
        }
    };
    Ok(name_probe_port(data, minor))
}

/// kubeadm 1.34 gives the probed port a name in the container's ports and points the probes at the name.
fn name_probe_port(mut data: TemplateData, minor: u32) -> TemplateData {
    if minor < 34 {
        data.probe_port = None;
        return data;
    }
    for probe in [
        &mut data.liveness_probe,
        &mut data.readiness_probe,
        &mut data.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        probe.port = PROBE_PORT_NAME.into();
    }
    data
}

const PROBE_PORT_NAME: &str = "probe-port";

/// The template engine with the static Pod template compiled, once per process: compiling costs more than
/// rendering all four manifests.
fn engine() -> Result<&'static Handlebars<'static>, String> {
    static ENGINE: std::sync::OnceLock<Result<Handlebars<'static>, String>> =
        std::sync::OnceLock::new();
    ENGINE
        .get_or_init(|| crate::domain::templates::compile(&[("static-pod.yaml.hbs", TEMPLATE)]))
        .as_ref()
        .map_err(Clone::clone)
}

fn render(data: &TemplateData) -> Result<String, String> {
    engine()?
        .render("static-pod.yaml.hbs", data)
        .map_err(|e| format!("templates/static-pod.yaml.hbs: {e}"))
}

/// Reads a pod from JSON, refusing fields a Pod does not have rather than dropping them unseen.
pub fn pod_from_value(value: Value, what: &str) -> Result<Pod, String> {
    typed_from_value(value, what, "Pod")
}

/// Reads a Kubernetes object from JSON, refusing fields its type does not have: k8s-openapi would
/// drop them unseen, and a misspelt field in a template or patch must be an error.
pub fn typed_from_value<T: serde::de::DeserializeOwned>(
    value: Value,
    what: &str,
    kind: &str,
) -> Result<T, String> {
    let mut unknown = Vec::new();
    // serde_ignored marks each Option on the way with `?`, which means nothing to a reader.
    let object: T = serde_ignored::deserialize(value, |path| {
        unknown.push(path.to_string().replace(".?", "").replace("?.", ""))
    })
    .map_err(|e| format!("{what} is not a valid {kind}: {e}"))?;
    if !unknown.is_empty() {
        return Err(format!(
            "{what} is not a valid {kind}: unknown field(s) {}",
            unknown.join(", ")
        ));
    }
    Ok(object)
}

/// The pod of a component: its template rendered with this configuration and host, parsed.
pub fn build(component: Component, config: &InitConfig, facts: &HostFacts) -> Result<Pod, String> {
    let text = render(&template_data(component, config, facts)?)?;
    let documents = parse_documents(&text).map_err(|e| {
        format!(
            "the rendered {} manifest is not YAML (line {}: {})",
            component.name(),
            e.line,
            e.message
        )
    })?;
    let value = documents
        .into_iter()
        .next()
        .map(|d| d.value)
        .ok_or_else(|| format!("the rendered {} manifest is empty", component.name()))?;
    pod_from_value(
        value,
        &format!("the rendered {} manifest", component.name()),
    )
}

/// A pod as JSON with the fields Go writes for an object never sent to an API server: `status: {}`,
/// and before 1.34 `creationTimestamp: null` (1.34's apimachinery leaves the zero time out, `omitzero`).
/// `minor` is the cluster's Kubernetes minor, whose kubeadm wrote the file.
pub fn manifest_value(pod: &Pod, minor: u32) -> Result<Value, String> {
    let mut value = serde_json::to_value(pod).map_err(|e| e.to_string())?;
    if let Some(object) = value.as_object_mut() {
        object.insert("status".into(), json!({}));
        if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            if minor < 34 {
                metadata.insert("creationTimestamp".into(), Value::Null);
            }
        }
    }
    Ok(value)
}

/// The file's text: the pod as YAML, keys sorted as kubeadm's serializer sorts them.
pub fn to_yaml(pod: &Pod, minor: u32) -> Result<String, String> {
    crate::domain::config::to_yaml(&manifest_value(pod, minor)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::config::resolve::{resolve_init, InitFlags};

    fn config() -> InitConfig {
        let flags = InitFlags {
            apiserver_advertise_address: Some("198.51.100.10".into()),
            node_name: Some("cp1".into()),
            kubernetes_version: Some("v1.34.1".into()),
            ..Default::default()
        };
        resolve_init(None, &flags, std::path::Path::new("/nonexistent")).unwrap()
    }

    #[test]
    fn every_component_renders_into_a_pod_with_kubeadms_frame() {
        let config = config();
        for component in [
            Component::Etcd,
            Component::ApiServer,
            Component::ControllerManager,
            Component::Scheduler,
        ] {
            let pod = build(component, &config, &HostFacts::default()).unwrap();
            let text = to_yaml(&pod, 33).unwrap();
            assert!(text.contains("creationTimestamp: null"), "{text}");
            assert!(!to_yaml(&pod, 34).unwrap().contains("creationTimestamp"));
            assert!(text.ends_with("status: {}\n"), "{text}");
            let spec = pod.spec.unwrap();
            assert_eq!(spec.priority, Some(2000001000));
            assert_eq!(spec.host_network, Some(true));
            let container = &spec.containers[0];
            assert_eq!(container.name, component.name());
            assert_eq!(container.command.as_ref().unwrap()[0], component.name());
        }
    }

    #[test]
    fn values_with_yaml_syntax_stay_one_string() {
        let mut config = config();
        config.cluster.scheduler.extra_args = vec![crate::domain::config::types::Arg {
            name: "v".into(),
            value: "2 # not a comment: {really} \"quoted\"".into(),
        }];
        config.cluster.scheduler.extra_envs = vec![EnvVar {
            name: "FROM".into(),
            value: String::new(),
            value_from: Some(json!({"fieldRef": {"fieldPath": "status.podIP"}})),
        }];
        let pod = build(Component::Scheduler, &config, &HostFacts::default()).unwrap();
        let container = &pod.spec.unwrap().containers[0];
        assert!(container
            .command
            .as_ref()
            .unwrap()
            .contains(&"--v=2 # not a comment: {really} \"quoted\"".to_string()));
        let env = container.env.as_ref().unwrap();
        assert_eq!(
            env[0]
                .value_from
                .as_ref()
                .unwrap()
                .field_ref
                .as_ref()
                .unwrap()
                .field_path,
            "status.podIP"
        );
    }

    #[test]
    fn proxy_variables_are_those_kubeadm_passes_on() {
        let vars = [
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("no_proxy", "10.0.0.0/8"),
            ("EMPTY_PROXY", ""),
            ("PROXYISH", "x"),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()));
        let names: Vec<String> = proxy_env(vars).into_iter().map(|e| e.name).collect();
        assert_eq!(names, vec!["HTTPS_PROXY", "no_proxy"]);
    }

    #[test]
    fn unknown_pod_fields_are_refused() {
        let err = pod_from_value(
            json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [], "hostNetwrk": true}}),
            "the patched etcd manifest",
        )
        .unwrap_err();
        assert!(err.contains("spec.hostNetwrk"), "{err}");
    }
}
