//! kinit's HTTPS client below the API client: TLS set up once (the CA a kubeconfig or discovery
//! trusts, SNI for names) and the plain requests of health probes and discovery.

pub(crate) mod probe;
pub(crate) mod tls;
