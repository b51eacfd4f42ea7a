//! `JailDir`: an open directory of the box, read a batch at a time, so a
//! listing costs one descriptor and one `getdents` buffer however many
//! entries the directory holds (SFTP's READDIR reads it this way).

use rustix::fs::{AtFlags, Dir, Mode, OFlags};
use rustix::io::Errno;

use super::{DirEntry, JailError, LocalBox, VirtualPath};

/// An open directory inside the box. Entries come in the order the
/// filesystem gives them, without `.` and `..`; an entry removed between
/// being read and being stat'ed is skipped, as `ls` skips it.
#[derive(Debug)]
pub struct LocalDir {
    /// The directory stream; it owns the descriptor the entries are
    /// stat'ed against.
    dir: Dir,
    /// Set once the stream has run out.
    done: bool,
}

impl LocalBox {
    /// Opens directory `path` (following symlinks to it, inside the box)
    /// for reading its entries in batches.
    pub fn open_dir(&self, path: &VirtualPath) -> Result<LocalDir, JailError> {
        let fd = self.open_in_root(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(LocalDir {
            dir: Dir::new(fd)?,
            done: false,
        })
    }
}

impl LocalDir {
    /// Up to `max` more entries, each with its `lstat`; empty at the end.
    pub fn next_entries(&mut self, max: usize) -> Result<Vec<DirEntry>, JailError> {
        let mut entries = Vec::new();
        while entries.len() < max && !self.done {
            let entry = match self.dir.read() {
                None => {
                    self.done = true;
                    break;
                }
                Some(entry) => entry?,
            };
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            match rustix::fs::statat(self.dir.fd()?, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => entries.push(DirEntry {
                    name: name.to_bytes().to_vec(),
                    stat: st.into(),
                }),
                Err(Errno::NOENT) => continue,
                Err(errno) => return Err(errno.into()),
            }
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use crate::jail::tests::{Fixture, vp};

    #[test]
    fn a_directory_comes_out_in_batches_with_every_entry_once() {
        let fixture = Fixture::new(None);
        let folder = fixture.home().join("many");
        std::fs::create_dir(&folder).unwrap();
        for i in 0..250 {
            std::fs::write(folder.join(format!("f{i}")), b"x").unwrap();
        }
        let mut dir = fixture.jail.open_dir(&vp("/many")).unwrap();
        let mut names = Vec::new();
        loop {
            let batch = dir.next_entries(100).unwrap();
            assert!(batch.len() <= 100);
            if batch.is_empty() {
                break;
            }
            names.extend(batch.into_iter().map(|e| e.name));
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 250);
        assert!(dir.next_entries(100).unwrap().is_empty());
    }

    #[test]
    fn a_file_is_not_a_directory_to_open() {
        let fixture = Fixture::new(None);
        std::fs::write(fixture.home().join("f"), b"x").unwrap();
        assert!(fixture.jail.open_dir(&vp("/f")).is_err());
    }
}
