//! `du`: how much of the box a tree uses.
//!
//! Counts allocated 1 KiB blocks (from `st_blocks`) like GNU, or the
//! apparent bytes the quota counts with `-b`; a hard-linked file counts
//! once. Entries are visited in name order (GNU uses directory order).
//! Names are written raw, as GNU writes them; messages quote them.
//! Recursion stops at [`MAX_DEPTH`] levels.

use std::collections::HashSet;

use super::args::{self, Parsed, Spec};
use super::operands::joined;
use super::sizes::human;
use super::{Command, Gone, Io, MAX_DEPTH, reason};
use crate::jail::VirtualPath;
use crate::listing::quoting::{quote, quote_value};

/// `du`.
pub(super) const COMMANDS: &[Command] = &[Command {
    name: "du",
    synopsis: "[-abchs] [-d DEPTH] [FILE]...",
    in_shell: true,
    run: du,
}];

/// State of one `du` run.
struct Du<'a> {
    opts: &'a Parsed,
    seen: HashSet<(u64, u64)>,
    status: u32,
    max_depth: Option<usize>,
}

/// `du [-abchs] [-d N] [FILE]...`.
fn du(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    const SPEC: Spec = Spec {
        name: "du",
        flags: "abchsk",
        valued: "d",
        long: &[
            ("all", 'a'),
            ("apparent-size", 'A'),
            ("bytes", 'b'),
            ("human-readable", 'h'),
            ("max-depth", 'd'),
            ("summarize", 's'),
            ("total", 'c'),
        ],
        usage_status: 1,
    };
    let opts = match args::options(io, &SPEC, args)? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let max_depth = match opts.value('d') {
        None => None,
        Some(text) => match depth(text) {
            Some(depth) => Some(depth),
            None => {
                return io.usage(
                    "du",
                    format!("invalid maximum depth {}", quote_value(text)),
                    1,
                );
            }
        },
    };
    let operands = if opts.operands.is_empty() {
        vec![b".".to_vec()]
    } else {
        opts.operands.clone()
    };
    let mut state = Du {
        opts: &opts,
        seen: HashSet::new(),
        status: 0,
        max_depth,
    };
    let mut total = 0u64;
    for operand in &operands {
        match io.resolve(operand) {
            Ok(path) => total = total.saturating_add(state.walk(io, &path, operand, 0)?),
            Err(err) => {
                let text = format!("cannot access {}: {}", quote(operand), reason(&err));
                io.err("du", text)?;
                state.status = 1;
            }
        }
    }
    if opts.has('c') {
        let line = format!("{}\ttotal\n", state.size_text(total));
        io.out(line.as_bytes())?;
    }
    Ok(state.status)
}

impl Du<'_> {
    /// Bytes under `path`, printing lines as GNU du does (children first).
    fn walk(
        &mut self,
        io: &mut Io,
        path: &VirtualPath,
        name: &[u8],
        depth: usize,
    ) -> Result<u64, Gone> {
        io.check()?;
        let stat = match io.jail.lstat(path) {
            Ok(stat) => stat,
            Err(err) => {
                let text = format!("cannot access {}: {}", quote(name), reason(&err));
                io.err("du", text)?;
                self.status = 1;
                return Ok(0);
            }
        };
        if !stat.is_dir() && stat.nlink > 1 && !self.seen.insert((stat.dev, stat.ino)) {
            return Ok(0);
        }
        let mut size = if self.opts.has('b') || self.opts.has('A') {
            stat.size
        } else {
            stat.blocks.saturating_mul(512)
        };
        if stat.is_dir() {
            if depth + 1 >= MAX_DEPTH {
                let text = format!(
                    "{}: directories nested too deep (limit {MAX_DEPTH})",
                    quote(name)
                );
                io.err("du", text)?;
                self.status = 1;
            } else {
                match io.jail.read_dir(path) {
                    Ok(mut entries) => {
                        entries.sort_by(|a, b| a.name.cmp(&b.name));
                        for entry in entries {
                            let Ok(child) = path.join(&entry.name) else {
                                continue;
                            };
                            let child_name = joined(name, &entry.name);
                            size = size.saturating_add(self.walk(
                                io,
                                &child,
                                &child_name,
                                depth + 1,
                            )?);
                        }
                    }
                    Err(err) => {
                        let text =
                            format!("cannot read directory {}: {}", quote(name), reason(&err));
                        io.err("du", text)?;
                        self.status = 1;
                    }
                }
            }
        }
        let within = self.max_depth.is_none_or(|max| depth <= max);
        let shown_here = if self.opts.has('s') {
            depth == 0
        } else {
            depth == 0 || (within && (stat.is_dir() || self.opts.has('a')))
        };
        if shown_here {
            let size = self.size_text(size);
            io.out(&[size.as_bytes(), b"\t", name, b"\n"].concat())?;
        }
        Ok(size)
    }

    fn size_text(&self, bytes: u64) -> String {
        if self.opts.has('h') {
            human(bytes)
        } else if self.opts.has('b') {
            bytes.to_string()
        } else {
            bytes.div_ceil(1024).to_string()
        }
    }
}

/// A `-d` depth: digits only.
fn depth(text: &[u8]) -> Option<usize> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    text.iter().try_fold(0usize, |n, &digit| {
        n.checked_mul(10)?.checked_add(usize::from(digit - b'0'))
    })
}
