//! `kinit certs check-expiration`, `renew` and `generate-csr`: the renewal itself is a step that
//! `kinit upgrade` shares, so its files live in `steps::renew_certs`.

pub mod expiration;
pub mod generate_csr;

pub use crate::steps::renew_certs::*;
