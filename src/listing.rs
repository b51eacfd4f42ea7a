//! How files are shown to people: `ls -l` lines (the mode string, the
//! six-months date rule, the calendar behind it) for SFTP long names and the
//! `ls` built-in alike, and names quoted so that bytes which are not
//! printable UTF-8 are visible.
//!
//! Everything here is pure formatting over a [`Stat`]; it never touches the
//! filesystem. Times are UTC: the server has no time zone database.

pub mod calendar;
pub mod quoting;

use std::borrow::Cow;

use crate::jail::Stat;

/// Half a Gregorian year: a file whose time is older than this (or in the
/// future) is shown with its year instead of its time of day, as GNU `ls`
/// and OpenSSH's sftp-server both do.
pub const SIX_MONTHS_SECONDS: i64 = 31_556_952 / 2;

/// `drwxr-xr-x`: the type letter and the permission bits, with `s`/`S`/`t`/`T`
/// for setuid, setgid and sticky.
pub fn mode_string(mode: u32) -> String {
    let kind = match mode & libc::S_IFMT {
        libc::S_IFDIR => 'd',
        libc::S_IFLNK => 'l',
        libc::S_IFIFO => 'p',
        libc::S_IFSOCK => 's',
        libc::S_IFCHR => 'c',
        libc::S_IFBLK => 'b',
        _ => '-',
    };
    let mut out = String::with_capacity(10);
    out.push(kind);
    let specials = [(0o4000, 's', 'S'), (0o2000, 's', 'S'), (0o1000, 't', 'T')];
    for (shift, (special, set, unset)) in [6u32, 3, 0].into_iter().zip(specials) {
        let bits = (mode >> shift) & 0o7;
        out.push(if bits & 4 != 0 { 'r' } else { '-' });
        out.push(if bits & 2 != 0 { 'w' } else { '-' });
        out.push(match (bits & 1 != 0, mode & special != 0) {
            (true, true) => set,
            (false, true) => unset,
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    out
}

/// The date column of `ls -l`: `Jan  2 15:04` for the last six months,
/// `Jan  2  2006` for older or future times.
pub fn date_column(mtime: i64, now: i64) -> String {
    let dt = calendar::utc(mtime);
    let month = calendar::month_name(dt.month);
    if mtime <= now && now - mtime < SIX_MONTHS_SECONDS {
        format!("{month} {:>2} {:02}:{:02}", dt.day, dt.hour, dt.minute)
    } else {
        format!("{month} {:>2}  {:>4}", dt.day, dt.year)
    }
}

/// An SFTP long name, laid out as OpenSSH's sftp-server does (FileZilla and
/// others parse it): `drwxr-xr-x    2 alice    alice        4096 Nov 24 04:20 name`,
/// with `owner` as user and group and the name quoted by [`quoted_name`].
pub fn long_name(name: &[u8], stat: &Stat, owner: &str, now: i64) -> String {
    format!(
        "{} {:>4} {:<8} {:<8} {:>8} {} {}",
        mode_string(stat.mode),
        stat.nlink,
        owner,
        owner,
        stat.size,
        date_column(stat.mtime, now),
        quoted_name(name)
    )
}

/// A file name for people to read. A name of printable UTF-8 is shown as it
/// is; any other is quoted the way GNU `ls --quoting-style=shell-escape`
/// does (`a\xff` → `'a'$'\377'`, see [`quoting::quote`]), so that what is
/// not text is visible and the result, pasted into a shell, names the same
/// bytes.
pub fn quoted_name(name: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(name) {
        Ok(text) if !text.chars().any(char::is_control) => Cow::Borrowed(text),
        _ => Cow::Owned(quoting::quote(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_strings_match_ls() {
        assert_eq!(mode_string(0o100644), "-rw-r--r--");
        assert_eq!(mode_string(0o040755), "drwxr-xr-x");
        assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
        assert_eq!(mode_string(0o104755), "-rwsr-xr-x");
        assert_eq!(mode_string(0o104644), "-rwSr--r--");
        assert_eq!(mode_string(0o041777), "drwxrwxrwt");
    }

    #[test]
    fn dates_show_the_time_when_recent_and_the_year_when_old_or_future() {
        let now = 1_795_000_000; // 2026-11-18 11:06:40 UTC
        assert_eq!(date_column(now - 60, now), "Nov 18 11:05");
        assert_eq!(date_column(0, now), "Jan  1  1970");
        assert_eq!(date_column(now + 3600, now), "Nov 18  2026");
        assert_eq!(
            date_column(now - SIX_MONTHS_SECONDS - 1, now),
            "May 19  2026"
        );
    }

    #[test]
    fn a_long_name_reads_like_sftp_servers_ls_l() {
        let stat = Stat {
            size: 1234,
            mode: 0o100640,
            uid: 0,
            gid: 0,
            nlink: 1,
            atime: 0,
            mtime: 0,
            ino: 1,
            dev: 1,
            blocks: 8,
        };
        assert_eq!(
            long_name(b"notes.txt", &stat, "alice", 1_795_000_000),
            "-rw-r-----    1 alice    alice        1234 Jan  1  1970 notes.txt"
        );
        assert!(long_name(b"a\xff", &stat, "alice", 0).ends_with(" 'a'$'\\377'"));
    }

    #[test]
    fn printable_names_are_shown_as_they_are() {
        for name in ["plain", "a b", "it's", "ü", "$x", "*"] {
            assert_eq!(quoted_name(name.as_bytes()), name);
        }
    }

    #[test]
    fn other_names_are_quoted_as_gnu_ls_shell_escape_does() {
        // Each expectation is what GNU ls 9.1 --quoting-style=shell-escape
        // printed for the same bytes.
        let table: &[(&[u8], &str)] = &[
            (b"a\xff", "'a'$'\\377'"),
            (b"\xffa", "''$'\\377''a'"),
            (b"a\xff b", "'a'$'\\377'' b'"),
            (b"x\ny", "'x'$'\\n''y'"),
            (b"a\x01", "'a'$'\\001'"),
            (b"a\tb\x7f", "'a'$'\\t''b'$'\\177'"),
            (b"\xc3\xbc\xff", "'\u{fc}'$'\\377'"),
            (b"\xfe\xff", "''$'\\376\\377'"),
        ];
        for (name, expected) in table {
            assert_eq!(quoted_name(name), *expected, "{name:?}");
        }
    }
}
