//! The detached JWS that proves a `cluster-info` kubeconfig came from someone holding the
//! bootstrap token: HS256 keyed with the token secret (the 16 characters after the dot), over
//! `b64url(header) "." b64url(kubeconfig)`, stored as `b64url(header) ".." b64url(mac)`.

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde_json::Value;

fn b64url(bytes: &[u8]) -> String {
    openssl::base64::encode_block(bytes)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

fn unb64url(text: &str) -> Option<Vec<u8>> {
    let mut standard = text.replace('-', "+").replace('_', "/");
    while !standard.len().is_multiple_of(4) {
        standard.push('=');
    }
    openssl::base64::decode_block(&standard).ok()
}

fn mac(secret: &str, signing_input: &str) -> Result<Vec<u8>, String> {
    let key = PKey::hmac(secret.as_bytes()).map_err(|e| e.to_string())?;
    let mut signer = Signer::new(MessageDigest::sha256(), &key).map_err(|e| e.to_string())?;
    signer
        .update(signing_input.as_bytes())
        .map_err(|e| e.to_string())?;
    signer.sign_to_vec().map_err(|e| e.to_string())
}

/// The detached signature the bootstrap signer stores for `payload` under token `id.secret`.
pub fn sign(token_id: &str, token_secret: &str, payload: &str) -> Result<String, String> {
    let header = b64url(format!(r#"{{"alg":"HS256","kid":"{token_id}"}}"#).as_bytes());
    let signature = mac(
        token_secret,
        &format!("{header}.{}", b64url(payload.as_bytes())),
    )?;
    Ok(format!("{header}..{}", b64url(&signature)))
}

/// Whether `detached` signs `payload` for this token: the header must say HS256 and name the
/// token's id, and the MAC is compared in constant time.
pub fn verify(detached: &str, token_id: &str, token_secret: &str, payload: &str) -> bool {
    let Some((header, signature)) = detached.split_once("..") else {
        return false;
    };
    let fields: Option<Value> = unb64url(header).and_then(|h| serde_json::from_slice(&h).ok());
    let header_ok = fields.is_some_and(|h| h["alg"] == "HS256" && h["kid"] == token_id);
    let (Some(given), Ok(expected)) = (
        unb64url(signature),
        mac(
            token_secret,
            &format!("{header}.{}", b64url(payload.as_bytes())),
        ),
    ) else {
        return false;
    };
    header_ok && given.len() == expected.len() && openssl::memcmp::eq(&given, &expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_token_and_payload() {
        let signed = sign("abcdef", "0123456789abcdef", "kubeconfig").unwrap();
        // The header kubeadm's signer writes: {"alg":"HS256","kid":"abcdef"} in base64url.
        assert!(
            signed.starts_with("eyJhbGciOiJIUzI1NiIsImtpZCI6ImFiY2RlZiJ9.."),
            "{signed}"
        );
        assert!(verify(&signed, "abcdef", "0123456789abcdef", "kubeconfig"));
        assert!(!verify(&signed, "abcdef", "0123456789abcdee", "kubeconfig"));
        assert!(!verify(&signed, "abcdeg", "0123456789abcdef", "kubeconfig"));
        assert!(!verify(
            &signed,
            "abcdef",
            "0123456789abcdef",
            "kubeconfig "
        ));
        assert!(!verify(
            "not a jws",
            "abcdef",
            "0123456789abcdef",
            "kubeconfig"
        ));
    }

    /// The HMAC is recomputed with the openssl CLI, independently of this module.
    #[test]
    fn the_mac_is_hmac_sha256_keyed_with_the_token_secret() {
        let signed = sign("abcdef", "0123456789abcdef", "payload").unwrap();
        let header = signed.split("..").next().unwrap();
        let input = format!("{header}.{}", b64url(b"payload"));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "printf %s '{input}' | openssl dgst -sha256 -mac HMAC -macopt key:0123456789abcdef -binary | base64 | tr '+/' '-_' | tr -d '='"
            ))
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(
            signed.split("..").nth(1).unwrap(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
}
