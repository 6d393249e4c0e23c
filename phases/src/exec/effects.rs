//! The only code that changes the machine. Phases describe what they want; `--dry-run` swaps in a layer
//! that records and prints instead, and `--rootfs` resolves every path under another folder.

use kinit_preflight::{Host, RealHost};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// One change to the host, as planned and as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    WriteFile {
        path: String,
        mode: u32,
        bytes: usize,
    },
    Run {
        command: String,
    },
    MakeDir {
        path: String,
        mode: u32,
    },
    SetMode {
        path: String,
        mode: u32,
    },
    Remove {
        path: String,
    },
    /// A folder copied with everything in it (etcd's data, backed up before an upgrade).
    CopyDir {
        from: String,
        to: String,
    },
    /// An object sent to the API server: `apply ConfigMap kube-system/kubeadm-config`.
    Api {
        verb: &'static str,
        object: String,
    },
    /// Any other change to the cluster (a Node patched, an etcd member added or removed), said
    /// as a phrase: `annotate Node cp1 with ...`.
    Cluster {
        what: String,
    },
    /// A step only the real machine or cluster answers (a wait, a download), said as a phrase.
    Live {
        what: String,
    },
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::WriteFile { path, mode, bytes } => {
                write!(f, "write {path} (mode {mode:04o}, {bytes} bytes)")
            }
            Change::Run { command } => write!(f, "run {command}"),
            Change::MakeDir { path, mode } => write!(f, "make directory {path} (mode {mode:04o})"),
            Change::SetMode { path, mode } => write!(f, "set mode {mode:04o} on {path}"),
            Change::Remove { path } => write!(f, "remove {path}"),
            Change::CopyDir { from, to } => write!(f, "copy {from} with everything in it to {to}"),
            Change::Api { verb, object } => write!(f, "{verb} {object}"),
            Change::Cluster { what } | Change::Live { what } => f.write_str(what),
        }
    }
}

pub trait Effects {
    /// Reads a file as the run has left it so far: in a dry run, what an earlier phase would have written
    /// is seen by the later ones. `Ok(None)` when there is no such file.
    fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, String>;
    /// Writes a file atomically with its final mode from the first byte; an identical file is left untouched.
    fn write_file(&mut self, path: &str, content: &[u8], mode: u32) -> Result<(), String>;
    /// Makes a folder (and its missing parents) and leaves it with exactly `mode`; an existing folder
    /// with that mode is left untouched.
    fn ensure_dir(&mut self, path: &str, mode: u32) -> Result<(), String>;
    /// Writes into an existing kernel file (`/proc/sys/...`), where a rename is impossible.
    fn write_kernel_file(&mut self, path: &str, content: &str) -> Result<(), String>;
    /// Runs a program found on the host's PATH; Ok(false) when it ran and failed. Files written before
    /// are in place first, so the program sees them.
    fn run(&mut self, program: &str, args: &[&str]) -> Result<bool, String>;
    /// As [`Effects::run`], with `input` on the program's standard input: one `iptables-restore`
    /// changes a whole table at once, where a command per rule would take minutes on a big node.
    fn run_with_input(&mut self, program: &str, args: &[&str], input: &str)
        -> Result<bool, String>;
    /// Removes a file, a symlink (not its target) or a folder with everything in it; Ok(false) when
    /// there was nothing. Pending writes land first, so none of them brings the path back.
    fn remove(&mut self, path: &str) -> Result<bool, String>;
    /// Copies the folder `from` into the new folder `to` (`cp -r` into a folder that does not exist
    /// yet), keeping modes and symlinks. Pending writes land first.
    fn copy_dir(&mut self, from: &str, to: &str) -> Result<(), String>;
    fn changes(&self) -> &[Change];
    /// Notes a change that the API session, etcd or a wait would make, so that a dry run's plan
    /// lists everything a real run would do; a real run has made it instead, and notes nothing.
    fn plan(&mut self, change: Change) {
        let _ = change;
    }
    /// Puts the files written since the last commit in place, durably. Writes are batched so that one
    /// flush of the filesystem covers them all; the runner commits at the end of every phase.
    fn commit(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// A file written to its temp name and not yet renamed into place. Its content must be flushed before
/// the rename: a crash before then leaves the old file, never a new name over unflushed (empty) data.
struct Pending {
    path: String,
    target: PathBuf,
    temp: PathBuf,
    content: Vec<u8>,
}

pub struct HostEffects {
    host: RealHost,
    done: Vec<Change>,
    pending: Vec<Pending>,
}

impl HostEffects {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        HostEffects {
            host: RealHost::new(root),
            done: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Puts pending files in place, so the program sees them, and finds it on PATH.
    fn before_running(&mut self, program: &str) -> Result<PathBuf, String> {
        self.commit()?;
        self.host
            .find_in_path(program)
            .ok_or_else(|| format!("{program} is not on PATH"))
    }
}

/// Commands that write without the runner still get their files in place.
impl Drop for HostEffects {
    fn drop(&mut self) {
        if let Err(e) = self.commit() {
            tracing::error!("{e}");
        }
    }
}

/// Writes `content` to the temp name of `target` with its final mode from the first byte.
fn write_temp(target: &Path, content: &[u8], mode: u32) -> std::io::Result<PathBuf> {
    let dir = target.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir)?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!("{}{}", temp_prefix(&name), std::process::id()));
    // A write of the same file earlier in this run that was not committed is replaced.
    let _ = std::fs::remove_file(&temp);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        // The umask may have narrowed the mode given at creation; set it exactly before any rename.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(content)
    })();
    match result {
        Ok(()) => Ok(temp),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Flushes every filesystem holding one of `temps`: one `syncfs` covers all the files of a phase,
/// where an fsync per file costs each a journal commit (3 to 4 times slower over a phase's files here).
fn flush_filesystems(temps: &[&Path]) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut flushed = Vec::new();
    for temp in temps {
        let device = std::fs::metadata(temp)?.dev();
        if flushed.contains(&device) {
            continue;
        }
        let file = std::fs::File::open(temp)?;
        nix::unistd::syncfs(&file).map_err(std::io::Error::from)?;
        flushed.push(device);
    }
    Ok(())
}

/// The temp files of [`atomic_write`] for a file `name` are this followed by the writer's pid.
fn temp_prefix(name: &str) -> String {
    format!(".{name}.kinit-")
}

/// A run killed between making its temp file and the rename leaves `.<name>.kinit-<pid>` behind. Before
/// writing `target`, remove those of processes that no longer run (a live kinit's are left alone).
fn remove_stale_temps(target: &Path) {
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return;
    };
    let prefix = temp_prefix(&name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        // Processes are the machine's, also with --rootfs: look in the real /proc.
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A command with its input, as a dry run lists it: every line of the input is part of the plan.
fn with_input(program: &str, args: &[&str], input: &str) -> String {
    let lines: Vec<&str> = input.lines().collect();
    format!(
        "{program} {} with input:\n    {}",
        args.join(" "),
        lines.join("\n    ")
    )
}

/// `cp -r` of a folder into a new folder: modes kept, symlinks copied as links, nothing replaced.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    std::fs::DirBuilder::new()
        .mode(meta.permissions().mode() & 0o7777)
        .create(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
        } else {
            std::fs::copy(&source, &target)?;
        }
    }
    Ok(())
}

fn read_host_file(host: &RealHost, path: &str) -> Result<Option<Vec<u8>>, String> {
    match std::fs::read(host.resolve_following(path)) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {path}: {e}")),
    }
}

impl Effects for HostEffects {
    fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        match self.pending.iter().rev().find(|p| p.path == path) {
            Some(pending) => Ok(Some(pending.content.clone())),
            None => read_host_file(&self.host, path),
        }
    }

    fn write_file(&mut self, path: &str, content: &[u8], mode: u32) -> Result<(), String> {
        let target = self.host.resolve_path(path);
        remove_stale_temps(&target);
        let earlier = self.pending.iter().position(|p| p.path == path);
        if earlier.is_none() {
            if let (Ok(existing), Ok(meta)) = (std::fs::read(&target), std::fs::metadata(&target)) {
                if existing == content && meta.permissions().mode() & 0o7777 == mode {
                    return Ok(());
                }
            }
        }
        let temp =
            write_temp(&target, content, mode).map_err(|e| format!("cannot write {path}: {e}"))?;
        if let Some(index) = earlier {
            self.pending.remove(index);
        }
        self.pending.push(Pending {
            path: path.to_string(),
            target,
            temp,
            content: content.to_vec(),
        });
        self.done.push(Change::WriteFile {
            path: path.to_string(),
            mode,
            bytes: content.len(),
        });
        Ok(())
    }

    fn ensure_dir(&mut self, path: &str, mode: u32) -> Result<(), String> {
        let target = self.host.resolve_path(path);
        let failed = |e: std::io::Error| format!("cannot make the folder {path}: {e}");
        match std::fs::metadata(&target) {
            Ok(meta) if !meta.is_dir() => {
                return Err(format!("{path} exists and is not a folder"));
            }
            Ok(meta) => {
                if meta.permissions().mode() & 0o7777 != mode {
                    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
                        .map_err(failed)?;
                    self.done.push(Change::SetMode {
                        path: path.to_string(),
                        mode,
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Parents get the usual mode; only the folder asked for is narrowed.
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(failed)?;
                }
                std::fs::DirBuilder::new()
                    .mode(mode)
                    .create(&target)
                    .map_err(failed)?;
                // The umask may have narrowed the mode given at creation.
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
                    .map_err(failed)?;
                self.done.push(Change::MakeDir {
                    path: path.to_string(),
                    mode,
                });
            }
            Err(e) => return Err(failed(e)),
        }
        Ok(())
    }

    fn write_kernel_file(&mut self, path: &str, content: &str) -> Result<(), String> {
        let target = self.host.resolve_path(path);
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&target)
            .and_then(|mut f| f.write_all(content.as_bytes()))
            .map_err(|e| format!("cannot write {path}: {e}"))?;
        self.done.push(Change::WriteFile {
            path: path.to_string(),
            mode: 0o644,
            bytes: content.len(),
        });
        Ok(())
    }

    fn run(&mut self, program: &str, args: &[&str]) -> Result<bool, String> {
        let binary = self.before_running(program)?;
        let output = self
            .host
            .run(&binary, args)
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        self.done.push(Change::Run {
            command: format!("{program} {}", args.join(" ")),
        });
        Ok(output.status.success())
    }

    fn run_with_input(
        &mut self,
        program: &str,
        args: &[&str],
        input: &str,
    ) -> Result<bool, String> {
        let binary = self.before_running(program)?;
        let cannot = |e: std::io::Error| format!("cannot run {program}: {e}");
        let mut child = std::process::Command::new(binary)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(cannot)?;
        // A program that stops reading early closes the pipe; its exit status tells what happened.
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.as_bytes());
        }
        let status = child.wait().map_err(cannot)?;
        self.done.push(Change::Run {
            command: with_input(program, args, input),
        });
        Ok(status.success())
    }

    fn remove(&mut self, path: &str) -> Result<bool, String> {
        self.commit()?;
        let target = self.host.resolve_path(path);
        let removed = match std::fs::symlink_metadata(&target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(format!("cannot remove {path}: {e}")),
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&target),
            Ok(_) => std::fs::remove_file(&target),
        };
        removed.map_err(|e| format!("cannot remove {path}: {e}"))?;
        self.done.push(Change::Remove {
            path: path.to_string(),
        });
        Ok(true)
    }

    fn copy_dir(&mut self, from: &str, to: &str) -> Result<(), String> {
        self.commit()?;
        let (source, target) = (self.host.resolve_path(from), self.host.resolve_path(to));
        copy_tree(&source, &target).map_err(|e| format!("cannot copy {from} to {to}: {e}"))?;
        self.done.push(Change::CopyDir {
            from: from.to_string(),
            to: to.to_string(),
        });
        Ok(())
    }

    fn changes(&self) -> &[Change] {
        &self.done
    }

    fn commit(&mut self) -> Result<(), String> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let temps: Vec<&Path> = pending.iter().map(|p| p.temp.as_path()).collect();
        let flushed = flush_filesystems(&temps)
            .map_err(|e| format!("cannot flush the files written to disk: {e}"));
        // Unflushed files are not put in place: the old ones stay, and the next run writes them again.
        let result = flushed.and_then(|()| {
            pending.iter().try_for_each(|p| {
                std::fs::rename(&p.temp, &p.target)
                    .map_err(|e| format!("cannot write {}: {e}", p.path))
            })
        });
        if result.is_err() {
            // What was renamed is gone from its temp name; the rest would be left behind.
            for p in &pending {
                let _ = std::fs::remove_file(&p.temp);
            }
        }
        result
    }
}

/// Records what would be done and changes nothing; reads see the host with the planned files on top.
pub struct DryRunEffects {
    host: RealHost,
    planned: Vec<Change>,
    written: std::collections::HashMap<String, Vec<u8>>,
    /// Folders already planned, so a second phase does not plan them again.
    dirs: Vec<String>,
    /// Paths planned for removal: later reads no longer see them.
    removed: Vec<String>,
}

impl DryRunEffects {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DryRunEffects {
            host: RealHost::new(root),
            planned: Vec::new(),
            written: std::collections::HashMap::new(),
            dirs: Vec::new(),
            removed: Vec::new(),
        }
    }

    fn is_removed(&self, path: &str) -> bool {
        self.removed.iter().any(|r| {
            path == r
                || path
                    .strip_prefix(r.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }
}

impl Effects for DryRunEffects {
    fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        match self.written.get(path) {
            Some(bytes) => Ok(Some(bytes.clone())),
            None if self.is_removed(path) => Ok(None),
            None => read_host_file(&self.host, path),
        }
    }

    fn write_file(&mut self, path: &str, content: &[u8], mode: u32) -> Result<(), String> {
        if self.read_file(path)?.as_deref() == Some(content) {
            return Ok(());
        }
        self.written.insert(path.to_string(), content.to_vec());
        self.planned.push(Change::WriteFile {
            path: path.to_string(),
            mode,
            bytes: content.len(),
        });
        Ok(())
    }

    fn ensure_dir(&mut self, path: &str, mode: u32) -> Result<(), String> {
        if self.dirs.iter().any(|d| d == path) {
            return Ok(());
        }
        let change = match std::fs::metadata(self.host.resolve_path(path)) {
            Ok(meta) if !meta.is_dir() => {
                return Err(format!("{path} exists and is not a folder"));
            }
            Ok(meta) if meta.permissions().mode() & 0o7777 == mode => None,
            Ok(_) => Some(Change::SetMode {
                path: path.to_string(),
                mode,
            }),
            Err(_) => Some(Change::MakeDir {
                path: path.to_string(),
                mode,
            }),
        };
        self.dirs.push(path.to_string());
        self.planned.extend(change);
        Ok(())
    }

    fn write_kernel_file(&mut self, path: &str, content: &str) -> Result<(), String> {
        self.planned.push(Change::WriteFile {
            path: path.to_string(),
            mode: 0o644,
            bytes: content.len(),
        });
        Ok(())
    }

    fn run(&mut self, program: &str, args: &[&str]) -> Result<bool, String> {
        self.planned.push(Change::Run {
            command: format!("{program} {}", args.join(" ")),
        });
        Ok(true)
    }

    fn run_with_input(
        &mut self,
        program: &str,
        args: &[&str],
        input: &str,
    ) -> Result<bool, String> {
        self.planned.push(Change::Run {
            command: with_input(program, args, input),
        });
        Ok(true)
    }

    fn remove(&mut self, path: &str) -> Result<bool, String> {
        let written = self.written.remove(path).is_some();
        let on_host = !self.is_removed(path)
            && std::fs::symlink_metadata(self.host.resolve_path(path)).is_ok();
        if !written && !on_host {
            return Ok(false);
        }
        self.removed.push(path.to_string());
        self.planned.push(Change::Remove {
            path: path.to_string(),
        });
        Ok(true)
    }

    fn plan(&mut self, change: Change) {
        self.planned.push(change);
    }

    fn copy_dir(&mut self, from: &str, to: &str) -> Result<(), String> {
        self.planned.push(Change::CopyDir {
            from: from.to_string(),
            to: to.to_string(),
        });
        Ok(())
    }

    fn changes(&self) -> &[Change] {
        &self.planned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_takes_files_folders_and_links_but_not_link_targets() {
        let root = tempfile::tempdir().unwrap();
        let keep = root.path().join("keep");
        std::fs::create_dir_all(root.path().join("etc/k/sub")).unwrap();
        std::fs::write(root.path().join("etc/k/sub/f"), "x").unwrap();
        std::fs::write(&keep, "kept").unwrap();
        std::os::unix::fs::symlink(&keep, root.path().join("etc/link")).unwrap();

        let mut dry = DryRunEffects::new(root.path());
        assert!(dry.remove("/etc/k").unwrap());
        assert_eq!(
            dry.read_file("/etc/k/sub/f").unwrap(),
            None,
            "a dry run sees its removals"
        );
        assert!(!dry.remove("/etc/k").unwrap(), "removed once");
        assert!(!dry.remove("/etc/absent").unwrap());
        assert!(
            root.path().join("etc/k/sub/f").exists(),
            "a dry run removes nothing"
        );
        assert_eq!(
            dry.changes(),
            &[Change::Remove {
                path: "/etc/k".into()
            }]
        );

        let mut effects = HostEffects::new(root.path());
        effects.write_file("/etc/k/sub/new", b"y", 0o600).unwrap();
        assert!(effects.remove("/etc/k").unwrap());
        assert!(effects.remove("/etc/link").unwrap());
        assert!(!effects.remove("/etc/k").unwrap());
        effects.commit().unwrap();
        assert!(
            !root.path().join("etc/k").exists(),
            "a pending write does not bring it back"
        );
        assert!(!root.path().join("etc/link").exists());
        assert_eq!(std::fs::read_to_string(&keep).unwrap(), "kept");
    }

    #[test]
    fn a_program_reads_its_input_and_a_dry_run_lists_it() {
        let mut effects = HostEffects::new("/");
        let check = ["-c", "read a; read b; test \"$a $b\" = \"*nat COMMIT\""];
        assert!(effects
            .run_with_input("sh", &check, "*nat\nCOMMIT\n")
            .unwrap());
        assert!(!effects.run_with_input("sh", &check, "*filter\n").unwrap());
        let mut dry = DryRunEffects::new("/");
        assert!(dry
            .run_with_input("iptables-restore", &["--noflush"], "*nat\nCOMMIT\n")
            .unwrap());
        assert_eq!(
            dry.changes()[0].to_string(),
            "run iptables-restore --noflush with input:\n    *nat\n    COMMIT"
        );
    }

    #[test]
    fn writes_atomically_with_mode_and_skips_identical_content() {
        let root = tempfile::tempdir().unwrap();
        let mut effects = HostEffects::new(root.path());
        effects
            .write_file("/etc/kinit/a.conf", b"x=1\n", 0o600)
            .unwrap();
        let path = root.path().join("etc/kinit/a.conf");
        assert!(!path.exists(), "nothing is in place before the commit");
        assert_eq!(
            effects.read_file("/etc/kinit/a.conf").unwrap().unwrap(),
            b"x=1\n",
            "the run reads what it wrote"
        );
        effects.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x=1\n");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        effects
            .write_file("/etc/kinit/a.conf", b"x=1\n", 0o600)
            .unwrap();
        assert_eq!(
            effects.changes().len(),
            1,
            "an identical rewrite is skipped"
        );
        let leftovers: Vec<_> = std::fs::read_dir(root.path().join("etc/kinit"))
            .unwrap()
            .collect();
        assert_eq!(leftovers.len(), 1, "no temp file is left behind");
    }

    #[test]
    fn a_second_write_before_the_commit_wins_and_dropping_commits() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("etc/kinit/a.conf");
        {
            let mut effects = HostEffects::new(root.path());
            effects
                .write_file("/etc/kinit/a.conf", b"old", 0o600)
                .unwrap();
            effects
                .write_file("/etc/kinit/a.conf", b"new", 0o644)
                .unwrap();
            effects
                .write_file("/etc/kinit/b.conf", b"b", 0o600)
                .unwrap();
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        let names: Vec<_> = std::fs::read_dir(root.path().join("etc/kinit"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "no temp file is left: {names:?}");
    }

    #[test]
    fn a_program_sees_the_files_written_before_it_runs() {
        let root = tempfile::tempdir().unwrap();
        let mut effects = HostEffects::new(root.path());
        effects
            .write_file("/etc/kinit/a.conf", b"x", 0o600)
            .unwrap();
        // Whether `true` is found under the temp root does not matter: the commit comes before the lookup.
        let _ = effects.run("true", &[]);
        assert!(root.path().join("etc/kinit/a.conf").exists());
    }

    #[test]
    fn removes_the_temp_files_of_killed_runs_and_keeps_those_of_live_ones() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("etc/kinit");
        std::fs::create_dir_all(&dir).unwrap();
        // pid_max is at most 2^22, so this process cannot exist; pid 1 always does.
        let dead = dir.join(".a.conf.kinit-4999999");
        let live = dir.join(".a.conf.kinit-1");
        let other = dir.join(".b.conf.kinit-4999999");
        for file in [&dead, &live, &other] {
            std::fs::write(file, "half").unwrap();
        }
        let mut effects = HostEffects::new(root.path());
        effects
            .write_file("/etc/kinit/a.conf", b"x=1\n", 0o600)
            .unwrap();
        assert!(!dead.exists(), "a dead run's temp file is removed");
        assert!(live.exists(), "a live process's temp file is kept");
        assert!(
            other.exists(),
            "another file's temp file waits for that file's write"
        );
        // Also when the file is already as wanted and not written again.
        std::fs::write(&dead, "half").unwrap();
        effects
            .write_file("/etc/kinit/a.conf", b"x=1\n", 0o600)
            .unwrap();
        assert!(!dead.exists());
    }

    #[test]
    fn folders_end_up_with_their_mode_and_are_left_alone_after() {
        let root = tempfile::tempdir().unwrap();
        let mut effects = HostEffects::new(root.path());
        effects
            .ensure_dir("/etc/kubernetes/manifests", 0o700)
            .unwrap();
        let path = root.path().join("etc/kubernetes/manifests");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&path), 0o700);
        assert_eq!(mode(&root.path().join("etc/kubernetes")) & 0o700, 0o700);
        effects
            .ensure_dir("/etc/kubernetes/manifests", 0o700)
            .unwrap();
        assert_eq!(
            effects.changes().len(),
            1,
            "a folder as wanted is left alone"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        effects
            .ensure_dir("/etc/kubernetes/manifests", 0o700)
            .unwrap();
        assert_eq!(mode(&path), 0o700);
        assert_eq!(
            effects.changes().last().unwrap().to_string(),
            "set mode 0700 on /etc/kubernetes/manifests"
        );
        let mut dry = DryRunEffects::new(root.path());
        dry.ensure_dir("/etc/kubernetes/manifests", 0o700).unwrap();
        dry.ensure_dir("/etc/kubernetes/other", 0o700).unwrap();
        dry.ensure_dir("/etc/kubernetes/other", 0o700).unwrap();
        assert_eq!(
            dry.changes()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec!["make directory /etc/kubernetes/other (mode 0700)"]
        );
    }
}
