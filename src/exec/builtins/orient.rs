//! `pwd`, `echo`, `help` and `stat`: finding one's way around the box.

use super::args::{self, Spec};
use super::{Gone, Io, TABLE, reason, shown};
use crate::jail::Stat;
use crate::listing::calendar::{self, DateTime};
use crate::listing::mode_string;

/// The user and group id every file in the box is shown with by `stat`:
/// host ids never reach the client.
pub(crate) const BOX_ID: u32 = 1000;

/// `pwd`: the current directory inside the box.
pub(crate) fn pwd(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    const SPEC: Spec = Spec {
        name: "pwd",
        flags: "LP",
        valued: "",
        long: &[("logical", 'L'), ("physical", 'P')],
        usage_status: 1,
    };
    if let Err(status) = args::options(io, &SPEC, args)? {
        return Ok(status);
    }
    let line = format!("{}\n", io.cwd);
    io.out(line.as_bytes())?;
    Ok(0)
}

/// `echo [-neE] STRING...`, as GNU echo: an argument is an option only if
/// it consists of `n`, `e` and `E` letters after the dash.
pub(crate) fn echo(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    let mut newline = true;
    let mut escapes = false;
    let mut words = args;
    while let Some((first, rest)) = words.split_first() {
        let Some(letters) = first.strip_prefix(b"-") else {
            break;
        };
        if letters.is_empty() || !letters.iter().all(|b| b"neE".contains(b)) {
            break;
        }
        for letter in letters {
            match letter {
                b'n' => newline = false,
                b'e' => escapes = true,
                _ => escapes = false,
            }
        }
        words = rest;
    }
    for (index, word) in words.iter().enumerate() {
        if index > 0 {
            io.out(b" ")?;
        }
        if !escapes {
            io.out(word)?;
            continue;
        }
        let (text, stop) = unescape(word);
        io.out(&text)?;
        if stop {
            return Ok(0);
        }
    }
    if newline {
        io.out(b"\n")?;
    }
    Ok(0)
}

/// `echo -e` escapes; the flag says `\c` was met (stop all output).
fn unescape(word: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(word.len());
    let mut i = 0;
    while let Some(&byte) = word.get(i) {
        i += 1;
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        let Some(&code) = word.get(i) else {
            out.push(b'\\');
            break;
        };
        i += 1;
        let simple = match code {
            b'\\' => Some(b'\\'),
            b'a' => Some(7),
            b'b' => Some(8),
            b'e' => Some(27),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(11),
            b'c' => return (out, true),
            _ => None,
        };
        if let Some(simple) = simple {
            out.push(simple);
            continue;
        }
        let (radix, max_digits) = match code {
            b'0' => (8, 3),
            b'x' => (16, 2),
            _ => {
                out.extend_from_slice(&[b'\\', code]);
                continue;
            }
        };
        let mut value: u32 = 0;
        let mut digits = 0;
        while digits < max_digits {
            let Some(digit) = word.get(i).and_then(|&d| char::from(d).to_digit(radix)) else {
                break;
            };
            value = value * radix + digit;
            digits += 1;
            i += 1;
        }
        if radix == 16 && digits == 0 {
            out.extend_from_slice(b"\\x");
        } else {
            out.push(u8::try_from(value & 0xff).unwrap_or(0));
        }
    }
    (out, false)
}

/// `help`: what this server offers.
pub(crate) fn help(io: &mut Io) -> Result<u32, Gone> {
    let mut text = String::from(
        "sftpbox: commands run inside your box; / is your home.\n\
         File transfers use sftp or scp (e.g. `sftp USER@HOST`, `scp FILE USER@HOST:`).\n\
         Built-in commands:\n",
    );
    for (name, builtin, synopsis) in TABLE {
        if io.is_terminal && !builtin.is_in_shell() {
            continue;
        }
        text.push_str(&format!("  {name} {synopsis}\n"));
    }
    if io.is_terminal {
        text.push_str("  cd [DIR]\n  exit, quit, logout\n");
    } else {
        text.push_str("Pipes, redirections and other shell syntax are not supported.\n");
    }
    io.out(text.as_bytes())?;
    Ok(0)
}

/// `stat [-L] [-c FORMAT] FILE...`, in GNU's default layout (times in
/// UTC; the box has no change or birth time, so those show the
/// modification time and `-`).
pub(crate) fn stat(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
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
                io.jail.read_link(&path).ok().map(|target| shown(&target))
            } else {
                None
            };
            Ok((st, target))
        });
        let (st, target) = match found {
            Ok(found) => found,
            Err(err) => {
                io.err(
                    "stat",
                    format!("cannot statx '{}': {}", shown(operand), reason(&err)),
                )?;
                status = 1;
                continue;
            }
        };
        let name = shown(operand);
        let text = match parsed.value('c') {
            Some(format) => format!(
                "{}\n",
                custom(&String::from_utf8_lossy(format), &name, &st, io)
            ),
            None => default_layout(&name, target.as_deref(), &st, io),
        };
        io.out(text.as_bytes())?;
    }
    Ok(status)
}

/// GNU `stat`'s default output.
fn default_layout(name: &str, target: Option<&str>, st: &Stat, io: &Io) -> String {
    let file = match target {
        Some(target) => format!("'{name}' -> '{target}'"),
        None => name.to_owned(),
    };
    let (major, minor) = device(st.dev);
    let mtime = timestamp(st.mtime);
    format!(
        "  File: {file}\n  Size: {:<10}\tBlocks: {:<10} IO Block: 4096   {}\n\
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
    )
}

/// `stat -c`: the common directives.
fn custom(format: &str, name: &str, st: &Stat, io: &Io) -> String {
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push_str(name),
            Some('s') => out.push_str(&st.size.to_string()),
            Some('a') => out.push_str(&format!("{:o}", st.mode & 0o7777)),
            Some('A') => out.push_str(&mode_string(st.mode)),
            Some('F') => out.push_str(kind(st)),
            Some('U' | 'G') => out.push_str(&io.account),
            Some('u' | 'g') => out.push_str(&BOX_ID.to_string()),
            Some('h') => out.push_str(&st.nlink.to_string()),
            Some('i') => out.push_str(&st.ino.to_string()),
            Some('b') => out.push_str(&st.blocks.to_string()),
            Some('B') => out.push_str("512"),
            Some('X') => out.push_str(&st.atime.to_string()),
            Some('Y' | 'Z') => out.push_str(&st.mtime.to_string()),
            Some('x') => out.push_str(&timestamp(st.atime)),
            Some('y' | 'z') => out.push_str(&timestamp(st.mtime)),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('?');
                out.push(other);
            }
            None => out.push('%'),
        }
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
