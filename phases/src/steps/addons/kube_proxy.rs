//! The kube-proxy addon as kubeadm installs it: the `kube-proxy` ConfigMap (a kubeconfig that uses
//! the pod's service account, and the KubeProxyConfiguration), the DaemonSet that runs kube-proxy on
//! every node, and the RBAC that lets it and joining nodes read what they need.

use std::net::Ipv6Addr;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::render::{render, KUBE_PROXY};
use crate::domain::component_config::default_field;
use crate::domain::config::resolve::InitConfig;
use crate::domain::config::types::EnvVar;
use crate::exec::api::{rbac, ApiObject};
use crate::steps::upload_config::{sign, KUBE_SYSTEM};

pub const KIND: &str = "KubeProxyConfiguration";
pub const API_VERSION: &str = "kubeproxy.config.k8s.io/v1alpha1";
/// The ConfigMap, the ServiceAccount, the Role and the RoleBinding all carry this name.
pub const NAME: &str = "kube-proxy";
/// Where the DaemonSet mounts the ConfigMap's kubeconfig.conf.
pub const KUBECONFIG_PATH: &str = "/var/lib/kube-proxy/kubeconfig.conf";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplateData<'a> {
    image: String,
    server: String,
    config_conf: String,
    proxy_env: &'a [EnvVar],
}

/// The KubeProxyConfiguration kube-proxy runs with: the user's document with kubeadm's defaults in
/// the fields left unset, and kubeadm's warnings where the user chose differently.
pub fn configuration(config: &InitConfig) -> (Value, Vec<String>) {
    let mut root = match &config.kube_proxy {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    let mut warnings = Vec::new();
    let ipv6 = config
        .init
        .local_api_endpoint
        .advertise_address
        .parse::<Ipv6Addr>()
        .is_ok();
    let bind_address = if ipv6 { "::" } else { "0.0.0.0" };
    default_field(
        KIND,
        &mut root,
        &["bindAddress"],
        json!(bind_address),
        &mut warnings,
    );
    default_field(
        KIND,
        &mut root,
        &["clientConnection", "kubeconfig"],
        json!(KUBECONFIG_PATH),
        &mut warnings,
    );
    let pod_subnet = &config.cluster.networking.pod_subnet;
    // Without a pod subnet kubeadm has nothing to recommend, and kube-proxy works without one.
    if !pod_subnet.is_empty() {
        default_field(
            KIND,
            &mut root,
            &["clusterCIDR"],
            json!(pod_subnet),
            &mut warnings,
        );
    }
    root.insert("apiVersion".into(), json!(API_VERSION));
    root.insert("kind".into(), json!(KIND));
    (Value::Object(root), warnings)
}

/// The objects in kubeadm's order, and the warnings about the configuration.
pub fn build(
    config: &InitConfig,
    proxy_env: &[EnvVar],
) -> Result<(Vec<ApiObject>, Vec<String>), String> {
    let (configuration, warnings) = configuration(config);
    let config_conf = crate::domain::config::to_yaml(&configuration)?;
    let data = TemplateData {
        image: crate::domain::images::kubernetes_image(&config.cluster, &config.version, NAME),
        server: crate::steps::kubeconfig::control_plane_endpoint(config),
        // kubeadm inserts the document under a `|-` block, which drops the final line break.
        config_conf: config_conf.trim_end_matches('\n').to_string(),
        proxy_env,
    };
    let mut rendered = render(KUBE_PROXY, &data)?;
    let mut config_map: ConfigMap = rendered.take("ConfigMap")?;
    let daemon_set: DaemonSet = rendered.take("DaemonSet")?;
    rendered.finish()?;
    // A configuration the user wrote stays theirs: kubeadm signs only the ones it generated.
    if config.kube_proxy.is_none() {
        config_map = sign(config_map);
    }
    let service_account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(NAME.into()),
            namespace: Some(KUBE_SYSTEM.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut objects = vec![
        ApiObject::new(&config_map),
        ApiObject::new(&daemon_set),
        ApiObject::new(&service_account),
        rbac::cluster_role_binding(
            "kubeadm:node-proxier",
            "system:node-proxier",
            vec![rbac::service_account(KUBE_SYSTEM, NAME)],
        ),
    ];
    objects.extend(rbac::may_get(
        KUBE_SYSTEM,
        NAME,
        "configmaps",
        NAME,
        vec![rbac::group(rbac::NODE_BOOTSTRAPPERS)],
    ));
    Ok((objects, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::config::resolve::InitFlags;
    use crate::steps::addons::test_config;
    use crate::steps::upload_config::HASH_ANNOTATION;

    fn objects(config: &InitConfig) -> Vec<ApiObject> {
        build(config, &[]).unwrap().0
    }

    fn config_map(objects: &[ApiObject]) -> &Value {
        &objects[0].body
    }

    /// config.conf read back as YAML.
    fn config_conf(objects: &[ApiObject]) -> Value {
        let text = config_map(objects)["data"]["config.conf"].as_str().unwrap();
        crate::domain::config::yaml::parse_documents(text).unwrap()[0]
            .value
            .clone()
    }

    // kubeadm's kubeconfig.conf (proxy/manifests.go), under a `|-` block: no final line break.
    const KUBECONFIG_CONF: &str = "apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    server: https://198.51.100.10:6443
  name: default
contexts:
- context:
    cluster: default
    namespace: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token";

    #[test]
    fn the_config_map_holds_kubeadms_kubeconfig_and_a_signed_configuration() {
        let config = test_config(InitFlags {
            pod_network_cidr: Some("10.244.0.0/16".into()),
            ..Default::default()
        });
        let objects = objects(&config);
        let cm = config_map(&objects);
        assert_eq!(objects[0].describe(), "ConfigMap kube-system/kube-proxy");
        assert_eq!(cm["metadata"]["labels"], json!({"app": "kube-proxy"}));
        assert_eq!(cm["data"]["kubeconfig.conf"], KUBECONFIG_CONF);
        let text = cm["data"]["config.conf"].as_str().unwrap();
        assert!(!text.ends_with('\n'), "{text:?}");
        assert_eq!(
            config_conf(&objects),
            json!({
                "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                "kind": "KubeProxyConfiguration",
                "bindAddress": "0.0.0.0",
                "clientConnection": {"kubeconfig": "/var/lib/kube-proxy/kubeconfig.conf"},
                "clusterCIDR": "10.244.0.0/16",
            })
        );
        // kubeadm's hash: SHA-256 over the values in key order (config.conf, then kubeconfig.conf).
        let mut hasher = openssl::sha::Sha256::new();
        hasher.update(text.as_bytes());
        hasher.update(KUBECONFIG_CONF.as_bytes());
        let hex: String = hasher.finish().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            cm["metadata"]["annotations"][HASH_ANNOTATION],
            format!("sha256:{hex}")
        );
    }

    #[test]
    fn without_a_pod_subnet_there_is_no_cluster_cidr() {
        let objects = objects(&test_config(InitFlags::default()));
        assert!(config_conf(&objects).get("clusterCIDR").is_none());
    }

    #[test]
    fn an_ipv6_advertise_address_binds_to_all_ipv6_addresses() {
        let config = test_config(InitFlags {
            apiserver_advertise_address: Some("2001:db8::10".into()),
            service_cidr: Some("fd00::/108".into()),
            ..Default::default()
        });
        let objects = objects(&config);
        assert_eq!(config_conf(&objects)["bindAddress"], "::");
        let kubeconfig = config_map(&objects)["data"]["kubeconfig.conf"]
            .as_str()
            .unwrap();
        assert!(
            kubeconfig.contains("server: https://[2001:db8::10]:6443"),
            "{kubeconfig}"
        );
    }

    #[test]
    fn the_server_is_the_control_plane_endpoint() {
        let config = test_config(InitFlags {
            control_plane_endpoint: Some("lb.example.com".into()),
            ..Default::default()
        });
        let kubeconfig = config_map(&objects(&config))["data"]["kubeconfig.conf"].clone();
        assert!(kubeconfig
            .as_str()
            .unwrap()
            .contains("server: https://lb.example.com:6443"));
    }

    #[test]
    fn a_users_configuration_wins_and_is_not_signed() {
        let mut config = test_config(InitFlags {
            pod_network_cidr: Some("10.244.0.0/16".into()),
            ..Default::default()
        });
        config.kube_proxy = Some(json!({
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "ipvs",
            "bindAddress": "198.51.100.10",
            "ipvs": {"strictARP": true},
        }));
        let (objects, warnings) = build(&config, &[]).unwrap();
        let conf = config_conf(&objects);
        assert_eq!(conf["mode"], "ipvs");
        assert_eq!(conf["ipvs"]["strictARP"], true);
        assert_eq!(conf["bindAddress"], "198.51.100.10");
        assert_eq!(conf["clusterCIDR"], "10.244.0.0/16");
        assert_eq!(
            conf["clientConnection"]["kubeconfig"],
            "/var/lib/kube-proxy/kubeconfig.conf"
        );
        assert_eq!(
            warnings,
            ["The recommended value for \"bindAddress\" in \"KubeProxyConfiguration\" is: 0.0.0.0; the provided value is: 198.51.100.10"]
        );
        assert!(config_map(&objects)["metadata"]
            .get("annotations")
            .is_none());
    }

    #[test]
    fn the_daemon_set_is_kubeadms() {
        let config = test_config(InitFlags {
            image_repository: Some("mirror.example.com/k8s".into()),
            kubernetes_version: Some("v1.33.2".into()),
            ..Default::default()
        });
        let proxy = [EnvVar {
            name: "HTTPS_PROXY".into(),
            value: "http://proxy.example.com:3128".into(),
            value_from: None,
        }];
        let (objects, _) = build(&config, &proxy).unwrap();
        assert_eq!(objects[1].describe(), "DaemonSet kube-system/kube-proxy");
        let ds = &objects[1].body;
        assert_eq!(ds["metadata"]["labels"], json!({"k8s-app": "kube-proxy"}));
        let spec = &ds["spec"];
        assert_eq!(
            spec["selector"],
            json!({"matchLabels": {"k8s-app": "kube-proxy"}})
        );
        assert_eq!(spec["updateStrategy"], json!({"type": "RollingUpdate"}));
        assert_eq!(
            spec["template"]["metadata"],
            json!({"labels": {"k8s-app": "kube-proxy"}})
        );
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["priorityClassName"], "system-node-critical");
        assert_eq!(pod["hostNetwork"], true);
        assert_eq!(pod["serviceAccountName"], "kube-proxy");
        assert_eq!(pod["tolerations"], json!([{"operator": "Exists"}]));
        assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
        assert_eq!(
            pod["volumes"],
            json!([
                {"name": "kube-proxy", "configMap": {"name": "kube-proxy"}},
                {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}},
                {"name": "lib-modules", "hostPath": {"path": "/lib/modules"}},
            ])
        );
        let c = &pod["containers"][0];
        assert_eq!(pod["containers"].as_array().unwrap().len(), 1);
        assert_eq!(c["name"], "kube-proxy");
        assert_eq!(c["image"], "mirror.example.com/k8s/kube-proxy:v1.33.2");
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(
            c["command"],
            json!([
                "/usr/local/bin/kube-proxy",
                "--config=/var/lib/kube-proxy/config.conf",
                "--hostname-override=$(NODE_NAME)",
            ])
        );
        assert_eq!(c["securityContext"], json!({"privileged": true}));
        assert_eq!(
            c["volumeMounts"],
            json!([
                {"mountPath": "/var/lib/kube-proxy", "name": "kube-proxy"},
                {"mountPath": "/run/xtables.lock", "name": "xtables-lock"},
                {"mountPath": "/lib/modules", "name": "lib-modules", "readOnly": true},
            ])
        );
        assert_eq!(
            c["env"],
            json!([
                {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "HTTPS_PROXY", "value": "http://proxy.example.com:3128"},
            ])
        );
    }

    #[test]
    fn rbac_binds_the_node_proxier_role_and_lets_joining_nodes_read_the_config_map() {
        let objects = objects(&test_config(InitFlags::default()));
        let names: Vec<String> = objects.iter().map(ApiObject::describe).collect();
        assert_eq!(
            names,
            [
                "ConfigMap kube-system/kube-proxy",
                "DaemonSet kube-system/kube-proxy",
                "ServiceAccount kube-system/kube-proxy",
                "ClusterRoleBinding kubeadm:node-proxier",
                "Role kube-system/kube-proxy",
                "RoleBinding kube-system/kube-proxy",
            ]
        );
        assert_eq!(
            objects[3].body["roleRef"],
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:node-proxier"})
        );
        assert_eq!(
            objects[3].body["subjects"],
            json!([{"kind": "ServiceAccount", "name": "kube-proxy", "namespace": "kube-system"}])
        );
        assert_eq!(
            objects[4].body["rules"],
            json!([{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["kube-proxy"], "verbs": ["get"]}])
        );
        assert_eq!(
            objects[5].body["roleRef"],
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kube-proxy"})
        );
        assert_eq!(
            objects[5].body["subjects"],
            json!([{"kind": "Group", "name": "system:bootstrappers:kubeadm:default-node-token"}])
        );
    }
}
