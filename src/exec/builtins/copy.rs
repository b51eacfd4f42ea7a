//! `cp`: copying inside the box through `Jail::open_file` and
//! `JailFile::write_at`, so every byte written is charged to the quota and
//! a copy stops with `quota exceeded` when the quota is reached.
//!
//! `-r`/`-R` copy symlinks as symlinks (GNU's default `-P` with `-R`) and
//! stop at [`MAX_DEPTH`] levels; `-p` keeps mode and times; `-a` is `-rp`.

use super::args::{self, Parsed, Spec};
use super::rename::{is_within, targets};
use super::{Gone, Io, MAX_DEPTH, OUTPUT_CHUNK_BYTES, reason, shown};
use crate::jail::{JailError, OpenOptions, SetAttrs, Stat, VirtualPath};

/// Options of one `cp` run.
struct Cp {
    recursive: bool,
    preserve: bool,
    no_clobber: bool,
    verbose: bool,
}

/// `cp [-afnprRvT] SOURCE... DEST`.
pub(crate) fn cp(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
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
        let (src_name, dst_name) = (shown(&source), shown(&target));
        let (src, dst) = match (io.resolve(&source), io.resolve(&target)) {
            (Ok(src), Ok(dst)) => (src, dst),
            (Err(err), _) | (_, Err(err)) => {
                io.err("cp", format!("cannot stat '{src_name}': {}", reason(&err)))?;
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
                io.err("cp", format!("cannot stat '{src_name}': {}", reason(&err)))?;
                status = 1;
                continue;
            }
        };
        if let Ok(existing) = io.jail.stat(&dst)
            && (existing.dev, existing.ino) == (stat.dev, stat.ino)
        {
            io.err(
                "cp",
                format!("'{src_name}' and '{dst_name}' are the same file"),
            )?;
            status = 1;
            continue;
        }
        if stat.is_dir() && !cp.recursive {
            io.err(
                "cp",
                format!("-r not specified; omitting directory '{src_name}'"),
            )?;
            status = 1;
            continue;
        }
        if stat.is_dir() && is_within(&dst, &src) {
            io.err(
                "cp",
                format!("cannot copy a directory, '{src_name}', into itself, '{dst_name}'"),
            )?;
            status = 1;
            continue;
        }
        if !cp.copy(io, (&src, &src_name), (&dst, &dst_name), &stat, 0)? {
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
        (src, src_name): (&VirtualPath, &str),
        (dst, dst_name): (&VirtualPath, &str),
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
                    io.err(
                        "cp",
                        format!("cannot create symbolic link '{dst_name}': {}", reason(&err)),
                    )?;
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
        if ok && self.verbose {
            io.out(format!("'{src_name}' -> '{dst_name}'\n").as_bytes())?;
        }
        Ok(ok)
    }

    fn copy_dir(
        &self,
        io: &mut Io,
        (src, src_name): (&VirtualPath, &str),
        (dst, dst_name): (&VirtualPath, &str),
        stat: &Stat,
        exists: Option<&Stat>,
        depth: usize,
    ) -> Result<bool, Gone> {
        if depth + 1 >= MAX_DEPTH {
            io.err(
                "cp",
                format!("'{src_name}': directories nested too deep (limit {MAX_DEPTH})"),
            )?;
            return Ok(false);
        }
        match exists {
            Some(existing) if !existing.is_dir() => {
                let text = format!(
                    "cannot overwrite non-directory '{dst_name}' with directory '{src_name}'"
                );
                io.err("cp", text)?;
                return Ok(false);
            }
            Some(_) => {}
            None => {
                // Owner rwx while filling it; the real mode is set after.
                if let Err(err) = io.jail.create_dir(dst, (stat.mode & 0o777) | 0o700) {
                    io.err(
                        "cp",
                        format!("cannot create directory '{dst_name}': {}", reason(&err)),
                    )?;
                    return Ok(false);
                }
            }
        }
        let entries = match io.jail.read_dir(src) {
            Ok(entries) => entries,
            Err(err) => {
                io.err(
                    "cp",
                    format!("cannot access '{src_name}': {}", reason(&err)),
                )?;
                return Ok(false);
            }
        };
        let mut ok = true;
        for entry in entries {
            let (Ok(from), Ok(to)) = (src.join(&entry.name), dst.join(&entry.name)) else {
                continue;
            };
            let shown_name = super::shown(&entry.name);
            let from_name = format!("{}/{shown_name}", src_name.trim_end_matches('/'));
            let to_name = format!("{}/{shown_name}", dst_name.trim_end_matches('/'));
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
        (src, src_name): (&VirtualPath, &str),
        (dst, dst_name): (&VirtualPath, &str),
        stat: &Stat,
    ) -> Result<bool, Gone> {
        let input = match io.jail.open_file(src, &OpenOptions::default()) {
            Ok(file) => file,
            Err(err) => {
                io.err(
                    "cp",
                    format!("cannot open '{src_name}' for reading: {}", reason(&err)),
                )?;
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
                io.err(
                    "cp",
                    format!("cannot overwrite directory '{dst_name}' with non-directory"),
                )?;
                return Ok(false);
            }
            Err(err) => {
                io.err(
                    "cp",
                    format!("cannot create regular file '{dst_name}': {}", reason(&err)),
                )?;
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
                    io.err(
                        "cp",
                        format!("error reading '{src_name}': {}", reason(&err)),
                    )?;
                    return Ok(false);
                }
            };
            if let Err(err) = output.write_at(buf.get(..read).unwrap_or_default(), offset) {
                io.err(
                    "cp",
                    format!("error writing '{dst_name}': {}", reason(&err)),
                )?;
                return Ok(false);
            }
            offset += read as u64;
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
        dst_name: &str,
        stat: &Stat,
    ) -> Result<(), Gone> {
        let attrs = SetAttrs {
            mode: Some(stat.mode & 0o777),
            atime: self.preserve.then_some(stat.atime),
            mtime: self.preserve.then_some(stat.mtime),
            size: None,
        };
        if let Err(err) = io.jail.set_attrs(dst, &attrs, true) {
            io.err(
                "cp",
                format!("preserving permissions for '{dst_name}': {}", reason(&err)),
            )?;
        }
        Ok(())
    }
}
