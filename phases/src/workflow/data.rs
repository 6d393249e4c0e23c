//! What each command hands its phases, typed per command: a step's signature says whether it
//! reads an init's, a join's or a reset's data, and no command carries fields it has no use for.

use crate::discovery::joined::JoinedCluster;
use crate::domain::config::resolve::InitConfig;
use crate::domain::config::types::ResetConfiguration;
use kinit_preflight::JoinFacts;

/// `kinit init` and its phases.
pub struct InitData {
    pub config: InitConfig,
    /// Where `kinit init phase kubeconfig` writes (`--kubeconfig-dir`).
    pub kubeconfig_dir: String,
    /// The kubeconfig the API phases use (`--kubeconfig`, admin.conf by default).
    pub kubeconfig: String,
    /// `preflight --fix`: apply the safe remedies, then check again.
    pub fix: bool,
}

/// `kinit join` and its phases.
pub struct JoinData {
    /// This node's configuration, made from the cluster's (or from the flags alone for a
    /// preflight run, which needs nothing from the cluster).
    pub config: InitConfig,
    pub target: JoinTarget,
    pub fix: bool,
}

/// What the current node joins.
#[derive(Debug, Clone)]
pub struct JoinTarget {
    pub facts: JoinFacts,
    /// What discovery found; `None` when the phases run need nothing from the cluster.
    pub cluster: Option<JoinedCluster>,
}

/// `kinit reset` and its phases: what it was asked to do, file and flags together.
pub struct ResetData {
    pub reset: ResetConfiguration,
}

/// `kinit upgrade apply` and `kinit upgrade node`, and their phases.
pub struct UpgradeData {
    /// This node's configuration at the target version: the cluster's, with this node's
    /// registration and API endpoint.
    pub config: InitConfig,
    /// What the cluster said when the command started.
    pub facts: crate::domain::upgrade::facts::ClusterFacts,
    pub node: crate::domain::upgrade::facts::NodeIdentity,
    /// `apply` (with its version checks and question) or `node`.
    pub apply: bool,
    /// Whether this node runs a control plane (its kube-apiserver manifest exists).
    pub control_plane: bool,
    pub kubeconfig: String,
    pub options: UpgradeOptions,
}

/// The switches of `upgrade apply` and `upgrade node`, from the flags over the UpgradeConfiguration.
#[derive(Debug, Clone, Default)]
pub struct UpgradeOptions {
    pub force: bool,
    /// `--yes`, `--force` or `--dry-run`: no question.
    pub no_question: bool,
    pub certificate_renewal: bool,
    pub etcd_upgrade: bool,
    pub allow_experimental: bool,
    pub allow_rc: bool,
    /// How long each component may take to come back (`timeouts.upgradeManifests`).
    pub manifests_timeout: std::time::Duration,
    /// Whether a control plane's preflight pulls the images its runtime lacks (`imagePullPolicy`
    /// is not `Never`).
    pub pull_images: bool,
}

impl NodeData for UpgradeData {
    fn config(&self) -> &InitConfig {
        &self.config
    }
    fn kubeconfig_dir(&self) -> &str {
        crate::domain::layout::KUBERNETES_DIR
    }
    fn kubeconfig(&self) -> &str {
        &self.kubeconfig
    }
    fn fix(&self) -> bool {
        false
    }
}

/// What the commands that make a node (init, and join, whose control-plane phases are init's)
/// give the steps they share.
pub trait NodeData {
    /// This node's configuration.
    fn config(&self) -> &InitConfig;
    /// Where the kubeconfig files are written.
    fn kubeconfig_dir(&self) -> &str;
    /// The kubeconfig the API phases connect with.
    fn kubeconfig(&self) -> &str;
    /// `preflight --fix`.
    fn fix(&self) -> bool;
}

impl NodeData for InitData {
    fn config(&self) -> &InitConfig {
        &self.config
    }
    fn kubeconfig_dir(&self) -> &str {
        &self.kubeconfig_dir
    }
    fn kubeconfig(&self) -> &str {
        &self.kubeconfig
    }
    fn fix(&self) -> bool {
        self.fix
    }
}

impl NodeData for JoinData {
    fn config(&self) -> &InitConfig {
        &self.config
    }
    fn kubeconfig_dir(&self) -> &str {
        crate::domain::layout::KUBERNETES_DIR
    }
    fn kubeconfig(&self) -> &str {
        crate::domain::layout::ADMIN_CONF
    }
    fn fix(&self) -> bool {
        self.fix
    }
}

impl InitData {
    /// `config`'s run at kubeadm's defaults: the Kubernetes folder's kubeconfig files, no fixes.
    pub fn new(config: InitConfig) -> InitData {
        InitData {
            config,
            kubeconfig_dir: crate::domain::layout::KUBERNETES_DIR.into(),
            kubeconfig: crate::domain::layout::ADMIN_CONF.into(),
            fix: false,
        }
    }
}
