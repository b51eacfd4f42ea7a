//! `head`: the first lines or bytes of files or stdin.

use super::parts;
use super::{Command, Gone, Io};

/// `head`.
pub(super) const COMMANDS: &[Command] = &[Command {
    name: "head",
    synopsis: "[-n LINES | -c BYTES] [FILE]...",
    in_shell: true,
    run: head,
}];

/// `head [-n N | -c N] [FILE]...`.
fn head(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    parts::per_input(io, "head", args, |io, mut input, wanted| {
        let bytes = wanted.bytes;
        let mut left = wanted.count;
        while left > 0 {
            let chunk = match input.next(io)? {
                Ok(chunk) if chunk.is_empty() => break,
                Ok(chunk) => chunk,
                Err(err) => return Ok(Err(err)),
            };
            let take = if bytes {
                usize::try_from(left).unwrap_or(usize::MAX).min(chunk.len())
            } else {
                let mut end = chunk.len();
                for (at, _) in chunk.iter().enumerate().filter(|(_, b)| **b == b'\n') {
                    left -= 1;
                    if left == 0 {
                        end = at + 1;
                        break;
                    }
                }
                end
            };
            if bytes {
                left -= take as u64;
            }
            io.out(chunk.get(..take).unwrap_or_default())?;
        }
        Ok(Ok(()))
    })
}
