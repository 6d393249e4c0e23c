//! The shared control-plane certificates as the `kubeadm-certs` Secret carries them: which files,
//! under which keys, sealed with AES-256-GCM under the certificate key (nonce ‖ ciphertext ‖ tag).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};

use crate::domain::config::resolve::InitConfig;

pub const SECRET_NAME: &str = "kubeadm-certs";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The 32-byte key from its 64 hex characters.
pub fn decode_key(hex: &str) -> Result<Vec<u8>, String> {
    let valid = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return Err("the certificate key must be 64 hexadecimal characters (32 bytes), as `kinit certs certificate-key` prints".into());
    }
    (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

/// Each file to share, as (Secret data key, path): the path relative to the certificates
/// directory with `/` turned into `-`; an external etcd's files under `external-etcd*` names.
pub fn shared_files(config: &InitConfig) -> Vec<(String, String)> {
    let dir = config.cluster.certificates_dir.trim_end_matches('/');
    let mut files: Vec<(String, String)> = [
        "ca.crt",
        "ca.key",
        "front-proxy-ca.crt",
        "front-proxy-ca.key",
        "sa.pub",
        "sa.key",
    ]
    .iter()
    .map(|f| (f.to_string(), format!("{dir}/{f}")))
    .collect();
    match &config.cluster.etcd.external {
        Some(external) => {
            for (key, path) in [
                ("external-etcd-ca.crt", &external.ca_file),
                ("external-etcd.crt", &external.cert_file),
                ("external-etcd.key", &external.key_file),
            ] {
                files.push((key.into(), path.clone()));
            }
        }
        None => {
            for f in ["etcd/ca.crt", "etcd/ca.key"] {
                files.push((f.replace('/', "-"), format!("{dir}/{f}")));
            }
        }
    }
    files
}

pub fn encrypt(key: &[u8], plain: &[u8]) -> Result<Vec<u8>, String> {
    let mut nonce = [0u8; NONCE_LEN];
    openssl::rand::rand_bytes(&mut nonce).map_err(|e| format!("cannot draw a nonce: {e}"))?;
    let mut tag = [0u8; TAG_LEN];
    let sealed = encrypt_aead(
        Cipher::aes_256_gcm(),
        key,
        Some(&nonce),
        &[],
        plain,
        &mut tag,
    )
    .map_err(|e| format!("cannot encrypt: {e}"))?;
    Ok([&nonce[..], &sealed, &tag].concat())
}

pub fn decrypt(key: &[u8], sealed: &[u8]) -> Result<Vec<u8>, String> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err("the data is too short to be sealed".into());
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
    decrypt_aead(Cipher::aes_256_gcm(), key, Some(nonce), &[], body, tag)
        .map_err(|_| "the data does not open with this certificate key".to_string())
}

/// The Secret's data: each file (by Secret data key) sealed with `key`. A file the node does not
/// have (empty) travels empty, as kubeadm uploads it.
pub fn seal(
    key: &[u8],
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, ByteString>, String> {
    files
        .iter()
        .map(|(name, plain)| {
            let sealed = if plain.is_empty() {
                Vec::new()
            } else {
                encrypt(key, plain)?
            };
            Ok((name.clone(), ByteString(sealed)))
        })
        .collect()
}

/// One shared file opened from the Secret, to be written at `path`.
pub struct OpenedFile {
    pub path: String,
    pub plain: Vec<u8>,
    pub is_key: bool,
}

/// Opens with `key` each of `files` (Secret data key, path) that the Secret's `data` holds. A file
/// the uploading node did not have is uploaded empty and skipped; one that does not open is an
/// error, so that nothing is written from a Secret sealed with another key.
pub fn open(
    key: &[u8],
    data: &BTreeMap<String, ByteString>,
    files: Vec<(String, String)>,
) -> Result<Vec<OpenedFile>, String> {
    let mut opened = Vec::new();
    for (name, path) in files {
        let Some(sealed) = data.get(&name) else {
            continue;
        };
        if sealed.0.is_empty() {
            continue;
        }
        let plain = decrypt(key, &sealed.0).map_err(|_| {
            format!(
                "the certificate key does not open {name} in the {SECRET_NAME} Secret: the certificates were uploaded with another key. Use the key printed by `kinit init --upload-certs` or `kinit init phase upload-certs --upload-certs`"
            )
        })?;
        opened.push(OpenedFile {
            is_key: name.ends_with(".key"),
            path,
            plain,
        });
    }
    Ok(opened)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_with_its_key_only() {
        let key = decode_key(&"ab".repeat(32)).unwrap();
        let sealed = encrypt(&key, b"secret").unwrap();
        assert_eq!(sealed.len(), 12 + 6 + 16);
        assert_ne!(
            encrypt(&key, b"secret").unwrap(),
            sealed,
            "a fresh nonce each time"
        );
        assert_eq!(decrypt(&key, &sealed).unwrap(), b"secret");
        let other = decode_key(&"cd".repeat(32)).unwrap();
        assert!(decrypt(&other, &sealed).is_err());
        assert!(decode_key("abc").is_err());
        assert!(decode_key(&"zz".repeat(32)).is_err());
    }
}
