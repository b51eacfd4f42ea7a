//! `mv`, and how `mv` and `cp` pair each `SOURCE` with its target (GNU
//! rules: into `DEST` when it is a directory, unless `-T`). Renames go
//! through `Jail::rename`, so they never leave the box and the quota sees
//! a replaced file's bytes come back.

use super::args::{self, Spec};
use super::{Gone, Io, reason, shown};
use crate::jail::VirtualPath;

/// The last name of an operand, trailing slashes ignored.
pub(crate) fn base_name(operand: &[u8]) -> &[u8] {
    let mut trimmed = operand;
    while trimmed.len() > 1 && trimmed.last() == Some(&b'/') {
        trimmed = trimmed.get(..trimmed.len() - 1).unwrap_or_default();
    }
    trimmed.rsplit(|&b| b == b'/').next().unwrap_or(trimmed)
}

/// `dest/name` as text, for messages.
pub(crate) fn joined(dest: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = dest.to_vec();
    if out.last() != Some(&b'/') {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// (source operand, target) pairs of `mv` and `cp`, as typed.
pub(crate) type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Where `SOURCE... DEST` puts each source, GNU-style; reports and returns
/// `None` when the command cannot go on.
pub(crate) fn targets(
    io: &mut Io,
    name: &str,
    operands: &[Vec<u8>],
    no_target_dir: bool,
) -> Result<Option<Pairs>, Gone> {
    let (dest, sources) = match operands.split_last() {
        Some((dest, sources)) if !sources.is_empty() => (dest, sources),
        Some((only, _)) => {
            let text = format!("missing destination file operand after '{}'", shown(only));
            io.usage(name, &text, 1)?;
            return Ok(None);
        }
        None => {
            io.usage(name, "missing file operand", 1)?;
            return Ok(None);
        }
    };
    let dest_stat = io.resolve(dest).and_then(|path| io.jail.stat(&path));
    let into_dir = !no_target_dir && dest_stat.as_ref().is_ok_and(|st| st.is_dir());
    if into_dir {
        let pairs = sources
            .iter()
            .map(|src| (src.clone(), joined(dest, base_name(src))))
            .collect();
        return Ok(Some(pairs));
    }
    if sources.len() > 1 {
        let text = match dest_stat {
            Ok(_) => format!("target '{}' is not a directory", shown(dest)),
            Err(err) => format!("target '{}': {}", shown(dest), reason(&err)),
        };
        io.err(name, text)?;
        return Ok(None);
    }
    Ok(Some(
        sources
            .iter()
            .map(|src| (src.clone(), dest.clone()))
            .collect(),
    ))
}

/// Whether `inner` is `outer` or below it.
pub(crate) fn is_within(inner: &VirtualPath, outer: &VirtualPath) -> bool {
    outer.is_root()
        || inner == outer
        || inner
            .as_bytes()
            .strip_prefix(outer.as_bytes())
            .is_some_and(|rest| rest.first() == Some(&b'/'))
}

/// `mv [-fnvT] SOURCE... DEST`.
pub(crate) fn mv(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
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
                    format!("cannot move '{}': {}", shown(&source), reason(&err)),
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
                    format!("cannot stat '{}': {}", shown(&source), reason(&err)),
                )?;
                status = 1;
                continue;
            }
        };
        if src == dst {
            io.err(
                "mv",
                format!(
                    "'{}' and '{}' are the same file",
                    shown(&source),
                    shown(&target)
                ),
            )?;
            status = 1;
            continue;
        }
        if src_stat.is_dir() && is_within(&dst, &src) {
            let text = format!(
                "cannot move '{}' to a subdirectory of itself, '{}'",
                shown(&source),
                shown(&target)
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
                io.out(
                    format!("renamed '{}' -> '{}'\n", shown(&source), shown(&target)).as_bytes(),
                )?;
            }
            Ok(()) => {}
            Err(err) => {
                let text = format!(
                    "cannot move '{}' to '{}': {}",
                    shown(&source),
                    shown(&target),
                    reason(&err)
                );
                io.err("mv", text)?;
                status = 1;
            }
        }
    }
    Ok(status)
}
