//! Glob expansion inside the box: `*`, `?` and `[...]` matched against
//! `Jail::read_dir` listings, component by component. Matches come out
//! sorted bytewise (the C locale); a pattern matching nothing stays as
//! typed; a leading `.` must be matched explicitly. Directories that cannot
//! be read contribute nothing, as in sh.
//!
//! The work is bounded, not only the result: each pattern is compiled once
//! (a bracket expression is parsed once, never again per byte), each
//! directory is listed once per command line however many words glob it,
//! and every name compared, every directory listed, every candidate path
//! built and every one looked up is charged against [`MAX_GLOB_WORK`], so
//! that a 64 KiB line of hostile patterns costs milliseconds, then is
//! refused. Charging the names alone was not enough: through a link to
//! `.`, `l*/*/*/…` lists `loop`, `loop/loop`, … as new directories each
//! time while comparing few names, and a 60-byte line took 4 s.

use std::collections::HashMap;

use super::{SyntaxError, Word};
use crate::jail::{Jail, VirtualPath};

/// Most words a glob expansion may produce, so that `*/*/*` over a large
/// tree cannot build an unbounded argument list.
pub const MAX_GLOB_MATCHES: usize = 10_000;

/// Work one command line's expansion may do, in units of one pattern token
/// tried against one byte of a name (the worst case of the matcher). A
/// 10-token pattern over 10 000 names of 100 bytes is 10 million; the
/// bound leaves room for several such words and stops a hostile line after
/// a few hundred milliseconds of CPU at most.
pub const MAX_GLOB_WORK: u64 = 200_000_000;

/// Work charged per component of a path the expansion lists or looks up in
/// the box, in the units of [`MAX_GLOB_WORK`]. Measured through the jail on
/// a loaded two-core machine: listing a directory 20 links deep took 67 µs
/// and an lstat there 28 µs, about 3 µs a component, and a unit of matcher
/// work is about a nanosecond.
const PATH_COMPONENT_WORK: u64 = 3_000;

/// Expands the glob words against the box, relative to `cwd`.
pub fn expand(
    jail: &Jail,
    cwd: &VirtualPath,
    words: Vec<Word>,
) -> Result<Vec<Vec<u8>>, SyntaxError> {
    let mut expansion = Expansion {
        jail,
        listings: HashMap::new(),
        work: 0,
    };
    let mut argv = Vec::with_capacity(words.len());
    let mut total = 0usize;
    for word in words {
        if !word.glob {
            argv.push(word.bytes);
            continue;
        }
        let mut matches = expansion.expand_pattern(cwd, &word.pattern)?;
        if matches.is_empty() {
            argv.push(word.bytes);
            continue;
        }
        total = total.saturating_add(matches.len());
        if total > MAX_GLOB_MATCHES {
            return Err(SyntaxError::TooManyMatches);
        }
        matches.sort();
        argv.append(&mut matches);
    }
    Ok(argv)
}

/// One command line's expansion: the directories it listed, and the work
/// it has done.
struct Expansion<'a> {
    jail: &'a Jail,
    /// Names in each directory listed so far (`None`: unreadable).
    listings: HashMap<VirtualPath, Option<Vec<Vec<u8>>>>,
    work: u64,
}

/// A candidate during expansion: the text the client will see, and where it
/// is in the box.
struct Candidate {
    text: Vec<u8>,
    path: VirtualPath,
}

impl Expansion<'_> {
    /// Adds `units` to the work done; refuses the line past the bound.
    fn charge(&mut self, units: u64) -> Result<(), SyntaxError> {
        self.work = self.work.saturating_add(units);
        if self.work > MAX_GLOB_WORK {
            return Err(SyntaxError::TooCostly);
        }
        Ok(())
    }

    /// Charges a lookup of `path` in the box, by its depth.
    fn charge_lookup(&mut self, path: &VirtualPath) -> Result<(), SyntaxError> {
        let depth = u64::try_from(path.components().count()).unwrap_or(u64::MAX);
        let depth = depth.saturating_add(1);
        self.charge(depth.saturating_mul(PATH_COMPONENT_WORK))
    }

    /// The names in directory `path`, listed once per command line; the
    /// first listing is charged.
    fn names_in(&mut self, path: &VirtualPath) -> Result<Option<&Vec<Vec<u8>>>, SyntaxError> {
        if !self.listings.contains_key(path) {
            self.charge_lookup(path)?;
            let names = self
                .jail
                .read_dir(path)
                .ok()
                .map(|entries| entries.into_iter().map(|entry| entry.name).collect());
            self.listings.insert(path.clone(), names);
        }
        Ok(self.listings.get(path).and_then(Option::as_ref))
    }

    /// `candidate` extended by `name`, the bytes it copies charged.
    fn extend(
        &mut self,
        candidate: Candidate,
        name: &[u8],
    ) -> Result<Option<Candidate>, SyntaxError> {
        let copied = candidate.text.len() + candidate.path.as_bytes().len() + name.len();
        self.charge(u64::try_from(copied).unwrap_or(u64::MAX))?;
        Ok(extend(candidate, name))
    }

    /// All existing paths matching `pattern`, unsorted; empty when none.
    fn expand_pattern(
        &mut self,
        cwd: &VirtualPath,
        pattern: &[u8],
    ) -> Result<Vec<Vec<u8>>, SyntaxError> {
        let absolute = pattern.first() == Some(&b'/');
        let wants_dir = pattern.len() > 1 && pattern.last() == Some(&b'/');
        let components: Vec<&[u8]> = pattern
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        let start = Candidate {
            text: if absolute { b"/".to_vec() } else { Vec::new() },
            path: if absolute {
                VirtualPath::root()
            } else {
                cwd.clone()
            },
        };
        let mut candidates = vec![start];
        let mut globbed = false;
        for component in components {
            let mut next = Vec::new();
            if !has_unescaped_glob(component) {
                let literal = unescape(component);
                for candidate in candidates {
                    if let Some(joined) = self.extend(candidate, &literal)? {
                        next.push(joined);
                    }
                }
            } else {
                globbed = true;
                let compiled = Pattern::compile(component);
                let explicit_dot = component.first() == Some(&b'.');
                for candidate in candidates {
                    // An unreadable directory contributes nothing, as in sh.
                    let Some(names) = self.names_in(&candidate.path)? else {
                        continue;
                    };
                    let mut matched = Vec::new();
                    let mut cost = 0u64;
                    for name in names {
                        if name.first() == Some(&b'.') && !explicit_dot {
                            continue;
                        }
                        cost = cost.saturating_add(compiled.cost(name));
                        if compiled.matches(name) {
                            matched.push(name.clone());
                        }
                    }
                    self.charge(cost)?;
                    for name in matched {
                        let base = Candidate {
                            text: candidate.text.clone(),
                            path: candidate.path.clone(),
                        };
                        if let Some(joined) = self.extend(base, &name)? {
                            next.push(joined);
                        }
                    }
                    if next.len() > MAX_GLOB_MATCHES {
                        break;
                    }
                }
            }
            candidates = next;
        }
        if !globbed {
            return Ok(Vec::new());
        }
        for candidate in &candidates {
            self.charge_lookup(&candidate.path)?;
        }
        let jail = self.jail;
        Ok(candidates
            .into_iter()
            .filter(|candidate| match jail.lstat(&candidate.path) {
                Ok(stat) if wants_dir => {
                    stat.is_dir() || jail.stat(&candidate.path).is_ok_and(|s| s.is_dir())
                }
                Ok(_) => true,
                Err(_) => false,
            })
            .map(|mut candidate| {
                if wants_dir {
                    candidate.text.push(b'/');
                }
                candidate.text
            })
            .collect())
    }
}

/// `candidate` with one more component, or `None` when the name cannot be
/// a path component.
fn extend(mut candidate: Candidate, name: &[u8]) -> Option<Candidate> {
    let path = VirtualPath::resolve(&candidate.path, name).ok()?;
    if !candidate.text.is_empty() && candidate.text.last() != Some(&b'/') {
        candidate.text.push(b'/');
    }
    candidate.text.extend_from_slice(name);
    Some(Candidate {
        text: candidate.text,
        path,
    })
}

fn has_unescaped_glob(pattern: &[u8]) -> bool {
    let mut escaped = false;
    for &byte in pattern {
        if escaped {
            escaped = false;
        } else if byte == b'\\' {
            escaped = true;
        } else if matches!(byte, b'*' | b'?' | b'[') {
            return true;
        }
    }
    false
}

fn unescape(pattern: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut escaped = false;
    for &byte in pattern {
        if !escaped && byte == b'\\' {
            escaped = true;
        } else {
            escaped = false;
            out.push(byte);
        }
    }
    out
}

/// Whether `name` matches the sh pattern `pattern` (`*`, `?`, `[...]` with
/// `!`/`^` and ranges, `\` escapes).
#[cfg(test)]
pub fn matches(pattern: &[u8], name: &[u8]) -> bool {
    Pattern::compile(pattern).matches(name)
}

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// `*`: any run of bytes.
    Star,
    /// `?`: any one byte.
    Any,
    /// One literal byte.
    Byte(u8),
    /// `[...]`: one byte of the set (a bit per byte value), or of its
    /// complement with `!`/`^`.
    Set {
        /// Bit `b % 64` of word `b / 64` is set when byte `b` is listed.
        members: [u64; 4],
        /// Whether the set is negated.
        negate: bool,
    },
}

/// A pattern parsed once into tokens, so that matching never parses again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    tokens: Vec<Token>,
}

impl Pattern {
    /// Parses `pattern`. A `[` without a closing `]` is an ordinary byte;
    /// once one bracket has run to the end unclosed, every later `[` is
    /// ordinary too (none can close), so parsing stays linear.
    fn compile(pattern: &[u8]) -> Pattern {
        let mut tokens = Vec::new();
        let mut i = 0;
        let mut brackets_can_close = true;
        while let Some(&byte) = pattern.get(i) {
            match byte {
                b'*' => {
                    // Consecutive stars match what one star matches.
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                    i += 1;
                }
                b'?' => {
                    tokens.push(Token::Any);
                    i += 1;
                }
                b'\\' => match pattern.get(i + 1) {
                    Some(&escaped) => {
                        tokens.push(Token::Byte(escaped));
                        i += 2;
                    }
                    None => {
                        tokens.push(Token::Byte(b'\\'));
                        i += 1;
                    }
                },
                b'[' if brackets_can_close => match parse_bracket(pattern, i) {
                    Some((token, len)) => {
                        tokens.push(token);
                        i += len;
                    }
                    None => {
                        brackets_can_close = false;
                        tokens.push(Token::Byte(b'['));
                        i += 1;
                    }
                },
                literal => {
                    tokens.push(Token::Byte(literal));
                    i += 1;
                }
            }
        }
        Pattern { tokens }
    }

    /// The most steps [`Pattern::matches`] can take on `name`.
    fn cost(&self, name: &[u8]) -> u64 {
        let tokens = u64::try_from(self.tokens.len()).unwrap_or(u64::MAX).max(1);
        let bytes = u64::try_from(name.len()).unwrap_or(u64::MAX).max(1);
        tokens.saturating_mul(bytes)
    }

    /// Whether `name` matches: one pass, backtracking only to the last `*`
    /// (so at most tokens × bytes steps).
    fn matches(&self, name: &[u8]) -> bool {
        let (mut t, mut n) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        loop {
            if let Some(token) = self.tokens.get(t) {
                let matched = match token {
                    Token::Star => {
                        star = Some((t + 1, n));
                        t += 1;
                        continue;
                    }
                    Token::Any => name.get(n).is_some(),
                    Token::Byte(byte) => name.get(n) == Some(byte),
                    Token::Set { members, negate } => name
                        .get(n)
                        .is_some_and(|&b| b != b'/' && in_set(members, b) != *negate),
                };
                if matched {
                    t += 1;
                    n += 1;
                    continue;
                }
            } else if n == name.len() {
                return true;
            }
            // Mismatch: let the last `*` swallow one more byte.
            match star {
                Some((star_t, star_n)) if star_n < name.len() => {
                    star = Some((star_t, star_n + 1));
                    t = star_t;
                    n = star_n + 1;
                }
                _ => return false,
            }
        }
    }
}

fn in_set(members: &[u64; 4], byte: u8) -> bool {
    members
        .get(usize::from(byte / 64))
        .is_some_and(|word| word & (1u64 << (byte % 64)) != 0)
}

/// Parses the bracket expression at `pattern[start] == b'['`: the token and
/// its length in bytes, or `None` when no `]` closes it.
fn parse_bracket(pattern: &[u8], start: usize) -> Option<(Token, usize)> {
    let mut i = start + 1;
    let negate = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut members = [0u64; 4];
    let mut first = true;
    loop {
        let &c = pattern.get(i)?;
        if c == b']' && !first {
            break;
        }
        first = false;
        let (low, used) = match (c, pattern.get(i + 1)) {
            (b'\\', Some(&escaped)) => (escaped, 2),
            _ => (c, 1),
        };
        i += used;
        let mut high = low;
        if pattern.get(i) == Some(&b'-') && pattern.get(i + 1).is_some_and(|&h| h != b']') {
            let (h, used) = match (pattern.get(i + 1), pattern.get(i + 2)) {
                (Some(b'\\'), Some(&escaped)) => (escaped, 3),
                (Some(&h), _) => (h, 2),
                (None, _) => (low, 1),
            };
            high = h;
            i += used;
        }
        for byte in low..=high {
            if let Some(word) = members.get_mut(usize::from(byte / 64)) {
                *word |= 1u64 << (byte % 64);
            }
        }
    }
    Some((Token::Set { members, negate }, i + 1 - start))
}
