//! The images a cluster runs, named as kubeadm names them (`config images list` order).

use crate::domain::config::defaults::DEFAULT_IMAGE_REPOSITORY;
use crate::domain::config::types::{ClusterConfiguration, LocalEtcd};
use crate::domain::versions::{image_tag, row_for, KubernetesVersion};

/// `kube-apiserver`, `kube-controller-manager`, `kube-scheduler` or `kube-proxy` at the cluster's version.
pub fn kubernetes_image(
    cluster: &ClusterConfiguration,
    version: &KubernetesVersion,
    component: &str,
) -> String {
    format!(
        "{}/{component}:{}",
        cluster.image_repository,
        image_tag(&version.text)
    )
}

/// The etcd image tag: the configured one, else the one kubeadm pins for the minor.
pub fn etcd_tag<'a>(local: &'a LocalEtcd, version: &KubernetesVersion) -> &'a str {
    if local.image_tag.is_empty() {
        row_for(version.minor).0.etcd
    } else {
        local.image_tag.as_str()
    }
}

pub fn etcd_image(
    cluster: &ClusterConfiguration,
    local: &LocalEtcd,
    version: &KubernetesVersion,
) -> String {
    let repo = if local.image_repository.is_empty() {
        cluster.image_repository.as_str()
    } else {
        local.image_repository.as_str()
    };
    format!("{repo}/etcd:{}", etcd_tag(local, version))
}

/// CoreDNS: `dns.imageRepository` (else the cluster's) and `dns.imageTag` (else the one kubeadm pins).
pub fn coredns_image(cluster: &ClusterConfiguration, version: &KubernetesVersion) -> String {
    let mut repo = if cluster.dns.image_repository.is_empty() {
        cluster.image_repository.clone()
    } else {
        cluster.dns.image_repository.clone()
    };
    // The official CoreDNS image moved to a sub-path of registry.k8s.io; mirrors keep the flat name.
    if repo == DEFAULT_IMAGE_REPOSITORY {
        repo.push_str("/coredns");
    }
    let tag = if cluster.dns.image_tag.is_empty() {
        row_for(version.minor).0.coredns
    } else {
        cluster.dns.image_tag.as_str()
    };
    format!("{repo}/coredns:{tag}")
}

/// The pause image of `version`, from the cluster's registry (kubeadm's `GetPauseImage`).
pub fn pause_image(cluster: &ClusterConfiguration, version: &KubernetesVersion) -> String {
    format!(
        "{}/pause:{}",
        cluster.image_repository,
        row_for(version.minor).0.pause
    )
}

pub fn images(cluster: &ClusterConfiguration, version: &KubernetesVersion) -> Vec<String> {
    let mut list = vec![
        kubernetes_image(cluster, version, "kube-apiserver"),
        kubernetes_image(cluster, version, "kube-controller-manager"),
        kubernetes_image(cluster, version, "kube-scheduler"),
    ];
    if !cluster.proxy.disabled {
        list.push(kubernetes_image(cluster, version, "kube-proxy"));
    }
    if !cluster.dns.disabled {
        list.push(coredns_image(cluster, version));
    }
    list.push(pause_image(cluster, version));
    if let Some(local) = &cluster.etcd.local {
        list.push(etcd_image(cluster, local, version));
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::config::defaults;
    use crate::domain::versions::parse_kubernetes_version;

    #[test]
    fn default_images_follow_kubeadm() {
        let mut cluster = ClusterConfiguration::default();
        defaults::cluster(&mut cluster);
        let version = parse_kubernetes_version("v1.32.3").unwrap();
        assert_eq!(
            images(&cluster, &version),
            vec![
                "registry.k8s.io/kube-apiserver:v1.32.3",
                "registry.k8s.io/kube-controller-manager:v1.32.3",
                "registry.k8s.io/kube-scheduler:v1.32.3",
                "registry.k8s.io/kube-proxy:v1.32.3",
                "registry.k8s.io/coredns/coredns:v1.11.3",
                "registry.k8s.io/pause:3.10",
                "registry.k8s.io/etcd:3.5.16-0",
            ]
        );
    }

    #[test]
    fn mirrors_and_disabled_addons() {
        let mut cluster = ClusterConfiguration {
            image_repository: "mirror.example.com/k8s".into(),
            ..Default::default()
        };
        cluster.dns.disabled = true;
        cluster.proxy.disabled = true;
        defaults::cluster(&mut cluster);
        cluster.etcd.local = None;
        let version = parse_kubernetes_version("v1.34.1").unwrap();
        let list = images(&cluster, &version);
        assert_eq!(list.len(), 4);
        assert_eq!(list[3], "mirror.example.com/k8s/pause:3.10.1");
        let mut with_dns = ClusterConfiguration {
            image_repository: "mirror.example.com/k8s".into(),
            ..Default::default()
        };
        defaults::cluster(&mut with_dns);
        assert!(images(&with_dns, &version)
            .contains(&"mirror.example.com/k8s/coredns:v1.12.1".to_string()));
    }
}
