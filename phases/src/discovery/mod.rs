//! What `kinit join` needs to trust a cluster it has only a token and CA pins for (reference §9):
//! the JWS check of `cluster-info`. Fetching and TLS pinning come with the join phases.

pub mod jws;
