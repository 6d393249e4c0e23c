//! Checks of the Kubernetes pieces kinit relies on: versions, the kubelet, the container runtime, etcd, images.

use crate::checks::network::NO_INIT_SYSTEM;
use crate::failure::Failure;
use crate::host::EtcdClientFiles;
use crate::host::{Host, ServiceState};

pub fn kubernetes_version(
    target: &str,
    target_minor: u32,
    newest_minor: u32,
) -> Result<(), Failure> {
    if target_minor <= newest_minor {
        return Ok(());
    }
    Err(Failure::warning(
        format!("Kubernetes version is greater than kinit's newest supported version. Please consider to upgrade kinit. Kubernetes version: {target}. Newest supported: 1.{newest_minor}.x"),
        format!("set kubernetesVersion to v1.{newest_minor} or older, or upgrade kinit"),
    ))
}

/// Parses `v1.34.2`, `1.34.2` or `Kubernetes v1.34.2` into (major, minor, patch).
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let word = text.split_whitespace().last()?;
    let word = word.strip_prefix('v').unwrap_or(word);
    let core = word.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some((major, minor, patch))
}

pub fn cri(host: &dyn Host, socket: &str) -> Result<(), Failure> {
    let Some(path) = socket
        .strip_prefix("unix://")
        .or_else(|| socket.starts_with('/').then_some(socket))
    else {
        return Err(Failure::error(
            format!("container runtime endpoint {socket:?} is not a unix socket"),
            "pass --cri-socket unix:///var/run/containerd/containerd.sock (or the socket of your runtime)",
        ));
    };
    host.connect_unix(path).map_err(|e| {
        Failure::error(
            format!("container runtime is not running: cannot connect to {socket}: {e}"),
            "install and start a container runtime (e.g. `apt-get install containerd && systemctl enable --now containerd`), or pass --cri-socket",
        )
    })
}

pub fn service(host: &dyn Host, name: &str) -> Result<(), Failure> {
    match host.service(name) {
        ServiceState::NoInitSystem(why) => Err(Failure::warning(
            format!("{NO_INIT_SYSTEM} ({why})"),
            format!("make sure {name} is started at boot by whatever supervises services on this machine"),
        )),
        ServiceState::NotFound => Err(Failure::warning(
            format!("{name} service does not exist"),
            format!("install the {name} package, which provides {name}.service"),
        )),
        ServiceState::Disabled => Err(Failure::warning(
            format!("{name} service is not enabled, please run 'systemctl enable {name}.service'"),
            format!("systemctl enable {name}.service"),
        )),
        ServiceState::Enabled { .. } => Ok(()),
    }
}

pub fn kubelet_version(host: &dyn Host, target: &str, newest_minor: u32) -> Result<(), Failure> {
    let install = "install the kubelet of the cluster's Kubernetes minor (from pkgs.k8s.io or your distribution)";
    let Some(kubelet) = host.find_in_path("kubelet") else {
        return Err(Failure::error(
            "couldn't get kubelet version: cannot execute 'kubelet --version': executable file not found in $PATH",
            install,
        ));
    };
    let output = host.run(&kubelet, &["--version"]).map_err(|e| {
        Failure::error(
            format!(
                "couldn't get kubelet version: cannot execute '{} --version': {e}",
                kubelet.display()
            ),
            install,
        )
    })?;
    let printed = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let Some(kubelet_version) = parse_version(&printed) else {
        return Err(Failure::error(
            format!("couldn't parse kubelet version {printed:?}"),
            install,
        ));
    };
    let Some(target_version) = parse_version(target) else {
        return Err(Failure::error(
            format!("couldn't parse the Kubernetes version {target:?}"),
            "set a version like v1.34.2",
        ));
    };
    // Like kubeadm: a kubelet at most three minors older than the tool itself, never newer than the control plane.
    let min_minor = newest_minor.saturating_sub(3);
    if kubelet_version.0 != target_version.0 || kubelet_version.1 < min_minor {
        return Err(Failure::error(
            format!("Kubelet version {printed:?} is lower than kinit can support. Please upgrade kubelet"),
            install,
        ));
    }
    if kubelet_version.1 > target_version.1 {
        return Err(Failure::error(
            format!("the kubelet version is higher than the control plane version. This is not a supported version skew and may lead to a malfunctional cluster. Kubelet version: {printed:?} Control plane version: {target:?}"),
            install,
        ));
    }
    Ok(())
}

pub fn external_etcd_version(
    host: &dyn Host,
    endpoints: &[String],
    files: &EtcdClientFiles,
    min_version: &str,
) -> Result<(), Failure> {
    let min = parse_version(min_version).unwrap_or((3, 5, 0));
    let mut problems = Vec::new();
    for endpoint in endpoints {
        let url = format!("{}/version", endpoint.trim_end_matches('/'));
        match host.http_get(&url, files) {
            Err(e) => problems.push(format!("failed to get etcd version from {url}: {e}")),
            Ok(body) => {
                let server = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| {
                        v.get("etcdserver")
                            .and_then(|s| s.as_str())
                            .map(str::to_string)
                    });
                match server.as_deref().and_then(parse_version) {
                    None => problems.push(format!("{url} did not answer with an etcd version: {body:?}")),
                    Some(version) if version < min => problems.push(format!(
                        "this version of kinit only supports external etcd version >= {min_version}. Current version: {}",
                        server.unwrap_or_default()
                    )),
                    Some(_) => {}
                }
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Failure::error(
        problems.join("; "),
        format!("make every etcd endpoint reachable with the configured client certificate, running etcd {min_version} or newer"),
    ))
}

/// kubeadm's ImagePull check with the IfNotPresent policy: each image the runtime lacks is pulled
/// through its CRI, one after the other.
pub fn image_pull(host: &dyn Host, images: &[String], cri_socket: &str) -> Result<(), Failure> {
    // The runtime cannot be asked at all: one error says so, not one per image.
    let failed = host.pull_missing(cri_socket, images).map_err(|e| {
        Failure::error(
            format!("cannot pull the {} images: {e}", images.len()),
            "start the container runtime, or pass --ignore-preflight-errors=ImagePull and load the images of `kinit config images list` yourself",
        )
    })?;
    if failed.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = failed
        .iter()
        .map(|(image, e)| format!("failed to pull image {image}: {e}"))
        .collect();
    Err(Failure::error(
        listed.join("; "),
        "once the registry is reachable, run `kinit config images pull` (or load the images into the runtime yourself)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("Kubernetes v1.34.2"), Some((1, 34, 2)));
        assert_eq!(parse_version("1.31"), Some((1, 31, 0)));
        assert_eq!(parse_version("v1.33.0-rc.1"), Some((1, 33, 0)));
        assert_eq!(parse_version("3.5.24-0"), Some((3, 5, 24)));
        assert_eq!(parse_version("nonsense"), None);
    }
}
