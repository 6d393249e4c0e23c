//! The configuration a command runs with: the file's kinds (or kubeadm's flags), defaulted, host-derived
//! defaults filled in, and validated.

use super::decode::ConfigFile;
use super::defaults;
use super::types::*;
use super::validate;
use crate::domain::versions::{self, KubernetesVersion};
use serde_json::Value;
use std::path::Path;

/// The `kubeadm init` flags that set configuration; `None` means not given on the command line.
#[derive(Debug, Clone, Default)]
pub struct InitFlags {
    pub apiserver_advertise_address: Option<String>,
    pub apiserver_bind_port: Option<u16>,
    pub apiserver_cert_extra_sans: Vec<String>,
    pub cert_dir: Option<String>,
    pub certificate_key: Option<String>,
    pub control_plane_endpoint: Option<String>,
    pub cri_socket: Option<String>,
    pub feature_gates: Option<String>,
    pub image_repository: Option<String>,
    pub kubernetes_version: Option<String>,
    pub node_name: Option<String>,
    pub patches: Option<String>,
    pub pod_network_cidr: Option<String>,
    pub service_cidr: Option<String>,
    pub service_dns_domain: Option<String>,
    pub token: Option<String>,
    pub token_ttl: Option<String>,
    pub skip_phases: Vec<String>,
    pub ignore_preflight_errors: Vec<String>,
    /// In a dry run, a host-derived default that cannot be found becomes a placeholder with a warning,
    /// so a dry run works on any machine.
    pub dry_run: bool,
}

#[derive(Debug, Clone)]
pub struct InitConfig {
    pub init: InitConfiguration,
    pub cluster: ClusterConfiguration,
    pub kubelet: Option<Value>,
    pub kube_proxy: Option<Value>,
    pub version: KubernetesVersion,
    pub warnings: Vec<String>,
    pub printing: InitPrinting,
}

/// What `kinit init` shows at its end: flags only, no configuration file field holds them.
#[derive(Debug, Clone, Default)]
pub struct InitPrinting {
    pub skip_token_print: bool,
    pub skip_certificate_key_print: bool,
    /// `--upload-certs`: the control-plane join command carries the certificate key.
    pub upload_certs: bool,
}

impl InitConfig {
    pub fn version_row(&self) -> &'static versions::VersionRow {
        versions::row_for(self.version.minor).0
    }

    pub fn kube_proxy_mode(&self) -> &str {
        self.kube_proxy
            .as_ref()
            .and_then(|v| v.get("mode"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

fn parse_feature_gates(text: &str) -> Result<Vec<(String, bool)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("--feature-gates: {pair:?} is not name=true|false"))?;
            let value = value.parse::<bool>().map_err(|_| {
                format!("--feature-gates: {name} must be true or false, not {value:?}")
            })?;
            Ok((name.to_string(), value))
        })
        .collect()
}

fn apply_flags(
    init: &mut InitConfiguration,
    cluster: &mut ClusterConfiguration,
    flags: &InitFlags,
) -> Result<(), String> {
    let set = |target: &mut String, value: &Option<String>| {
        if let Some(v) = value {
            *target = v.clone();
        }
    };
    set(
        &mut init.local_api_endpoint.advertise_address,
        &flags.apiserver_advertise_address,
    );
    if let Some(port) = flags.apiserver_bind_port {
        init.local_api_endpoint.bind_port = i32::from(port);
    }
    cluster
        .api_server
        .cert_sans
        .extend(flags.apiserver_cert_extra_sans.iter().cloned());
    set(&mut cluster.certificates_dir, &flags.cert_dir);
    set(&mut init.certificate_key, &flags.certificate_key);
    set(
        &mut cluster.control_plane_endpoint,
        &flags.control_plane_endpoint,
    );
    set(&mut init.node_registration.cri_socket, &flags.cri_socket);
    if let Some(gates) = &flags.feature_gates {
        cluster.feature_gates.extend(parse_feature_gates(gates)?);
    }
    set(&mut cluster.image_repository, &flags.image_repository);
    set(&mut cluster.kubernetes_version, &flags.kubernetes_version);
    if let Some(dir) = &flags.patches {
        init.patches = Some(Patches {
            directory: dir.clone(),
        });
    }
    set(&mut cluster.networking.pod_subnet, &flags.pod_network_cidr);
    set(&mut cluster.networking.service_subnet, &flags.service_cidr);
    set(
        &mut cluster.networking.dns_domain,
        &flags.service_dns_domain,
    );
    if flags.token.is_some() || flags.token_ttl.is_some() {
        let mut token = BootstrapToken {
            token: flags.token.clone(),
            ..Default::default()
        };
        if let Some(ttl) = &flags.token_ttl {
            token.ttl = Some(super::duration::GoDuration(
                super::duration::parse(ttl).map_err(|e| format!("--token-ttl: {e}"))?,
            ));
        }
        init.bootstrap_tokens = vec![token];
    }
    Ok(())
}

/// Builds the init configuration from a file or from flags (node name and the preflight lists may come from both).
/// `host_root` is where host-derived defaults (advertise address, CRI socket) are read.
pub fn resolve_init(
    file: Option<&ConfigFile>,
    flags: &InitFlags,
    host_root: &Path,
) -> Result<InitConfig, Vec<String>> {
    let mut init = file.and_then(|f| f.init.clone()).unwrap_or_default();
    let mut cluster = file.and_then(|f| f.cluster.clone()).unwrap_or_default();
    let mut warnings = Vec::new();
    if file.is_none() {
        apply_flags(&mut init, &mut cluster, flags).map_err(|e| vec![e])?;
    }
    if let Some(name) = &flags.node_name {
        init.node_registration.name = name.clone();
    }
    if !flags.skip_phases.is_empty() {
        init.skip_phases = flags.skip_phases.clone();
    }
    for name in &flags.ignore_preflight_errors {
        if !init
            .node_registration
            .ignore_preflight_errors
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name))
        {
            init.node_registration
                .ignore_preflight_errors
                .push(name.clone());
        }
    }
    defaults::init(&mut init);
    defaults::cluster(&mut cluster);

    let mut findings = Vec::new();
    validate::init(&init, &mut findings);
    validate::cluster(&cluster, &mut findings);
    let mut errors = finding_messages(file, findings);

    let version = match versions::parse_kubernetes_version(&cluster.kubernetes_version) {
        Ok(v) => v,
        Err(e) => {
            errors.push(e);
            versions::parse_kubernetes_version(versions::DEFAULT_KUBERNETES_VERSION)
                .expect("the default version parses")
        }
    };
    let oldest = versions::VERSION_TABLE[0].minor;
    if version.minor < oldest {
        errors.push(format!(
            "this version of kinit only supports deploying clusters with the control plane version >= v1.{oldest}.0. Current version: {}",
            version.text
        ));
    }
    if let Some(warning) = versions::row_for(version.minor).1 {
        warnings.push(warning);
    }
    warnings.extend(validate::cluster_warnings(&cluster));
    if cluster.feature_gates.contains_key("PublicKeysECDSA") {
        warnings.push("the PublicKeysECDSA feature gate is deprecated: use ClusterConfiguration.encryptionAlgorithm (e.g. ECDSA-P256)".into());
    }
    let mut host_default =
        |found: Result<String, String>, placeholder: &str, what: &str, hint: &str| match found {
            Ok(value) => Some(value),
            Err(e) if flags.dry_run => {
                warnings.push(format!("{e}; the dry run uses {placeholder} as the {what}"));
                Some(placeholder.to_string())
            }
            Err(e) => {
                errors.push(format!("{e}{hint}"));
                None
            }
        };
    if init.node_registration.name.is_empty() {
        if let Some(name) = host_default(
            defaults::node_name(),
            "node",
            "node name",
            ": pass --node-name",
        ) {
            init.node_registration.name = name;
        }
    }
    if init.node_registration.cri_socket.is_empty() {
        if let Some(socket) = host_default(
            defaults::cri_socket(host_root),
            defaults::DEFAULT_CRI_SOCKET,
            "CRI socket",
            "",
        ) {
            init.node_registration.cri_socket = socket;
        }
    }
    if init.local_api_endpoint.advertise_address.is_empty() {
        if let Some(address) = host_default(
            defaults::advertise_address(host_root),
            "127.0.0.1",
            "advertise address",
            ": pass --apiserver-advertise-address",
        ) {
            init.local_api_endpoint.advertise_address = address;
        }
    }
    manage_skipped_addons(&mut init, &mut cluster);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(InitConfig {
        kubelet: file.and_then(|f| f.kubelet.clone()),
        kube_proxy: file.and_then(|f| f.kube_proxy.clone()),
        init,
        cluster,
        version,
        warnings,
        printing: InitPrinting::default(),
    })
}

/// Skipping an addon phase disables the addon, and a disabled addon skips its phase (kubeadm's manageSkippedAddons).
fn manage_skipped_addons(init: &mut InitConfiguration, cluster: &mut ClusterConfiguration) {
    let skips = |skip: &[String], phase: &str| skip.iter().any(|s| s == "addon" || s == phase);
    if skips(&init.skip_phases, "addon/coredns") {
        cluster.dns.disabled = true;
    }
    if skips(&init.skip_phases, "addon/kube-proxy") {
        cluster.proxy.disabled = true;
    }
    for (disabled, phase) in [
        (cluster.dns.disabled, "addon/coredns"),
        (cluster.proxy.disabled, "addon/kube-proxy"),
    ] {
        if disabled && !skips(&init.skip_phases, phase) {
            init.skip_phases.push(phase.to_string());
        }
    }
}

/// The `kubeadm join` flags that set configuration.
#[derive(Debug, Clone, Default)]
pub struct JoinFlags {
    pub api_server_endpoint: Option<String>,
    pub token: Option<String>,
    pub discovery_token: Option<String>,
    pub discovery_token_ca_cert_hash: Vec<String>,
    pub discovery_token_unsafe_skip_ca_verification: bool,
    pub discovery_file: Option<String>,
    pub tls_bootstrap_token: Option<String>,
    pub control_plane: bool,
    pub certificate_key: Option<String>,
    pub apiserver_advertise_address: Option<String>,
    pub apiserver_bind_port: Option<u16>,
    pub cri_socket: Option<String>,
    pub node_name: Option<String>,
    pub patches: Option<String>,
}

/// Builds and validates the JoinConfiguration from a file, or from flags as `kubeadm join` does.
pub fn resolve_join(
    file: Option<&ConfigFile>,
    flags: &JoinFlags,
) -> Result<JoinConfiguration, Vec<String>> {
    let mut join = match file {
        Some(file) => file.join.clone().ok_or_else(|| {
            vec!["the configuration file has no JoinConfiguration document: `kinit join --config` needs one".to_string()]
        })?,
        None => {
            let discovery_token = flags.discovery_token.clone().or_else(|| flags.token.clone()).unwrap_or_default();
            let mut discovery = Discovery {
                tls_bootstrap_token: flags.tls_bootstrap_token.clone().or_else(|| flags.token.clone()).unwrap_or_default(),
                ..Default::default()
            };
            match &flags.discovery_file {
                Some(path) => discovery.file = Some(FileDiscovery { kube_config_path: path.clone() }),
                None => {
                    discovery.bootstrap_token = Some(BootstrapTokenDiscovery {
                        token: discovery_token,
                        api_server_endpoint: flags.api_server_endpoint.clone().unwrap_or_default(),
                        ca_cert_hashes: flags.discovery_token_ca_cert_hash.clone(),
                        unsafe_skip_ca_verification: flags.discovery_token_unsafe_skip_ca_verification,
                    })
                }
            }
            let control_plane = flags.control_plane.then(|| JoinControlPlane {
                local_api_endpoint: ApiEndpoint {
                    advertise_address: flags.apiserver_advertise_address.clone().unwrap_or_default(),
                    bind_port: flags.apiserver_bind_port.map(i32::from).unwrap_or_default(),
                },
                certificate_key: flags.certificate_key.clone().unwrap_or_default(),
            });
            JoinConfiguration {
                discovery,
                control_plane,
                node_registration: NodeRegistrationOptions {
                    cri_socket: flags.cri_socket.clone().unwrap_or_default(),
                    ..Default::default()
                },
                patches: flags.patches.clone().map(|directory| Patches { directory }),
                ..Default::default()
            }
        }
    };
    if let Some(name) = &flags.node_name {
        join.node_registration.name = name.clone();
    }
    defaults::join(&mut join);
    let mut findings = Vec::new();
    validate::join(&join, &mut findings);
    if findings.is_empty() {
        return Ok(join);
    }
    Err(finding_messages(file, findings))
}

/// Validation findings as messages, with the file's line when they came from a file.
pub fn finding_messages(
    file: Option<&ConfigFile>,
    findings: Vec<validate::Finding>,
) -> Vec<String> {
    findings
        .into_iter()
        .map(|(kind, path, message)| match file {
            Some(f) => format!("line {}: {kind}.{path}: {message}", f.line_of(kind, &path)),
            None => format!("{kind}.{path}: {message}"),
        })
        .collect()
}

/// What `kinit config print init-defaults` prints: defaults with kubeadm's placeholders, nothing read from the host.
pub fn init_defaults() -> (InitConfiguration, ClusterConfiguration) {
    let mut init = InitConfiguration {
        bootstrap_tokens: vec![BootstrapToken {
            token: Some("abcdef.0123456789abcdef".into()),
            ..Default::default()
        }],
        local_api_endpoint: ApiEndpoint {
            advertise_address: "1.2.3.4".into(),
            bind_port: 0,
        },
        node_registration: NodeRegistrationOptions {
            name: "node".into(),
            cri_socket: defaults::DEFAULT_CRI_SOCKET.into(),
            ..Default::default()
        },
        ..Default::default()
    };
    defaults::init(&mut init);
    let mut cluster = ClusterConfiguration::default();
    defaults::cluster(&mut cluster);
    // kubeadm prints its own version without the leading v.
    cluster.kubernetes_version = versions::DEFAULT_KUBERNETES_VERSION
        .trim_start_matches('v')
        .to_string();
    (init, cluster)
}

pub fn join_defaults(node_name: &str) -> JoinConfiguration {
    let mut join = JoinConfiguration {
        discovery: Discovery {
            bootstrap_token: Some(BootstrapTokenDiscovery {
                token: "abcdef.0123456789abcdef".into(),
                api_server_endpoint: "kube-apiserver:6443".into(),
                unsafe_skip_ca_verification: true,
                ..Default::default()
            }),
            ..Default::default()
        },
        node_registration: NodeRegistrationOptions {
            name: node_name.to_string(),
            cri_socket: defaults::DEFAULT_CRI_SOCKET.into(),
            ..Default::default()
        },
        ..Default::default()
    };
    defaults::join(&mut join);
    join
}

pub fn reset_defaults() -> ResetConfiguration {
    let mut reset = ResetConfiguration {
        cri_socket: defaults::DEFAULT_CRI_SOCKET.into(),
        ..Default::default()
    };
    defaults::reset(&mut reset);
    reset
}
