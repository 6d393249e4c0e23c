//! Unmounting what the kubelet mounted under its folder, so that emptying the folder never reaches
//! into a volume.

use super::{step, warn};
use crate::workflow::{PhaseContext, ResetData};
use kinit_preflight::root_path::resolve_in_root;
use std::path::{Path, PathBuf};

pub use crate::domain::layout::KUBELET_DIR;

/// The mount points of a mountinfo text strictly under `dir`, deepest first (a mount inside another
/// must go before it).
pub fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape(field)))
        .filter(|point| point.starts_with(dir) && point != dir)
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

/// mountinfo writes space, tab, newline and backslash as `\ooo` octal escapes.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            std::str::from_utf8(digits)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `umount` options for ResetConfiguration's unmountFlags; the ones umount(8) has no option for are
/// named so the caller can say they were not used.
fn umount_options(flags: &[String]) -> (Vec<&'static str>, Vec<String>) {
    let mut options = Vec::new();
    let mut unused = Vec::new();
    for flag in flags {
        match flag.as_str() {
            "MNT_FORCE" => options.push("--force"),
            "MNT_DETACH" => options.push("--lazy"),
            other => unused.push(other.to_string()),
        }
    }
    (options, unused)
}

/// Unmounts everything under the kubelet's folder. Returns the folder (symlink resolved) when its
/// contents may be removed: nothing is mounted under it any more (or, in a dry run, will not be).
pub fn unmount_kubelet_dir(
    ctx: &mut PhaseContext<'_, ResetData>,
    warnings: &mut Vec<String>,
) -> Option<String> {
    ctx.sink.line(&format!(
        "[reset] Unmounting mounted directories in {KUBELET_DIR:?}"
    ));
    let root = ctx.host.host_path("/");
    let dir = match resolve_in_root(&root, KUBELET_DIR) {
        Ok(dir) => dir,
        Err(e) => {
            warn(
                ctx,
                warnings,
                format!("{e}; {KUBELET_DIR} is left as it is"),
            );
            return None;
        }
    };
    // Mount points are the machine's paths: under --rootfs, the root's own path is part of them.
    let on_host = std::fs::canonicalize(&root)
        .unwrap_or(root)
        .join(dir.trim_start_matches('/'));
    let mountinfo = match std::fs::read_to_string("/proc/self/mountinfo") {
        Ok(text) => text,
        Err(e) => {
            warn(
                ctx,
                warnings,
                format!("cannot read /proc/self/mountinfo ({e}), so {KUBELET_DIR} is not emptied: unmount what is mounted under it and remove its contents yourself"),
            );
            return None;
        }
    };
    let reset = ctx.data.reset.clone();
    let (options, unused) = umount_options(&reset.unmount_flags);
    if !unused.is_empty() {
        warn(
            ctx,
            warnings,
            format!(
                "unmountFlags {} have no umount(8) option and are not used",
                unused.join(", ")
            ),
        );
    }
    let mut all_gone = true;
    for point in mounts_under(&mountinfo, &on_host) {
        let point = point.to_string_lossy().into_owned();
        step(
            ctx,
            &format!("Unmounting {point}"),
            &format!("Would unmount {point}"),
        );
        let mut args = options.clone();
        args.push(&point);
        match ctx.effects.run("umount", &args) {
            Ok(true) => {}
            Ok(false) => {
                all_gone = false;
                warn(ctx, warnings, format!("`umount {}` failed", args.join(" ")));
            }
            Err(e) => {
                all_gone = false;
                warn(ctx, warnings, format!("cannot unmount {point}: {e}"));
            }
        }
    }
    if !all_gone {
        warn(
            ctx,
            warnings,
            format!("{dir} is not emptied while something is still mounted under it: unmount it and run reset again"),
        );
        return None;
    }
    Some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mounts_strictly_under_the_folder_deepest_first() {
        let mountinfo = "\
22 1 8:1 / / rw - ext4 /dev/sda1 rw
30 22 0:40 / /var/lib/kubelet rw - tmpfs tmpfs rw
31 30 0:41 / /var/lib/kubelet/pods/a/volumes/x rw - tmpfs tmpfs rw
32 31 0:42 / /var/lib/kubelet/pods/a/volumes/x/deeper rw - tmpfs tmpfs rw
33 22 0:43 / /var/lib/kubelet-other rw - tmpfs tmpfs rw
34 30 0:44 / /var/lib/kubelet/pods/with\\040space rw - tmpfs tmpfs rw
";
        let found = mounts_under(mountinfo, Path::new("/var/lib/kubelet"));
        assert_eq!(
            found,
            [
                PathBuf::from("/var/lib/kubelet/pods/a/volumes/x/deeper"),
                PathBuf::from("/var/lib/kubelet/pods/a/volumes/x"),
                PathBuf::from("/var/lib/kubelet/pods/with space"),
            ]
        );
    }
}
