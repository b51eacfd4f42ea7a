//! Glob expansion inside the box: `*`, `?` and `[...]` matched against
//! `Jail::read_dir` listings, component by component. Matches come out
//! sorted bytewise (the C locale); a pattern matching nothing stays as
//! typed; a leading `.` must be matched explicitly. Directories that cannot
//! be read contribute nothing, as in sh.

use super::{SyntaxError, Word};
use crate::jail::{Jail, VirtualPath};

/// Most words a glob expansion may produce, so that `*/*/*` over a large
/// tree cannot build an unbounded argument list.
pub const MAX_GLOB_MATCHES: usize = 10_000;

/// Expands the glob words against the box, relative to `cwd`.
pub fn expand(
    jail: &Jail,
    cwd: &VirtualPath,
    words: Vec<Word>,
) -> Result<Vec<Vec<u8>>, SyntaxError> {
    let mut argv = Vec::with_capacity(words.len());
    let mut total = 0usize;
    for word in words {
        if !word.glob {
            argv.push(word.bytes);
            continue;
        }
        let mut matches = expand_pattern(jail, cwd, &word.pattern);
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

/// A candidate during expansion: the text the client will see, and where it
/// is in the box.
struct Candidate {
    text: Vec<u8>,
    path: VirtualPath,
}

/// All existing paths matching `pattern`, unsorted; empty when none.
fn expand_pattern(jail: &Jail, cwd: &VirtualPath, pattern: &[u8]) -> Vec<Vec<u8>> {
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
                if let Some(joined) = extend(candidate, &literal) {
                    next.push(joined);
                }
            }
        } else {
            globbed = true;
            for candidate in candidates {
                // An unreadable directory contributes nothing, as in sh.
                let Ok(entries) = jail.read_dir(&candidate.path) else {
                    continue;
                };
                for entry in entries {
                    let name = entry.name.as_slice();
                    if name.first() == Some(&b'.') && component.first() != Some(&b'.') {
                        continue;
                    }
                    if matches(component, name)
                        && let Some(joined) = extend(
                            Candidate {
                                text: candidate.text.clone(),
                                path: candidate.path.clone(),
                            },
                            name,
                        )
                    {
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
        return Vec::new();
    }
    candidates
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
        .collect()
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
/// `!`/`^` and ranges, `\` escapes). Linear backtracking on the last `*`.
pub fn matches(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(&token) = pattern.get(p) {
            let step = match token {
                b'*' => {
                    star = Some((p + 1, n));
                    p += 1;
                    continue;
                }
                b'?' => name.get(n).map(|_| 1),
                b'[' => match bracket(pattern, p, name.get(n).copied()) {
                    Bracket::Match(len) => Some(len),
                    Bracket::NoMatch => None,
                    Bracket::Literal => (name.get(n) == Some(&b'[')).then_some(1),
                },
                b'\\' => match pattern.get(p + 1) {
                    Some(escaped) => (name.get(n) == Some(escaped)).then_some(2),
                    None => (name.get(n) == Some(&b'\\')).then_some(1),
                },
                literal => (name.get(n) == Some(&literal)).then_some(1),
            };
            if let Some(len) = step {
                p += len;
                n += 1;
                continue;
            }
        } else if n == name.len() {
            return true;
        }
        // Mismatch: let the last `*` swallow one more byte.
        match star {
            Some((star_p, star_n)) if star_n < name.len() => {
                star = Some((star_p, star_n + 1));
                p = star_p;
                n = star_n + 1;
            }
            _ => return false,
        }
    }
}

enum Bracket {
    /// Matched; the bracket expression is this many pattern bytes long.
    Match(usize),
    NoMatch,
    /// No closing `]`: the `[` is an ordinary byte.
    Literal,
}

/// Matches the bracket expression starting at `pattern[start] == b'['`.
fn bracket(pattern: &[u8], start: usize, byte: Option<u8>) -> Bracket {
    let mut i = start + 1;
    let negate = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    loop {
        let Some(&c) = pattern.get(i) else {
            return Bracket::Literal;
        };
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
        if byte.is_some_and(|b| low <= b && b <= high) {
            found = true;
        }
    }
    match byte {
        Some(b) if found != negate && b != b'/' => Bracket::Match(i + 1 - start),
        _ => Bracket::NoMatch,
    }
}
