//! The node as the preflight checks see it: the preflight crate's view of the machine, with HTTP
//! requests made by kinit's one HTTP client (`net::probe`) instead of a client of its own, and the
//! container runtime asked through kinit's CRI client (`cri`).

use std::io;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use kinit_preflight::{EtcdClientFiles, Host, RealHost, ServiceState};
use openssl::pkey::PKey;
use openssl::x509::X509;

use super::cri::CriClient;
use super::net::probe::{self, ClientIdentity, Target, Transport};

/// How long the external etcd version check waits for one endpoint.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

pub struct NodeHost {
    machine: RealHost,
}

impl NodeHost {
    /// The node at `root` (`/`, or the `--rootfs` folder).
    pub fn new(root: impl Into<PathBuf>) -> NodeHost {
        NodeHost {
            machine: RealHost::new(root),
        }
    }

    /// HTTPS checked against the CA file and presenting the client pair when the files name them
    /// (read from the node, under its root); the host's trusted CAs without a CA file.
    fn https(&self, tls: &EtcdClientFiles) -> Result<Transport, String> {
        let read = |path: &str| {
            self.machine
                .read_file(path)
                .map_err(|e| format!("{path}: {e}"))
        };
        if tls.ca_file.is_empty() {
            return Ok(Transport::HttpsSystemRoots);
        }
        let cas = X509::stack_from_pem(read(&tls.ca_file)?.as_bytes())
            .map_err(|e| format!("{}: not a PEM certificate: {e}", tls.ca_file))?;
        if cas.is_empty() {
            return Err(format!("{} holds no certificate", tls.ca_file));
        }
        if tls.cert_file.is_empty() || tls.key_file.is_empty() {
            return Ok(Transport::HttpsVerified(cas));
        }
        let chain = X509::stack_from_pem(read(&tls.cert_file)?.as_bytes())
            .map_err(|e| format!("{}: not a PEM certificate: {e}", tls.cert_file))?;
        let key = PKey::private_key_from_pem(read(&tls.key_file)?.as_bytes())
            .map_err(|e| format!("{}: not a PEM private key: {e}", tls.key_file))?;
        Ok(Transport::HttpsMutual(Arc::new(ClientIdentity {
            cas,
            chain,
            key,
        })))
    }
}

impl Host for NodeHost {
    fn read_file(&self, path: &str) -> io::Result<String> {
        self.machine.read_file(path)
    }
    fn exists(&self, path: &str) -> bool {
        self.machine.exists(path)
    }
    fn dir_entries(&self, path: &str) -> io::Result<Vec<String>> {
        self.machine.dir_entries(path)
    }
    fn find_in_path(&self, binary: &str) -> Option<PathBuf> {
        self.machine.find_in_path(binary)
    }
    fn can_listen(&self, port: u16) -> Result<(), String> {
        self.machine.can_listen(port)
    }
    fn effective_uid(&self) -> u32 {
        self.machine.effective_uid()
    }
    fn cpu_count(&self) -> io::Result<usize> {
        self.machine.cpu_count()
    }
    fn total_memory_mb(&self) -> io::Result<u64> {
        self.machine.total_memory_mb()
    }
    fn service(&self, name: &str) -> ServiceState {
        self.machine.service(name)
    }
    fn resolve(&self, name: &str) -> Result<(), String> {
        self.machine.resolve(name)
    }
    fn env(&self, key: &str) -> Option<String> {
        self.machine.env(key)
    }
    fn run(&self, program: &Path, args: &[&str]) -> io::Result<Output> {
        self.machine.run(program, args)
    }
    fn connect_unix(&self, path: &str) -> Result<(), String> {
        self.machine.connect_unix(path)
    }
    fn pull_missing(
        &self,
        endpoint: &str,
        images: &[String],
    ) -> Result<Vec<(String, String)>, String> {
        let cri = CriClient::connect(self.machine.root(), endpoint).map_err(|e| e.to_string())?;
        Ok(images
            .iter()
            .filter_map(|image| {
                cri.ensure(image, || {})
                    .err()
                    .map(|e| (image.clone(), e.to_string()))
            })
            .collect())
    }
    fn http_get(&self, url: &str, tls: &EtcdClientFiles) -> Result<String, String> {
        let default_port = if url.starts_with("http://") { 80 } else { 443 };
        let target = Target::from_url(url, default_port, || self.https(tls))?;
        match probe::get(&target, HTTP_TIMEOUT).map_err(|e| e.to_string())? {
            (200, body) => Ok(body),
            (status, _) => Err(format!("answered HTTP status {status}")),
        }
    }
    fn host_path(&self, path: &str) -> PathBuf {
        self.machine.host_path(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::net::tls::tests::ca;

    #[test]
    fn a_ca_file_with_a_bundle_trusts_every_ca_in_it() {
        let root = tempfile::tempdir().unwrap();
        let (first, second) = (ca("one").cert, ca("two").cert);
        let mut bundle = first.to_pem().unwrap();
        bundle.extend(second.to_pem().unwrap());
        std::fs::write(root.path().join("bundle.crt"), bundle).unwrap();
        std::fs::write(root.path().join("empty.crt"), "").unwrap();
        let host = NodeHost::new(root.path());
        let files = |ca_file: &str| EtcdClientFiles {
            ca_file: ca_file.into(),
            cert_file: String::new(),
            key_file: String::new(),
        };
        match host.https(&files("/bundle.crt")) {
            Ok(Transport::HttpsVerified(cas)) => {
                let names: Vec<Vec<u8>> = cas.iter().map(|c| c.to_der().unwrap()).collect();
                assert_eq!(names, [first.to_der().unwrap(), second.to_der().unwrap()]);
            }
            Ok(_) => panic!("not a verified transport"),
            Err(e) => panic!("{e}"),
        }
        assert!(host.https(&files("/empty.crt")).is_err());
        assert!(matches!(
            host.https(&files("")),
            Ok(Transport::HttpsSystemRoots)
        ));
    }
}
