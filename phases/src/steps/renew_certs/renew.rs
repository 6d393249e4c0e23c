//! `kinit certs renew`: each certificate made again by the CA on disk, for a new leaf period from now,
//! with the subject, names and usages it has today and, as kubeadm's renewal does, a new private key of
//! the configured algorithm.

use super::{
    embedded_client, file_of, long_name, managed, read_cert, read_key, Dirs, Managed, Source,
    RENEWABLE,
};
use crate::domain::config::resolve::InitConfig;
use crate::domain::kubeconfig::base64;
use crate::domain::pki::cert::{self, CertProfile, Usage, Validity};
use crate::domain::pki::keys::{self, KeyAlgorithm};
use crate::exec::effects::Effects;
use crate::steps::certs::{path, CERT_MODE};
use crate::steps::kubeconfig::KUBECONFIG_MODE;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509ExtendedKeyUsage, X509};
use serde_json::Value;

/// One renewed file, made in memory and not written yet.
#[derive(Debug, Clone)]
pub struct Renewal {
    pub name: String,
    pub long_name: &'static str,
    pub file: String,
    /// notAfter of the new certificate, seconds since the epoch.
    pub not_after: i64,
    content: Vec<u8>,
    mode: u32,
    /// The new key file next to a renewed certificate file (kubeconfigs embed theirs).
    key_file: Option<(String, Vec<u8>)>,
}

/// The managed certificates `name` stands for: one, or every one with `all`.
pub fn select(config: &InitConfig, name: &str) -> Result<Vec<Managed>, String> {
    let list = managed(config)?;
    if name == "all" {
        return Ok(list);
    }
    if let Some(item) = list.iter().find(|m| m.name == name) {
        return Ok(vec![item.clone()]);
    }
    if RENEWABLE.contains(&name) {
        return Err(format!(
            "{name} is not kinit's to renew: with external etcd (etcd.external in the configuration) the etcd certificates are managed with that etcd"
        ));
    }
    Err(format!(
        "unknown certificate {name:?}: choose one of all, {}",
        RENEWABLE.join(", ")
    ))
}

/// What the certificate says today, to be said again by the new one.
fn profile_of(existing: &X509) -> CertProfile {
    let (dns_names, ips) = cert::alt_names(existing);
    let extended = existing
        .extended_key_usage()
        .unwrap_or(X509ExtendedKeyUsage::empty());
    let mut usages = Vec::new();
    if extended.contains(X509ExtendedKeyUsage::SSL_SERVER) {
        usages.push(Usage::ServerAuth);
    }
    if extended.contains(X509ExtendedKeyUsage::SSL_CLIENT) {
        usages.push(Usage::ClientAuth);
    }
    CertProfile {
        common_name: cert::common_name(existing),
        organizations: cert::organizations(existing),
        dns_names,
        ips,
        usages,
        is_ca: false,
    }
}

/// The certificate made again for a new key, saying what the old one said.
fn resign(
    existing: &X509,
    signer: (&X509, &PKey<Private>),
    validity: Validity,
    algorithm: KeyAlgorithm,
) -> Result<(X509, PKey<Private>), String> {
    let key = algorithm.generate()?;
    let (ca, ca_key) = signer;
    let renewed = cert::build(&profile_of(existing), &key, Some((ca, ca_key)), validity)?;
    Ok((renewed, key))
}

/// The entries of a kubeconfig list (`users`, `clusters`) called `name`.
fn entries_named<'a>(
    value: &'a mut Value,
    list: &str,
    name: &'a Value,
) -> impl Iterator<Item = &'a mut Value> + 'a {
    value
        .get_mut(list)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter(move |entry| &entry["name"] == name)
}

/// The kubeconfig with the new client certificate, and the CA data set to the CA that signed it (as
/// kubeadm does, for a CA that was rotated); every other field stays as it is.
fn renewed_kubeconfig(
    text: &str,
    file: &str,
    client: (&X509, &PKey<Private>),
    ca: &X509,
) -> Result<Vec<u8>, String> {
    let (client, client_key) = client;
    let mut value = crate::domain::config::yaml::parse_documents(text)
        .map_err(|e| format!("{file} is not valid YAML (line {}): {}", e.line, e.message))?
        .into_iter()
        .next()
        .ok_or_else(|| format!("{file} is empty"))?
        .value;
    let current = value["current-context"].as_str().unwrap_or("").to_string();
    let context = value["contexts"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["name"] == current.as_str()))
        .map(|c| c["context"].clone())
        .ok_or_else(|| format!("{file} has no usable current context"))?;
    let (user, cluster) = (context["user"].clone(), context["cluster"].clone());
    let client_pem = base64(&cert::to_pem(client)?);
    let key_pem = base64(&keys::private_key_pem(client_key)?);
    let ca_pem = base64(&cert::to_pem(ca)?);
    for entry in entries_named(&mut value, "users", &user) {
        if let Some(fields) = entry["user"].as_object_mut() {
            fields.insert(
                "client-certificate-data".into(),
                Value::String(client_pem.clone()),
            );
            fields.insert("client-key-data".into(), Value::String(key_pem.clone()));
        }
    }
    for entry in entries_named(&mut value, "clusters", &cluster) {
        // A cluster that names a CA file keeps it: clients refuse both forms together.
        if let Some(fields) = entry["cluster"].as_object_mut() {
            if fields.contains_key("certificate-authority-data") {
                fields.insert(
                    "certificate-authority-data".into(),
                    Value::String(ca_pem.clone()),
                );
            }
        }
    }
    Ok(crate::domain::config::to_yaml(&value)?.into_bytes())
}

fn plan_one(
    effects: &dyn Effects,
    dirs: &Dirs,
    item: &Managed,
    validity: Validity,
    algorithm: KeyAlgorithm,
) -> Result<Renewal, String> {
    let file = file_of(item, dirs);
    let ca_crt = path(&dirs.cert_dir, item.ca_base, "crt");
    let ca_key_file = path(&dirs.cert_dir, item.ca_base, "key");
    let Some(ca) = read_cert(effects, &ca_crt)? else {
        return Err(format!(
            "cannot renew {}: the CA certificate {ca_crt} is missing",
            item.name
        ));
    };
    let Some(ca_key) = read_key(effects, &ca_key_file)? else {
        return Err(format!(
            "cannot renew {}: {ca_key_file} is missing, so {} is an external CA and only its keeper can sign {file} again",
            item.name, item.ca_name
        ));
    };
    let missing = || {
        format!(
            "cannot renew {}: {file} is missing (`kinit init phase {} {}` makes it)",
            item.name,
            if matches!(item.source, Source::Files { .. }) {
                "certs"
            } else {
                "kubeconfig"
            },
            item.name.trim_end_matches(".conf")
        )
    };
    let (content, not_after, mode, key_file) = match item.source {
        Source::Files { base } => {
            let existing = read_cert(effects, &file)?.ok_or_else(missing)?;
            let (renewed, key) = resign(&existing, (&ca, &ca_key), validity, algorithm)?;
            (
                cert::to_pem(&renewed)?,
                cert::not_after_unix(&renewed),
                CERT_MODE,
                Some((
                    path(&dirs.cert_dir, base, "key"),
                    keys::private_key_pem(&key)?,
                )),
            )
        }
        Source::Kubeconfig { .. } => {
            let bytes = effects.read_file(&file)?.ok_or_else(missing)?;
            let text = String::from_utf8_lossy(&bytes);
            let (existing, _) = embedded_client(&text, &file)?;
            let (renewed, key) = resign(&existing, (&ca, &ca_key), validity, algorithm)?;
            (
                renewed_kubeconfig(&text, &file, (&renewed, &key), &ca)?,
                cert::not_after_unix(&renewed),
                KUBECONFIG_MODE,
                None,
            )
        }
    };
    Ok(Renewal {
        name: item.name.clone(),
        long_name: long_name(&item.name),
        file,
        not_after,
        content,
        mode,
        key_file,
    })
}

/// Makes every renewed file in memory. Nothing is written unless all of them can be made, so a refusal
/// leaves the node as it was; the errors name every certificate that cannot be renewed.
pub fn plan(
    effects: &dyn Effects,
    dirs: &Dirs,
    selected: &[Managed],
    validity: Validity,
    algorithm: KeyAlgorithm,
) -> Result<Vec<Renewal>, Vec<String>> {
    let mut renewals = Vec::new();
    let mut errors = Vec::new();
    for item in selected {
        match plan_one(effects, dirs, item, validity, algorithm) {
            Ok(renewal) => renewals.push(renewal),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(renewals)
    } else {
        Err(errors)
    }
}

/// Writes the renewed files, each atomically with the mode of its kind.
pub fn apply(effects: &mut dyn Effects, renewals: &[Renewal]) -> Result<(), String> {
    for renewal in renewals {
        // The key first, as the certs phase writes a pair: a renewal cut short is finished by the next.
        if let Some((key_file, pem)) = &renewal.key_file {
            effects.write_file(key_file, pem, crate::steps::certs::KEY_MODE)?;
        }
        effects.write_file(&renewal.file, &renewal.content, renewal.mode)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn profile(name: &str, orgs: &[&str], usages: Vec<Usage>, is_ca: bool) -> CertProfile {
        CertProfile {
            common_name: name.into(),
            organizations: orgs.iter().map(|o| o.to_string()).collect(),
            dns_names: vec!["cp1".into()],
            ips: vec!["198.51.100.10".parse().unwrap()],
            usages,
            is_ca,
        }
    }

    #[test]
    fn a_renewed_certificate_says_what_the_old_one_said_for_a_new_key() {
        let ca_key = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let ca = cert::build(
            &profile("kubernetes", &[], vec![], true),
            &ca_key,
            None,
            Validity::from_now(Duration::from_secs(3600)),
        )
        .unwrap();
        let key = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let wanted = profile(
            "etcd",
            &["a", "b"],
            vec![Usage::ServerAuth, Usage::ClientAuth],
            false,
        );
        let old = cert::build(
            &wanted,
            &key,
            Some((&ca, &ca_key)),
            Validity::from_now(Duration::from_secs(60)),
        )
        .unwrap();
        let validity = Validity::from_now(Duration::from_secs(8760 * 3600));
        let (new, new_key) =
            resign(&old, (&ca, &ca_key), validity, KeyAlgorithm::EcdsaP384).unwrap();
        assert_eq!(profile_of(&new), wanted);
        assert!(cert::signed_by(&new, &ca) && cert::key_matches(&new, &new_key));
        assert!(!cert::key_matches(&new, &key), "a renewal makes a new key");
        assert_eq!(new_key.bits(), 384, "of the configured algorithm");
        assert!(cert::not_after_unix(&new) > cert::not_after_unix(&old) + 8000 * 3600);
    }

    #[test]
    fn a_renewed_kubeconfig_changes_only_the_client_certificate_and_key() {
        let text = "apiVersion: v1
clusters:
  - cluster:
      certificate-authority-data: T0xE
      server: https://10.0.0.1:6443
      tls-server-name: api.example
    name: kubernetes
contexts:
  - context:
      cluster: kubernetes
      namespace: team
      user: admin
    name: admin@kubernetes
  - context:
      cluster: kubernetes
      user: other
    name: other@kubernetes
current-context: admin@kubernetes
kind: Config
preferences:
  colors: true
users:
  - name: admin
    user:
      client-certificate-data: T0xE
      client-key-data: S0VZ
  - name: other
    user:
      client-certificate-data: T1RIRVI=
";
        let key = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let ca = cert::build(
            &profile("kubernetes", &[], vec![], true),
            &key,
            None,
            Validity::from_now(Duration::from_secs(3600)),
        )
        .unwrap();
        let renewed = renewed_kubeconfig(text, "admin.conf", (&ca, &key), &ca).unwrap();
        let parse = |t: &str| {
            crate::domain::config::yaml::parse_documents(t).unwrap()[0]
                .value
                .clone()
        };
        let mut expected = parse(text);
        let pem = base64(&cert::to_pem(&ca).unwrap());
        expected["users"][0]["user"]["client-certificate-data"] = Value::String(pem.clone());
        expected["users"][0]["user"]["client-key-data"] =
            Value::String(base64(&keys::private_key_pem(&key).unwrap()));
        expected["clusters"][0]["cluster"]["certificate-authority-data"] = Value::String(pem);
        assert_eq!(parse(&String::from_utf8(renewed).unwrap()), expected);
    }
}
