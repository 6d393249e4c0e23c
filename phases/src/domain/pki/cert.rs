//! Certificates as kubeadm's pkiutil makes them (subject of CN and O only, random serial in [1, 2^63-1),
//! backdated five minutes, CA or leaf key usages), and the checks an existing certificate must pass.

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::hash::{hash, MessageDigest};
use openssl::nid::Nid;
use openssl::pkey::{PKey, PKeyRef, Private, Public};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509NameRef, X509};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// kubeadm's CertificateBackdate: notBefore sits this far before the run started, for small clock skews.
pub const BACKDATE: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    ServerAuth,
    ClientAuth,
}

/// What a certificate says: its subject, names and usages. A CA has no usages and signs itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertProfile {
    pub common_name: String,
    pub organizations: Vec<String>,
    pub dns_names: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub usages: Vec<Usage>,
    pub is_ca: bool,
}

/// notBefore and notAfter as kubeadm sets them from one start time.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub start: SystemTime,
    pub period: Duration,
}

impl Validity {
    pub fn from_now(period: Duration) -> Validity {
        Validity {
            start: SystemTime::now(),
            period,
        }
    }
}

fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Uniform in [1, 2^63-1), as kubeadm draws it.
fn random_serial() -> Result<Asn1Integer, openssl::error::ErrorStack> {
    let upper = BigNum::from_dec_str("9223372036854775806")?;
    let mut serial = BigNum::new()?;
    upper.rand_range(&mut serial)?;
    serial.add_word(1)?;
    serial.to_asn1_integer()
}

/// Builds and signs a certificate: self-signed when `issuer` is `None`.
pub fn build(
    profile: &CertProfile,
    key: &PKeyRef<Private>,
    issuer: Option<(&X509, &PKeyRef<Private>)>,
    validity: Validity,
) -> Result<X509, String> {
    build_inner(profile, key, issuer, validity).map_err(|e| {
        format!(
            "cannot build the certificate {:?}: {e}",
            profile.common_name
        )
    })
}

fn build_inner(
    profile: &CertProfile,
    key: &PKeyRef<Private>,
    issuer: Option<(&X509, &PKeyRef<Private>)>,
    validity: Validity,
) -> Result<X509, openssl::error::ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    // Go writes O before CN in the subject sequence.
    for org in &profile.organizations {
        name.append_entry_by_nid(Nid::ORGANIZATIONNAME, org)?;
    }
    name.append_entry_by_nid(Nid::COMMONNAME, &profile.common_name)?;
    let name = name.build();

    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    let serial = random_serial()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    match issuer {
        Some((ca, _)) => builder.set_issuer_name(ca.subject_name())?,
        None => builder.set_issuer_name(&name)?,
    }
    builder.set_pubkey(key)?;
    let start = unix_seconds(validity.start);
    let not_before = start - i64::try_from(BACKDATE.as_secs()).unwrap_or(0);
    let not_after = start.saturating_add(i64::try_from(validity.period.as_secs()).unwrap_or(0));
    let not_before = Asn1Time::from_unix(not_before)?;
    let not_after = Asn1Time::from_unix(not_after)?;
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;

    let mut usage = KeyUsage::new();
    usage.critical().digital_signature().key_encipherment();
    let mut constraints = BasicConstraints::new();
    constraints.critical();
    if profile.is_ca {
        usage.key_cert_sign();
        constraints.ca();
    }
    builder.append_extension(usage.build()?)?;
    if !profile.usages.is_empty() {
        let mut extended = ExtendedKeyUsage::new();
        for u in &profile.usages {
            match u {
                Usage::ServerAuth => extended.server_auth(),
                Usage::ClientAuth => extended.client_auth(),
            };
        }
        builder.append_extension(extended.build()?)?;
    }
    builder.append_extension(constraints.build()?)?;
    // Go gives a CA a subject key id, and every certificate it signs the matching authority key id.
    if profile.is_ca {
        let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
        builder.append_extension(ski)?;
    }
    if let Some((ca, _)) = issuer {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(false)
            .build(&builder.x509v3_context(Some(ca), None))?;
        builder.append_extension(aki)?;
    }
    if !profile.dns_names.is_empty() || !profile.ips.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for dns in &profile.dns_names {
            san.dns(dns);
        }
        for ip in &profile.ips {
            san.ip(&ip.to_string());
        }
        let context = builder.x509v3_context(issuer.map(|(ca, _)| &**ca), None);
        let san = san.build(&context)?;
        builder.append_extension(san)?;
    }
    let signer = issuer.map_or(key, |(_, ca_key)| ca_key);
    builder.sign(signer, digest_for(signer))?;
    Ok(builder.build())
}

/// The hash Go's x509 picks for a signer: SHA-384 for P-384, SHA-256 otherwise.
fn digest_for(signer: &PKeyRef<Private>) -> MessageDigest {
    if signer.ec_key().is_ok() && signer.bits() == 384 {
        MessageDigest::sha384()
    } else {
        MessageDigest::sha256()
    }
}

/// Parses a PEM certificate. A run reads each CA once per certificate it signs or checks, and OpenSSL 3
/// spends most of a parse decoding the public key, so parses are kept by content: the same bytes can
/// only ever give the same certificate.
pub fn parse_pem(pem: &[u8], what: &str) -> Result<X509, String> {
    static PARSED: Mutex<Option<HashMap<Vec<u8>, X509>>> = Mutex::new(None);
    let mut parsed = PARSED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let parsed = parsed.get_or_insert_with(HashMap::new);
    if let Some(cert) = parsed.get(pem) {
        return Ok(cert.clone());
    }
    let cert = X509::from_pem(pem).map_err(|_| format!("{what} is not a PEM certificate"))?;
    parsed.insert(pem.to_vec(), cert.clone());
    Ok(cert)
}

pub fn to_pem(cert: &X509) -> Result<Vec<u8>, String> {
    cert.to_pem()
        .map_err(|e| format!("cannot encode a certificate: {e}"))
}

fn name_entries(name: &X509NameRef, nid: Nid) -> Vec<String> {
    name.entries_by_nid(nid)
        .filter_map(|e| e.data().to_string().ok())
        .collect()
}

pub fn common_name(cert: &X509) -> String {
    name_entries(cert.subject_name(), Nid::COMMONNAME)
        .into_iter()
        .next()
        .unwrap_or_default()
}

pub fn organizations(cert: &X509) -> Vec<String> {
    name_entries(cert.subject_name(), Nid::ORGANIZATIONNAME)
}

/// DNS names and IPs of the subjectAltName extension.
pub fn alt_names(cert: &X509) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    if let Some(names) = cert.subject_alt_names() {
        for name in &names {
            if let Some(d) = name.dnsname() {
                dns.push(d.to_string());
            }
            if let Some(raw) = name.ipaddress() {
                let ip = match raw.len() {
                    4 => <[u8; 4]>::try_from(raw).ok().map(IpAddr::from),
                    16 => <[u8; 16]>::try_from(raw).ok().map(IpAddr::from),
                    _ => None,
                };
                ips.extend(ip);
            }
        }
    }
    (dns, ips)
}

/// Seconds since the epoch of notAfter.
pub fn not_after_unix(cert: &X509) -> i64 {
    let epoch = Asn1Time::from_unix(0).expect("the epoch is a valid time");
    epoch
        .diff(cert.not_after())
        .map(|d| i64::from(d.days) * 86_400 + i64::from(d.secs))
        .unwrap_or(0)
}

pub fn not_before_unix(cert: &X509) -> i64 {
    let epoch = Asn1Time::from_unix(0).expect("the epoch is a valid time");
    epoch
        .diff(cert.not_before())
        .map(|d| i64::from(d.days) * 86_400 + i64::from(d.secs))
        .unwrap_or(0)
}

pub fn now_unix() -> i64 {
    unix_seconds(SystemTime::now())
}

/// Whether `cert` was signed by `ca`: the issuer names the CA and the CA's key verifies the signature.
pub fn signed_by(cert: &X509, ca: &X509) -> bool {
    let names_match = cert
        .issuer_name()
        .try_cmp(ca.subject_name())
        .is_ok_and(|o| o.is_eq());
    names_match
        && ca
            .public_key()
            .is_ok_and(|key| cert.verify(&key).unwrap_or(false))
}

pub fn key_matches(cert: &X509, key: &PKeyRef<Private>) -> bool {
    cert.public_key()
        .is_ok_and(|public: PKey<Public>| public.public_eq(key))
}

/// What is wrong with an existing certificate and key for the profile they should satisfy, or `None`.
/// Extra names are fine (a user may have added some); missing ones, a foreign signer, an expired
/// certificate or a key of another certificate are not.
pub fn problem_with(
    cert: &X509,
    key: &PKeyRef<Private>,
    profile: &CertProfile,
    ca: Option<&X509>,
) -> Option<String> {
    if !key_matches(cert, key) {
        return Some("the key does not match the certificate".into());
    }
    let now = now_unix();
    if not_after_unix(cert) <= now {
        return Some("the certificate has expired".into());
    }
    if not_before_unix(cert) > now {
        return Some("the certificate is not valid yet".into());
    }
    match ca {
        Some(ca) if !signed_by(cert, ca) => {
            return Some("the certificate is not signed by the CA on disk".into())
        }
        None if !signed_by(cert, cert) => return Some("the CA is not self-signed".into()),
        _ => {}
    }
    let (dns, ips) = alt_names(cert);
    if let Some(missing) = profile.dns_names.iter().find(|d| !dns.contains(d)) {
        return Some(format!("the certificate lacks the SAN DNS name {missing}"));
    }
    if let Some(missing) = profile.ips.iter().find(|ip| !ips.contains(ip)) {
        return Some(format!(
            "the certificate lacks the SAN IP address {missing}"
        ));
    }
    None
}

/// kubeadm's CA pin: `sha256:` and the hex SHA-256 of the CA certificate's DER SubjectPublicKeyInfo.
pub fn ca_cert_hash(ca: &X509) -> Result<String, String> {
    let spki = ca
        .public_key()
        .and_then(|key| key.public_key_to_der())
        .map_err(|e| format!("cannot read the CA public key: {e}"))?;
    let digest = hash(MessageDigest::sha256(), &spki).map_err(|e| e.to_string())?;
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("sha256:{hex}"))
}
