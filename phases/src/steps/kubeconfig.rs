//! `kinit init phase kubeconfig <child>`: the kubeconfig files of a control-plane node, each with a
//! client certificate signed by the cluster CA.

use crate::domain::config::resolve::InitConfig;
use crate::domain::kubeconfig::{base64, unbase64, Cluster, Kubeconfig, User};
use crate::domain::layout;
use crate::domain::pki::cert::{self, CertProfile, Usage};
use crate::domain::pki::keys;
use crate::domain::pki::table::endpoint_host;
use crate::steps::certs::{self, cert_dir, path, read_pair};
use crate::workflow::{failed, NodeData, PhaseContext, PhaseError};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

pub const KUBECONFIG_MODE: u32 = 0o600;
pub use crate::domain::layout::KUBERNETES_DIR as DEFAULT_KUBECONFIG_DIR;

/// `https://host:port`, with IPv6 hosts in brackets.
fn url(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("https://[{host}]:{port}")
    } else {
        format!("https://{host}:{port}")
    }
}

/// This node's API server: `https://<advertiseAddress>:<bindPort>`.
pub fn local_endpoint(config: &InitConfig) -> String {
    let endpoint = &config.init.local_api_endpoint;
    url(&endpoint.advertise_address, &endpoint.bind_port.to_string())
}

/// The cluster's API endpoint: controlPlaneEndpoint (with the bind port when it names none), else this node.
pub fn control_plane_endpoint(config: &InitConfig) -> String {
    let endpoint = &config.cluster.control_plane_endpoint;
    if endpoint.is_empty() {
        return local_endpoint(config);
    }
    let host = endpoint_host(endpoint);
    let port = endpoint
        .strip_prefix(&format!("[{host}]"))
        .or_else(|| endpoint.strip_prefix(host))
        .and_then(|rest| rest.strip_prefix(':'))
        .map(str::to_string)
        .unwrap_or_else(|| config.init.local_api_endpoint.bind_port.to_string());
    url(host, &port)
}

/// The children of `kinit init phase kubeconfig`, in kubeadm's order, with kubeadm's descriptions.
pub const KUBECONFIG_PHASES: [(&str, &str); 5] = [
    ("admin", "Generate a kubeconfig file for the admin to use and for kubeadm itself"),
    ("super-admin", "Generate a kubeconfig file for the super-admin"),
    ("kubelet", "Generate a kubeconfig file for the kubelet to use *only* for cluster bootstrapping purposes"),
    ("controller-manager", "Generate a kubeconfig file for the controller manager to use"),
    ("scheduler", "Generate a kubeconfig file for the scheduler to use"),
];

pub struct KubeconfigSpec {
    pub phase: &'static str,
    pub file: &'static str,
    pub user: String,
    pub organizations: Vec<String>,
    pub server: String,
}

/// kubeadm's kubeconfig files of an init, with their identities and servers (reference §4).
pub fn specs(config: &InitConfig) -> Vec<KubeconfigSpec> {
    let cluster_wide = control_plane_endpoint(config);
    let local = local_endpoint(config);
    let kubelet_local = config
        .cluster
        .feature_gates
        .get("ControlPlaneKubeletLocalMode")
        .copied()
        // Beta and on by default from kubeadm 1.33.
        .unwrap_or(config.version.minor >= 33);
    let spec = |phase, file, user: String, orgs: &[&str], server: &str| KubeconfigSpec {
        phase,
        file,
        user,
        organizations: orgs.iter().map(|o| o.to_string()).collect(),
        server: server.to_string(),
    };
    vec![
        spec(
            "admin",
            layout::ADMIN_CONF_FILE,
            "kubernetes-admin".into(),
            &["kubeadm:cluster-admins"],
            &cluster_wide,
        ),
        spec(
            "super-admin",
            layout::SUPER_ADMIN_CONF_FILE,
            "kubernetes-super-admin".into(),
            &["system:masters"],
            &cluster_wide,
        ),
        spec(
            "kubelet",
            layout::KUBELET_CONF_FILE,
            format!("system:node:{}", config.init.node_registration.name),
            &["system:nodes"],
            if kubelet_local { &local } else { &cluster_wide },
        ),
        spec(
            "controller-manager",
            layout::CONTROLLER_MANAGER_CONF_FILE,
            "system:kube-controller-manager".into(),
            &[],
            &local,
        ),
        spec(
            "scheduler",
            layout::SCHEDULER_CONF_FILE,
            "system:kube-scheduler".into(),
            &[],
            &local,
        ),
    ]
}

fn file_path<D: NodeData>(ctx: &PhaseContext<'_, D>, file: &str) -> String {
    format!("{}/{file}", ctx.data.kubeconfig_dir().trim_end_matches('/'))
}

fn key_name(phase: &str) -> String {
    format!("kubeconfig/{phase}")
}

/// The client keys the kubeconfig files of children `phases` will make: one for each file that
/// does not exist.
pub fn key_demand<D: NodeData>(
    ctx: &PhaseContext<'_, D>,
    phases: &[&str],
) -> Result<Vec<String>, String> {
    let mut needed = Vec::new();
    for spec in specs(ctx.data.config()) {
        if phases.contains(&spec.phase)
            && ctx.effects.read_file(&file_path(ctx, spec.file))?.is_none()
        {
            needed.push(key_name(spec.phase));
        }
    }
    Ok(needed)
}

/// A kubeconfig for `user`, embedding the CA and a fresh client certificate signed by it.
pub fn build(
    config: &InitConfig,
    spec: &KubeconfigSpec,
    ca: &X509,
    ca_key: &PKey<Private>,
    key: &PKey<Private>,
    validity: cert::Validity,
) -> Result<Kubeconfig, String> {
    client_kubeconfig(
        &config.cluster.cluster_name,
        &spec.user,
        &spec.organizations,
        &spec.server,
        (ca, ca_key),
        key,
        validity,
    )
}

/// A kubeconfig of one cluster and one user with a client certificate for `key`, signed by `signer`:
/// the files of init, and `kinit kubeconfig user`.
pub fn client_kubeconfig(
    cluster_name: &str,
    user: &str,
    organizations: &[String],
    server: &str,
    signer: (&X509, &PKey<Private>),
    key: &PKey<Private>,
    validity: cert::Validity,
) -> Result<Kubeconfig, String> {
    let (ca, ca_key) = signer;
    let profile = CertProfile {
        common_name: user.to_string(),
        organizations: organizations.to_vec(),
        dns_names: Vec::new(),
        ips: Vec::new(),
        usages: vec![Usage::ClientAuth],
        is_ca: false,
    };
    let client = cert::build(&profile, key, Some((ca, ca_key)), validity)?;
    Ok(Kubeconfig::single(
        cluster_name,
        Cluster {
            certificate_authority_data: Some(base64(&cert::to_pem(ca)?)),
            server: server.to_string(),
            ..Default::default()
        },
        user,
        User {
            client_certificate_data: Some(base64(&cert::to_pem(&client)?)),
            client_key_data: Some(base64(&keys::private_key_pem(key)?)),
            ..Default::default()
        },
    ))
}

/// What is wrong with an existing kubeconfig for this cluster, or `Ok(warnings)` when it can stay.
/// Deliberately stricter than kubeadm, which compares only the CA: an embedded client certificate that
/// expired, is signed by another CA, is for another user or does not match its key would leave the
/// component unable to log in, so kinit says so here instead of keeping a file that cannot work.
fn check_existing(
    text: &str,
    file: &str,
    spec: &KubeconfigSpec,
    ca: &X509,
) -> Result<Vec<String>, String> {
    let config = Kubeconfig::parse(text, file)?;
    let (cluster, user) = config
        .current()
        .ok_or_else(|| format!("{file} has no usable current context"))?;
    let embedded_ca = cluster
        .certificate_authority_data
        .as_deref()
        .map(unbase64)
        .transpose()
        .and_then(|pem| pem.map(|p| cert::parse_pem(&p, file)).transpose())
        .map_err(|e| format!("{file}: certificate-authority-data: {e}"))?;
    let same_ca = embedded_ca
        .as_ref()
        .is_some_and(|embedded| embedded.to_der().ok() == ca.to_der().ok());
    if !same_ca {
        return Err(format!("a kubeconfig file {file:?} exists already but has got the wrong CA cert: remove it to have it made again"));
    }
    if let (Some(cert_data), Some(key_data)) =
        (&user.client_certificate_data, &user.client_key_data)
    {
        let client = unbase64(cert_data)
            .and_then(|pem| cert::parse_pem(&pem, file))
            .map_err(|e| format!("{file}: client-certificate-data: {e}"))?;
        let key = unbase64(key_data)
            .and_then(|pem| keys::parse_private_key(&pem, file))
            .map_err(|e| format!("{file}: client-key-data: {e}"))?;
        let profile = CertProfile {
            common_name: spec.user.clone(),
            organizations: spec.organizations.clone(),
            dns_names: Vec::new(),
            ips: Vec::new(),
            usages: vec![Usage::ClientAuth],
            is_ca: false,
        };
        if let Some(problem) = cert::problem_with(&client, &key, &profile, Some(ca)) {
            return Err(format!(
                "{file}: client certificate: {problem}: remove {file} to have it made again"
            ));
        }
        if cert::common_name(&client) != spec.user {
            return Err(format!(
                "{file}: the client certificate is for {:?}, not {:?}: remove {file} to have it made again",
                cert::common_name(&client),
                spec.user
            ));
        }
    }
    let mut warnings = Vec::new();
    if cluster.server != spec.server {
        warnings.push(format!("a kubeconfig file {file:?} exists already but has an unexpected API Server URL: expected: {}, got: {}", spec.server, cluster.server));
    }
    Ok(warnings)
}

/// What runs before the first kubeconfig file of a run: say where they go, and make the keys of
/// the run that are not made yet.
pub fn before_kubeconfigs<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
) -> Result<Vec<String>, PhaseError> {
    ctx.sink.line(&format!(
        "[kubeconfig] Using kubeconfig folder {:?}",
        ctx.data.kubeconfig_dir()
    ));
    ctx.make_keys_ahead()?;
    Ok(Vec::new())
}

/// Child `phase` of `kinit init phase kubeconfig`: its file kept, refused or made.
pub fn run_file<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
    phase: &str,
) -> Result<Vec<String>, PhaseError> {
    let all = specs(ctx.data.config());
    let spec = all
        .iter()
        .find(|s| s.phase == phase)
        .ok_or_else(|| failed(format!("unknown kubeconfig {phase}")))?;
    let dir = cert_dir(ctx.data.config()).to_string();
    let ca_pair = read_pair(ctx, &dir, "ca")?;
    let ca_crt = path(&dir, "ca", "crt");
    let Some(ca) = ca_pair.cert else {
        return Err(failed(format!(
            "cannot make {}: the CA certificate {ca_crt} is missing (run `kinit init phase certs ca` first)",
            spec.file
        )));
    };
    let file = file_path(ctx, spec.file);
    if let Some(existing) = ctx.effects.read_file(&file).map_err(failed)? {
        let text = String::from_utf8_lossy(&existing);
        let warnings = check_existing(&text, &file, spec, &ca).map_err(failed)?;
        for warning in &warnings {
            ctx.sink.line(&format!("[kubeconfig] WARNING: {warning}"));
        }
        ctx.sink.line(&format!(
            "[kubeconfig] Using existing kubeconfig file: {file:?}"
        ));
        return Ok(warnings);
    }
    let Some(ca_key) = ca_pair.key else {
        return Err(failed(format!(
            "{file} is missing, and without {} (external CA mode) kinit cannot sign its client certificate: provide {file}",
            path(&dir, "ca", "key")
        )));
    };
    ctx.sink.line(&format!(
        "[kubeconfig] Writing {:?} kubeconfig file",
        spec.file
    ));
    let algorithm = certs::algorithm(ctx.data.config())?;
    let key = ctx
        .keys
        .take(&key_name(spec.phase), algorithm)
        .map_err(failed)?;
    let validity = certs::leaf_validity(ctx);
    let kubeconfig =
        build(ctx.data.config(), spec, &ca, &ca_key, &key, validity).map_err(failed)?;
    let text = kubeconfig.to_yaml().map_err(failed)?;
    ctx.effects
        .write_file(&file, text.as_bytes(), KUBECONFIG_MODE)
        .map_err(failed)?;
    Ok(Vec::new())
}
