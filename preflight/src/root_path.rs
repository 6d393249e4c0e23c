//! Node paths under a `--rootfs` folder, read the way the node reads them: its symlinks are
//! followed inside the root (an absolute target starts again at the root), as kubeadm's chroot
//! follows them. The kubelet's `kubelet-client-current.pem`, for one, is an absolute symlink.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// Follows the symlinks of the node path `path` the way the node would, with `root` as its `/`.
pub fn resolve_in_root(root: &Path, path: &str) -> Result<String, String> {
    let mut resolved = PathBuf::from("/");
    let mut pending: Vec<OsString> = components(Path::new(path));
    pending.reverse();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        let on_host = root.join(candidate.strip_prefix("/").unwrap_or(&candidate));
        match std::fs::symlink_metadata(&on_host) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(format!("too many symbolic links under {path}"));
                }
                let target = std::fs::read_link(&on_host)
                    .map_err(|e| format!("cannot read the link {}: {e}", candidate.display()))?;
                if target.is_absolute() {
                    resolved = PathBuf::from("/");
                }
                let mut parts = components(&target);
                parts.reverse();
                pending.extend(parts);
            }
            _ => resolved = candidate,
        }
    }
    Ok(resolved.to_string_lossy().into_owned())
}

fn components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_links_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("data/kubelet")).unwrap();
        std::fs::create_dir_all(root.path().join("var/lib")).unwrap();
        std::os::unix::fs::symlink("/data/kubelet", root.path().join("var/lib/kubelet")).unwrap();
        assert_eq!(
            resolve_in_root(root.path(), "/var/lib/kubelet").unwrap(),
            "/data/kubelet"
        );
        std::os::unix::fs::symlink("../../data", root.path().join("var/lib/rel")).unwrap();
        assert_eq!(
            resolve_in_root(root.path(), "/var/lib/rel/kubelet").unwrap(),
            "/data/kubelet"
        );
        std::os::unix::fs::symlink("loop", root.path().join("loop")).unwrap();
        assert!(resolve_in_root(root.path(), "/loop").is_err());
        assert_eq!(
            resolve_in_root(root.path(), "/absent/x").unwrap(),
            "/absent/x"
        );
    }

    #[test]
    fn a_host_under_a_root_reads_through_absolute_links_inside_it() {
        use crate::host::{Host, RealHost};
        let root = tempfile::tempdir().unwrap();
        let pki = root.path().join("var/lib/kubelet/pki");
        std::fs::create_dir_all(&pki).unwrap();
        std::fs::write(pki.join("kubelet-client-2026.pem"), "inside").unwrap();
        // As the kubelet links its current pair: an absolute target, meant for the node's `/`.
        std::os::unix::fs::symlink(
            "/var/lib/kubelet/pki/kubelet-client-2026.pem",
            pki.join("kubelet-client-current.pem"),
        )
        .unwrap();
        let host = RealHost::new(root.path());
        let current = "/var/lib/kubelet/pki/kubelet-client-current.pem";
        assert!(host.exists(current));
        assert_eq!(host.read_file(current).unwrap(), "inside");
        // Writing and removing still address the link itself.
        assert_eq!(
            host.resolve_path(current),
            pki.join("kubelet-client-current.pem")
        );
    }
}
