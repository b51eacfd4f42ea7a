//! `cp`: copying inside the box through `Jail::open_file` and
//! `JailFile::write_at`, so every byte written is charged to the quota and
//! a copy stops with `quota exceeded` when the quota is reached.
//!
//! `-r`/`-R` copy symlinks as symlinks (GNU's default `-P` with `-R`) and
//! stop at [`MAX_DEPTH`] levels; `-p` keeps mode and times; `-a` is `-rp`.
//! Copies keep the stored bytes of every name; messages and `-v` lines
//! quote them as GNU does.

use super::args::{self, Parsed, Spec};
use super::operands::{below, is_within, targets};
use super::{Command, Gone, Io, MAX_DEPTH, OUTPUT_CHUNK_BYTES, reason};
use crate::jail::{JailError, OpenOptions, SetAttrs, Stat, VirtualPath};
use crate::listing::quoting::quote;

/// `cp`.
pub(super) const COMMANDS: &[Command] = &[Command {
    name: "cp",
    synopsis: "[-afnprv] SOURCE... DEST",
    in_shell: true,
    run: cp,
}];

/// A path and how it was named: the operand as typed, or below it.
type Named<'a> = (&'a VirtualPath, &'a [u8]);

/// Options of one `cp` run.
struct Cp {
    recursive: bool,
    preserve: bool,
    no_clobber: bool,
    verbose: bool,
}

/// `cp [-afnprRvT] SOURCE... DEST`.
fn cp(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    const SPEC: Spec = Spec {
        name: "cp",
        flags: "afinprRvTdP",
        valued: "",
        long: &[
            ("archive", 'a'),
            ("force", 'f'),
            ("no-clobber", 'n'),
            ("recursive", 'r'),
            ("verbose", 'v'),
            ("no-target-directory", 'T'),
            ("no-dereference", 'P'),
        ],
        usage_status: 1,
    };
    let opts: Parsed = match args::options(io, &SPEC, args)? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let cp = Cp {
        recursive: opts.has('r') || opts.has('R') || opts.has('a'),
        preserve: opts.has('p') || opts.has('a'),
        no_clobber: opts.last_of("fin") == Some('n'),
        verbose: opts.has('v'),
    };
    let Some(pairs) = targets(io, "cp", &opts.operands, opts.has('T'))? else {
        return Ok(1);
    };
    let mut status = 0;
    for (source, target) in pairs {
        let (src_name, dst_name) = (quote(&source), quote(&target));
        let (src, dst) = match (io.resolve(&source), io.resolve(&target)) {
            (Ok(src), Ok(dst)) => (src, dst),
            (Err(err), _) | (_, Err(err)) => {
                io.err("cp", format!("cannot stat {src_name}: {}", reason(&err)))?;
                status = 1;
                continue;
            }
        };
        let found = if cp.recursive {
            io.jail.lstat(&src)
        } else {
            io.jail.stat(&src)
        };
        let stat = match found {
            Ok(stat) => stat,
            Err(err) => {
                io.err("cp", format!("cannot stat {src_name}: {}", reason(&err)))?;
                status = 1;
                continue;
            }
        };
        if let Ok(existing) = io.jail.stat(&dst)
            && (existing.dev, existing.ino) == (stat.dev, stat.ino)
        {
            io.err("cp", format!("{src_name} and {dst_name} are the same file"))?;
            status = 1;
            continue;
        }
        if stat.is_dir() && !cp.recursive {
            io.err(
                "cp",
                format!("-r not specified; omitting directory {src_name}"),
            )?;
            status = 1;
            continue;
        }
        if stat.is_dir() && is_within(&dst, &src) {
            io.err(
                "cp",
                format!("cannot copy a directory, {src_name}, into itself, {dst_name}"),
            )?;
            status = 1;
            continue;
        }
        if !cp.copy(io, (&src, &source), (&dst, &target), &stat, 0)? {
            status = 1;
        }
    }
    Ok(status)
}

impl Cp {
    /// Copies one entry; false when anything failed (already reported).
    fn copy(
        &self,
        io: &mut Io,
        (src, src_name): Named<'_>,
        (dst, dst_name): Named<'_>,
        stat: &Stat,
        depth: usize,
    ) -> Result<bool, Gone> {
        io.check()?;
        let exists = io.jail.lstat(dst).ok();
        if self.no_clobber && exists.is_some() {
            return Ok(true);
        }
        let ok = if stat.is_symlink() {
            let made = io
                .jail
                .read_link(src)
                .and_then(|target| io.jail.symlink(&target, dst));
            match made {
                Ok(()) => true,
                Err(err) => {
                    let text = format!(
                        "cannot create symbolic link {}: {}",
                        quote(dst_name),
                        reason(&err)
                    );
                    io.err("cp", text)?;
                    false
                }
            }
        } else if stat.is_dir() {
            self.copy_dir(
                io,
                (src, src_name),
                (dst, dst_name),
                stat,
                exists.as_ref(),
                depth,
            )?
        } else {
            self.copy_file(io, (src, src_name), (dst, dst_name), stat)?
        };
        // A directory says so when it is made, before what it holds.
        if ok && self.verbose && !stat.is_dir() {
            self.say_copied(io, src_name, dst_name)?;
        }
        Ok(ok)
    }

    /// `-v`'s `'SOURCE' -> 'TARGET'`.
    fn say_copied(&self, io: &mut Io, src_name: &[u8], dst_name: &[u8]) -> Result<(), Gone> {
        let line = format!("{} -> {}\n", quote(src_name), quote(dst_name));
        io.out(line.as_bytes())
    }

    fn copy_dir(
        &self,
        io: &mut Io,
        (src, src_name): Named<'_>,
        (dst, dst_name): Named<'_>,
        stat: &Stat,
        exists: Option<&Stat>,
        depth: usize,
    ) -> Result<bool, Gone> {
        if depth + 1 >= MAX_DEPTH {
            let text = format!(
                "{}: directories nested too deep (limit {MAX_DEPTH})",
                quote(src_name)
            );
            io.err("cp", text)?;
            return Ok(false);
        }
        match exists {
            Some(existing) if !existing.is_dir() => {
                let text = format!(
                    "cannot overwrite non-directory {} with directory {}",
                    quote(dst_name),
                    quote(src_name)
                );
                io.err("cp", text)?;
                return Ok(false);
            }
            Some(_) => {}
            None => {
                // Owner rwx while filling it; the real mode is set after.
                if let Err(err) = io.jail.create_dir(dst, (stat.mode & 0o777) | 0o700) {
                    let text = format!(
                        "cannot create directory {}: {}",
                        quote(dst_name),
                        reason(&err)
                    );
                    io.err("cp", text)?;
                    return Ok(false);
                }
                if self.verbose {
                    self.say_copied(io, src_name, dst_name)?;
                }
            }
        }
        let entries = match io.jail.read_dir(src) {
            Ok(entries) => entries,
            Err(err) => {
                let text = format!("cannot access {}: {}", quote(src_name), reason(&err));
                io.err("cp", text)?;
                return Ok(false);
            }
        };
        let mut ok = true;
        for entry in entries {
            let (Ok(from), Ok(to)) = (src.join(&entry.name), dst.join(&entry.name)) else {
                continue;
            };
            let from_name = below(src_name, &entry.name);
            let to_name = below(dst_name, &entry.name);
            ok &= self.copy(
                io,
                (&from, &from_name),
                (&to, &to_name),
                &entry.stat,
                depth + 1,
            )?;
        }
        if exists.is_none() || self.preserve {
            self.set_attributes(io, dst, dst_name, stat)?;
        }
        Ok(ok)
    }

    fn copy_file(
        &self,
        io: &mut Io,
        (src, src_name): Named<'_>,
        (dst, dst_name): Named<'_>,
        stat: &Stat,
    ) -> Result<bool, Gone> {
        let input = match io.jail.open_file(src, &OpenOptions::default()) {
            Ok(file) => file,
            Err(err) => {
                let text = format!(
                    "cannot open {} for reading: {}",
                    quote(src_name),
                    reason(&err)
                );
                io.err("cp", text)?;
                return Ok(false);
            }
        };
        let create = OpenOptions {
            read: false,
            write: true,
            create: true,
            truncate: true,
            mode: stat.mode & 0o777,
            ..OpenOptions::default()
        };
        let output = match io.jail.open_file(dst, &create) {
            Ok(file) => file,
            Err(JailError::IsADirectory) => {
                let text = format!(
                    "cannot overwrite directory {} with non-directory",
                    quote(dst_name)
                );
                io.err("cp", text)?;
                return Ok(false);
            }
            Err(err) => {
                let text = format!(
                    "cannot create regular file {}: {}",
                    quote(dst_name),
                    reason(&err)
                );
                io.err("cp", text)?;
                return Ok(false);
            }
        };
        let mut buf = vec![0u8; OUTPUT_CHUNK_BYTES];
        let mut offset = 0u64;
        loop {
            io.check()?;
            let read = match input.read_at(&mut buf, offset) {
                Ok(0) => break,
                Ok(read) => read,
                Err(err) => {
                    let text = format!("error reading {}: {}", quote(src_name), reason(&err));
                    io.err("cp", text)?;
                    return Ok(false);
                }
            };
            if let Err(err) = output.write_at(buf.get(..read).unwrap_or_default(), offset) {
                let text = format!("error writing {}: {}", quote(dst_name), reason(&err));
                io.err("cp", text)?;
                return Ok(false);
            }
            offset += read as u64;
        }
        if let Err(err) = output.close() {
            let text = format!("error writing {}: {}", quote(dst_name), reason(&err));
            io.err("cp", text)?;
            return Ok(false);
        }
        if self.preserve {
            self.set_attributes(io, dst, dst_name, stat)?;
        }
        Ok(true)
    }

    /// The source's mode (and with `-p` its times) on the copy.
    fn set_attributes(
        &self,
        io: &mut Io,
        dst: &VirtualPath,
        dst_name: &[u8],
        stat: &Stat,
    ) -> Result<(), Gone> {
        let attrs = SetAttrs {
            mode: Some(stat.mode & 0o777),
            atime: self.preserve.then_some(stat.atime),
            mtime: self.preserve.then_some(stat.mtime),
            size: None,
        };
        if let Err(err) = io.jail.set_attrs(dst, &attrs, true) {
            let text = format!(
                "preserving permissions for {}: {}",
                quote(dst_name),
                reason(&err)
            );
            io.err("cp", text)?;
        }
        Ok(())
    }
}
