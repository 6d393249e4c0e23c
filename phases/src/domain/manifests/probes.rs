//! The HTTP probes of the static pods: where each component answers, and kubeadm's timings.

use super::flags::{last_value, ETCD_METRICS_PORT};
use crate::domain::config::resolve::InitConfig;
use serde::Serialize;
use std::time::Duration;

pub const CONTROLLER_MANAGER_PORT: i32 = 10257;
pub const SCHEDULER_PORT: i32 = 10259;
const STARTUP_PERIOD_SECONDS: i32 = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    /// Empty means the pod IP, which is what a wildcard bind address needs.
    pub host: String,
    pub path: String,
    /// The port number, or from 1.34 the name of the container port that carries it.
    pub port: serde_json::Value,
    pub scheme: &'static str,
    pub initial_delay_seconds: i32,
    pub timeout_seconds: i32,
    pub failure_threshold: i32,
    pub period_seconds: i32,
}

/// Where a component's probes go and on which paths.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: i32,
    pub scheme: &'static str,
}

impl Endpoint {
    fn probe(&self, path: &str, timings: (i32, i32, i32, i32)) -> Probe {
        let (initial_delay_seconds, timeout_seconds, failure_threshold, period_seconds) = timings;
        Probe {
            host: self.host.clone(),
            path: path.to_string(),
            port: self.port.into(),
            scheme: self.scheme,
            initial_delay_seconds,
            timeout_seconds,
            failure_threshold,
            period_seconds,
        }
    }

    /// The first check waits one period, so a slow start is not counted as a failure.
    pub fn liveness(&self, path: &str) -> Probe {
        self.probe(path, (10, 15, 8, 10))
    }

    /// No delay: people watching for "ready" should see it as soon as it is true.
    pub fn readiness(&self, path: &str) -> Probe {
        self.probe(path, (0, 15, 3, 1))
    }

    /// Enough failures to cover the whole control-plane health-check timeout.
    pub fn startup(&self, path: &str, health_check_timeout: Duration) -> Probe {
        let period = f64::from(STARTUP_PERIOD_SECONDS);
        let failures = (health_check_timeout.as_secs_f64() / period).ceil() as i32;
        self.probe(
            path,
            (STARTUP_PERIOD_SECONDS, 15, failures, STARTUP_PERIOD_SECONDS),
        )
    }
}

/// A wildcard address cannot be probed; an empty host makes the kubelet use the pod IP.
fn probe_address(address: &str) -> String {
    if address == "0.0.0.0" || address == "::" {
        String::new()
    } else {
        address.to_string()
    }
}

pub fn health_check_timeout(config: &InitConfig) -> Duration {
    config
        .init
        .timeouts
        .as_ref()
        .and_then(|t| t.control_plane_component_health_check)
        .map_or(Duration::from_secs(240), |d| d.0)
}

pub fn apiserver(config: &InitConfig) -> Endpoint {
    let endpoint = &config.init.local_api_endpoint;
    let host = if endpoint.advertise_address.is_empty() {
        "127.0.0.1".to_string()
    } else {
        probe_address(&endpoint.advertise_address)
    };
    Endpoint {
        host,
        port: endpoint.bind_port,
        scheme: "HTTPS",
    }
}

fn bind_address_endpoint(extra_args: &[crate::domain::config::types::Arg], port: i32) -> Endpoint {
    Endpoint {
        host: last_value(extra_args, "bind-address").map_or("127.0.0.1".to_string(), probe_address),
        port,
        scheme: "HTTPS",
    }
}

pub fn controller_manager(config: &InitConfig) -> Endpoint {
    bind_address_endpoint(
        &config.cluster.controller_manager.extra_args,
        CONTROLLER_MANAGER_PORT,
    )
}

pub fn scheduler(config: &InitConfig) -> Endpoint {
    bind_address_endpoint(&config.cluster.scheduler.extra_args, SCHEDULER_PORT)
}

/// etcd is probed on its metrics listener: the first of `listen-metrics-urls` when the user set it.
pub fn etcd(config: &InitConfig) -> Endpoint {
    let loopback = super::flags::loopback(config).to_string();
    let default = Endpoint {
        host: loopback.clone(),
        port: i32::from(ETCD_METRICS_PORT),
        scheme: "HTTP",
    };
    let Some(urls) = config
        .cluster
        .etcd
        .local
        .as_ref()
        .and_then(|l| last_value(&l.extra_args, "listen-metrics-urls"))
    else {
        return default;
    };
    let first = urls.split(',').next().unwrap_or_default();
    let Some((scheme, rest)) = first.split_once("://") else {
        return default;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = split_authority(authority);
    Endpoint {
        host: if host.is_empty() { loopback } else { host },
        port: port
            .and_then(|p| p.parse::<u16>().ok().filter(|p| *p > 0))
            .map_or(default.port, i32::from),
        scheme: if scheme == "https" { "HTTPS" } else { "HTTP" },
    }
}

/// `host[:port]` or `[v6][:port]`, as Go's url.URL Hostname and Port read them.
fn split_authority(authority: &str) -> (String, Option<&str>) {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host.to_string(), tail.strip_prefix(':')),
            None => (String::new(), None),
        };
    }
    match authority.split_once(':') {
        Some((host, port)) => (host.to_string(), Some(port)),
        None => (authority.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_failures_cover_the_timeout() {
        let endpoint = Endpoint {
            host: String::new(),
            port: 1,
            scheme: "HTTP",
        };
        assert_eq!(
            endpoint
                .startup("/livez", Duration::from_secs(240))
                .failure_threshold,
            24
        );
        assert_eq!(
            endpoint
                .startup("/livez", Duration::from_secs(95))
                .failure_threshold,
            10
        );
    }

    #[test]
    fn authorities_split_like_go_urls() {
        assert_eq!(
            split_authority("[::1]:2382"),
            ("::1".to_string(), Some("2382"))
        );
        assert_eq!(
            split_authority("10.0.0.1:2382"),
            ("10.0.0.1".to_string(), Some("2382"))
        );
        assert_eq!(split_authority("example"), ("example".to_string(), None));
        assert_eq!(probe_address("::"), "");
        assert_eq!(probe_address("0.0.0.0"), "");
        assert_eq!(probe_address("10.0.0.1"), "10.0.0.1");
    }
}
