//! How commands read their path operands, as bytes: the prefixes of a
//! path (`mkdir -p`, `rmdir -p`), base names, and where `SOURCE... DEST`
//! puts each source (`mv`, `cp`: into `DEST` when it is a directory, unless
//! `-T`, as GNU does).

use super::{Gone, Io, reason};
use crate::jail::VirtualPath;
use crate::listing::quoting::quote;

/// The textual prefixes of `operand` at each `/`: `a/b/c` → `a`, `a/b`,
/// `a/b/c` (what `mkdir -p` and `rmdir -p` name in messages).
pub(crate) fn prefixes(operand: &[u8]) -> Vec<&[u8]> {
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

/// The last name of an operand, trailing slashes ignored.
pub(crate) fn base_name(operand: &[u8]) -> &[u8] {
    let mut trimmed = operand;
    while trimmed.len() > 1 && trimmed.last() == Some(&b'/') {
        trimmed = trimmed.get(..trimmed.len() - 1).unwrap_or_default();
    }
    trimmed.rsplit(|&b| b == b'/').next().unwrap_or(trimmed)
}

/// `dir/name`, as typed: `dir`'s trailing slashes are kept as one.
pub(crate) fn joined(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = dir.to_vec();
    if out.last() != Some(&b'/') {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// `dir/name` for a name met while recursing: `dir`'s trailing slashes
/// are dropped first, as GNU names what it finds below an operand.
pub(crate) fn below(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut end = dir.len();
    while end > 0 && dir.get(end - 1) == Some(&b'/') {
        end -= 1;
    }
    let mut out = dir.get(..end).unwrap_or_default().to_vec();
    out.push(b'/');
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
            let text = format!("missing destination file operand after {}", quote(only));
            io.usage(name, text, 1)?;
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
            Ok(_) => format!("target {} is not a directory", quote(dest)),
            Err(err) => format!("target {}: {}", quote(dest), reason(&err)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operands_split_into_prefixes_base_names_and_joins_as_bytes() {
        assert_eq!(prefixes(b"a/b//c/"), [&b"a"[..], b"a/b", b"a/b//c"]);
        assert_eq!(prefixes(b"x\xff"), [&b"x\xff"[..]]);
        assert_eq!(base_name(b"d/caf\xe9.txt/"), b"caf\xe9.txt");
        assert_eq!(base_name(b"a/"), b"a");
        assert_eq!(joined(b"dir/", b"n\xff"), b"dir/n\xff");
        assert_eq!(below(b"dir//", b"n\xff"), b"dir/n\xff");
        assert_eq!(below(b"/", b"n"), b"/n");
    }
}
