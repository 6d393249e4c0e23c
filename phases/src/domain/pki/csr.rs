//! Certificate signing requests as kubeadm's pkiutil.NewCSR makes them for an external CA: the
//! subject's CN and O, and the names (DNS, IP) in a subjectAltName extension request; nothing else.

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::stack::Stack;
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509NameBuilder, X509Req, X509ReqBuilder};

use super::cert::CertProfile;

pub fn build(profile: &CertProfile, key: &PKey<Private>) -> Result<X509Req, String> {
    let made = || -> Result<X509Req, openssl::error::ErrorStack> {
        let mut name = X509NameBuilder::new()?;
        for org in &profile.organizations {
            name.append_entry_by_nid(Nid::ORGANIZATIONNAME, org)?;
        }
        name.append_entry_by_nid(Nid::COMMONNAME, &profile.common_name)?;
        let mut request = X509ReqBuilder::new()?;
        request.set_version(0)?;
        request.set_subject_name(&name.build())?;
        request.set_pubkey(key)?;
        if !profile.dns_names.is_empty() || !profile.ips.is_empty() {
            let mut names = SubjectAlternativeName::new();
            for dns in &profile.dns_names {
                names.dns(dns);
            }
            for ip in &profile.ips {
                names.ip(&ip.to_string());
            }
            let mut extensions = Stack::new()?;
            extensions.push(names.build(&request.x509v3_context(None))?)?;
            request.add_extensions(&extensions)?;
        }
        request.sign(key, MessageDigest::sha256())?;
        Ok(request.build())
    };
    made().map_err(|e| {
        format!(
            "cannot make the certificate request for {}: {e}",
            profile.common_name
        )
    })
}

pub fn to_pem(request: &X509Req) -> Result<Vec<u8>, String> {
    request
        .to_pem()
        .map_err(|e| format!("cannot encode a certificate request: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pki::keys::KeyAlgorithm;

    #[test]
    fn a_request_carries_the_subject_and_names_and_verifies_with_its_key() {
        let key = KeyAlgorithm::parse("ECDSA-P256")
            .unwrap()
            .generate()
            .unwrap();
        let profile = CertProfile {
            common_name: "kube-apiserver".into(),
            organizations: vec![],
            dns_names: vec!["kubernetes".into()],
            ips: vec!["10.96.0.1".parse().unwrap()],
            usages: vec![],
            is_ca: false,
        };
        let request = build(&profile, &key).unwrap();
        assert!(request.verify(&key).unwrap());
        let subject: Vec<String> = request
            .subject_name()
            .entries()
            .map(|e| String::from_utf8_lossy(e.data().as_slice()).into_owned())
            .collect();
        assert_eq!(subject, ["kube-apiserver"]);
        let text = String::from_utf8(request.to_text().unwrap()).unwrap();
        assert!(
            text.contains("DNS:kubernetes, IP Address:10.96.0.1"),
            "{text}"
        );
    }
}
