//! `upgrade plan`'s reckoning, as kubeadm's `GetAvailableUpgrades` does it: from the versions the
//! cluster runs and the versions known, the upgrades on offer and what each would change.
//!
//! kubeadm asks dl.k8s.io for its release labels and, offline, answers every label with its own
//! version. kinit looks nothing up: its version table answers them (`stable` is the newest row,
//! `stable-1.X` the row of v1.X), and a version given on the command line answers every label, as
//! kubeadm's offline getter does with one.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::versions::{
    newest, parse_kubernetes_version, row_for, KubernetesVersion, VERSION_TABLE,
};

/// Versions by the nodes that run them (kubeadm's `map[version][]node`): versions sorted as
/// strings, nodes in the order the API listed them.
pub type VersionsOnNodes = BTreeMap<String, Vec<String>>;

/// What the cluster runs, read from its control-plane Pods' images, its Nodes and CoreDNS.
#[derive(Debug, Clone, Default)]
pub struct ClusterVersions {
    pub api_servers: VersionsOnNodes,
    pub controller_managers: VersionsOnNodes,
    pub schedulers: VersionsOnNodes,
    /// Empty for an external etcd (no etcd Pods).
    pub etcd: VersionsOnNodes,
    pub kubelets: VersionsOnNodes,
    /// The CoreDNS Deployment's image tag; empty without one.
    pub coredns: String,
}

/// The version kinit stands in for as kubeadm: the newest release of its table.
pub fn kubeadm_version() -> KubernetesVersion {
    parse_kubernetes_version(newest().kubeadm_release).expect("the version table holds versions")
}

/// How release labels resolve: to one given version, or from the version table.
#[derive(Debug, Clone)]
pub struct Releases {
    pub given: Option<KubernetesVersion>,
}

impl Releases {
    /// `stable`, `latest`, `stable-1.X`, `latest-1.X`.
    pub fn resolve(&self, label: &str) -> KubernetesVersion {
        if let Some(given) = &self.given {
            return given.clone();
        }
        let minor = label
            .rsplit_once('.')
            .and_then(|(_, minor)| minor.parse::<u32>().ok());
        let release = minor
            .and_then(|m| VERSION_TABLE.iter().find(|r| r.minor == m))
            .unwrap_or_else(newest)
            .kubeadm_release;
        parse_kubernetes_version(release).expect("the version table holds versions")
    }
}

/// One upgrade on offer (kubeadm's `upgrade.Upgrade`).
#[derive(Debug, Clone)]
pub struct Upgrade {
    /// "version in the v1.33 series", "stable version", ...
    pub description: String,
    pub kube_version: String,
    pub kubeadm_version: String,
    pub dns_version: String,
    /// The etcd the target pins; empty for an external etcd.
    pub etcd_version: String,
}

/// What `plan` found, with the lines it prints on the way.
#[derive(Debug, Clone)]
pub struct Reckoning {
    pub lines: Vec<String>,
    pub warnings: Vec<String>,
    pub cluster_version: KubernetesVersion,
    pub upgrades: Vec<Upgrade>,
}

/// The newest kube-apiserver version of the cluster: what kubeadm calls the cluster's version.
pub fn cluster_version(api_servers: &VersionsOnNodes) -> Result<KubernetesVersion, String> {
    let mut newest: Option<KubernetesVersion> = None;
    for (version, nodes) in api_servers {
        let parsed = parse_kubernetes_version(version).map_err(|_| {
            format!(
                "couldn't parse kube-apiserver version {version} from nodes [{}]",
                nodes.join(" ")
            )
        })?;
        if newest.as_ref().is_none_or(|n| parsed >= *n) {
            newest = Some(parsed);
        }
    }
    newest.ok_or_else(|| {
        "no kube-apiserver Pod (labels component=kube-apiserver,tier=control-plane) in kube-system: is this a cluster made by kinit or kubeadm, and is its kubelet running?".to_string()
    })
}

/// The etcd a Kubernetes version pins, as kubeadm suggests it; nothing for an external etcd.
fn suggested_etcd(external: bool, version: &KubernetesVersion) -> String {
    if external {
        String::new()
    } else {
        row_for(version.minor).0.etcd.to_string()
    }
}

/// The upgrades on offer, in kubeadm's order: the newest patch of the cluster's minor, the
/// stable version, a release candidate, an experimental version.
pub fn available_upgrades(
    versions: &ClusterVersions,
    releases: &Releases,
    allow_experimental: bool,
    allow_rc: bool,
) -> Result<Reckoning, String> {
    let mut lines = vec!["[upgrade] Fetching available versions to upgrade to".to_string()];
    let mut warnings = Vec::new();
    if versions.api_servers.len() > 1 {
        let each: Vec<String> = versions
            .api_servers
            .iter()
            .map(|(v, nodes)| format!("{v} on nodes [{}]", nodes.join(" ")))
            .collect();
        warnings.push(format!("Different API server versions in the cluster were discovered: {}. Please upgrade your control plane nodes to the same version of Kubernetes", each.join(", ")));
    }
    let cluster = cluster_version(&versions.api_servers)?;
    // kubeadm prints its parsed version, which Go renders without the leading `v`.
    lines.push(format!(
        "[upgrade/versions] Cluster version: {}",
        cluster.text.trim_start_matches('v')
    ));
    let kubeadm = kubeadm_version();
    lines.push(format!(
        "[upgrade/versions] kubeadm version: {}",
        kubeadm.text
    ));
    let stable = releases.resolve("stable");
    lines.push(format!(
        "[upgrade/versions] Target version: {}",
        stable.text
    ));
    let external_etcd = versions.etcd.is_empty();
    let upgrade = |description: String, to: &KubernetesVersion, kubeadm_after: String| Upgrade {
        description,
        kube_version: to.text.clone(),
        kubeadm_version: kubeadm_after,
        dns_version: row_for(to.minor).0.coredns.to_string(),
        etcd_version: suggested_etcd(external_etcd, to),
    };
    let mut upgrades = Vec::new();
    let mut minor_upgrade = cluster < stable;
    if stable >= cluster {
        let description = format!("version in the v{} series", cluster.branch());
        let patch = releases.resolve(&format!("stable-{}", cluster.branch()));
        lines.push(format!(
            "[upgrade/versions] Latest {description}: {}",
            patch.text
        ));
        minor_upgrade = patch < stable;
        if cluster < patch {
            let kubeadm_after = if kubeadm >= patch {
                kubeadm.text.clone()
            } else {
                patch.text.clone()
            };
            upgrades.push(upgrade(description, &patch, kubeadm_after));
        }
    }
    if minor_upgrade {
        upgrades.push(upgrade(
            "stable version".into(),
            &stable,
            stable.text.clone(),
        ));
    }
    if allow_experimental || allow_rc {
        let latest = releases.resolve("latest");
        lines.push(format!(
            "[upgrade/versions] Latest experimental version: {}",
            latest.text
        ));
        let previous_branch = format!("{}.{}", latest.major, latest.minor.saturating_sub(1));
        let previous = releases.resolve(&format!("latest-{previous_branch}"));
        lines.push(format!(
            "[upgrade/versions] Latest previous version: {}",
            previous.text
        ));
        if allow_rc && previous.pre_release().starts_with("rc") && cluster < previous {
            upgrades.push(upgrade(
                "release candidate version".into(),
                &previous,
                previous.text.clone(),
            ));
        }
        if allow_experimental && cluster < latest {
            let to = if latest.pre_release() == "alpha.0" {
                previous
            } else {
                latest
            };
            upgrades.push(upgrade("experimental version".into(), &to, to.text.clone()));
        }
    }
    lines.push(String::new());
    Ok(Reckoning {
        lines,
        warnings,
        cluster_version: cluster,
        upgrades,
    })
}

/// kubeadm's `output.kubeadm.k8s.io/v1alpha3` UpgradePlan, as `-o json` prints it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradePlan {
    pub kind: &'static str,
    pub api_version: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub available_upgrades: Vec<AvailableUpgrade>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub config_versions: Vec<ConfigVersionState>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AvailableUpgrade {
    pub description: String,
    pub components: Vec<ComponentUpgrade>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentUpgrade {
    pub name: String,
    pub current_version: String,
    pub new_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub node_name: String,
}

/// A component configuration's API version in the cluster and the one kinit writes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigVersionState {
    pub group: String,
    pub current_version: String,
    pub preferred_version: String,
    pub manual_upgrade_required: bool,
}

/// Whether the kubelets can be upgraded to `target` (kubeadm's `CanUpgradeKubelets`).
fn kubelets_upgradable(kubelets: &VersionsOnNodes, target: &str) -> bool {
    match kubelets.len() {
        0 => false,
        1 => !kubelets.contains_key(target),
        _ => true,
    }
}

/// The components of one upgrade, in kubeadm's order: kubelets, the control plane, kube-proxy,
/// CoreDNS, kubeadm, etcd.
pub fn components(
    versions: &ClusterVersions,
    cluster_version: &str,
    upgrade: &Upgrade,
    etcd_upgrade: bool,
) -> Vec<ComponentUpgrade> {
    let mut list = Vec::new();
    let mut per_node = |name: &str, on: &VersionsOnNodes, to: &str| {
        for (version, nodes) in on {
            for node in nodes {
                list.push(ComponentUpgrade {
                    name: name.into(),
                    current_version: version.clone(),
                    new_version: to.into(),
                    node_name: node.clone(),
                });
            }
        }
    };
    let to = upgrade.kube_version.as_str();
    if kubelets_upgradable(&versions.kubelets, to) {
        per_node("kubelet", &versions.kubelets, to);
    }
    per_node("kube-apiserver", &versions.api_servers, to);
    per_node("kube-controller-manager", &versions.controller_managers, to);
    per_node("kube-scheduler", &versions.schedulers, to);
    let whole = |name: &str, from: &str, to: &str| ComponentUpgrade {
        name: name.into(),
        current_version: from.into(),
        new_version: to.into(),
        node_name: String::new(),
    };
    list.push(whole("kube-proxy", cluster_version, to));
    if !versions.coredns.is_empty() || !upgrade.dns_version.is_empty() {
        list.push(whole("CoreDNS", &versions.coredns, &upgrade.dns_version));
    }
    list.push(whole(
        "kubeadm",
        &kubeadm_version().text,
        &upgrade.kubeadm_version,
    ));
    if etcd_upgrade {
        for (version, nodes) in &versions.etcd {
            for node in nodes {
                list.push(ComponentUpgrade {
                    name: "etcd".into(),
                    current_version: version.clone(),
                    new_version: upgrade.etcd_version.clone(),
                    node_name: node.clone(),
                });
            }
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(pairs: &[(&str, &str)]) -> VersionsOnNodes {
        let mut map = VersionsOnNodes::new();
        for (version, node) in pairs {
            map.entry(version.to_string())
                .or_default()
                .push(node.to_string());
        }
        map
    }

    fn cluster_at(version: &str) -> ClusterVersions {
        ClusterVersions {
            api_servers: on(&[(version, "cp1")]),
            controller_managers: on(&[(version, "cp1")]),
            schedulers: on(&[(version, "cp1")]),
            etcd: on(&[("3.5.24-0", "cp1")]),
            kubelets: on(&[(version, "cp1"), (version, "w1")]),
            coredns: "v1.12.0".into(),
        }
    }

    fn given(version: &str) -> Releases {
        Releases {
            given: Some(parse_kubernetes_version(version).unwrap()),
        }
    }

    #[test]
    fn a_given_version_answers_every_label_as_kubeadms_offline_getter() {
        let cluster = cluster_at("v1.33.13");
        let found = available_upgrades(&cluster, &given("v1.34.4"), false, false).unwrap();
        assert_eq!(
            found.lines,
            [
                "[upgrade] Fetching available versions to upgrade to",
                "[upgrade/versions] Cluster version: 1.33.13",
                "[upgrade/versions] kubeadm version: v1.34.4",
                "[upgrade/versions] Target version: v1.34.4",
                "[upgrade/versions] Latest version in the v1.33 series: v1.34.4",
                "",
            ]
        );
        // The patch label answered the given version too, so no separate minor upgrade.
        assert_eq!(found.upgrades.len(), 1);
        let up = &found.upgrades[0];
        assert_eq!(up.description, "version in the v1.33 series");
        assert_eq!(
            (
                up.kube_version.as_str(),
                up.dns_version.as_str(),
                up.etcd_version.as_str()
            ),
            ("v1.34.4", "v1.12.1", "3.6.5-0")
        );
        let names: Vec<(String, String)> = components(&cluster, "v1.33.13", up, true)
            .into_iter()
            .map(|c| (c.name, c.node_name))
            .collect();
        let expected: Vec<(String, String)> = [
            ("kubelet", "cp1"),
            ("kubelet", "w1"),
            ("kube-apiserver", "cp1"),
            ("kube-controller-manager", "cp1"),
            ("kube-scheduler", "cp1"),
            ("kube-proxy", ""),
            ("CoreDNS", ""),
            ("kubeadm", ""),
            ("etcd", "cp1"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn without_a_version_the_table_offers_the_newest_patch_and_the_stable_minor() {
        // v1.33.2 is older than the table's v1.33 release: both upgrades are offered.
        let found = available_upgrades(
            &cluster_at("v1.33.2"),
            &Releases { given: None },
            false,
            false,
        )
        .unwrap();
        let offered: Vec<(&str, &str)> = found
            .upgrades
            .iter()
            .map(|u| (u.description.as_str(), u.kube_version.as_str()))
            .collect();
        assert_eq!(
            offered,
            [
                ("version in the v1.33 series", "v1.33.13"),
                ("stable version", "v1.34.4")
            ]
        );
        // The patch upgrade needs no newer kinit: the kubeadm row stays at kinit's own version.
        assert_eq!(found.upgrades[0].kubeadm_version, "v1.34.4");
        assert_eq!(found.upgrades[0].etcd_version, "3.5.24-0");
    }

    #[test]
    fn an_up_to_date_cluster_is_offered_nothing() {
        let found = available_upgrades(
            &cluster_at("v1.34.4"),
            &Releases { given: None },
            false,
            false,
        )
        .unwrap();
        assert!(found.upgrades.is_empty());
        // Kubelets at the target are not listed.
        let up = Upgrade {
            description: "x".into(),
            kube_version: "v1.34.4".into(),
            kubeadm_version: "v1.34.4".into(),
            dns_version: "v1.12.1".into(),
            etcd_version: "3.6.5-0".into(),
        };
        let list = components(&cluster_at("v1.34.4"), "v1.34.4", &up, false);
        assert!(list.iter().all(|c| c.name != "kubelet" && c.name != "etcd"));
    }

    #[test]
    fn external_etcd_has_no_etcd_rows_and_mixed_api_servers_warn() {
        let mut cluster = cluster_at("v1.33.13");
        cluster.etcd.clear();
        cluster.api_servers = on(&[("v1.33.13", "cp1"), ("v1.34.4", "cp2")]);
        let found = available_upgrades(&cluster, &given("v1.34.4"), false, false).unwrap();
        assert_eq!(found.cluster_version.text, "v1.34.4");
        assert!(found.warnings[0].contains("v1.33.13 on nodes [cp1], v1.34.4 on nodes [cp2]"));
        // The cluster is at the given version already: nothing to offer.
        assert!(found.upgrades.is_empty());
        let found =
            available_upgrades(&cluster_at("v1.33.1"), &given("v1.34.4"), false, false).unwrap();
        let mut external = cluster_at("v1.33.1");
        external.etcd.clear();
        let list = components(&external, "v1.33.1", &found.upgrades[0], true);
        assert!(list.iter().all(|c| c.name != "etcd"));
    }

    #[test]
    fn unparsable_or_missing_api_server_versions_are_errors() {
        let mut cluster = cluster_at("v1.33.13");
        cluster.api_servers = on(&[("banana", "cp1")]);
        let e = available_upgrades(&cluster, &given("v1.34.4"), false, false).unwrap_err();
        assert_eq!(
            e,
            "couldn't parse kube-apiserver version banana from nodes [cp1]"
        );
        cluster.api_servers.clear();
        let e = available_upgrades(&cluster, &given("v1.34.4"), false, false).unwrap_err();
        assert!(e.contains("no kube-apiserver Pod"), "{e}");
    }

    #[test]
    fn release_candidates_are_offered_only_when_allowed() {
        let cluster = cluster_at("v1.34.4");
        let rc = given("v1.35.0-rc.1");
        assert!(available_upgrades(&cluster, &rc, false, false)
            .unwrap()
            .upgrades
            .iter()
            .all(|u| u.description != "release candidate version"));
        let found = available_upgrades(&cluster, &rc, false, true).unwrap();
        assert!(found
            .upgrades
            .iter()
            .any(|u| u.description == "release candidate version"));
        assert!(found
            .lines
            .contains(&"[upgrade/versions] Latest experimental version: v1.35.0-rc.1".to_string()));
    }
}
