//! The Kubernetes minors kinit deploys and the image tags kubeadm pins for each.

/// One supported minor. Tags are taken from kubeadm's `cmd/kubeadm/app/constants/constants.go`
/// (DefaultEtcdVersion, CoreDNSVersion, PauseVersion) at the tag named in `kubeadm_release`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRow {
    pub minor: u32,
    pub kubeadm_release: &'static str,
    pub etcd: &'static str,
    pub coredns: &'static str,
    pub pause: &'static str,
    /// The oldest external etcd kubeadm of this minor accepts (MinExternalEtcdVersion).
    pub min_external_etcd: &'static str,
}

pub const VERSION_TABLE: [VersionRow; 4] = [
    // kubeadm v1.31.0
    VersionRow {
        minor: 31,
        kubeadm_release: "v1.31.0",
        etcd: "3.5.15-0",
        coredns: "v1.11.3",
        pause: "3.10",
        min_external_etcd: "3.5.11-0",
    },
    // kubeadm v1.32.0
    VersionRow {
        minor: 32,
        kubeadm_release: "v1.32.0",
        etcd: "3.5.16-0",
        coredns: "v1.11.3",
        pause: "3.10",
        min_external_etcd: "3.5.11-0",
    },
    // kubeadm v1.33.13, the previous minor of the real tier (its upgrade tests); kubeadm v1.34.4
    // pins the same etcd for v1.33 (SupportedEtcdVersion)
    VersionRow {
        minor: 33,
        kubeadm_release: "v1.33.13",
        etcd: "3.5.24-0",
        coredns: "v1.12.0",
        pause: "3.10",
        min_external_etcd: "3.5.24-0",
    },
    // kubeadm v1.34.4, the oracle of the real tier (scripts/test-tools.sh)
    VersionRow {
        minor: 34,
        kubeadm_release: "v1.34.4",
        etcd: "3.6.5-0",
        coredns: "v1.12.1",
        pause: "3.10.1",
        min_external_etcd: "3.5.24-0",
    },
];

/// What `stable-1` (kubeadm's default) means here: kinit looks nothing up online, so it is the newest row.
pub const DEFAULT_KUBERNETES_VERSION: &str = "v1.34.4";

pub fn newest() -> &'static VersionRow {
    &VERSION_TABLE[VERSION_TABLE.len() - 1]
}

/// The row of a minor; outside the table, the nearest row and a warning (as kubeadm does for etcd).
pub fn row_for(minor: u32) -> (&'static VersionRow, Option<String>) {
    if let Some(row) = VERSION_TABLE.iter().find(|r| r.minor == minor) {
        return (row, None);
    }
    let nearest = if minor < VERSION_TABLE[0].minor {
        &VERSION_TABLE[0]
    } else {
        newest()
    };
    (
        nearest,
        Some(format!(
            "Kubernetes v1.{minor} is not in kinit's version table (v1.{}–v1.{}); using the images of v1.{} (etcd {}, CoreDNS {}, pause {})",
            VERSION_TABLE[0].minor, newest().minor, nearest.minor, nearest.etcd, nearest.coredns, nearest.pause
        )),
    )
}

/// A parsed `vMAJOR.MINOR.PATCH[-pre][+build]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesVersion {
    pub text: String,
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

/// Accepts `v1.34.2`, `1.34.2` and the labels kubeadm resolves online (`stable`, `stable-1`, `latest`...),
/// which kinit maps to its default version.
pub fn parse_kubernetes_version(text: &str) -> Result<KubernetesVersion, String> {
    let trimmed = text.trim();
    // kubeadm resolves these labels online; kinit looks nothing up, so `stable`/`latest` (with `-1`) are the
    // newest row and `stable-1.X`/`latest-1.X` are v1.X.0.
    if trimmed.is_empty() || ["stable", "stable-1", "latest", "latest-1"].contains(&trimmed) {
        return parse_kubernetes_version(DEFAULT_KUBERNETES_VERSION);
    }
    if let Some(minor) = trimmed
        .strip_prefix("stable-1.")
        .or_else(|| trimmed.strip_prefix("latest-1."))
    {
        if let Ok(minor) = minor.parse::<u32>() {
            return parse_kubernetes_version(&format!("v1.{minor}.0"));
        }
    }
    let bare = trimmed.strip_prefix('v').unwrap_or(trimmed);
    let core = bare.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    let numbers: Option<Vec<u32>> = parts.iter().map(|p| p.parse().ok()).collect();
    match numbers.as_deref() {
        Some([major, minor, patch]) => Ok(KubernetesVersion {
            text: format!("v{bare}"),
            major: *major,
            minor: *minor,
            patch: *patch,
        }),
        _ => Err(format!("invalid Kubernetes version {text:?}: expected vMAJOR.MINOR.PATCH such as {DEFAULT_KUBERNETES_VERSION}")),
    }
}

impl KubernetesVersion {
    /// The pre-release part (`rc.1` of `v1.35.0-rc.1`), empty for a release.
    pub fn pre_release(&self) -> &str {
        let bare = self.text.split('+').next().unwrap_or_default();
        bare.split_once('-').map_or("", |(_, pre)| pre)
    }

    /// `1.34` of `v1.34.2`, as kubeadm names a release branch.
    pub fn branch(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

impl PartialOrd for KubernetesVersion {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Semantic version order: a release after its pre-releases, pre-release identifiers compared
/// numerically when both are numbers (`rc.2` < `rc.10`); build metadata only breaks ties, so that
/// the order agrees with equality.
impl Ord for KubernetesVersion {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let numbers =
            (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch));
        if numbers != Ordering::Equal {
            return numbers;
        }
        match (self.pre_release(), other.pre_release()) {
            ("", "") => self.text.cmp(&other.text),
            ("", _) => Ordering::Greater,
            (_, "") => Ordering::Less,
            (a, b) => {
                let (a, b): (Vec<&str>, Vec<&str>) =
                    (a.split('.').collect(), b.split('.').collect());
                for (x, y) in a.iter().zip(&b) {
                    let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                        (Ok(x), Ok(y)) => x.cmp(&y),
                        (Ok(_), Err(_)) => Ordering::Less,
                        (Err(_), Ok(_)) => Ordering::Greater,
                        _ => x.cmp(y),
                    };
                    if order != Ordering::Equal {
                        return order;
                    }
                }
                a.len()
                    .cmp(&b.len())
                    .then_with(|| self.text.cmp(&other.text))
            }
        }
    }
}

/// Image tags carry the version with `+` replaced by `_`, as kubeadm writes them.
pub fn image_tag(version: &str) -> String {
    version.replace('+', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_default() {
        let v = parse_kubernetes_version("1.34.2").unwrap();
        assert_eq!((v.text.as_str(), v.minor, v.patch), ("v1.34.2", 34, 2));
        assert_eq!(
            parse_kubernetes_version("stable-1").unwrap().text,
            DEFAULT_KUBERNETES_VERSION
        );
        assert!(parse_kubernetes_version("v1.30").is_err());
        assert!(parse_kubernetes_version("banana").is_err());
        assert!(parse_kubernetes_version("stablefoo").is_err());
        assert_eq!(
            parse_kubernetes_version("stable-1.31").unwrap().text,
            "v1.31.0"
        );
        assert_eq!(parse_kubernetes_version("latest-1.32").unwrap().minor, 32);
        assert_eq!(image_tag("v1.34.0+k3s1"), "v1.34.0_k3s1");
    }

    #[test]
    fn versions_order_as_semver() {
        let v = |t: &str| parse_kubernetes_version(t).unwrap();
        assert!(v("v1.33.13") < v("v1.34.0"));
        assert!(v("v1.34.0-rc.1") < v("v1.34.0"));
        assert!(v("v1.34.0-rc.2") < v("v1.34.0-rc.10"));
        assert!(v("v1.34.0-alpha.3") < v("v1.34.0-beta.0"));
        assert!(v("v1.34.1") > v("v1.34.0"));
        assert!(v("v1.34.0+k3s1") > v("v1.34.0") && v("v1.34.0+k3s1") < v("v1.34.1"));
        assert_eq!(v("v1.35.0-rc.1").pre_release(), "rc.1");
        assert_eq!(v("v1.35.0").pre_release(), "");
        assert_eq!(v("v1.35.0").branch(), "1.35");
    }

    #[test]
    fn rows_and_fallbacks() {
        assert_eq!(row_for(33).0.etcd, "3.5.24-0");
        assert!(row_for(33).1.is_none());
        let (row, warning) = row_for(37);
        assert_eq!(row.minor, 34);
        assert!(warning.unwrap().contains("v1.37"));
        assert_eq!(row_for(28).0.minor, 31);
    }
}
