//! The safe remedies `preflight --fix` may apply. The checks only name them; applying them is the
//! host effects layer's job, so this crate never changes the machine.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "fix", rename_all = "kebab-case")]
pub enum Fix {
    /// Write `1` to a `/proc/sys` file now and persist the key in `/etc/sysctl.d/`.
    EnableSysctl { path: String },
    /// Load `br_netfilter` and `overlay` now where the kernel can, and persist them in `/etc/modules-load.d/`.
    LoadBridgeModules { path: String },
    /// `swapoff -a` and comment the swap lines out of `/etc/fstab`, keeping a backup.
    DisableSwap,
}

impl Fix {
    /// The sysctl key of a `/proc/sys` path (`/proc/sys/net/ipv4/ip_forward` → `net.ipv4.ip_forward`).
    pub fn sysctl_key(path: &str) -> String {
        path.trim_start_matches("/proc/sys/").replace('/', ".")
    }
}
