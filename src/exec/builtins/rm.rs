//! `rm`: removing files, and with `-r` whole trees (at most [`MAX_DEPTH`]
//! levels deep). Removing `/` (the home) is refused here and by the jail.
//! Names met while recursing are the stored bytes; messages and `-v` lines
//! quote them as GNU does.

use super::args::{self, Spec};
use super::operands::below;
use super::{Command, Gone, Io, MAX_DEPTH, reason};
use crate::jail::{JailError, VirtualPath};
use crate::listing::quoting::quote;

/// `rm`.
pub(super) const COMMANDS: &[Command] = &[Command {
    name: "rm",
    synopsis: "[-fdrv] FILE...",
    in_shell: true,
    run: rm,
}];

/// Options of one `rm` run.
struct Rm {
    force: bool,
    recursive: bool,
    dirs: bool,
    verbose: bool,
}

/// `rm [-fdrRv] FILE...`.
fn rm(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
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
                "refusing to remove '.' or '..' directory: skipping {}",
                quote(operand)
            );
            io.err("rm", text)?;
            status = 1;
            continue;
        }
        let path = match io.resolve(operand) {
            Ok(path) => path,
            Err(err) => {
                let text = format!("cannot remove {}: {}", quote(operand), reason(&err));
                io.err("rm", text)?;
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
                    "it is dangerous to operate recursively on {}{same}",
                    quote(operand)
                ),
            )?;
            io.err("rm", "use --no-preserve-root to override this failsafe")?;
            status = 1;
            continue;
        }
        if !rm.remove(io, &path, operand, 0)? {
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
        name: &[u8],
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
                    "cannot remove {}: directories nested too deep (limit {MAX_DEPTH})",
                    quote(name)
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
                let child_name = below(name, &entry.name);
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

    fn removed(&self, io: &mut Io, what: &str, name: &[u8]) -> Result<bool, Gone> {
        if self.verbose {
            io.out(format!("{what} {}\n", quote(name)).as_bytes())?;
        }
        Ok(true)
    }

    fn fail(&self, io: &mut Io, name: &[u8], err: &JailError) -> Result<bool, Gone> {
        io.err(
            "rm",
            format!("cannot remove {}: {}", quote(name), reason(err)),
        )?;
        Ok(false)
    }
}
