//! The command tree and its flags, named as kubeadm names them.

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use kinit_phases::commands::certs_commands::RENEWABLE;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
    /// YAML, for `kinit token list` and `kinit upgrade plan` only
    // `run` in main.rs refuses it for every other command, whose matches treat it as Json only to
    // stay exhaustive.
    Yaml,
}

#[derive(Debug, Parser)]
#[command(
    name = "kinit",
    version,
    about = "Bootstrap Kubernetes nodes the way kubeadm does: same files, same objects, same flags"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Path to a kubeadm configuration file (v1beta4 or v1beta3); `-` reads standard input
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<String>,
    /// Resolve every host path kinit reads or writes under this folder
    #[arg(long, global = true, value_name = "DIR")]
    pub rootfs: Option<String>,
    /// Change nothing; print what would be done
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Output format
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// More log detail (-v info, -vv debug, -vvv trace), on standard error
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// kubeadm's log level, as a number (`--v=5`): 1 info, 2 debug, 3 and up trace
    #[arg(long = "v", global = true, value_name = "LEVEL")]
    pub level: Option<u8>,
    /// Checks whose errors become warnings (case-insensitive names, or `all`)
    #[arg(long, global = true, value_delimiter = ',', value_name = "NAMES")]
    pub ignore_preflight_errors: Vec<String>,
    /// Phases to skip (`name` or `name/child`)
    #[arg(long, global = true, value_delimiter = ',', value_name = "PHASES")]
    pub skip_phases: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up a Kubernetes control-plane node
    Init(InitCommand),
    /// Set up a node and join it to a cluster
    Join(JoinCommand),
    /// Undo what init or join did on this node
    Reset(ResetArgs),
    /// Manage bootstrap tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Check, renew and make keys for the cluster PKI on this control-plane node
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Make kubeconfig files for users
    #[command(subcommand)]
    Kubeconfig(KubeconfigCommand),
    /// Print, validate and migrate kubeadm configuration; list images
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Upgrade the cluster to another Kubernetes version: plan, apply, node
    #[command(subcommand)]
    Upgrade(UpgradeCommand),
    /// Print the version of kinit
    Version,
    /// Print a shell completion script (bash, zsh or fish)
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages for kinit and every sub-command into a folder
    Man {
        /// Where to write kinit.1, kinit-init.1, ...
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: String,
    },
}

/// Flags of `kubeadm init` that set configuration; they may not be mixed with --config.
#[derive(Debug, Args, Clone, Default)]
pub struct InitFlags {
    /// The IP address the API server advertises [default: the IP of the default-route interface]
    #[arg(long, global = true, value_name = "IP")]
    pub apiserver_advertise_address: Option<String>,
    /// Port the API server binds to [default: 6443]
    #[arg(long, global = true, value_name = "PORT")]
    pub apiserver_bind_port: Option<u16>,
    /// Extra Subject Alternative Names (IPs or DNS names) for the API server certificate
    #[arg(long, global = true, value_delimiter = ',', value_name = "SANS")]
    pub apiserver_cert_extra_sans: Vec<String>,
    /// Where certificates are kept [default: /etc/kubernetes/pki]
    #[arg(long, global = true, value_name = "DIR")]
    pub cert_dir: Option<String>,
    /// Key that encrypts the control-plane certificates in the kubeadm-certs Secret (64 hex characters)
    #[arg(long, global = true, value_name = "KEY")]
    pub certificate_key: Option<String>,
    /// A stable IP address or DNS name for the control plane, with optional port
    #[arg(long, global = true, value_name = "ENDPOINT")]
    pub control_plane_endpoint: Option<String>,
    /// The CRI socket to connect to [default: detected]
    #[arg(long, global = true, value_name = "SOCKET")]
    pub cri_socket: Option<String>,
    /// kubeadm feature gates as key=value pairs
    #[arg(long, global = true, value_name = "GATES")]
    pub feature_gates: Option<String>,
    /// Container registry to pull control-plane images from [default: registry.k8s.io]
    #[arg(long, global = true, value_name = "REPO")]
    pub image_repository: Option<String>,
    /// The Kubernetes version of the control plane [default: stable-1]
    #[arg(long, global = true, value_name = "VERSION")]
    pub kubernetes_version: Option<String>,
    /// Node name [default: the hostname, lowercased]
    #[arg(long, global = true, value_name = "NAME")]
    pub node_name: Option<String>,
    /// Folder of patches for the static pods and the kubelet configuration
    #[arg(long, global = true, value_name = "DIR")]
    pub patches: Option<String>,
    /// Pod network range; when set, node CIDRs are allocated from it
    #[arg(long, global = true, value_name = "CIDR")]
    pub pod_network_cidr: Option<String>,
    /// Service virtual IP range [default: 10.96.0.0/12]
    #[arg(long, global = true, value_name = "CIDR")]
    pub service_cidr: Option<String>,
    /// DNS domain of services [default: cluster.local]
    #[arg(long, global = true, value_name = "DOMAIN")]
    pub service_dns_domain: Option<String>,
    /// Do not print the certificate key
    #[arg(long, global = true)]
    pub skip_certificate_key_print: bool,
    /// Do not print the bootstrap token
    #[arg(long, global = true)]
    pub skip_token_print: bool,
    /// Bootstrap token ([a-z0-9]{6}.[a-z0-9]{16}) [default: generated]
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Lifetime of the bootstrap token, 0 for never [default: 24h0m0s]
    #[arg(long, global = true, value_name = "DURATION")]
    pub token_ttl: Option<String>,
    /// Upload the control-plane certificates to the kubeadm-certs Secret
    #[arg(long, global = true)]
    pub upload_certs: bool,
    /// kubeconfig used to talk to the cluster (phase commands) [default: /etc/kubernetes/admin.conf]
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<String>,
    /// Where kubeconfig files are kept (phase commands) [default: /etc/kubernetes]
    #[arg(long, global = true, value_name = "DIR")]
    pub kubeconfig_dir: Option<String>,
}

impl InitFlags {
    /// The flags set here that the config file owns, named as on the command line, sorted as kubeadm lists them.
    pub fn config_owned(&self) -> Vec<&'static str> {
        given(&[
            (
                self.apiserver_advertise_address.is_some(),
                "apiserver-advertise-address",
            ),
            (self.apiserver_bind_port.is_some(), "apiserver-bind-port"),
            (
                !self.apiserver_cert_extra_sans.is_empty(),
                "apiserver-cert-extra-sans",
            ),
            (self.cert_dir.is_some(), "cert-dir"),
            (self.certificate_key.is_some(), "certificate-key"),
            (
                self.control_plane_endpoint.is_some(),
                "control-plane-endpoint",
            ),
            (self.cri_socket.is_some(), "cri-socket"),
            (self.feature_gates.is_some(), "feature-gates"),
            (self.image_repository.is_some(), "image-repository"),
            (self.kubernetes_version.is_some(), "kubernetes-version"),
            (self.patches.is_some(), "patches"),
            (self.pod_network_cidr.is_some(), "pod-network-cidr"),
            (self.service_cidr.is_some(), "service-cidr"),
            (self.service_dns_domain.is_some(), "service-dns-domain"),
            (self.token.is_some(), "token"),
            (self.token_ttl.is_some(), "token-ttl"),
        ])
    }
}

/// The names of the flags that were given, sorted.
fn given(flags: &[(bool, &'static str)]) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = flags
        .iter()
        .filter(|(set, _)| *set)
        .map(|(_, name)| *name)
        .collect();
    names.sort_unstable();
    names
}

#[derive(Debug, Args)]
pub struct InitCommand {
    #[command(flatten)]
    pub flags: InitFlags,
    #[command(subcommand)]
    pub phase: Option<InitSub>,
}

#[derive(Debug, Subcommand)]
pub enum InitSub {
    /// Run one phase of init (see `kinit init --help` for the list)
    Phase(PhaseArgs),
}

#[derive(Debug, Args)]
pub struct PhaseArgs {
    /// Phase name, e.g. preflight, certs, kubeconfig
    pub phase: String,
    /// Child phase, or `all`
    pub child: Option<String>,
    /// (join) the API server endpoint, after the phase names
    #[arg(hide = true)]
    pub endpoint: Option<String>,
    /// (preflight) apply the safe remedies, then check again
    #[arg(long)]
    pub fix: bool,
    /// (kubeconfig) where the kubeconfig files are written
    #[arg(long, value_name = "DIR", default_value = kinit_phases::domain::layout::KUBERNETES_DIR)]
    pub kubeconfig_dir: String,
}

#[derive(Debug, Args)]
pub struct JoinCommand {
    /// API server endpoint to join through (host:port)
    pub api_server_endpoint: Option<String>,
    /// Token for both discovery and TLS bootstrap
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// Token for discovery
    #[arg(long, global = true)]
    pub discovery_token: Option<String>,
    /// Pin of the cluster CA (sha256:<hex>), repeatable
    #[arg(long, global = true)]
    pub discovery_token_ca_cert_hash: Vec<String>,
    /// Join without pinning the cluster CA
    #[arg(long, global = true)]
    pub discovery_token_unsafe_skip_ca_verification: bool,
    /// A kubeconfig file or https URL to discover the cluster from
    #[arg(long, global = true)]
    pub discovery_file: Option<String>,
    /// Token for the kubelet's TLS bootstrap
    #[arg(long, global = true)]
    pub tls_bootstrap_token: Option<String>,
    /// Join as a further control-plane node
    #[arg(long, global = true)]
    pub control_plane: bool,
    /// Key to decrypt the kubeadm-certs Secret
    #[arg(long, global = true)]
    pub certificate_key: Option<String>,
    /// The IP address this control-plane node's API server advertises
    #[arg(long, global = true)]
    pub apiserver_advertise_address: Option<String>,
    /// Port this control-plane node's API server binds to [default: 6443]
    #[arg(long, global = true)]
    pub apiserver_bind_port: Option<u16>,
    /// The CRI socket to connect to [default: detected]
    #[arg(long, global = true)]
    pub cri_socket: Option<String>,
    /// Node name [default: the hostname, lowercased]
    #[arg(long, global = true)]
    pub node_name: Option<String>,
    /// Folder of patches
    #[arg(long, global = true)]
    pub patches: Option<String>,
    #[command(subcommand)]
    pub phase: Option<JoinSub>,
}

impl JoinCommand {
    /// The flags set here that a JoinConfiguration owns, as kubeadm lists them.
    pub fn config_owned(&self) -> Vec<&'static str> {
        given(&[
            (
                self.apiserver_advertise_address.is_some(),
                "apiserver-advertise-address",
            ),
            (self.apiserver_bind_port.is_some(), "apiserver-bind-port"),
            (self.certificate_key.is_some(), "certificate-key"),
            (self.control_plane, "control-plane"),
            (self.cri_socket.is_some(), "cri-socket"),
            (self.discovery_file.is_some(), "discovery-file"),
            (self.discovery_token.is_some(), "discovery-token"),
            (
                !self.discovery_token_ca_cert_hash.is_empty(),
                "discovery-token-ca-cert-hash",
            ),
            (
                self.discovery_token_unsafe_skip_ca_verification,
                "discovery-token-unsafe-skip-ca-verification",
            ),
            (self.patches.is_some(), "patches"),
            (self.tls_bootstrap_token.is_some(), "tls-bootstrap-token"),
            (self.token.is_some(), "token"),
        ])
    }
}

#[derive(Debug, Subcommand)]
pub enum JoinSub {
    /// Run one phase of join
    Phase(PhaseArgs),
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Reset without asking for confirmation
    #[arg(short = 'f', long, global = true)]
    pub force: bool,
    /// Also clean /etc/kubernetes/tmp
    #[arg(long, global = true)]
    pub cleanup_tmp_dir: bool,
    /// Where certificates are kept [default: /etc/kubernetes/pki]
    #[arg(long, global = true)]
    pub cert_dir: Option<String>,
    /// The CRI socket to clean containers through [default: the one found]
    #[arg(long, global = true)]
    pub cri_socket: Option<String>,
    /// The kubeconfig used to talk to the cluster [default: /etc/kubernetes/admin.conf]
    #[arg(long, global = true)]
    pub kubeconfig: Option<String>,
    #[command(subcommand)]
    pub phase: Option<ResetSub>,
}

#[derive(Debug, Subcommand)]
pub enum ResetSub {
    /// Run one phase of reset (see `kinit reset --help` for the list)
    Phase(ResetPhaseArgs),
}

#[derive(Debug, Args)]
pub struct ResetPhaseArgs {
    /// Phase name (`name` or `name/child`)
    pub phase: String,
}

impl ResetArgs {
    /// The flags set here that a ResetConfiguration owns; `--kubeconfig` is not one of them in kubeadm.
    pub fn config_owned(&self) -> Vec<&'static str> {
        given(&[
            (self.cert_dir.is_some(), "cert-dir"),
            (self.cleanup_tmp_dir, "cleanup-tmp-dir"),
            (self.cri_socket.is_some(), "cri-socket"),
            (self.force, "force"),
        ])
    }
}

/// Arguments of commands a later release implements.
#[derive(Debug, Args)]
pub struct RestArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

/// Where `kinit certs` finds the certificates and the kubeconfig files.
#[derive(Debug, Args)]
pub struct PkiDirArgs {
    /// Where certificates are kept [default: certificatesDir of --config, else /etc/kubernetes/pki]
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<String>,
    /// Where the kubeconfig files are kept
    #[arg(long, value_name = "DIR", default_value = kinit_phases::domain::layout::KUBERNETES_DIR)]
    pub kubeconfig_dir: String,
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Show when each certificate and CA on this node expires
    CheckExpiration(PkiDirArgs),
    /// Make certificates again with new keys, signed by the CA on disk, for a new certificateValidityPeriod
    Renew {
        /// The certificate to renew, or `all`
        #[arg(value_name = "NAME", value_parser = PossibleValuesParser::new(std::iter::once("all").chain(RENEWABLE)))]
        name: String,
        #[command(flatten)]
        dirs: PkiDirArgs,
    },
    /// Print a new random key for --certificate-key (64 hex characters)
    CertificateKey,
    /// Make keys and certificate signing requests for an external CA: every leaf certificate, and
    /// every kubeconfig file with its client key and a .csr beside it
    GenerateCsr(PkiDirArgs),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bootstrap token on the server (a random one unless TOKEN is given)
    Create(TokenCreateArgs),
    /// List the bootstrap tokens on the server (-o text, json or yaml)
    List(TokenListArgs),
    /// Delete bootstrap tokens on the server, by id or whole token
    Delete {
        /// Token ids or whole tokens
        // Not `required`: kinit checks, so that none at all gets kubeadm's message.
        #[arg(value_name = "TOKEN_ID|TOKEN")]
        tokens: Vec<String>,
        #[command(flatten)]
        server: TokenServerArgs,
    },
    /// Print a random token of the form [a-z0-9]{6}.[a-z0-9]{16}, contacting nothing
    Generate,
}

/// How the token commands reach the cluster.
#[derive(Debug, Args)]
pub struct TokenServerArgs {
    /// The kubeconfig to talk to the cluster with (under --rootfs when given)
    #[arg(
        long,
        value_name = "FILE",
        default_value = kinit_phases::domain::layout::ADMIN_CONF
    )]
    pub kubeconfig: String,
}

/// The token's settings are `Option`s without clap defaults, so that giving one alongside
/// --config can be refused as kubeadm refuses it; the defaults are kubeadm's (24h, signing and
/// authentication, the default node-token group).
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// The token to create; a random one when absent
    #[arg(value_name = "TOKEN")]
    pub token: Option<String>,
    /// How long the token is valid (a Go duration); 0 means forever [default: 24h0m0s]
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// What the token may be used for [default: signing,authentication]
    #[arg(long, value_name = "USAGE", value_delimiter = ',')]
    pub usages: Option<Vec<String>>,
    /// Extra groups the token authenticates as; needs usage authentication
    /// [default: system:bootstrappers:kubeadm:default-node-token]
    #[arg(long, value_name = "GROUP", value_delimiter = ',')]
    pub groups: Option<Vec<String>>,
    /// A human description of the token
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Print the whole join command instead of the token alone
    #[arg(long)]
    pub print_join_command: bool,
    /// With --print-join-command: print the control-plane join command with this certificate key
    #[arg(long, value_name = "KEY")]
    pub certificate_key: Option<String>,
    #[command(flatten)]
    pub server: TokenServerArgs,
}

#[derive(Debug, Args)]
pub struct TokenListArgs {
    #[command(flatten)]
    pub server: TokenServerArgs,
}

#[derive(Debug, Subcommand)]
pub enum KubeconfigCommand {
    /// Print a kubeconfig for a user, with a client certificate signed by the cluster CA
    User(UserArgs),
}

#[derive(Debug, Args)]
pub struct UserArgs {
    /// The user: the client certificate's common name
    #[arg(long, value_name = "NAME")]
    pub client_name: String,
    /// A group of the user: the certificate's organization (repeat, or separate with commas)
    #[arg(long = "org", value_name = "ORG", value_delimiter = ',')]
    pub orgs: Vec<String>,
    /// How long the client certificate is valid
    #[arg(long, value_name = "DURATION", default_value = "8760h")]
    pub validity_period: String,
    /// Where the cluster CA is kept [default: certificatesDir of --config, else /etc/kubernetes/pki]
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print default configuration
    #[command(subcommand)]
    Print(PrintCommand),
    /// Check a configuration file (strict: unknown fields and kinds are errors); needs no root
    Validate,
    /// Read an older configuration file and write it as v1beta4
    Migrate {
        /// The file to read
        #[arg(long, value_name = "FILE")]
        old_config: String,
        /// Where to write the result [default: standard output]
        #[arg(long, value_name = "FILE")]
        new_config: Option<String>,
    },
    /// Work with the images kinit uses
    #[command(subcommand)]
    Images(ImagesCommand),
}

#[derive(Debug, Subcommand)]
#[allow(clippy::enum_variant_names)] // the names are kubeadm's sub-commands
pub enum PrintCommand {
    /// Defaults for `kinit init`
    InitDefaults,
    /// Defaults for `kinit join`
    JoinDefaults,
    /// Defaults for `kinit reset`
    ResetDefaults,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Print the images kinit uses, one per line
    List(ImagesArgs),
    /// Pull the images of `config images list` through the node's container runtime (its CRI
    /// socket); images it already has are not pulled again
    Pull {
        #[command(flatten)]
        images: ImagesArgs,
        /// The container runtime's CRI socket [default: nodeRegistration.criSocket of --config,
        /// else the one socket of containerd, CRI-O or cri-dockerd found on the node]
        #[arg(long, value_name = "ENDPOINT")]
        cri_socket: Option<String>,
    },
}

/// Which images: the version and registry, over what --config says.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    #[arg(long, value_name = "VERSION")]
    pub kubernetes_version: Option<String>,
    #[arg(long, value_name = "REPO")]
    pub image_repository: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UpgradeCommand {
    /// Show the versions the cluster can be upgraded to and what each would change
    Plan(UpgradePlanArgs),
    /// Upgrade this control-plane node and the cluster's configuration to a version
    Apply(UpgradeApplyArgs),
    /// Upgrade this node (a further control plane or a worker) to the version kubeadm-config names
    Node(UpgradeNodeArgs),
    /// Show what an upgrade would change in this node's control-plane manifests, as a unified diff
    Diff(UpgradeDiffArgs),
}

#[derive(Debug, Args)]
pub struct UpgradeDiffArgs {
    /// The version to compare with [default: diff.kubernetesVersion of --config, else the cluster's]
    #[arg(value_name = "VERSION")]
    pub version: Option<String>,
    /// The kubeconfig to talk to the cluster with (under --rootfs when given)
    #[arg(long, value_name = "FILE", default_value = kinit_phases::domain::layout::ADMIN_CONF)]
    pub kubeconfig: String,
    /// The kube-apiserver manifest to compare [default: kube-apiserver.yaml in the manifests folder]
    #[arg(long, value_name = "FILE")]
    pub api_server_manifest: Option<String>,
    /// The kube-controller-manager manifest to compare [default: kube-controller-manager.yaml in the manifests folder]
    #[arg(long, value_name = "FILE")]
    pub controller_manager_manifest: Option<String>,
    /// The kube-scheduler manifest to compare [default: kube-scheduler.yaml in the manifests folder]
    #[arg(long, value_name = "FILE")]
    pub scheduler_manifest: Option<String>,
    /// How many lines of context each change shows [default: diff.contextLines of --config, else 3]
    #[arg(short = 'c', long, value_name = "N")]
    pub context_lines: Option<usize>,
}

/// The flags `plan` and `apply` share, as kubeadm's.
#[derive(Debug, Args, Clone)]
pub struct UpgradeCommonArgs {
    /// The kubeconfig to talk to the cluster with (under --rootfs when given)
    #[arg(long, value_name = "FILE", default_value = kinit_phases::domain::layout::ADMIN_CONF)]
    pub kubeconfig: String,
    /// Allow upgrading to alpha, beta and release-candidate versions
    #[arg(long)]
    pub allow_experimental_upgrades: bool,
    /// Allow upgrading to release-candidate versions
    #[arg(long)]
    pub allow_release_candidate_upgrades: bool,
    /// Upgrade etcd too [default: true]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub etcd_upgrade: Option<bool>,
    /// Print the configuration that will be used
    #[arg(long)]
    pub print_config: bool,
}

#[derive(Debug, Args)]
pub struct UpgradePlanArgs {
    /// The version to plan for [default: the newest kinit knows]
    #[arg(value_name = "VERSION")]
    pub version: Option<String>,
    #[command(flatten)]
    pub common: UpgradeCommonArgs,
}

#[derive(Debug, Args)]
pub struct UpgradeApplyArgs {
    /// The version to upgrade to (or apply.kubernetesVersion of --config)
    #[arg(value_name = "VERSION")]
    pub version: Option<String>,
    #[command(flatten)]
    pub common: UpgradeCommonArgs,
    /// Do not ask for confirmation
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
    /// Upgrade although version checks fail; implies --yes
    #[arg(short = 'f', long, global = true)]
    pub force: bool,
    /// Renew the certificates of each component [default: true]
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub certificate_renewal: Option<bool>,
    /// A folder of patches for the manifests and the kubelet configuration
    #[arg(long, global = true, value_name = "DIR")]
    pub patches: Option<String>,
    #[command(subcommand)]
    pub phase: Option<UpgradeSub>,
}

#[derive(Debug, Args)]
pub struct UpgradeNodeArgs {
    /// The kubeconfig to talk to the cluster with [default: admin.conf on a control plane, kubelet.conf on a worker]
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<String>,
    /// Renew the certificates of each component [default: true]
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub certificate_renewal: Option<bool>,
    /// Upgrade etcd too [default: true]
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub etcd_upgrade: Option<bool>,
    /// A folder of patches for the manifests and the kubelet configuration
    #[arg(long, global = true, value_name = "DIR")]
    pub patches: Option<String>,
    #[command(subcommand)]
    pub phase: Option<UpgradeSub>,
}

#[derive(Debug, Subcommand)]
pub enum UpgradeSub {
    /// Run one phase (see --help for the list)
    Phase(UpgradePhaseArgs),
}

#[derive(Debug, Args)]
pub struct UpgradePhaseArgs {
    /// Phase name (`name` or `name/child`)
    pub phase: String,
    /// The version to upgrade to, as after `upgrade apply` (kubeadm's `upgrade apply phase <name> <version>`)
    #[arg(value_name = "VERSION")]
    pub version: Option<String>,
}
