//! The object store, the kinds it serves, and field ownership (managedFields) for server-side
//! apply.

use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

/// A kind the server serves.
#[derive(Debug)]
pub struct Kind {
    pub kind: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub resource: &'static str,
    pub namespaced: bool,
    /// Has a status subresource: writes to the main resource keep the stored status.
    pub status: bool,
    /// How names are checked (the real kind's ValidateObjectMeta name function).
    pub name_rule: NameRule,
    pub short_names: &'static [&'static str],
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NameRule {
    Subdomain,
    Label,
    /// DNS-1035 label (starts with a letter): Services.
    Label1035,
    PathSegment,
}

macro_rules! kind {
    ($kind:literal, $group:literal, $version:literal, $resource:literal, $ns:literal, $status:literal, $rule:ident, [$($short:literal),*]) => {
        Kind {
            kind: $kind,
            group: $group,
            version: $version,
            resource: $resource,
            namespaced: $ns,
            status: $status,
            name_rule: NameRule::$rule,
            short_names: &[$($short),*],
        }
    };
}

pub static KINDS: &[Kind] = &[
    kind!(
        "ConfigMap",
        "",
        "v1",
        "configmaps",
        true,
        false,
        Subdomain,
        ["cm"]
    ),
    kind!("Secret", "", "v1", "secrets", true, false, Subdomain, []),
    // Mirror Pods of static Pods, which the kubelet posts and joining nodes read (etcd's URLs).
    kind!("Pod", "", "v1", "pods", true, true, Subdomain, ["po"]),
    kind!(
        "ServiceAccount",
        "",
        "v1",
        "serviceaccounts",
        true,
        false,
        Subdomain,
        ["sa"]
    ),
    kind!(
        "Service",
        "",
        "v1",
        "services",
        true,
        true,
        Label1035,
        ["svc"]
    ),
    kind!(
        "Namespace",
        "",
        "v1",
        "namespaces",
        false,
        true,
        Label,
        ["ns"]
    ),
    kind!("Node", "", "v1", "nodes", false, true, Subdomain, ["no"]),
    kind!(
        "Role",
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        true,
        false,
        PathSegment,
        []
    ),
    kind!(
        "RoleBinding",
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        true,
        false,
        PathSegment,
        []
    ),
    kind!(
        "ClusterRole",
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        false,
        false,
        PathSegment,
        []
    ),
    kind!(
        "ClusterRoleBinding",
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        false,
        false,
        PathSegment,
        []
    ),
    kind!(
        "Deployment",
        "apps",
        "v1",
        "deployments",
        true,
        true,
        Subdomain,
        ["deploy"]
    ),
    kind!(
        "DaemonSet",
        "apps",
        "v1",
        "daemonsets",
        true,
        true,
        Subdomain,
        ["ds"]
    ),
    kind!(
        "CertificateSigningRequest",
        "certificates.k8s.io",
        "v1",
        "certificatesigningrequests",
        false,
        true,
        PathSegment,
        ["csr"]
    ),
];

impl Kind {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `configmaps` or `roles.rbac.authorization.k8s.io`, as in the real server's messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    pub fn has_generation(&self) -> bool {
        matches!(self.kind, "Deployment" | "DaemonSet")
    }

    /// The real server lets update create these (their strategies AllowCreateOnUpdate).
    pub fn create_on_update(&self) -> bool {
        self.group == "rbac.authorization.k8s.io"
    }
}

pub fn kind_by_name(kind: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.kind == kind)
}

pub fn kind_by_resource(group: &str, version: &str, resource: &str) -> Option<&'static Kind> {
    KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.resource == resource)
}

/// One change, for watches.
#[derive(Clone, Debug)]
pub struct Event {
    pub rv: u64,
    pub kind: &'static str,
    pub namespace: String,
    /// ADDED, MODIFIED or DELETED.
    pub what: &'static str,
    /// With apiVersion, kind and the event's resourceVersion.
    pub object: Value,
}

/// Objects by (kind, namespace, name); stored without apiVersion/kind (added on the way out).
#[derive(Default)]
pub struct Store {
    pub objects: BTreeMap<(&'static str, String, String), Value>,
    /// Every change since the start, in order.
    pub events: Vec<Event>,
    pub rv: u64,
    uids: u64,
    /// The service CIDR ClusterIPs come from.
    pub service_cidr: ServiceCidr,
    /// How long a written object takes to reach the authorizer (see `Options::authorizer_lag`).
    pub authorizer_lag: Duration,
    /// When each object was last written, for the authorizer's lag.
    written_at: HashMap<(&'static str, String, String), Instant>,
}

/// A service CIDR of either family: its network address as a number, its prefix length, and the
/// width of its family's addresses (32 or 128).
#[derive(Clone, Copy, Default, Debug)]
pub struct ServiceCidr {
    pub net: u128,
    pub bits: u8,
    pub width: u8,
}

impl ServiceCidr {
    /// `10.96.0.0/12` or `fd00:10:96::/112`; at least two addresses besides the network's.
    pub fn parse(text: &str) -> Option<ServiceCidr> {
        let (address, bits) = text.split_once('/')?;
        let bits: u8 = bits.parse().ok()?;
        let (net, width) = match address.parse::<std::net::IpAddr>().ok()? {
            std::net::IpAddr::V4(a) => (u128::from(u32::from(a)), 32u8),
            std::net::IpAddr::V6(a) => (u128::from(a), 128u8),
        };
        if bits > width - 2 {
            return None;
        }
        let mut cidr = ServiceCidr { net, bits, width };
        cidr.net &= cidr.mask();
        Some(cidr)
    }

    /// The prefix bits of an address of this family.
    pub fn mask(&self) -> u128 {
        let host_bits = u32::from(self.width - self.bits);
        let all = if self.width == 128 {
            u128::MAX
        } else {
            (1u128 << self.width) - 1
        };
        let host = if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        all & !host
    }

    pub fn is_ipv6(&self) -> bool {
        self.width == 128
    }

    /// The `n`th address of the range, as text.
    pub fn address(&self, n: u128) -> String {
        let value = self.net + n;
        if self.is_ipv6() {
            std::net::Ipv6Addr::from(value).to_string()
        } else {
            std::net::Ipv4Addr::from(value as u32).to_string()
        }
    }

    /// How many addresses the range has (at most 2^64, which no test comes near).
    pub fn size(&self) -> u128 {
        1u128 << u32::from(self.width - self.bits).min(64)
    }

    /// An address of this family, as a number; None for anything else.
    pub fn parse_address(&self, text: &str) -> Option<u128> {
        match text.parse::<std::net::IpAddr>().ok()? {
            std::net::IpAddr::V4(a) if !self.is_ipv6() => Some(u128::from(u32::from(a))),
            std::net::IpAddr::V6(a) if self.is_ipv6() => Some(u128::from(a)),
            _ => None,
        }
    }

    pub fn contains(&self, address: u128) -> bool {
        address & self.mask() == self.net
    }
}

impl std::fmt::Display for ServiceCidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address(0), self.bits)
    }
}

impl Store {
    pub fn get(&self, kind: &Kind, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&(kind.kind, ns.to_string(), name.to_string()))
    }

    /// An object with apiVersion and kind.
    pub fn get_full(&self, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let k = kind_by_name(kind)?;
        self.get(k, ns, name).map(|o| with_type(k, o))
    }

    pub fn all(&self) -> Vec<Value> {
        self.objects
            .iter()
            .map(|((kind, _, _), o)| with_type(kind_by_name(kind).unwrap(), o))
            .collect()
    }

    /// The objects of `kind` the authorizer already knows of: those written longer ago than its
    /// lag.
    pub fn authorizer_list(&self, kind: &Kind, ns: Option<&str>) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|((k, n, _), _)| *k == kind.kind && ns.is_none_or(|ns| ns == n))
            .filter(|(key, _)| {
                self.written_at
                    .get(*key)
                    .is_none_or(|at| at.elapsed() >= self.authorizer_lag)
            })
            .map(|(_, o)| o)
            .collect()
    }

    pub fn list(&self, kind: &Kind, ns: Option<&str>) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|((k, n, _), _)| *k == kind.kind && ns.is_none_or(|ns| ns == n))
            .map(|(_, o)| o)
            .collect()
    }

    pub fn next_uid(&mut self) -> String {
        self.uids += 1;
        let n = self.uids;
        let t = now_unix() as u64;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (t & 0xffff_ffff) as u32,
            (n >> 16) & 0xffff,
            (n >> 4) & 0xfff,
            n & 0xfff,
            n.wrapping_mul(0x9e37_79b9_7f4a) & 0xffff_ffff_ffff
        )
    }

    /// Writes an object with the next resourceVersion.
    pub fn put(&mut self, kind: &'static Kind, mut obj: Value) -> Value {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let name = obj["metadata"]["name"].as_str().unwrap().to_string();
        let stored = strip_type(&obj);
        let full = with_type(kind, &obj);
        if !self.authorizer_lag.is_zero() {
            self.written_at
                .insert((kind.kind, ns.clone(), name.clone()), Instant::now());
        }
        let existed = self
            .objects
            .insert((kind.kind, ns.clone(), name), stored)
            .is_some();
        self.events.push(Event {
            rv: self.rv,
            kind: kind.kind,
            namespace: ns,
            what: if existed { "MODIFIED" } else { "ADDED" },
            object: full.clone(),
        });
        full
    }

    pub fn remove(&mut self, kind: &Kind, ns: &str, name: &str) -> Option<Value> {
        let key = self
            .objects
            .keys()
            .find(|(k, n, m)| *k == kind.kind && n == ns && m == name)
            .cloned()?;
        self.rv += 1;
        let mut gone = self.objects.remove(&key)?;
        gone["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.events.push(Event {
            rv: self.rv,
            kind: kind_by_name(key.0).unwrap().kind,
            namespace: key.1.clone(),
            what: "DELETED",
            object: with_type(kind_by_name(key.0).unwrap(), &gone),
        });
        Some(gone)
    }

    /// What a fresh 1.31+ API server holds: the four namespaces and the bootstrap RBAC policy
    /// kubeadm's objects refer to; a Node when asked.
    pub fn seed(&mut self, node: Option<&str>, service_cidr: &str) {
        self.service_cidr = ServiceCidr::parse(service_cidr).unwrap_or_else(|| {
            panic!("test API server: service CIDR {service_cidr:?} is not an IPv4 or IPv6 CIDR")
        });
        let first = self.service_cidr.address(1);
        let family = if self.service_cidr.is_ipv6() {
            "IPv6"
        } else {
            "IPv4"
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            self.seed_one(json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"}
            }));
        }
        let policy: Value = serde_json::from_str(include_str!("bootstrap_policy.json"))
            .expect("bootstrap_policy.json");
        for obj in policy.as_array().unwrap() {
            let mut obj = obj.clone();
            obj["metadata"]["labels"] = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
            obj["metadata"]["annotations"] =
                json!({"rbac.authorization.kubernetes.io/autoupdate": "true"});
            if obj["kind"] == "ClusterRoleBinding" {
                let name = obj["metadata"]["name"].clone();
                obj["roleRef"] = json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name});
            }
            self.seed_one(obj);
        }
        self.seed_one(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": first, "clusterIPs": [first], "internalTrafficPolicy": "Cluster",
                     "ipFamilies": [family], "ipFamilyPolicy": "SingleStack",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                     "sessionAffinity": "None", "type": "ClusterIP"},
            "status": {"loadBalancer": {}}
        }));
        if let Some(node) = node {
            self.seed_one(json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": node, "labels": {
                    "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": node, "kubernetes.io/os": "linux"}},
                "spec": {},
                "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady",
                    "message": "container runtime network not ready",
                    "lastHeartbeatTime": rfc3339(now_unix()), "lastTransitionTime": rfc3339(now_unix())}]}
            }));
            // The node lifecycle controller taints a NotReady node; whoever marks the control
            // plane must keep taints it does not own.
            let kind = kind_by_name("Node").unwrap();
            let old = self.get_full("Node", "", node).unwrap();
            let mut new = old.clone();
            new["spec"]["taints"] =
                json!([{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]);
            update_ownership(kind, Some(&old), &mut new, "kube-controller-manager", None);
            self.put(kind, new);
        }
    }

    fn seed_one(&mut self, mut obj: Value) {
        let kind = kind_by_name(obj["kind"].as_str().unwrap()).unwrap();
        let manager = if kind.kind == "Node" {
            "kubelet"
        } else {
            "kube-apiserver"
        };
        let uid = self.next_uid();
        let meta = &mut obj["metadata"];
        meta["uid"] = json!(uid);
        meta["creationTimestamp"] = json!(rfc3339(now_unix()));
        let fields = fields_v1(&field_paths(kind, &obj));
        obj["metadata"]["managedFields"] = json!([{
            "manager": manager, "operation": "Update", "apiVersion": kind.api_version(),
            "time": rfc3339(now_unix()), "fieldsType": "FieldsV1", "fieldsV1": fields
        }]);
        self.put(kind, obj);
    }
}

pub fn with_type(kind: &Kind, obj: &Value) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!(kind.api_version()));
    out.insert("kind".into(), json!(kind.kind));
    for (k, v) in obj.as_object().unwrap() {
        if k != "apiVersion" && k != "kind" {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

pub fn strip_type(obj: &Value) -> Value {
    let mut o = obj.as_object().unwrap().clone();
    o.remove("apiVersion");
    o.remove("kind");
    Value::Object(o)
}

// ---------------------------------------------------------------------------------------------
// Time and encodings

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `2026-01-02T03:04:05Z`.
pub fn rfc3339(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Unix seconds of an RFC 3339 time (`Z` or `±hh:mm`, optional fraction).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = if rest == "Z" || rest == "z" {
        0
    } else {
        let sign = match rest.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        if rest.len() != 6 || rest.as_bytes()[3] != b':' {
            return None;
        }
        let oh: i64 = rest[1..3].parse().ok()?;
        let om: i64 = rest[4..6].parse().ok()?;
        sign * (oh * 3600 + om * 60)
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset)
}

pub fn b64_encode(data: &[u8]) -> String {
    openssl::base64::encode_block(data)
}

/// Standard base64 with padding, as Go's encoding/json decodes []byte.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    if !s.len().is_multiple_of(4)
        || !s
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'=')
    {
        return None;
    }
    openssl::base64::decode_block(s).ok()
}

// ---------------------------------------------------------------------------------------------
// Field ownership

pub type Path = Vec<String>;

/// Top-level and metadata fields no manager owns.
fn unowned(kind: &Kind, path: &[String]) -> bool {
    match path {
        [] => true,
        [f] => f == "apiVersion" || f == "kind" || (kind.status && f == "status"),
        [m, f, ..] if m == "metadata" => matches!(
            f.as_str(),
            "name"
                | "namespace"
                | "uid"
                | "resourceVersion"
                | "generation"
                | "creationTimestamp"
                | "managedFields"
                | "selfLink"
                | "deletionTimestamp"
                | "deletionGracePeriodSeconds"
        ),
        _ => false,
    }
}

/// How server-side apply treats a list (the `x-kubernetes-list-type` of the real types).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ListType {
    Atomic,
    Set,
    /// Elements identified by these key fields.
    Map(&'static [&'static str]),
}

/// The list type of `field` under `parent` (a path of field names and element segments).
pub fn list_type(kind: &Kind, parent: &[String], field: &str) -> ListType {
    let in_container = parent.len() >= 2
        && parent[parent.len() - 1].starts_with("k:")
        && matches!(
            parent[parent.len() - 2].as_str(),
            "containers" | "initContainers" | "ephemeralContainers"
        );
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "imagePullSecrets" => ListType::Map(&["name"]),
        "env" if in_container => ListType::Map(&["name"]),
        "volumeMounts" if in_container => ListType::Map(&["mountPath"]),
        "ports" if in_container => ListType::Map(&["containerPort", "protocol"]),
        "ports" if kind.kind == "Service" && parent == ["spec"] => {
            ListType::Map(&["port", "protocol"])
        }
        "ownerReferences" if parent == ["metadata"] => ListType::Map(&["uid"]),
        "finalizers" if parent == ["metadata"] => ListType::Set,
        "hostAliases" => ListType::Map(&["ip"]),
        _ => ListType::Atomic,
    }
}

/// The path segment of a list-map element (`k:{"name":"coredns"}`), `None` when it lacks a key.
/// A missing `protocol` key is its default, TCP.
pub fn key_segment(item: &Value, keys: &[&str]) -> Option<String> {
    let mut key = BTreeMap::new();
    for k in keys {
        let v = match item.get(*k) {
            Some(v) if !v.is_null() => v.clone(),
            _ if *k == "protocol" => json!("TCP"),
            _ => return None,
        };
        key.insert(k.to_string(), v);
    }
    Some(format!("k:{}", serde_json::to_string(&key).unwrap()))
}

fn set_segment(item: &Value) -> String {
    format!("v:{item}")
}

/// The leaf paths of an object: maps are granular, list-maps and sets by element, atomic lists
/// and empty maps are leaves.
pub fn field_paths(kind: &Kind, obj: &Value) -> BTreeSet<Path> {
    fn walk(kind: &Kind, v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
        if unowned(kind, path) && !path.is_empty() {
            return;
        }
        match v {
            Value::Object(m) if !m.is_empty() || path.is_empty() => {
                for (k, child) in m {
                    path.push(k.clone());
                    walk(kind, child, path, out);
                    path.pop();
                }
            }
            Value::Array(items) if !items.is_empty() => {
                let (field, parent) = path.split_last().unwrap();
                match list_type(kind, parent, field) {
                    ListType::Atomic => {
                        out.insert(path.clone());
                    }
                    ListType::Set => {
                        for item in items {
                            path.push(set_segment(item));
                            out.insert(path.clone());
                            path.pop();
                        }
                    }
                    ListType::Map(keys) => {
                        let segs: Option<Vec<String>> =
                            items.iter().map(|i| key_segment(i, keys)).collect();
                        match segs {
                            Some(segs) => {
                                for (seg, item) in segs.into_iter().zip(items) {
                                    path.push(seg);
                                    walk(kind, item, path, out);
                                    path.pop();
                                }
                            }
                            None => {
                                out.insert(path.clone());
                            }
                        }
                    }
                }
            }
            Value::Null => {}
            _ => {
                out.insert(path.clone());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(kind, obj, &mut Vec::new(), &mut out);
    out
}

/// The index of the element a `k:` or `v:` segment names.
fn element_index(items: &[Value], seg: &str) -> Option<usize> {
    if let Some(key) = seg.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(key).ok()?;
        let keys: Vec<&str> = key.keys().map(String::as_str).collect();
        let want = key_segment(&Value::Object(key.clone()), &keys)?;
        items
            .iter()
            .position(|i| key_segment(i, &keys).as_deref() == Some(want.as_str()))
    } else if let Some(v) = seg.strip_prefix("v:") {
        let v: Value = serde_json::from_str(v).ok()?;
        items.iter().position(|i| *i == v)
    } else {
        None
    }
}

pub fn get_path<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = match cur {
            Value::Array(items) => &items[element_index(items, p)?],
            other => other.as_object()?.get(p)?,
        };
    }
    Some(cur)
}

pub fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for p in parents {
        let next = match cur {
            Value::Array(items) => match element_index(items, p) {
                Some(i) => &mut items[i],
                None => return,
            },
            Value::Object(m) => match m.get_mut(p) {
                Some(n) => n,
                None => return,
            },
            _ => return,
        };
        cur = next;
    }
    match cur {
        Value::Array(items) => {
            if let Some(i) = element_index(items, last) {
                items.remove(i);
            }
        }
        Value::Object(m) => {
            m.remove(last);
        }
        _ => {}
    }
}

/// Merges an apply configuration into an object: maps field by field, list-maps element by
/// element (by key), sets by value, atomic lists and scalars replaced.
pub fn merge_apply(kind: &Kind, target: &mut Value, src: &Value, path: &mut Path) {
    match (target, src) {
        (Value::Object(t), Value::Object(s)) => {
            for (k, v) in s {
                if v.is_null() {
                    t.remove(k);
                } else if let Some(tv) = t.get_mut(k) {
                    path.push(k.clone());
                    merge_apply(kind, tv, v, path);
                    path.pop();
                } else {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
        (Value::Array(t), Value::Array(s)) if !path.is_empty() => {
            let (field, parent) = path.split_last().unwrap();
            match list_type(kind, parent, field) {
                ListType::Atomic => *t = s.clone(),
                ListType::Set => {
                    for item in s {
                        if !t.contains(item) {
                            t.push(item.clone());
                        }
                    }
                }
                ListType::Map(keys) => {
                    let segs: Option<Vec<String>> =
                        s.iter().map(|i| key_segment(i, keys)).collect();
                    let Some(segs) = segs else {
                        *t = s.clone();
                        return;
                    };
                    for (seg, item) in segs.into_iter().zip(s) {
                        match element_index(t, &seg) {
                            Some(i) => {
                                path.push(seg);
                                merge_apply(kind, &mut t[i], item, path);
                                path.pop();
                            }
                            None => t.push(item.clone()),
                        }
                    }
                }
            }
        }
        (t, s) => *t = s.clone(),
    }
}

/// Whether one path is a prefix of the other (they touch the same field).
pub fn overlaps(a: &[String], b: &[String]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// FieldsV1 JSON (`{"f:data":{"f:key":{}}}`) of a set of paths.
pub fn fields_v1(paths: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for p in paths {
        let mut cur = &mut root;
        for seg in p {
            let key = if seg.starts_with("k:") || seg.starts_with("v:") {
                seg.clone()
            } else {
                format!("f:{seg}")
            };
            cur = cur
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .unwrap();
        }
    }
    Value::Object(root)
}

pub fn paths_of_fields_v1(v: &Value) -> BTreeSet<Path> {
    fn walk(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
        let m = v.as_object();
        let children: Vec<_> = m
            .map(|m| {
                m.iter()
                    .filter_map(|(k, c)| {
                        if let Some(f) = k.strip_prefix("f:") {
                            Some((f.to_string(), c))
                        } else if k.starts_with("k:") || k.starts_with("v:") {
                            Some((k.clone(), c))
                        } else {
                            None
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        if children.is_empty() {
            if !path.is_empty() {
                out.insert(path.clone());
            }
            return;
        }
        for (k, c) in children {
            path.push(k);
            walk(c, path, out);
            path.pop();
        }
    }
    let mut out = BTreeSet::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

/// One managedFields entry, parsed.
#[derive(Clone, Debug)]
pub struct Managed {
    pub manager: String,
    pub operation: String,
    pub paths: BTreeSet<Path>,
    pub time: String,
    pub subresource: Option<String>,
}

pub fn managed_of(obj: &Value) -> Vec<Managed> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| Managed {
                    manager: e["manager"].as_str().unwrap_or("").to_string(),
                    operation: e["operation"].as_str().unwrap_or("Update").to_string(),
                    paths: paths_of_fields_v1(&e["fieldsV1"]),
                    time: e["time"].as_str().unwrap_or("").to_string(),
                    subresource: e["subresource"].as_str().map(str::to_string),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn set_managed(kind: &Kind, obj: &mut Value, managed: &[Managed]) {
    let entries: Vec<Value> = managed
        .iter()
        .filter(|m| !m.paths.is_empty())
        .map(|m| {
            let mut e = json!({
                "manager": m.manager, "operation": m.operation, "apiVersion": kind.api_version(),
                "time": m.time, "fieldsType": "FieldsV1", "fieldsV1": fields_v1(&m.paths)
            });
            if let Some(s) = &m.subresource {
                e["subresource"] = json!(s);
            }
            e
        })
        .collect();
    if entries.is_empty() {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
    } else {
        obj["metadata"]["managedFields"] = Value::Array(entries);
    }
}

/// Ownership after a non-apply write by `manager`: it takes every field it changed or added;
/// fields removed leave every manager.
pub fn update_ownership(
    kind: &Kind,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
) {
    let mut managed = old.map(managed_of).unwrap_or_default();
    let new_paths = field_paths(kind, new);
    let old_paths = old.map(|o| field_paths(kind, o)).unwrap_or_default();
    let changed: BTreeSet<Path> = new_paths
        .iter()
        .filter(|p| old.and_then(|o| get_path(o, p)) != get_path(new, p))
        .cloned()
        .collect();
    let removed: Vec<&Path> = old_paths.difference(&new_paths).collect();
    for m in managed.iter_mut() {
        m.paths.retain(|p| {
            !changed.iter().any(|c| overlaps(c, p))
                && !removed.iter().any(|r| overlaps(r, p))
                && get_path(new, p).is_some()
        });
    }
    if !changed.is_empty() {
        let now = rfc3339(now_unix());
        match managed
            .iter_mut()
            .find(|m| m.manager == manager && m.operation == "Update")
        {
            Some(m) => {
                m.paths.extend(changed);
                m.time = now;
            }
            None => managed.push(Managed {
                manager: manager.to_string(),
                operation: "Update".into(),
                paths: changed,
                time: now,
                subresource: subresource.map(str::to_string),
            }),
        }
    }
    set_managed(kind, new, &managed);
}

/// Objects equal apart from managedFields times.
pub fn same_ignoring_times(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(entries) = v["metadata"]["managedFields"].as_array_mut() {
            for e in entries {
                if let Some(e) = e.as_object_mut() {
                    e.remove("time");
                }
            }
        }
        v
    };
    strip(a) == strip(b)
}
