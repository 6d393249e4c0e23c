//! Preflight checks against temp root folders (fake /proc and /sys files, a PATH with and without the
//! binaries, a port held by the test), and `--fix` applied to such a root.

mod common;
use common::venv_tool;

use kinit_preflight::{Check, Host, RealHost, Severity};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn write(root: &Path, path: &str, content: &str) {
    let target = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(target, content).unwrap();
}

fn executable(root: &Path, path: &str, script: &str) {
    write(root, path, script);
    std::fs::set_permissions(
        root.join(path.trim_start_matches('/')),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
}

/// `kinit init phase preflight` on a temp root, every error ignored so the run reaches its end.
fn preflight_in(root: &Path, path_env: &str, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kinit"))
        .args([
            "init",
            "phase",
            "preflight",
            "--rootfs",
            root.to_str().unwrap(),
        ])
        .args([
            "--apiserver-advertise-address",
            "198.51.100.10",
            "--node-name",
            "cp1",
        ])
        .args(["--ignore-preflight-errors", "all"])
        .args(extra)
        .env("PATH", path_env)
        .output()
        .unwrap()
}

fn fails(check: &Check, host: &dyn Host) -> kinit_preflight::Failure {
    check
        .run(host)
        .expect_err(&format!("{} should fail", check.name()))
}

#[test]
fn file_and_kernel_checks_pass_and_fail() {
    let good = tempfile::tempdir().unwrap();
    let bad = tempfile::tempdir().unwrap();
    let (g, b) = (RealHost::new(good.path()), RealHost::new(bad.path()));
    write(good.path(), "/proc/sys/net/ipv4/ip_forward", "1\n");
    write(bad.path(), "/proc/sys/net/ipv4/ip_forward", "0\n");
    let forward = Check::FileContent {
        path: "/proc/sys/net/ipv4/ip_forward",
        content: "1",
    };
    assert!(forward.run(&g).is_ok());
    let failure = fails(&forward, &b);
    assert_eq!(failure.severity, Severity::Error);
    assert!(failure.message.contains("contents are not set to 1"));
    assert!(failure.fix.is_some());

    let bridge = Check::FileContent {
        path: "/proc/sys/net/bridge/bridge-nf-call-iptables",
        content: "1",
    };
    assert!(fails(&bridge, &b).remedy.contains("br_netfilter"));

    write(
        good.path(),
        "/proc/swaps",
        "Filename Type Size Used Priority\n",
    );
    write(
        bad.path(),
        "/proc/swaps",
        "Filename Type Size Used Priority\n/swapfile file 1024 0 -2\n",
    );
    assert!(Check::Swap.run(&g).is_ok());
    assert_eq!(fails(&Check::Swap, &b).severity, Severity::Warning);

    let manifest = Check::FileAvailable("/etc/kubernetes/manifests/etcd.yaml".into());
    write(bad.path(), "/etc/kubernetes/manifests/etcd.yaml", "x");
    assert!(manifest.run(&g).is_ok());
    assert!(fails(&manifest, &b).message.contains("already exists"));

    let etcd_dir = Check::DirAvailable("/var/lib/etcd".into());
    std::fs::create_dir_all(good.path().join("var/lib/etcd")).unwrap();
    write(bad.path(), "/var/lib/etcd/member/x", "x");
    assert!(etcd_dir.run(&g).is_ok());
    assert!(fails(&etcd_dir, &b).message.contains("is not empty"));

    write(good.path(), "/sys/devices/system/cpu/online", "0-3\n");
    write(bad.path(), "/sys/devices/system/cpu/online", "0\n");
    assert!(Check::NumCpu { min: 2 }.run(&g).is_ok());
    assert!(fails(&Check::NumCpu { min: 2 }, &b)
        .message
        .contains("1 is less than the required 2"));

    write(
        good.path(),
        "/proc/meminfo",
        "MemTotal:        4096000 kB\n",
    );
    write(bad.path(), "/proc/meminfo", "MemTotal:        1024000 kB\n");
    assert!(Check::Mem { min_mb: 1700 }.run(&g).is_ok());
    assert!(fails(&Check::Mem { min_mb: 1700 }, &b)
        .message
        .contains("less than the minimum 1700 MB"));

    write(
        good.path(),
        "/proc/sys/kernel/osrelease",
        "6.1.0-18-amd64\n",
    );
    write(
        good.path(),
        "/sys/fs/cgroup/cgroup.controllers",
        "cpuset cpu io memory hugetlb pids\n",
    );
    write(bad.path(), "/proc/sys/kernel/osrelease", "4.4.0\n");
    write(
        bad.path(),
        "/proc/cgroups",
        "#subsys_name hierarchy num_cgroups enabled\ncpu 1 1 1\nmemory 2 1 0\n",
    );
    assert!(Check::SystemVerification.run(&g).is_ok());
    let system = fails(&Check::SystemVerification, &b);
    assert!(
        system.message.contains("4.4.0") && system.message.contains("memory"),
        "{}",
        system.message
    );

    write(
        good.path(),
        "/proc/modules",
        "ip_vs 1 0 - Live 0x0\nip_vs_rr 1 0 - Live 0x0\nnf_conntrack 1 0 - Live 0x0\n",
    );
    write(
        good.path(),
        "/lib/modules/6.1.0-18-amd64/modules.builtin",
        "kernel/net/netfilter/ipvs/ip_vs_wrr.ko\nkernel/net/netfilter/ipvs/ip_vs_sh.ko\n",
    );
    write(bad.path(), "/proc/modules", "ip_vs 1 0 - Live 0x0\n");
    assert!(Check::IpvsModules.run(&g).is_ok());
    assert!(fails(&Check::IpvsModules, &b).message.contains("ip_vs_rr"));
}

/// A host whose environment is given by the test, so PATH and proxy variables need no process-wide change.
struct WithEnv<'a> {
    inner: RealHost,
    env: &'a [(&'a str, String)],
}

impl Host for WithEnv<'_> {
    fn read_file(&self, p: &str) -> std::io::Result<String> {
        self.inner.read_file(p)
    }
    fn exists(&self, p: &str) -> bool {
        self.inner.exists(p)
    }
    fn dir_entries(&self, p: &str) -> std::io::Result<Vec<String>> {
        self.inner.dir_entries(p)
    }
    fn find_in_path(&self, binary: &str) -> Option<std::path::PathBuf> {
        let path = self.env("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| self.inner.resolve_path(&dir.to_string_lossy()).join(binary))
            .find(|candidate| candidate.is_file())
    }
    fn can_listen(&self, port: u16) -> Result<(), String> {
        self.inner.can_listen(port)
    }
    fn effective_uid(&self) -> u32 {
        1000
    }
    fn cpu_count(&self) -> std::io::Result<usize> {
        self.inner.cpu_count()
    }
    fn total_memory_mb(&self) -> std::io::Result<u64> {
        self.inner.total_memory_mb()
    }
    fn service(&self, name: &str) -> kinit_preflight::ServiceState {
        self.inner.service(name)
    }
    fn resolve(&self, name: &str) -> Result<(), String> {
        self.inner.resolve(name)
    }
    fn env(&self, key: &str) -> Option<String> {
        self.env
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }
    fn run(&self, program: &Path, args: &[&str]) -> std::io::Result<std::process::Output> {
        self.inner.run(program, args)
    }
    fn connect_unix(&self, path: &str) -> Result<(), String> {
        self.inner.connect_unix(path)
    }
    fn http_get(
        &self,
        url: &str,
        tls: &kinit_preflight::EtcdClientFiles,
    ) -> Result<String, String> {
        self.inner.http_get(url, tls)
    }
}

#[test]
fn binaries_ports_proxies_sockets_and_the_user() {
    let root = tempfile::tempdir().unwrap();
    executable(root.path(), "/usr/bin/ip", "#!/bin/sh\n");
    executable(
        root.path(),
        "/usr/bin/kubelet",
        "#!/bin/sh\necho Kubernetes v1.29.0\n",
    );
    let env = [
        ("PATH", "/usr/bin".to_string()),
        ("HTTPS_PROXY", "http://proxy.example:3128".to_string()),
        ("NO_PROXY", "10.96.0.0/12,.svc".to_string()),
    ];
    let host = WithEnv {
        inner: RealHost::new(root.path()),
        env: &env,
    };

    assert!(Check::InPath {
        binary: "ip",
        mandatory: true
    }
    .run(&host)
    .is_ok());
    let missing = fails(
        &Check::InPath {
            binary: "iptables",
            mandatory: true,
        },
        &host,
    );
    assert_eq!(
        (missing.severity, missing.message.as_str()),
        (Severity::Error, "iptables not found in system path")
    );
    assert_eq!(
        fails(
            &Check::InPath {
                binary: "socat",
                mandatory: false
            },
            &host
        )
        .severity,
        Severity::Warning
    );

    // The kubelet here says v1.29.0: three minors below 1.32 is fine, below kinit's newest (1.34) minus 3 is not.
    let kubelet = |target: &str, newest_minor: u32| Check::KubeletVersion {
        target: target.into(),
        newest_minor,
    };
    let old = fails(&kubelet("v1.34.0", 34), &host);
    assert!(
        old.message.contains("lower than kinit can support"),
        "{}",
        old.message
    );
    assert!(kubelet("v1.31.0", 32).run(&host).is_ok());
    let newer = fails(&kubelet("v1.28.0", 31), &host);
    assert!(
        newer
            .message
            .contains("higher than the control plane version"),
        "{}",
        newer.message
    );

    let held = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = held.local_addr().unwrap().port();
    assert!(fails(&Check::Port(port), &host)
        .message
        .contains(&format!("Port {port} is in use")));
    drop(held);
    assert!(Check::Port(port).run(&host).is_ok());

    assert!(fails(
        &Check::HttpProxy {
            url: "https://198.51.100.10".into()
        },
        &host
    )
    .message
    .contains("uses proxy"));
    assert!(Check::HttpProxyCidr {
        cidr: "10.96.0.0/12".into()
    }
    .run(&host)
    .is_ok());
    assert!(fails(
        &Check::HttpProxyCidr {
            cidr: "10.244.0.0/16".into()
        },
        &host
    )
    .message
    .contains("10.244.0.0/16"));

    let cri = Check::Cri {
        socket: "unix:///run/containerd/containerd.sock".into(),
    };
    assert!(fails(&cri, &host)
        .message
        .contains("container runtime is not running"));
    std::fs::create_dir_all(root.path().join("run/containerd")).unwrap();
    let _listener =
        std::os::unix::net::UnixListener::bind(root.path().join("run/containerd/containerd.sock"))
            .unwrap();
    assert!(cri.run(&host).is_ok());

    assert_eq!(
        fails(&Check::IsPrivilegedUser { dry_run: false }, &host).severity,
        Severity::Error
    );
    assert_eq!(
        fails(&Check::IsPrivilegedUser { dry_run: true }, &host).severity,
        Severity::Warning
    );
    assert!(Check::Service { name: "kubelet" }
        .run(&host)
        .unwrap_err()
        .message
        .contains("no supported init system"));
}

#[test]
fn fix_sets_sysctls_persists_them_and_turns_swap_off_with_a_backup() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(r, "/proc/sys/net/ipv4/ip_forward", "0\n");
    write(r, "/proc/sys/net/bridge/bridge-nf-call-iptables", "0\n");
    write(
        r,
        "/proc/swaps",
        "Filename Type Size Used Priority\n/swapfile file 1024 0 -2\n",
    );
    let fstab = "UUID=1 / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n";
    write(r, "/etc/fstab", fstab);
    let log = r.join("calls.log");
    for tool in ["swapoff", "modprobe"] {
        executable(
            r,
            &format!("/sbin/{tool}"),
            &format!("#!/bin/sh\necho {tool} \"$@\" >> {}\n", log.display()),
        );
    }
    let run = |extra: &[&str]| preflight_in(r, "/sbin:/usr/bin", extra);
    let out = run(&["--fix"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("fixed: set net.ipv4.ip_forward = 1"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(r.join("proc/sys/net/ipv4/ip_forward")).unwrap(),
        "1\n"
    );
    assert_eq!(
        std::fs::read_to_string(r.join("proc/sys/net/bridge/bridge-nf-call-iptables")).unwrap(),
        "1\n"
    );
    let sysctl = std::fs::read_to_string(r.join("etc/sysctl.d/99-kinit.conf")).unwrap();
    assert!(
        sysctl.contains("net.ipv4.ip_forward = 1")
            && sysctl.contains("net.bridge.bridge-nf-call-iptables = 1"),
        "{sysctl}"
    );
    assert_eq!(
        std::fs::read_to_string(r.join("etc/fstab.kinit-backup")).unwrap(),
        fstab
    );
    let new_fstab = std::fs::read_to_string(r.join("etc/fstab")).unwrap();
    assert!(
        new_fstab.contains("# /swapfile none swap sw 0 0"),
        "{new_fstab}"
    );
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("swapoff -a"));
    assert!(
        !r.join("etc/modules-load.d/kinit.conf").exists(),
        "modules are loaded only when a bridge file is missing"
    );

    // A second --fix finds nothing left for the sysctls and keeps the first backup.
    let again = run(&["--fix"]);
    assert!(!String::from_utf8_lossy(&again.stdout).contains("fixed: set net.ipv4.ip_forward"));
    assert_eq!(
        std::fs::read_to_string(r.join("etc/fstab.kinit-backup")).unwrap(),
        fstab
    );

    // A dry run with --fix changes nothing and says what it would write.
    write(r, "/proc/sys/net/ipv4/ip_forward", "0\n");
    let dry = run(&["--fix", "--dry-run"]);
    assert!(String::from_utf8_lossy(&dry.stdout)
        .contains("[dry-run] would write /proc/sys/net/ipv4/ip_forward"));
    assert_eq!(
        std::fs::read_to_string(r.join("proc/sys/net/ipv4/ip_forward")).unwrap(),
        "0\n"
    );
}

#[test]
fn preflight_errors_stop_a_real_run_with_their_own_code() {
    let root = tempfile::tempdir().unwrap();
    write(root.path(), "/proc/sys/net/ipv4/ip_forward", "0\n");
    let out = Command::new(env!("CARGO_BIN_EXE_kinit"))
        .args([
            "init",
            "--rootfs",
            root.path().to_str().unwrap(),
            "--apiserver-advertise-address",
            "198.51.100.10",
            "--node-name",
            "cp1",
        ])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("[ERROR FileContent--proc-sys-net-ipv4-ip_forward]"),
        "{stderr}"
    );
    assert!(stderr.contains("--ignore-preflight-errors="), "{stderr}");
    assert!(
        !stderr.contains("ImagePull"),
        "a node that fails its checks pulls no images: {stderr}"
    );
    assert!(!stdout.contains("[certs]"), "a real run stops at preflight");
}

#[test]
fn services_are_read_through_systemctl_when_systemd_runs() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("run/systemd/system")).unwrap();
    // systemctl as a prepared node answers it: kubelet installed but disabled, firewalld enabled and active.
    executable(
        r,
        "/usr/bin/systemctl",
        "#!/bin/sh\ncase \"$1 $2 $3\" in\n  'is-enabled kubelet.service ') echo disabled; exit 1;;\n  'is-enabled firewalld.service ') echo enabled;;\n  'is-active --quiet firewalld.service') exit 0;;\n  *) echo not-found; exit 1;;\nesac\n",
    );
    let env = [("PATH", "/usr/bin".to_string())];
    let host = WithEnv {
        inner: RealHost::new(r),
        env: &env,
    };
    let kubelet = fails(&Check::Service { name: "kubelet" }, &host);
    assert!(
        kubelet.message.contains(
            "kubelet service is not enabled, please run 'systemctl enable kubelet.service'"
        ),
        "{}",
        kubelet.message
    );
    let firewall = fails(
        &Check::Firewalld {
            ports: vec![6443, 10250],
        },
        &host,
    );
    assert!(
        firewall
            .message
            .contains("ensure ports [6443 10250] are open"),
        "{}",
        firewall.message
    );
    assert!(firewall
        .remedy
        .contains("--add-port=6443/tcp --add-port=10250/tcp"));
    assert!(Check::Service { name: "containerd" }
        .run(&host)
        .unwrap_err()
        .message
        .contains("does not exist"));

    executable(
        r,
        "/usr/bin/systemctl",
        "#!/bin/sh\ncase \"$1\" in is-enabled) echo enabled;; *) exit 3;; esac\n",
    );
    assert!(Check::Service { name: "kubelet" }.run(&host).is_ok());
    assert!(
        Check::Firewalld { ports: vec![6443] }.run(&host).is_ok(),
        "an inactive firewalld is fine"
    );
}

#[test]
fn names_versions_certificates_and_images() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let host = RealHost::new(r);
    assert!(Check::Hostname {
        node_name: "localhost".into()
    }
    .run(&host)
    .is_ok());
    let bad = fails(
        &Check::Hostname {
            node_name: "Bad_Name.invalid".into(),
        },
        &host,
    );
    assert!(
        bad.message.contains("invalid node name format"),
        "{}",
        bad.message
    );
    assert_eq!(bad.severity, Severity::Warning);

    let newer = Check::KubernetesVersion {
        target: "v1.36.0".into(),
        target_minor: 36,
        newest_minor: 34,
    };
    assert_eq!(fails(&newer, &host).severity, Severity::Warning);
    assert!(Check::KubernetesVersion {
        target: "v1.34.2".into(),
        target_minor: 34,
        newest_minor: 34
    }
    .run(&host)
    .is_ok());

    let files = kinit_preflight::EtcdClientFiles {
        ca_file: "/etc/etcd/ca.crt".into(),
        cert_file: "/etc/etcd/client.crt".into(),
        key_file: "/etc/etcd/client.key".into(),
    };
    let certs = Check::ExternalEtcdClientCertificates(files.clone());
    let missing = fails(&certs, &host);
    assert!(
        missing
            .message
            .contains("/etc/etcd/client.key doesn't exist"),
        "{}",
        missing.message
    );
    for path in [&files.ca_file, &files.cert_file, &files.key_file] {
        write(r, path, "pem");
    }
    assert!(certs.run(&host).is_ok());

    // The runtime is asked through kinit's CRI client (tests/images_pull.rs, against a real
    // containerd); a plain view of the machine has none, and says so once for all the images.
    let plain = WithEnv {
        inner: RealHost::new(r),
        env: &[],
    };
    let pull = Check::ImagePull {
        images: vec![
            "registry.k8s.io/pause:3.10.1".to_string(),
            "registry.k8s.io/kube-proxy:v1.34.0".to_string(),
        ],
        cri_socket: "unix:///run/containerd/containerd.sock".into(),
    };
    let failure = fails(&pull, &plain);
    assert!(
        failure.message
            == "cannot pull the 2 images: cannot ask the container runtime at unix:///run/containerd/containerd.sock: this view of the host has no CRI client",
        "{}",
        failure.message
    );
}

/// A real etcd (from the test venv) on loopback, stopped when dropped.
struct Etcd {
    child: std::process::Child,
    _data: tempfile::TempDir,
    url: String,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_etcd() -> Etcd {
    start_etcd_with(None)
}

/// Client TLS for etcd: (CA, server cert, server key) it serves with and requires client certificates from.
struct EtcdTls {
    ca: std::path::PathBuf,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

fn start_etcd_with(tls: Option<&EtcdTls>) -> Etcd {
    let etcd = venv_tool("etcd");
    let data = tempfile::tempdir().unwrap();
    let (client, peer) = (free_port(), free_port());
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://127.0.0.1:{client}");
    let mut command = Command::new(etcd);
    if let Some(tls) = tls {
        command
            .arg("--cert-file")
            .arg(&tls.cert)
            .arg("--key-file")
            .arg(&tls.key);
        command
            .arg("--trusted-ca-file")
            .arg(&tls.ca)
            .arg("--client-cert-auth");
    }
    let child = command
        .args(["--name", "preflight-test", "--data-dir"])
        .arg(data.path())
        .args([
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
        ])
        .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
        .args([
            "--initial-advertise-peer-urls",
            &format!("http://127.0.0.1:{peer}"),
        ])
        .args([
            "--initial-cluster",
            &format!("preflight-test=http://127.0.0.1:{peer}"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let etcd = Etcd {
        child,
        _data: data,
        url,
    };
    for _ in 0..100 {
        // A listening port is enough here; each test then waits for the answer it needs.
        if std::net::TcpStream::connect(("127.0.0.1", client)).is_ok() {
            return etcd;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("etcd did not answer on {} within 10 s", etcd.url);
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl CLI is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, an etcd serving pair for 127.0.0.1 and a client pair, made with the openssl CLI.
fn etcd_pki(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=etcd-ca",
            "-days",
            "1",
        ],
    );
    // etcd's own gateway dials it with the serving pair, so that pair is a client too (as kubeadm's etcd/server).
    for (name, usage) in [
        ("server", "serverAuth,clientAuth"),
        ("client", "clientAuth"),
    ] {
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!("subjectAltName=IP:127.0.0.1\nextendedKeyUsage={usage}\n"),
        )
        .unwrap();
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.crt"),
                "-days",
                "1",
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }
}

#[test]
fn external_etcd_version_is_read_over_mutual_tls() {
    let pki = tempfile::tempdir().unwrap();
    let dir = pki.path();
    etcd_pki(dir);
    let tls = EtcdTls {
        ca: dir.join("ca.crt"),
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
    };
    let etcd = start_etcd_with(Some(&tls));
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let files = kinit_preflight::EtcdClientFiles {
        ca_file: path("ca.crt"),
        cert_file: path("client.crt"),
        key_file: path("client.key"),
    };
    // The engine's view of the node, whose HTTP requests go through kinit's one HTTP client.
    let host = kinit_phases::exec::node_host::NodeHost::new("/");
    let check = |files: kinit_preflight::EtcdClientFiles| Check::ExternalEtcdVersion {
        endpoints: vec![etcd.url.clone()],
        files,
        min_version: "3.4.0-0".into(),
    };
    let mut passed = false;
    for _ in 0..50 {
        if check(files.clone()).run(&host).is_ok() {
            passed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(passed, "{:?}", check(files.clone()).run(&host));
    let without_client_cert = kinit_preflight::EtcdClientFiles {
        ca_file: path("ca.crt"),
        ..Default::default()
    };
    assert!(fails(&check(without_client_cert), &host)
        .message
        .contains("failed to get etcd version"));
    let wrong_ca = kinit_preflight::EtcdClientFiles {
        ca_file: path("client.crt"),
        ..files
    };
    assert!(fails(&check(wrong_ca), &host)
        .message
        .contains("failed to get etcd version"));
}

#[test]
fn external_etcd_version_is_read_from_a_real_etcd() {
    let etcd = start_etcd();
    let host = kinit_phases::exec::node_host::NodeHost::new("/");
    let files = kinit_preflight::EtcdClientFiles::default();
    let version_url = format!("{}/version", etcd.url);
    for _ in 0..50 {
        if host.http_get(&version_url, &files).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let check = |min: &str| Check::ExternalEtcdVersion {
        endpoints: vec![etcd.url.clone()],
        files: files.clone(),
        min_version: min.into(),
    };
    assert!(check("3.4.0-0").run(&host).is_ok());
    let too_old = fails(&check("99.0.0-0"), &host);
    assert!(
        too_old
            .message
            .contains("only supports external etcd version >= 99.0.0-0. Current version: 3."),
        "{}",
        too_old.message
    );
    let port = free_port();
    let unreachable = Check::ExternalEtcdVersion {
        endpoints: vec![format!("http://127.0.0.1:{port}")],
        files,
        min_version: "3.5.0-0".into(),
    };
    assert!(fails(&unreachable, &host)
        .message
        .contains("failed to get etcd version"));
}

#[test]
fn fix_loads_the_bridge_modules_when_their_settings_are_missing() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(r, "/proc/sys/net/ipv4/ip_forward", "1\n");
    write(r, "/proc/swaps", "Filename Type Size Used Priority\n");
    let log = r.join("calls.log");
    // modprobe here fails, as on a kernel without loadable modules.
    executable(
        r,
        "/sbin/modprobe",
        &format!(
            "#!/bin/sh\necho modprobe \"$@\" >> {}\nexit 1\n",
            log.display()
        ),
    );
    let out = preflight_in(r, "/sbin", &["--fix"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("could not fix: modprobe br_netfilter failed"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(r.join("etc/modules-load.d/kinit.conf")).unwrap(),
        "br_netfilter\noverlay\n"
    );
    let sysctl = std::fs::read_to_string(r.join("etc/sysctl.d/99-kinit.conf")).unwrap();
    assert!(
        sysctl.contains("net.bridge.bridge-nf-call-iptables = 1"),
        "{sysctl}"
    );
    assert!(
        !sysctl.contains("bridge-nf-call-ip6tables"),
        "an IPv4 cluster gets only the IPv4 bridge setting: {sysctl}"
    );
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("modprobe overlay"));
}

#[test]
fn a_failing_preflight_still_reports_its_warnings_and_skipped_phases_start_and_end() {
    let root = tempfile::tempdir().unwrap();
    write(root.path(), "/proc/sys/net/ipv4/ip_forward", "0\n");
    write(
        root.path(),
        "/proc/swaps",
        "Filename Type Size Used Priority\n/swapfile file 1024 0 -2\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_kinit"))
        .args([
            "init",
            "-o",
            "json",
            "--rootfs",
            root.path().to_str().unwrap(),
        ])
        .args([
            "--apiserver-advertise-address",
            "198.51.100.10",
            "--node-name",
            "cp1",
        ])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let end = events
        .iter()
        .find(|e| e["event"] == "phase-end" && e["phase"] == "preflight")
        .unwrap();
    assert_eq!(end["outcome"], "preflight-errors");
    assert!(
        end["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("[WARNING Swap]")),
        "{end}"
    );

    let dry = Command::new(env!("CARGO_BIN_EXE_kinit"))
        .args([
            "init",
            "--dry-run",
            "-o",
            "json",
            "--skip-phases",
            "certs",
            "--rootfs",
            root.path().to_str().unwrap(),
        ])
        .args([
            "--apiserver-advertise-address",
            "198.51.100.10",
            "--node-name",
            "cp1",
        ])
        .output()
        .unwrap();
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&dry.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ca: Vec<&str> = events
        .iter()
        .filter(|e| e["phase"] == "certs/ca")
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(ca, ["phase-start", "phase-end"]);
    let skipped = events
        .iter()
        .filter(|e| {
            e["phase"].as_str().unwrap_or("").starts_with("certs/") && e["outcome"] == "skipped"
        })
        .count();
    assert_eq!(
        skipped, 11,
        "every certificate unit is skipped with its parent"
    );
}
