//! The executors: the only code that writes files, runs programs, talks to the API server or opens connections. The effects layer (the host, or a dry run that records), the API session, and the HTTPS transport.

pub mod api;
pub mod cri;
pub mod effects;
pub(crate) mod etcd_client;
pub(crate) mod net;
pub mod node_host;
