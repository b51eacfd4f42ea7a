//! File attributes on the wire: [`Stat`] → SFTP attributes (with the long
//! name from [`crate::listing`]), and client attributes → [`SetAttrs`].

use russh_sftp::protocol::{File, FileAttributes};

use crate::jail::{SetAttrs, Stat};

/// SFTP attributes of `stat`. Owner and group are the host's numbers; names
/// appear only in long names.
pub fn to_wire(stat: &Stat) -> FileAttributes {
    FileAttributes {
        size: Some(stat.size),
        uid: Some(stat.uid),
        user: None,
        gid: Some(stat.gid),
        group: None,
        permissions: Some(stat.mode),
        atime: Some(clamp_time(stat.atime)),
        mtime: Some(clamp_time(stat.mtime)),
    }
}

/// Version 3 carries 32-bit times.
fn clamp_time(t: i64) -> u32 {
    t.clamp(0, i64::from(u32::MAX)) as u32
}

/// A directory entry as SFTP NAME carries it, with an `ls -l` long name
/// showing `owner` as user and group.
pub fn name_entry(name: &[u8], stat: &Stat, owner: &str, now: i64) -> File {
    File {
        filename: String::from_utf8_lossy(name).into_owned(),
        longname: crate::listing::long_name(name, stat, owner, now),
        attrs: to_wire(stat),
    }
}

/// What a SETSTAT asks to change. Owner changes are not part of it: the
/// caller refuses them.
pub fn from_wire(attrs: &FileAttributes) -> SetAttrs {
    SetAttrs {
        size: attrs.size,
        mode: attrs.permissions.map(|p| p & 0o7777),
        atime: attrs.atime.map(i64::from).or(attrs.mtime.map(i64::from)),
        mtime: attrs.mtime.map(i64::from).or(attrs.atime.map(i64::from)),
    }
}
