//! check-file (draft-ietf-secsh-filexfer-extensions-00 §3): hashes of a
//! range of a file, whole or per block, so that a client can verify a
//! transfer, or the part it is about to resume, without reading it back.
//!
//! The client names algorithms in its order of preference; we take the first
//! one we have. The set is closed (`crate::checksum::HashAlgorithm`): a name
//! we do not know is skipped, never mapped to a default.

use super::codec::{self, CheckFile};
use super::status::{self, Refusal};
use crate::checksum::{HashAlgorithm, Hasher};
use crate::jail::{JailError, JailFile};
use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::sync::CancellationToken;

/// Smallest block size check-file accepts (the draft's bound); 0 means one
/// hash for the whole range.
pub const MIN_BLOCK_BYTES: u32 = 256;

/// Most block hashes one reply may carry: 1024 SHA-512 digests are 64 KiB,
/// well under a packet.
const MAX_BLOCKS: u64 = 1024;

/// Bytes hashed per read.
const READ_CHUNK_BYTES: usize = 256 * 1024;

/// The first algorithm of a client's comma-separated list that we have.
fn first_supported(list: &[u8]) -> Option<HashAlgorithm> {
    list.split(|&b| b == b',')
        .find_map(HashAlgorithm::from_name)
}

/// Answers check-file on `file`: an EXTENDED_REPLY naming the algorithm used
/// and carrying the hashes, or a status. Stops, between reads, once `ended`
/// is cancelled (the session is gone: nobody waits for the answer).
pub fn check_file(
    id: u32,
    file: &JailFile,
    request: &CheckFile,
    ended: &CancellationToken,
) -> Bytes {
    let Some(algorithm) = first_supported(&request.algorithms) else {
        return status::refused(id, &Refusal::NoSupportedHash);
    };
    if request.block_size != 0 && request.block_size < MIN_BLOCK_BYTES {
        return status::refused(id, &Refusal::BlockSizeTooSmall);
    }
    let size = match file.stat() {
        Ok(st) => st.size,
        Err(err) => return status::reply(id, &err),
    };
    let end = if request.length == 0 {
        size
    } else {
        request.start.saturating_add(request.length).min(size)
    };
    let start = request.start.min(end);
    let block = if request.block_size == 0 {
        (end - start).max(1)
    } else {
        u64::from(request.block_size)
    };
    if (end - start).div_ceil(block) > MAX_BLOCKS {
        return status::refused(id, &Refusal::TooManyBlocks);
    }
    let mut out = BytesMut::new();
    codec::put_string(&mut out, b"check-file");
    codec::put_string(&mut out, algorithm.name().as_bytes());
    let mut offset = start;
    loop {
        let block_end = offset.saturating_add(block).min(end);
        match hash_range(algorithm, file, offset, block_end, ended) {
            Ok(Some(digest)) => out.put_slice(&digest),
            Ok(None) => return status::refused(id, &Refusal::SessionEnded),
            Err(err) => return status::reply(id, &err),
        }
        offset = block_end;
        if offset >= end {
            break;
        }
    }
    codec::reply::extended(id, &out)
}

/// The digest of bytes `start..end` of `file` (less if it is shorter), or
/// `None` when `ended` was cancelled before it was done.
fn hash_range(
    algorithm: HashAlgorithm,
    file: &JailFile,
    start: u64,
    end: u64,
    ended: &CancellationToken,
) -> Result<Option<Vec<u8>>, JailError> {
    let mut hasher = Hasher::new(algorithm);
    let mut buf = vec![0u8; READ_CHUNK_BYTES];
    let mut offset = start;
    while offset < end {
        if ended.is_cancelled() {
            return Ok(None);
        }
        let want = usize::try_from(end - offset).map_or(buf.len(), |left| left.min(buf.len()));
        let Some(chunk) = buf.get_mut(..want) else {
            break;
        };
        let n = file.read_at(chunk, offset)?;
        if n == 0 {
            break;
        }
        hasher.update(chunk.get(..n).unwrap_or_default());
        offset += n as u64;
    }
    Ok(Some(hasher.finalize().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_algorithm_we_have_wins_in_the_clients_order() {
        assert_eq!(
            first_supported(b"crc32, sha-512,md5"),
            Some(HashAlgorithm::Sha512)
        );
        assert_eq!(first_supported(b"crc32,,whirlpool"), None);
        assert_eq!(first_supported(b""), None);
    }

    #[test]
    fn the_advertised_list_names_every_algorithm() {
        let names: Vec<&str> = HashAlgorithm::ALL.iter().map(|a| a.name()).collect();
        for (extension, value) in super::super::extensions::ADVERTISED {
            if extension.starts_with("check-file") {
                assert_eq!(*value, names.join(","), "{extension}");
            }
        }
    }
}
