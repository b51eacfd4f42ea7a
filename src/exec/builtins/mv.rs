//! `mv`: renames inside the box through `Jail::rename`, so they never
//! leave it and the quota sees a replaced file's bytes come back. Where each
//! source goes is `operands::targets` (GNU's rules, shared with `cp`).

use super::args::{self, Spec};
use super::operands::{is_within, targets};
use super::{Command, Gone, Io, reason};
use crate::listing::quoting::quote;

/// `mv`.
pub(super) const COMMANDS: &[Command] = &[Command {
    name: "mv",
    synopsis: "[-fnv] SOURCE... DEST",
    in_shell: true,
    run: mv,
}];

/// `mv [-fnvT] SOURCE... DEST`.
fn mv(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    const SPEC: Spec = Spec {
        name: "mv",
        flags: "finvT",
        valued: "",
        long: &[
            ("force", 'f'),
            ("no-clobber", 'n'),
            ("verbose", 'v'),
            ("no-target-directory", 'T'),
        ],
        usage_status: 1,
    };
    let opts = match args::options(io, &SPEC, args)? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let Some(pairs) = targets(io, "mv", &opts.operands, opts.has('T'))? else {
        return Ok(1);
    };
    let no_clobber = opts.last_of("fin") == Some('n');
    let mut status = 0;
    for (source, target) in pairs {
        io.check()?;
        let (src, dst) = match (io.resolve(&source), io.resolve(&target)) {
            (Ok(src), Ok(dst)) => (src, dst),
            (Err(err), _) | (_, Err(err)) => {
                io.err(
                    "mv",
                    format!("cannot move {}: {}", quote(&source), reason(&err)),
                )?;
                status = 1;
                continue;
            }
        };
        let src_stat = match io.jail.lstat(&src) {
            Ok(stat) => stat,
            Err(err) => {
                io.err(
                    "mv",
                    format!("cannot stat {}: {}", quote(&source), reason(&err)),
                )?;
                status = 1;
                continue;
            }
        };
        if src == dst {
            io.err(
                "mv",
                format!(
                    "{} and {} are the same file",
                    quote(&source),
                    quote(&target)
                ),
            )?;
            status = 1;
            continue;
        }
        if src_stat.is_dir() && is_within(&dst, &src) {
            let text = format!(
                "cannot move {} to a subdirectory of itself, {}",
                quote(&source),
                quote(&target)
            );
            io.err("mv", text)?;
            status = 1;
            continue;
        }
        if no_clobber && io.jail.lstat(&dst).is_ok() {
            continue;
        }
        match io.jail.rename(&src, &dst, true) {
            Ok(()) if opts.has('v') => {
                io.out(format!("renamed {} -> {}\n", quote(&source), quote(&target)).as_bytes())?;
            }
            Ok(()) => {}
            Err(err) => {
                let text = format!(
                    "cannot move {} to {}: {}",
                    quote(&source),
                    quote(&target),
                    reason(&err)
                );
                io.err("mv", text)?;
                status = 1;
            }
        }
    }
    Ok(status)
}
