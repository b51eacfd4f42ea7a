//! `JailFile`: an open regular file inside the box, with quota-checked I/O.
//! How it is opened is `open.rs`; this file only ever sees the fd.
//!
//! Writes are positioned (`pwrite`) and charged to the quota under the
//! inode's lock: the growth `max(0, offset + len - size)` is reserved first
//! (refused → nothing is written), then the file's real size after the write
//! settles the reservation, so a short or failed write leaves usage exact.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use rustix::fs::{Mode, OFlags, Timespec, Timestamps, UTIME_OMIT};
use rustix::io::{Errno, ReadWriteFlags};

use super::quota::InodeKey;
use super::{JailError, LocalBox, Quota, SetAttrs, Stat};

/// Permission bits a client may set: never setuid, setgid or sticky.
pub(crate) const CLIENT_MODE_MASK: u32 = 0o777;

/// An open regular file in the box. `Send + Sync`: all I/O is positioned,
/// so one `JailFile` can be shared (`Arc`) between tasks.
#[derive(Debug)]
pub struct LocalFile {
    fd: OwnedFd,
    /// `(dev, ino)` of the open file, fixed for the fd's lifetime.
    key: InodeKey,
    quota: Arc<Quota>,
    writable: bool,
    append: bool,
    readonly: bool,
}

impl LocalFile {
    /// Checks that `fd` is a regular file and makes it blocking again.
    pub(super) fn from_fd(
        fd: OwnedFd,
        jail: &LocalBox,
        writable: bool,
        append: bool,
    ) -> Result<LocalFile, JailError> {
        let stat = Stat::from(rustix::fs::fstat(&fd)?);
        if stat.is_dir() {
            return Err(JailError::IsADirectory);
        }
        if !stat.is_file() {
            return Err(JailError::PermissionDenied);
        }
        let flags = rustix::fs::fcntl_getfl(&fd)?;
        rustix::fs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK)?;
        Ok(LocalFile {
            fd,
            key: stat.key(),
            quota: Arc::clone(jail.quota()),
            writable,
            append,
            readonly: jail.is_readonly(),
        })
    }

    /// Whether it was opened for writing.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Reads up to `buf.len()` bytes at `offset`; 0 at end of file.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, JailError> {
        loop {
            match rustix::io::pread(&self.fd, &mut *buf, offset) {
                Err(Errno::INTR) => continue,
                other => return Ok(other?),
            }
        }
    }

    /// Reads like [`read_at`](Self::read_at), but only from the page cache
    /// (`preadv2` with `RWF_NOWAIT`): `None` when that would have to wait
    /// for the disk, or the filesystem cannot tell (then read with
    /// `read_at` on the blocking pool).
    pub fn read_at_cached(&self, buf: &mut [u8], offset: u64) -> Result<Option<usize>, JailError> {
        loop {
            let mut slices = [std::io::IoSliceMut::new(&mut *buf)];
            match rustix::io::preadv2(&self.fd, &mut slices, offset, ReadWriteFlags::NOWAIT) {
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN | Errno::OPNOTSUPP | Errno::NOSYS) => return Ok(None),
                other => return Ok(Some(other?)),
            }
        }
    }

    /// Writes all of `data` at `offset` (at the end of the file in append
    /// mode), or nothing when the growth would exceed the quota.
    pub fn write_at(&self, data: &[u8], offset: u64) -> Result<(), JailError> {
        if !self.writable {
            return Err(if self.readonly {
                JailError::ReadOnly
            } else {
                JailError::PermissionDenied
            });
        }
        if data.is_empty() {
            return Ok(());
        }
        let len = u64::try_from(data.len()).map_err(|_| file_too_large())?;
        self.quota.with_inodes(&[self.key], || {
            let size_before = self.size()?;
            // O_APPEND makes Linux pwrite() ignore the offset and append;
            // under the inode lock the end is `size_before`.
            let offset = if self.append { size_before } else { offset };
            let end = offset.checked_add(len).ok_or_else(file_too_large)?;
            if i64::try_from(end).is_err() {
                return Err(file_too_large());
            }
            let growth = end.saturating_sub(size_before);
            self.quota.reserve(growth)?;
            let written = self.pwrite_all(data, offset);
            if written.is_err() || growth > 0 {
                // Settle with what the disk really holds now; if even fstat
                // fails, keep the reservation (an overcount, never an undercount).
                let actual = match self.size() {
                    Ok(size_after) => size_after.saturating_sub(size_before),
                    Err(_) => growth,
                };
                self.quota.settle(growth, actual);
            }
            written
        })
    }

    fn pwrite_all(&self, mut data: &[u8], mut offset: u64) -> Result<(), JailError> {
        while !data.is_empty() {
            match rustix::io::pwrite(&self.fd, data, offset) {
                Ok(0) => return Err(JailError::Io(std::io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    data = data.get(n..).unwrap_or_default();
                    offset = offset.saturating_add(n as u64);
                }
                Err(Errno::INTR) => continue,
                Err(errno) => return Err(errno.into()),
            }
        }
        Ok(())
    }

    /// Sets the size to `size`: growth is charged to the quota (refused
    /// over the limit), shrinking gives the difference back.
    pub fn set_len(&self, size: u64) -> Result<(), JailError> {
        if !self.writable {
            return Err(if self.readonly {
                JailError::ReadOnly
            } else {
                JailError::PermissionDenied
            });
        }
        if i64::try_from(size).is_err() {
            return Err(file_too_large());
        }
        self.quota.with_inodes(&[self.key], || {
            let size_before = self.size()?;
            let growth = size.saturating_sub(size_before);
            self.quota.reserve(growth)?;
            let result = rustix::fs::ftruncate(&self.fd, size).map_err(JailError::from);
            let size_after = self
                .size()
                .unwrap_or(if result.is_ok() { size } else { size_before });
            // Whatever happened, usage moves by the real change in size.
            self.quota
                .settle(growth, size_after.saturating_sub(size_before));
            self.quota.release(size_before.saturating_sub(size_after));
            result
        })
    }

    /// Metadata of the open file.
    pub fn stat(&self) -> Result<Stat, JailError> {
        Ok(rustix::fs::fstat(&self.fd)?.into())
    }

    /// Changes size, permission bits (masked with 0o777) and times, in that
    /// order, so that times set by the client survive the resize.
    pub fn set_attrs(&self, attrs: &SetAttrs) -> Result<(), JailError> {
        if self.readonly {
            return Err(JailError::ReadOnly);
        }
        if let Some(size) = attrs.size {
            self.set_len(size)?;
        }
        if let Some(mode) = attrs.mode {
            rustix::fs::fchmod(&self.fd, Mode::from_raw_mode(mode & CLIENT_MODE_MASK))?;
        }
        if let Some(times) = timestamps(attrs) {
            rustix::fs::futimens(&self.fd, &times)?;
        }
        Ok(())
    }

    /// Flushes data and metadata to the disk (`fsync`).
    pub fn sync_all(&self) -> Result<(), JailError> {
        Ok(rustix::fs::fsync(&self.fd)?)
    }

    fn size(&self) -> Result<u64, JailError> {
        Ok(Stat::from(rustix::fs::fstat(&self.fd)?).size)
    }
}

/// `EFBIG`, for offsets and sizes beyond what a file can hold.
fn file_too_large() -> JailError {
    JailError::Io(std::io::Error::from_raw_os_error(
        Errno::FBIG.raw_os_error(),
    ))
}

/// The `utimensat` argument for the times in `attrs`, `None` when neither
/// is set; a missing one is left unchanged (`UTIME_OMIT`).
pub(crate) fn timestamps(attrs: &SetAttrs) -> Option<Timestamps> {
    if attrs.atime.is_none() && attrs.mtime.is_none() {
        return None;
    }
    let spec = |seconds: Option<i64>| match seconds {
        Some(tv_sec) => Timespec { tv_sec, tv_nsec: 0 },
        None => Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        },
    };
    Some(Timestamps {
        last_access: spec(attrs.atime),
        last_modification: spec(attrs.mtime),
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{Fixture, vp};
    use super::super::{Jail, JailFile, OpenOptions};
    use super::*;

    fn create() -> OpenOptions {
        OpenOptions {
            read: false,
            write: true,
            create: true,
            truncate: true,
            ..OpenOptions::default()
        }
    }

    fn write_file(jail: &Jail, path: &str, data: &[u8]) -> Result<(), JailError> {
        jail.open_file(&vp(path), &create())?.write_at(data, 0)
    }

    fn reopen(jail: &Jail, path: &str) -> JailFile {
        let keep = OpenOptions {
            truncate: false,
            ..create()
        };
        jail.open_file(&vp(path), &keep).unwrap()
    }

    #[test]
    fn a_write_within_the_quota_is_counted() {
        let fixture = Fixture::new(Some(1 << 20));
        let base = fixture.jail.quota().used_bytes();
        write_file(&fixture.jail, "/f", &[1; 60]).unwrap();
        assert_eq!(fixture.jail.quota().used_bytes(), base + 60);
        fixture.assert_exact();
    }

    #[test]
    fn a_write_crossing_the_quota_fails_and_leaves_the_file_unchanged() {
        let fixture = Fixture::new(None);
        write_file(&fixture.jail, "/f", &[1; 60]).unwrap();
        let base = fixture.leave_room(40);
        let file = reopen(&fixture.jail, "/f");
        let err = file.write_at(&[2; 50], 55).unwrap_err();
        assert_eq!(
            err,
            JailError::QuotaExceeded {
                used: base,
                limit: base + 40
            }
        );
        assert_eq!(
            err.to_string(),
            format!("quota exceeded: used {base} of {} bytes", base + 40)
        );
        assert_eq!(
            std::fs::read(fixture.home().join("f")).unwrap(),
            vec![1; 60]
        );
        assert_eq!(fixture.jail.quota().used_bytes(), base);
        fixture.assert_exact();
    }

    #[test]
    fn overwriting_in_place_does_not_count_twice() {
        let fixture = Fixture::new(None);
        write_file(&fixture.jail, "/f", &[1; 80]).unwrap();
        let base = fixture.leave_room(20);
        let file = reopen(&fixture.jail, "/f");
        file.write_at(&[2; 80], 0).unwrap();
        file.write_at(&[3; 30], 70).unwrap();
        assert_eq!(fixture.jail.quota().used_bytes(), base + 20);
        assert_eq!(file.stat().unwrap().size, 100);
        fixture.assert_exact();
    }

    #[test]
    fn truncating_gives_space_back() {
        let fixture = Fixture::new(None);
        write_file(&fixture.jail, "/f", &[1; 80]).unwrap();
        let base = fixture.leave_room(20) - 80;
        let file = reopen(&fixture.jail, "/f");
        file.set_len(30).unwrap();
        assert_eq!(fixture.jail.quota().used_bytes(), base + 30);
        assert_eq!(
            file.set_len(200),
            Err(JailError::QuotaExceeded {
                used: base + 30,
                limit: base + 100
            })
        );
        drop(file);
        // Opening with truncate frees the rest.
        fixture.jail.open_file(&vp("/f"), &create()).unwrap();
        assert_eq!(fixture.jail.quota().used_bytes(), base);
        fixture.assert_exact();
    }

    #[test]
    fn append_writes_at_the_end_and_counts_the_growth() {
        let fixture = Fixture::new(Some(1 << 20));
        write_file(&fixture.jail, "/f", b"abc").unwrap();
        let base = fixture.jail.quota().used_bytes();
        let opts = OpenOptions {
            append: true,
            truncate: false,
            ..create()
        };
        let file = fixture.jail.open_file(&vp("/f"), &opts).unwrap();
        file.write_at(b"def", 0).unwrap();
        assert_eq!(std::fs::read(fixture.home().join("f")).unwrap(), b"abcdef");
        assert_eq!(fixture.jail.quota().used_bytes(), base + 3);
        fixture.assert_exact();
    }

    #[test]
    fn an_account_over_its_limit_can_still_truncate_but_not_grow() {
        let fixture = Fixture::new(None);
        write_file(&fixture.jail, "/f", &[1; 80]).unwrap();
        let base = fixture.jail.quota().used_bytes() - 80;
        fixture.jail.quota().set_limit(Some(base + 50));
        let file = reopen(&fixture.jail, "/f");
        assert!(file.write_at(b"x", 80).is_err());
        file.write_at(b"y", 0).unwrap();
        file.set_len(10).unwrap();
        assert_eq!(fixture.jail.quota().used_bytes(), base + 10);
        fixture.assert_exact();
    }

    #[test]
    fn concurrent_writers_account_exactly() {
        let fixture = Fixture::new(Some(1 << 20));
        let jail = fixture.jail.clone();
        let shared = Arc::new(jail.open_file(&vp("/shared"), &create()).unwrap());
        let threads: Vec<_> = (0..2_u64)
            .map(|t| {
                let jail = jail.clone();
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let own = jail.open_file(&vp(&format!("/own{t}")), &create()).unwrap();
                    for i in 0..200_u64 {
                        own.write_at(&[7; 13], i * 13).unwrap();
                        // Both threads extend the same file at interleaved offsets.
                        shared.write_at(&[t as u8; 10], (i * 2 + t) * 10).unwrap();
                        if i % 50 == 49 {
                            own.set_len(i * 13).unwrap();
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(
            std::fs::metadata(fixture.home().join("shared"))
                .unwrap()
                .len(),
            4000
        );
        fixture.assert_exact();
    }

    #[test]
    fn set_attrs_on_an_open_file_masks_the_mode_and_resizes() {
        let fixture = Fixture::new(Some(1 << 20));
        let file = fixture.jail.open_file(&vp("/f"), &create()).unwrap();
        let attrs = SetAttrs {
            size: Some(40),
            mode: Some(0o4755),
            atime: Some(1_000_000),
            mtime: Some(2_000_000),
        };
        file.set_attrs(&attrs).unwrap();
        let stat = file.stat().unwrap();
        assert_eq!(stat.mode & 0o7777, 0o755);
        assert_eq!(
            (stat.size, stat.mtime, stat.atime),
            (40, 2_000_000, 1_000_000)
        );
        fixture.assert_exact();
    }
}
