//! `pwd`: the current directory inside the box, its bytes as they are (as
//! GNU `pwd` prints them).

use super::args::{self, Spec};
use super::{Command, Gone, Io};

/// `pwd`.
pub(super) const COMMANDS: &[Command] = &[Command {
    name: "pwd",
    synopsis: "",
    in_shell: true,
    run: pwd,
}];

fn pwd(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    const SPEC: Spec = Spec {
        name: "pwd",
        flags: "LP",
        valued: "",
        long: &[("logical", 'L'), ("physical", 'P')],
        usage_status: 1,
    };
    if let Err(status) = args::options(io, &SPEC, args)? {
        return Ok(status);
    }
    let mut line = io.cwd.as_bytes().to_vec();
    line.push(b'\n');
    io.out(&line)?;
    Ok(0)
}
