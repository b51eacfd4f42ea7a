//! The `sftpbox` binary: parses the command line and hands over to [`sftpbox::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    sftpbox::cli::main()
}
