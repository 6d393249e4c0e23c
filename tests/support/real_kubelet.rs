//! The real kubelet (built by scripts/test-tools.sh) on a host, started as kubeadm's drop-in starts
//! it: `--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf
//! --kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml
//! $KUBELET_KUBEADM_ARGS` (read from the host's kubeadm-flags.env), inside the host's network
//! namespace and a private mount namespace in which the host's /etc/kubernetes and
//! /var/lib/kubelet are bind-mounted where the kubelet looks, so every path in the files the join
//! wrote means what it means on a node. Beside it runs containerd (Debian's, as a plain process
//! with its own folders and socket), the runtime it must reach before it does anything.
//!
//! What these machines lack is handed in as flags after kinit's, which the kubelet lets win over
//! its config file: `--cgroup-driver=cgroupfs` (no systemd here), the private containerd socket,
//! and `--cgroups-per-qos=false --enforce-node-allocatable=` (it would otherwise make its
//! `kubepods` cgroups in the machine's one cgroup v1 hierarchy, which outlive the test). Its logs
//! folder /var/log is a private tmpfs for the same reason. No image can be pulled here
//! (registry.k8s.io is out of reach), so it runs no Pod: it bootstraps its client certificate,
//! registers its Node, serves its health check and API, and reports its status.

use super::daemon::Daemon;
use super::hosts::Host;
use super::real::real_tool;
use std::path::{Path, PathBuf};

/// The mount points the kubelet's private mount namespace needs on the machine: made when
/// missing (empty, the host's folders are mounted over them only inside), removed again after.
const MOUNT_POINTS: [&str; 2] = ["/etc/kubernetes", "/var/lib/kubelet"];

pub struct RealKubelet {
    pub kubelet: Daemon,
    pub containerd: Daemon,
    made: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

impl RealKubelet {
    pub fn start(host: &Host) -> RealKubelet {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("containerd.sock");
        let config = dir.path().join("containerd.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n[grpc]\n  address = \"{socket}\"\n",
                root = dir.path().join("root").display(),
                state = dir.path().join("state").display(),
                socket = socket.display()
            ),
        )
        .unwrap();
        let containerd = Daemon::start(
            host,
            "containerd",
            PathBuf::from("containerd"),
            &["--config".into(), config.display().to_string()],
        );
        let mut made = Vec::new();
        for point in MOUNT_POINTS {
            if !Path::new(point).exists() {
                std::fs::create_dir_all(point).unwrap();
                made.push(PathBuf::from(point));
            }
        }
        let script = format!(
            "set -e
mount --bind {root}/etc/kubernetes /etc/kubernetes
mount --bind {root}/var/lib/kubelet /var/lib/kubelet
mount -t tmpfs kubelet-logs /var/log
while [ ! -S {socket} ]; do sleep 0.1; done
. /var/lib/kubelet/kubeadm-flags.env
exec {kubelet} --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \\
  --kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml \\
  $KUBELET_KUBEADM_ARGS \\
  --cgroup-driver=cgroupfs --container-runtime-endpoint=unix://{socket} \\
  --cgroups-per-qos=false --enforce-node-allocatable=",
            root = host.root().display(),
            socket = socket.display(),
            kubelet = real_tool("kubelet").display(),
        );
        let kubelet = Daemon::start(
            host,
            "kubelet",
            PathBuf::from("unshare"),
            &[
                "--mount".into(),
                "--propagation".into(),
                "private".into(),
                "sh".into(),
                "-c".into(),
                script,
            ],
        );
        RealKubelet {
            kubelet,
            containerd,
            made,
            _dir: dir,
        }
    }

    /// The ends of both logs.
    pub fn tails(&mut self, lines: usize) -> String {
        format!(
            "{}{}",
            self.kubelet.tail(lines),
            self.containerd.tail(lines / 4)
        )
    }
}

impl Drop for RealKubelet {
    fn drop(&mut self) {
        self.kubelet.stop();
        self.containerd.stop();
        for point in &self.made {
            let _ = std::fs::remove_dir(point);
        }
    }
}
