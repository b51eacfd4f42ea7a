//! `chmod`: permission bits, octal or symbolic (`modes.rs`), with `-R`
//! down a tree (at most [`MAX_DEPTH`] levels; symlinks met on the way are
//! left alone, as GNU does). Setuid, setgid and sticky are never set.

use super::args::{self, Spec};
use super::modes::parse_mode;
use super::operands::below;
use super::{Command, Gone, Io, MAX_DEPTH, reason};
use crate::jail::{SetAttrs, VirtualPath};
use crate::listing::mode_string;
use crate::listing::quoting::{quote, quote_value};

/// `chmod`.
pub(super) const COMMANDS: &[Command] = &[Command {
    name: "chmod",
    synopsis: "[-Rv] MODE FILE...",
    in_shell: true,
    run: chmod,
}];

/// Whether `arg` is a symbolic mode that starts with `-` (`chmod -w f`),
/// which GNU takes as the mode rather than as options.
fn is_dash_mode(arg: &[u8]) -> bool {
    arg.len() > 1 && arg.first() == Some(&b'-') && arg.iter().all(|b| b"rwxXst,ugoa+-=".contains(b))
}

/// `chmod [-Rvcf] MODE FILE...`.
fn chmod(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    const SPEC: Spec = Spec {
        name: "chmod",
        flags: "Rvcf",
        valued: "",
        long: &[
            ("recursive", 'R'),
            ("verbose", 'v'),
            ("changes", 'c'),
            ("silent", 'f'),
            ("quiet", 'f'),
        ],
        usage_status: 1,
    };
    let dash_mode = args.iter().position(|a| is_dash_mode(a));
    let rest: Vec<Vec<u8>> = args
        .iter()
        .enumerate()
        .filter(|(index, _)| Some(*index) != dash_mode)
        .map(|(_, arg)| arg.clone())
        .collect();
    let opts = match args::options(io, &SPEC, &rest)? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let mut operands = opts.operands.clone();
    if let Some(mode) = dash_mode.and_then(|index| args.get(index)) {
        operands.insert(0, mode.clone());
    }
    let Some((mode, files)) = operands.split_first() else {
        return io.usage("chmod", "missing operand", 1);
    };
    if files.is_empty() {
        let text = format!("missing operand after {}", quote_value(mode));
        return io.usage("chmod", text, 1);
    }
    if parse_mode(mode, 0, false).is_none() {
        return io.usage("chmod", format!("invalid mode: {}", quote_value(mode)), 1);
    }
    let mut status = 0;
    for file in files {
        let path = io.resolve(file);
        let ok = match path {
            Ok(path) => change_mode(io, &path, file, mode, &opts, 0)?,
            Err(err) => {
                let text = format!("cannot access {}: {}", quote(file), reason(&err));
                io.err("chmod", text)?;
                false
            }
        };
        if !ok {
            status = 1;
        }
    }
    Ok(status)
}

/// Changes one file (and, with `-R`, what is below it).
fn change_mode(
    io: &mut Io,
    path: &VirtualPath,
    name: &[u8],
    mode: &[u8],
    opts: &args::Parsed,
    depth: usize,
) -> Result<bool, Gone> {
    io.check()?;
    let stat = match io.jail.stat(path) {
        Ok(stat) => stat,
        Err(err) => {
            if !opts.has('f') {
                let text = format!("cannot access {}: {}", quote(name), reason(&err));
                io.err("chmod", text)?;
            }
            return Ok(false);
        }
    };
    let old = stat.mode & 0o777;
    let new = parse_mode(mode, old, stat.is_dir()).unwrap_or(old);
    let mut ok = true;
    if let Err(err) = io.jail.set_attrs(
        path,
        &SetAttrs {
            mode: Some(new),
            ..SetAttrs::default()
        },
        true,
    ) {
        if !opts.has('f') {
            let text = format!("changing permissions of {}: {}", quote(name), reason(&err));
            io.err("chmod", text)?;
        }
        ok = false;
    } else if opts.has('v') || (opts.has('c') && old != new) {
        let (from, to) = (mode_string(old), mode_string(new));
        let (from, to) = (
            from.get(1..).unwrap_or_default(),
            to.get(1..).unwrap_or_default(),
        );
        let name = quote(name);
        let text = if old == new {
            format!("mode of {name} retained as {old:04o} ({from})\n")
        } else {
            format!("mode of {name} changed from {old:04o} ({from}) to {new:04o} ({to})\n")
        };
        io.out(text.as_bytes())?;
    }
    if opts.has('R') && stat.is_dir() {
        if depth + 1 >= MAX_DEPTH {
            let text = format!(
                "{}: directories nested too deep (limit {MAX_DEPTH})",
                quote(name)
            );
            io.err("chmod", text)?;
            return Ok(false);
        }
        let entries = io.jail.read_dir(path).unwrap_or_default();
        for entry in entries {
            // Symlinks met while recursing are left alone, as GNU does.
            if entry.stat.is_symlink() {
                continue;
            }
            let Ok(child) = path.join(&entry.name) else {
                continue;
            };
            let child_name = below(name, &entry.name);
            ok &= change_mode(io, &child, &child_name, mode, opts, depth + 1)?;
        }
    }
    Ok(ok)
}
