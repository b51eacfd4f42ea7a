//! GNU-style option parsing for the built-ins.
//!
//! Short options cluster (`-la`), a value may be attached or follow
//! (`-n5`, `-n 5`), long options map onto a short letter (`--all` → `a`;
//! long-only options use a letter the command has no short form for), `--`
//! ends the options, and options may follow operands, as GNU `getopt_long`
//! permutes them. A lone `-` is an operand (stdin). Errors are getopt's
//! messages, which show what was typed raw, whatever its bytes.

use super::{Builtin, Gone, Io};

/// The options one command accepts.
pub(crate) struct Spec {
    /// The command's name, for messages.
    pub name: &'static str,
    /// Short options without a value.
    pub flags: &'static str,
    /// Short options that take a value.
    pub valued: &'static str,
    /// Long options and the short letter each stands for.
    pub long: &'static [(&'static str, char)],
    /// Exit status of a usage error (2 for `ls`, 1 for most).
    pub usage_status: u32,
}

/// The parsed command line.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// Options in the order given, with their values.
    pub options: Vec<(char, Option<Vec<u8>>)>,
    /// Everything else, in order.
    pub operands: Vec<Vec<u8>>,
    /// `--help` was given.
    pub help: bool,
}

impl Parsed {
    /// Whether option `letter` was given.
    pub fn has(&self, letter: char) -> bool {
        self.options.iter().any(|(given, _)| *given == letter)
    }

    /// The value of the last `letter` given.
    pub fn value(&self, letter: char) -> Option<&[u8]> {
        self.options
            .iter()
            .rev()
            .find(|(given, _)| *given == letter)
            .and_then(|(_, value)| value.as_deref())
    }

    /// Which of `letters` came last, for options that override each other
    /// (`-c` and `-n` in head).
    pub fn last_of(&self, letters: &str) -> Option<char> {
        self.options
            .iter()
            .rev()
            .map(|(given, _)| *given)
            .find(|given| letters.contains(*given))
    }
}

/// `PREFIX'ARG'SUFFIX` as bytes: getopt prints what was typed unquoted.
fn message(prefix: &str, arg: &[u8], suffix: &str) -> Vec<u8> {
    [prefix.as_bytes(), b"'", arg, b"'", suffix.as_bytes()].concat()
}

/// Parses `args` (argv without argv[0]). The error is GNU's first line,
/// e.g. `invalid option -- 'z'`.
pub(crate) fn parse(spec: &Spec, args: &[Vec<u8>]) -> Result<Parsed, Vec<u8>> {
    let mut parsed = Parsed::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg.as_slice() == b"--" {
            parsed.operands.extend(iter.cloned());
            break;
        }
        if let Some(long) = arg.strip_prefix(b"--") {
            let (name, attached) = match long.iter().position(|&b| b == b'=') {
                Some(eq) => (long.get(..eq).unwrap_or_default(), long.get(eq + 1..)),
                None => (long, None),
            };
            if name == b"help" {
                parsed.help = true;
                continue;
            }
            let candidates: Vec<&(&str, char)> = spec
                .long
                .iter()
                .filter(|(known, _)| known.as_bytes().starts_with(name))
                .collect();
            let exact = candidates
                .iter()
                .find(|(known, _)| known.as_bytes() == name);
            let (known, letter) = match (exact, candidates.as_slice()) {
                (Some(found), _) | (None, [found]) => **found,
                (None, []) => return Err(message("unrecognized option ", arg, "")),
                (None, _) => return Err(message("option ", arg, " is ambiguous")),
            };
            if spec.valued.contains(letter) {
                let value = match attached {
                    Some(value) => value.to_vec(),
                    None => iter.next().cloned().ok_or_else(|| {
                        format!("option '--{known}' requires an argument").into_bytes()
                    })?,
                };
                parsed.options.push((letter, Some(value)));
            } else if attached.is_some() {
                return Err(format!("option '--{known}' doesn't allow an argument").into_bytes());
            } else {
                parsed.options.push((letter, None));
            }
            continue;
        }
        let Some(cluster) = arg.strip_prefix(b"-").filter(|rest| !rest.is_empty()) else {
            parsed.operands.push(arg.clone());
            continue;
        };
        for (index, &byte) in cluster.iter().enumerate() {
            let letter = char::from(byte);
            if spec.valued.contains(letter) && byte.is_ascii_alphanumeric() {
                let rest = cluster.get(index + 1..).unwrap_or_default();
                let value = if rest.is_empty() {
                    iter.next()
                        .cloned()
                        .ok_or_else(|| message("option requires an argument -- ", &[byte], ""))?
                } else {
                    rest.to_vec()
                };
                parsed.options.push((letter, Some(value)));
                break;
            }
            if !(spec.flags.contains(letter) && byte.is_ascii_alphanumeric()) {
                return Err(message("invalid option -- ", &[byte], ""));
            }
            parsed.options.push((letter, None));
        }
    }
    Ok(parsed)
}

/// Parses `args` for a built-in, reporting `--help` (exit 0) and usage
/// errors (exit `spec.usage_status`) itself: `Err(status)` means return it.
pub(crate) fn options(
    io: &mut Io,
    spec: &Spec,
    args: &[Vec<u8>],
) -> Result<Result<Parsed, u32>, Gone> {
    match parse(spec, args) {
        Ok(parsed) if parsed.help => {
            let synopsis = Builtin::from_name(spec.name.as_bytes()).map_or("", Builtin::synopsis);
            io.out(format!("Usage: {} {synopsis}\n", spec.name).as_bytes())?;
            Ok(Err(0))
        }
        Ok(parsed) => Ok(Ok(parsed)),
        Err(message) => io.usage(spec.name, message, spec.usage_status).map(Err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        name: "t",
        flags: "al",
        valued: "n",
        long: &[("all", 'a'), ("lines", 'n'), ("long", 'l')],
        usage_status: 1,
    };

    fn args(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn clusters_values_long_options_and_permutation_parse_like_getopt() {
        let parsed = parse(
            &SPEC,
            &args(&["x", "-la", "-n5", "--lines=7", "--al", "-", "--", "-a"]),
        )
        .unwrap();
        assert!(parsed.has('l') && parsed.has('a'));
        assert_eq!(parsed.value('n'), Some(&b"7"[..]));
        assert_eq!(parsed.operands, args(&["x", "-", "-a"]));
        assert_eq!(
            parse(&SPEC, &args(&["-z"])).unwrap_err(),
            b"invalid option -- 'z'"
        );
        assert_eq!(
            parse(&SPEC, &args(&["--l"])).unwrap_err(),
            b"option '--l' is ambiguous"
        );
        assert_eq!(
            parse(&SPEC, &args(&["-n"])).unwrap_err(),
            b"option requires an argument -- 'n'"
        );
        assert!(parse(&SPEC, &args(&["--nope"])).is_err());
    }

    #[test]
    fn errors_show_what_was_typed_raw_as_getopt_does() {
        let bad = [b"--x\xff".to_vec(), b"-\xfe".to_vec()];
        assert_eq!(
            parse(&SPEC, &bad[..1]).unwrap_err(),
            b"unrecognized option '--x\xff'"
        );
        assert_eq!(
            parse(&SPEC, &bad[1..]).unwrap_err(),
            b"invalid option -- '\xfe'"
        );
    }
}
