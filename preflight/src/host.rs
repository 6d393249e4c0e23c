//! The one narrow view of the machine that every check reads through, so tests can hand a check any host.

use std::io;
use std::net::{TcpListener, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// What the init system says about a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceState {
    /// PID 1 is not systemd, so nothing can be said about services.
    NoInitSystem(String),
    NotFound,
    Disabled,
    Enabled {
        active: bool,
    },
}

/// The external etcd client files the ExternalEtcd checks look at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EtcdClientFiles {
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
}

pub trait Host: Sync {
    /// Reads a host file; `path` is absolute as on the node and is resolved under the root.
    fn read_file(&self, path: &str) -> io::Result<String>;
    fn exists(&self, path: &str) -> bool;
    /// Names inside a directory, or `NotFound` when it is absent.
    fn dir_entries(&self, path: &str) -> io::Result<Vec<String>>;
    /// Where `binary` is on PATH (PATH directories are resolved under the root too).
    fn find_in_path(&self, binary: &str) -> Option<PathBuf>;
    /// Ok when a TCP listener can be opened on all addresses at `port`.
    fn can_listen(&self, port: u16) -> Result<(), String>;
    fn effective_uid(&self) -> u32;
    fn cpu_count(&self) -> io::Result<usize>;
    fn total_memory_mb(&self) -> io::Result<u64>;
    fn service(&self, name: &str) -> ServiceState;
    fn resolve(&self, name: &str) -> Result<(), String>;
    fn env(&self, key: &str) -> Option<String>;
    fn run(&self, program: &Path, args: &[&str]) -> io::Result<Output>;
    /// Ok when something accepts connections on the unix socket at `path`.
    fn connect_unix(&self, path: &str) -> Result<(), String>;
    /// GET `url` (http or https; https verified against the CA file and presenting the client pair when given)
    /// and return the body of a 200 answer. The engine's view of the node makes the request with
    /// kinit's one HTTP client; a plain view of the machine makes none.
    fn http_get(&self, url: &str, tls: &EtcdClientFiles) -> Result<String, String> {
        let _ = tls;
        Err(format!(
            "cannot GET {url}: this view of the host makes no HTTP requests"
        ))
    }
    /// Where a node path lies on this machine: under the root of a `--rootfs` run. Only for what must
    /// name the machine's own paths, such as the mount points of /proc/self/mountinfo.
    fn host_path(&self, path: &str) -> PathBuf {
        PathBuf::from(path)
    }
    /// Pulls, one after the other, each of `images` that the container runtime at the CRI
    /// `endpoint` lacks; returns the images that failed, each with its error, or an error when the
    /// runtime cannot be asked at all. The engine's view of the node asks with kinit's CRI client;
    /// a plain view of the machine asks nothing.
    fn pull_missing(
        &self,
        endpoint: &str,
        images: &[String],
    ) -> Result<Vec<(String, String)>, String> {
        let _ = images;
        Err(format!(
            "cannot ask the container runtime at {endpoint}: this view of the host has no CRI client"
        ))
    }
}

/// The machine kinit runs on, seen through `root` (`/` normally, the `--rootfs` folder otherwise).
pub struct RealHost {
    root: PathBuf,
}

impl RealHost {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RealHost { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the node path `path` lies on this machine, its last part as it is (a symlink stays a
    /// symlink): for writing, renaming and removing.
    pub fn resolve_path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// Where the node path `path` lies on this machine with every symlink followed inside the
    /// root: for reading. The same as [`RealHost::resolve_path`] when the root is `/`.
    pub fn resolve_following(&self, path: &str) -> PathBuf {
        if self.root == Path::new("/") {
            return PathBuf::from(path);
        }
        match crate::root_path::resolve_in_root(&self.root, path) {
            Ok(inside) => self.resolve_path(&inside),
            Err(_) => self.resolve_path(path),
        }
    }
}

impl Host for RealHost {
    fn host_path(&self, path: &str) -> PathBuf {
        self.resolve_path(path)
    }

    fn read_file(&self, path: &str) -> io::Result<String> {
        std::fs::read_to_string(self.resolve_following(path))
    }

    fn exists(&self, path: &str) -> bool {
        self.resolve_following(path).exists()
    }

    fn dir_entries(&self, path: &str) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(self.resolve_following(path))? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }

    fn find_in_path(&self, binary: &str) -> Option<PathBuf> {
        let path = self.env("PATH")?;
        let dirs = std::env::join_paths(
            std::env::split_paths(&path).map(|dir| self.resolve_path(&dir.to_string_lossy())),
        )
        .ok()?;
        which::which_in(binary, Some(dirs), &self.root).ok()
    }

    fn can_listen(&self, port: u16) -> Result<(), String> {
        // Like Go's listen on ":port": IPv4 and, where the host has it, IPv6 (an IPv6-only listener counts).
        TcpListener::bind(("0.0.0.0", port))
            .map(drop)
            .map_err(|e| e.to_string())?;
        match TcpListener::bind(("::", port)) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(e.to_string()),
            Err(_) => Ok(()),
        }
    }

    fn effective_uid(&self) -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    fn cpu_count(&self) -> io::Result<usize> {
        // The online CPU list is read under the root so a test root can describe any machine.
        let online = self.read_file("/sys/devices/system/cpu/online")?;
        parse_cpu_list(online.trim()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("cannot parse CPU list {online:?}"),
            )
        })
    }

    fn total_memory_mb(&self) -> io::Result<u64> {
        let meminfo = self.read_file("/proc/meminfo")?;
        meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .map(|kib| kib / 1024)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "no MemTotal line in /proc/meminfo",
                )
            })
    }

    fn service(&self, name: &str) -> ServiceState {
        if !self.exists("/run/systemd/system") {
            return ServiceState::NoInitSystem(
                "systemd is not running as PID 1 (no /run/systemd/system)".to_string(),
            );
        }
        let Some(systemctl) = self.find_in_path("systemctl") else {
            return ServiceState::NoInitSystem("systemctl is not on PATH".to_string());
        };
        let unit = format!("{name}.service");
        let enabled = match self.run(&systemctl, &["is-enabled", &unit]) {
            Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_string(),
            Err(e) => return ServiceState::NoInitSystem(format!("cannot run systemctl: {e}")),
        };
        match enabled.as_str() {
            "" | "not-found" => ServiceState::NotFound,
            "enabled" | "enabled-runtime" | "static" | "alias" | "indirect" | "generated" => {
                let active = self
                    .run(&systemctl, &["is-active", "--quiet", &unit])
                    .map(|out| out.status.success())
                    .unwrap_or(false);
                ServiceState::Enabled { active }
            }
            _ => ServiceState::Disabled,
        }
    }

    fn resolve(&self, name: &str) -> Result<(), String> {
        match (name, 0u16).to_socket_addrs() {
            Ok(addrs) if addrs.len() > 0 => Ok(()),
            Ok(_) => Err(format!("lookup {name}: no addresses")),
            Err(e) => Err(format!("lookup {name}: {e}")),
        }
    }

    fn env(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }

    fn run(&self, program: &Path, args: &[&str]) -> io::Result<Output> {
        // A program that another thread or process has just written may still be open for writing in
        // a child forked meanwhile (ETXTBSY); that passes within moments, so a few short retries.
        let mut attempt = 0;
        loop {
            match Command::new(program).args(args).output() {
                Err(e) if e.raw_os_error() == Some(nix::libc::ETXTBSY) && attempt < 20 => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                result => return result,
            }
        }
    }

    fn connect_unix(&self, path: &str) -> Result<(), String> {
        UnixStream::connect(self.resolve_following(path))
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// Counts the CPUs in a kernel CPU list such as `0-3,8,10-11`.
pub fn parse_cpu_list(list: &str) -> Option<usize> {
    let mut count = 0;
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to): (usize, usize) = (from.parse().ok()?, to.parse().ok()?);
                count += to.checked_sub(from)? + 1;
            }
            None => {
                part.parse::<usize>().ok()?;
                count += 1;
            }
        }
    }
    Some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_are_counted() {
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("0-1"), Some(2));
        assert_eq!(parse_cpu_list("0-3,8,10-11"), Some(7));
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(parse_cpu_list("3-1"), None);
    }
}
