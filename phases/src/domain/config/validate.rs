//! kubeadm's semantic validation of each kind: tokens, names, addresses, CIDRs, paths, algorithms.

use super::types::*;
use crate::domain::versions::parse_kubernetes_version;
use ipnet::IpNet;
use kinit_preflight::dns1123_subdomain_problem;
use std::net::IpAddr;

/// A field that holds a value kubeadm refuses: (kind, field path, what is wrong and what is allowed).
pub type Finding = (&'static str, String, String);

pub const ENCRYPTION_ALGORITHMS: [&str; 5] = [
    "RSA-2048",
    "RSA-3072",
    "RSA-4096",
    "ECDSA-P256",
    "ECDSA-P384",
];
pub const FEATURE_GATES: [&str; 5] = [
    "ControlPlaneKubeletLocalMode",
    "NodeLocalCRISocket",
    "PublicKeysECDSA",
    "RootlessControlPlane",
    "WaitForAllControlPlaneComponents",
];

fn token_part_ok(part: &str, len: usize) -> bool {
    part.len() == len
        && part
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// `[a-z0-9]{6}.[a-z0-9]{16}`, the only bootstrap token form the API server accepts.
pub fn token_problem(token: &str) -> Option<String> {
    match token.split_once('.') {
        Some((id, secret)) if token_part_ok(id, 6) && token_part_ok(secret, 16) => None,
        _ => Some(format!("the bootstrap token {:?} is invalid: a token is 6 characters [a-z0-9], a dot, then 16 characters [a-z0-9] (e.g. abcdef.0123456789abcdef)", redact_token(token))),
    }
}

/// Shows a token's id but never its secret.
/// Shows at most the six characters a token id has, never anything that could be its secret.
pub fn redact_token(token: &str) -> String {
    let id: String = token.chars().take_while(|c| *c != '.').take(6).collect();
    format!("{id}.<redacted>")
}

pub fn ca_cert_hash_problem(hash: &str) -> Option<String> {
    let Some((format, hex)) = hash.split_once(':') else {
        return Some(format!(
            "invalid hash {hash:?}, expected \"format:hex-value\". Known format(s) are: sha256"
        ));
    };
    if !format.eq_ignore_ascii_case("sha256") {
        return Some(format!(
            "unknown hash format {format:?}. Known format(s) are: sha256"
        ));
    }
    if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Some(format!(
            "invalid hash {hash:?}: could not decode SHA-256 from hex"
        ));
    }
    if hex.len() != 64 {
        return Some(format!(
            "invalid hash {hash:?}: expected a 32 byte SHA-256 hash, found {} bytes",
            hex.len() / 2
        ));
    }
    None
}

fn group_ok(group: &str) -> bool {
    let Some(rest) = group.strip_prefix("system:bootstrappers:") else {
        return false;
    };
    !rest.is_empty()
        && rest.len() <= 256
        && rest
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '-')
        && rest
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

pub fn certificate_key_problem(key: &str) -> Option<String> {
    if key.len() == 64 && key.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(format!("invalid certificate key: it must be 64 hex characters (a 32-byte AES key), got {} characters; make one with `kinit certs certificate-key`", key.len()))
}

/// Parses a comma-separated CIDR list: one CIDR, or one of each family for dual stack.
pub fn parse_cidrs(text: &str) -> Result<Vec<IpNet>, String> {
    let mut nets = Vec::new();
    for part in text.split(',').map(str::trim) {
        let net: IpNet = part.parse().map_err(|_| {
            format!("couldn't parse subnet {part:?}: expected address/prefix such as 10.96.0.0/12")
        })?;
        nets.push(net);
    }
    let dual = nets.len() == 2
        && matches!(
            (&nets[0], &nets[1]),
            (IpNet::V4(_), IpNet::V6(_)) | (IpNet::V6(_), IpNet::V4(_))
        );
    if nets.len() > 2 || (nets.len() == 2 && !dual) {
        return Err("expected one (IPv4 or IPv6) CIDR or two CIDRs from each family for dual-stack networking".into());
    }
    Ok(nets)
}

fn address_count(net: &IpNet) -> u128 {
    let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
    if host_bits >= 127 {
        u128::MAX
    } else {
        1u128 << host_bits
    }
}

fn subnet_findings(
    kind: &'static str,
    path: &str,
    text: &str,
    min_addresses: u128,
    max_host_bits: Option<u8>,
    out: &mut Vec<Finding>,
) -> Vec<IpNet> {
    let nets = match parse_cidrs(text) {
        Ok(nets) => nets,
        Err(e) => {
            out.push((kind, path.into(), e));
            return Vec::new();
        }
    };
    for net in &nets {
        if address_count(net) < min_addresses {
            out.push((
                kind,
                path.into(),
                format!(
                    "subnet {net} with {} address(es) is too small, the minimum is {min_addresses}",
                    address_count(net)
                ),
            ));
        }
        if let Some(max) = max_host_bits {
            let bits = net.max_prefix_len();
            if net.prefix_len() < bits - max {
                out.push((kind, path.into(), format!("specified service subnet {net} is too large; for {bits}-bit addresses, the mask must be >= {}", bits - max)));
            }
        }
    }
    nets
}

fn node_registration(kind: &'static str, node: &NodeRegistrationOptions, out: &mut Vec<Finding>) {
    if !node.name.is_empty() {
        if let Some(why) = dns1123_subdomain_problem(&node.name) {
            out.push((
                kind,
                "nodeRegistration.name".into(),
                format!("{:?}: {why}", node.name),
            ));
        }
    }
    if !node.cri_socket.is_empty() {
        cri_socket(kind, "nodeRegistration.criSocket", &node.cri_socket, out);
    }
    for (i, taint) in node.taints.iter().flatten().enumerate() {
        if taint.key.is_empty() {
            out.push((
                kind,
                format!("nodeRegistration.taints[{i}].key"),
                "a taint needs a key".into(),
            ));
        }
        if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&taint.effect.as_str()) {
            out.push((
                kind,
                format!("nodeRegistration.taints[{i}].effect"),
                format!(
                    "unsupported taint effect {:?}: use NoSchedule, PreferNoSchedule or NoExecute",
                    taint.effect
                ),
            ));
        }
    }
    ignore_preflight_errors(
        kind,
        "nodeRegistration.ignorePreflightErrors",
        &node.ignore_preflight_errors,
        out,
    );
    if !node.image_pull_policy.is_empty()
        && !["Always", "IfNotPresent", "Never"].contains(&node.image_pull_policy.as_str())
    {
        out.push((
            kind,
            "nodeRegistration.imagePullPolicy".into(),
            format!(
                "unsupported pull policy {:?}: use Always, IfNotPresent or Never",
                node.image_pull_policy
            ),
        ));
    }
    args(
        kind,
        "nodeRegistration.kubeletExtraArgs",
        &node.kubelet_extra_args,
        out,
    );
}

pub fn ignore_preflight_errors(
    kind: &'static str,
    path: &str,
    names: &[String],
    out: &mut Vec<Finding>,
) {
    if names.len() > 1 && names.iter().any(|n| n.eq_ignore_ascii_case("all")) {
        out.push((
            kind,
            path.into(),
            "don't specify individual checks if 'all' is used".into(),
        ));
    }
}

pub fn cri_socket(kind: &'static str, path: &str, socket: &str, out: &mut Vec<Finding>) {
    match socket.split_once("://") {
        Some(("unix", rest)) if rest.starts_with('/') => {}
        Some((scheme, _)) => out.push((kind, path.into(), format!("only URL scheme \"unix\" is supported, got {scheme:?} (e.g. unix:///var/run/containerd/containerd.sock)"))),
        None => out.push((kind, path.into(), format!("only URL scheme \"unix\" is supported, got \"\" (write {socket:?} as unix://{})", socket.trim_start_matches('/').chars().next().map_or(String::new(), |_| format!("/{}", socket.trim_start_matches('/')))))),
    }
}

/// kubeadm refuses only an argument without a name (duplicates are allowed: v1beta4 args are a list).
fn args(kind: &'static str, path: &str, args: &[Arg], out: &mut Vec<Finding>) {
    for (i, arg) in args.iter().enumerate() {
        if arg.name.is_empty() {
            out.push((
                kind,
                format!("{path}[{i}].name"),
                "argument has no name".into(),
            ));
        }
    }
}

fn component(
    kind: &'static str,
    path: &str,
    args_list: &[Arg],
    volumes: &[HostPathMount],
    out: &mut Vec<Finding>,
) {
    args(kind, &format!("{path}.extraArgs"), args_list, out);
    for (i, volume) in volumes.iter().enumerate() {
        if volume.name.is_empty()
            || !volume.host_path.starts_with('/')
            || !volume.mount_path.starts_with('/')
        {
            out.push((
                kind,
                format!("{path}.extraVolumes[{i}]"),
                "a volume needs a name and absolute hostPath and mountPath".into(),
            ));
        }
    }
}

fn absolute(kind: &'static str, path: &str, value: &str, out: &mut Vec<Finding>) {
    if !value.is_empty() && !value.starts_with('/') {
        out.push((
            kind,
            path.into(),
            format!("{value:?}: path is not absolute"),
        ));
    }
}

fn endpoint(kind: &'static str, path: &str, endpoint: &ApiEndpoint, out: &mut Vec<Finding>) {
    if !endpoint.advertise_address.is_empty()
        && endpoint.advertise_address.parse::<IpAddr>().is_err()
    {
        out.push((
            kind,
            format!("{path}.advertiseAddress"),
            format!("ip address is not valid: {:?}", endpoint.advertise_address),
        ));
    }
    // 0 is defaulted to 6443 before validation; what is left must be a real port.
    if !(1..=65535).contains(&endpoint.bind_port) {
        out.push((
            kind,
            format!("{path}.bindPort"),
            format!(
                "port number is not valid: {} (use 1-65535)",
                endpoint.bind_port
            ),
        ));
    }
}

/// `host[:port]` where host is an IP or DNS name.
pub fn host_port_problem(text: &str) -> Option<String> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, after)) => (ip, after.strip_prefix(':')),
            None => return Some(format!("{text:?}: unclosed [ in an IPv6 address")),
        }
    } else if text.matches(':').count() == 1 {
        let (h, p) = text.split_once(':').unwrap_or((text, ""));
        (h, Some(p))
    } else {
        (text, None)
    };
    if let Some(port) = port {
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Some(format!(
                "{text:?}: port {port:?} is not a number in 1-65535"
            ));
        }
    }
    if host.parse::<IpAddr>().is_ok() {
        return None;
    }
    dns1123_subdomain_problem(host).map(|why| {
        let named = if host == text {
            String::new()
        } else {
            format!("{text:?}: ")
        };
        format!("{named}{host:?} is neither an IP address nor a DNS name ({why})")
    })
}

pub fn san_problem(san: &str) -> Option<String> {
    if san.parse::<IpAddr>().is_ok() {
        return None;
    }
    let name = san.strip_prefix("*.").unwrap_or(san);
    dns1123_subdomain_problem(name)
        .map(|why| format!("{san:?} is neither an IP address nor a DNS name: {why}"))
}

pub fn init(config: &InitConfiguration, out: &mut Vec<Finding>) {
    const KIND: &str = "InitConfiguration";
    for (i, token) in config.bootstrap_tokens.iter().enumerate() {
        if let Some(why) = token
            .token
            .as_deref()
            .filter(|t| !t.is_empty())
            .and_then(token_problem)
        {
            out.push((KIND, format!("bootstrapTokens[{i}].token"), why));
        }
        if token.ttl.is_some() && token.expires.is_some() {
            out.push((
                KIND,
                format!("bootstrapTokens[{i}]"),
                "the BootstrapToken .TTL and .Expires fields are mutually exclusive".into(),
            ));
        }
        let mut unknown: Vec<&str> = token
            .usages
            .iter()
            .map(String::as_str)
            .filter(|u| *u != "signing" && *u != "authentication")
            .collect();
        if !unknown.is_empty() {
            unknown.sort_unstable();
            out.push((
                KIND,
                format!("bootstrapTokens[{i}].usages"),
                format!("invalid bootstrap token usage string: {}, valid usage options: signing,authentication", unknown.join(",")),
            ));
        }
        if !token.groups.is_empty() && !token.usages.iter().any(|u| u == "authentication") {
            out.push((
                KIND,
                format!("bootstrapTokens[{i}].groups"),
                "token groups cannot be specified unless --usages includes \"authentication\""
                    .into(),
            ));
        }
        for group in &token.groups {
            if !group_ok(group) {
                out.push((
                    KIND,
                    format!("bootstrapTokens[{i}].groups"),
                    format!("bootstrap group {group:?} is invalid (must match system:bootstrappers:[a-z0-9:-]{{0,255}}[a-z0-9])"),
                ));
            }
        }
    }
    node_registration(KIND, &config.node_registration, out);
    endpoint(KIND, "localAPIEndpoint", &config.local_api_endpoint, out);
    if !config.certificate_key.is_empty() {
        if let Some(why) = certificate_key_problem(&config.certificate_key) {
            out.push((KIND, "certificateKey".into(), why));
        }
    }
}

pub fn cluster(config: &ClusterConfiguration, out: &mut Vec<Finding>) {
    const KIND: &str = "ClusterConfiguration";
    let net = &config.networking;
    if !net.service_subnet.is_empty() {
        subnet_findings(
            KIND,
            "networking.serviceSubnet",
            &net.service_subnet,
            10,
            Some(20),
            out,
        );
    }
    if !net.pod_subnet.is_empty() {
        let pods = subnet_findings(KIND, "networking.podSubnet", &net.pod_subnet, 14, None, out);
        pod_node_mask(config, &pods, out);
    }
    if !net.dns_domain.is_empty() {
        if let Some(why) = dns1123_subdomain_problem(&net.dns_domain) {
            out.push((
                KIND,
                "networking.dnsDomain".into(),
                format!("{:?}: {why}", net.dns_domain),
            ));
        }
    }
    if !config.control_plane_endpoint.is_empty() {
        if let Some(why) = host_port_problem(&config.control_plane_endpoint) {
            out.push((KIND, "controlPlaneEndpoint".into(), why));
        }
    }
    for (i, san) in config.api_server.cert_sans.iter().enumerate() {
        if let Some(why) = san_problem(san) {
            out.push((KIND, format!("apiServer.certSANs[{i}]"), why));
        }
    }
    component(
        KIND,
        "apiServer",
        &config.api_server.extra_args,
        &config.api_server.extra_volumes,
        out,
    );
    component(
        KIND,
        "controllerManager",
        &config.controller_manager.extra_args,
        &config.controller_manager.extra_volumes,
        out,
    );
    component(
        KIND,
        "scheduler",
        &config.scheduler.extra_args,
        &config.scheduler.extra_volumes,
        out,
    );
    match (&config.etcd.local, &config.etcd.external) {
        (Some(_), Some(_)) => out.push((
            KIND,
            "etcd".into(),
            ".Etcd.Local and .Etcd.External are mutually exclusive".into(),
        )),
        (Some(local), None) => {
            absolute(KIND, "etcd.local.dataDir", &local.data_dir, out);
            args(KIND, "etcd.local.extraArgs", &local.extra_args, out);
            for (field, sans) in [
                ("serverCertSANs", &local.server_cert_sans),
                ("peerCertSANs", &local.peer_cert_sans),
            ] {
                for (i, san) in sans.iter().enumerate() {
                    if let Some(why) = san_problem(san) {
                        out.push((KIND, format!("etcd.local.{field}[{i}]"), why));
                    }
                }
            }
        }
        (None, Some(external)) => external_etcd(external, out),
        (None, None) => {}
    }
    absolute(KIND, "certificatesDir", &config.certificates_dir, out);
    if !config.encryption_algorithm.is_empty()
        && !ENCRYPTION_ALGORITHMS.contains(&config.encryption_algorithm.as_str())
    {
        out.push((
            KIND,
            "encryptionAlgorithm".into(),
            format!(
                "Invalid encryption algorithm {:?}. Must be one of {}",
                config.encryption_algorithm,
                ENCRYPTION_ALGORITHMS.join(", ")
            ),
        ));
    }
    if !config.kubernetes_version.is_empty() {
        if let Err(why) = parse_kubernetes_version(&config.kubernetes_version) {
            out.push((KIND, "kubernetesVersion".into(), why));
        }
    }
    for gate in config.feature_gates.keys() {
        if !FEATURE_GATES.contains(&gate.as_str()) {
            out.push((
                KIND,
                format!("featureGates.{gate}"),
                format!(
                    "{gate} is not a valid feature name: kinit knows {}",
                    FEATURE_GATES.join(", ")
                ),
            ));
        }
    }
    if let Some(why) = image_repository_problem(&config.image_repository) {
        out.push((KIND, "imageRepository".into(), why));
    }
    if !config.dns.image_repository.is_empty() {
        if let Some(why) = image_repository_problem(&config.dns.image_repository) {
            out.push((KIND, "dns.imageRepository".into(), why));
        }
    }
}

/// kubeadm's rules for external etcd: any client file means https endpoints; certificate and key come
/// together and need the CA; every endpoint names its scheme; set files are absolute paths.
fn external_etcd(external: &ExternalEtcd, out: &mut Vec<Finding>) {
    const KIND: &str = "ClusterConfiguration";
    let files = [
        ("caFile", &external.ca_file),
        ("certFile", &external.cert_file),
        ("keyFile", &external.key_file),
    ];
    let require_https = files.iter().any(|(_, f)| !f.is_empty());
    for (i, url) in external.endpoints.iter().enumerate() {
        let path = format!("etcd.external.endpoints[{i}]");
        match url.split_once("://") {
            None => out.push((
                KIND,
                path,
                format!("{url:?}: the URL without scheme is not allowed (use https://host:2379)"),
            )),
            Some((scheme, _)) if require_https && scheme != "https" => out.push((
                KIND,
                path,
                format!("{url:?}: the URL must be using the HTTPS scheme"),
            )),
            Some((_, rest)) => {
                if let Some(why) = host_port_problem(rest.split('/').next().unwrap_or_default()) {
                    out.push((KIND, path, format!("URL parse error: {why}")));
                }
            }
        }
    }
    if external.cert_file.is_empty() != external.key_file.is_empty() {
        out.push((
            KIND,
            "etcd.external".into(),
            "either both or none of .Etcd.External.CertFile and .Etcd.External.KeyFile must be set"
                .into(),
        ));
    } else if !external.cert_file.is_empty() && external.ca_file.is_empty() {
        out.push((KIND, "etcd.external".into(), "setting .Etcd.External.CertFile and .Etcd.External.KeyFile requires .Etcd.External.CAFile".into()));
    }
    for (field, value) in files {
        absolute(KIND, &format!("etcd.external.{field}"), value, out);
    }
}

/// An image repository kubeadm accepts: `host[:port][/path...]` with lowercase path components.
pub fn image_repository_problem(repo: &str) -> Option<String> {
    let bad = || {
        Some(format!("invalid image repository format {repo:?}: expected host[:port]/path such as registry.k8s.io or mirror.example.com:5000/k8s"))
    };
    if repo.is_empty() || repo.contains("://") || repo.contains(char::is_whitespace) {
        return bad();
    }
    let mut components = repo.split('/');
    let first = components.next().unwrap_or_default();
    let (host, port) = first
        .split_once(':')
        .map_or((first, None), |(h, p)| (h, Some(p)));
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    let path_ok = components.all(|c| {
        !c.is_empty()
            && c.chars().all(|ch| {
                ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-')
            })
            && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
            && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
    });
    if host_ok && port_ok && path_ok {
        None
    } else {
        bad()
    }
}

/// Validity periods longer than kubeadm's recommended defaults are allowed, with a warning.
pub fn cluster_warnings(config: &ClusterConfiguration) -> Vec<String> {
    let mut warnings = Vec::new();
    for (field, period, default, what) in [
        (
            "certificateValidityPeriod",
            config.certificate_validity_period,
            8760u64,
            "certificate",
        ),
        (
            "caCertificateValidityPeriod",
            config.ca_certificate_validity_period,
            87600u64,
            "CA certificate",
        ),
    ] {
        if let Some(period) = period.filter(|p| p.0.as_secs() > default * 3600) {
            warnings.push(format!("{field}: the value {period} is more than the recommended default for {what} expiration: {default}h0m0s"));
        }
    }
    warnings
}

/// kubeadm's ValidatePodSubnetNodeMask: each node gets a slice of the pod subnet of the controller
/// manager's node-cidr-mask-size (24 for IPv4, 64 for IPv6), which must fit and not be 16 bits longer.
fn pod_node_mask(config: &ClusterConfiguration, pods: &[IpNet], out: &mut Vec<Finding>) {
    let arg = |name: &str| {
        config
            .controller_manager
            .extra_args
            .iter()
            .rev()
            .find(|a| a.name == name)
            .map(|a| a.value.clone())
    };
    if arg("allocate-node-cidrs").as_deref() == Some("false") {
        return;
    }
    for net in pods {
        let (flag, default) = match net {
            IpNet::V4(_) => ("node-cidr-mask-size-ipv4", 24u8),
            IpNet::V6(_) => ("node-cidr-mask-size-ipv6", 64u8),
        };
        let value = arg(flag).or_else(|| arg("node-cidr-mask-size"));
        let mask = match value {
            None => default,
            Some(v) => match v.parse::<u8>() {
                Ok(m) => m,
                Err(_) => {
                    out.push(("ClusterConfiguration", "controllerManager.extraArgs".into(), format!("could not parse the value of the kube-controller-manager flag {flag} as an integer: {v:?}")));
                    continue;
                }
            },
        };
        if net.prefix_len() > mask {
            out.push(("ClusterConfiguration", "networking.podSubnet".into(), format!("the size of pod subnet {net} with mask {} is smaller than the size of node subnet with mask {mask}", net.prefix_len())));
        } else if mask - net.prefix_len() > 16 {
            out.push((
                "ClusterConfiguration",
                "networking.podSubnet".into(),
                format!(
                    "pod subnet mask ({}) and node-mask ({mask}) difference is greater than 16",
                    net.prefix_len()
                ),
            ));
        }
    }
}

pub fn join(config: &JoinConfiguration, out: &mut Vec<Finding>) {
    const KIND: &str = "JoinConfiguration";
    let discovery = &config.discovery;
    match (&discovery.bootstrap_token, &discovery.file) {
        (Some(_), Some(_)) => out.push((
            KIND,
            "discovery".into(),
            "bootstrapToken and file cannot both be set".into(),
        )),
        (None, None) => out.push((
            KIND,
            "discovery".into(),
            "bootstrapToken or file must be set".into(),
        )),
        (Some(token), None) => {
            if let Some(why) = token_problem(&token.token) {
                out.push((KIND, "discovery.bootstrapToken.token".into(), why));
            }
            if token.api_server_endpoint.is_empty() {
                out.push((
                    KIND,
                    "discovery.bootstrapToken.apiServerEndpoint".into(),
                    "APIServerEndpoint is not set".into(),
                ));
            } else if let Some(why) = host_port_problem(&token.api_server_endpoint).or_else(|| {
                (!has_port(&token.api_server_endpoint)).then(|| {
                    format!(
                        "{:?}: missing port in address (e.g. {}:6443)",
                        token.api_server_endpoint, token.api_server_endpoint
                    )
                })
            }) {
                out.push((
                    KIND,
                    "discovery.bootstrapToken.apiServerEndpoint".into(),
                    why,
                ));
            }
            if discovery.tls_bootstrap_token.is_empty() {
                out.push((KIND, "discovery.tlsBootstrapToken".into(), "the bootstrap token is invalid: token-based discovery needs a TLS bootstrap token (--token or --tls-bootstrap-token)".into()));
            }
            for (i, hash) in token.ca_cert_hashes.iter().enumerate() {
                if let Some(why) = ca_cert_hash_problem(hash) {
                    out.push((
                        KIND,
                        format!("discovery.bootstrapToken.caCertHashes[{i}]"),
                        why,
                    ));
                }
            }
            if token.ca_cert_hashes.is_empty() && !token.unsafe_skip_ca_verification {
                out.push((KIND, "discovery.bootstrapToken.caCertHashes".into(), "using token-based discovery without caCertHashes can be unsafe. Set unsafeSkipCAVerification as true in your kubeadm config file or pass --discovery-token-unsafe-skip-ca-verification flag to continue".into()));
            }
        }
        (None, Some(file)) => {
            let path = &file.kube_config_path;
            let problem = match path.split_once("://") {
                Some(("https", _)) => None,
                Some(_) => Some(format!(
                    "{path:?}: if a URL is used, the scheme must be https"
                )),
                None if path.is_empty() || !std::path::Path::new(path).is_file() => {
                    Some(format!("{path:?}: not a valid HTTPS URL or a file on disk"))
                }
                None => None,
            };
            if let Some(why) = problem {
                out.push((KIND, "discovery.file.kubeConfigPath".into(), why));
            }
        }
    }
    if !discovery.tls_bootstrap_token.is_empty() {
        if let Some(why) = token_problem(&discovery.tls_bootstrap_token) {
            out.push((KIND, "discovery.tlsBootstrapToken".into(), why));
        }
    }
    if !config.ca_cert_path.is_empty()
        && (!config.ca_cert_path.starts_with('/') || !config.ca_cert_path.ends_with(".crt"))
    {
        out.push((
            KIND,
            "caCertPath".into(),
            "the ca certificate path must be an absolute path ending in .crt".into(),
        ));
    }
    if let Some(control_plane) = &config.control_plane {
        endpoint(
            KIND,
            "controlPlane.localAPIEndpoint",
            &control_plane.local_api_endpoint,
            out,
        );
        if !control_plane.certificate_key.is_empty() {
            if let Some(why) = certificate_key_problem(&control_plane.certificate_key) {
                out.push((KIND, "controlPlane.certificateKey".into(), why));
            }
        }
    }
    node_registration(KIND, &config.node_registration, out);
}

pub fn reset(config: &ResetConfiguration, out: &mut Vec<Finding>) {
    const KIND: &str = "ResetConfiguration";
    absolute(KIND, "certificatesDir", &config.certificates_dir, out);
    if !config.cri_socket.is_empty() {
        cri_socket(KIND, "criSocket", &config.cri_socket, out);
    }
    ignore_preflight_errors(
        KIND,
        "ignorePreflightErrors",
        &config.ignore_preflight_errors,
        out,
    );
    for (i, flag) in config.unmount_flags.iter().enumerate() {
        if !UNMOUNT_FLAGS.contains(&flag.as_str()) {
            out.push((
                KIND,
                format!("unmountFlags[{i}]"),
                format!(
                    "unknown unmount flag {flag}: use {}",
                    UNMOUNT_FLAGS.join(", ")
                ),
            ));
        }
    }
}

/// The umount2(2) flags ResetConfiguration.unmountFlags may name.
pub const UNMOUNT_FLAGS: [&str; 4] = ["MNT_FORCE", "MNT_DETACH", "MNT_EXPIRE", "UMOUNT_NOFOLLOW"];

fn has_port(endpoint: &str) -> bool {
    match endpoint.strip_prefix('[') {
        Some(rest) => rest.split_once("]:").is_some(),
        None => endpoint.matches(':').count() == 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_hashes() {
        assert!(token_problem("abcdef.0123456789abcdef").is_none());
        assert!(token_problem("ABCDEF.0123456789abcdef").is_some());
        assert!(token_problem("abcdef0123456789abcdef").is_some());
        assert!(
            !token_problem("abcdef.zyxwvutsrqponmlK")
                .unwrap()
                .contains("zyxwv"),
            "the secret never appears"
        );
        assert_eq!(redact_token("aéééé"), "aéééé.<redacted>");
        assert_eq!(redact_token("abcdef0123.456789abcdef"), "abcdef.<redacted>");
        assert!(token_problem("aéééé.x").is_some());
        assert!(ca_cert_hash_problem(&format!("sha256:{}", "a".repeat(64))).is_none());
        assert!(ca_cert_hash_problem("sha256:somehashvalue").is_some());
        assert!(ca_cert_hash_problem("md5:abcd")
            .unwrap()
            .contains("unknown hash format"));
        assert!(ca_cert_hash_problem("abc").is_some());
    }

    #[test]
    fn subnets() {
        let mut out = Vec::new();
        subnet_findings(
            "ClusterConfiguration",
            "networking.serviceSubnet",
            "10.96.0.0/29",
            10,
            Some(20),
            &mut out,
        );
        assert!(out[0].2.contains("too small"), "{out:?}");
        out.clear();
        subnet_findings(
            "ClusterConfiguration",
            "networking.serviceSubnet",
            "10.0.0.0/8",
            10,
            Some(20),
            &mut out,
        );
        assert!(out[0].2.contains("too large"), "{out:?}");
        out.clear();
        subnet_findings(
            "ClusterConfiguration",
            "networking.serviceSubnet",
            "10.96.0.0/12,fd00::/108",
            10,
            Some(20),
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
        assert!(parse_cidrs("10.0.0.0/16,10.1.0.0/16").is_err());
        assert!(parse_cidrs("10.0.0.300/16").is_err());
    }

    #[test]
    fn image_repositories() {
        for good in [
            "registry.k8s.io",
            "mirror.example.com:5000/k8s",
            "localhost/a/b",
            "registry.aliyuncs.com/google_containers",
        ] {
            assert!(image_repository_problem(good).is_none(), "{good}");
        }
        for bad in [
            "https://registry.k8s.io",
            "registry.k8s.io/",
            "a//b",
            "repo:tag",
            "has space",
            "",
            "x/Upper",
        ] {
            assert!(image_repository_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn external_etcd_rules() {
        let check = |external: ExternalEtcd| {
            let mut out = Vec::new();
            external_etcd(&external, &mut out);
            out.into_iter().map(|f| f.2).collect::<Vec<_>>()
        };
        let files = |ca: &str, cert: &str, key: &str| ExternalEtcd {
            endpoints: vec!["https://10.0.0.1:2379".into()],
            ca_file: ca.into(),
            cert_file: cert.into(),
            key_file: key.into(),
        };
        assert!(check(files("/e/ca.crt", "/e/c.crt", "/e/c.key")).is_empty());
        assert!(check(ExternalEtcd {
            endpoints: vec!["http://10.0.0.1:2379".into()],
            ..Default::default()
        })
        .is_empty());
        assert!(check(files("", "/e/c.crt", ""))[0].contains("either both or none"));
        assert!(
            check(files("", "/e/c.crt", "/e/c.key"))[0].contains("requires .Etcd.External.CAFile")
        );
        assert!(check(files("ca.crt", "", ""))[0].contains("path is not absolute"));
        let plain = ExternalEtcd {
            endpoints: vec!["http://10.0.0.1:2379".into()],
            ca_file: "/e/ca.crt".into(),
            ..Default::default()
        };
        assert!(check(plain)[0].contains("HTTPS scheme"));
        let bare = ExternalEtcd {
            endpoints: vec!["10.0.0.1:2379".into()],
            ..Default::default()
        };
        assert!(check(bare)[0].contains("without scheme"));
    }

    #[test]
    fn token_usages_and_groups() {
        let init = InitConfiguration {
            bootstrap_tokens: vec![BootstrapToken {
                usages: vec!["signing".into(), "nope".into()],
                groups: vec!["system:bootstrappers:ok".into(), "admins".into()],
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut out = Vec::new();
        super::init(&init, &mut out);
        let messages: Vec<&str> = out.iter().map(|f| f.2.as_str()).collect();
        assert!(messages.contains(&"invalid bootstrap token usage string: nope, valid usage options: signing,authentication"), "{messages:?}");
        assert!(
            messages
                .iter()
                .any(|m| m.contains("cannot be specified unless --usages includes")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("bootstrap group \"admins\" is invalid")),
            "{messages:?}"
        );
    }

    #[test]
    fn reset_unmount_flags_and_sockets() {
        let mut out = Vec::new();
        super::reset(
            &ResetConfiguration {
                unmount_flags: vec!["MNT_DETACH".into(), "MNT_BOGUS".into()],
                cri_socket: "/run/containerd/containerd.sock".into(),
                ..Default::default()
            },
            &mut out,
        );
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out
            .iter()
            .any(|f| f.2.contains("unknown unmount flag MNT_BOGUS")));
        assert!(out
            .iter()
            .any(|f| f.2.contains("only URL scheme \"unix\" is supported")));
    }

    #[test]
    fn endpoints_and_sans() {
        assert!(host_port_problem("k8s.example.com:6443").is_none());
        assert!(host_port_problem("[fd00::1]:6443").is_none());
        assert!(host_port_problem("10.0.0.1").is_none());
        assert!(host_port_problem("bad_host:6443").is_some());
        assert!(host_port_problem("host:99999").is_some());
        assert!(san_problem("*.example.com").is_none());
        assert!(san_problem("Not Valid").is_some());
        assert!(group_ok("system:bootstrappers:kubeadm:default-node-token"));
        assert!(!group_ok("system:nodes"));
    }
}
