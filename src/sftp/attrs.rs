//! File attributes between the jail and the wire: [`Stat`] → SFTP
//! [`Attrs`], and the client's [`Attrs`] → [`SetAttrs`]. Long names come
//! from [`crate::listing`].

use super::codec::{Attrs, Owner, Times};
use crate::jail::{SetAttrs, Stat};

/// SFTP attributes of `stat`. Owner and group are the host's numbers; names
/// appear only in long names.
pub fn to_wire(stat: &Stat) -> Attrs {
    Attrs {
        size: Some(stat.size),
        owner: Some(Owner {
            uid: stat.uid,
            gid: stat.gid,
        }),
        permissions: Some(stat.mode),
        times: Some(Times {
            atime: clamp_time(stat.atime),
            mtime: clamp_time(stat.mtime),
        }),
        extended: Vec::new(),
    }
}

/// Version 3 carries 32-bit times.
fn clamp_time(t: i64) -> u32 {
    t.clamp(0, i64::from(u32::MAX)) as u32
}

/// What a SETSTAT asks to change. Owner changes are not part of it: the
/// caller refuses them.
pub fn from_wire(attrs: &Attrs) -> SetAttrs {
    SetAttrs {
        size: attrs.size,
        mode: attrs.permissions.map(|p| p & 0o7777),
        atime: attrs.times.map(|t| i64::from(t.atime)),
        mtime: attrs.times.map(|t| i64::from(t.mtime)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_before_the_epoch_or_past_2106_are_clamped() {
        let stat = Stat {
            size: 1,
            mode: 0o100644,
            uid: 1,
            gid: 2,
            nlink: 1,
            atime: -5,
            mtime: i64::MAX,
            ino: 1,
            dev: 1,
            blocks: 0,
        };
        let times = to_wire(&stat).times.unwrap();
        assert_eq!((times.atime, times.mtime), (0, u32::MAX));
    }

    #[test]
    fn a_setstat_keeps_permission_bits_and_both_times() {
        let wanted = Attrs {
            permissions: Some(0o104755),
            times: Some(Times { atime: 3, mtime: 4 }),
            ..Attrs::default()
        };
        assert_eq!(
            from_wire(&wanted),
            SetAttrs {
                size: None,
                mode: Some(0o4755),
                atime: Some(3),
                mtime: Some(4),
            }
        );
    }
}
