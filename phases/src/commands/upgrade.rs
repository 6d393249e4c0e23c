//! What `kinit upgrade` reads from the cluster before it plans or applies: the kubeadm-config and
//! component configuration ConfigMaps, the versions its control-plane Pods, kubelets and CoreDNS
//! run, and the API server's own version; and this node's configuration at the target version.

use std::path::Path;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{Api, ListParams};

use super::PrepareError;
use crate::domain::config::decode;
use crate::domain::config::defaults;
use crate::domain::config::resolve::{self, InitConfig};
use crate::domain::config::types::InitConfiguration;
use crate::domain::upgrade::facts::{ClusterFacts, NodeIdentity};
use crate::domain::upgrade::plan::ClusterVersions;
use crate::domain::upgrade::plan::VersionsOnNodes;
use crate::domain::versions::KubernetesVersion;
use crate::exec::api::{ApiError, Session};

/// The namespace of everything read here.
const KUBE_SYSTEM: &str = "kube-system";

/// The image tag of a Pod's first container, `_` back to `+` (kubeadm's `ComponentVersions`).
fn image_version(pod: &Pod) -> Option<String> {
    let image = pod.spec.as_ref()?.containers.first()?.image.clone()?;
    let tag = image.rsplit_once(':')?.1;
    Some(tag.replacen('_', "+", 1))
}

fn versions_of(pods: &[Pod]) -> VersionsOnNodes {
    let mut on = VersionsOnNodes::new();
    for pod in pods {
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        if let Some(version) = image_version(pod) {
            on.entry(version).or_default().push(node);
        }
    }
    on
}

/// Reads the ConfigMaps, Pods, Nodes and CoreDNS Deployments `upgrade` needs, all at once.
pub fn read_cluster(session: &Session) -> Result<ClusterFacts, String> {
    let client = session.client();
    let limit = session.call_limit();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), KUBE_SYSTEM);
    let pods: Api<Pod> = Api::namespaced(client.clone(), KUBE_SYSTEM);
    let nodes: Api<Node> = Api::all(client.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), KUBE_SYSTEM);
    let config_map = |name: &'static str| {
        let config_maps = config_maps.clone();
        async move {
            let what = format!("get ConfigMap {KUBE_SYSTEM}/{name}");
            crate::exec::api::call(limit, &what, || config_maps.get(name)).await
        }
    };
    let component = |name: &'static str| {
        let pods = pods.clone();
        async move {
            let selector = format!("component={name},tier=control-plane");
            let what = format!("list Pods in {KUBE_SYSTEM} with labels {selector}");
            let params = ListParams::default().labels(&selector);
            crate::exec::api::call(limit, &what, || pods.list(&params))
                .await
                .map(|list| versions_of(&list.items))
        }
    };
    let all = ListParams::default();
    let kubelets = async {
        crate::exec::api::call(limit, "list Nodes", || nodes.list(&all))
            .await
            .map(|list| {
                let mut on = VersionsOnNodes::new();
                for node in list.items {
                    let version = node
                        .status
                        .and_then(|s| s.node_info)
                        .map(|i| i.kubelet_version)
                        .unwrap_or_default();
                    on.entry(version)
                        .or_default()
                        .push(node.metadata.name.unwrap_or_default());
                }
                on
            })
    };
    let coredns = async {
        let params = ListParams::default().labels("k8s-app=kube-dns");
        let what = format!("list Deployments in {KUBE_SYSTEM} with labels k8s-app=kube-dns");
        crate::exec::api::call(limit, &what, || deployments.list(&params)).await
    };
    let version = async {
        crate::exec::api::call(limit, "get /version", || client.apiserver_version()).await
    };
    let (kubeadm, kubelet, proxy, api, cm, sched, etcd, nodes, dns, version) =
        session.block_on(async {
            futures::join!(
                config_map("kubeadm-config"),
                config_map("kubelet-config"),
                config_map("kube-proxy"),
                component("kube-apiserver"),
                component("kube-controller-manager"),
                component("kube-scheduler"),
                component("etcd"),
                kubelets,
                coredns,
                version
            )
        });
    let kubeadm = kubeadm.map_err(|e| {
        if e.is_not_found() {
            format!("{e}: in order to upgrade, a ConfigMap called \"kubeadm-config\" in the \"kube-system\" namespace must exist; use 'kinit init phase upload-config kubeadm --config your-config-file' to re-upload it")
        } else {
            e.to_string()
        }
    })?;
    let cluster_configuration = kubeadm
        .data
        .and_then(|mut d| d.remove("ClusterConfiguration"))
        .ok_or("unexpected error when reading kubeadm-config ConfigMap: ClusterConfiguration key value pair missing")?;
    // A worker's `upgrade node` reads with kubelet.conf, whose node identity may not read the
    // control plane's Pods, the other Nodes, the CoreDNS Deployment or kube-proxy's ConfigMap:
    // only `plan` and `apply`, which read with admin.conf, need them.
    let optional = |found: Result<ConfigMap, ApiError>, key: &str| match found {
        Ok(map) => Ok(map.data.and_then(|mut d| d.remove(key))),
        Err(e) if e.is_not_found() || e.is_forbidden() => Ok(None),
        Err(e) => Err(e.to_string()),
    };
    let versions = |found: Result<VersionsOnNodes, ApiError>| match found {
        Ok(on) => Ok(on),
        Err(e) if e.is_forbidden() => Ok(VersionsOnNodes::new()),
        Err(e) => Err(e.to_string()),
    };
    let dns = match dns {
        Ok(list) => list.items,
        Err(e) if e.is_forbidden() => Vec::new(),
        Err(e) => return Err(e.to_string()),
    };
    let coredns = match dns.as_slice() {
        [] => String::new(),
        [one] => one
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.as_deref())
            .and_then(|i| i.rsplit_once(':'))
            .map(|(_, tag)| tag.to_string())
            .unwrap_or_default(),
        many => {
            let names: Vec<String> = many
                .iter()
                .filter_map(|d| d.metadata.name.clone())
                .collect();
            return Err(format!(
                "multiple DNS addon deployments found: [{}]",
                names.join(" ")
            ));
        }
    };
    Ok(ClusterFacts {
        cluster_configuration,
        kubelet_configuration: optional(kubelet, "kubelet")?,
        kube_proxy_configuration: optional(proxy, "config.conf")?,
        versions: ClusterVersions {
            api_servers: versions(api)?,
            controller_managers: versions(cm)?,
            schedulers: versions(sched)?,
            etcd: versions(etcd)?,
            kubelets: versions(nodes)
                .map_err(|e| format!("couldn't list all nodes in cluster: {e}"))?,
            coredns,
        },
        server_version: version
            .map_err(|e| format!("Unable to fetch cluster version: {e}"))?
            .git_version,
    })
}

/// The configuration an upgrade of this node works from: the cluster's ClusterConfiguration and
/// component configurations at `target`, with this node's registration and API endpoint.
pub fn node_config(
    facts: &ClusterFacts,
    node: &NodeIdentity,
    target: &KubernetesVersion,
    init_overrides: impl FnOnce(&mut InitConfiguration),
    host_root: &Path,
) -> Result<InitConfig, PrepareError> {
    let invalid = |problems| PrepareError::Invalid {
        what: "cannot upgrade with the cluster's configuration",
        problems,
    };
    let mut file = decode::load(&facts.cluster_configuration);
    let problems: Vec<String> = file
        .errors(false)
        .iter()
        .map(|d| format!("the cluster's ClusterConfiguration (kubeadm-config): {d}"))
        .collect();
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let Some(cluster) = file.cluster.as_mut() else {
        return Err(invalid(vec![
            "the kubeadm-config ConfigMap holds no ClusterConfiguration document".into(),
        ]));
    };
    cluster.kubernetes_version = target.text.clone();
    let mut init = InitConfiguration::default();
    init.node_registration.name = node.name.clone();
    init.node_registration.cri_socket = node.cri_socket.clone();
    init.local_api_endpoint.advertise_address = node.advertise_address.clone();
    init.local_api_endpoint.bind_port = node.bind_port;
    init_overrides(&mut init);
    file.init = Some(init);
    let component =
        |text: &Option<String>, what: &str| -> Result<Option<serde_json::Value>, PrepareError> {
            let Some(text) = text else { return Ok(None) };
            let docs = crate::domain::config::yaml::parse_documents(text).map_err(|e| {
                invalid(vec![format!(
                    "the {what} ConfigMap is not YAML: {}",
                    e.message
                )])
            })?;
            Ok(docs.into_iter().next().map(|d| d.value))
        };
    file.kubelet = component(&facts.kubelet_configuration, "kubelet-config")?;
    file.kube_proxy = component(&facts.kube_proxy_configuration, "kube-proxy")?;
    resolve::resolve_init(Some(&file), &resolve::InitFlags::default(), host_root).map_err(invalid)
}

/// How `upgrade apply` or `upgrade node` was asked for.
pub struct UpgradeRequest<'r> {
    pub host_root: &'r Path,
    /// The kubeconfig to read the cluster with (under the root).
    pub kubeconfig: &'r str,
    /// `apply`'s target; `None` for `node`, which takes the version kubeadm-config names.
    pub target: Option<&'r str>,
    pub patches: Option<String>,
    pub timeouts: Option<crate::domain::config::types::Timeouts>,
    pub options: crate::workflow::UpgradeOptions,
}

/// Reads a file under the root; `None` when it is not there.
fn read_under(root: &Path, path: &str) -> Option<String> {
    std::fs::read_to_string(root.join(path.trim_start_matches('/'))).ok()
}

/// This node's name (kubelet.conf's client certificate, as kubeadm reads it, else the hostname),
/// its API endpoint (its kube-apiserver manifest's annotation) and its CRI socket.
pub fn node_identity(root: &Path) -> NodeIdentity {
    use crate::domain::layout::{KUBELET_CONF, KUBELET_FLAGS_ENV, KUBELET_INSTANCE_CONFIG};
    let from_certificate = read_under(root, KUBELET_CONF).and_then(|text| {
        let kubeconfig = crate::domain::kubeconfig::Kubeconfig::parse(&text, KUBELET_CONF).ok()?;
        let (_, user) = kubeconfig.current()?;
        let pem = match (&user.client_certificate_data, &user.client_certificate) {
            (Some(data), _) => crate::domain::kubeconfig::unbase64(data).ok()?,
            (None, Some(file)) => std::fs::read(root.join(file.trim_start_matches('/'))).ok()?,
            _ => return None,
        };
        let cert = crate::domain::pki::cert::parse_pem(&pem, KUBELET_CONF).ok()?;
        crate::domain::pki::cert::common_name(&cert)
            .strip_prefix("system:node:")
            .map(str::to_string)
    });
    let name = from_certificate
        .or_else(|| crate::domain::config::defaults::node_name().ok())
        .unwrap_or_default();
    let endpoint = read_under(
        root,
        &crate::domain::manifests::Component::ApiServer.manifest_path(),
    )
    .and_then(|text| {
        let docs = crate::domain::config::yaml::parse_documents(&text).ok()?;
        let value = &docs.first()?.value;
        value["metadata"]["annotations"]
            ["kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint"]
            .as_str()
            .map(str::to_string)
    });
    let (advertise_address, bind_port) = endpoint
        .as_deref()
        .and_then(|e| e.rsplit_once(':'))
        .map(|(host, port)| {
            (
                host.trim_matches(['[', ']']).to_string(),
                port.parse().unwrap_or(6443),
            )
        })
        .unwrap_or_else(|| ("0.0.0.0".into(), 6443));
    let cri_socket = read_under(root, KUBELET_INSTANCE_CONFIG)
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("containerRuntimeEndpoint:"))
                .map(|v| v.trim().trim_matches('"').to_string())
        })
        .or_else(|| {
            read_under(root, KUBELET_FLAGS_ENV).and_then(|text| {
                text.split(['"', ' '])
                    .find_map(|w| w.strip_prefix("--container-runtime-endpoint="))
                    .map(str::to_string)
            })
        })
        .unwrap_or_default();
    NodeIdentity {
        name,
        advertise_address,
        bind_port,
        cri_socket,
    }
}

/// The data of an `upgrade apply` or `upgrade node` run: the cluster read, this node found, its
/// configuration made at the target version.
pub fn prepare(
    request: &UpgradeRequest<'_>,
    progress: &mut dyn FnMut(&str),
) -> Result<crate::workflow::UpgradeData, PrepareError> {
    let limit = request
        .timeouts
        .as_ref()
        .and_then(|t| t.kubernetes_api_call)
        .map_or(crate::exec::api::DEFAULT_CALL_LIMIT, |d| d.0);
    let session = connect(request.host_root, request.kubeconfig, limit, |e| {
        format!(
            "cannot read {}: {e}: upgrade runs on a node of the cluster, with its kubeconfig",
            request.kubeconfig
        )
    })?;
    progress("[upgrade] Reading configuration from the \"kubeadm-config\" ConfigMap in namespace \"kube-system\"...");
    progress("[upgrade] Use 'kinit init phase upload-config kubeadm --config your-config-file' to re-upload it.");
    let facts = read_cluster(&session).map_err(PrepareError::Failed)?;
    let node = node_identity(request.host_root);
    let control_plane = request
        .host_root
        .join(
            crate::domain::manifests::Component::ApiServer
                .manifest_path()
                .trim_start_matches('/'),
        )
        .exists();
    let target = match request.target {
        Some(text) => crate::domain::versions::parse_kubernetes_version(text).map_err(|e| {
            PrepareError::Invalid {
                what: "invalid version",
                problems: vec![e],
            }
        })?,
        None => {
            let file = decode::load(&facts.cluster_configuration);
            let stored = file
                .cluster
                .map(|c| c.kubernetes_version)
                .unwrap_or_default();
            crate::domain::versions::parse_kubernetes_version(&stored).map_err(|e| {
                PrepareError::Failed(format!(
                    "the kubernetesVersion of the kubeadm-config ConfigMap: {e}"
                ))
            })?
        }
    };
    let config = node_config(
        &facts,
        &node,
        &target,
        |init| {
            init.patches = request
                .patches
                .clone()
                .map(|directory| crate::domain::config::types::Patches { directory });
            init.timeouts = request.timeouts.clone();
        },
        request.host_root,
    )?;
    Ok(crate::workflow::UpgradeData {
        config,
        facts,
        node,
        apply: request.target.is_some(),
        control_plane,
        kubeconfig: request.kubeconfig.to_string(),
        options: request.options.clone(),
    })
}

/// How `upgrade plan` was asked for.
pub struct PlanRequest<'r> {
    pub host_root: &'r Path,
    pub kubeconfig: &'r str,
    pub target: Option<String>,
    pub allow_experimental: bool,
    pub allow_rc: bool,
    pub etcd_upgrade: bool,
    pub ignore: Vec<String>,
    pub call_limit: std::time::Duration,
}

/// What `upgrade plan` found; the lines on the way went to `progress`, the warnings to `warn`.
pub fn plan(
    request: &PlanRequest<'_>,
    progress: &mut dyn FnMut(&str),
    warn: &mut dyn FnMut(&str),
) -> Result<crate::domain::upgrade::plan::UpgradePlan, PrepareError> {
    use crate::domain::upgrade::plan::{
        self as reckon, AvailableUpgrade, ConfigVersionState, UpgradePlan,
    };
    let ignore = kinit_preflight::IgnoreList::new(request.ignore.clone());
    progress("[preflight] Running pre-flight checks.");
    let host = kinit_preflight::RealHost::new(request.host_root.to_path_buf());
    let root = kinit_preflight::run(
        &[kinit_preflight::Check::IsPrivilegedUser { dry_run: false }],
        &host,
        &ignore,
    );
    for line in root.warning_lines() {
        warn(&line);
    }
    if root.has_fatal() {
        return Err(PrepareError::Failed(root.error_text()));
    }
    let session = connect(
        request.host_root,
        request.kubeconfig,
        request.call_limit,
        |e| {
            format!(
            "cannot read {}: {e}: upgrade plan runs on a control-plane node, with its admin.conf",
            request.kubeconfig
        )
        },
    )?;
    progress("[upgrade/config] Reading configuration from the \"kubeadm-config\" ConfigMap in namespace \"kube-system\"...");
    progress("[upgrade/config] Use 'kinit init phase upload-config kubeadm --config your-config-file' to re-upload it.");
    let facts = read_cluster(&session).map_err(PrepareError::Failed)?;
    progress("[upgrade] Running cluster health checks");
    let (warnings, error) = crate::steps::upgrade::judge(
        crate::steps::upgrade::cluster_health(&session, &host, &pause_image(&facts)),
        &ignore,
    );
    for warning in warnings {
        warn(&format!("\t{warning}"));
    }
    if let Some(error) = error {
        return Err(PrepareError::Failed(format!(
            "[upgrade/health] FATAL: {error}"
        )));
    }
    let given = match &request.target {
        Some(text) => Some(
            crate::domain::versions::parse_kubernetes_version(text).map_err(|e| {
                PrepareError::Invalid {
                    what: "invalid version",
                    problems: vec![e],
                }
            })?,
        ),
        None => None,
    };
    let found = reckon::available_upgrades(
        &facts.versions,
        &reckon::Releases { given },
        request.allow_experimental,
        request.allow_rc,
    )
    .map_err(PrepareError::Failed)?;
    for warning in &found.warnings {
        warn(warning);
    }
    for line in &found.lines {
        progress(line);
    }
    // kube-proxy's current version is kubeadm's parsed cluster version, printed without its `v`.
    let cluster_version = found
        .cluster_version
        .text
        .trim_start_matches('v')
        .to_string();
    let available_upgrades: Vec<AvailableUpgrade> = found
        .upgrades
        .iter()
        .map(|up| AvailableUpgrade {
            description: up.description.clone(),
            components: reckon::components(
                &facts.versions,
                &cluster_version,
                up,
                request.etcd_upgrade,
            ),
        })
        .collect();
    let api_version_of = |text: &Option<String>| {
        text.as_deref()
            .and_then(|t| crate::domain::config::yaml::parse_documents(t).ok())
            .and_then(|docs| docs.into_iter().next())
            .and_then(|d| d.value["apiVersion"].as_str().map(str::to_string))
            .and_then(|v| v.rsplit_once('/').map(|(_, v)| v.to_string()))
            .unwrap_or_default()
    };
    let config_versions = if available_upgrades.is_empty() {
        Vec::new()
    } else {
        vec![
            ConfigVersionState {
                group: "kubeproxy.config.k8s.io".into(),
                current_version: api_version_of(&facts.kube_proxy_configuration),
                preferred_version: "v1alpha1".into(),
                manual_upgrade_required: false,
            },
            ConfigVersionState {
                group: "kubelet.config.k8s.io".into(),
                current_version: api_version_of(&facts.kubelet_configuration),
                preferred_version: "v1beta1".into(),
                manual_upgrade_required: false,
            },
        ]
    };
    Ok(UpgradePlan {
        kind: "UpgradePlan",
        api_version: "output.kubeadm.k8s.io/v1alpha3",
        available_upgrades,
        config_versions,
    })
}

/// A client for the kubeconfig at `kubeconfig` on the node under `root`, the files it names read
/// there too (see `with_files_inline`); `unreadable` words a kubeconfig that cannot be read.
fn connect(
    root: &Path,
    kubeconfig: &str,
    limit: std::time::Duration,
    unreadable: impl FnOnce(std::io::Error) -> String,
) -> Result<Session, PrepareError> {
    let host = kinit_preflight::RealHost::new(root.to_path_buf());
    let text = kinit_preflight::Host::read_file(&host, kubeconfig)
        .map_err(|e| PrepareError::Failed(unreadable(e)))?;
    let text = crate::exec::api::with_files_inline(&text, kubeconfig, |file| {
        kinit_preflight::Host::read_file(&host, file).map_err(|e| e.to_string())
    })
    .map_err(PrepareError::Failed)?;
    Session::connect(&text, kubeconfig, limit).map_err(PrepareError::Failed)
}

/// What `kinit upgrade diff` compares.
pub struct DiffRequest<'r> {
    pub host_root: &'r Path,
    pub kubeconfig: &'r str,
    /// The version to compare with; the cluster's own when `None` (kubeadm's `upgrade diff`).
    pub target: Option<String>,
    /// The manifests to compare, by component: kube-apiserver, kube-controller-manager,
    /// kube-scheduler; each in the manifests folder unless given.
    pub manifests: [Option<String>; 3],
    pub call_limit: std::time::Duration,
}

/// One control-plane manifest as it is on this node and as the upgrade would write it.
pub struct ManifestDiff {
    pub path: String,
    pub current: String,
    pub new: String,
}

/// The control-plane manifests of this node beside the ones the target version gives (without
/// patches, as kubeadm's `upgrade diff`); etcd is not compared, as kubeadm does not.
pub fn diff(
    request: &DiffRequest<'_>,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<ManifestDiff>, PrepareError> {
    use crate::domain::manifests::{self, Component};
    let session = connect(
        request.host_root,
        request.kubeconfig,
        request.call_limit,
        |e| {
            format!(
                "couldn't create a Kubernetes client from file {:?}: {e}",
                request.kubeconfig
            )
        },
    )?;
    progress("[upgrade/diff] Reading configuration from the \"kubeadm-config\" ConfigMap in namespace \"kube-system\"...");
    progress("[upgrade/diff] Use 'kinit init phase upload-config kubeadm --config your-config-file' to re-upload it.");
    let facts = read_cluster(&session).map_err(PrepareError::Failed)?;
    let node = node_identity(request.host_root);
    let stored = decode::load(&facts.cluster_configuration)
        .cluster
        .map(|c| c.kubernetes_version)
        .unwrap_or_default();
    let wanted = request.target.clone().unwrap_or(stored);
    let target = crate::domain::versions::parse_kubernetes_version(&wanted).map_err(|e| {
        PrepareError::Invalid {
            what: "invalid version",
            problems: vec![e],
        }
    })?;
    let config = node_config(&facts, &node, &target, |_| {}, request.host_root)?;
    let under = |path: &str| request.host_root.join(path.trim_start_matches('/'));
    let host = crate::steps::manifests::facts_from(
        |dir| under(dir).exists(),
        |file| Ok(under(file).exists()),
        &config,
        None,
    )
    .map_err(PrepareError::Failed)?;
    let components = [
        Component::ApiServer,
        Component::ControllerManager,
        Component::Scheduler,
    ];
    let mut diffs = Vec::new();
    for (component, given) in components.iter().zip(&request.manifests) {
        let path = given.clone().unwrap_or_else(|| component.manifest_path());
        let pod = manifests::build(*component, &config, &host).map_err(PrepareError::Failed)?;
        let new = manifests::to_yaml(&pod, config.version.minor).map_err(PrepareError::Failed)?;
        let current = std::fs::read_to_string(under(&path))
            .map_err(|e| PrepareError::Failed(format!("open {path}: {e}")))?;
        diffs.push(ManifestDiff { path, current, new });
    }
    Ok(diffs)
}

/// The pause image kubeadm's CreateJob check runs: the cluster's registry, this version's tag.
fn pause_image(facts: &ClusterFacts) -> String {
    let mut cluster = decode::load(&facts.cluster_configuration)
        .cluster
        .unwrap_or_default();
    defaults::cluster(&mut cluster);
    crate::domain::images::pause_image(&cluster, &crate::domain::upgrade::plan::kubeadm_version())
}
