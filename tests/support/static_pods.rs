//! The kubelet's static Pods, played by the test with the real programs: [`StaticPods::watch`]
//! watches `<root>/etc/kubernetes/manifests/*.yaml` of a host and runs each Pod's container
//! command with the real binary of the same name (tests/support/real.rs), inside the host's
//! network namespace. As the kubelet does, it creates the hostPath folders and files the Pod asks
//! for (`DirectoryOrCreate`, `FileOrCreate`), restarts a container that exits (with a short
//! backoff), stops the container (SIGTERM, then SIGKILL) when its manifest goes or changes, and
//! starts the new one. Nothing is played beyond that: the programs are the real ones.
//!
//! There are no containers here, so the Pod's mounts are honoured by rewriting the path-valued
//! flags: a flag value that is an absolute path inside the container must lie under one of the
//! container's `volumeMounts`, and becomes `<root>/<hostPath of that volume>/<rest>`. A path that
//! lies under no mount is an error (the real container would not see the file), reported by
//! [`StaticPods::errors`] and in every log tail.
//!
//! Each container's standard output and error go to `<name>.log` in a folder of its own (one
//! line per start and stop is added by the watcher); [`StaticPods::tail`] gives the end of it
//! for failure messages. Everything is killed on drop; when `KINIT_STATIC_POD_LOGS` names a
//! folder, the logs are copied there as `<host>-<name>.log` first.

use super::hosts::Host;
use super::real::real_tool;
use kinit_phases::domain::config::yaml::parse_documents;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The programs a static Pod of kubeadm's may name.
const PROGRAMS: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];
/// How often the manifest folder is read, as the kubelet's file source does (it polls too).
const POLL: Duration = Duration::from_millis(200);
/// How long a container has between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// The real program, arguments and environment of a Pod's one container.
struct Container {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// One manifest file and what runs for it.
struct Pod {
    manifest: Vec<u8>,
    /// What to run, once the manifest was understood.
    container: Option<Container>,
    child: Option<Child>,
    starts: u32,
    next_start: Instant,
    log: PathBuf,
}

struct State {
    pods: BTreeMap<String, Pod>,
    errors: Vec<String>,
}

pub struct StaticPods {
    stop: Arc<AtomicBool>,
    state: Arc<Mutex<State>>,
    watcher: Option<std::thread::JoinHandle<()>>,
    logs: tempfile::TempDir,
    host: String,
}

impl StaticPods {
    /// Starts watching `host`'s manifest folder.
    pub fn watch(host: &Host) -> StaticPods {
        let programs: BTreeMap<String, PathBuf> = PROGRAMS
            .iter()
            .map(|p| (p.to_string(), real_tool(p)))
            .collect();
        let logs = tempfile::Builder::new()
            .prefix(&format!("static-pods-{}-", host.name))
            .tempdir()
            .unwrap();
        let state = Arc::new(Mutex::new(State {
            pods: BTreeMap::new(),
            errors: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (state, stop) = (state.clone(), stop.clone());
            let kubelet = Kubelet {
                ns: host.ns.name.clone(),
                root: host.root().to_path_buf(),
                logs: logs.path().to_path_buf(),
                programs,
            };
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    kubelet.sync(&mut state.lock().unwrap());
                    std::thread::sleep(POLL);
                }
            })
        };
        StaticPods {
            stop,
            state,
            watcher: Some(watcher),
            logs,
            host: host.name.clone(),
        }
    }

    /// The last `lines` lines of the log of the Pod of manifest `<name>.yaml` (e.g.
    /// `kube-apiserver`), with the watcher's errors if there are any.
    pub fn tail(&self, name: &str, lines: usize) -> String {
        let path = self.logs.path().join(format!("{name}.log"));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let mut out = format!(
            "--- last {lines} lines of {name}'s log ({}) ---\n{}\n",
            path.display(),
            all[all.len().saturating_sub(lines)..].join("\n")
        );
        let errors = self.errors();
        if !errors.is_empty() {
            out.push_str(&format!(
                "--- static Pod errors ---\n{}\n",
                errors.join("\n")
            ));
        }
        out
    }

    /// The tails of every Pod's log.
    pub fn tails(&self, lines: usize) -> String {
        let names: Vec<String> = self.state.lock().unwrap().pods.keys().cloned().collect();
        names.iter().map(|n| self.tail(n, lines)).collect()
    }

    /// Manifests that could not be run as they are, and why.
    pub fn errors(&self) -> Vec<String> {
        self.state.lock().unwrap().errors.clone()
    }

    /// How often the container of `<name>.yaml` has been started (0: never).
    pub fn starts(&self, name: &str) -> u32 {
        self.state
            .lock()
            .unwrap()
            .pods
            .get(name)
            .map_or(0, |p| p.starts)
    }

    /// Stops the running containers of these Pods as the kubelet stops a container (SIGTERM, and
    /// SIGKILL after the grace period), so that the watcher starts them again as the kubelet
    /// restarts an exited container; returns once each runs again, started once more, or fails
    /// after 30 s with its log.
    pub fn restart(&self, names: &[&str]) {
        let before: Vec<u32> = names.iter().map(|n| self.starts(n)).collect();
        let pids: Vec<Pid> = {
            let state = self.state.lock().unwrap();
            names
                .iter()
                .filter_map(|name| state.pods.get(*name).and_then(|p| p.child.as_ref()))
                .map(|child| Pid::from_raw(child.id() as i32))
                .collect()
        };
        for pid in &pids {
            let _ = kill(*pid, Signal::SIGTERM);
        }
        let start = Instant::now();
        let mut killed = false;
        for (name, before) in names.iter().zip(before) {
            while self.starts(name) <= before || !self.running(name) {
                if !killed && start.elapsed() > GRACE {
                    for pid in &pids {
                        let _ = kill(*pid, Signal::SIGKILL);
                    }
                    killed = true;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "{name} did not start again\n{}",
                    self.tail(name, 30)
                );
                std::thread::sleep(POLL);
            }
        }
    }

    /// The real program the container of `<name>.yaml` runs now, when it runs.
    pub fn program(&self, name: &str) -> Option<PathBuf> {
        if !self.running(name) {
            return None;
        }
        let state = self.state.lock().unwrap();
        Some(state.pods.get(name)?.container.as_ref()?.program.clone())
    }

    /// Whether the container of `<name>.yaml` is running now.
    pub fn running(&self, name: &str) -> bool {
        let mut state = self.state.lock().unwrap();
        state
            .pods
            .get_mut(name)
            .and_then(|p| p.child.as_mut())
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for StaticPods {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let children = state
            .pods
            .iter_mut()
            .filter_map(|(name, p)| p.child.take().map(|c| (name.clone(), c, p.log.clone())))
            .collect();
        stop_all(children);
        if let Some(keep) = std::env::var_os("KINIT_STATIC_POD_LOGS") {
            let keep = PathBuf::from(keep);
            let _ = std::fs::create_dir_all(&keep);
            for entry in std::fs::read_dir(self.logs.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let name = format!("{}-{}", self.host, entry.file_name().to_string_lossy());
                let _ = std::fs::copy(entry.path(), keep.join(name));
            }
        }
    }
}

/// Stops these containers together, etcd last: it waits for its clients before it ends, and its
/// clients are the others.
fn stop_all(children: Vec<(String, Child, PathBuf)>) {
    let (mut etcd, mut others): (Vec<_>, Vec<_>) = children
        .into_iter()
        .partition(|(name, _, _)| name == "etcd");
    terminate(&mut others);
    terminate(&mut etcd);
}

/// SIGTERM to every child at once, SIGKILL to those still there after the grace period.
fn terminate(children: &mut [(String, Child, PathBuf)]) {
    for (_, child, _) in children.iter() {
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    }
    let start = Instant::now();
    for (_, child, log) in children.iter_mut() {
        reap(child, log, GRACE.saturating_sub(start.elapsed()));
    }
}

/// Waits up to `grace` for `child` to end, then kills it; notes the end in `log`.
fn reap(child: &mut Child, log: &Path, grace: Duration) {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                note(log, &format!("stopped: {status}"));
                return;
            }
            Ok(None) if start.elapsed() < grace => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                note(log, &format!("killed after {grace:?}"));
                return;
            }
        }
    }
}

/// A line of the watcher's own in a Pod's log.
fn note(log: &Path, line: &str) {
    if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(log) {
        let _ = writeln!(file, "=== [static-pods] {line}");
    }
}

/// What the watcher thread needs of the host.
struct Kubelet {
    ns: String,
    root: PathBuf,
    logs: PathBuf,
    programs: BTreeMap<String, PathBuf>,
}

impl Kubelet {
    /// One pass over the manifest folder: start what is new, restart what changed or exited,
    /// stop what went.
    fn sync(&self, state: &mut State) {
        let folder = self.root.join("etc/kubernetes/manifests");
        let mut seen = BTreeMap::new();
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            // The kubelet skips hidden files, which is where atomic writers keep their temp files.
            let Some(name) = file.strip_suffix(".yaml") else {
                continue;
            };
            if file.starts_with('.') {
                continue;
            }
            if let Ok(bytes) = std::fs::read(entry.path()) {
                seen.insert(name.to_string(), bytes);
            }
        }
        let gone: Vec<String> = state
            .pods
            .keys()
            .filter(|n| !seen.contains_key(*n))
            .cloned()
            .collect();
        let mut removed: Vec<(String, Child, PathBuf)> = Vec::new();
        for name in gone {
            let mut pod = state.pods.remove(&name).unwrap();
            note(&pod.log, "manifest removed");
            if let Some(child) = pod.child.take() {
                removed.push((name, child, pod.log));
            }
        }
        stop_all(removed);
        for (name, bytes) in seen {
            let log = self.logs.join(format!("{name}.log"));
            let pod = state.pods.entry(name.clone()).or_insert_with(|| Pod {
                manifest: Vec::new(),
                container: None,
                child: None,
                starts: 0,
                next_start: Instant::now(),
                log,
            });
            if pod.manifest != bytes {
                if pod.child.is_some() {
                    note(&pod.log, "manifest changed");
                }
                stop(pod);
                pod.manifest = bytes;
                pod.next_start = Instant::now();
                pod.container = match self.container(&pod.manifest) {
                    Ok(container) => Some(container),
                    Err(e) => {
                        let e = format!("{name}.yaml: {e}");
                        note(&pod.log, &e);
                        state.errors.push(e);
                        None
                    }
                };
            }
            if let Some(child) = pod.child.as_mut() {
                match child.try_wait() {
                    Ok(None) => continue,
                    status => {
                        let status = status.map_or_else(|e| e.to_string(), |s| format!("{s:?}"));
                        note(&pod.log, &format!("exited: {status}"));
                        pod.child = None;
                        // As the kubelet's crash-loop backoff, only shorter.
                        let backoff = Duration::from_secs(1 << pod.starts.min(3));
                        pod.next_start = Instant::now() + backoff;
                    }
                }
            }
            let Some(Container { program, args, env }) = &pod.container else {
                continue;
            };
            if pod.child.is_some() || Instant::now() < pod.next_start {
                continue;
            }
            note(
                &pod.log,
                &format!(
                    "start #{}: {} {}",
                    pod.starts + 1,
                    program.display(),
                    args.join(" ")
                ),
            );
            let log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&pod.log)
                .unwrap();
            // `ip netns exec` execs the program, so the child's pid is the program's.
            let spawned = Command::new("ip")
                .args(["netns", "exec", &self.ns])
                .arg(program)
                .args(args)
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn();
            pod.starts += 1;
            match spawned {
                Ok(child) => pod.child = Some(child),
                Err(e) => {
                    let e = format!("{name}.yaml: cannot start {}: {e}", program.display());
                    note(&pod.log, &e);
                    state.errors.push(e);
                    pod.container = None;
                }
            }
        }
    }

    /// The real program, arguments and environment of a manifest's one container, with its
    /// path-valued flags moved to where the Pod's hostPath volumes lie under the root; the
    /// hostPath folders and files the Pod may create are created.
    fn container(&self, manifest: &[u8]) -> Result<Container, String> {
        let text = String::from_utf8_lossy(manifest);
        let pod: Value = parse_documents(&text)
            .map_err(|e| format!("not YAML: {e:?}"))?
            .into_iter()
            .next()
            .ok_or("empty")?
            .value;
        if pod["kind"] != "Pod" {
            return Err(format!("kind {} is not Pod", pod["kind"]));
        }
        let containers = pod["spec"]["containers"]
            .as_array()
            .ok_or("no containers")?;
        if containers.len() != 1 {
            return Err(format!("{} containers, expected one", containers.len()));
        }
        let container = &containers[0];
        let mut command: Vec<String> = Vec::new();
        for list in ["command", "args"] {
            for arg in container[list].as_array().into_iter().flatten() {
                command.push(
                    arg.as_str()
                        .ok_or(format!("{list}: {arg} is not a string"))?
                        .to_string(),
                );
            }
        }
        let first = command.first().ok_or("no command")?;
        if !self.programs.contains_key(first) {
            return Err(format!("no real program for command {first:?}"));
        }
        // The program of the image's version: an upgrade changes the image, and so the binary.
        let image = container["image"].as_str().unwrap_or_default();
        let program = super::real::real_program_for_image(first, image);
        // Volume name → (hostPath, type); then mountPath → hostPath.
        let mut volumes = BTreeMap::new();
        for volume in pod["spec"]["volumes"].as_array().into_iter().flatten() {
            let name = volume["name"].as_str().unwrap_or_default();
            if let Some(path) = volume["hostPath"]["path"].as_str() {
                let kind = volume["hostPath"]["type"].as_str().unwrap_or_default();
                volumes.insert(name.to_string(), (path.to_string(), kind.to_string()));
            }
        }
        let mut mounts: Vec<(String, String)> = Vec::new();
        for mount in container["volumeMounts"].as_array().into_iter().flatten() {
            let name = mount["name"].as_str().unwrap_or_default();
            let at = mount["mountPath"].as_str().unwrap_or_default();
            let (path, kind) = volumes
                .get(name)
                .ok_or(format!("volumeMount {name:?} names no hostPath volume"))?;
            let on_host = self.root.join(path.trim_start_matches('/'));
            match kind.as_str() {
                "DirectoryOrCreate" => std::fs::create_dir_all(&on_host)
                    .map_err(|e| format!("{}: {e}", on_host.display()))?,
                "FileOrCreate" if !on_host.exists() => {
                    if let Some(parent) = on_host.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| format!("{}: {e}", parent.display()))?;
                    }
                    std::fs::write(&on_host, "")
                        .map_err(|e| format!("{}: {e}", on_host.display()))?;
                }
                "Directory" | "File" if !on_host.exists() => {
                    return Err(format!("hostPath {path} ({kind}) does not exist"));
                }
                _ => {}
            }
            mounts.push((at.to_string(), path.clone()));
        }
        let mut args = Vec::new();
        for arg in &command[1..] {
            let moved = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") && value.starts_with('/') => {
                    format!(
                        "{flag}={}",
                        self.on_host(&mounts, value)
                            .map_err(|e| format!("{flag}: {e}"))?
                    )
                }
                _ => arg.clone(),
            };
            args.push(moved);
        }
        let env = container["env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some((
                    e["name"].as_str()?.to_string(),
                    e["value"].as_str()?.to_string(),
                ))
            })
            .collect();
        Ok(Container { program, args, env })
    }

    /// Where a path inside the container lies under the root: through the deepest mount that
    /// holds it.
    fn on_host(&self, mounts: &[(String, String)], path: &str) -> Result<String, String> {
        let inside = Path::new(path);
        let (at, host) = mounts
            .iter()
            .filter(|(at, _)| inside.starts_with(at))
            .max_by_key(|(at, _)| at.len())
            .ok_or(format!(
                "{path} lies in none of the container's volumeMounts ({}), so the container would not see it",
                mounts.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>().join(", ")
            ))?;
        let rest = inside.strip_prefix(at).unwrap();
        let mut on_host = self.root.join(host.trim_start_matches('/'));
        if !rest.as_os_str().is_empty() {
            on_host = on_host.join(rest);
        }
        Ok(on_host.display().to_string())
    }
}

/// SIGTERM, then SIGKILL after the grace period; the Pod's child is gone after this.
fn stop(pod: &mut Pod) {
    if let Some(mut child) = pod.child.take() {
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        reap(&mut child, &pod.log, GRACE);
    }
}
