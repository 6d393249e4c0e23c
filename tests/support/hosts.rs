//! Test hosts on one machine: each a network namespace with its own address in 198.51.100.0/24
//! and its own root folder, joined by a bridge in a further namespace (the switch). Dropping the
//! network deletes every namespace, also when the test panics.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Host {
    pub name: String,
    /// The network namespace's name.
    pub ns: String,
    pub address: String,
    root: tempfile::TempDir,
}

impl Host {
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A host path as it lies under this host's root.
    pub fn path(&self, host_path: &str) -> PathBuf {
        self.root.path().join(host_path.trim_start_matches('/'))
    }

    /// `program` run inside this host's namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns])
            .arg(program)
            .stdin(Stdio::null());
        command
    }

    /// The kinit under test, inside this host, with `--rootfs` at its root.
    pub fn kinit(&self, args: &[&str]) -> std::process::Output {
        self.command(env!("CARGO_BIN_EXE_kinit"))
            .args(args)
            .arg("--rootfs")
            .arg(self.root())
            .output()
            .unwrap()
    }

    /// A listening socket made inside this host's namespace; it stays there whichever thread
    /// serves it.
    pub fn listen(&self, address: &str, port: u16) -> TcpListener {
        let ns = self.ns.clone();
        let address = format!("{address}:{port}");
        std::thread::spawn(move || {
            let handle = File::open(format!("/run/netns/{ns}")).unwrap();
            nix::sched::setns(handle, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            TcpListener::bind(&address).unwrap_or_else(|e| panic!("bind {address} in {ns}: {e}"))
        })
        .join()
        .unwrap()
    }
}

pub struct Network {
    switch: String,
    pub hosts: Vec<Host>,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn delete_namespace(name: &str) {
    let _ = Command::new("ip")
        .args(["netns", "delete", name])
        .stderr(Stdio::null())
        .status();
}

impl Network {
    /// Hosts named `names`, at 198.51.100.1, .2, … in that order.
    pub fn new(test: &str, names: &[&str]) -> Network {
        let pid = std::process::id();
        let switch = format!("kinit-{test}-sw-{pid}");
        delete_namespace(&switch);
        ip(&["netns", "add", &switch]);
        let mut network = Network {
            switch: switch.clone(),
            hosts: Vec::new(),
        };
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &switch, "link", "set", "br0", "up"]);
        for (i, name) in names.iter().enumerate() {
            let ns = format!("kinit-{test}-{name}-{pid}");
            delete_namespace(&ns);
            ip(&["netns", "add", &ns]);
            let address = format!("198.51.100.{}", i + 1);
            network.hosts.push(Host {
                name: name.to_string(),
                ns: ns.clone(),
                address: address.clone(),
                root: tempfile::tempdir().unwrap(),
            });
            let port = format!("p{i}");
            ip(&[
                "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port,
                "netns", &switch,
            ]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            ip(&["-n", &switch, "link", "set", &port, "master", "br0"]);
            ip(&["-n", &switch, "link", "set", &port, "up"]);
        }
        network
    }

    pub fn host(&self, name: &str) -> &Host {
        self.hosts.iter().find(|h| h.name == name).unwrap()
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for host in &self.hosts {
            delete_namespace(&host.ns);
        }
        delete_namespace(&self.switch);
    }
}
