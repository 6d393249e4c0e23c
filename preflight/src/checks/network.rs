//! Checks of ports, proxies, the firewall and the node's name.

use crate::failure::Failure;
use crate::host::{Host, ServiceState};
use ipnet::IpNet;
use std::net::IpAddr;

pub fn port(host: &dyn Host, port: u16) -> Result<(), Failure> {
    host.can_listen(port).map_err(|_| {
        Failure::error(
            format!("Port {port} is in use"),
            format!("find the process with `ss -ltnp 'sport = :{port}'` and stop it, or run `kinit reset` if an earlier cluster holds it"),
        )
    })
}

pub const NO_INIT_SYSTEM: &str =
    "no supported init system detected, skipping checking for services";

pub fn firewalld(host: &dyn Host, ports: &[u16]) -> Result<(), Failure> {
    match host.service("firewalld") {
        ServiceState::NoInitSystem(why) => Err(Failure::warning(
            format!("{NO_INIT_SYSTEM} ({why})"),
            format!(
                "`iptables -S INPUT` shows whether a firewall drops TCP ports {}",
                ports
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        ServiceState::Enabled { active: true } => {
            let list: Vec<String> = ports.iter().map(u16::to_string).collect();
            let add: Vec<String> = ports
                .iter()
                .map(|p| format!("--add-port={p}/tcp"))
                .collect();
            Err(Failure::warning(
                format!("firewalld is active, please ensure ports [{}] are open or your cluster may not function correctly", list.join(" ")),
                format!("firewall-cmd --permanent {} && firewall-cmd --reload", add.join(" ")),
            ))
        }
        _ => Ok(()),
    }
}

/// The proxy Go's net/http would use for an https request to `host` (an IP or name, maybe with a port),
/// following HTTPS_PROXY/https_proxy and NO_PROXY/no_proxy the way golang.org/x/net/http/httpproxy does.
pub fn https_proxy_for(host: &dyn Host, target: &str) -> Option<String> {
    let proxy = host
        .env("HTTPS_PROXY")
        .or_else(|| host.env("https_proxy"))
        .filter(|p| !p.is_empty())?;
    let (name, port) = split_host_port(target);
    if name.eq_ignore_ascii_case("localhost") {
        return None;
    }
    let ip: Option<IpAddr> = name.parse().ok();
    if ip.is_some_and(|ip| ip.is_loopback()) {
        return None;
    }
    let no_proxy = host
        .env("NO_PROXY")
        .or_else(|| host.env("no_proxy"))
        .unwrap_or_default();
    for entry in no_proxy.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if entry == "*" {
            return None;
        }
        if let (Ok(net), Some(ip)) = (entry.parse::<IpNet>(), ip) {
            if net.contains(&ip) {
                return None;
            }
            continue;
        }
        let (entry_name, entry_port) = split_host_port(entry);
        if entry_port.is_some() && entry_port != port {
            continue;
        }
        if let (Ok(entry_ip), Some(ip)) = (entry_name.parse::<IpAddr>(), ip) {
            if entry_ip == ip {
                return None;
            }
            continue;
        }
        let entry_name = entry_name.trim_start_matches('*').to_ascii_lowercase();
        let name = name.to_ascii_lowercase();
        let matches = match entry_name.strip_prefix('.') {
            Some(suffix) => name.ends_with(&format!(".{suffix}")),
            None => name == entry_name || name.ends_with(&format!(".{entry_name}")),
        };
        if matches {
            return None;
        }
    }
    Some(proxy)
}

/// Splits `host:port`, `[v6]:port`, `[v6]` or a bare IPv6 address.
fn split_host_port(target: &str) -> (&str, Option<&str>) {
    if let Some(rest) = target.strip_prefix('[') {
        if let Some((ip, after)) = rest.split_once(']') {
            return (ip, after.strip_prefix(':'));
        }
    }
    if target.matches(':').count() == 1 {
        let (name, port) = target.split_once(':').unwrap_or((target, ""));
        return (name, Some(port));
    }
    (target, None)
}

pub fn http_proxy(host: &dyn Host, url: &str) -> Result<(), Failure> {
    let target = url.trim_start_matches("https://").trim_end_matches('/');
    match https_proxy_for(host, target) {
        None => Ok(()),
        Some(proxy) => Err(Failure::warning(
            format!("Connection to {url:?} uses proxy {proxy:?}. If that is not intended, adjust your proxy settings"),
            format!("add {} to NO_PROXY", split_host_port(target).0),
        )),
    }
}

pub fn http_proxy_cidr(host: &dyn Host, cidr: &str) -> Result<(), Failure> {
    let net: IpNet = match cidr.parse() {
        Ok(net) => net,
        Err(e) => {
            return Err(Failure::warning(
                format!("cannot check the proxy for {cidr:?}: {e}"),
                "give the CIDR as address/prefix, e.g. 10.96.0.0/12",
            ))
        }
    };
    let first = match net.network() {
        IpAddr::V4(v4) => IpAddr::V4((u32::from(v4).wrapping_add(1)).into()),
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6).wrapping_add(1)).into()),
    };
    let target = match first {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]:1234"),
    };
    match https_proxy_for(host, &target) {
        None => Ok(()),
        Some(proxy) => Err(Failure::warning(
            format!("connection to {cidr:?} uses proxy {proxy:?}. This may lead to malfunctional cluster setup. Make sure that Pod and Services IP ranges specified correctly as exceptions in proxy configuration"),
            format!("add {cidr} to NO_PROXY"),
        )),
    }
}

/// A DNS-1123 subdomain: lowercase alphanumerics, `-` and `.`, starting and ending alphanumeric, at most 253 characters.
pub fn dns1123_subdomain_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if name.len() > 253 {
        return Some("must be no more than 253 characters".into());
    }
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let labels_ok = name.split('.').all(|label| {
        !label.is_empty() && label.len() <= 63 && !label.starts_with('-') && !label.ends_with('-')
    });
    if !ok_chars || !labels_ok {
        return Some(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')".into(),
        );
    }
    None
}

pub fn hostname(host: &dyn Host, node_name: &str) -> Result<(), Failure> {
    let mut problems = Vec::new();
    if let Some(why) = dns1123_subdomain_problem(node_name) {
        problems.push(format!("invalid node name format {node_name:?}: {why}"));
    }
    if let Err(e) = host.resolve(node_name) {
        problems.push(format!("hostname \"{node_name}\" could not be reached"));
        problems.push(format!("hostname \"{node_name}\": {e}"));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Failure::warning(
        problems.join("; "),
        format!(
            "add \"<this node's IP> {node_name}\" to /etc/hosts or DNS, or set a valid --node-name"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports_split() {
        assert_eq!(split_host_port("10.0.0.1:6443"), ("10.0.0.1", Some("6443")));
        assert_eq!(split_host_port("[fd00::1]:1234"), ("fd00::1", Some("1234")));
        assert_eq!(split_host_port("fd00::1"), ("fd00::1", None));
        assert_eq!(split_host_port("example.com"), ("example.com", None));
    }

    #[test]
    fn subdomains() {
        assert!(dns1123_subdomain_problem("node-1.example.com").is_none());
        assert!(dns1123_subdomain_problem("Node").is_some());
        assert!(dns1123_subdomain_problem("-a").is_some());
        assert!(dns1123_subdomain_problem("a..b").is_some());
        assert!(dns1123_subdomain_problem("").is_some());
    }
}
