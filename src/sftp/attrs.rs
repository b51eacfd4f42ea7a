//! File attributes on the wire: [`Stat`] → SFTP attributes and `ls -l` style
//! long names (FileZilla and others parse them), and client attributes →
//! [`SetAttrs`].

use russh_sftp::protocol::{File, FileAttributes};

use crate::jail::{SetAttrs, Stat};

/// Six months, the age past which `ls -l` shows the year instead of the time.
const SIX_MONTHS_SECONDS: i64 = 182 * 24 * 3600;

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
pub fn name_entry(name: &str, stat: &Stat, owner: &str, now: i64) -> File {
    File {
        filename: name.to_owned(),
        longname: long_name(name, stat, owner, now),
        attrs: to_wire(stat),
    }
}

/// `drwxr-xr-x    2 alice    alice        4096 Nov 24 04:20 name`, as OpenSSH's
/// sftp-server prints it.
pub fn long_name(name: &str, stat: &Stat, owner: &str, now: i64) -> String {
    format!(
        "{} {:>4} {:<8} {:<8} {:>8} {} {}",
        mode_string(stat.mode),
        stat.nlink,
        owner,
        owner,
        stat.size,
        date_string(stat.mtime, now),
        name
    )
}

/// `-rw-r--r--` from a full mode (type bits included).
pub fn mode_string(mode: u32) -> String {
    let kind = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o010000 => 'p',
        0o140000 => 's',
        0o020000 => 'c',
        0o060000 => 'b',
        _ => '-',
    };
    let mut s = String::with_capacity(10);
    s.push(kind);
    let bit = |m: u32, c: char| if mode & m != 0 { c } else { '-' };
    s.push(bit(0o400, 'r'));
    s.push(bit(0o200, 'w'));
    s.push(exec_char(mode, 0o100, 0o4000, 's'));
    s.push(bit(0o040, 'r'));
    s.push(bit(0o020, 'w'));
    s.push(exec_char(mode, 0o010, 0o2000, 's'));
    s.push(bit(0o004, 'r'));
    s.push(bit(0o002, 'w'));
    s.push(exec_char(mode, 0o001, 0o1000, 't'));
    s
}

fn exec_char(mode: u32, exec: u32, special: u32, c: char) -> char {
    match (mode & exec != 0, mode & special != 0) {
        (true, true) => c,
        (false, true) => c.to_ascii_uppercase(),
        (true, false) => 'x',
        (false, false) => '-',
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Nov 24 04:20` for recent times, `Nov 24  2024` for old or future ones (UTC).
pub fn date_string(mtime: i64, now: i64) -> String {
    let (year, month, day) = civil_from_days(mtime.div_euclid(86_400));
    let secs = mtime.rem_euclid(86_400);
    let month_name = MONTHS
        .get(month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("???");
    if mtime > now - SIX_MONTHS_SECONDS && mtime <= now + 3600 {
        format!(
            "{month_name} {day:>2} {:02}:{:02}",
            secs / 3600,
            secs % 3600 / 60
        )
    } else {
        format!("{month_name} {day:>2}  {year}")
    }
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_strings_match_ls() {
        assert_eq!(mode_string(0o100644), "-rw-r--r--");
        assert_eq!(mode_string(0o040755), "drwxr-xr-x");
        assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
        assert_eq!(mode_string(0o104755), "-rwsr-xr-x");
        assert_eq!(mode_string(0o041777), "drwxrwxrwt");
    }

    #[test]
    fn dates_show_time_when_recent_and_year_when_old() {
        let now = 1_795_000_000; // 2026-11-18
        assert_eq!(date_string(now - 60, now), "Nov 18 11:05");
        assert_eq!(date_string(0, now), "Jan  1  1970");
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }

    #[test]
    fn a_long_name_reads_like_ls_l() {
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
            long_name("notes.txt", &stat, "alice", 1_795_000_000),
            "-rw-r-----    1 alice    alice        1234 Jan  1  1970 notes.txt"
        );
    }
}
