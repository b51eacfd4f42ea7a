//! `mkdir`: new directories, with `-p` the missing parents too, and
//! `-m` their mode. Messages quote names as GNU's do.

use super::args::{self, Spec};
use super::modes::parse_mode;
use super::operands::prefixes;
use super::{Command, Gone, Io, reason};
use crate::jail::{JailError, SetAttrs};
use crate::listing::quoting::{quote, quote_value};

/// `mkdir`.
pub(super) const COMMANDS: &[Command] = &[Command {
    name: "mkdir",
    synopsis: "[-pv] [-m MODE] DIR...",
    in_shell: true,
    run: mkdir,
}];

/// `mkdir [-pv] [-m MODE] DIR...`.
fn mkdir(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
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
                io.err("mkdir", format!("invalid mode {}", quote_value(text)))?;
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
                    io.out(format!("mkdir: created directory {}\n", quote(step)).as_bytes())?;
                }
                Ok(_) => {}
                Err(err) => {
                    let text = format!(
                        "cannot create directory {}: {}",
                        quote_value(step),
                        reason(&err)
                    );
                    io.err("mkdir", text)?;
                    status = 1;
                    break;
                }
            }
        }
    }
    Ok(status)
}
