//! The shapes of the RBAC objects kubeadm creates: roles that read one named object, and
//! bindings of roles to groups, users and service accounts.

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::ApiObject;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The group every kubeadm bootstrap token authenticates with.
pub const NODE_BOOTSTRAPPERS: &str = "system:bootstrappers:kubeadm:default-node-token";
pub const NODES: &str = "system:nodes";

fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(Into::into),
        ..Default::default()
    }
}

// kubeadm leaves a subject's apiGroup out; the API server defaults it to the RBAC group.
pub fn group(name: &str) -> Subject {
    Subject {
        api_group: None,
        kind: "Group".into(),
        name: name.into(),
        namespace: None,
    }
}

pub fn user(name: &str) -> Subject {
    Subject {
        api_group: None,
        kind: "User".into(),
        name: name.into(),
        namespace: None,
    }
}

pub fn service_account(namespace: &str, name: &str) -> Subject {
    Subject {
        api_group: None,
        kind: "ServiceAccount".into(),
        name: name.into(),
        namespace: Some(namespace.into()),
    }
}

pub fn rule(api_groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let strings = |items: &[&str]| Some(items.iter().map(|s| s.to_string()).collect());
    PolicyRule {
        api_groups: strings(api_groups),
        resources: strings(resources),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// kubeadm's way to let `subjects` read one core object (`resource` `object`) in `namespace`: a
/// Role that may `get` only it, and a RoleBinding of the same name.
pub fn may_get(
    namespace: &str,
    name: &str,
    resource: &str,
    object: &str,
    subjects: Vec<Subject>,
) -> [ApiObject; 2] {
    let mut only = rule(&[""], &[resource], &["get"]);
    only.resource_names = Some(vec![object.into()]);
    [
        ApiObject::new(&Role {
            metadata: meta(Some(namespace), name),
            rules: Some(vec![only]),
        }),
        role_binding(namespace, name, name, subjects),
    ]
}

pub fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> ApiObject {
    ApiObject::new(&ClusterRole {
        metadata: meta(None, name),
        rules: Some(rules),
        ..Default::default()
    })
}

pub fn role_binding(namespace: &str, name: &str, role: &str, subjects: Vec<Subject>) -> ApiObject {
    ApiObject::new(&RoleBinding {
        metadata: meta(Some(namespace), name),
        role_ref: RoleRef {
            api_group: RBAC_GROUP.into(),
            kind: "Role".into(),
            name: role.into(),
        },
        subjects: Some(subjects),
    })
}

pub fn cluster_role_binding(name: &str, cluster_role: &str, subjects: Vec<Subject>) -> ApiObject {
    ApiObject::new(&ClusterRoleBinding {
        metadata: meta(None, name),
        role_ref: RoleRef {
            api_group: RBAC_GROUP.into(),
            kind: "ClusterRole".into(),
            name: cluster_role.into(),
        },
        subjects: Some(subjects),
    })
}
