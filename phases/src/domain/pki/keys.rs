//! Private keys as kubeadm makes them: the algorithm named by `encryptionAlgorithm`, PEM encodings kubeadm
//! writes (PKCS#1 for RSA, SEC1 for ECDSA, PKIX for public keys), and generation spread over every core.

use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Rsa(u32),
    EcdsaP256,
    EcdsaP384,
}

impl KeyAlgorithm {
    /// `ClusterConfiguration.encryptionAlgorithm`; empty means kubeadm's default, RSA-2048.
    pub fn parse(name: &str) -> Result<KeyAlgorithm, String> {
        match name {
            "" | "RSA-2048" => Ok(KeyAlgorithm::Rsa(2048)),
            "RSA-3072" => Ok(KeyAlgorithm::Rsa(3072)),
            "RSA-4096" => Ok(KeyAlgorithm::Rsa(4096)),
            "ECDSA-P256" => Ok(KeyAlgorithm::EcdsaP256),
            "ECDSA-P384" => Ok(KeyAlgorithm::EcdsaP384),
            other => Err(format!(
                "unknown encryptionAlgorithm {other:?}: use RSA-2048, RSA-3072, RSA-4096, ECDSA-P256 or ECDSA-P384"
            )),
        }
    }

    pub fn generate(self) -> Result<PKey<Private>, String> {
        let key = match self {
            KeyAlgorithm::Rsa(bits) => Rsa::generate(bits).and_then(PKey::from_rsa),
            KeyAlgorithm::EcdsaP256 => ec_key(Nid::X9_62_PRIME256V1),
            KeyAlgorithm::EcdsaP384 => ec_key(Nid::SECP384R1),
        };
        key.map_err(|e| format!("cannot generate a {self:?} key: {e}"))
    }
}

fn ec_key(curve: Nid) -> Result<PKey<Private>, openssl::error::ErrorStack> {
    let group = EcGroup::from_curve_name(curve)?;
    EcKey::generate(&group).and_then(PKey::from_ec_key)
}

/// The PEM kubeadm writes for a private key: `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC1).
pub fn private_key_pem(key: &PKey<Private>) -> Result<Vec<u8>, String> {
    let pem = match (key.rsa(), key.ec_key()) {
        (Ok(rsa), _) => rsa.private_key_to_pem(),
        (_, Ok(ec)) => ec.private_key_to_pem(),
        _ => return Err("only RSA and ECDSA keys are supported".into()),
    };
    pem.map_err(|e| format!("cannot encode a private key: {e}"))
}

/// `PUBLIC KEY` (PKIX), as in `sa.pub`.
pub fn public_key_pem(key: &PKey<Private>) -> Result<Vec<u8>, String> {
    key.public_key_to_pem()
        .map_err(|e| format!("cannot encode a public key: {e}"))
}

pub fn parse_private_key(pem: &[u8], what: &str) -> Result<PKey<Private>, String> {
    let invalid = || format!("{what} is not a PEM private key (RSA or ECDSA)");
    // OpenSSL 3's generic PEM reader tries every decoder it has and costs ~2 ms a key; the two forms
    // kubeadm writes decode directly. Anything else (PKCS#8, encrypted) takes the generic road.
    let direct = match single_pem_block(pem) {
        Some(("RSA PRIVATE KEY", der)) => {
            Some(Rsa::private_key_from_der(&der).and_then(PKey::from_rsa))
        }
        Some(("EC PRIVATE KEY", der)) => {
            Some(EcKey::private_key_from_der(&der).and_then(PKey::from_ec_key))
        }
        _ => None,
    };
    match direct {
        Some(key) => key.map_err(|_| invalid()),
        None => PKey::private_key_from_pem(pem).map_err(|_| invalid()),
    }
}

/// The label and DER of a PEM text holding exactly one block without headers; `None` for anything else.
fn single_pem_block(pem: &[u8]) -> Option<(&str, Vec<u8>)> {
    let text = std::str::from_utf8(pem).ok()?.trim();
    let rest = text.strip_prefix("-----BEGIN ")?;
    let (label, rest) = rest.split_once("-----")?;
    let (body, tail) = rest.split_once(&format!("-----END {label}-----"))?;
    if !tail.trim().is_empty() || body.contains(':') {
        return None;
    }
    let base64: String = body.split_whitespace().collect();
    let der = openssl::base64::decode_block(&base64).ok()?;
    Some((label, der))
}

/// Generates one key per name on every core at once: RSA generation is the slow part of a fresh PKI, and
/// the keys do not depend on each other.
pub fn generate_many(
    names: &[String],
    algorithm: KeyAlgorithm,
) -> Result<Vec<(String, PKey<Private>)>, String> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    // An RSA key takes tens to hundreds of milliseconds, at random. With a thread per key the scheduler
    // shares the cores until the last key is done, so the run ends when the total work does; a thread per
    // core ends when the unluckiest core's share does (11 keys on 2 cores: 6 key-times, not 5.5).
    // ECDSA keys take microseconds, where more threads than cores only cost their start.
    let workers = match algorithm {
        KeyAlgorithm::Rsa(_) => names.len(),
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => cores,
    }
    .clamp(1, names.len().max(1));
    let next = AtomicUsize::new(0);
    let made = Mutex::new(Vec::with_capacity(names.len()));
    let failure = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(name) = names.get(index) else { break };
                match algorithm.generate() {
                    Ok(key) => made.lock().unwrap().push((name.clone(), key)),
                    Err(e) => {
                        *failure.lock().unwrap() = Some(e);
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap() {
        return Err(e);
    }
    Ok(made.into_inner().unwrap())
}

/// A key for `--certificate-key`: 32 random bytes (AES-256 for the kubeadm-certs Secret) as 64 lowercase
/// hex characters, as `kubeadm certs certificate-key` prints it.
pub fn certificate_key() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    openssl::rand::rand_bytes(&mut bytes)
        .map_err(|e| format!("cannot draw random bytes for a certificate key: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_forms_are_the_ones_kubeadm_writes() {
        let rsa = KeyAlgorithm::Rsa(2048).generate().unwrap();
        let pem = String::from_utf8(private_key_pem(&rsa).unwrap()).unwrap();
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{pem}");
        let ec = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let pem = String::from_utf8(private_key_pem(&ec).unwrap()).unwrap();
        assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----"), "{pem}");
        let public = String::from_utf8(public_key_pem(&ec).unwrap()).unwrap();
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
        let back = parse_private_key(pem.as_bytes(), "key").unwrap();
        assert!(back.public_eq(&ec));
        let rsa_pem = private_key_pem(&rsa).unwrap();
        assert!(parse_private_key(&rsa_pem, "key").unwrap().public_eq(&rsa));
        let pkcs8 = rsa.private_key_to_pem_pkcs8().unwrap();
        assert!(parse_private_key(&pkcs8, "key").unwrap().public_eq(&rsa));
        let err = parse_private_key(
            b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
            "x.key",
        );
        assert_eq!(
            err.unwrap_err(),
            "x.key is not a PEM private key (RSA or ECDSA)"
        );
        assert!(KeyAlgorithm::parse("DSA").is_err());
    }

    #[test]
    fn many_keys_come_back_once_each() {
        let names: Vec<String> = (0..5).map(|i| format!("k{i}")).collect();
        let mut keys = generate_many(&names, KeyAlgorithm::EcdsaP384).unwrap();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let got: Vec<&str> = keys.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(got, ["k0", "k1", "k2", "k3", "k4"]);
        assert_eq!(keys[0].1.bits(), 384);
        // RSA takes a thread per key; every name still gets exactly one key of its own.
        let names: Vec<String> = (0..3).map(|i| format!("r{i}")).collect();
        let keys = generate_many(&names, KeyAlgorithm::Rsa(2048)).unwrap();
        assert_eq!(keys.len(), 3);
        assert!(keys.iter().all(|(_, k)| k.bits() == 2048));
        assert!(!keys[0].1.public_eq(&keys[1].1) && !keys[1].1.public_eq(&keys[2].1));
    }
}
