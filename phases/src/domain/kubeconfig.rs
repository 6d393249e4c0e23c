//! The kubeconfig file format (clientcmd's v1 Config) as kubeadm writes it, and reading one back.

use crate::domain::config::decode::read_at;
use serde::{Deserialize, Serialize};

fn is_none<T>(value: &Option<T>) -> bool {
    value.is_none()
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Cluster {
    #[serde(
        rename = "certificate-authority-data",
        skip_serializing_if = "is_none",
        default
    )]
    pub certificate_authority_data: Option<String>,
    #[serde(
        rename = "certificate-authority",
        skip_serializing_if = "is_none",
        default
    )]
    pub certificate_authority: Option<String>,
    #[serde(default)]
    pub server: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct User {
    #[serde(
        rename = "client-certificate-data",
        skip_serializing_if = "is_none",
        default
    )]
    pub client_certificate_data: Option<String>,
    #[serde(rename = "client-key-data", skip_serializing_if = "is_none", default)]
    pub client_key_data: Option<String>,
    #[serde(
        rename = "client-certificate",
        skip_serializing_if = "is_none",
        default
    )]
    pub client_certificate: Option<String>,
    #[serde(rename = "client-key", skip_serializing_if = "is_none", default)]
    pub client_key: Option<String>,
    #[serde(skip_serializing_if = "is_none", default)]
    pub token: Option<String>,
    #[serde(rename = "tokenFile", skip_serializing_if = "is_none", default)]
    pub token_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Context {
    pub cluster: String,
    pub user: String,
    #[serde(skip_serializing_if = "is_none", default)]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedCluster {
    pub cluster: Cluster,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedContext {
    pub context: Context,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedUser {
    pub name: String,
    pub user: User,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kubeconfig {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub clusters: Vec<NamedCluster>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub contexts: Vec<NamedContext>,
    #[serde(rename = "current-context", default)]
    pub current_context: String,
    pub kind: String,
    /// Written by clientcmd before 1.34 as `preferences: {}`; 1.34's leaves the empty value out
    /// (`omitzero`), and so does kinit. A file that has it keeps it when read and written back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferences: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub users: Vec<NamedUser>,
}

/// clientcmd writes an empty list as `null` (cluster-info's kubeconfig has `contexts: null`).
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

pub fn base64(bytes: &[u8]) -> String {
    openssl::base64::encode_block(bytes)
}

pub fn unbase64(text: &str) -> Result<Vec<u8>, String> {
    openssl::base64::decode_block(text.trim()).map_err(|_| "not valid base64".to_string())
}

/// serde's message without the value it quotes (`invalid type: string "…", expected a map`):
/// in a kubeconfig that value may be a key.
fn without_value(message: &str) -> String {
    match message.strip_prefix("invalid type: string \"") {
        Some(rest) => match rest.rsplit_once("\", expected ") {
            Some((_, expected)) => format!("invalid type: a string, expected {expected}"),
            None => message.to_string(),
        },
        None => message.to_string(),
    }
}

impl Kubeconfig {
    /// One cluster, one user and the context `<user>@<cluster>` that joins them, made current.
    pub fn single(cluster_name: &str, cluster: Cluster, user_name: &str, user: User) -> Kubeconfig {
        let context_name = format!("{user_name}@{cluster_name}");
        Kubeconfig {
            api_version: "v1".into(),
            clusters: vec![NamedCluster {
                cluster,
                name: cluster_name.into(),
            }],
            contexts: vec![NamedContext {
                context: Context {
                    cluster: cluster_name.into(),
                    user: user_name.into(),
                    namespace: None,
                },
                name: context_name.clone(),
            }],
            current_context: context_name,
            kind: "Config".into(),
            preferences: None,
            users: vec![NamedUser {
                name: user_name.into(),
                user,
            }],
        }
    }

    /// YAML with keys sorted, as clientcmd writes it.
    pub fn to_yaml(&self) -> Result<String, String> {
        crate::domain::config::to_yaml(self)
    }

    pub fn parse(text: &str, file: &str) -> Result<Kubeconfig, String> {
        let documents = crate::domain::config::yaml::parse_documents(text)
            .map_err(|e| format!("{file} is not valid YAML (line {}): {}", e.line, e.message))?;
        let document = documents
            .into_iter()
            .next()
            .ok_or_else(|| format!("{file} is empty"))?;
        read_at(&document.value).map_err(|(path, why)| {
            let at = if path.is_empty() {
                String::new()
            } else {
                format!(" line {}: {path}:", document.line_of(&path))
            };
            format!("{file} is not a kubeconfig:{at} {}", without_value(&why))
        })
    }

    /// The admin kubeconfig at `path`, as `read` finds it (the run's effects, so that a file an
    /// earlier phase of this run wrote is seen).
    pub fn read_admin(
        read: impl Fn(&str) -> Result<Option<Vec<u8>>, String>,
        path: &str,
    ) -> Result<Kubeconfig, String> {
        let text = read(path)?.ok_or_else(|| {
            format!("{path} does not exist: run `kinit init phase kubeconfig admin` first")
        })?;
        Kubeconfig::parse(&String::from_utf8_lossy(&text), path)
    }

    /// The cluster and user of the current context.
    pub fn current(&self) -> Option<(&Cluster, &User)> {
        let context = self
            .contexts
            .iter()
            .find(|c| c.name == self.current_context)?;
        let cluster = self
            .clusters
            .iter()
            .find(|c| c.name == context.context.cluster)?;
        let user = self.users.iter().find(|u| u.name == context.context.user)?;
        Some((&cluster.cluster, &user.user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kubeconfig_of_the_wrong_shape_is_reported_by_line_and_field_without_its_values() {
        let text = "apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster: LS0tLS1CRUdJTiBQUklWQVRF\n";
        let error = Kubeconfig::parse(text, "the discovery file").err().unwrap();
        assert_eq!(
            error,
            "the discovery file is not a kubeconfig: line 5: clusters[0].cluster: invalid type: a string, expected a map of Cluster fields"
        );
        let error = Kubeconfig::parse("kind: Config\n", "k.conf").err().unwrap();
        assert_eq!(
            error,
            "k.conf is not a kubeconfig: missing field `apiVersion`"
        );
    }

    #[test]
    fn writes_keys_sorted_and_reads_back() {
        let config = Kubeconfig::single(
            "kubernetes",
            Cluster {
                certificate_authority_data: Some("Q0E=".into()),
                server: "https://10.0.0.1:6443".into(),
                ..Default::default()
            },
            "kubernetes-admin",
            User {
                client_certificate_data: Some("Q0VSVA==".into()),
                client_key_data: Some("S0VZ".into()),
                ..Default::default()
            },
        );
        let text = config.to_yaml().unwrap();
        let expected = "apiVersion: v1
clusters:
  - cluster:
      certificate-authority-data: Q0E=
      server: \"https://10.0.0.1:6443\"
    name: kubernetes
contexts:
  - context:
      cluster: kubernetes
      user: kubernetes-admin
    name: kubernetes-admin@kubernetes
current-context: kubernetes-admin@kubernetes
kind: Config
users:
  - name: kubernetes-admin
    user:
      client-certificate-data: Q0VSVA==
      client-key-data: S0VZ
";
        assert_eq!(text, expected);
        let back = Kubeconfig::parse(&text, "admin.conf").unwrap();
        assert_eq!(back, config);
        let (cluster, user) = back.current().unwrap();
        assert_eq!(cluster.server, "https://10.0.0.1:6443");
        assert_eq!(user.client_key_data.as_deref(), Some("S0VZ"));
    }
}
