//! The host's own files, which no client may see: checks that output and
//! stored bytes hold none of them.

use std::process::Output;

use super::process::{describe, text};

/// The non-empty lines of the host's /etc/passwd, which no client may see.
pub fn host_passwd_lines() -> Vec<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let lines: Vec<String> = passwd
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    assert!(!lines.is_empty());
    lines
}

/// Asserts that no line of the host's /etc/passwd occurs in `seen` (output
/// or file content); `what` names where it came from.
pub fn assert_no_host_passwd_in(seen: &[u8], what: &str) {
    let seen = text(seen);
    for line in host_passwd_lines() {
        assert!(
            !seen.contains(&line),
            "{what} shows the host's /etc/passwd line {line:?}:\n{seen}"
        );
    }
}

/// Asserts that neither stdout nor stderr of a command shows a line of the
/// host's /etc/passwd; `what` names the command.
pub fn assert_no_host_passwd(output: &Output, what: &str) {
    assert_no_host_passwd_in(describe(output).as_bytes(), &format!("`{what}`"));
}
