//! Local etcd membership: the client that speaks to etcd, the `etcd-join` phase that adds a joining
//! control-plane node's member, and the `remove-etcd-member` phase of reset that takes it out again.

pub mod client;
pub mod join;
pub mod members;
pub mod remove;

use crate::effects::Effects;
pub use client::{Credentials, EtcdClient, EtcdError, Member};

/// The files kubeadm talks to etcd with: the API server's etcd client certificate, trusting the
/// etcd CA, all from the certificates folder. Read through the effects layer, so that a dry run
/// sees the certificates an earlier phase would have written.
pub fn credentials(effects: &dyn Effects, cert_dir: &str) -> Result<Credentials, String> {
    let dir = cert_dir.trim_end_matches('/');
    let read = |name: &str| -> Result<Vec<u8>, String> {
        let path = format!("{dir}/{name}");
        effects.read_file(&path)?.ok_or_else(|| {
            format!(
                "{path} does not exist: etcd is reached with the etcd CA and the API server's etcd client certificate (`kinit init phase certs etcd-ca` / `apiserver-etcd-client`, or the join's control-plane-prepare certs)"
            )
        })
    };
    let (ca, cert, key) = (
        read("etcd/ca.crt")?,
        read("apiserver-etcd-client.crt")?,
        read("apiserver-etcd-client.key")?,
    );
    Credentials::from_pem(
        &ca,
        &cert,
        &key,
        &format!("{dir}/etcd/ca.crt, {dir}/apiserver-etcd-client.crt and .key"),
    )
}

/// The client URL of the etcd on the host of `host_port` (`host:port` or `[v6]:port`).
pub fn client_url_of_host(host_port: &str) -> String {
    let host = crate::pki::table::endpoint_host(host_port);
    format!(
        "https://{}",
        crate::manifests::flags::host_port(host, crate::manifests::flags::ETCD_CLIENT_PORT)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etcd_of_an_api_server_host() {
        assert_eq!(client_url_of_host("10.0.0.1:6443"), "https://10.0.0.1:2379");
        assert_eq!(
            client_url_of_host("[2001:db8::1]:6443"),
            "https://[2001:db8::1]:2379"
        );
        assert_eq!(
            client_url_of_host("cp.example:6443"),
            "https://cp.example:2379"
        );
        assert_eq!(client_url_of_host("cp.example"), "https://cp.example:2379");
    }
}
