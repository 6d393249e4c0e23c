//! `kinit init phase show-join-command`: the closing text of init and its join commands, compared with
//! kubeadm's layout (reference §8) written out here, the CA pin with openssl's, and the secrets the user
//! asked to withhold absent from everything printed.

use std::path::Path;
use std::process::{Command, Output};

const TOKEN: &str = "abcdef.0123456789abcdef";
const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn kinit(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kinit"))
        .args(args)
        .arg("--rootfs")
        .arg(root)
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A control plane's PKI and kubeconfigs, made by kinit with `flags`.
fn node(flags: &[&str]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for phase in ["certs", "kubeconfig"] {
        let mut args = vec!["init", "phase", phase, "all"];
        args.extend(flags);
        ok(kinit(root.path(), &args));
    }
    root
}

/// The pin as the kubeadm docs compute it: the CA's public key, DER, SHA-256.
fn openssl_pin(root: &Path) -> String {
    let ca = root.join("etc/kubernetes/pki/ca.crt");
    let script = format!(
        "openssl x509 -pubkey -noout -in {} | openssl pkey -pubin -outform der | sha256sum",
        ca.display()
    );
    let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", text.split_whitespace().next().unwrap())
}

const HEAD: &str = "Your Kubernetes control-plane has initialized successfully!

To start using your cluster, you need to run the following as a regular user:

  mkdir -p $HOME/.kube
  sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config
  sudo chown $(id -u):$(id -g) $HOME/.kube/config

Alternatively, if you are the root user, you can run:

  export KUBECONFIG=/etc/kubernetes/admin.conf

You should now deploy a pod network to the cluster.
Run \"kubectl apply -f [podnetwork].yaml\" with one of the options listed at:
  https://kubernetes.io/docs/concepts/cluster-administration/addons/

";

#[test]
fn a_single_control_plane_gets_the_worker_command_only() {
    let flags = [
        "--apiserver-advertise-address",
        "198.51.100.10",
        "--node-name",
        "cp1",
        "--token",
        TOKEN,
    ];
    let root = node(&flags);
    let mut args = vec!["init", "phase", "show-join-command"];
    args.extend(flags);
    let out = ok(kinit(root.path(), &args));
    let pin = openssl_pin(root.path());
    let expected = format!(
        "{HEAD}Then you can join any number of worker nodes by running the following on each as root:\n\n\
         kinit join 198.51.100.10:6443 --token {TOKEN} \\\n\t--discovery-token-ca-cert-hash {pin} \n"
    );
    assert_eq!(out, format!("{expected}\n"));
}

#[test]
fn with_an_endpoint_and_uploaded_certificates_control_planes_get_theirs_with_the_key() {
    let flags = [
        "--apiserver-advertise-address",
        "198.51.100.10",
        "--node-name",
        "cp1",
        "--control-plane-endpoint",
        "cp.example.org",
        "--token",
        TOKEN,
    ];
    let root = node(&flags);
    let pin = openssl_pin(root.path());
    let mut args = vec![
        "init",
        "phase",
        "show-join-command",
        "--upload-certs",
        "--certificate-key",
        KEY,
    ];
    args.extend(flags);
    let out = ok(kinit(root.path(), &args));
    // admin.conf reaches the endpoint, with the bind port added (reference §4).
    let worker = format!("kinit join cp.example.org:6443 --token {TOKEN} \\\n\t--discovery-token-ca-cert-hash {pin} ");
    let expected = format!(
        "{HEAD}You can now join any number of control-plane nodes running the following command on each as root:\n\n  \
         {worker}\\\n\t--control-plane --certificate-key {KEY}\n\n\
         Please note that the certificate-key gives access to cluster sensitive data, keep it secret!\n\
         As a safeguard, uploaded-certs will be deleted in two hours; If necessary, you can use\n\
         \"kinit init phase upload-certs --upload-certs\" to reload certs afterward.\n\n\
         Then you can join any number of worker nodes by running the following on each as root:\n\n{worker}\n\n"
    );
    assert_eq!(out, expected);

    // Without uploaded certificates, the control plane is told to copy them, and gets no key.
    let mut args = vec!["init", "phase", "show-join-command"];
    args.extend(flags);
    let out = ok(kinit(root.path(), &args));
    assert!(
        out.contains(&format!(
        "You can now join any number of control-plane nodes by copying certificate authorities\n\
         and service account keys on each node and then running the following as root:\n\n  \
         {worker}\\\n\t--control-plane \n\n"
    )),
        "{out}"
    );
    assert!(!out.contains("--certificate-key"), "{out}");
}

#[test]
fn withheld_secrets_appear_nowhere_and_json_carries_the_join_material() {
    let flags = [
        "--apiserver-advertise-address",
        "198.51.100.10",
        "--node-name",
        "cp1",
        "--control-plane-endpoint",
        "198.51.100.100:7443",
        "--token",
        TOKEN,
    ];
    let root = node(&flags);
    let mut args = vec![
        "init",
        "phase",
        "show-join-command",
        "--upload-certs",
        "--certificate-key",
        KEY,
        "--skip-token-print",
        "--skip-certificate-key-print",
        "-v",
        "-v",
        "-v",
    ];
    args.extend(flags);
    let out = kinit(root.path(), &args);
    let stdout = ok(out.clone());
    let everything = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        !everything.contains("0123456789abcdef"),
        "a secret was printed:\n{everything}"
    );
    assert!(stdout.contains("--token <value withheld> \\\n"), "{stdout}");
    assert!(
        stdout.contains("--control-plane --certificate-key <value withheld>\n"),
        "{stdout}"
    );

    let mut args = vec![
        "init",
        "phase",
        "show-join-command",
        "-o",
        "json",
        "--upload-certs",
        "--certificate-key",
        KEY,
    ];
    args.extend(flags);
    let stdout = ok(kinit(root.path(), &args));
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let join = &result["join"];
    let pin = openssl_pin(root.path());
    assert_eq!(join["endpoint"], "198.51.100.100:7443");
    assert_eq!(join["token"], TOKEN);
    assert_eq!(join["caCertHashes"], serde_json::json!([pin]));
    assert_eq!(join["certificateKey"], KEY);
    assert_eq!(join["adminKubeconfig"], "/etc/kubernetes/admin.conf");
    assert_eq!(
        join["joinWorker"],
        format!(
            "kinit join 198.51.100.100:7443 --token {TOKEN} --discovery-token-ca-cert-hash {pin}"
        )
    );
    assert_eq!(
        join["joinControlPlane"],
        format!("kinit join 198.51.100.100:7443 --token {TOKEN} --discovery-token-ca-cert-hash {pin} --control-plane --certificate-key {KEY}")
    );
}

#[test]
fn without_a_pki_it_says_which_file_is_missing() {
    let root = tempfile::tempdir().unwrap();
    let out = kinit(
        root.path(),
        &[
            "init",
            "phase",
            "show-join-command",
            "--node-name",
            "cp1",
            "--apiserver-advertise-address",
            "198.51.100.10",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/etc/kubernetes/admin.conf does not exist"),
        "{stderr}"
    );
}

#[test]
fn a_dry_run_of_init_at_the_most_verbose_level_prints_no_secret() {
    let root = tempfile::tempdir().unwrap();
    let out = kinit(
        root.path(),
        &[
            "init",
            "--dry-run",
            "-v",
            "-v",
            "-v",
            "--apiserver-advertise-address",
            "198.51.100.10",
            "--node-name",
            "cp1",
            "--control-plane-endpoint",
            "cp.example.org",
            "--token",
            TOKEN,
            "--upload-certs",
            "--certificate-key",
            KEY,
        ],
    );
    let everything = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !everything.contains("0123456789abcdef"),
        "a secret was printed:\n{everything}"
    );
    assert!(
        everything.contains("--token <value withheld>")
            && everything.contains("--certificate-key <value withheld>"),
        "{everything}"
    );
}
