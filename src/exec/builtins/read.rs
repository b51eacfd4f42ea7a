//! `cat`, `head` and `tail`: reading files of the box or stdin.
//!
//! Everything streams in chunks of `OUTPUT_CHUNK_BYTES`; `tail` of a file
//! scans backwards from the end, and `tail` of stdin keeps at most
//! [`MAX_TAIL_BUFFER_BYTES`] (a longer final stretch is cut at its start).

use super::args::{self, Spec};
use super::{Gone, Io, OUTPUT_CHUNK_BYTES, reason, shown};
use crate::jail::{JailError, JailFile, OpenOptions};

/// Most bytes `tail` keeps while reading stdin.
pub const MAX_TAIL_BUFFER_BYTES: usize = 16 * 1024 * 1024;

/// A file of the box or stdin, read front to back.
pub(crate) enum Input {
    /// A file with the offset of the next read.
    File(JailFile, u64),
    /// The command's stdin.
    Stdin,
}

impl Input {
    /// Opens `operand` (`-` is stdin) for reading.
    pub fn open(io: &Io, operand: &[u8]) -> Result<Input, JailError> {
        if operand == b"-" {
            return Ok(Input::Stdin);
        }
        let path = io.resolve(operand)?;
        Ok(Input::File(
            io.jail.open_file(&path, &OpenOptions::default())?,
            0,
        ))
    }

    /// The next chunk; empty at the end.
    pub fn next(&mut self, io: &mut Io) -> Result<Result<Vec<u8>, JailError>, Gone> {
        io.check()?;
        match self {
            Input::Stdin => io.read_stdin().map(Ok),
            Input::File(file, offset) => {
                let mut buf = vec![0u8; OUTPUT_CHUNK_BYTES];
                Ok(file.read_at(&mut buf, *offset).map(|read| {
                    *offset += read as u64;
                    buf.truncate(read);
                    buf
                }))
            }
        }
    }

    /// The size of a regular file; `None` for stdin.
    fn size(&self) -> Option<u64> {
        match self {
            Input::File(file, _) => file.stat().ok().map(|st| st.size),
            Input::Stdin => None,
        }
    }
}

/// The name GNU shows for an operand in headers and totals.
fn display(operand: &[u8]) -> String {
    if operand == b"-" {
        String::from("standard input")
    } else {
        shown(operand)
    }
}

/// `cat [FILE]...`: no operand or `-` copies stdin.
pub(crate) fn cat(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    const SPEC: Spec = Spec {
        name: "cat",
        flags: "u",
        valued: "",
        long: &[],
        usage_status: 1,
    };
    let opts = match args::options(io, &SPEC, args)? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let operands = if opts.operands.is_empty() {
        vec![b"-".to_vec()]
    } else {
        opts.operands
    };
    let mut status = 0;
    for operand in &operands {
        let mut input = match Input::open(io, operand) {
            Ok(input) => input,
            Err(err) => {
                io.err("cat", format!("{}: {}", shown(operand), reason(&err)))?;
                status = 1;
                continue;
            }
        };
        loop {
            match input.next(io)? {
                Ok(chunk) if chunk.is_empty() => break,
                Ok(chunk) => io.out(&chunk)?,
                Err(err) => {
                    io.err("cat", format!("{}: {}", shown(operand), reason(&err)))?;
                    status = 1;
                    break;
                }
            }
        }
    }
    Ok(status)
}

/// `-5` → `-n 5`, the obsolete form head and tail still accept first.
fn obsolete_count(args: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = args.to_vec();
    if let Some(first) = out.first_mut()
        && first.len() > 1
        && first.first() == Some(&b'-')
        && first.iter().skip(1).all(u8::is_ascii_digit)
    {
        let digits = first.split_off(1);
        *first = b"-n".to_vec();
        out.insert(1, digits);
    }
    out
}

/// A count for `-n`/`-c`: `+N` means "from the Nth" (tail).
fn count(text: &[u8]) -> Option<(u64, bool)> {
    let text = std::str::from_utf8(text).ok()?;
    let (from_start, digits) = match text.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    digits.parse().ok().map(|n| (n, from_start))
}

/// Opens the inputs of head/tail and prints the `==> NAME <==` headers;
/// calls `each` per input that opened.
fn per_input(
    io: &mut Io,
    name: &'static str,
    args: &[Vec<u8>],
    mut each: impl FnMut(&mut Io, Input, Amount) -> Result<Result<(), JailError>, Gone>,
) -> Result<u32, Gone> {
    let spec = Spec {
        name,
        flags: "qv",
        valued: "nc",
        long: &[
            ("lines", 'n'),
            ("bytes", 'c'),
            ("quiet", 'q'),
            ("silent", 'q'),
            ("verbose", 'v'),
        ],
        usage_status: 1,
    };
    let opts = match args::options(io, &spec, &obsolete_count(args))? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let bytes = opts.last_of("nc") == Some('c');
    let letter = if bytes { 'c' } else { 'n' };
    let (amount, from_start) = match opts.value(letter) {
        None => (10, false),
        Some(text) => match count(text) {
            Some(parsed) => parsed,
            None => {
                let what = if bytes { "bytes" } else { "lines" };
                io.err(name, format!("invalid number of {what}: '{}'", shown(text)))?;
                return Ok(1);
            }
        },
    };
    let operands = if opts.operands.is_empty() {
        vec![b"-".to_vec()]
    } else {
        opts.operands.clone()
    };
    let headers = (operands.len() > 1 || opts.has('v')) && !opts.has('q');
    let mut status = 0;
    for (index, operand) in operands.iter().enumerate() {
        let input = match Input::open(io, operand) {
            Ok(input) => input,
            Err(JailError::IsADirectory) => {
                io.err(
                    name,
                    format!("error reading '{}': Is a directory", shown(operand)),
                )?;
                status = 1;
                continue;
            }
            Err(err) => {
                io.err(
                    name,
                    format!(
                        "cannot open '{}' for reading: {}",
                        shown(operand),
                        reason(&err)
                    ),
                )?;
                status = 1;
                continue;
            }
        };
        if headers {
            let blank = if index > 0 { "\n" } else { "" };
            io.out(format!("{blank}==> {} <==\n", display(operand)).as_bytes())?;
        }
        let wanted = Amount {
            count: amount,
            from_start,
            bytes,
        };
        if let Err(err) = each(io, input, wanted)? {
            io.err(
                name,
                format!("error reading '{}': {}", shown(operand), reason(&err)),
            )?;
            status = 1;
        }
    }
    Ok(status)
}

/// `head [-n N | -c N] [FILE]...`.
pub(crate) fn head(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    per_input(io, "head", args, |io, mut input, wanted| {
        let bytes = wanted.bytes;
        let mut left = wanted.count;
        while left > 0 {
            let chunk = match input.next(io)? {
                Ok(chunk) if chunk.is_empty() => break,
                Ok(chunk) => chunk,
                Err(err) => return Ok(Err(err)),
            };
            let take = if bytes {
                usize::try_from(left).unwrap_or(usize::MAX).min(chunk.len())
            } else {
                let mut end = chunk.len();
                for (at, _) in chunk.iter().enumerate().filter(|(_, b)| **b == b'\n') {
                    left -= 1;
                    if left == 0 {
                        end = at + 1;
                        break;
                    }
                }
                end
            };
            if bytes {
                left -= take as u64;
            }
            io.out(chunk.get(..take).unwrap_or_default())?;
        }
        Ok(Ok(()))
    })
}

/// What head or tail should show of each input.
#[derive(Clone, Copy)]
struct Amount {
    /// How many lines or bytes.
    count: u64,
    /// `+N`: starting at the Nth rather than the last N (tail).
    from_start: bool,
    /// Bytes (`-c`) rather than lines.
    bytes: bool,
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

/// `tail [-n [+]N | -c [+]N] [FILE]...`.
pub(crate) fn tail(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    per_input(io, "tail", args, |io, mut input, wanted| {
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
fn tail_stream(
    io: &mut Io,
    input: &mut Input,
    amount: u64,
    bytes: bool,
) -> Result<Result<(), JailError>, Gone> {
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
