//! `cat`: files of the box or stdin to stdout, streamed in chunks.

use super::args::{self, Spec};
use super::input::Input;
use super::{Command, Gone, Io, reason};
use crate::listing::quoting::quote_if_needed;

/// `cat`.
pub(super) const COMMANDS: &[Command] = &[Command {
    name: "cat",
    synopsis: "[FILE]...",
    in_shell: true,
    run: cat,
}];

/// `cat [FILE]...`: no operand or `-` copies stdin.
fn cat(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    const SPEC: Spec = Spec {
        name: "cat",
        flags: "u",
        valued: "",
        long: &[],
        usage_status: 1,
    };
    let opts = match args::options(io, &SPEC, args)? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let operands = if opts.operands.is_empty() {
        vec![b"-".to_vec()]
    } else {
        opts.operands
    };
    let mut status = 0;
    for operand in &operands {
        let failure = |err| format!("{}: {}", quote_if_needed(operand), reason(&err));
        let mut input = match Input::open(io, operand) {
            Ok(input) => input,
            Err(err) => {
                io.err("cat", failure(err))?;
                status = 1;
                continue;
            }
        };
        loop {
            match input.next(io)? {
                Ok(chunk) if chunk.is_empty() => break,
                Ok(chunk) => io.out(&chunk)?,
                Err(err) => {
                    io.err("cat", failure(err))?;
                    status = 1;
                    break;
                }
            }
        }
    }
    Ok(status)
}
