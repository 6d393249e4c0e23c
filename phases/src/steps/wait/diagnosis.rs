//! What kinit says when the wait times out: for each component whether it ever answered, the last
//! error, the likely cause where the error tells it, and the commands to look further. kubeadm only
//! says "timed out waiting for the condition" and lists the same commands for every case.

use crate::exec::net::probe::{Failure, Target};
use crate::workflow::ms;
use std::time::Duration;

/// How one component fared over the whole wait.
#[derive(Clone)]
pub struct Report {
    pub name: &'static str,
    pub target: Target,
    pub healthy_after: Option<Duration>,
    pub ever_answered: bool,
    pub attempts: u32,
    pub last_error: Option<Failure>,
}

/// What the diagnosis needs to know besides the reports.
pub struct Context<'a> {
    pub what: &'a str,
    pub timeout: Duration,
    pub cri_socket: &'a str,
    pub ca_file: &'a str,
    pub cert_dir: &'a str,
}

pub fn seconds(d: Duration) -> String {
    format!("{:.1}s", ms(d) / 1000.0)
}

/// The process listening on a TCP port, as (pid, command name), read from the kernel's tables.
/// Ports are the machine's own, so this reads /proc, never the `--rootfs` folder.
pub fn listener(port: u16) -> Option<(u32, String)> {
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|text| text.lines().skip(1).map(str::to_string).collect::<Vec<_>>())
        .find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields.get(1)?.rsplit(':').next()?;
            let listening = fields.get(3)? == &"0A";
            (listening && u16::from_str_radix(local_port, 16).ok()? == port)
                .then(|| fields.get(9).map(|i| i.to_string()))
                .flatten()
        })?;
    let wanted = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|link| link.to_string_lossy() == wanted)
        });
        if holds {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            return Some((pid, comm.trim().to_string()));
        }
    }
    None
}

/// The kernel keeps 15 bytes of a command name.
fn is_component_process(component: &str, comm: &str) -> bool {
    let short = &component[..component.len().min(15)];
    comm == short || comm == component
}

fn likely_cause(report: &Report, ctx: &Context<'_>) -> Option<String> {
    let target = &report.target;
    let address = crate::domain::manifests::flags::host_port(&target.host, target.port);
    let error = report.last_error.as_ref()?;
    let held_by = || {
        listener(target.port)
            .filter(|(_, comm)| !is_component_process(report.name, comm))
            .map(|(pid, comm)| {
                format!("port {} is held by another process, {comm} (pid {pid}), not {}: stop it or move it to another port", target.port, report.name)
            })
    };
    match error {
        Failure::Refused(_) if report.name == "kubelet" => Some(format!(
            "the kubelet is not running (nothing listens on {address}): start it (`systemctl start kubelet`) and see why it stops (`journalctl -xeu kubelet`)"
        )),
        Failure::Refused(_) => Some(format!(
            "nothing listens on {address}: the {} container is not running; the kubelet has not started its static Pod, or the container keeps exiting (see its logs with crictl below)",
            report.name
        )),
        Failure::Tls {
            wrong_name: true,
            names,
            ..
        } => Some(format!(
            "the serving certificate is not valid for the address {}: it is valid for [{}]. It was made for another address: remove {}/apiserver.crt and apiserver.key and run `kinit init phase certs apiserver`, or advertise an address it names",
            target.host,
            names.join(", "),
            ctx.cert_dir
        )),
        Failure::Tls { reason, .. } if reason.starts_with("certificate verify failed") => {
            Some(held_by().unwrap_or_else(|| format!(
                "the serving certificate is not signed by the cluster CA {}: an API server of another cluster, or certificates made again after it started (restart it so it reads the new ones)",
                ctx.ca_file
            )))
        }
        Failure::Tls { .. } => Some(held_by().unwrap_or_else(|| format!(
            "whatever listens on {address} does not complete a TLS handshake: is it a component of this cluster?"
        ))),
        Failure::Status { body, .. } => {
            if let Some(held) = held_by() {
                return Some(held);
            }
            let failing: Vec<&str> = body
                .lines()
                .filter(|l| l.starts_with("[-]"))
                .map(|l| l.trim_start_matches("[-]"))
                .collect();
            if failing.is_empty() {
                None
            } else if failing.iter().any(|f| f.starts_with("etcd")) {
                Some(format!(
                    "its checks fail: {}; the API server cannot reach etcd (see the etcd container's logs)",
                    failing.join("; ")
                ))
            } else {
                Some(format!("its checks fail: {}", failing.join("; ")))
            }
        }
        Failure::NoAnswer(_) => Some(format!(
            "the process on {address} accepts connections but does not answer: overloaded, stopped, or packets are dropped"
        )),
        Failure::Other(_) => None,
    }
}

/// The whole text of a timed-out wait.
pub fn diagnose(reports: &[Report], ctx: &Context<'_>) -> String {
    let mut text = format!(
        "timed out after {} waiting for {}:\n",
        crate::domain::config::duration::format(ctx.timeout),
        ctx.what
    );
    for report in reports {
        let url = report.target.url();
        match report.healthy_after {
            Some(after) => {
                text.push_str(&format!(
                    "  {} ({url}): healthy after {}\n",
                    report.name,
                    seconds(after)
                ));
                continue;
            }
            None => text.push_str(&format!(
                "  {} ({url}): never healthy in {} checks; {}\n",
                report.name,
                report.attempts,
                if report.ever_answered {
                    "it answered, but not with 200 OK"
                } else {
                    "it never answered"
                }
            )),
        }
        if let Some(error) = &report.last_error {
            text.push_str(&format!("      last error: {error}\n"));
        }
        if let Some(cause) = likely_cause(report, ctx) {
            text.push_str(&format!("      likely cause: {cause}\n"));
        }
    }
    let crictl = format!("crictl --runtime-endpoint {}", ctx.cri_socket);
    text.push_str(&format!(
        "\nTo look further:\n  - 'systemctl status kubelet'\n  - 'journalctl -xeu kubelet'\n  - '{crictl} ps -a | grep kube | grep -v pause'\n  - '{crictl} logs CONTAINERID' (a CONTAINERID from the list above)"
    ));
    text
}
