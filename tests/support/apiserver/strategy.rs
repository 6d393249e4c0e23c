//! The per-kind rules of the real server's strategies and validation that the schema does not
//! express: defaults, immutable fields, the ClusterIP allocator, and the semantic checks.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::rest::*;
use super::store::{self, *};
use super::*;

/// Service defaults (type, sessionAffinity, port protocol and targetPort, IP families) and the
/// ClusterIP allocator: an IP from the service CIDR, never one another Service holds, never
/// changed once set.
pub fn service_rules(
    store: &Store,
    old: Option<&Value>,
    new: &mut Value,
    causes: &mut Vec<(String, String)>,
) {
    let name = meta_str(new, "name");
    let ns = meta_str(new, "namespace");
    let spec = &mut new["spec"];
    if !spec.is_object() {
        return;
    }
    if spec["type"].as_str().is_none_or(str::is_empty) {
        spec["type"] = json!("ClusterIP");
    }
    if spec["type"] == "ExternalName" {
        return;
    }
    if spec["sessionAffinity"].is_null() {
        spec["sessionAffinity"] = json!("None");
    }
    if spec["internalTrafficPolicy"].is_null() {
        spec["internalTrafficPolicy"] = json!("Cluster");
    }
    if let Some(ports) = spec["ports"].as_array_mut() {
        for p in ports {
            if p["protocol"].is_null() {
                p["protocol"] = json!("TCP");
            }
            if p["targetPort"].is_null() {
                p["targetPort"] = p["port"].clone();
            }
        }
    }
    let range = store.service_cidr;
    let cidr = range.to_string();
    let old_ip = old
        .and_then(|o| o["spec"]["clusterIP"].as_str())
        .unwrap_or("")
        .to_string();
    let mut ip = spec["clusterIP"].as_str().unwrap_or("").to_string();
    if ip.is_empty() {
        if let Some(first) = spec["clusterIPs"].get(0).and_then(Value::as_str) {
            ip = first.to_string();
        }
    }
    if !old_ip.is_empty() {
        if ip.is_empty() {
            ip = old_ip.clone();
        } else if ip != old_ip {
            causes.push((
                "spec.clusterIPs[0]".into(),
                format!("Invalid value: {ip:?}: may not change once set"),
            ));
            return;
        }
    } else if ip == "None" {
        // headless
    } else {
        let held: BTreeSet<String> = store
            .list(store::kind_by_name("Service").unwrap(), None)
            .into_iter()
            .filter(|o| {
                !(o["metadata"]["name"] == name.as_str()
                    && o["metadata"]["namespace"] == ns.as_str())
            })
            .filter_map(|o| o["spec"]["clusterIP"].as_str().map(str::to_string))
            .collect();
        if ip.is_empty() {
            let free = (1..range.size().saturating_sub(1))
                .map(|i| range.address(i))
                .find(|c| !held.contains(c));
            match free {
                Some(f) => ip = f,
                None => {
                    causes.push((
                        "spec.clusterIPs".into(),
                        "Internal error: range is full".into(),
                    ));
                    return;
                }
            }
        } else {
            let valid = ip.parse::<std::net::IpAddr>().is_ok();
            match range.parse_address(&ip) {
                None if valid => causes.push(("spec.clusterIPs".into(), format!("Invalid value: [\"{ip}\"]: failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {cidr}"))),
                None => causes.push(("spec.clusterIPs[0]".into(), format!("Invalid value: {ip:?}: must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))),
                Some(a) if !range.contains(a) => causes.push(("spec.clusterIPs".into(), format!("Invalid value: [\"{ip}\"]: failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {cidr}"))),
                Some(_) if held.contains(&ip) => causes.push(("spec.clusterIPs".into(), format!("Invalid value: [\"{ip}\"]: failed to allocate IP {ip}: provided IP is already allocated"))),
                Some(_) => {}
            }
        }
    }
    if let Some(ips) = spec["clusterIPs"].as_array() {
        if ips.first().and_then(Value::as_str).is_some_and(|f| f != ip) {
            causes.push((
                "spec.clusterIPs".into(),
                format!(
                    "Invalid value: {}: must match clusterIP",
                    spec["clusterIPs"]
                ),
            ));
        }
    }
    spec["clusterIP"] = json!(ip);
    spec["clusterIPs"] = json!([ip]);
    if ip != "None" {
        if spec["ipFamilies"].is_null() {
            let family = if range.is_ipv6() { "IPv6" } else { "IPv4" };
            spec["ipFamilies"] = json!([family]);
        }
        if spec["ipFamilyPolicy"].is_null() {
            spec["ipFamilyPolicy"] = json!("SingleStack");
        }
    }
}

/// The per-kind rules of the real server's strategies and validation that the schema does not
/// express.
pub fn kind_rules(_store: &Store, ctx: &Ctx, old: Option<&Value>, new: &mut Value) -> Result<()> {
    let kind = ctx.kind;
    let name = meta_str(new, "name");
    let mut causes: Vec<(String, String)> = Vec::new();
    let immutable_flag = |o: Option<&Value>| o.is_some_and(|o| o["immutable"] == true);
    match kind.kind {
        "Secret" => {
            if let Some(Value::Object(sd)) = new.get("stringData").cloned() {
                if !new["data"].is_object() {
                    new["data"] = json!({});
                }
                for (k, v) in sd {
                    let s = v
                        .as_str()
                        .ok_or_else(|| bad_request("stringData values must be strings"))?;
                    new["data"][k] = json!(b64_encode(s.as_bytes()));
                }
            }
            if let Some(m) = new.as_object_mut() {
                m.remove("stringData");
            }
            if new
                .get("type")
                .is_none_or(|t| t.as_str().is_none_or(str::is_empty))
            {
                new["type"] = json!("Opaque");
            }
            if let Some(data) = new["data"].as_object() {
                for (k, v) in data {
                    let ok = v.as_str().is_some_and(|s| b64_decode(s).is_some());
                    if !ok {
                        return Err(bad_request(&format!(
                            "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data in data[{k:?}]"
                        )));
                    }
                    if !validate::config_key_ok(k) {
                        causes.push((format!("data[{k}]"), format!("Invalid value: {k:?}: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")));
                    }
                }
            }
            if let Some(o) = old {
                if o["type"] != new["type"] {
                    causes.push((
                        "type".into(),
                        format!("Invalid value: {}: field is immutable", new["type"]),
                    ));
                }
                if immutable_flag(old) {
                    if o.get("data") != new.get("data") {
                        causes.push((
                            "data".into(),
                            "Forbidden: field is immutable when `immutable` is set".into(),
                        ));
                    }
                    if new["immutable"] != true {
                        causes.push((
                            "immutable".into(),
                            "Forbidden: field is immutable when `immutable` is set".into(),
                        ));
                    }
                }
            }
        }
        "ConfigMap" => {
            let mut keys = BTreeSet::new();
            for field in ["data", "binaryData"] {
                if let Some(d) = new[field].as_object() {
                    for (k, v) in d {
                        if !validate::config_key_ok(k) {
                            causes.push((format!("{field}[{k}]"), format!("Invalid value: {k:?}: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")));
                        }
                        if !keys.insert(k.clone()) {
                            causes.push((
                                format!("{field}[{k}]"),
                                format!("Invalid value: {k:?}: duplicate of key present in data"),
                            ));
                        }
                        if field == "binaryData"
                            && v.as_str().is_none_or(|s| b64_decode(s).is_none())
                        {
                            return Err(bad_request(&format!(
                                "illegal base64 data in binaryData[{k:?}]"
                            )));
                        }
                    }
                }
            }
            if let Some(o) = old {
                if immutable_flag(old) {
                    if o.get("data") != new.get("data")
                        || o.get("binaryData") != new.get("binaryData")
                    {
                        causes.push((
                            "data".into(),
                            "Forbidden: field is immutable when `immutable` is set".into(),
                        ));
                    }
                    if new["immutable"] != true {
                        causes.push((
                            "immutable".into(),
                            "Forbidden: field is immutable when `immutable` is set".into(),
                        ));
                    }
                }
            }
        }
        "Namespace" => {
            if !new["metadata"]["labels"].is_object() {
                new["metadata"]["labels"] = json!({});
            }
            new["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            if new["spec"]["finalizers"].is_null() {
                new["spec"]["finalizers"] = json!(["kubernetes"]);
            }
            if old.is_none() {
                new["status"] = json!({"phase": "Active"});
            }
        }
        "Service" => {
            service_rules(_store, old, new, &mut causes);
            super::checks::service(new, &mut causes);
        }
        "Node" => super::checks::node(new, &mut causes),
        "Role" | "ClusterRole" => super::checks::rbac_rules(new, kind.kind == "Role", &mut causes),
        "RoleBinding" | "ClusterRoleBinding" => {
            let rr = &new["roleRef"];
            if rr["apiGroup"] != "rbac.authorization.k8s.io" {
                causes.push((
                    "roleRef.apiGroup".into(),
                    format!(
                        "Unsupported value: {}: supported values: \"rbac.authorization.k8s.io\"",
                        rr["apiGroup"]
                    ),
                ));
            }
            let ok_kinds: &[&str] = if kind.kind == "RoleBinding" {
                &["Role", "ClusterRole"]
            } else {
                &["ClusterRole"]
            };
            if !rr["kind"].as_str().is_some_and(|k| ok_kinds.contains(&k)) {
                causes.push((
                    "roleRef.kind".into(),
                    format!(
                        "Unsupported value: {}: supported values: {}",
                        rr["kind"],
                        ok_kinds
                            .iter()
                            .map(|k| format!("{k:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if rr["name"].as_str().is_none_or(str::is_empty) {
                causes.push(("roleRef.name".into(), "Required value".into()));
            }
            // The real server's defaulting (SetDefaults_Subject) runs before validation: a User or
            // Group subject without apiGroup gets the RBAC group, as kubeadm's subjects rely on.
            if let Some(subjects) = new["subjects"].as_array_mut() {
                for s in subjects.iter_mut() {
                    let person = matches!(s["kind"].as_str(), Some("User" | "Group"));
                    if person && s.get("apiGroup").is_none_or(|g| g.is_null() || g == "") {
                        s["apiGroup"] = json!("rbac.authorization.k8s.io");
                    }
                }
            }
            if let Some(subjects) = new["subjects"].as_array() {
                for (i, s) in subjects.iter().enumerate() {
                    match s["kind"].as_str().unwrap_or("") {
                        "ServiceAccount" => {
                            if kind.kind == "ClusterRoleBinding" && s["namespace"].as_str().is_none_or(str::is_empty) {
                                causes.push((format!("subjects[{i}].namespace"), "Required value".into()));
                            }
                            if s.get("apiGroup").and_then(Value::as_str).is_some_and(|g| !g.is_empty()) {
                                causes.push((format!("subjects[{i}].apiGroup"), format!("Unsupported value: {}: supported values: \"\"", s["apiGroup"])));
                            }
                        }
                        "User" | "Group" => {
                            if s["apiGroup"] != "rbac.authorization.k8s.io" {
                                causes.push((format!("subjects[{i}].apiGroup"), format!("Unsupported value: {}: supported values: \"rbac.authorization.k8s.io\"", s["apiGroup"])));
                            }
                        }
                        other => causes.push((format!("subjects[{i}].kind"), format!("Unsupported value: {other:?}: supported values: \"ServiceAccount\", \"User\", \"Group\""))),
                    }
                    if s["name"].as_str().is_none_or(str::is_empty) {
                        causes.push((format!("subjects[{i}].name"), "Required value".into()));
                    }
                }
            }
            if let Some(o) = old {
                if o["roleRef"] != new["roleRef"] {
                    causes.push((
                        "roleRef".into(),
                        format!("Invalid value: {}: cannot change roleRef", new["roleRef"]),
                    ));
                }
            }
        }
        "Deployment" | "DaemonSet" => {
            super::checks::pod_spec(
                &new["spec"]["template"]["spec"],
                "spec.template.spec",
                &mut causes,
            );
            for (strategy, field) in [
                ("strategy", "rollingUpdate"),
                ("updateStrategy", "rollingUpdate"),
            ] {
                for f in ["maxUnavailable", "maxSurge"] {
                    super::checks::int_or_percent(
                        &new["spec"][strategy][field][f],
                        &format!("spec.{strategy}.{field}.{f}"),
                        &mut causes,
                    );
                }
            }
            if new["spec"]["replicas"].as_i64().is_some_and(|r| r < 0) {
                causes.push((
                    "spec.replicas".into(),
                    format!(
                        "Invalid value: {}: must be greater than or equal to 0",
                        new["spec"]["replicas"]
                    ),
                ));
            }
            let selector = &new["spec"]["selector"];
            let labels = &new["spec"]["template"]["metadata"]["labels"];
            if let Some(ml) = selector["matchLabels"].as_object() {
                if ml.iter().any(|(k, v)| labels.get(k) != Some(v)) {
                    causes.push((
                        "spec.template.metadata.labels".into(),
                        format!(
                            "Invalid value: {labels}: `selector` does not match template `labels`"
                        ),
                    ));
                }
            }
            if selector.is_object() && selector.as_object().unwrap().is_empty() {
                causes.push((
                    "spec.selector".into(),
                    "Invalid value: {}: empty selector is invalid for deployment".into(),
                ));
            }
            if let Some(o) = old {
                if o["spec"]["selector"] != new["spec"]["selector"] {
                    causes.push((
                        "spec.selector".into(),
                        format!(
                            "Invalid value: {}: field is immutable",
                            new["spec"]["selector"]
                        ),
                    ));
                }
            }
        }
        "CertificateSigningRequest" if old.is_none() => {
            super::checks::csr(new, &mut causes);
            let req = new["spec"]["request"].as_str().and_then(b64_decode);
            let ok = req.as_deref().is_some_and(|pem| {
                openssl::x509::X509Req::from_pem(pem)
                    .is_ok_and(|r| r.public_key().is_ok_and(|k| r.verify(&k).unwrap_or(false)))
            });
            if !ok {
                causes.push((
                    "spec.request".into(),
                    "Invalid value: []byte{...}: PEM block type must be CERTIFICATE REQUEST".into(),
                ));
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(invalid(kind, &name, &causes))
    }
}
