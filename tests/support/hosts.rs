//! Test hosts on one machine: each a network namespace with its own address in 198.51.100.0/24
//! and its own root folder, joined by a bridge in a further namespace (the switch). A lone
//! [`Namespace`] serves tests that need no peer. Every namespace is deleted on drop, also when the
//! test panics, so a failed run leaves nothing behind on the machine.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// `ip args…` on the machine, failing with ip's own words.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip (iproute2): {e}"));
    assert!(
        out.status.success(),
        "ip {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One network namespace, `kinit-<label>-<pid>` (the pid keeps parallel test runs apart); deleted
/// on drop with the interfaces in it.
pub struct Namespace {
    pub name: String,
}

impl Namespace {
    /// A fresh namespace; its loopback is down, as `ip netns add` leaves it.
    pub fn new(label: &str) -> Namespace {
        let name = format!("kinit-{label}-{}", std::process::id());
        // A namespace left by a killed earlier run of the same pid would make `add` fail.
        delete_namespace(&name);
        ip(&["netns", "add", &name]);
        // The machine's name server is unreachable from inside, so every lookup (preflight's
        // Hostname check) would wait out the resolver's timeouts; `ip netns exec` mounts this file
        // over /etc/resolv.conf instead, and a lookup fails at once, as it does under kubeadm's chroot.
        let etc = Path::new("/etc/netns").join(&name);
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("resolv.conf"), "nameserver 127.0.0.1\n").unwrap();
        Namespace { name }
    }

    /// `ip args…` for this namespace (`ip -n`).
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// `program` run inside this namespace, with no input.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.name])
            .arg(program)
            .stdin(Stdio::null());
        command
    }

    /// The output of `argv` run inside this namespace, whatever its status.
    pub fn run(&self, argv: &[&str]) -> Output {
        self.command(argv[0])
            .args(&argv[1..])
            .output()
            .unwrap_or_else(|e| panic!("cannot run ip netns exec {argv:?}: {e}"))
    }

    /// [`Namespace::run`], failing with the program's output unless it succeeds; its stdout.
    pub fn must(&self, argv: &[&str]) -> String {
        let out = self.run(argv);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{argv:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Runs `work` on a thread inside this namespace; threads it starts and sockets it makes are
    /// inside too (a namespace belongs to the thread, not the process).
    pub fn spawn<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("setns {path}: {e}"));
            work()
        })
    }

    /// A listening socket made inside this namespace; it stays there whichever thread serves it.
    pub fn listen(&self, address: &str, port: u16) -> TcpListener {
        let ns = self.name.clone();
        let address = format!("{address}:{port}");
        self.spawn(move || {
            TcpListener::bind(&address).unwrap_or_else(|e| panic!("bind {address} in {ns}: {e}"))
        })
        .join()
        .unwrap()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        delete_namespace(&self.name);
    }
}

fn delete_namespace(name: &str) {
    let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(name));
    let _ = Command::new("ip")
        .args(["netns", "delete", name])
        .stderr(Stdio::null())
        .status();
}

pub struct Host {
    pub name: String,
    pub ns: Namespace,
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
        self.ns.command(program)
    }

    /// The kinit under test, inside this host, with `--rootfs` at its root.
    pub fn kinit(&self, args: &[&str]) -> Output {
        self.command(crate::kinit_binary())
            .args(args)
            .arg("--rootfs")
            .arg(self.root())
            .output()
            .unwrap()
    }

    /// A listening socket made inside this host's namespace.
    pub fn listen(&self, address: &str, port: u16) -> TcpListener {
        self.ns.listen(address, port)
    }
}

pub struct Network {
    // Declared before the switch, so the hosts' namespaces go first on drop.
    pub hosts: Vec<Host>,
    switch: Namespace,
}

impl Network {
    /// Hosts named `names`, at 198.51.100.1, .2, … in that order.
    pub fn new(test: &str, names: &[&str]) -> Network {
        let addresses: Vec<String> = (1..=names.len())
            .map(|i| format!("198.51.100.{i}"))
            .collect();
        let hosts: Vec<(&str, &str)> = names
            .iter()
            .zip(&addresses)
            .map(|(name, address)| (*name, address.as_str()))
            .collect();
        Network::at(test, &hosts)
    }

    /// Hosts of the given names and addresses (in 198.51.100.0/24, which is on the bridge).
    pub fn at(test: &str, hosts: &[(&str, &str)]) -> Network {
        let switch = Namespace::new(&format!("{test}-sw"));
        switch.ip(&["link", "add", "br0", "type", "bridge"]);
        switch.ip(&["link", "set", "br0", "up"]);
        let mut network = Network {
            hosts: Vec::new(),
            switch,
        };
        for (i, (name, address)) in hosts.iter().enumerate() {
            let ns = Namespace::new(&format!("{test}-{name}"));
            let port = format!("p{i}");
            ip(&[
                "link",
                "add",
                "eth0",
                "netns",
                &ns.name,
                "type",
                "veth",
                "peer",
                "name",
                &port,
                "netns",
                &network.switch.name,
            ]);
            ns.ip(&["addr", "add", &format!("{address}/24"), "dev", "eth0"]);
            ns.ip(&["link", "set", "eth0", "up"]);
            ns.ip(&["link", "set", "lo", "up"]);
            network.switch.ip(&["link", "set", &port, "master", "br0"]);
            network.switch.ip(&["link", "set", &port, "up"]);
            network.hosts.push(Host {
                name: name.to_string(),
                ns,
                address: address.to_string(),
                root: tempfile::tempdir().unwrap(),
            });
        }
        network
    }

    pub fn host(&self, name: &str) -> &Host {
        self.hosts.iter().find(|h| h.name == name).unwrap()
    }
}
