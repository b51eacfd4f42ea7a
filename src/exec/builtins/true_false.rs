//! `true` and `false`: nothing, successfully or not.

use super::Command;

/// `true` and `false`, for scripts only: the interactive shell does not
/// offer them.
pub(super) const COMMANDS: &[Command] = &[
    Command {
        name: "true",
        synopsis: "",
        in_shell: false,
        run: |_, _| Ok(0),
    },
    Command {
        name: "false",
        synopsis: "",
        in_shell: false,
        run: |_, _| Ok(1),
    },
];
