//! `stat`: a file's metadata in GNU's default layout or a `-c` format.
//!
//! Times are UTC; the box has no change or birth time, so those show the
//! modification time and `-`. Owner and group are the account, with
//! [`BOX_ID`] as their ids: host ids never reach the client. Names are
//! written raw where GNU writes them raw (`File:`, `%n`) and quoted where
//! GNU quotes them (`%N`, messages).

use super::args::{self, Spec};
use super::{Command, Gone, Io, reason};
use crate::jail::Stat;
use crate::listing::calendar::{self, DateTime};
use crate::listing::mode_string;
use crate::listing::quoting::quote;

/// The user and group id every file in the box is shown with by `stat`.
pub(crate) const BOX_ID: u32 = 1000;

/// `stat`.
pub(super) const COMMANDS: &[Command] = &[Command {
    name: "stat",
    synopsis: "[-L] [-c FORMAT] FILE...",
    in_shell: true,
    run: stat,
}];

/// One file as `stat` shows it.
struct Shown<'a> {
    /// The operand, as typed.
    name: &'a [u8],
    /// Where a symlink points, when the operand is one.
    target: Option<Vec<u8>>,
    stat: Stat,
}

/// `stat [-L] [-c FORMAT] FILE...`.
fn stat(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    const SPEC: Spec = Spec {
        name: "stat",
        flags: "L",
        valued: "c",
        long: &[("dereference", 'L'), ("format", 'c')],
        usage_status: 1,
    };
    let parsed = match args::options(io, &SPEC, args)? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    if parsed.operands.is_empty() {
        return io.usage("stat", "missing operand", 1);
    }
    let mut status = 0;
    for operand in &parsed.operands {
        io.check()?;
        let found = io.resolve(operand).and_then(|path| {
            let st = if parsed.has('L') {
                io.jail.stat(&path)?
            } else {
                io.jail.lstat(&path)?
            };
            let target = if st.is_symlink() {
                io.jail.read_link(&path).ok()
            } else {
                None
            };
            Ok((st, target))
        });
        let (stat, target) = match found {
            Ok(found) => found,
            Err(err) => {
                let text = format!("cannot statx {}: {}", quote(operand), reason(&err));
                io.err("stat", text)?;
                status = 1;
                continue;
            }
        };
        let file = Shown {
            name: operand,
            target,
            stat,
        };
        let text = match parsed.value('c') {
            Some(format) => {
                let mut line = custom(format, &file, io);
                line.push(b'\n');
                line
            }
            None => default_layout(&file, io),
        };
        io.out(&text)?;
    }
    Ok(status)
}

/// GNU `stat`'s default output.
fn default_layout(file: &Shown<'_>, io: &Io) -> Vec<u8> {
    let st = &file.stat;
    let mut out = b"  File: ".to_vec();
    out.extend_from_slice(file.name);
    if let Some(target) = &file.target {
        out.extend_from_slice(b" -> ");
        out.extend_from_slice(target);
    }
    let (major, minor) = device(st.dev);
    let mtime = timestamp(st.mtime);
    let rest = format!(
        "\n  Size: {:<10}\tBlocks: {:<10} IO Block: 4096   {}\n\
         Device: {major},{minor}\tInode: {:<11} Links: {}\n\
         Access: ({:04o}/{})  Uid: ({BOX_ID:>5}/{:>8})   Gid: ({BOX_ID:>5}/{:>8})\n\
         Access: {}\nModify: {mtime}\nChange: {mtime}\n Birth: -\n",
        st.size,
        st.blocks,
        kind(st),
        st.ino,
        st.nlink,
        st.mode & 0o7777,
        mode_string(st.mode),
        io.account,
        io.account,
        timestamp(st.atime),
    );
    out.extend_from_slice(rest.as_bytes());
    out
}

/// `stat -c`: the common directives, over the format's bytes.
fn custom(format: &[u8], file: &Shown<'_>, io: &Io) -> Vec<u8> {
    let st = &file.stat;
    let mut out = Vec::with_capacity(format.len() + 32);
    let mut bytes = format.iter();
    while let Some(&byte) = bytes.next() {
        if byte != b'%' {
            out.push(byte);
            continue;
        }
        let Some(&directive) = bytes.next() else {
            out.push(b'%');
            break;
        };
        let text = match directive {
            b'n' => {
                out.extend_from_slice(file.name);
                continue;
            }
            b'N' => match &file.target {
                Some(target) => format!("{} -> {}", quote(file.name), quote(target)),
                None => quote(file.name),
            },
            b's' => st.size.to_string(),
            b'a' => format!("{:o}", st.mode & 0o7777),
            b'A' => mode_string(st.mode),
            b'F' => kind(st).to_owned(),
            b'U' | b'G' => io.account.clone(),
            b'u' | b'g' => BOX_ID.to_string(),
            b'h' => st.nlink.to_string(),
            b'i' => st.ino.to_string(),
            b'b' => st.blocks.to_string(),
            b'B' => String::from("512"),
            b'X' => st.atime.to_string(),
            b'Y' | b'Z' => st.mtime.to_string(),
            b'x' => timestamp(st.atime),
            b'y' | b'z' => timestamp(st.mtime),
            b'%' => String::from("%"),
            // GNU shows an unknown directive as `?`.
            _ => String::from("?"),
        };
        out.extend_from_slice(text.as_bytes());
    }
    out
}

/// `%F`: the file type in words.
fn kind(st: &Stat) -> &'static str {
    if st.is_file() {
        if st.size == 0 {
            "regular empty file"
        } else {
            "regular file"
        }
    } else if st.is_dir() {
        "directory"
    } else if st.is_symlink() {
        "symbolic link"
    } else {
        match st.mode & libc::S_IFMT {
            libc::S_IFIFO => "fifo",
            libc::S_IFSOCK => "socket",
            libc::S_IFCHR => "character special file",
            libc::S_IFBLK => "block special file",
            _ => "unknown",
        }
    }
}

/// Linux's `major`/`minor` split of a device number.
fn device(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

/// `2024-01-31 12:00:00.000000000 +0000`.
fn timestamp(secs: i64) -> String {
    let DateTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
    } = calendar::utc(secs);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}.000000000 +0000")
}
