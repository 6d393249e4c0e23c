//! Local etcd membership: the `etcd-join` phase that adds a joining control-plane node's member,
//! and the `remove-etcd-member` phase of reset that takes it out again.

pub mod join;
pub mod remove;

pub use crate::exec::etcd_client::{Credentials, EtcdClient, EtcdError, Member};

/// The client URL of the etcd on the host of `host_port` (`host:port` or `[v6]:port`).
pub fn client_url_of_host(host_port: &str) -> String {
    let host = crate::domain::pki::table::endpoint_host(host_port);
    format!(
        "https://{}",
        crate::domain::manifests::flags::host_port(
            host,
            crate::domain::manifests::flags::ETCD_CLIENT_PORT
        )
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
