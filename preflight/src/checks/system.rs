//! Checks of the machine itself: user, CPUs, memory, swap, kernel, cgroups, kernel modules.

use crate::failure::Failure;
use crate::fix::Fix;
use crate::host::Host;

pub fn privileged_user(host: &dyn Host) -> Result<(), Failure> {
    if host.effective_uid() == 0 {
        return Ok(());
    }
    Err(Failure::error(
        "user is not running as root",
        "run kinit as root, e.g. `sudo kinit ...` (a --dry-run needs no root)",
    ))
}

pub fn num_cpu(host: &dyn Host, min: usize) -> Result<(), Failure> {
    match host.cpu_count() {
        Ok(count) if count >= min => Ok(()),
        Ok(count) => Err(Failure::error(
            format!("the number of available CPUs {count} is less than the required {min}"),
            format!(
                "`kinit init --ignore-preflight-errors=NumCPU` on a test machine; otherwise give it at least {min} CPUs"
            ),
        )),
        Err(e) => Err(Failure::error(
            format!("cannot count the CPUs of this machine: {e}"),
            "check that /sys/devices/system/cpu/online is readable",
        )),
    }
}

pub fn memory(host: &dyn Host, min_mb: u64) -> Result<(), Failure> {
    match host.total_memory_mb() {
        Ok(mb) if mb >= min_mb => Ok(()),
        Ok(mb) => Err(Failure::error(
            format!("the system RAM ({mb} MB) is less than the minimum {min_mb} MB"),
            format!("`kinit init --ignore-preflight-errors=Mem` on a test machine; otherwise give it at least {min_mb} MB of memory"),
        )),
        Err(e) => Err(Failure::error(
            format!("cannot read the memory size of this machine: {e}"),
            "check that /proc/meminfo is readable",
        )),
    }
}

pub fn swap(host: &dyn Host) -> Result<(), Failure> {
    let swaps = match host.read_file("/proc/swaps") {
        Ok(swaps) => swaps,
        Err(e) => {
            return Err(Failure::warning(
                format!("error reading /proc/swaps: {e}"),
                "check whether swap is on with `swapon --show`",
            ))
        }
    };
    if swaps.lines().filter(|line| !line.trim().is_empty()).count() <= 1 {
        return Ok(());
    }
    Err(Failure::warning(
        "swap is supported for cgroup v2 only; the NodeSwap feature gate of the kubelet is beta but disabled by default",
        "turn swap off: `swapoff -a` and comment out the swap lines in /etc/fstab (`kinit init phase preflight --fix` does both)",
    )
    .with_fix(Fix::DisableSwap))
}

/// The kernel version, OS and cgroup validators of kubeadm's SystemVerification.
pub fn verification(host: &dyn Host) -> Result<(), Failure> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    match host.read_file("/proc/sys/kernel/osrelease") {
        Ok(release) => {
            let release = release.trim();
            match kernel_major_minor(release) {
                Some(version) if version >= (4, 19) => {}
                Some(_) => errors.push(format!(
                    "kernel release {release} is unsupported: kinit needs 4.19 or newer"
                )),
                None => errors.push(format!("cannot parse the kernel release {release:?}")),
            }
        }
        Err(e) => errors.push(format!(
            "cannot read the kernel release from /proc/sys/kernel/osrelease: {e}"
        )),
    }
    if host.exists("/sys/fs/cgroup/cgroup.controllers") {
        let controllers = host
            .read_file("/sys/fs/cgroup/cgroup.controllers")
            .unwrap_or_default();
        let enabled: Vec<&str> = controllers.split_whitespace().collect();
        for required in ["cpu", "cpuset", "memory", "pids"] {
            if !enabled.contains(&required) {
                errors.push(format!("cgroup v2 controller {required} is not enabled"));
            }
        }
    } else {
        match host.read_file("/proc/cgroups") {
            Ok(table) => {
                let enabled: Vec<&str> = table
                    .lines()
                    .filter(|line| !line.starts_with('#'))
                    .filter_map(|line| {
                        let fields: Vec<&str> = line.split_whitespace().collect();
                        (fields.len() >= 4 && fields[3] == "1").then(|| fields[0])
                    })
                    .collect();
                for required in [
                    "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids",
                ] {
                    if !enabled.contains(&required) {
                        errors.push(format!("cgroup v1 controller {required} is not enabled"));
                    }
                }
                warnings.push(
                    "cgroups v1 support is in maintenance mode, please migrate to cgroups v2"
                        .to_string(),
                );
            }
            Err(e) => errors.push(format!(
                "cannot read the cgroup controllers (/proc/cgroups): {e}"
            )),
        }
    }
    if !errors.is_empty() {
        errors.extend(warnings);
        return Err(Failure::error(
            errors.join("; "),
            "use a kernel of 4.19 or newer with the cpu, cpuset, memory and pids cgroup controllers enabled",
        ));
    }
    if !warnings.is_empty() {
        return Err(Failure::warning(
            warnings.join("; "),
            "boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1 on the kernel command line)",
        ));
    }
    Ok(())
}

fn kernel_major_minor(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>();
    Some((major, minor.parse().ok()?))
}

const IPVS_MODULES: [&str; 5] = ["ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack"];

/// kube-proxy in ipvs mode needs these modules, loaded or built in.
pub fn ipvs_modules(host: &dyn Host) -> Result<(), Failure> {
    let mut available: Vec<String> = host
        .read_file("/proc/modules")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .collect();
    if let Ok(release) = host.read_file("/proc/sys/kernel/osrelease") {
        let builtin = host
            .read_file(&format!("/lib/modules/{}/modules.builtin", release.trim()))
            .unwrap_or_default();
        available.extend(builtin.lines().filter_map(|line| {
            let file = line.rsplit('/').next()?;
            Some(file.trim_end_matches(".ko").replace('-', "_"))
        }));
    }
    let missing: Vec<&str> = IPVS_MODULES
        .iter()
        .copied()
        .filter(|module| !available.iter().any(|a| a == module))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Failure::warning(
        format!(
            "the IPVS proxier will not be used, because these kernel modules are neither loaded nor built in: {}",
            missing.join(", ")
        ),
        format!("modprobe -a {}", missing.join(" ")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_releases_parse() {
        assert_eq!(kernel_major_minor("6.1.0-18-amd64"), Some((6, 1)));
        assert_eq!(kernel_major_minor("4.19.0"), Some((4, 19)));
        assert_eq!(kernel_major_minor("5.15.0+"), Some((5, 15)));
        assert_eq!(kernel_major_minor("garbage"), None);
    }
}
