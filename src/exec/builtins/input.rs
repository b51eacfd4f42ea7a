//! `Input`: a file of the box or stdin, read front to back in chunks of
//! `OUTPUT_CHUNK_BYTES`, for the commands that read files (`cat`, `head`,
//! `tail`, `wc`, the hash sums). The operand `-` is stdin.

use super::{Gone, Io, OUTPUT_CHUNK_BYTES};
use crate::jail::{JailError, JailFile, OpenOptions};

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
    pub fn size(&self) -> Option<u64> {
        match self {
            Input::File(file, _) => file.stat().ok().map(|st| st.size),
            Input::Stdin => None,
        }
    }
}
