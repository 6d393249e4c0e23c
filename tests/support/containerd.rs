//! Debian's containerd run as a plain process for a test: its root, state and CRI socket in a
//! folder of its own (the socket where a node has it, under that folder as a `--rootfs`), and
//! images put into it from OCI archives made here, since no registry is reachable.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where containerd's socket is on a node (kinit's first known CRI socket).
pub const SOCKET: &str = "/var/run/containerd/containerd.sock";

pub struct Containerd {
    child: Child,
    /// Its data, state, configuration and log.
    dir: tempfile::TempDir,
    /// The node root its socket is under.
    root: PathBuf,
}

impl Containerd {
    /// Starts containerd with its socket under a root of its own; see [`Containerd::start_in`].
    pub fn start() -> Containerd {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        Containerd::start_with(dir, root)
    }

    /// Starts containerd with its socket where a node has it under `root` (a test host's root)
    /// and waits until it answers; panics with its log otherwise.
    pub fn start_in(root: &Path) -> Containerd {
        Containerd::start_with(tempfile::tempdir().unwrap(), root.to_path_buf())
    }

    fn start_with(dir: tempfile::TempDir, root: PathBuf) -> Containerd {
        let d = dir.path();
        let socket = root.join(SOCKET.trim_start_matches('/'));
        std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
        let config = d.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{root}/data\"\nstate = \"{root}/state\"\n[grpc]\n  address = \"{socket}\"\n[ttrpc]\n  address = \"{socket}.ttrpc\"\n",
                root = d.display(),
                socket = socket.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(d.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("containerd (Debian's package, installed by scripts/test-deps.sh)");
        let containerd = Containerd { child, dir, root };
        let start = Instant::now();
        while containerd.ctr(&["version"]).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "containerd did not answer on {}:\n{}",
                socket.display(),
                containerd.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        containerd
    }

    /// The folder that holds the socket where a node has it: a `--rootfs` for kinit.
    pub fn root(&self) -> PathBuf {
        self.root.clone()
    }

    pub fn socket(&self) -> PathBuf {
        self.root().join(SOCKET.trim_start_matches('/'))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// `ctr` in the namespace the CRI keeps its images in.
    pub fn ctr(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(self.socket())
            .args(["--namespace", "k8s.io"])
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(said)
        } else {
            Err(said)
        }
    }

    /// Puts an image named `name` into the runtime: an OCI archive of one empty layer, imported
    /// with `ctr images import`.
    pub fn import(&self, name: &str) {
        let archive = oci_archive(self.dir.path(), name);
        self.ctr(&["images", "import", archive.to_str().unwrap()])
            .unwrap_or_else(|e| panic!("ctr images import {name}: {e}"));
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn digest(bytes: &[u8]) -> String {
    openssl::sha::sha256(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An OCI image layout archive (`tar`) of `name`: one empty layer, its config, its manifest and
/// an index naming it as containerd's importer reads the name.
fn oci_archive(work: &Path, name: &str) -> PathBuf {
    let layout = tempfile::tempdir_in(work).unwrap();
    let blobs = layout.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let sum = digest(bytes);
        std::fs::write(blobs.join(&sum), bytes).unwrap();
        (format!("sha256:{sum}"), bytes.len())
    };
    // An empty tar archive: two zero blocks.
    let (layer, layer_size) = put(&[0u8; 1024]);
    let config = serde_json::json!({"architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer]}});
    let (config, config_size) = put(config.to_string().as_bytes());
    let manifest = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size}]});
    let (manifest, manifest_size) = put(manifest.to_string().as_bytes());
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest, "size": manifest_size,
        "annotations": {"io.containerd.image.name": name}}]});
    std::fs::write(layout.path().join("index.json"), index.to_string()).unwrap();
    std::fs::write(
        layout.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let archive = work.join(format!("{}.tar", digest(name.as_bytes())));
    let out = Command::new("tar")
        .arg("-C")
        .arg(layout.path())
        .arg("-cf")
        .arg(&archive)
        .arg(".")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    archive
}
