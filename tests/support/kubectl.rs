//! The real kubectl (from the test venv) run inside a test host, as that host would run it.

use super::hosts::Host;
use super::venv::venv_tool;
use kinit_preflight::root_path::resolve_in_root;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The real kubectl inside a host, with a kubeconfig and a cache of its own.
pub struct Kubectl<'a> {
    host: &'a Host,
    kubeconfig: PathBuf,
    home: tempfile::TempDir,
}

impl<'a> Kubectl<'a> {
    /// kubectl on `host` with `kubeconfig`, a host path of its; client files it names by path are
    /// read under the host's root, as the host would read them.
    pub fn new(host: &'a Host, kubeconfig: &str) -> Kubectl<'a> {
        let home = tempfile::tempdir().unwrap();
        let source = host.path(kubeconfig);
        let original =
            std::fs::read_to_string(&source).unwrap_or_else(|e| panic!("{source:?}: {e}"));
        let mapped: String = original
            .lines()
            .map(|line| {
                let trimmed = line.trim_start();
                for key in [
                    "client-certificate: /",
                    "client-key: /",
                    "certificate-authority: /",
                ] {
                    if trimmed.starts_with(key) {
                        let (indent, rest) = line.split_at(line.len() - trimmed.len());
                        let (name, path) = rest.split_once(": ").unwrap();
                        // Followed as the node follows it: the kubelet's current pair is an
                        // absolute symlink.
                        let inside = resolve_in_root(host.root(), path).unwrap();
                        return format!("{indent}{name}: {}\n", host.path(&inside).display());
                    }
                }
                format!("{line}\n")
            })
            .collect();
        let kubeconfig = home.path().join("kubeconfig");
        std::fs::write(&kubeconfig, mapped).unwrap();
        Kubectl {
            host,
            kubeconfig,
            home,
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.host
            .command(venv_tool("kubectl"))
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.home.path().join("cache"))
            .arg("--request-timeout=10s")
            .args(args)
            .env("HOME", self.home.path())
            .output()
            .unwrap()
    }

    /// Its stdout, or an error with both streams.
    pub fn try_ok(&self, args: &[&str]) -> Result<String, String> {
        let out = self.run(args);
        if out.status.success() {
            Ok(text(&out.stdout))
        } else {
            Err(format!(
                "kubectl {args:?}: {}{}",
                text(&out.stdout),
                text(&out.stderr)
            ))
        }
    }

    pub fn json(&self, args: &[&str]) -> Result<Value, String> {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.try_ok(&all)?;
        serde_json::from_str(&out).map_err(|e| format!("kubectl {args:?}: {e}: {out}"))
    }
}
