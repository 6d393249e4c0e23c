//! The certs and kubeconfig phases checked with the real tools: the openssl CLI reads every certificate and
//! key, kubectl reads every kubeconfig and talks TLS to an `openssl s_server` that serves the PKI.
//!
//! Every expectation here is written from the kubeadm reference (../shared/reference/kubeadm.md §3
//! certificates, §4 kubeconfig files, §8 CA hash, §11 defaults), never from kinit's own output.

mod common;
use common::{text, venv_tool};

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------------------
// Tools

fn kubectl_path() -> PathBuf {
    venv_tool("kubectl")
}

fn run(command: &mut Command) -> Output {
    let program = command.get_program().to_string_lossy().into_owned();
    command.stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("cannot run {program} ({e}): run scripts/test.sh, which installs the test tools")
    })
}

/// Runs the openssl CLI, which must succeed; its standard output.
fn openssl(args: &[&str]) -> String {
    let out = run(Command::new("openssl").args(args));
    assert!(
        out.status.success(),
        "openssl {} failed: {}{}",
        args.join(" "),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn openssl_succeeds(args: &[&str]) -> bool {
    run(Command::new("openssl").args(args)).status.success()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `Nov 23 16:22:06 2026 GMT`, as `openssl x509 -dates` prints it, in seconds since the epoch.
fn parse_openssl_date(date: &str) -> i64 {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = date.split_whitespace().collect();
    assert_eq!(parts.len(), 5, "unexpected date {date:?}");
    assert_eq!(parts[4], "GMT", "unexpected date {date:?}");
    let month = MONTHS.iter().position(|m| *m == parts[0]).unwrap() as i64 + 1;
    let day: i64 = parts[1].parse().unwrap();
    let year: i64 = parts[3].parse().unwrap();
    let hms: Vec<i64> = parts[2].split(':').map(|x| x.parse().unwrap()).collect();
    days_from_civil(year, month, day) * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
}

fn kinit(args: &[&str]) -> Output {
    run(Command::new(env!("CARGO_BIN_EXE_kinit")).args(args))
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{}\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A failed run whose error (on standard error) names `file` and says each of `words`.
fn assert_refused(out: &Output, what: &str, file: &str, words: &[&str]) {
    let all = text(&out.stderr);
    assert!(
        !out.status.success(),
        "{what} should have failed:\n{}\n{all}",
        text(&out.stdout)
    );
    assert!(
        all.contains(file),
        "{what}: the error does not name {file}:\n{all}"
    );
    for word in words {
        assert!(
            all.contains(word),
            "{what}: the error does not say {word:?}:\n{all}"
        );
    }
}

// ---------------------------------------------------------------------------------------------------
// A cluster configuration and a root kinit works in

#[derive(Clone, Default)]
struct Cluster {
    /// encryptionAlgorithm; empty leaves kubeadm's default.
    algorithm: &'static str,
    node: &'static str,
    advertise: &'static str,
    bind_port: Option<u16>,
    dns_domain: Option<&'static str>,
    service_subnet: Option<&'static str>,
    control_plane_endpoint: Option<&'static str>,
    cert_sans: Vec<&'static str>,
    etcd_server_sans: Vec<&'static str>,
    etcd_peer_sans: Vec<&'static str>,
    leaf_period: Option<&'static str>,
    ca_period: Option<&'static str>,
    /// etcd.external with files under /etc/etcd-ext of the root.
    external_etcd: bool,
}

fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

impl Cluster {
    /// The non-default configuration of the task: node cp-1, advertise 198.51.100.10, example.test,
    /// 10.100.0.0/16, two extra API server SANs, a load-balancer endpoint and extra etcd SANs.
    fn main(algorithm: &'static str) -> Cluster {
        Cluster {
            algorithm,
            node: "cp-1",
            advertise: "198.51.100.10",
            dns_domain: Some("example.test"),
            service_subnet: Some("10.100.0.0/16"),
            control_plane_endpoint: Some("lb.example.test:7443"),
            cert_sans: vec!["api.example.test", "198.51.100.99"],
            etcd_server_sans: vec!["etcd.example.test", "198.51.100.20"],
            etcd_peer_sans: vec!["peer.example.test", "198.51.100.21"],
            ..Default::default()
        }
    }

    fn yaml(&self) -> String {
        let mut y = String::from("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n");
        y += &format!(
            "localAPIEndpoint:\n  advertiseAddress: {:?}\n",
            self.advertise
        );
        if let Some(port) = self.bind_port {
            y += &format!("  bindPort: {port}\n");
        }
        y += &format!("nodeRegistration:\n  name: {:?}\n", self.node);
        y += "---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n";
        if !self.algorithm.is_empty() {
            y += &format!("encryptionAlgorithm: {}\n", self.algorithm);
        }
        if let Some(cpe) = self.control_plane_endpoint {
            y += &format!("controlPlaneEndpoint: {cpe:?}\n");
        }
        if let Some(period) = self.leaf_period {
            y += &format!("certificateValidityPeriod: {period}\n");
        }
        if let Some(period) = self.ca_period {
            y += &format!("caCertificateValidityPeriod: {period}\n");
        }
        if self.dns_domain.is_some() || self.service_subnet.is_some() {
            y += "networking:\n";
            if let Some(domain) = self.dns_domain {
                y += &format!("  dnsDomain: {domain:?}\n");
            }
            if let Some(subnet) = self.service_subnet {
                y += &format!("  serviceSubnet: {subnet:?}\n");
            }
        }
        if !self.cert_sans.is_empty() {
            y += &format!("apiServer:\n  certSANs: {}\n", quoted_list(&self.cert_sans));
        }
        if self.external_etcd {
            y += "etcd:\n  external:\n    endpoints: [\"https://198.51.100.30:2379\"]\n";
            y += "    caFile: /etc/etcd-ext/ca.crt\n    certFile: /etc/etcd-ext/client.crt\n";
            y += "    keyFile: /etc/etcd-ext/client.key\n";
        } else if !self.etcd_server_sans.is_empty() || !self.etcd_peer_sans.is_empty() {
            y += "etcd:\n  local:\n";
            y += &format!(
                "    serverCertSANs: {}\n",
                quoted_list(&self.etcd_server_sans)
            );
            y += &format!("    peerCertSANs: {}\n", quoted_list(&self.etcd_peer_sans));
        }
        y
    }
}

/// What one file looked like: modification time, inode, mode and content.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileState {
    mtime_ns: i128,
    inode: u64,
    mode: u32,
    bytes: Vec<u8>,
}

fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<String, FileState>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            walk(&path, base, out);
        } else {
            let rel = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.insert(
                rel,
                FileState {
                    mtime_ns: i128::from(meta.mtime()) * 1_000_000_000
                        + i128::from(meta.mtime_nsec()),
                    inode: meta.ino(),
                    mode: meta.permissions().mode() & 0o7777,
                    bytes: std::fs::read(&path).unwrap(),
                },
            );
        }
    }
}

/// A temporary root for `--rootfs`, and the configuration file kept outside it.
struct Root {
    root: tempfile::TempDir,
    scratch: tempfile::TempDir,
}

impl Root {
    fn new(cluster: &Cluster) -> Root {
        let root = Root {
            root: tempfile::tempdir().unwrap(),
            scratch: tempfile::tempdir().unwrap(),
        };
        root.set_config(cluster);
        root
    }

    /// A root with a whole PKI and the kubeconfig files, both phases having succeeded.
    fn generated(cluster: &Cluster) -> Root {
        let root = Root::new(cluster);
        root.generate();
        root
    }

    fn set_config(&self, cluster: &Cluster) {
        std::fs::write(self.config(), cluster.yaml()).unwrap();
    }

    fn config(&self) -> PathBuf {
        self.scratch.path().join("kinit.yaml")
    }

    /// A host path (`/etc/...`) under the root.
    fn path(&self, host_path: &str) -> PathBuf {
        self.root.path().join(host_path.trim_start_matches('/'))
    }

    fn pki(&self, name: &str) -> PathBuf {
        self.path(&format!("/etc/kubernetes/pki/{name}"))
    }

    fn conf(&self, file: &str) -> PathBuf {
        self.path(&format!("/etc/kubernetes/{file}"))
    }

    /// `kinit <args> --rootfs <root> --config <config>`.
    fn kinit(&self, args: &[&str]) -> Output {
        let config = self.config();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--rootfs", p(self.root.path()), "--config", p(&config)]);
        kinit(&all)
    }

    /// `kinit init phase <phase> all`.
    fn phase_all(&self, phase: &str) -> Output {
        self.kinit(&["init", "phase", phase, "all"])
    }

    fn generate(&self) {
        assert_ok(&self.phase_all("certs"), "certs all");
        assert_ok(&self.phase_all("kubeconfig"), "kubeconfig all");
    }

    fn snapshot(&self) -> BTreeMap<String, FileState> {
        let mut files = BTreeMap::new();
        walk(self.root.path(), self.root.path(), &mut files);
        files
    }

    fn scratch_file(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.scratch.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

fn assert_same_files(
    before: &BTreeMap<String, FileState>,
    after: &BTreeMap<String, FileState>,
    what: &str,
) {
    let names = |m: &BTreeMap<String, FileState>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(before),
        names(after),
        "{what}: the set of files changed"
    );
    for (name, state) in before {
        let now = &after[name];
        assert!(
            state.bytes == now.bytes,
            "{what}: the content of {name} changed"
        );
        assert_eq!(state.mode, now.mode, "{what}: the mode of {name} changed");
        assert_eq!(
            state.mtime_ns, now.mtime_ns,
            "{what}: the mtime of {name} changed"
        );
        assert_eq!(state.inode, now.inode, "{what}: {name} was replaced");
    }
}

// ---------------------------------------------------------------------------------------------------
// The expectation table (reference §3 and §4)

#[derive(Clone, Copy, Debug)]
enum Key {
    Rsa(u32),
    /// NIST curve name (`P-256`) and its size.
    Ec(&'static str, u32),
}

impl Key {
    fn pem_header(self) -> &'static str {
        match self {
            Key::Rsa(_) => "-----BEGIN RSA PRIVATE KEY-----",
            Key::Ec(..) => "-----BEGIN EC PRIVATE KEY-----",
        }
    }
}

/// What a configuration must produce, written out by hand from the reference for each case.
struct Want {
    key: Key,
    node: &'static str,
    apiserver_dns: &'static [&'static str],
    apiserver_ips: &'static [&'static str],
    etcd_server_dns: &'static [&'static str],
    etcd_server_ips: &'static [&'static str],
    etcd_peer_dns: &'static [&'static str],
    etcd_peer_ips: &'static [&'static str],
    external_etcd: bool,
    leaf_seconds: i64,
    ca_seconds: i64,
    /// admin.conf, super-admin.conf: the control-plane endpoint.
    cluster_server: &'static str,
    /// controller-manager.conf, scheduler.conf, and kubelet.conf (ControlPlaneKubeletLocalMode, on by
    /// default from kubeadm 1.33): this node's API server.
    local_server: &'static str,
}

const LEAF_1Y: i64 = 8760 * 3600;
const CA_10Y: i64 = 87600 * 3600;
const BACKDATE: i64 = 5 * 60;
const SERVER: &[&str] = &["TLS Web Server Authentication"];
const CLIENT: &[&str] = &["TLS Web Client Authentication"];
const SERVER_CLIENT: &[&str] = &[
    "TLS Web Server Authentication",
    "TLS Web Client Authentication",
];

/// The expectations of the main configuration (`Cluster::main`), from reference §3/§4/§11.
fn want_main(key: Key) -> Want {
    Want {
        key,
        node: "cp-1",
        // nodeName, kubernetes, kubernetes.default, kubernetes.default.svc, kubernetes.default.svc.<dnsDomain>,
        // the endpoint's DNS host, the DNS certSAN; sorted.
        apiserver_dns: &[
            "api.example.test",
            "cp-1",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.example.test",
            "lb.example.test",
        ],
        // 1st service IP, advertise address, then the IP certSAN; in that order.
        apiserver_ips: &["10.100.0.1", "198.51.100.10", "198.51.100.99"],
        etcd_server_dns: &["cp-1", "etcd.example.test", "localhost"],
        etcd_server_ips: &["198.51.100.10", "127.0.0.1", "::1", "198.51.100.20"],
        etcd_peer_dns: &["cp-1", "localhost", "peer.example.test"],
        etcd_peer_ips: &["198.51.100.10", "127.0.0.1", "::1", "198.51.100.21"],
        external_etcd: false,
        leaf_seconds: LEAF_1Y,
        ca_seconds: CA_10Y,
        cluster_server: "https://lb.example.test:7443",
        local_server: "https://198.51.100.10:6443",
    }
}

struct CertRow {
    base: &'static str,
    cn: String,
    orgs: Vec<&'static str>,
    /// Base of the signing CA; `None` for a self-signed CA.
    signer: Option<&'static str>,
    eku: &'static [&'static str],
    dns: Vec<String>,
    ips: Vec<IpAddr>,
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|ip| ip.parse().unwrap()).collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn ca_row(base: &'static str, cn: &str) -> CertRow {
    CertRow {
        base,
        cn: cn.into(),
        orgs: vec![],
        signer: None,
        eku: &[],
        dns: vec![cn.into()],
        ips: vec![],
    }
}

fn leaf_row(
    base: &'static str,
    cn: &str,
    orgs: &[&'static str],
    signer: &'static str,
    eku: &'static [&'static str],
    dns: &[&str],
    ip_list: &[&str],
) -> CertRow {
    CertRow {
        base,
        cn: cn.into(),
        orgs: orgs.to_vec(),
        signer: Some(signer),
        eku,
        dns: strings(dns),
        ips: ips(ip_list),
    }
}

/// Reference §3's table.
fn cert_table(w: &Want) -> Vec<CertRow> {
    let mut rows = vec![
        ca_row("ca", "kubernetes"),
        leaf_row(
            "apiserver",
            "kube-apiserver",
            &[],
            "ca",
            SERVER,
            w.apiserver_dns,
            w.apiserver_ips,
        ),
        leaf_row(
            "apiserver-kubelet-client",
            "kube-apiserver-kubelet-client",
            &["kubeadm:cluster-admins"],
            "ca",
            CLIENT,
            &[],
            &[],
        ),
        ca_row("front-proxy-ca", "front-proxy-ca"),
        leaf_row(
            "front-proxy-client",
            "front-proxy-client",
            &[],
            "front-proxy-ca",
            CLIENT,
            &[],
            &[],
        ),
    ];
    if !w.external_etcd {
        rows.extend([
            ca_row("etcd/ca", "etcd-ca"),
            leaf_row(
                "etcd/server",
                w.node,
                &[],
                "etcd/ca",
                SERVER_CLIENT,
                w.etcd_server_dns,
                w.etcd_server_ips,
            ),
            leaf_row(
                "etcd/peer",
                w.node,
                &[],
                "etcd/ca",
                SERVER_CLIENT,
                w.etcd_peer_dns,
                w.etcd_peer_ips,
            ),
            leaf_row(
                "etcd/healthcheck-client",
                "kube-etcd-healthcheck-client",
                &[],
                "etcd/ca",
                CLIENT,
                &[],
                &[],
            ),
            leaf_row(
                "apiserver-etcd-client",
                "kube-apiserver-etcd-client",
                &[],
                "etcd/ca",
                CLIENT,
                &[],
                &[],
            ),
        ]);
    }
    rows
}

struct KubeconfigRow {
    file: &'static str,
    user: String,
    orgs: Vec<&'static str>,
    server: &'static str,
}

/// Reference §4's table.
fn kubeconfig_table(w: &Want) -> Vec<KubeconfigRow> {
    let row = |file, user: String, orgs: &[&'static str], server| KubeconfigRow {
        file,
        user,
        orgs: orgs.to_vec(),
        server,
    };
    vec![
        row(
            "admin.conf",
            "kubernetes-admin".into(),
            &["kubeadm:cluster-admins"],
            w.cluster_server,
        ),
        row(
            "super-admin.conf",
            "kubernetes-super-admin".into(),
            &["system:masters"],
            w.cluster_server,
        ),
        row(
            "kubelet.conf",
            format!("system:node:{}", w.node),
            &["system:nodes"],
            w.local_server,
        ),
        row(
            "controller-manager.conf",
            "system:kube-controller-manager".into(),
            &[],
            w.local_server,
        ),
        row(
            "scheduler.conf",
            "system:kube-scheduler".into(),
            &[],
            w.local_server,
        ),
    ]
}

/// Another CA of the same PKI, for checking that `openssl verify` refuses a foreign CA.
fn other_ca(signer: &str) -> &'static str {
    if signer == "ca" {
        "front-proxy-ca"
    } else {
        "ca"
    }
}

// ---------------------------------------------------------------------------------------------------
// Checks with the openssl CLI

/// `KEY=value` attributes of a subject or issuer as `-nameopt RFC2253` prints them, sorted.
fn name_attributes(line: &str) -> Vec<(String, String)> {
    let mut attributes: Vec<(String, String)> = line
        .split(',')
        .map(|part| {
            let (k, v) = part
                .split_once('=')
                .unwrap_or_else(|| panic!("odd name {line:?}"));
            (k.to_string(), v.to_string())
        })
        .collect();
    attributes.sort();
    attributes
}

fn expected_name(cn: &str, orgs: &[&str]) -> Vec<(String, String)> {
    let mut attributes = vec![("CN".to_string(), cn.to_string())];
    attributes.extend(orgs.iter().map(|o| ("O".to_string(), o.to_string())));
    attributes.sort();
    attributes
}

/// The extensions `openssl x509 -ext` prints: name → (critical, value).
fn extensions(cert: &Path) -> BTreeMap<String, (bool, String)> {
    let out = openssl(&[
        "x509",
        "-noout",
        "-in",
        p(cert),
        "-ext",
        "keyUsage,extendedKeyUsage,basicConstraints,subjectAltName",
    ]);
    let mut found: BTreeMap<String, (bool, String)> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in out.lines() {
        if line.starts_with(' ') {
            let name = current
                .clone()
                .expect("a value line after an extension name");
            let entry = found.get_mut(&name).unwrap();
            if !entry.1.is_empty() {
                entry.1.push(' ');
            }
            entry.1.push_str(line.trim());
        } else if let Some((name, rest)) = line.split_once(':') {
            found.insert(name.to_string(), (rest.trim() == "critical", String::new()));
            current = Some(name.to_string());
        }
    }
    found
}

/// DNS names and IPs of a subjectAltName value, in their order.
fn sans(value: &str) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns = Vec::new();
    let mut ip_list = Vec::new();
    for item in value.split(", ").filter(|s| !s.is_empty()) {
        if let Some(name) = item.strip_prefix("DNS:") {
            dns.push(name.to_string());
        } else if let Some(ip) = item.strip_prefix("IP Address:") {
            ip_list.push(ip.parse().unwrap_or_else(|_| panic!("odd SAN IP {ip:?}")));
        } else {
            panic!("unexpected SAN {item:?}");
        }
    }
    (dns, ip_list)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The key's algorithm and size, as `openssl pkey -text` tells them.
fn check_key_algorithm(key: &Path, want: Key) {
    let out = openssl(&["pkey", "-in", p(key), "-noout", "-text"]);
    let first = out.lines().next().unwrap_or_default();
    match want {
        Key::Rsa(bits) => {
            assert_eq!(
                first,
                format!("Private-Key: ({bits} bit, 2 primes)"),
                "{}",
                key.display()
            );
        }
        Key::Ec(curve, bits) => {
            assert_eq!(
                first,
                format!("Private-Key: ({bits} bit)"),
                "{}",
                key.display()
            );
            assert!(
                out.contains(&format!("NIST CURVE: {curve}")),
                "{}: {out}",
                key.display()
            );
        }
    }
}

fn public_of_key(key: &Path) -> String {
    openssl(&["pkey", "-in", p(key), "-pubout"])
}

fn public_of_cert(cert: &Path) -> String {
    openssl(&["x509", "-in", p(cert), "-noout", "-pubkey"])
}

fn verifies(cert: &Path, ca: &Path) -> bool {
    openssl_succeeds(&["verify", "-CAfile", p(ca), p(cert)])
}

/// The run's start lies between `t0` and `t1` (seconds since the epoch).
#[derive(Clone, Copy)]
struct RunTime {
    t0: i64,
    t1: i64,
}

impl RunTime {
    fn measure(f: impl FnOnce()) -> RunTime {
        let t0 = now_unix();
        f();
        RunTime { t0, t1: now_unix() }
    }
}

/// Everything the table says about one certificate and its key.
#[allow(clippy::too_many_arguments)]
fn check_cert(
    label: &str,
    cert: &Path,
    key: &Path,
    row: &CertRow,
    issuer_cn: &str,
    ca: &Path,
    foreign_cas: &[PathBuf],
    key_kind: Key,
    period: i64,
    when: RunTime,
) {
    // File modes and PEM forms.
    assert_eq!(mode(cert), 0o644, "{label}: mode of {}", cert.display());
    assert_eq!(mode(key), 0o600, "{label}: mode of {}", key.display());
    let cert_pem = std::fs::read_to_string(cert).unwrap();
    assert!(
        cert_pem.starts_with("-----BEGIN CERTIFICATE-----\n"),
        "{label}: {cert_pem}"
    );
    let key_pem = std::fs::read_to_string(key).unwrap();
    assert!(
        key_pem.starts_with(&format!("{}\n", key_kind.pem_header())),
        "{label}: {} starts with {:?}",
        key.display(),
        key_pem.lines().next()
    );
    check_key_algorithm(key, key_kind);
    assert_eq!(
        public_of_key(key),
        public_of_cert(cert),
        "{label}: the key is not the certificate's"
    );

    // Subject, issuer, serial, validity.
    let out = openssl(&[
        "x509",
        "-noout",
        "-in",
        p(cert),
        "-subject",
        "-issuer",
        "-serial",
        "-dates",
        "-nameopt",
        "RFC2253",
    ]);
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{label}: no {name} in {out}"))
            .to_string()
    };
    assert_eq!(
        name_attributes(&field("subject")),
        expected_name(&row.cn, &row.orgs),
        "{label}: subject"
    );
    assert_eq!(
        name_attributes(&field("issuer")),
        expected_name(issuer_cn, &[]),
        "{label}: issuer"
    );
    let serial = u128::from_str_radix(&field("serial"), 16).unwrap();
    assert!(
        (1..(1u128 << 63) - 1).contains(&serial),
        "{label}: serial {serial} outside [1, 2^63-1)"
    );
    let not_before = parse_openssl_date(&field("notBefore"));
    let not_after = parse_openssl_date(&field("notAfter"));
    assert!(
        not_before >= when.t0 - BACKDATE - 60 && not_before <= when.t1 - BACKDATE + 60,
        "{label}: notBefore {not_before} is not about 5 minutes before the run ({}..{})",
        when.t0,
        when.t1
    );
    assert_eq!(
        not_after - not_before,
        period + BACKDATE,
        "{label}: notAfter - notBefore"
    );

    // Extensions.
    let ext = extensions(cert);
    let usage = ext
        .get("X509v3 Key Usage")
        .unwrap_or_else(|| panic!("{label}: no key usage"));
    let constraints = ext
        .get("X509v3 Basic Constraints")
        .unwrap_or_else(|| panic!("{label}: no basic constraints"));
    if row.signer.is_none() {
        assert_eq!(
            usage,
            &(
                true,
                "Digital Signature, Key Encipherment, Certificate Sign".to_string()
            ),
            "{label}"
        );
        assert_eq!(constraints, &(true, "CA:TRUE".to_string()), "{label}");
        assert!(
            !ext.contains_key("X509v3 Extended Key Usage"),
            "{label}: a CA has no EKU: {ext:?}"
        );
    } else {
        assert_eq!(
            usage,
            &(true, "Digital Signature, Key Encipherment".to_string()),
            "{label}"
        );
        assert_eq!(constraints, &(true, "CA:FALSE".to_string()), "{label}");
        let eku = &ext
            .get("X509v3 Extended Key Usage")
            .unwrap_or_else(|| panic!("{label}: no EKU"))
            .1;
        assert_eq!(eku, &row.eku.join(", "), "{label}: EKU");
    }
    let (dns, ip_list) = ext
        .get("X509v3 Subject Alternative Name")
        .map(|(_, value)| sans(value))
        .unwrap_or_default();
    assert_eq!(dns, row.dns, "{label}: SAN DNS names");
    assert_eq!(ip_list, row.ips, "{label}: SAN IPs");

    // Chain.
    assert!(
        verifies(cert, ca),
        "{label}: openssl verify -CAfile {} refuses it",
        ca.display()
    );
    for foreign in foreign_cas {
        assert!(
            !verifies(cert, foreign),
            "{label}: openssl verify -CAfile {} (a foreign CA) accepts it",
            foreign.display()
        );
    }
}

/// The whole PKI of `root` against the table: file list, every certificate, sa.key/sa.pub.
fn check_pki(root: &Root, w: &Want, foreign: &Root, when: RunTime) {
    let rows = cert_table(w);
    let mut expected: Vec<String> = rows
        .iter()
        .flat_map(|r| [format!("{}.crt", r.base), format!("{}.key", r.base)])
        .chain(["sa.key".to_string(), "sa.pub".to_string()])
        .collect();
    expected.sort();
    let mut found = BTreeMap::new();
    walk(&root.pki(""), &root.pki(""), &mut found);
    let found: Vec<String> = found.into_keys().collect();
    assert_eq!(found, expected, "the files under /etc/kubernetes/pki");

    for row in &rows {
        let signer = row.signer.unwrap_or(row.base);
        let issuer_cn = &rows.iter().find(|r| r.base == signer).unwrap().cn;
        let period = if row.signer.is_none() {
            w.ca_seconds
        } else {
            w.leaf_seconds
        };
        check_cert(
            row.base,
            &root.pki(&format!("{}.crt", row.base)),
            &root.pki(&format!("{}.key", row.base)),
            row,
            issuer_cn,
            &root.pki(&format!("{signer}.crt")),
            &[
                root.pki(&format!("{}.crt", other_ca(signer))),
                foreign.pki(&format!("{signer}.crt")),
            ],
            w.key,
            period,
            when,
        );
    }

    let sa_key = root.pki("sa.key");
    let sa_pub = root.pki("sa.pub");
    assert_eq!(mode(&sa_key), 0o600);
    // kubeadm writes the public key with its key writer: owner only.
    assert_eq!(mode(&sa_pub), 0o600);
    assert!(std::fs::read_to_string(&sa_key)
        .unwrap()
        .starts_with(w.key.pem_header()));
    check_key_algorithm(&sa_key, w.key);
    let public = std::fs::read_to_string(&sa_pub).unwrap();
    assert!(
        public.starts_with("-----BEGIN PUBLIC KEY-----\n"),
        "sa.pub: {public}"
    );
    assert_eq!(
        public_of_key(&sa_key),
        public,
        "sa.pub is not the public half of sa.key"
    );
}

// ---------------------------------------------------------------------------------------------------
// Checks with kubectl

fn kubectl(home: &Path, args: &[&str]) -> Output {
    run(Command::new(kubectl_path()).env("HOME", home).args(args))
}

fn unbase64(data: &str) -> Vec<u8> {
    openssl::base64::decode_block(data).expect("base64 data")
}

fn check_kubeconfigs(root: &Root, w: &Want, foreign: &Root, when: RunTime) {
    let home = root.scratch.path();
    let ca_pem = std::fs::read(root.pki("ca.crt")).unwrap();
    for row in kubeconfig_table(w) {
        let label = row.file;
        let file = root.conf(row.file);
        assert_eq!(mode(&file), 0o600, "{label}: mode");
        let out = kubectl(
            home,
            &[
                "config",
                "view",
                "--raw",
                "--kubeconfig",
                p(&file),
                "-o",
                "json",
            ],
        );
        assert_ok(&out, &format!("kubectl config view {label}"));
        let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let context_name = format!("{}@kubernetes", row.user);

        let clusters = config["clusters"].as_array().unwrap();
        assert_eq!(clusters.len(), 1, "{label}: clusters");
        assert_eq!(clusters[0]["name"], "kubernetes", "{label}");
        assert_eq!(
            clusters[0]["cluster"]["server"], row.server,
            "{label}: server"
        );
        let embedded_ca = unbase64(
            clusters[0]["cluster"]["certificate-authority-data"]
                .as_str()
                .unwrap(),
        );
        assert!(
            embedded_ca == ca_pem,
            "{label}: the embedded CA is not ca.crt"
        );

        let users = config["users"].as_array().unwrap();
        assert_eq!(users.len(), 1, "{label}: users");
        assert_eq!(users[0]["name"], row.user.as_str(), "{label}: user name");
        let contexts = config["contexts"].as_array().unwrap();
        assert_eq!(contexts.len(), 1, "{label}: contexts");
        assert_eq!(contexts[0]["name"], context_name.as_str(), "{label}");
        assert_eq!(contexts[0]["context"]["cluster"], "kubernetes", "{label}");
        assert_eq!(contexts[0]["context"]["user"], row.user.as_str(), "{label}");
        assert_eq!(config["current-context"], context_name.as_str(), "{label}");

        let out = kubectl(
            home,
            &["config", "current-context", "--kubeconfig", p(&file)],
        );
        assert_ok(&out, "kubectl config current-context");
        assert_eq!(
            text(&out.stdout).trim(),
            context_name,
            "{label}: current-context"
        );
        let out = kubectl(home, &["config", "get-contexts", "--kubeconfig", p(&file)]);
        assert_ok(&out, "kubectl config get-contexts");
        let listing = text(&out.stdout);
        let lines: Vec<Vec<&str>> = listing
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            lines,
            vec![vec![
                "*",
                context_name.as_str(),
                "kubernetes",
                row.user.as_str()
            ]],
            "{label}: get-contexts:\n{listing}"
        );

        // The embedded client certificate and key, read with openssl.
        let user = &users[0]["user"];
        let cert_pem = unbase64(user["client-certificate-data"].as_str().unwrap());
        let key_pem = unbase64(user["client-key-data"].as_str().unwrap());
        let cert = root.scratch_file(&format!("{label}.crt"), &cert_pem);
        let key = root.scratch_file(&format!("{label}.key"), &key_pem);
        std::fs::set_permissions(&cert, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let cert_row = CertRow {
            base: label,
            cn: row.user.clone(),
            orgs: row.orgs.clone(),
            signer: Some("ca"),
            eku: CLIENT,
            dns: vec![],
            ips: vec![],
        };
        check_cert(
            label,
            &cert,
            &key,
            &cert_row,
            "kubernetes",
            &root.pki("ca.crt"),
            &[root.pki("front-proxy-ca.crt"), foreign.pki("ca.crt")],
            w.key,
            w.leaf_seconds,
            when,
        );
    }
}

/// kubeadm's CA pin computed by the shell pipeline of the kubeadm docs, compared with kinit's function.
fn check_ca_hash(root: &Root) {
    let ca = root.pki("ca.crt");
    let out = run(Command::new("bash").arg("-c").arg(format!(
        "set -o pipefail; openssl x509 -pubkey -noout -in '{}' | openssl pkey -pubin -outform der | sha256sum",
        ca.display()
    )));
    assert_ok(&out, "the openssl | sha256sum pipeline");
    let shell = text(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(shell.len(), 64);
    let x509 = openssl::x509::X509::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
    let ours = kinit_phases::domain::pki::cert::ca_cert_hash(&x509).unwrap();
    assert_eq!(ours, format!("sha256:{shell}"));
}

// ---------------------------------------------------------------------------------------------------
// The tests

fn foreign_root() -> Root {
    Root::generated(&Cluster::main("ECDSA-P256"))
}

#[test]
fn rsa_2048_by_default_matches_the_reference() {
    // encryptionAlgorithm left out: kubeadm's default is RSA-2048 (reference §11).
    let cluster = Cluster::main("");
    let root = Root::new(&cluster);
    let when = RunTime::measure(|| root.generate());
    let foreign = foreign_root();
    let want = want_main(Key::Rsa(2048));
    check_pki(&root, &want, &foreign, when);
    check_kubeconfigs(&root, &want, &foreign, when);
    check_ca_hash(&root);
}

#[test]
fn ecdsa_p256_with_custom_validity_matches_the_reference() {
    let mut cluster = Cluster::main("ECDSA-P256");
    cluster.leaf_period = Some("48h");
    cluster.ca_period = Some("17520h");
    let root = Root::new(&cluster);
    let when = RunTime::measure(|| root.generate());
    let foreign = foreign_root();
    let mut want = want_main(Key::Ec("P-256", 256));
    want.leaf_seconds = 48 * 3600;
    want.ca_seconds = 17520 * 3600;
    check_pki(&root, &want, &foreign, when);
    check_kubeconfigs(&root, &want, &foreign, when);
    check_ca_hash(&root);
}

#[test]
fn ipv6_p384_without_control_plane_endpoint() {
    let cluster = Cluster {
        algorithm: "ECDSA-P384",
        node: "cp-6",
        advertise: "fd00::10",
        service_subnet: Some("fd00:10:96::/108"),
        ..Default::default()
    };
    let root = Root::new(&cluster);
    let when = RunTime::measure(|| root.generate());
    let foreign = foreign_root();
    let want = Want {
        key: Key::Ec("P-384", 384),
        node: "cp-6",
        apiserver_dns: &[
            "cp-6",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ],
        apiserver_ips: &["fd00:10:96::1", "fd00::10"],
        etcd_server_dns: &["cp-6", "localhost"],
        etcd_server_ips: &["fd00::10", "127.0.0.1", "::1"],
        etcd_peer_dns: &["cp-6", "localhost"],
        etcd_peer_ips: &["fd00::10", "127.0.0.1", "::1"],
        external_etcd: false,
        leaf_seconds: LEAF_1Y,
        ca_seconds: CA_10Y,
        // No controlPlaneEndpoint: every kubeconfig points at this node, the IPv6 host in brackets.
        cluster_server: "https://[fd00::10]:6443",
        local_server: "https://[fd00::10]:6443",
    };
    check_pki(&root, &want, &foreign, when);
    check_kubeconfigs(&root, &want, &foreign, when);
    // The quick look at the key size and curve in the certificate itself.
    let text = openssl(&[
        "x509",
        "-noout",
        "-text",
        "-in",
        p(&root.pki("apiserver.crt")),
    ]);
    assert!(
        text.contains("Public-Key: (384 bit)") && text.contains("NIST CURVE: P-384"),
        "{text}"
    );
}

#[test]
fn external_etcd_and_an_endpoint_without_port() {
    let cluster = Cluster {
        algorithm: "ECDSA-P256",
        node: "cp-x",
        advertise: "198.51.100.10",
        bind_port: Some(7000),
        control_plane_endpoint: Some("198.51.100.50"),
        // Duplicates of names the certificate has anyway go; a wildcard DNS name is accepted.
        cert_sans: vec!["kubernetes", "198.51.100.10", "*.apps.example.test"],
        external_etcd: true,
        ..Default::default()
    };
    let root = Root::new(&cluster);
    // The files etcd.external names, under the root.
    let etcd_source = foreign_root();
    std::fs::create_dir_all(root.path("/etc/etcd-ext")).unwrap();
    for (from, to) in [
        ("etcd/ca.crt", "ca.crt"),
        ("apiserver-etcd-client.crt", "client.crt"),
        ("apiserver-etcd-client.key", "client.key"),
    ] {
        std::fs::copy(
            etcd_source.pki(from),
            root.path(&format!("/etc/etcd-ext/{to}")),
        )
        .unwrap();
    }
    let when = RunTime::measure(|| root.generate());
    let want = Want {
        key: Key::Ec("P-256", 256),
        node: "cp-x",
        apiserver_dns: &[
            "*.apps.example.test",
            "cp-x",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ],
        // The endpoint's host is an IP: it goes among the IPs after the advertise address.
        apiserver_ips: &["10.96.0.1", "198.51.100.10", "198.51.100.50"],
        etcd_server_dns: &[],
        etcd_server_ips: &[],
        etcd_peer_dns: &[],
        etcd_peer_ips: &[],
        external_etcd: true,
        leaf_seconds: LEAF_1Y,
        ca_seconds: CA_10Y,
        // An endpoint without port gets localAPIEndpoint.bindPort.
        cluster_server: "https://198.51.100.50:7000",
        local_server: "https://198.51.100.10:7000",
    };
    check_pki(&root, &want, &etcd_source, when);
    check_kubeconfigs(&root, &want, &etcd_source, when);
}

#[test]
fn flags_cert_dir_and_kubeconfig_dir() {
    // The flags of the main configuration (without etcd SANs, which have no flag), and other folders.
    let root = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let flags = [
        "--rootfs",
        p(root.path()),
        "--node-name",
        "cp-1",
        "--apiserver-advertise-address",
        "198.51.100.10",
        "--service-cidr",
        "10.100.0.0/16",
        "--service-dns-domain",
        "example.test",
        "--apiserver-cert-extra-sans",
        "api.example.test,198.51.100.99",
        "--control-plane-endpoint",
        "lb.example.test:7443",
        "--cert-dir",
        "/srv/pki",
    ];
    let when = RunTime::measure(|| {
        for args in [
            vec!["init", "phase", "certs", "ca"],
            vec!["init", "phase", "certs", "apiserver"],
            vec![
                "init",
                "phase",
                "kubeconfig",
                "admin",
                "--kubeconfig-dir",
                "/srv/kc",
            ],
        ] {
            let mut all = args.clone();
            all.extend(flags);
            assert_ok(&kinit(&all), &args.join(" "));
        }
    });
    let pki = root.path().join("srv/pki");
    let mut files = BTreeMap::new();
    walk(root.path(), root.path(), &mut files);
    assert_eq!(
        files.into_keys().collect::<Vec<_>>(),
        [
            "srv/kc/admin.conf",
            "srv/pki/apiserver.crt",
            "srv/pki/apiserver.key",
            "srv/pki/ca.crt",
            "srv/pki/ca.key"
        ]
    );
    let want = want_main(Key::Rsa(2048));
    let rows = cert_table(&want);
    check_cert(
        "apiserver (flags)",
        &pki.join("apiserver.crt"),
        &pki.join("apiserver.key"),
        &rows[1],
        "kubernetes",
        &pki.join("ca.crt"),
        &[],
        Key::Rsa(2048),
        LEAF_1Y,
        when,
    );
    let out = kubectl(
        scratch.path(),
        &[
            "config",
            "view",
            "--raw",
            "--kubeconfig",
            p(&root.path().join("srv/kc/admin.conf")),
            "-o",
            "json",
        ],
    );
    assert_ok(&out, "kubectl config view");
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        config["clusters"][0]["cluster"]["server"],
        "https://lb.example.test:7443"
    );
    let embedded = unbase64(
        config["clusters"][0]["cluster"]["certificate-authority-data"]
            .as_str()
            .unwrap(),
    );
    assert!(embedded == std::fs::read(pki.join("ca.crt")).unwrap());
}

/// An `openssl s_server` serving a PKI, killed when dropped (also when the test fails).
struct TlsServer {
    child: std::process::Child,
    port: u16,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_tls_server(root: &Root) -> TlsServer {
    let log_path = root.scratch.path().join("s_server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let port = free_port();
    let child = Command::new("openssl")
        .args(["s_server", "-accept", &format!("127.0.0.1:{port}")])
        .args([
            "-cert",
            p(&root.pki("apiserver.crt")),
            "-key",
            p(&root.pki("apiserver.key")),
        ])
        .args(["-CAfile", p(&root.pki("ca.crt"))])
        // A client certificate is required, and one the CA did not sign ends the handshake.
        .args(["-Verify", "1", "-verify_return_error", "-www"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("openssl s_server starts: run scripts/test.sh, which installs openssl");
    let server = TlsServer { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("ACCEPT")
        {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "openssl s_server did not start: {}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
}

#[test]
fn tls_handshake_between_kubectl_and_openssl_s_server() {
    let root = Root::generated(&Cluster::main("ECDSA-P256"));
    let other = Root::generated(&Cluster::main("ECDSA-P256"));
    let server = start_tls_server(&root);
    let url = format!("https://127.0.0.1:{}", server.port);
    let home = root.scratch.path();
    let get = |kubeconfig: &Path, extra: &[&str]| {
        let mut args = vec![
            "--kubeconfig",
            p(kubeconfig),
            "--server",
            &url,
            "--request-timeout",
            "20s",
        ];
        args.extend(extra);
        args.extend(["get", "--raw", "/healthz"]);
        kubectl(home, &args)
    };

    // apiserver.crt names `kubernetes`, not 127.0.0.1: kubectl checks the name it is told to expect.
    for (file, cn) in [
        ("admin.conf", "kubernetes-admin"),
        ("kubelet.conf", "system:node:cp-1"),
    ] {
        let out = get(&root.conf(file), &["--tls-server-name", "kubernetes"]);
        assert_ok(&out, &format!("kubectl get --raw /healthz with {file}"));
        let page = text(&out.stdout);
        // s_server -www answers with a page describing the session, the client certificate included.
        assert!(page.contains("Verify return code: 0 (ok)"), "{page}");
        let client = page
            .split("Client certificate")
            .nth(1)
            .unwrap_or_else(|| panic!("{page}"));
        assert!(
            client.contains(&format!("CN={cn}")) || client.contains(&format!("CN = {cn}")),
            "{client}"
        );
    }
    let out = get(&root.conf("admin.conf"), &[]);
    assert!(
        !out.status.success(),
        "127.0.0.1 is not a SAN of apiserver.crt"
    );
    assert!(
        text(&out.stderr).contains("127.0.0.1"),
        "{}",
        text(&out.stderr)
    );

    // A second, separately made PKI: its admin.conf does not trust this server's CA.
    let out = get(
        &other.conf("admin.conf"),
        &["--tls-server-name", "kubernetes"],
    );
    assert!(
        !out.status.success(),
        "a foreign admin.conf was accepted: {}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("unknown authority"),
        "{}",
        text(&out.stderr)
    );

    // The server's CA trusted, but a client certificate of the foreign CA: the server refuses it.
    let empty = root.scratch_file("empty.conf", b"apiVersion: v1\nkind: Config\n");
    let out = get(
        &empty,
        &[
            "--tls-server-name",
            "kubernetes",
            "--certificate-authority",
            p(&root.pki("ca.crt")),
            "--client-certificate",
            p(&other.pki("apiserver-kubelet-client.crt")),
            "--client-key",
            p(&other.pki("apiserver-kubelet-client.key")),
        ],
    );
    assert!(
        !out.status.success(),
        "a foreign client certificate was accepted"
    );
    assert!(
        text(&out.stderr).contains("remote error"),
        "{}",
        text(&out.stderr)
    );
    drop(server);
}

#[test]
fn a_second_run_changes_no_byte_and_no_mtime() {
    let root = Root::generated(&Cluster::main("ECDSA-P256"));
    let before = root.snapshot();
    assert_eq!(
        before.len(),
        22 + 5, /* kubeconfigs */
        "{:?}",
        before.keys()
    );
    let certs = root.phase_all("certs");
    assert_ok(&certs, "certs all, again");
    assert!(
        text(&certs.stdout).contains("Using existing"),
        "{}",
        text(&certs.stdout)
    );
    assert!(
        !text(&certs.stdout).contains("Generating"),
        "{}",
        text(&certs.stdout)
    );
    let kubeconfigs = root.phase_all("kubeconfig");
    assert_ok(&kubeconfigs, "kubeconfig all, again");
    assert!(
        text(&kubeconfigs.stdout).contains("Using existing"),
        "{}",
        text(&kubeconfigs.stdout)
    );
    assert_same_files(&before, &root.snapshot(), "a second run");

    // Another controlPlaneEndpoint: existing kubeconfigs with the same CA stay; the other URL only warns.
    let mut moved = Cluster::main("ECDSA-P256");
    moved.control_plane_endpoint = Some("lb2.example.test:7443");
    root.set_config(&moved);
    let before = root.snapshot();
    let out = root.phase_all("kubeconfig");
    assert_ok(&out, "kubeconfig all with another endpoint");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    // kubelet.conf talks to this node's own API server, which did not move.
    for file in ["admin.conf", "super-admin.conf"] {
        assert!(
            all.lines().any(|l| l.contains("WARNING")
                && l.contains(&format!("/etc/kubernetes/{file}"))
                && l.contains("https://lb2.example.test:7443")),
            "no warning about the server of {file}:\n{all}"
        );
    }
    assert!(
        !all.contains("controller-manager.conf\" exists already but"),
        "{all}"
    );
    assert_same_files(&before, &root.snapshot(), "another endpoint");
}

#[test]
fn unsound_files_are_refused_and_left_alone() {
    let cluster = Cluster::main("ECDSA-P256");
    let other = Root::generated(&cluster);
    let apiserver = "/etc/kubernetes/pki/apiserver.crt";

    // A certificate and key signed by another CA.
    let root = Root::generated(&cluster);
    for f in ["apiserver.crt", "apiserver.key"] {
        std::fs::copy(other.pki(f), root.pki(f)).unwrap();
    }
    let before = root.snapshot();
    assert_refused(
        &root.phase_all("certs"),
        "a foreign apiserver.crt",
        apiserver,
        &["not signed by the CA"],
    );
    assert_same_files(&before, &root.snapshot(), "a foreign apiserver.crt");

    // A key that is not the certificate's.
    let root = Root::generated(&cluster);
    std::fs::copy(other.pki("apiserver.key"), root.pki("apiserver.key")).unwrap();
    let before = root.snapshot();
    assert_refused(
        &root.phase_all("certs"),
        "a swapped apiserver.key",
        apiserver,
        &["does not match"],
    );
    assert_same_files(&before, &root.snapshot(), "a swapped apiserver.key");

    // The configuration gained a certSAN the certificate lacks.
    let root = Root::generated(&cluster);
    let mut more = cluster.clone();
    more.cert_sans.push("new.example.test");
    root.set_config(&more);
    let before = root.snapshot();
    assert_refused(
        &root.phase_all("certs"),
        "a new certSAN",
        apiserver,
        &["lacks the SAN", "new.example.test"],
    );
    assert_same_files(&before, &root.snapshot(), "a new certSAN");

    // A kubeconfig of another cluster (reference §4: an existing file is reused only with the same CA).
    let root = Root::generated(&cluster);
    std::fs::copy(other.conf("admin.conf"), root.conf("admin.conf")).unwrap();
    let before = root.snapshot();
    assert_refused(
        &root.phase_all("kubeconfig"),
        "a foreign admin.conf",
        "/etc/kubernetes/admin.conf",
        &["wrong CA"],
    );
    assert_same_files(&before, &root.snapshot(), "a foreign admin.conf");
}

#[test]
fn expired_certificates_are_refused() {
    let mut cluster = Cluster::main("ECDSA-P256");
    // Long enough that a loaded machine still checks the chain before it ends, short enough to wait out.
    cluster.leaf_period = Some("4s");
    let root = Root::new(&cluster);
    let when = RunTime::measure(|| root.generate());
    let want = want_main(Key::Ec("P-256", 256));
    let rows = cert_table(&want);
    check_cert(
        "apiserver (4s)",
        &root.pki("apiserver.crt"),
        &root.pki("apiserver.key"),
        &rows[1],
        "kubernetes",
        &root.pki("ca.crt"),
        &[],
        want.key,
        4,
        when,
    );
    let expired_at = std::time::UNIX_EPOCH + Duration::from_secs(when.t1 as u64 + 5);
    if let Ok(left) = expired_at.duration_since(std::time::SystemTime::now()) {
        std::thread::sleep(left);
    }
    let before = root.snapshot();
    assert_refused(
        &root.phase_all("certs"),
        "an expired apiserver.crt",
        "/etc/kubernetes/pki/apiserver.crt",
        &["expired"],
    );
    // The kubeconfigs' client certificates have expired too. Reference §4 reuses a kubeconfig that has the
    // same CA (kubeadm checks nothing else); kinit refuses an expired one. That difference is reported, not
    // pinned here either way.
    assert_same_files(&before, &root.snapshot(), "expired certificates");
}

#[test]
fn missing_files_are_made_again_and_a_keyless_ca_is_used() {
    let cluster = Cluster::main("ECDSA-P256");
    let root = Root::generated(&cluster);
    let without = |snapshot: &BTreeMap<String, FileState>, gone: &[&str]| {
        snapshot
            .iter()
            .filter(|(name, _)| !gone.iter().any(|g| name.ends_with(g)))
            .map(|(name, state)| (name.clone(), state.clone()))
            .collect::<BTreeMap<_, _>>()
    };

    // A run killed between the key and the certificate: the key stays, the certificate is missing.
    let before = root.snapshot();
    let old_key = std::fs::read(root.pki("apiserver.key")).unwrap();
    std::fs::remove_file(root.pki("apiserver.crt")).unwrap();
    let when =
        RunTime::measure(|| assert_ok(&root.phase_all("certs"), "certs all without apiserver.crt"));
    assert!(
        std::fs::read(root.pki("apiserver.key")).unwrap() != old_key,
        "a new key goes with the new certificate"
    );
    let want = want_main(Key::Ec("P-256", 256));
    let rows = cert_table(&want);
    check_cert(
        "apiserver (made again)",
        &root.pki("apiserver.crt"),
        &root.pki("apiserver.key"),
        &rows[1],
        "kubernetes",
        &root.pki("ca.crt"),
        &[root.pki("front-proxy-ca.crt")],
        want.key,
        LEAF_1Y,
        when,
    );
    let gone = ["pki/apiserver.crt", "pki/apiserver.key"];
    assert_same_files(
        &without(&before, &gone),
        &without(&root.snapshot(), &gone),
        "the other files",
    );
    assert_ok(&root.phase_all("kubeconfig"), "kubeconfig all");

    // External CA mode: ca.crt without ca.key; everything it signs exists, so all is well.
    std::fs::remove_file(root.pki("ca.key")).unwrap();
    let before = root.snapshot();
    let out = root.phase_all("certs");
    assert_ok(&out, "certs all with a keyless CA");
    assert!(
        text(&out.stdout).contains("keyless"),
        "{}",
        text(&out.stdout)
    );
    assert_ok(
        &root.phase_all("kubeconfig"),
        "kubeconfig all with a keyless CA",
    );
    assert_same_files(&before, &root.snapshot(), "a keyless CA");

    // ...but what it should sign cannot be made.
    std::fs::remove_file(root.pki("apiserver.crt")).unwrap();
    let before = root.snapshot();
    assert_refused(
        &root.phase_all("certs"),
        "a keyless CA and no apiserver.crt",
        "/etc/kubernetes/pki/apiserver.crt",
        &["ca.key"],
    );
    assert_same_files(
        &before,
        &root.snapshot(),
        "a keyless CA and no apiserver.crt",
    );
    std::fs::remove_file(root.conf("admin.conf")).unwrap();
    let before = root.snapshot();
    assert_refused(
        &root.phase_all("kubeconfig"),
        "a keyless CA and no admin.conf",
        "/etc/kubernetes/admin.conf",
        &["ca.key"],
    );
    assert_same_files(&before, &root.snapshot(), "a keyless CA and no admin.conf");
}

/// The phases after kubeconfig, skipped so that a dry run is preflight, certs and kubeconfig.
const LATER_PHASES: &str =
    "etcd,control-plane,kubelet-start,wait-control-plane,upload-config,upload-certs,\
mark-control-plane,bootstrap-token,kubelet-finalize,addon,show-join-command";

#[test]
fn a_dry_run_writes_nothing_and_lists_what_it_would_write() {
    let empty = |root: &Root| {
        std::fs::read_dir(root.root.path())
            .unwrap()
            .next()
            .is_none()
    };
    let cluster = Cluster::main("ECDSA-P256");
    let want = want_main(Key::Ec("P-256", 256));
    let mut expected: Vec<(String, &str)> = Vec::new();
    for row in cert_table(&want) {
        expected.push((format!("/etc/kubernetes/pki/{}.key", row.base), "0600"));
        expected.push((format!("/etc/kubernetes/pki/{}.crt", row.base), "0644"));
    }
    expected.push(("/etc/kubernetes/pki/sa.key".into(), "0600"));
    expected.push(("/etc/kubernetes/pki/sa.pub".into(), "0600"));
    for row in kubeconfig_table(&want) {
        expected.push((format!("/etc/kubernetes/{}", row.file), "0600"));
    }
    let lists =
        |out: &Output, files: &[(String, &str)]| {
            let stdout = text(&out.stdout);
            for (file, mode) in files {
                assert!(
                    stdout.lines().any(|l| l.contains("would write")
                        && l.contains(&format!("{file} (mode {mode}"))),
                    "the dry run does not list {file}:\n{stdout}"
                );
            }
            assert_eq!(
                stdout.matches("would write").count(),
                files.len(),
                "{stdout}"
            );
        };

    // A whole init, preflight included (its findings are reported, the dry run goes on).
    let root = Root::new(&cluster);
    let out = root.kinit(&["init", "--dry-run", "--skip-phases", LATER_PHASES]);
    assert_ok(&out, "init --dry-run");
    lists(&out, &expected);
    assert!(empty(&root), "a dry run wrote {:?}", root.snapshot().keys());

    // The certs phase alone is a plan test (phases/src/flows/plan_tests.rs), without the binary.

    // Over a whole PKI: nothing to write, nothing touched.
    root.generate();
    let before = root.snapshot();
    let out = root.kinit(&["init", "--dry-run", "--skip-phases", LATER_PHASES]);
    assert_ok(&out, "init --dry-run over a PKI");
    lists(&out, &[]);
    assert_same_files(&before, &root.snapshot(), "a dry run over a PKI");
}
