//! `du`, `df` and `quota`: how much of the box is used.
//!
//! `du` counts allocated 1 KiB blocks (from `st_blocks`) like GNU, or the
//! apparent bytes the quota counts with `-b`; a hard-linked file counts
//! once. Entries are visited in name order (GNU uses directory order). `df`
//! shows one filesystem, `sftpbox` mounted on `/`, whose size is the quota
//! (the real filesystem when there is none).

use std::collections::HashSet;

use super::args::{self, Parsed, Spec};
use super::{Gone, Io, MAX_DEPTH, reason, shown};
use crate::jail::VirtualPath;

/// The name `df` shows in its Filesystem column.
const FILESYSTEM_NAME: &str = "sftpbox";

/// `1023`, `4.0K`, `15M`: GNU's `-h`, powers of 1024 rounded up, one
/// decimal below 10.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 8] = ["K", "M", "G", "T", "P", "E", "Z", "Y"];
    if bytes < 1024 {
        return bytes.to_string();
    }
    let bytes = u128::from(bytes);
    let mut scale: u128 = 1024;
    for unit in UNITS {
        let tenths = (bytes * 10).div_ceil(scale);
        if tenths < 100 {
            return format!("{}.{}{unit}", tenths / 10, tenths % 10);
        }
        let whole = bytes.div_ceil(scale);
        if whole < 1024 {
            return format!("{whole}{unit}");
        }
        scale *= 1024;
    }
    bytes.to_string()
}

/// State of one `du` run.
struct Du<'a> {
    opts: &'a Parsed,
    seen: HashSet<(u64, u64)>,
    status: u32,
    max_depth: Option<usize>,
}

/// `du [-abchs] [-d N] [FILE]...`.
pub(crate) fn du(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
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
        Some(text) => match std::str::from_utf8(text).ok().and_then(|t| t.parse().ok()) {
            Some(depth) => Some(depth),
            None => {
                io.err("du", format!("invalid maximum depth '{}'", shown(text)))?;
                return Ok(1);
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
        let name = shown(operand);
        match io.resolve(operand) {
            Ok(path) => total = total.saturating_add(state.walk(io, &path, &name, 0)?),
            Err(err) => {
                io.err("du", format!("cannot access '{name}': {}", reason(&err)))?;
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
        name: &str,
        depth: usize,
    ) -> Result<u64, Gone> {
        io.check()?;
        let stat = match io.jail.lstat(path) {
            Ok(stat) => stat,
            Err(err) => {
                io.err("du", format!("cannot access '{name}': {}", reason(&err)))?;
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
                io.err(
                    "du",
                    format!("'{name}': directories nested too deep (limit {MAX_DEPTH})"),
                )?;
                self.status = 1;
            } else {
                match io.jail.read_dir(path) {
                    Ok(mut entries) => {
                        entries.sort_by(|a, b| a.name.cmp(&b.name));
                        for entry in entries {
                            let Ok(child) = path.join(&entry.name) else {
                                continue;
                            };
                            let child_name = if name.ends_with('/') {
                                format!("{name}{}", shown(&entry.name))
                            } else {
                                format!("{name}/{}", shown(&entry.name))
                            };
                            size = size.saturating_add(self.walk(
                                io,
                                &child,
                                &child_name,
                                depth + 1,
                            )?);
                        }
                    }
                    Err(err) => {
                        io.err(
                            "du",
                            format!("cannot read directory '{name}': {}", reason(&err)),
                        )?;
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
            io.out(format!("{}\t{name}\n", self.size_text(size)).as_bytes())?;
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

/// `df [-h] [FILE]...`: the box as one filesystem.
pub(crate) fn df(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
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
                io.err("df", format!("{}: {}", shown(operand), reason(&err)))?;
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

/// `quota`: used and allowed bytes in human units.
pub(crate) fn quota(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
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
    io.out(line.as_bytes())?;
    Ok(0)
}
