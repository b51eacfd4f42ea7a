//! Permission modes as `chmod` and `mkdir -m` take them: octal or
//! symbolic clauses (`u+x,go-w`, `a=r`, `+X`). Only permission bits come
//! out: setuid, setgid and sticky are never set (the jail masks them
//! again). Symbolic modes without `u`/`g`/`o`/`a` honour a umask of
//! [`ASSUMED_UMASK`], as GNU does with the usual one.

/// The umask symbolic modes without a `who` respect.
pub const ASSUMED_UMASK: u32 = 0o022;

/// Applies mode `text` (octal, or symbolic clauses) to `current`; `None`
/// if it does not parse. Only permission bits come out.
pub(crate) fn parse_mode(text: &[u8], current: u32, is_dir: bool) -> Option<u32> {
    if !text.is_empty() && text.iter().all(|b| (b'0'..=b'7').contains(b)) {
        let octal = text.iter().try_fold(0u32, |mode, &digit| {
            mode.checked_mul(8)?.checked_add(u32::from(digit - b'0'))
        });
        return octal.filter(|m| *m <= 0o7777).map(|m| m & 0o777);
    }
    let mut mode = current & 0o777;
    for clause in text.split(|&b| b == b',') {
        let mut chars = clause.iter().copied().map(char::from).peekable();
        let mut who = 0u32;
        while let Some(&c) = chars.peek() {
            who |= match c {
                'u' => 0o700,
                'g' => 0o070,
                'o' => 0o007,
                'a' => 0o777,
                _ => break,
            };
            chars.next();
        }
        let masked = who == 0;
        if masked {
            who = 0o777;
        }
        let mut saw_op = false;
        while let Some(op) = chars.next() {
            if !matches!(op, '+' | '-' | '=') {
                return None;
            }
            saw_op = true;
            let mut bits = 0u32;
            while let Some(&c) = chars.peek() {
                let add = match c {
                    'r' => 0o444,
                    'w' => 0o222,
                    'x' => 0o111,
                    'X' if is_dir || mode & 0o111 != 0 => 0o111,
                    'X' | 's' | 't' => 0,
                    'u' => spread((mode >> 6) & 7),
                    'g' => spread((mode >> 3) & 7),
                    'o' => spread(mode & 7),
                    '+' | '-' | '=' => break,
                    _ => return None,
                };
                bits |= add;
                chars.next();
            }
            let mut affected = bits & who;
            if masked {
                affected &= !ASSUMED_UMASK;
            }
            match op {
                '+' => mode |= affected,
                '-' => mode &= !affected,
                _ => {
                    let cleared = if masked { who & !ASSUMED_UMASK } else { who };
                    mode = (mode & !cleared) | affected;
                }
            }
        }
        if !saw_op {
            return None;
        }
    }
    Some(mode & 0o777)
}

/// Three permission bits copied to user, group and other.
fn spread(bits: u32) -> u32 {
    bits << 6 | bits << 3 | bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_and_symbolic_modes_apply_like_chmod() {
        assert_eq!(parse_mode(b"751", 0, false), Some(0o751));
        assert_eq!(parse_mode(b"4755", 0, false), Some(0o755));
        assert_eq!(parse_mode(b"17777", 0, false), None);
        assert_eq!(parse_mode(b"u+x,go-w", 0o666, false), Some(0o744));
        assert_eq!(parse_mode(b"a=r", 0o777, false), Some(0o444));
        assert_eq!(parse_mode(b"+X", 0o644, true), Some(0o755));
        assert_eq!(parse_mode(b"-w", 0o666, false), Some(0o466));
        assert_eq!(parse_mode(b"g=u", 0o640, false), Some(0o660));
        assert_eq!(parse_mode(b"zz", 0o644, false), None);
        assert_eq!(parse_mode(b"u+\xff", 0o644, false), None);
    }
}
