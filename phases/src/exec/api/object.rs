//! One object as kinit applies it: where it lives, its body, and whether an existing copy is kept.

use kube::core::ApiResource;
use kube::Resource;
use serde::Serialize;
use serde_json::Value;

/// How an object reaches the cluster.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// Server-side apply as field manager `kinit`, taking over fields kubeadm would overwrite.
    Apply,
    /// Created when absent, left alone when present: kubeadm keeps a user's CoreDNS ConfigMap.
    KeepExisting,
    /// Created when absent; an existing copy is replaced unless `keep(existing, desired)` says
    /// it already serves (a token Secret whose only difference is a later expiration).
    CreateOrUpdate { keep: fn(&Value, &Value) -> bool },
}

impl Mode {
    pub fn verb(&self) -> &'static str {
        match self {
            Mode::Apply => "apply",
            Mode::KeepExisting => "create unless present",
            Mode::CreateOrUpdate { .. } => "create or update",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ApiObject {
    pub resource: ApiResource,
    pub namespace: Option<String>,
    pub name: String,
    /// The full object with apiVersion and kind, as sent.
    pub body: Value,
    pub mode: Mode,
}

impl ApiObject {
    pub fn new<K: Resource<DynamicType = ()> + Serialize>(object: &K) -> ApiObject {
        let meta = object.meta();
        ApiObject {
            resource: ApiResource::erase::<K>(&()),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
            body: serde_json::to_value(object).expect("Kubernetes types serialize to JSON"),
            mode: Mode::Apply,
        }
    }

    pub fn keep_existing(mut self) -> ApiObject {
        self.mode = Mode::KeepExisting;
        self
    }

    pub fn update_unless(mut self, keep: fn(&Value, &Value) -> bool) -> ApiObject {
        self.mode = Mode::CreateOrUpdate { keep };
        self
    }

    pub fn kind(&self) -> &str {
        &self.resource.kind
    }

    /// `ConfigMap kube-system/kubeadm-config`, `ClusterRole system:coredns`.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.resource.kind, self.name),
            None => format!("{} {}", self.resource.kind, self.name),
        }
    }

    /// The object as a dry run shows it: every Secret value withheld, except the parts of a
    /// bootstrap token Secret that are public anyway (its id is in its name; usages, groups,
    /// description, expiration). A dry run shows what would be stored, never key material.
    pub fn display_body(&self) -> Value {
        let mut body = self.body.clone();
        if self.resource.kind == "Secret" {
            let token = body["type"] == BOOTSTRAP_TOKEN_TYPE;
            for field in ["data", "stringData"] {
                if let Some(values) = body.get_mut(field).and_then(Value::as_object_mut) {
                    for (key, value) in values.iter_mut() {
                        if !token || key == "token-secret" {
                            *value = Value::String("<redacted>".into());
                        }
                    }
                }
            }
        }
        body
    }

    /// [`ApiObject::display_body`] as YAML.
    pub fn display_yaml(&self) -> String {
        crate::domain::config::to_yaml(&self.display_body())
            .unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

const BOOTSTRAP_TOKEN_TYPE: &str = "bootstrap.kubernetes.io/token";

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Secret;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::ByteString;

    #[test]
    fn secret_values_are_redacted_in_the_dry_run_yaml_but_not_in_the_body() {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some("s".into()),
                namespace: Some("kube-system".into()),
                ..Default::default()
            },
            data: Some(
                [(
                    "token-secret".to_string(),
                    ByteString(b"0123456789abcdef".to_vec()),
                )]
                .into(),
            ),
            ..Default::default()
        };
        let object = ApiObject::new(&secret);
        assert_eq!(object.describe(), "Secret kube-system/s");
        let yaml = object.display_yaml();
        assert!(yaml.contains("token-secret: \"<redacted>\""), "{yaml}");
        assert!(!yaml.contains("MDEyMzQ1Njc4OWFiY2RlZg"), "{yaml}");
        assert_eq!(
            object.body["data"]["token-secret"],
            "MDEyMzQ1Njc4OWFiY2RlZg=="
        );
        assert_eq!(object.body["apiVersion"], "v1");
        assert_eq!(object.body["kind"], "Secret");
    }

    #[test]
    fn a_bootstrap_token_secret_shows_all_but_its_secret_half() {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some("bootstrap-token-abcdef".into()),
                namespace: Some("kube-system".into()),
                ..Default::default()
            },
            type_: Some(BOOTSTRAP_TOKEN_TYPE.into()),
            data: Some(
                [
                    ("token-id", "abcdef"),
                    ("token-secret", "0123456789abcdef"),
                    ("usage-bootstrap-signing", "true"),
                ]
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .into(),
            ),
            ..Default::default()
        };
        let shown = ApiObject::new(&secret).display_body();
        assert_eq!(shown["data"]["token-secret"], "<redacted>");
        assert_eq!(shown["data"]["token-id"], "YWJjZGVm");
        assert_eq!(shown["data"]["usage-bootstrap-signing"], "dHJ1ZQ==");
    }
}
