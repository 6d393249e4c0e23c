//! The real server's semantic validation that the JSON schema cannot express, for the parts of
//! kinit's objects most likely to be wrong: pod templates (container and volume names, volume
//! mounts that name a volume, ports, quantities, restart and DNS policy, tolerations), Node
//! taints, Service ports and RBAC rules. Messages follow k8s.io/apimachinery field errors:
//! `<path>: <Type>: <detail>`.

use std::collections::BTreeSet;

use serde_json::Value;

type Causes = Vec<(String, String)>;

fn iana_svc_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && s.bytes().any(|c| c.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A resource quantity's value (`100m`, `170Mi`, `1.5G`, `2e3`), `None` when malformed.
pub fn quantity(s: &str) -> Option<f64> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    if num.is_empty() || num == "+" || num == "-" {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => 10f64.powi(e[1..].parse::<i32>().ok()?),
        _ => return None,
    };
    Some(n * mult)
}

const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

/// A pod template's spec at `at` (e.g. `spec.template.spec`).
pub fn pod_spec(spec: &Value, at: &str, causes: &mut Causes) {
    let mut volumes = BTreeSet::new();
    for (i, v) in spec["volumes"].as_array().into_iter().flatten().enumerate() {
        let name = v["name"].as_str().unwrap_or("");
        let p = format!("{at}.volumes[{i}]");
        if !dns_label(name) {
            causes.push((format!("{p}.name"), format!("Invalid value: {name:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character")));
        }
        if !volumes.insert(name.to_string()) {
            causes.push((format!("{p}.name"), format!("Duplicate value: {name:?}")));
        }
        let sources = VOLUME_SOURCES
            .iter()
            .filter(|s| v.get(**s).is_some())
            .count();
        if sources == 0 {
            causes.push((
                p.clone(),
                "Required value: must specify a volume type".into(),
            ));
        } else if sources > 1 {
            causes.push((
                p.clone(),
                "Forbidden: may not specify more than 1 volume type".into(),
            ));
        }
        if let Some(t) = v["hostPath"]["type"].as_str() {
            let ok = [
                "",
                "DirectoryOrCreate",
                "Directory",
                "FileOrCreate",
                "File",
                "Socket",
                "CharDevice",
                "BlockDevice",
            ];
            if !ok.contains(&t) {
                causes.push((
                    format!("{p}.hostPath.type"),
                    format!("Unsupported value: {t:?}"),
                ));
            }
        }
    }
    let mut names = BTreeSet::new();
    for field in ["initContainers", "containers"] {
        for (i, c) in spec[field].as_array().into_iter().flatten().enumerate() {
            let p = format!("{at}.{field}[{i}]");
            container(c, &p, &volumes, &mut names, causes);
        }
    }
    if let Some(rp) = spec["restartPolicy"].as_str() {
        if rp != "Always" {
            causes.push((
                format!("{at}.restartPolicy"),
                format!("Unsupported value: {rp:?}: supported values: \"Always\""),
            ));
        }
    }
    if let Some(dp) = spec["dnsPolicy"].as_str() {
        if !["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"].contains(&dp) {
            causes.push((
                format!("{at}.dnsPolicy"),
                format!("Unsupported value: {dp:?}"),
            ));
        }
    }
    for (i, t) in spec["tolerations"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let p = format!("{at}.tolerations[{i}]");
        let op = t["operator"].as_str().unwrap_or("Equal");
        let key = t["key"].as_str().unwrap_or("");
        let value = t["value"].as_str().unwrap_or("");
        match op {
            "Exists" if !value.is_empty() => causes.push((format!("{p}.operator"), format!("Invalid value: {value:?}: value must be empty when `operator` is 'Exists'"))),
            "Equal" if key.is_empty() => causes.push((format!("{p}.operator"), "Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"".into())),
            "Exists" | "Equal" => {}
            other => causes.push((format!("{p}.operator"), format!("Unsupported value: {other:?}: supported values: \"Equal\", \"Exists\""))),
        }
        if let Some(e) = t["effect"].as_str() {
            if !["", "NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&e) {
                causes.push((format!("{p}.effect"), format!("Unsupported value: {e:?}: supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"")));
            }
        }
    }
}

fn container(
    c: &Value,
    p: &str,
    volumes: &BTreeSet<String>,
    names: &mut BTreeSet<String>,
    causes: &mut Causes,
) {
    let name = c["name"].as_str().unwrap_or("");
    if !dns_label(name) {
        causes.push((format!("{p}.name"), format!("Invalid value: {name:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character")));
    } else if !names.insert(name.to_string()) {
        causes.push((format!("{p}.name"), format!("Duplicate value: {name:?}")));
    }
    if c["image"].as_str().is_none_or(|i| i.trim().is_empty()) {
        causes.push((format!("{p}.image"), "Required value".into()));
    }
    let mut mount_paths = BTreeSet::new();
    for (i, m) in c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let mp = format!("{p}.volumeMounts[{i}]");
        let vn = m["name"].as_str().unwrap_or("");
        if !volumes.contains(vn) {
            causes.push((format!("{mp}.name"), format!("Not found: {vn:?}")));
        }
        let path = m["mountPath"].as_str().unwrap_or("");
        if path.is_empty() {
            causes.push((format!("{mp}.mountPath"), "Required value".into()));
        } else if !mount_paths.insert(path.to_string()) {
            causes.push((
                format!("{mp}.mountPath"),
                format!("Invalid value: {path:?}: must be unique"),
            ));
        }
    }
    let mut port_names = BTreeSet::new();
    for (i, port) in c["ports"].as_array().into_iter().flatten().enumerate() {
        let pp = format!("{p}.ports[{i}]");
        let cp = port["containerPort"].as_i64().unwrap_or(0);
        if !(1..=65535).contains(&cp) {
            causes.push((
                format!("{pp}.containerPort"),
                format!("Invalid value: {cp}: must be between 1 and 65535, inclusive"),
            ));
        }
        if let Some(hp) = port["hostPort"].as_i64() {
            if !(0..=65535).contains(&hp) {
                causes.push((
                    format!("{pp}.hostPort"),
                    format!("Invalid value: {hp}: must be between 1 and 65535, inclusive"),
                ));
            }
        }
        if let Some(n) = port["name"].as_str() {
            if !iana_svc_name(n) {
                causes.push((format!("{pp}.name"), format!("Invalid value: {n:?}: must be no more than 15 characters and contain only lowercase alphanumerics and '-', with at least one letter")));
            } else if !port_names.insert(n.to_string()) {
                causes.push((format!("{pp}.name"), format!("Duplicate value: {n:?}")));
            }
        }
        protocol(&port["protocol"], &format!("{pp}.protocol"), causes);
    }
    let res = &c["resources"];
    for kind in ["limits", "requests"] {
        for (k, v) in res[kind].as_object().into_iter().flatten() {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            if quantity(&s).is_none() {
                causes.push((format!("{p}.resources.{kind}[{k}]"), format!("Invalid value: {s:?}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")));
            }
        }
    }
    for (k, req) in res["requests"].as_object().into_iter().flatten() {
        let lim = &res["limits"][k];
        let q = |v: &Value| match v {
            Value::String(s) => quantity(s),
            Value::Number(n) => n.as_f64(),
            _ => None,
        };
        if let (Some(r), Some(l)) = (q(req), q(lim)) {
            if r > l {
                causes.push((
                    format!("{p}.resources.requests"),
                    format!(
                        "Invalid value: {req}: must be less than or equal to {k} limit of {lim}"
                    ),
                ));
            }
        }
    }
    for (k, _) in res["limits"]
        .as_object()
        .into_iter()
        .flatten()
        .chain(res["requests"].as_object().into_iter().flatten())
    {
        let standard = ["cpu", "memory", "ephemeral-storage", "storage"].contains(&k.as_str())
            || k.starts_with("hugepages-")
            || k.split_once('/')
                .is_some_and(|(d, n)| d.contains('.') && !n.is_empty());
        if !standard {
            causes.push((
                format!("{p}.resources"),
                format!(
                    "Invalid value: {k:?}: must be a standard resource type or fully qualified"
                ),
            ));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let pr = &c[probe];
        if pr.is_null() {
            continue;
        }
        let handlers = ["exec", "httpGet", "tcpSocket", "grpc"]
            .iter()
            .filter(|h| !pr[**h].is_null())
            .count();
        if handlers == 0 {
            causes.push((
                format!("{p}.{probe}"),
                "Required value: must specify a handler type".into(),
            ));
        } else if handlers > 1 {
            causes.push((
                format!("{p}.{probe}"),
                "Forbidden: may not specify more than 1 handler type".into(),
            ));
        }
        for h in ["httpGet", "tcpSocket"] {
            match &pr[h]["port"] {
                Value::Number(n) if !(1..=65535).contains(&n.as_i64().unwrap_or(0)) => causes.push((format!("{p}.{probe}.{h}.port"), format!("Invalid value: {n}: must be between 1 and 65535, inclusive"))),
                Value::String(s) if !iana_svc_name(s) => causes.push((format!("{p}.{probe}.{h}.port"), format!("Invalid value: {s:?}: must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"))),
                _ => {}
            }
        }
        if probe != "livenessProbe" && probe != "startupProbe" {
            continue;
        }
        if pr["successThreshold"].as_i64().is_some_and(|t| t != 1) {
            causes.push((
                format!("{p}.{probe}.successThreshold"),
                "Invalid value: must be 1".into(),
            ));
        }
    }
    let sc = &c["securityContext"];
    if sc["privileged"] == true && sc["allowPrivilegeEscalation"] == false {
        causes.push((format!("{p}.securityContext"), "Invalid value: \"\": cannot set `allowPrivilegeEscalation` to false and `privileged` to true".into()));
    }
    for (i, e) in c["env"].as_array().into_iter().flatten().enumerate() {
        let n = e["name"].as_str().unwrap_or("");
        if n.is_empty() || n.contains('=') || !n.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            causes.push((format!("{p}.env[{i}].name"), format!("Invalid value: {n:?}: a valid environment variable name must consist only of printable ASCII characters other than '='")));
        }
        if let Some(from) = e.get("valueFrom").and_then(Value::as_object) {
            let sources = [
                "fieldRef",
                "resourceFieldRef",
                "configMapKeyRef",
                "secretKeyRef",
                "fileKeyRef",
            ]
            .iter()
            .filter(|s| from.get(**s).is_some_and(|v| !v.is_null()))
            .count();
            if sources != 1 {
                causes.push((
                    format!("{p}.env[{i}].valueFrom"),
                    "Invalid value: \"\": may not have more than one field specified at a time"
                        .into(),
                ));
            }
            if let Some(path) = from.get("fieldRef").and_then(|f| f["fieldPath"].as_str()) {
                let ok = [
                    "metadata.name",
                    "metadata.namespace",
                    "metadata.uid",
                    "spec.nodeName",
                    "spec.serviceAccountName",
                    "status.hostIP",
                    "status.hostIPs",
                    "status.podIP",
                    "status.podIPs",
                ]
                .contains(&path)
                    || path.starts_with("metadata.labels['")
                    || path.starts_with("metadata.annotations['");
                if !ok {
                    causes.push((
                        format!("{p}.env[{i}].valueFrom.fieldRef.fieldPath"),
                        format!("Unsupported value: {path:?}"),
                    ));
                }
            }
        }
        if e.get("value").is_some_and(|v| !v.is_null())
            && e.get("valueFrom").is_some_and(|v| !v.is_null())
        {
            causes.push((
                format!("{p}.env[{i}].valueFrom"),
                "Invalid value: \"\": may not be specified when `value` is not empty".into(),
            ));
        }
    }
}

fn protocol(v: &Value, at: &str, causes: &mut Causes) {
    if let Some(p) = v.as_str() {
        if !["TCP", "UDP", "SCTP"].contains(&p) {
            causes.push((
                at.to_string(),
                format!("Unsupported value: {p:?}: supported values: \"SCTP\", \"TCP\", \"UDP\""),
            ));
        }
    }
}

/// Node taints: effect, key, unique by key and effect.
pub fn node(node: &Value, causes: &mut Causes) {
    let mut seen = BTreeSet::new();
    for (i, t) in node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let key = t["key"].as_str().unwrap_or("");
        let effect = t["effect"].as_str().unwrap_or("");
        let p = format!("spec.taints[{i}]");
        if key.is_empty() {
            causes.push((format!("{p}.key"), "Required value".into()));
        }
        if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
            causes.push((format!("{p}.effect"), format!("Unsupported value: {effect:?}: supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"")));
        }
        if !seen.insert((key.to_string(), effect.to_string())) {
            causes.push((
                p,
                format!(
                    "Duplicate value: {}: taints must be unique by key and effect pair",
                    t
                ),
            ));
        }
    }
}

/// Service ports: ranges, names (required when more than one), uniqueness.
pub fn service(svc: &Value, causes: &mut Causes) {
    let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let mut names = BTreeSet::new();
    let mut pairs = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = format!("spec.ports[{i}]");
        let name = port["name"].as_str().unwrap_or("");
        if ports.len() > 1 && name.is_empty() {
            causes.push((format!("{p}.name"), "Required value".into()));
        }
        if !name.is_empty() && !names.insert(name.to_string()) {
            causes.push((format!("{p}.name"), format!("Duplicate value: {name:?}")));
        }
        if !name.is_empty() && !dns_label(name) {
            causes.push((format!("{p}.name"), format!("Invalid value: {name:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'")));
        }
        let num = port["port"].as_i64().unwrap_or(0);
        if !(1..=65535).contains(&num) {
            causes.push((
                format!("{p}.port"),
                format!("Invalid value: {num}: must be between 1 and 65535, inclusive"),
            ));
        }
        let proto = port["protocol"].as_str().unwrap_or("TCP").to_string();
        protocol(&port["protocol"], &format!("{p}.protocol"), causes);
        if !pairs.insert((num, proto)) {
            causes.push((p.clone(), format!("Duplicate value: {}", port)));
        }
        match &port["targetPort"] {
            Value::Number(n) if !(1..=65535).contains(&n.as_i64().unwrap_or(0)) => causes.push((format!("{p}.targetPort"), format!("Invalid value: {n}: must be between 1 and 65535, inclusive"))),
            Value::String(s) if !iana_svc_name(s) => causes.push((format!("{p}.targetPort"), format!("Invalid value: {s:?}: must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"))),
            _ => {}
        }
    }
}

/// RBAC PolicyRules of a Role (namespaced) or ClusterRole.
pub fn rbac_rules(obj: &Value, namespaced: bool, causes: &mut Causes) {
    for (i, r) in obj["rules"].as_array().into_iter().flatten().enumerate() {
        let p = format!("rules[{i}]");
        let len = |f: &str| r[f].as_array().map_or(0, Vec::len);
        if len("verbs") == 0 {
            causes.push((
                format!("{p}.verbs"),
                "Required value: verbs must contain at least one value".into(),
            ));
        }
        if len("nonResourceURLs") > 0 {
            if namespaced {
                causes.push((
                    format!("{p}.nonResourceURLs"),
                    format!(
                        "Invalid value: {}: namespaced rules cannot apply to non-resource URLs",
                        r["nonResourceURLs"]
                    ),
                ));
            }
            if len("apiGroups") > 0 || len("resources") > 0 {
                causes.push((format!("{p}.nonResourceURLs"), format!("Invalid value: {}: rules cannot apply to both regular resources and non-resource URLs", r["nonResourceURLs"])));
            }
            continue;
        }
        if len("apiGroups") == 0 {
            causes.push((
                format!("{p}.apiGroups"),
                "Required value: resource rules must supply at least one api group".into(),
            ));
        }
        if len("resources") == 0 {
            causes.push((
                format!("{p}.resources"),
                "Required value: resource rules must supply at least one resource".into(),
            ));
        }
    }
}

/// An int-or-percent (`maxUnavailable`, `maxSurge`): a non-negative integer or "N%".
pub fn int_or_percent(v: &Value, at: &str, causes: &mut Causes) {
    match v {
        Value::Null => {}
        Value::Number(n) if n.as_i64().is_some_and(|n| n >= 0) => {}
        Value::String(s)
            if s.strip_suffix('%').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) => {}
        other => causes.push((at.to_string(), format!("Invalid value: {other}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"))),
    }
}

/// A CertificateSigningRequest's usages and expirationSeconds.
pub fn csr(obj: &Value, causes: &mut Causes) {
    const USAGES: &[&str] = &[
        "signing",
        "digital signature",
        "content commitment",
        "key encipherment",
        "key agreement",
        "data encipherment",
        "cert sign",
        "crl sign",
        "encipher only",
        "decipher only",
        "any",
        "server auth",
        "client auth",
        "code signing",
        "email protection",
        "s/mime",
        "ipsec end system",
        "ipsec tunnel",
        "ipsec user",
        "timestamping",
        "ocsp signing",
        "microsoft sgc",
        "netscape sgc",
    ];
    for (i, u) in obj["spec"]["usages"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let u = u.as_str().unwrap_or("");
        if !USAGES.contains(&u) {
            causes.push((
                format!("spec.usages[{i}]"),
                format!("Unsupported value: {u:?}"),
            ));
        }
    }
    if let Some(e) = obj["spec"]["expirationSeconds"].as_i64() {
        if e < 600 {
            causes.push(("spec.expirationSeconds".into(), format!("Invalid value: {e}: may not specify a duration less than 600 seconds (10 minutes)")));
        }
    }
    let signer = obj["spec"]["signerName"].as_str().unwrap_or("");
    let ok = signer.split_once('/').is_some_and(|(d, n)| {
        !d.is_empty() && !n.is_empty() && d.split('.').count() >= 2 && !n.contains('/')
    });
    if !ok {
        causes.push(("spec.signerName".into(), format!("Invalid value: {signer:?}: must be a fully qualified domain and path of the form 'example.com/signer-name'")));
    }
}
