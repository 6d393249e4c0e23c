//! The cluster PKI: keys, certificates, kubeadm's certificate list, and the keys a run will need,
//! made ahead of time on every core.

pub mod cert;
pub mod csr;
pub mod keys;
pub(crate) mod table;

use keys::KeyAlgorithm;
use openssl::pkey::{PKey, Private};
use std::collections::HashMap;
use std::time::SystemTime;

/// Keys made ahead for the units of this run, taken one by one as the units need them.
pub struct KeyPool {
    keys: HashMap<String, PKey<Private>>,
    /// kubeadm stamps every certificate of a run with the run's start time.
    pub start: SystemTime,
}

impl Default for KeyPool {
    fn default() -> Self {
        KeyPool {
            keys: HashMap::new(),
            start: SystemTime::now(),
        }
    }
}

impl KeyPool {
    /// Makes the keys named, all at once; the ones already made are kept.
    pub fn fill(&mut self, names: Vec<String>, algorithm: KeyAlgorithm) -> Result<(), String> {
        let missing: Vec<String> = names
            .into_iter()
            .filter(|n| !self.keys.contains_key(n))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        tracing::debug!(count = missing.len(), "generating keys in parallel");
        for (name, key) in keys::generate_many(&missing, algorithm)? {
            self.keys.insert(name, key);
        }
        Ok(())
    }

    /// The key made ahead for `name`, or a new one.
    pub fn take(&mut self, name: &str, algorithm: KeyAlgorithm) -> Result<PKey<Private>, String> {
        match self.keys.remove(name) {
            Some(key) => Ok(key),
            None => algorithm.generate(),
        }
    }
}
