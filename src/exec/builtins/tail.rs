//! `tail`: the last lines or bytes of files or stdin, or everything from
//! the Nth (`+N`).
//!
//! A file is scanned backwards from its end; stdin is kept in a buffer of
//! at most [`MAX_TAIL_BUFFER_BYTES`] (a longer final stretch is cut at its
//! start).

use super::input::Input;
use super::parts::{self, Amount, Shown};
use super::{Command, Gone, Io, OUTPUT_CHUNK_BYTES};
use crate::jail::{JailError, JailFile};

/// Most bytes `tail` keeps while reading stdin.
pub const MAX_TAIL_BUFFER_BYTES: usize = 16 * 1024 * 1024;

/// `tail`.
pub(super) const COMMANDS: &[Command] = &[Command {
    name: "tail",
    synopsis: "[-n [+]LINES | -c [+]BYTES] [FILE]...",
    in_shell: true,
    run: tail,
}];

/// `tail [-n [+]N | -c [+]N] [FILE]...`.
fn tail(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    parts::per_input(io, "tail", args, |io, mut input, wanted| {
        let Amount {
            count: amount,
            from_start,
            bytes,
        } = wanted;
        if from_start {
            // Skip to the Nth line or byte (1-based), then copy the rest.
            let mut skip = amount.saturating_sub(1);
            loop {
                let chunk = match input.next(io)? {
                    Ok(chunk) if chunk.is_empty() => return Ok(Ok(())),
                    Ok(chunk) => chunk,
                    Err(err) => return Ok(Err(err)),
                };
                let mut start = 0;
                if skip > 0 && bytes {
                    start = usize::try_from(skip).unwrap_or(usize::MAX).min(chunk.len());
                    skip -= start as u64;
                } else if skip > 0 {
                    start = chunk.len();
                    for (at, _) in chunk.iter().enumerate().filter(|(_, b)| **b == b'\n') {
                        skip -= 1;
                        if skip == 0 {
                            start = at + 1;
                            break;
                        }
                    }
                }
                io.out(chunk.get(start..).unwrap_or_default())?;
            }
        }
        let start = match (&input, input.size()) {
            (Input::File(file, _), Some(size)) => {
                if bytes {
                    size.saturating_sub(amount)
                } else {
                    match file_lines_start(io, file, size, amount)? {
                        Ok(start) => start,
                        Err(err) => return Ok(Err(err)),
                    }
                }
            }
            _ => return tail_stream(io, &mut input, amount, bytes),
        };
        if let Input::File(_, offset) = &mut input {
            *offset = start;
        }
        loop {
            match input.next(io)? {
                Ok(chunk) if chunk.is_empty() => return Ok(Ok(())),
                Ok(chunk) => io.out(&chunk)?,
                Err(err) => return Ok(Err(err)),
            }
        }
    })
}

/// Finds where the last `lines` lines of a file start, reading backwards.
fn file_lines_start(
    io: &mut Io,
    file: &JailFile,
    size: u64,
    lines: u64,
) -> Result<Result<u64, JailError>, Gone> {
    if lines == 0 {
        return Ok(Ok(size));
    }
    let mut left = lines;
    let mut end = size;
    let mut buf = vec![0u8; OUTPUT_CHUNK_BYTES];
    let mut first = true;
    while end > 0 {
        io.check()?;
        let start = end.saturating_sub(buf.len() as u64);
        let want = usize::try_from(end - start).unwrap_or(0);
        let Some(window) = buf.get_mut(..want) else {
            break;
        };
        if let Err(err) = file.read_at(window, start) {
            return Ok(Err(err));
        }
        let mut scan: &[u8] = window;
        if first {
            scan = scan.strip_suffix(b"\n").unwrap_or(scan);
            first = false;
        }
        for (at, _) in scan.iter().enumerate().rev().filter(|(_, b)| **b == b'\n') {
            left -= 1;
            if left == 0 {
                return Ok(Ok(start + at as u64 + 1));
            }
        }
        end = start;
    }
    Ok(Ok(0))
}

/// `tail` of stdin: keeps the end in a bounded buffer.
fn tail_stream(io: &mut Io, input: &mut Input, amount: u64, bytes: bool) -> Shown {
    let mut kept: Vec<u8> = Vec::new();
    loop {
        let chunk = match input.next(io)? {
            Ok(chunk) if chunk.is_empty() => break,
            Ok(chunk) => chunk,
            Err(err) => return Ok(Err(err)),
        };
        kept.extend_from_slice(&chunk);
        if kept.len() > 2 * OUTPUT_CHUNK_BYTES {
            let start = if bytes {
                kept.len()
                    .saturating_sub(usize::try_from(amount).unwrap_or(usize::MAX))
            } else {
                last_lines_start(&kept, amount)
            };
            let start = start.max(kept.len().saturating_sub(MAX_TAIL_BUFFER_BYTES));
            kept.drain(..start);
        }
    }
    let start = if bytes {
        kept.len()
            .saturating_sub(usize::try_from(amount).unwrap_or(usize::MAX))
    } else {
        last_lines_start(&kept, amount)
    };
    io.out(kept.get(start..).unwrap_or_default())?;
    Ok(Ok(()))
}

/// Where the last `lines` lines of `data` start (a final newline does not
/// open another line).
fn last_lines_start(data: &[u8], lines: u64) -> usize {
    if lines == 0 {
        return data.len();
    }
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let mut left = lines;
    for (at, _) in body.iter().enumerate().rev().filter(|(_, b)| **b == b'\n') {
        left -= 1;
        if left == 0 {
            return at + 1;
        }
    }
    0
}
