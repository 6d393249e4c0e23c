//! Bootstrap tokens as kubeadm makes them: `<id>.<secret>`, 6 and 16 characters of `[a-z0-9]`.

const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
/// The largest multiple of 36 a byte holds: bytes from here up would favour the first characters.
const UNBIASED_BELOW: u8 = 252;

/// A random token, each character drawn evenly from the alphabet (as kubeadm: random bytes, those of
/// 252 and up thrown away, the rest taken modulo 36).
pub fn generate() -> Result<String, String> {
    Ok(format!("{}.{}", random_string(6)?, random_string(16)?))
}

fn random_string(len: usize) -> Result<String, String> {
    let mut out = String::with_capacity(len);
    let mut bytes = [0u8; 32];
    while out.len() < len {
        openssl::rand::rand_bytes(&mut bytes)
            .map_err(|e| format!("cannot draw random bytes for a token: {e}"))?;
        for byte in bytes.iter().filter(|b| **b < UNBIASED_BELOW) {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[usize::from(*byte % 36)] as char);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::token_problem;

    #[test]
    fn tokens_have_kubeadms_form_and_differ() {
        let tokens: Vec<String> = (0..200).map(|_| generate().unwrap()).collect();
        for token in &tokens {
            assert_eq!(token_problem(token), None, "{token}");
        }
        let mut unique = tokens.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), tokens.len());
        // 4400 draws from 36 characters: every character turns up.
        let seen: std::collections::BTreeSet<char> = tokens
            .iter()
            .flat_map(|t| t.chars())
            .filter(|c| *c != '.')
            .collect();
        assert_eq!(seen.len(), 36);
    }
}
