//! Upgrading a cluster to another Kubernetes version: what is on offer, and which targets the
//! version skew policy allows.

pub mod facts;
pub mod plan;
pub mod policy;
