//! `ls`: listing the box, as GNU `ls` in the C locale with times in UTC.
//!
//! One name per line when stdout is not a terminal (always, for exec without
//! a pty), columns of an 80-column terminal otherwise. `-l` shows the
//! account name as owner and group, never host ids, and a `total` line in
//! 1 KiB blocks. Exit 2 when an operand cannot be reached, 1 for a
//! directory found unreadable during `-R`. `-R` stops at [`MAX_DEPTH`]
//! levels and never follows symlinks. Names are shown by
//! `listing::quoted_name` (GNU's `--quoting-style=shell-escape` for names
//! that are not printable UTF-8); messages quote them as GNU `ls` does.

use std::borrow::Cow;

use super::args::{self, Parsed, Spec};
use super::sizes::human;
use super::{Command, Gone, Io, MAX_DEPTH, reason};
use crate::jail::{Stat, VirtualPath};
use crate::listing::quoting::quote;
use crate::listing::{self, calendar};

/// `ls`.
pub(super) const COMMANDS: &[Command] = &[Command {
    name: "ls",
    synopsis: "[-1aAdhlrRSt] [FILE]...",
    in_shell: true,
    run: ls,
}];

/// Width of the terminal `ls` assumes for columns (the pty size is not
/// passed down).
const TERMINAL_COLUMNS: usize = 80;

const SPEC: Spec = Spec {
    name: "ls",
    flags: "1aAdhlrRStC",
    valued: "",
    long: &[
        ("all", 'a'),
        ("almost-all", 'A'),
        ("directory", 'd'),
        ("human-readable", 'h'),
        ("recursive", 'R'),
        ("reverse", 'r'),
    ],
    usage_status: 2,
};

/// One line of a listing.
struct Item {
    /// The name: the operand as typed, or the entry's stored bytes. Quoted
    /// only when printed.
    name: Vec<u8>,
    stat: Stat,
    path: VirtualPath,
}

/// `ls [-1aAdhlrRSt] [FILE]...`.
fn ls(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    let opts = match args::options(io, &SPEC, args)? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let mut status = 0;
    let operands = if opts.operands.is_empty() {
        vec![b".".to_vec()]
    } else {
        opts.operands.clone()
    };
    let follow = !(opts.has('l') || opts.has('d'));
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    for operand in &operands {
        let found = io.resolve(operand).and_then(|path| {
            let lstat = io.jail.lstat(&path)?;
            let stat = if follow && lstat.is_symlink() {
                io.jail.stat(&path).unwrap_or(lstat)
            } else {
                lstat
            };
            Ok((path, stat))
        });
        match found {
            Ok((path, stat)) => {
                let item = Item {
                    name: operand.clone(),
                    stat,
                    path,
                };
                if stat.is_dir() && !opts.has('d') {
                    dirs.push(item);
                } else {
                    files.push(item);
                }
            }
            Err(err) => {
                let text = format!("cannot access {}: {}", quote(operand), reason(&err));
                io.err("ls", text)?;
                status = 2;
            }
        }
    }
    sort(&mut files, &opts);
    sort(&mut dirs, &opts);
    let mut printed = !files.is_empty();
    if printed {
        show(io, &files, &opts)?;
    }
    let headers = operands.len() > 1 || opts.has('R');
    for dir in dirs {
        let header = headers.then_some(dir.name.as_slice());
        let outcome = list_dir(io, &dir.path, &dir.name, header, printed, &opts, 0)?;
        if outcome != 0 {
            // An unreadable operand is serious (2); deeper trouble is minor.
            status = status.max(if outcome == 2 { 2 } else { 1 });
        }
        printed = true;
    }
    Ok(status)
}

/// Lists one directory (and, with `-R`, those below it). Returns 0, or 2
/// when this directory could not be read, 1 when a deeper one could not.
fn list_dir(
    io: &mut Io,
    path: &VirtualPath,
    name: &[u8],
    header: Option<&[u8]>,
    blank_before: bool,
    opts: &Parsed,
    depth: usize,
) -> Result<u32, Gone> {
    io.check()?;
    if blank_before {
        io.out(b"\n")?;
    }
    if let Some(header) = header {
        io.out(format!("{}:\n", listing::quoted_name(header)).as_bytes())?;
    }
    let entries = match io.jail.read_dir(path) {
        Ok(entries) => entries,
        Err(err) => {
            let text = format!("cannot open directory {}: {}", quote(name), reason(&err));
            io.err("ls", text)?;
            return Ok(2);
        }
    };
    let mut items = Vec::with_capacity(entries.len() + 2);
    if opts.has('a') {
        for (dot, target) in [(".", Some(path.clone())), ("..", path.parent())] {
            let target = target.unwrap_or_else(VirtualPath::root);
            if let Ok(stat) = io.jail.stat(&target) {
                items.push(Item {
                    name: dot.as_bytes().to_vec(),
                    stat,
                    path: target,
                });
            }
        }
    }
    let show_hidden = opts.has('a') || opts.has('A');
    for entry in entries {
        if entry.name.first() == Some(&b'.') && !show_hidden {
            continue;
        }
        if let Ok(entry_path) = path.join(&entry.name) {
            items.push(Item {
                name: entry.name,
                stat: entry.stat,
                path: entry_path,
            });
        }
    }
    sort(&mut items, opts);
    if opts.has('l') {
        let blocks: u64 = items.iter().map(|item| item.stat.blocks).sum();
        let total = if opts.has('h') {
            human(blocks.saturating_mul(512))
        } else {
            blocks.div_ceil(2).to_string()
        };
        io.out(format!("total {total}\n").as_bytes())?;
    }
    show(io, &items, opts)?;
    let mut status = 0;
    if !opts.has('R') {
        return Ok(status);
    }
    for item in &items {
        if !item.stat.is_dir() || item.name == b"." || item.name == b".." {
            continue;
        }
        let mut below = name.to_vec();
        if !below.ends_with(b"/") {
            below.push(b'/');
        }
        below.extend_from_slice(&item.name);
        if depth + 1 >= MAX_DEPTH {
            let text = format!(
                "{}: directories nested too deep (limit {MAX_DEPTH})",
                quote(&below)
            );
            io.err("ls", text)?;
            status = 1;
            continue;
        }
        if list_dir(io, &item.path, &below, Some(&below), true, opts, depth + 1)? != 0 {
            status = 1;
        }
    }
    Ok(status)
}

/// Sorts by name (bytewise), or by time (`-t`) or size (`-S`), newest or
/// largest first; `-r` reverses.
fn sort(items: &mut [Item], opts: &Parsed) {
    match opts.last_of("tS") {
        Some('t') => {
            items.sort_by(|a, b| b.stat.mtime.cmp(&a.stat.mtime).then(a.name.cmp(&b.name)))
        }
        Some(_) => items.sort_by(|a, b| b.stat.size.cmp(&a.stat.size).then(a.name.cmp(&b.name))),
        None => items.sort_by(|a, b| a.name.cmp(&b.name)),
    }
    if opts.has('r') {
        items.reverse();
    }
}

/// Prints a block of items in the chosen format.
fn show(io: &mut Io, items: &[Item], opts: &Parsed) -> Result<(), Gone> {
    if opts.has('l') {
        return long(io, items, opts);
    }
    if !io.is_terminal || opts.last_of("1C") == Some('1') {
        for item in items {
            io.out(listing::quoted_name(&item.name).as_bytes())?;
            io.out(b"\n")?;
        }
        return Ok(());
    }
    let shown = aligned_names(items);
    let names: Vec<&str> = shown.iter().map(String::as_str).collect();
    io.out(columns(&names, TERMINAL_COLUMNS).as_bytes())
}

/// The names of a block as columns and `-l` show them: when any of them
/// is quoted, the others get a leading space so that the names line up
/// past the opening quote, as GNU `ls` does (one per line, it does not).
fn aligned_names(items: &[Item]) -> Vec<String> {
    let shown: Vec<Cow<'_, str>> = items
        .iter()
        .map(|item| listing::quoted_name(&item.name))
        .collect();
    let some_quoted = shown.iter().any(|name| matches!(name, Cow::Owned(_)));
    shown
        .into_iter()
        .map(|name| match name {
            Cow::Borrowed(plain) if some_quoted => format!(" {plain}"),
            name => name.into_owned(),
        })
        .collect()
}

/// GNU's vertical column layout: as many columns as fit in `width`.
pub(crate) fn columns(names: &[&str], width: usize) -> String {
    let lens: Vec<usize> = names.iter().map(|name| name.chars().count()).collect();
    let count = names.len();
    let mut layout = (1usize, vec![0usize]);
    for cols in (1..=count.min(width / 3).max(1)).rev() {
        let rows = count.div_ceil(cols);
        let mut widths = vec![0usize; cols];
        for (index, len) in lens.iter().enumerate() {
            if let Some(w) = widths.get_mut(index / rows) {
                *w = (*w).max(*len);
            }
        }
        let used = widths.len().saturating_sub(1) * 2 + widths.iter().sum::<usize>();
        if used <= width || cols == 1 {
            layout = (rows, widths);
            break;
        }
    }
    let (rows, widths) = layout;
    let mut out = String::new();
    for row in 0..rows.max(1) {
        let mut col = 0;
        while let Some(name) = names.get(col * rows + row) {
            let next_exists = names.get((col + 1) * rows + row).is_some();
            out.push_str(name);
            if next_exists {
                let pad = widths.get(col).copied().unwrap_or(0) + 2;
                out.push_str(&" ".repeat(pad.saturating_sub(name.chars().count())));
            }
            col += 1;
        }
        if count > 0 {
            out.push('\n');
        }
    }
    out
}

/// `-l`: one line per item, columns aligned across the block.
fn long(io: &mut Io, items: &[Item], opts: &Parsed) -> Result<(), Gone> {
    let now = calendar::now();
    let size_of = |item: &Item| {
        if opts.has('h') {
            human(item.stat.size)
        } else {
            item.stat.size.to_string()
        }
    };
    let link_width = items
        .iter()
        .map(|i| i.stat.nlink.to_string().len())
        .max()
        .unwrap_or(1);
    let size_width = items.iter().map(|i| size_of(i).len()).max().unwrap_or(1);
    for (item, name) in items.iter().zip(aligned_names(items)) {
        io.check()?;
        let mut line = format!(
            "{} {:>link_width$} {owner} {owner} {:>size_width$} {} {}",
            listing::mode_string(item.stat.mode),
            item.stat.nlink,
            size_of(item),
            listing::date_column(item.stat.mtime, now),
            name,
            owner = io.account,
        );
        if item.stat.is_symlink()
            && let Ok(target) = io.jail.read_link(&item.path)
        {
            line.push_str(" -> ");
            line.push_str(&listing::quoted_name(&target));
        }
        line.push('\n');
        io.out(line.as_bytes())?;
    }
    Ok(())
}
