//! Files on the host side: test data, hashes, modes and times, and what a
//! home holds, walked directly on disk to check what the server did.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// SHA-256 of `data` as hex.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// SHA-1 of `data` as hex.
pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(data))
}

/// The permission bits of `path` (setuid, setgid and sticky included),
/// symlinks not followed.
pub fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

/// Sets the permission bits of `path`.
pub fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The mtime of `path` in seconds since the epoch, symlinks not followed.
pub fn mtime_of(path: &Path) -> i64 {
    std::fs::symlink_metadata(path).unwrap().mtime()
}

/// Sets a file's or directory's mtime (and atime) to `secs` after the epoch.
pub fn set_mtime(path: &Path, secs: u64) {
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    let times = std::fs::FileTimes::new()
        .set_modified(time)
        .set_accessed(time);
    std::fs::File::open(path).unwrap().set_times(times).unwrap();
}

/// The names in `dir`, not recursive.
pub fn names_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// What the quota counts for the home `dir`, walked on disk: bytes (the
/// `st_size` of every regular file, symlink and folder, the home's own
/// included) and files (every inode below the home), each inode once,
/// symlinks not followed. An entry that vanishes while it is counted
/// counts nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// Bytes, as the byte quota counts them.
    pub bytes: u64,
    /// Inodes below the home, as `max_files` counts them.
    pub files: u64,
}

/// [`Stored`] for the home `dir`.
pub fn stored(dir: &Path) -> Stored {
    fn walk(dir: &Path, seen: &mut HashSet<(u64, u64)>, total: &mut Stored) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
                continue;
            }
            total.bytes += meta.len();
            total.files += 1;
            if meta.is_dir() {
                walk(&path, seen, total);
            }
        }
    }
    let mut total = Stored {
        bytes: std::fs::symlink_metadata(dir).map_or(0, |m| m.len()),
        files: 0,
    };
    walk(dir, &mut HashSet::new(), &mut total);
    total
}

/// The bytes of [`stored`]: what the byte quota counts for the home `dir`.
pub fn stored_bytes(dir: &Path) -> u64 {
    stored(dir).bytes
}

/// How much room a new name needs beyond its own bytes: its folder may
/// grow by two blocks of the filesystem while it is made.
pub fn name_room(dir: &Path) -> u64 {
    2 * std::fs::metadata(dir).unwrap().blksize()
}

/// The largest [`stored_bytes`] of a folder seen while something runs,
/// sampled by a thread from [`PeakUsage::watch`] to [`PeakUsage::stop`].
/// Sound while files only grow: a walk reads each size no later than its
/// end, so what it adds up is at most the usage at that moment.
pub struct PeakUsage {
    stop: Arc<AtomicBool>,
    sampler: std::thread::JoinHandle<u64>,
}

impl PeakUsage {
    /// Starts sampling `dir`.
    pub fn watch(dir: &Path) -> PeakUsage {
        let dir = dir.to_owned();
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut peak = 0;
                while !stop.load(Ordering::Relaxed) {
                    peak = peak.max(stored_bytes(&dir));
                    std::thread::sleep(Duration::from_millis(1));
                }
                peak.max(stored_bytes(&dir))
            })
        };
        PeakUsage { stop, sampler }
    }

    /// Stops sampling and returns the peak.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.sampler.join().unwrap()
    }
}

/// What an entry of a walked folder is.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Content {
    /// A directory.
    Dir,
    /// A regular file and its bytes.
    File(Vec<u8>),
    /// A symlink and its target.
    Symlink(PathBuf),
}

/// Every entry under `dir` by its path relative to `dir`, with its
/// permission bits and content; symlinks are not followed.
pub fn tree(dir: &Path) -> BTreeMap<PathBuf, (u32, Content)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (u32, Content)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_owned();
            let mode = meta.mode() & 0o7777;
            if meta.is_dir() {
                out.insert(rel, (mode, Content::Dir));
                walk(root, &path, out);
            } else if meta.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(rel, (mode, Content::Symlink(target)));
            } else {
                out.insert(rel, (mode, Content::File(std::fs::read(&path).unwrap())));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// [`tree`] without the permission bits.
pub fn contents(dir: &Path) -> BTreeMap<PathBuf, Content> {
    tree(dir)
        .into_iter()
        .map(|(path, (_, content))| (path, content))
        .collect()
}

/// One line per entry of a [`tree`] (path, mode, size), for messages.
pub fn summary(tree: &BTreeMap<PathBuf, (u32, Content)>) -> Vec<String> {
    tree.iter()
        .map(|(path, (mode, content))| match content {
            Content::Dir => format!("{}/ {mode:o}", path.display()),
            Content::File(bytes) => format!("{} {mode:o} {}", path.display(), bytes.len()),
            Content::Symlink(target) => {
                format!("{} -> {}", path.display(), target.display())
            }
        })
        .collect()
}
