//! The CoreDNS addon as kubeadm installs it: ServiceAccount and RBAC, the `coredns` ConfigMap with
//! the Corefile, the Deployment (patchable as target `corednsdeployment`) and the `kube-dns` Service
//! at the cluster DNS address the kubelets are told about.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde::Serialize;

use super::render::{render, COREDNS};
use crate::domain::config::resolve::InitConfig;
use crate::domain::patches::PatchSet;
use crate::exec::api::ApiObject;

pub const NAMESPACE: &str = "kube-system";
/// The Deployment and the ConfigMap.
pub const NAME: &str = "coredns";

/// The `--patches` target kubeadm applies to the CoreDNS Deployment.
pub const PATCH_TARGET: &str = "corednsdeployment";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplateData {
    image: String,
    dns_domain: String,
    dns_ip: String,
    /// From 1.34 kubeadm names the health ports (`liveness-probe`, `readiness-probe`) and its probes
    /// point at the names.
    named_probe_ports: bool,
}

#[derive(Debug, Clone)]
pub struct CoreDns {
    pub service_account: ServiceAccount,
    pub cluster_role: ClusterRole,
    pub cluster_role_binding: ClusterRoleBinding,
    pub config_map: ConfigMap,
    pub deployment: Deployment,
    pub service: Service,
}

pub fn build(config: &InitConfig) -> Result<CoreDns, String> {
    let networking = &config.cluster.networking;
    let dns_ip =
        crate::steps::kubelet::config::dns_ip(&networking.service_subnet).ok_or_else(|| {
            format!(
                "the service subnet {:?} has no 10th address for the cluster DNS Service",
                networking.service_subnet
            )
        })?;
    let data = TemplateData {
        image: crate::domain::images::coredns_image(&config.cluster, &config.version),
        dns_domain: networking.dns_domain.clone(),
        dns_ip,
        named_probe_ports: config.version.minor >= 34,
    };
    let mut rendered = render(COREDNS, &data)?;
    let addon = CoreDns {
        service_account: rendered.take("ServiceAccount")?,
        cluster_role: rendered.take("ClusterRole")?,
        cluster_role_binding: rendered.take("ClusterRoleBinding")?,
        config_map: rendered.take("ConfigMap")?,
        deployment: rendered.take("Deployment")?,
        service: rendered.take("Service")?,
    };
    rendered.finish()?;
    Ok(addon)
}

impl CoreDns {
    pub fn set_replicas(&mut self, replicas: i32) {
        self.deployment
            .spec
            .get_or_insert_with(Default::default)
            .replicas = Some(replicas);
    }

    /// Applies the `corednsdeployment` patches to the Deployment; returns kubeadm's line per patch.
    pub fn patch(&mut self, set: &PatchSet) -> Result<Vec<String>, String> {
        if set.files_for(PATCH_TARGET).next().is_none() {
            return Ok(Vec::new());
        }
        let value = serde_json::to_value(&self.deployment).map_err(|e| e.to_string())?;
        let (patched, lines) = set.apply(PATCH_TARGET, value)?;
        let what = format!("the CoreDNS Deployment after the patches in {}", set.dir);
        self.deployment = crate::domain::manifests::typed_from_value(patched, &what, "Deployment")?;
        Ok(lines)
    }

    /// kubeadm's order, which is also the dry run's. A ConfigMap already in the cluster is left as
    /// it is: users edit the Corefile in place, and kubeadm keeps their edits.
    pub fn objects(&self) -> Vec<ApiObject> {
        vec![
            ApiObject::new(&self.service_account),
            ApiObject::new(&self.cluster_role),
            ApiObject::new(&self.cluster_role_binding),
            ApiObject::new(&self.config_map).keep_existing(),
            ApiObject::new(&self.deployment),
            ApiObject::new(&self.service),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::config::resolve::InitFlags;
    use crate::domain::patches::{PatchFile, PatchType};
    use crate::exec::api::Mode;
    use crate::steps::addons::test_config;
    use serde_json::{json, Value};

    fn addon(flags: InitFlags) -> CoreDns {
        build(&test_config(flags)).unwrap()
    }

    fn corefile(addon: &CoreDns) -> &str {
        &addon.config_map.data.as_ref().unwrap()["Corefile"]
    }

    fn value<T: Serialize>(object: &T) -> Value {
        serde_json::to_value(object).unwrap()
    }

    // The Corefile of real kubeadm 1.3x clusters (reference facts Q8: 8 and 11 spaces inside the
    // ConfigMap's YAML, whose block is indented by 4), so 4 spaces before a plugin, 7 before an option.
    const DEFAULT_COREFILE: &str = ".:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
";

    #[test]
    fn the_corefile_is_kubeadms_text() {
        let addon = addon(InitFlags::default());
        assert_eq!(corefile(&addon), DEFAULT_COREFILE);
        let cm = value(&addon.config_map);
        assert_eq!(
            cm["metadata"],
            json!({"name": "coredns", "namespace": "kube-system"})
        );
        assert_eq!(cm["data"].as_object().unwrap().len(), 1);
    }

    #[test]
    fn a_custom_dns_domain_reaches_the_corefile_and_the_kubelet() {
        let flags = InitFlags {
            service_dns_domain: Some("corp.example".into()),
            ..Default::default()
        };
        let config = test_config(flags.clone());
        let addon = addon(flags);
        assert_eq!(
            corefile(&addon),
            DEFAULT_COREFILE.replace("cluster.local", "corp.example")
        );
        let (kubelet, _) = crate::steps::kubelet::config::build(&config, Default::default());
        assert_eq!(kubelet["clusterDomain"], "corp.example");
    }

    #[test]
    fn the_service_sits_at_the_tenth_address_of_the_service_subnet() {
        let service = value(&addon(InitFlags::default()).service);
        assert_eq!(service["spec"]["clusterIP"], "10.96.0.10");
        let custom = value(
            &addon(InitFlags {
                service_cidr: Some("10.100.0.0/16".into()),
                ..Default::default()
            })
            .service,
        );
        assert_eq!(custom["spec"]["clusterIP"], "10.100.0.10");
        assert_eq!(
            service["metadata"],
            json!({
                "name": "kube-dns",
                "namespace": "kube-system",
                "labels": {
                    "k8s-app": "kube-dns",
                    "kubernetes.io/cluster-service": "true",
                    "kubernetes.io/name": "CoreDNS",
                },
                "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
            })
        );
        assert_eq!(
            service["spec"]["ports"],
            json!([
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
            ])
        );
        assert_eq!(service["spec"]["selector"], json!({"k8s-app": "kube-dns"}));
    }

    #[test]
    fn the_deployment_is_kubeadms() {
        let deployment = value(&addon(InitFlags::default()).deployment);
        assert_eq!(
            deployment["metadata"],
            json!({"name": "coredns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}})
        );
        let spec = &deployment["spec"];
        assert_eq!(spec["replicas"], 2);
        assert_eq!(
            spec["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}})
        );
        assert_eq!(
            spec["selector"],
            json!({"matchLabels": {"k8s-app": "kube-dns"}})
        );
        let pod = &spec["template"];
        assert_eq!(pod["metadata"], json!({"labels": {"k8s-app": "kube-dns"}}));
        let pod = &pod["spec"];
        assert_eq!(pod["priorityClassName"], "system-cluster-critical");
        assert_eq!(pod["serviceAccountName"], "coredns");
        assert_eq!(pod["dnsPolicy"], "Default");
        assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
        assert_eq!(
            pod["tolerations"],
            json!([
                {"key": "CriticalAddonsOnly", "operator": "Exists"},
                {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
            ])
        );
        assert_eq!(
            pod["affinity"],
            json!({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100,
                "podAffinityTerm": {
                    "labelSelector": {"matchExpressions": [
                        {"key": "k8s-app", "operator": "In", "values": ["kube-dns"]}
                    ]},
                    "topologyKey": "kubernetes.io/hostname",
                },
            }]}})
        );
        assert_eq!(
            pod["volumes"],
            json!([{"name": "config-volume", "configMap": {
                "name": "coredns", "items": [{"key": "Corefile", "path": "Corefile"}]
            }}])
        );
        let containers = pod["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 1);
        let c = &containers[0];
        assert_eq!(c["name"], "coredns");
        assert_eq!(c["image"], "registry.k8s.io/coredns/coredns:v1.11.3");
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["args"], json!(["-conf", "/etc/coredns/Corefile"]));
        assert_eq!(
            c["resources"],
            json!({"limits": {"memory": "170Mi"}, "requests": {"cpu": "100m", "memory": "70Mi"}})
        );
        assert_eq!(
            c["volumeMounts"],
            json!([{"name": "config-volume", "mountPath": "/etc/coredns", "readOnly": true}])
        );
        assert_eq!(
            c["ports"],
            json!([
                {"containerPort": 53, "name": "dns", "protocol": "UDP"},
                {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                {"containerPort": 9153, "name": "metrics", "protocol": "TCP"},
            ])
        );
        assert_eq!(
            c["livenessProbe"],
            json!({
                "httpGet": {"path": "/health", "port": 8080, "scheme": "HTTP"},
                "initialDelaySeconds": 60, "timeoutSeconds": 5,
                "successThreshold": 1, "failureThreshold": 5,
            })
        );
        assert_eq!(
            c["readinessProbe"],
            json!({"httpGet": {"path": "/ready", "port": 8181, "scheme": "HTTP"}})
        );
        assert_eq!(
            c["securityContext"],
            json!({
                "allowPrivilegeEscalation": false,
                "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
                "readOnlyRootFilesystem": true,
            })
        );
    }

    #[test]
    fn from_1_34_the_health_ports_are_named_and_the_probes_use_the_names() {
        let addon = addon(InitFlags {
            kubernetes_version: Some("v1.34.4".into()),
            ..Default::default()
        });
        let deployment = value(&addon.deployment);
        let c = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            c["ports"],
            json!([
                {"containerPort": 53, "name": "dns", "protocol": "UDP"},
                {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                {"containerPort": 9153, "name": "metrics", "protocol": "TCP"},
                {"containerPort": 8080, "name": "liveness-probe", "protocol": "TCP"},
                {"containerPort": 8181, "name": "readiness-probe", "protocol": "TCP"},
            ])
        );
        assert_eq!(c["livenessProbe"]["httpGet"]["port"], "liveness-probe");
        assert_eq!(c["readinessProbe"]["httpGet"]["port"], "readiness-probe");
    }

    #[test]
    fn rbac_lets_coredns_watch_services_and_endpoints() {
        let addon = addon(InitFlags::default());
        assert_eq!(
            value(&addon.service_account)["metadata"],
            json!({"name": "coredns", "namespace": "kube-system"})
        );
        let role = value(&addon.cluster_role);
        assert_eq!(role["metadata"]["name"], "system:coredns");
        assert_eq!(
            role["rules"],
            json!([
                {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            ])
        );
        let binding = value(&addon.cluster_role_binding);
        assert_eq!(binding["metadata"]["name"], "system:coredns");
        assert_eq!(
            binding["roleRef"],
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"})
        );
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}])
        );
    }

    #[test]
    fn objects_come_in_kubeadms_order_and_a_users_configmap_is_kept() {
        let objects = addon(InitFlags::default()).objects();
        let names: Vec<String> = objects.iter().map(ApiObject::describe).collect();
        assert_eq!(
            names,
            [
                "ServiceAccount kube-system/coredns",
                "ClusterRole system:coredns",
                "ClusterRoleBinding system:coredns",
                "ConfigMap kube-system/coredns",
                "Deployment kube-system/coredns",
                "Service kube-system/kube-dns",
            ]
        );
        for object in &objects {
            let keep = matches!(object.mode, Mode::KeepExisting);
            assert_eq!(keep, object.kind() == "ConfigMap", "{}", object.describe());
        }
    }

    #[test]
    fn image_follows_the_version_and_the_repositories() {
        let mirror = addon(InitFlags {
            image_repository: Some("mirror.example.com/k8s".into()),
            kubernetes_version: Some("v1.34.1".into()),
            ..Default::default()
        });
        let image = |a: &CoreDns| {
            value(&a.deployment)["spec"]["template"]["spec"]["containers"][0]["image"].clone()
        };
        assert_eq!(image(&mirror), "mirror.example.com/k8s/coredns:v1.12.1");
        let mut config = test_config(InitFlags::default());
        config.cluster.dns.image_repository = "dns.example.com".into();
        config.cluster.dns.image_tag = "v9.9.9".into();
        assert_eq!(
            image(&build(&config).unwrap()),
            "dns.example.com/coredns:v9.9.9"
        );
    }

    #[test]
    fn corednsdeployment_patches_change_the_deployment_and_typos_are_refused() {
        let set = |patch: Value| PatchSet {
            dir: "/patches".into(),
            files: vec![PatchFile {
                name: "corednsdeployment.yaml".into(),
                target: PATCH_TARGET,
                patch_type: PatchType::Strategic,
                patches: vec![patch],
            }],
            ignored: Vec::new(),
        };
        let mut addon = addon(InitFlags::default());
        // A running CoreDNS's replica count is kept, and a patch still has the last word.
        addon.set_replicas(5);
        assert_eq!(addon.deployment.spec.as_ref().unwrap().replicas, Some(5));
        let lines = addon.patch(&set(json!({"spec": {"replicas": 3}}))).unwrap();
        assert_eq!(addon.deployment.spec.as_ref().unwrap().replicas, Some(3));
        assert_eq!(
            lines,
            ["[patches] Applied patch of type \"application/strategic-merge-patch+json\" to target \"corednsdeployment\""]
        );
        let err = addon
            .patch(&set(json!({"spec": {"replicaz": 3}})))
            .unwrap_err();
        assert!(err.contains("unknown field(s) spec.replicaz"), "{err}");
    }
}
