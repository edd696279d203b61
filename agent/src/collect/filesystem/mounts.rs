//! Which mounts are reported: the mount table, parsed and filtered.
//!
//! ```text
//! device      mountpoint      fstype  options            dump pass
//! /dev/vda    /               ext4    rw,relatime        0 0
//! /dev/vdc    /mnt/my\040disk xfs     ro,relatime        0 0    <- octal escapes
//! ```
//!
//! A mount point mounted twice is reported once, for the last (topmost) mount. Pseudo
//! filesystems and the mount points node_exporter excludes by default are skipped — except
//! `/` itself, whatever its type, because in a container the root is an overlay and users
//! must still see its size.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Filesystem types skipped by default (node_exporter's `--collector.filesystem.fs-types-exclude`).
const EXCLUDED_TYPES: [&str; 25] = [
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "procfs",
    "pstore",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "erofs",
    "sysfs",
    "tracefs",
];

/// One line of the mount table that is to be reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Source device, e.g. `/dev/vda` or `server:/export`.
    pub device: String,
    /// Filesystem type, e.g. `ext4`.
    pub fstype: String,
    /// Mount point as the host sees it (rootfs prefix stripped).
    pub mountpoint: String,
    /// Mounted with the `ro` option; used when `statvfs` cannot say.
    pub readonly: bool,
}

/// The mounts of one mount-table text that are to be reported, in table order.
pub fn parse_mounts(text: &str, rootfs: &Path) -> Vec<Mount> {
    let mut mounts = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(device), Some(mountpoint), Some(fstype), options) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        mounts.push(Mount {
            device: unescape(device),
            fstype: unescape(fstype),
            mountpoint: strip_rootfs(rootfs, &unescape(mountpoint)),
            readonly: options.is_some_and(|o| o.split(',').any(|o| o == "ro")),
        });
    }
    // A later mount on the same point hides the earlier ones; only the last is statted.
    let last: HashMap<String, usize> = mounts
        .iter()
        .enumerate()
        .map(|(i, m)| (m.mountpoint.clone(), i))
        .collect();
    let reported = |m: &Mount| {
        m.mountpoint == "/" || !(excluded_type(&m.fstype) || excluded_mountpoint(&m.mountpoint))
    };
    let on_top = |i: usize, m: &Mount| last.get(&m.mountpoint) == Some(&i);
    mounts
        .into_iter()
        .enumerate()
        .filter(|(i, m)| on_top(*i, m) && reported(m))
        .map(|(_, m)| m)
        .collect()
}

fn excluded_type(fstype: &str) -> bool {
    EXCLUDED_TYPES.contains(&fstype)
}

/// Whether `mountpoint` matches
/// `^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`.
fn excluded_mountpoint(mountpoint: &str) -> bool {
    let Some(rest) = mountpoint.strip_prefix('/') else {
        return false;
    };
    let whole = ["dev", "proc", "sys"].iter().any(|p| {
        rest.strip_prefix(p)
            .is_some_and(|r| r.is_empty() || r.starts_with('/'))
    });
    let below = [
        "run/credentials/",
        "var/lib/docker/",
        "var/lib/containers/storage/",
    ]
    .iter()
    .any(|p| rest.strip_prefix(p).is_some_and(|r| !r.is_empty()));
    whole || below
}

/// Decodes the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` `\`).
fn unescape(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_owned();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push(d.iter().fold(0u32, |n, b| n * 8 + u32::from(b - b'0')) as u8);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The host's view of a mount point: `rootfs` stripped when it is a prefix (node_exporter's
/// `rootfsStripPrefix`).
fn strip_rootfs(rootfs: &Path, mountpoint: &str) -> String {
    let root = rootfs.to_string_lossy();
    let root = root.trim_end_matches('/');
    match mountpoint.strip_prefix(root) {
        Some("") => "/".to_owned(),
        Some(rest) if !root.is_empty() && rest.starts_with('/') => rest.to_owned(),
        _ => mountpoint.to_owned(),
    }
}

/// Where the agent finds a host mount point: below `rootfs`.
pub(super) fn under_root(rootfs: &Path, mountpoint: &str) -> PathBuf {
    rootfs.join(mountpoint.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{read_file, testdata_paths};

    fn mount(device: &str, fstype: &str, mountpoint: &str, readonly: bool) -> Mount {
        let (device, fstype, mountpoint) = (device.into(), fstype.into(), mountpoint.into());
        Mount {
            device,
            fstype,
            mountpoint,
            readonly,
        }
    }

    #[test]
    fn recorded_mount_table_keeps_real_filesystems_once() {
        let text = read_file(testdata_paths().proc.join("1/mounts")).expect("fixture");
        let got = parse_mounts(&text, Path::new("/"));
        let want = [
            mount("/dev/vda", "ext4", "/", false),
            mount(
                "model_tools_unavailable",
                "tmpfs",
                "/mnt/sandboxing/model_tools_env/v1/python",
                true,
            ),
            mount("server:/export", "nfs4", "/mnt/nfs", false),
            mount("/dev/vdb", "ext4", "/mnt/data", false),
            mount("/dev/vdc", "xfs", "/mnt/my disk", true),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn container_overlay_root_is_kept_and_rootfs_prefix_stripped() {
        let text = "overlay / overlay rw,lowerdir=/l 0 0\n\
                    /dev/sda1 /host ext4 rw 0 0\n\
                    /dev/sda2 /host/home ext4 rw 0 0\n\
                    /dev/sdb1 /hostile ext4 rw 0 0\n\
                    overlay /host/var/lib/docker/overlay2/x/merged overlay rw 0 0\n";
        let got = parse_mounts(text, Path::new("/host"));
        // "/host" becomes "/" and hides the container's own root, as the later mount.
        let want = vec![
            mount("/dev/sda1", "ext4", "/", false),
            mount("/dev/sda2", "ext4", "/home", false),
            mount("/dev/sdb1", "ext4", "/hostile", false),
        ];
        assert_eq!(got, want);
        let only_overlay = parse_mounts(
            "overlay / overlay rw 0 0\nproc /proc proc rw 0 0\n",
            Path::new("/"),
        );
        assert_eq!(only_overlay, vec![mount("overlay", "overlay", "/", false)]);
        assert_eq!(
            under_root(Path::new("/host"), "/home"),
            Path::new("/host/home")
        );
        assert_eq!(under_root(Path::new("/"), "/"), Path::new("/"));
    }

    #[test]
    fn octal_escapes_are_decoded() {
        assert_eq!(unescape(r"/mnt/my\040disk"), "/mnt/my disk");
        assert_eq!(unescape(r"/a\011b\134c\012"), "/a\tb\\c\n");
        assert_eq!(unescape(r"/odd\04"), r"/odd\04");
        assert_eq!(unescape(r"/x\999"), r"/x\999");
    }

    #[test]
    fn mount_point_excludes_match_node_exporters() {
        let skipped = "/dev /dev/shm /proc /sys/fs/cgroup /run/credentials/a.service \
                       /var/lib/docker/overlay2/x /var/lib/containers/storage/overlay";
        for mountpoint in skipped.split_ascii_whitespace() {
            assert!(excluded_mountpoint(mountpoint), "{mountpoint}");
        }
        let kept = "/ /devices /run /run/credentials /run/credentials/ /var/lib/docker \
                    /var/lib/docker/ /system /home";
        for mountpoint in kept.split_ascii_whitespace() {
            assert!(!excluded_mountpoint(mountpoint), "{mountpoint}");
        }
    }
}
