//! `mkdir`, `rmdir` and `rm`: changing the tree of the box.
//!
//! Messages and exit statuses copy GNU. Removing or renaming `/` (the
//! home) is refused by the jail as well as here; `rm -r` stops at
//! [`MAX_DEPTH`] levels.

use super::args::{self, Spec};
use super::attributes::parse_mode;
use super::{Gone, Io, MAX_DEPTH, reason, shown};
use crate::jail::{JailError, SetAttrs, VirtualPath};

/// The textual prefixes of `operand` at each `/`: `a/b/c` → `a`, `a/b`,
/// `a/b/c` (what `mkdir -p` and `rmdir -p` name in messages).
fn prefixes(operand: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    for (at, &byte) in operand.iter().enumerate() {
        let previous = at.checked_sub(1).and_then(|p| operand.get(p));
        if byte == b'/' && at > 0 && previous != Some(&b'/') {
            out.extend(operand.get(..at));
        }
    }
    if operand.last() != Some(&b'/') {
        out.push(operand);
    }
    out
}

/// `mkdir [-pv] [-m MODE] DIR...`.
pub(crate) fn mkdir(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    const SPEC: Spec = Spec {
        name: "mkdir",
        flags: "pv",
        valued: "m",
        long: &[("parents", 'p'), ("verbose", 'v'), ("mode", 'm')],
        usage_status: 1,
    };
    let opts = match args::options(io, &SPEC, args)? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    if opts.operands.is_empty() {
        return io.usage("mkdir", "missing operand", 1);
    }
    let mode = match opts.value('m') {
        None => None,
        Some(text) => match parse_mode(text, 0o777, true) {
            Some(mode) => Some(mode),
            None => {
                io.err("mkdir", format!("invalid mode '{}'", shown(text)))?;
                return Ok(1);
            }
        },
    };
    let mut status = 0;
    for operand in &opts.operands {
        let steps = if opts.has('p') {
            prefixes(operand)
        } else {
            vec![operand.as_slice()]
        };
        let last = steps.len().saturating_sub(1);
        for (index, step) in steps.into_iter().enumerate() {
            let made = io.resolve(step).and_then(|path| {
                match io.jail.create_dir(&path, 0o777) {
                    Err(JailError::AlreadyExists) if opts.has('p') => {
                        return match io.jail.stat(&path) {
                            Ok(st) if st.is_dir() => Ok(false),
                            Ok(_) => Err(JailError::NotADirectory),
                            Err(err) => Err(err),
                        };
                    }
                    Err(err) => return Err(err),
                    Ok(()) => {}
                }
                if let (Some(mode), true) = (mode, index == last) {
                    let attrs = SetAttrs {
                        mode: Some(mode),
                        ..SetAttrs::default()
                    };
                    io.jail.set_attrs(&path, &attrs, false)?;
                }
                Ok(true)
            });
            match made {
                Ok(true) if opts.has('v') => {
                    io.out(format!("mkdir: created directory '{}'\n", shown(step)).as_bytes())?;
                }
                Ok(_) => {}
                Err(err) => {
                    io.err(
                        "mkdir",
                        format!(
                            "cannot create directory '{}': {}",
                            shown(step),
                            reason(&err)
                        ),
                    )?;
                    status = 1;
                    break;
                }
            }
        }
    }
    Ok(status)
}

/// `rmdir [-pv] DIR...`.
pub(crate) fn rmdir(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    const SPEC: Spec = Spec {
        name: "rmdir",
        flags: "pv",
        valued: "",
        long: &[
            ("parents", 'p'),
            ("verbose", 'v'),
            ("ignore-fail-on-non-empty", 'I'),
        ],
        usage_status: 1,
    };
    let opts = match args::options(io, &SPEC, args)? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    if opts.operands.is_empty() {
        return io.usage("rmdir", "missing operand", 1);
    }
    let mut status = 0;
    for operand in &opts.operands {
        let mut steps = if opts.has('p') {
            prefixes(operand)
        } else {
            vec![operand.as_slice()]
        };
        steps.reverse();
        for step in steps {
            let removed = io.resolve(step).and_then(|path| {
                if path.is_root() {
                    return Err(JailError::Io(std::io::Error::from_raw_os_error(
                        libc::EBUSY,
                    )));
                }
                io.jail.remove_dir(&path)
            });
            match removed {
                Ok(()) if opts.has('v') => {
                    io.out(format!("rmdir: removing directory, '{}'\n", shown(step)).as_bytes())?;
                }
                Ok(()) => {}
                Err(JailError::DirectoryNotEmpty) if opts.has('I') => break,
                Err(err) => {
                    io.err(
                        "rmdir",
                        format!("failed to remove '{}': {}", shown(step), reason(&err)),
                    )?;
                    status = 1;
                    break;
                }
            }
        }
    }
    Ok(status)
}

/// Options of one `rm` run.
struct Rm {
    force: bool,
    recursive: bool,
    dirs: bool,
    verbose: bool,
}

/// `rm [-fdrRv] FILE...`.
pub(crate) fn rm(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    const SPEC: Spec = Spec {
        name: "rm",
        flags: "fdrRvi",
        valued: "",
        long: &[
            ("force", 'f'),
            ("dir", 'd'),
            ("recursive", 'r'),
            ("verbose", 'v'),
        ],
        usage_status: 1,
    };
    let opts = match args::options(io, &SPEC, args)? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let rm = Rm {
        force: opts.last_of("fi") == Some('f'),
        recursive: opts.has('r') || opts.has('R'),
        dirs: opts.has('d'),
        verbose: opts.has('v'),
    };
    if opts.operands.is_empty() {
        return if rm.force {
            Ok(0)
        } else {
            io.usage("rm", "missing operand", 1)
        };
    }
    let mut status = 0;
    for operand in &opts.operands {
        let trimmed = operand.strip_suffix(b"/").unwrap_or(operand);
        let last = trimmed.rsplit(|&b| b == b'/').next().unwrap_or_default();
        if last == b"." || last == b".." {
            let text = format!(
                "refusing to remove '.' or '..' directory: skipping '{}'",
                shown(operand)
            );
            io.err("rm", text)?;
            status = 1;
            continue;
        }
        let path = match io.resolve(operand) {
            Ok(path) => path,
            Err(err) => {
                io.err(
                    "rm",
                    format!("cannot remove '{}': {}", shown(operand), reason(&err)),
                )?;
                status = 1;
                continue;
            }
        };
        if path.is_root() && rm.recursive {
            let same = if operand.as_slice() == b"/" {
                String::new()
            } else {
                String::from(" (same as '/')")
            };
            io.err(
                "rm",
                format!(
                    "it is dangerous to operate recursively on '{}'{same}",
                    shown(operand)
                ),
            )?;
            io.err("rm", "use --no-preserve-root to override this failsafe")?;
            status = 1;
            continue;
        }
        if !rm.remove(io, &path, &shown(operand), 0)? {
            status = 1;
        }
    }
    Ok(status)
}

impl Rm {
    /// Removes one path; false when something could not be removed.
    fn remove(
        &self,
        io: &mut Io,
        path: &VirtualPath,
        name: &str,
        depth: usize,
    ) -> Result<bool, Gone> {
        io.check()?;
        let stat = match io.jail.lstat(path) {
            Ok(stat) => stat,
            Err(JailError::NotFound) if self.force => return Ok(true),
            Err(err) => return self.fail(io, name, &err),
        };
        if !stat.is_dir() {
            return match io.jail.remove_file(path) {
                Ok(()) => self.removed(io, "removed", name),
                Err(JailError::NotFound) if self.force => Ok(true),
                Err(err) => self.fail(io, name, &err),
            };
        }
        if !self.recursive && !self.dirs {
            return self.fail(io, name, &JailError::IsADirectory);
        }
        let mut all = true;
        if self.recursive {
            if depth + 1 >= MAX_DEPTH {
                let text = format!(
                    "cannot remove '{name}': directories nested too deep (limit {MAX_DEPTH})"
                );
                io.err("rm", text)?;
                return Ok(false);
            }
            let entries = match io.jail.read_dir(path) {
                Ok(entries) => entries,
                Err(err) => return self.fail(io, name, &err),
            };
            for entry in entries {
                let Ok(child) = path.join(&entry.name) else {
                    continue;
                };
                let child_name = format!(
                    "{}/{}",
                    name.trim_end_matches('/'),
                    super::shown(&entry.name)
                );
                all &= self.remove(io, &child, &child_name, depth + 1)?;
            }
        }
        if !all {
            return Ok(false);
        }
        match io.jail.remove_dir(path) {
            Ok(()) => self.removed(io, "removed directory", name),
            Err(err) => self.fail(io, name, &err),
        }
    }

    fn removed(&self, io: &mut Io, what: &str, name: &str) -> Result<bool, Gone> {
        if self.verbose {
            io.out(format!("{what} '{name}'\n").as_bytes())?;
        }
        Ok(true)
    }

    fn fail(&self, io: &mut Io, name: &str, err: &JailError) -> Result<bool, Gone> {
        io.err("rm", format!("cannot remove '{name}': {}", reason(err)))?;
        Ok(false)
    }
}
