//! A real program kept running inside a host's network namespace for the length of a test (CoreDNS,
//! kube-proxy), its output in a log file of its own; stopped (SIGTERM, then SIGKILL) on drop.

use super::hosts::Host;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `program args…` in `host`'s network namespace. `nsenter --net` enters only the
    /// network namespace: unlike `ip netns exec`, it leaves the machine's /etc/resolv.conf in place,
    /// which CoreDNS's `forward . /etc/resolv.conf` and its loop check need (the namespace's own
    /// resolv.conf would point CoreDNS at itself).
    pub fn start(host: &Host, name: &str, program: PathBuf, args: &[String]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", host.ns.name))
            .arg(&program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program:?} in {}: {e}", host.name));
        Daemon {
            name: name.to_string(),
            child,
            log,
            _dir: dir,
        }
    }

    /// The last `lines` of its output, headed by its name and whether it still runs.
    pub fn tail(&mut self, lines: usize) -> String {
        let state = match self.child.try_wait() {
            Ok(Some(status)) => format!("exited ({status})"),
            _ => "running".to_string(),
        };
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let start = all.len().saturating_sub(lines);
        format!(
            "--- {} ({state}), last {} lines ---\n{}\n",
            self.name,
            all.len() - start,
            all[start..].join("\n")
        )
    }

    /// Stops it: SIGTERM, and SIGKILL after 5 s.
    pub fn stop(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}
