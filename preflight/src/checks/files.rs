//! Checks of files, folders and binaries on the host.

use crate::failure::Failure;
use crate::fix::Fix;
use crate::host::EtcdClientFiles;
use crate::host::Host;

pub fn file_available(host: &dyn Host, path: &str) -> Result<(), Failure> {
    if !host.exists(path) {
        return Ok(());
    }
    Err(Failure::error(
        format!("{path} already exists"),
        format!("remove {path}, or run `kinit reset` if it is left from an earlier cluster"),
    ))
}

pub fn dir_available(host: &dyn Host, path: &str) -> Result<(), Failure> {
    match host.dir_entries(path) {
        Ok(entries) if !entries.is_empty() => Err(Failure::error(
            format!("{path} is not empty"),
            format!("empty {path}, or run `kinit reset` if it is left from an earlier cluster"),
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Failure::error(
            format!("{path} cannot be checked: {e}"),
            format!("make {path} an empty directory (or remove it)"),
        )),
    }
}

/// The package that usually provides a binary, for the remedy line.
fn package_of(binary: &str) -> &str {
    match binary {
        "ip" | "tc" => "iproute2",
        "mount" | "nsenter" => "util-linux",
        "touch" => "coreutils",
        "crictl" => "cri-tools",
        other => other,
    }
}

pub fn in_path(host: &dyn Host, binary: &str, mandatory: bool) -> Result<(), Failure> {
    if host.find_in_path(binary).is_some() {
        return Ok(());
    }
    let message = format!("{binary} not found in system path");
    let remedy = format!(
        "install the {} package (apt-get install / dnf install {})",
        package_of(binary),
        package_of(binary)
    );
    Err(if mandatory {
        Failure::error(message, remedy)
    } else {
        Failure::warning(message, remedy)
    })
}

pub fn file_content(host: &dyn Host, path: &str, content: &str) -> Result<(), Failure> {
    let is_sysctl = path.starts_with("/proc/sys/");
    // --fix may set only IPv4 forwarding and the bridge-netfilter settings; other settings are left to the person.
    let fixable =
        path == "/proc/sys/net/ipv4/ip_forward" || path.starts_with("/proc/sys/net/bridge/");
    let key = Fix::sysctl_key(path);
    match host.read_file(path) {
        Ok(actual) if actual.starts_with(content) => Ok(()),
        Ok(_) => {
            let failure = Failure::error(
                format!("{path} contents are not set to {content}"),
                if is_sysctl {
                    if fixable {
                        format!("sysctl -w {key}={content} and persist it in /etc/sysctl.d/ (`kinit init phase preflight --fix` does both)")
                    } else {
                        format!("sysctl -w {key}={content} && echo '{key} = {content}' >> /etc/sysctl.d/99-kubernetes.conf")
                    }
                } else {
                    format!("write {content} to {path}")
                },
            );
            Err(if fixable { failure.with_fix(Fix::EnableSysctl { path: path.to_string() }) } else { failure })
        }
        Err(_) if path.starts_with("/proc/sys/net/bridge/") => Err(Failure::error(
            format!("{path} does not exist"),
            "load the br_netfilter module: `modprobe br_netfilter` and persist it in /etc/modules-load.d/ (`kinit init phase preflight --fix` does both)",
        )
        .with_fix(Fix::LoadBridgeModules { path: path.to_string() })),
        Err(_) => Err(Failure::error(format!("{path} does not exist"), format!("check that this kernel provides {path}"))),
    }
}

pub fn external_etcd_client_certificates(
    host: &dyn Host,
    files: &EtcdClientFiles,
) -> Result<(), Failure> {
    let mut problems = Vec::new();
    for (what, path) in [
        ("CA", &files.ca_file),
        ("certificate", &files.cert_file),
        ("key", &files.key_file),
    ] {
        if path.is_empty() {
            continue;
        }
        if !host.exists(path) {
            problems.push(format!("external etcd {what} file {path} doesn't exist"));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Failure::error(
        problems.join("; "),
        "copy the external etcd client CA, certificate and key to the paths in etcd.external",
    ))
}
