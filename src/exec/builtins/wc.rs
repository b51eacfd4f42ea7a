//! `wc`: counting lines, words, characters and bytes, as GNU `wc` lays
//! them out (column width from the total size of the regular files, 7 when
//! stdin is among the inputs, none for a single count of a single input).
//! A name is written raw, as GNU does, unless it holds a newline, which
//! would break the line: then it is quoted, as GNU does too.

use super::args::{self, Spec};
use super::input::Input;
use super::{Command, Gone, Io, reason};
use crate::jail::JailError;
use crate::listing::quoting::quote_if_needed;

/// `wc`.
pub(super) const COMMANDS: &[Command] = &[Command {
    name: "wc",
    synopsis: "[-lwmc] [FILE]...",
    in_shell: true,
    run: wc,
}];

/// Counts of one input.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    lines: u64,
    words: u64,
    chars: u64,
    bytes: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.lines += other.lines;
        self.words += other.words;
        self.chars += other.chars;
        self.bytes += other.bytes;
    }
}

/// `wc [-lwmc] [FILE]...`.
fn wc(io: &mut Io, args: &[Vec<u8>]) -> Result<u32, Gone> {
    const SPEC: Spec = Spec {
        name: "wc",
        flags: "lwmc",
        valued: "",
        long: &[
            ("lines", 'l'),
            ("words", 'w'),
            ("chars", 'm'),
            ("bytes", 'c'),
        ],
        usage_status: 1,
    };
    let opts = match args::options(io, &SPEC, args)? {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let mut which: Vec<char> = ['l', 'w', 'm', 'c']
        .into_iter()
        .filter(|c| opts.has(*c))
        .collect();
    if which.is_empty() {
        which = vec!['l', 'w', 'c'];
    }
    let named = !opts.operands.is_empty();
    let operands = if named {
        opts.operands.clone()
    } else {
        vec![b"-".to_vec()]
    };
    // Open everything first: the column width depends on all sizes.
    let inputs: Vec<Result<Input, JailError>> =
        operands.iter().map(|op| Input::open(io, op)).collect();
    let mut width = 1usize;
    if operands.len() > 1 || which.len() > 1 {
        let mut regular_total = 0u64;
        let mut minimum = 1;
        for input in inputs.iter().flatten() {
            match input {
                Input::File(file, _) => {
                    regular_total += file.stat().map_or(0, |st| st.size);
                }
                Input::Stdin => minimum = 7,
            }
        }
        width = regular_total.to_string().len().max(minimum);
    }
    let mut status = 0;
    let mut total = Counts::default();
    for (operand, input) in operands.iter().zip(inputs) {
        let counted = match input {
            Ok(mut input) => count(io, &mut input)?,
            Err(err) => Err(err),
        };
        let counts = match counted {
            Ok(counts) => counts,
            Err(JailError::IsADirectory) => {
                io.err(
                    "wc",
                    format!("{}: Is a directory", quote_if_needed(operand)),
                )?;
                status = 1;
                Counts::default()
            }
            Err(err) => {
                let text = format!("{}: {}", quote_if_needed(operand), reason(&err));
                io.err("wc", text)?;
                status = 1;
                continue;
            }
        };
        total.add(&counts);
        let name = if !named {
            None
        } else if operand.contains(&b'\n') {
            Some(quote_if_needed(operand).into_bytes())
        } else {
            Some(operand.clone())
        };
        line(io, &counts, &which, width, name.as_deref())?;
    }
    if operands.len() > 1 {
        line(io, &total, &which, width, Some(b"total"))?;
    }
    Ok(status)
}

/// Prints one line of counts.
fn line(
    io: &mut Io,
    counts: &Counts,
    which: &[char],
    width: usize,
    name: Option<&[u8]>,
) -> Result<(), Gone> {
    let mut text = String::new();
    for (index, letter) in which.iter().enumerate() {
        let value = match letter {
            'l' => counts.lines,
            'w' => counts.words,
            'm' => counts.chars,
            _ => counts.bytes,
        };
        if index > 0 {
            text.push(' ');
        }
        text.push_str(&format!("{value:>width$}"));
    }
    let mut text = text.into_bytes();
    if let Some(name) = name {
        text.push(b' ');
        text.extend_from_slice(name);
    }
    text.push(b'\n');
    io.out(&text)
}

/// Counts one input to its end.
fn count(io: &mut Io, input: &mut Input) -> Result<Result<Counts, JailError>, Gone> {
    let mut counts = Counts::default();
    let mut in_word = false;
    loop {
        let chunk = match input.next(io)? {
            Ok(chunk) if chunk.is_empty() => return Ok(Ok(counts)),
            Ok(chunk) => chunk,
            Err(err) => return Ok(Err(err)),
        };
        counts.bytes += chunk.len() as u64;
        for &byte in &chunk {
            if byte == b'\n' {
                counts.lines += 1;
            }
            // UTF-8 characters: every byte that does not continue one.
            if byte & 0xc0 != 0x80 {
                counts.chars += 1;
            }
            let space = matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
            if !space && !in_word {
                counts.words += 1;
            }
            in_word = !space;
        }
    }
}
