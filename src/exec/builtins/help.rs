//! `help`: what this server offers, read from the registry, so a new
//! command shows up here by itself.

use super::{Builtin, Command, Gone, Io, commands};

/// `help`.
pub(super) const COMMANDS: &[Command] = &[Command {
    name: "help",
    synopsis: "",
    in_shell: true,
    run: help,
}];

fn help(io: &mut Io, _args: &[Vec<u8>]) -> Result<u32, Gone> {
    let mut text = String::from(
        "sftpbox: commands run inside your box; / is your home.\n\
         File transfers use sftp or scp (e.g. `sftp USER@HOST`, `scp FILE USER@HOST:`).\n\
         Built-in commands:\n",
    );
    for command in commands() {
        let builtin = Builtin(command);
        if io.is_terminal && !builtin.is_in_shell() {
            continue;
        }
        text.push_str(&format!("  {} {}\n", builtin.name(), builtin.synopsis()));
    }
    if io.is_terminal {
        text.push_str("  cd [DIR]\n  exit, quit, logout\n");
    } else {
        text.push_str("Pipes, redirections and other shell syntax are not supported.\n");
    }
    io.out(text.as_bytes())?;
    Ok(0)
}
