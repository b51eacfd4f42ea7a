//! `df` and `quota`: how much room the box has.
//!
//! `df` shows one filesystem, `sftpbox` mounted on `/`, whose size is the
//! quota (the real filesystem when there is none); `quota` says the same
//! in one line, and the files in a second under `max_files`.

use super::args::{self, Spec};
use super::sizes::human;
use super::{Command, Gone, Io, reason};
use crate::listing::quoting::quote_if_needed;

/// The name `df` shows in its Filesystem column.
const FILESYSTEM_NAME: &str = "sftpbox";

/// `df` and `quota`.
pub(super) const COMMANDS: &[Command] = &[
    Command {
        name: "df",
        synopsis: "[-h]",
        in_shell: true,
        run: df,
    },
    Command {
        name: "quota",
        synopsis: "",
        in_shell: true,
        run: quota,
    },
];

/// `df [-h] [FILE]...`: the box as one filesystem.
fn df(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    const SPEC: Spec = Spec {
        name: "df",
        flags: "hkPa",
        valued: "",
        long: &[("human-readable", 'h'), ("all", 'a'), ("portability", 'P')],
        usage_status: 1,
    };
    let opts = match args::options(io, &SPEC, args)? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let mut status = 0;
    let mut rows = 0usize;
    for operand in &opts.operands {
        match io.resolve(operand).and_then(|path| io.jail.stat(&path)) {
            Ok(_) => rows += 1,
            Err(err) => {
                let text = format!("{}: {}", quote_if_needed(operand), reason(&err));
                io.err("df", text)?;
                status = 1;
            }
        }
    }
    if opts.operands.is_empty() {
        rows = 1;
    }
    if rows == 0 {
        return Ok(status);
    }
    let stats = match io.jail.fs_stats() {
        Ok(stats) => stats,
        Err(err) => {
            io.err("df", format!("/: {}", reason(&err)))?;
            return Ok(1);
        }
    };
    let bs = stats.block_size;
    let total = stats.blocks.saturating_mul(bs);
    let used = stats
        .blocks
        .saturating_sub(stats.blocks_free)
        .saturating_mul(bs);
    let avail = stats.blocks_avail.saturating_mul(bs);
    let human_sizes = opts.has('h');
    let text = |bytes: u64| {
        if human_sizes {
            human(bytes)
        } else {
            bytes.div_ceil(1024).to_string()
        }
    };
    let percent = match used.checked_add(avail) {
        Some(0) | None => String::from("-"),
        Some(sum) => format!("{}%", (u128::from(used) * 100).div_ceil(u128::from(sum))),
    };
    let headers = if human_sizes {
        ["Size", "Used", "Avail", "Use%"]
    } else {
        ["1K-blocks", "Used", "Available", "Use%"]
    };
    let values = [text(total), text(used), text(avail), percent];
    // GNU gives human-readable sizes at least five columns.
    let min = if human_sizes { 5 } else { 0 };
    let widths: Vec<usize> = headers
        .iter()
        .zip(&values)
        .enumerate()
        .map(|(index, (h, v))| h.len().max(v.len()).max(if index < 3 { min } else { 0 }))
        .collect();
    let mut out = format!("{:<14}", "Filesystem");
    let mut row = format!("{FILESYSTEM_NAME:<14}");
    for ((header, value), width) in headers.iter().zip(&values).zip(&widths) {
        out.push_str(&format!(" {header:>width$}"));
        row.push_str(&format!(" {value:>width$}"));
    }
    out.push_str(" Mounted on\n");
    row.push_str(" /\n");
    for _ in 0..rows {
        out.push_str(&row);
    }
    io.out(out.as_bytes())?;
    Ok(status)
}

/// `quota`: used and allowed bytes in human units, and files when the
/// account has `max_files`.
fn quota(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    const SPEC: Spec = Spec {
        name: "quota",
        flags: "s",
        valued: "",
        long: &[],
        usage_status: 1,
    };
    if let Err(status) = args::options(io, &SPEC, args)? {
        return Ok(status);
    }
    let quota = io.jail.quota();
    let used = quota.used_bytes();
    let bytes = |n: u64| if n < 1024 { format!("{n}B") } else { human(n) };
    let line = match quota.limit_bytes() {
        Some(limit) => {
            let percent = if limit == 0 {
                100
            } else {
                (u128::from(used) * 100).div_ceil(u128::from(limit))
            };
            format!(
                "{}: {} used of {} ({percent}%), {} available\n",
                io.account,
                bytes(used),
                bytes(limit),
                bytes(limit.saturating_sub(used)),
            )
        }
        None => format!("{}: {} used, no limit\n", io.account, bytes(used)),
    };
    let files = quota.max_files().map(|max_files| {
        let files = quota.used_files();
        format!(
            "{}: {files} of {max_files} files, {} available\n",
            io.account,
            max_files.saturating_sub(files)
        )
    });
    io.out(line.as_bytes())?;
    if let Some(line) = files {
        io.out(line.as_bytes())?;
    }
    Ok(0)
}
