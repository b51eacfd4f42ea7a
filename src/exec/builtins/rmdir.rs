//! `rmdir`: removing empty directories, with `-p` their parents too.
//! Removing `/` (the home) is refused here and by the jail.

use super::args::{self, Spec};
use super::operands::prefixes;
use super::{Command, Gone, Io, reason};
use crate::jail::JailError;
use crate::listing::quoting::quote;

/// `rmdir`.
pub(super) const COMMANDS: &[Command] = &[Command {
    name: "rmdir",
    synopsis: "[-pv] DIR...",
    in_shell: true,
    run: rmdir,
}];

/// `rmdir [-pv] DIR...`.
fn rmdir(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
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
            // GNU says what it is about to remove, then tries.
            if opts.has('v') {
                io.out(format!("rmdir: removing directory, {}\n", quote(step)).as_bytes())?;
            }
            let removed = io.resolve(step).and_then(|path| {
                if path.is_root() {
                    return Err(JailError::Io(std::io::Error::from_raw_os_error(
                        libc::EBUSY,
                    )));
                }
                io.jail.remove_dir(&path)
            });
            match removed {
                Ok(()) => {}
                Err(JailError::DirectoryNotEmpty) if opts.has('I') => break,
                Err(err) => {
                    let text = format!("failed to remove {}: {}", quote(step), reason(&err));
                    io.err("rmdir", text)?;
                    status = 1;
                    break;
                }
            }
        }
    }
    Ok(status)
}
