//! Test support shared by the integration tests (`mod support;`) and the benches
//! (`#[path = "../tests/support/mod.rs"] mod support;`).
#![allow(dead_code)]

pub mod apiserver;
pub mod daemon;
pub mod etcd;
pub mod hosts;
pub mod https;
pub mod kubectl;
pub mod kubelet;
pub mod played_kubelet;
pub mod real;
pub mod real_kubelet;
pub mod standin;
pub mod static_pods;
pub mod venv;
