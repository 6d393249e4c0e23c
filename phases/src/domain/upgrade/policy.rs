//! The version skew policy of `upgrade apply`, as kubeadm's `EnforceVersionPolicies`: which target
//! versions are refused outright, and which only without `--force`.
//!
//! kubeadm upgrades to its own minor only; kinit knows every minor of its version table, so a
//! target inside the table is never refused for its minor alone (README: differences).

use crate::domain::upgrade::plan::kubeadm_version;
use crate::domain::versions::{KubernetesVersion, VERSION_TABLE};

/// kubeadm's `MaximumAllowedMinorVersionUpgradeSkew` and `...DowngradeSkew`.
const MINOR_SKEW: u32 = 1;
/// How many minors a kubelet may lag behind the control plane (kubeadm's `MaximumAllowedMinorVersionKubeletSkew`).
const KUBELET_SKEW: u32 = 3;

/// What the policy found: `mandatory` stops the upgrade, `skippable` stops it unless forced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkewErrors {
    pub mandatory: Vec<String>,
    pub skippable: Vec<String>,
}

/// What the policy is asked about.
pub struct PolicyInput<'a> {
    /// The cluster's version as its API server reports it (`/version`).
    pub cluster: &'a KubernetesVersion,
    pub target: &'a KubernetesVersion,
    /// The Nodes' kubelet versions; `Err` when they could not be listed.
    pub kubelets: Result<Vec<String>, String>,
    pub allow_experimental: bool,
    pub allow_rc: bool,
}

pub fn enforce(input: &PolicyInput<'_>) -> SkewErrors {
    let mut errors = SkewErrors::default();
    let (cluster, new, text) = (input.cluster, input.target, &input.target.text);
    let release = new.pre_release().is_empty();
    let mut by_stability = |message: String| {
        if release {
            errors.mandatory.push(message);
        } else {
            errors.skippable.push(message);
        }
    };
    let oldest = VERSION_TABLE[0].minor;
    let newest = VERSION_TABLE[VERSION_TABLE.len() - 1].minor;
    if new.major != 1 || new.minor < oldest {
        by_stability(format!(
            "Specified version to upgrade to {text:?} is equal to or lower than the minimum supported version \"v1.{oldest}.0\". Please specify a higher version to upgrade to"
        ));
    }
    if new.minor > cluster.minor + MINOR_SKEW {
        by_stability(format!("Specified version to upgrade to {text:?} is too high; kubeadm can upgrade only {MINOR_SKEW} minor version at a time"));
    }
    if new.minor + MINOR_SKEW < cluster.minor {
        by_stability(format!("Specified version to downgrade to {text:?} is too low; kubeadm can downgrade only {MINOR_SKEW} minor version at a time"));
    }
    let kubeadm = kubeadm_version();
    if kubeadm < *new {
        if new.minor > newest {
            by_stability(format!("Specified version to upgrade to {text:?} is at least one minor release higher than the kubeadm minor release ({} > {}). Such an upgrade is not supported", new.minor, kubeadm.minor));
        } else {
            errors.skippable.push(format!("Specified version to upgrade to {text:?} is higher than the kubeadm version {:?}. Upgrade kubeadm first using the tool you used to install kubeadm", kubeadm.text));
        }
    }
    if !release {
        let pre = new.pre_release();
        let allowed = input.allow_experimental || (input.allow_rc && pre.starts_with("rc"));
        if !allowed {
            errors.skippable.push(format!("Specified version to upgrade to {text:?} is an unstable version and such upgrades weren't allowed via setting the --allow-*-upgrades flags"));
        }
    }
    match &input.kubelets {
        Err(e) => errors
            .skippable
            .push(format!("Unable to fetch kubelet version: {e}")),
        Ok(kubelets) => {
            let mut too_old = Vec::new();
            for version in kubelets {
                match crate::domain::versions::parse_kubernetes_version(version) {
                    Ok(kubelet) if new.minor > kubelet.minor + KUBELET_SKEW => {
                        too_old.push(version.clone())
                    }
                    Ok(_) => {}
                    Err(_) => errors
                        .skippable
                        .push(format!("couldn't parse kubelet version {version}")),
                }
            }
            if !too_old.is_empty() {
                too_old.sort();
                too_old.dedup();
                errors.skippable.push(format!(
                    "There are kubelets in this cluster that are too old that have these versions [{}]",
                    too_old.join(" ")
                ));
            }
        }
    }
    errors
}

impl SkewErrors {
    /// The error that stops the upgrade, worded as kubeadm words it; `None` when it may go on
    /// (with `force`, the skippable ones become the returned warning instead).
    pub fn verdict(&self, force: bool) -> Result<Option<String>, String> {
        let list = |errors: &[String]| {
            errors
                .iter()
                .map(|e| format!("\t- {e}\n"))
                .collect::<String>()
        };
        if !self.mandatory.is_empty() {
            return Err(format!(
                "the version argument is invalid due to these fatal errors:\n\n{}\nPlease fix the misalignments highlighted above and try upgrading again",
                list(&self.mandatory)
            ));
        }
        if self.skippable.is_empty() {
            return Ok(None);
        }
        if !force {
            return Err(format!(
                "the version argument is invalid due to these errors:\n\n{}\nCan be bypassed if you pass the --force flag",
                list(&self.skippable)
            ));
        }
        Ok(Some(format!(
            "[upgrade/preflight] Found {} potential version compatibility errors but skipping since the --force flag is set: \n\n{}",
            self.skippable.len(),
            list(&self.skippable)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::versions::parse_kubernetes_version;

    fn check(cluster: &str, target: &str, kubelets: &[&str]) -> SkewErrors {
        let (cluster, target) = (
            parse_kubernetes_version(cluster).unwrap(),
            parse_kubernetes_version(target).unwrap(),
        );
        enforce(&PolicyInput {
            cluster: &cluster,
            target: &target,
            kubelets: Ok(kubelets.iter().map(|k| k.to_string()).collect()),
            allow_experimental: false,
            allow_rc: false,
        })
    }

    #[test]
    fn one_minor_up_and_patches_either_way_pass() {
        assert_eq!(
            check("v1.33.13", "v1.34.4", &["v1.33.13"]),
            SkewErrors::default()
        );
        assert_eq!(
            check("v1.34.4", "v1.34.1", &["v1.34.4"]),
            SkewErrors::default()
        );
        assert_eq!(
            check("v1.34.4", "v1.33.13", &["v1.34.4"]),
            SkewErrors::default()
        );
        assert_eq!(check("v1.34.4", "v1.34.4", &[]), SkewErrors::default());
    }

    #[test]
    fn skipping_a_minor_is_fatal_and_so_is_a_double_downgrade() {
        let up = check("v1.32.0", "v1.34.4", &["v1.32.0"]);
        assert_eq!(up.mandatory, ["Specified version to upgrade to \"v1.34.4\" is too high; kubeadm can upgrade only 1 minor version at a time"]);
        let e = up.verdict(true).unwrap_err();
        assert!(e.starts_with("the version argument is invalid due to these fatal errors:\n\n\t- Specified version to upgrade to \"v1.34.4\" is too high"), "{e}");
        assert!(
            e.ends_with(
                "\n\nPlease fix the misalignments highlighted above and try upgrading again"
            ),
            "{e}"
        );
        let down = check("v1.34.4", "v1.32.0", &[]);
        assert_eq!(down.mandatory, ["Specified version to downgrade to \"v1.32.0\" is too low; kubeadm can downgrade only 1 minor version at a time"]);
    }

    #[test]
    fn a_newer_patch_than_kinit_knows_and_old_kubelets_need_force() {
        let errors = check("v1.34.4", "v1.34.9", &["v1.30.0", "v1.34.4", "v1.30.0"]);
        assert!(errors.mandatory.is_empty());
        assert_eq!(
            errors.skippable,
            [
                "Specified version to upgrade to \"v1.34.9\" is higher than the kubeadm version \"v1.34.4\". Upgrade kubeadm first using the tool you used to install kubeadm",
                "There are kubelets in this cluster that are too old that have these versions [v1.30.0]",
            ]
        );
        let e = errors.verdict(false).unwrap_err();
        assert!(
            e.ends_with("\n\nCan be bypassed if you pass the --force flag"),
            "{e}"
        );
        let warning = errors.verdict(true).unwrap().unwrap();
        assert!(warning.starts_with("[upgrade/preflight] Found 2 potential version compatibility errors but skipping since the --force flag is set: \n\n\t- "), "{warning}");
    }

    #[test]
    fn a_minor_beyond_the_table_and_unstable_versions() {
        let beyond = check("v1.34.4", "v1.35.0", &[]);
        assert_eq!(beyond.mandatory, ["Specified version to upgrade to \"v1.35.0\" is at least one minor release higher than the kubeadm minor release (35 > 34). Such an upgrade is not supported"]);
        // A pre-release beyond the table is only skippable, and unstable unless allowed.
        let rc = check("v1.34.4", "v1.35.0-rc.1", &[]);
        assert!(rc.mandatory.is_empty());
        assert_eq!(rc.skippable.len(), 2);
        assert!(rc.skippable[1].contains("is an unstable version"));
        let (cluster, target) = (
            parse_kubernetes_version("v1.34.4").unwrap(),
            parse_kubernetes_version("v1.35.0-rc.1").unwrap(),
        );
        let allowed = enforce(&PolicyInput {
            cluster: &cluster,
            target: &target,
            kubelets: Err("forbidden".into()),
            allow_experimental: false,
            allow_rc: true,
        });
        assert!(allowed.skippable.iter().all(|e| !e.contains("unstable")));
        assert!(allowed
            .skippable
            .contains(&"Unable to fetch kubelet version: forbidden".to_string()));
        let below = check("v1.31.0", "v1.30.2", &[]);
        assert!(below.mandatory[0].contains("lower than the minimum supported version \"v1.31.0\""));
    }
}
