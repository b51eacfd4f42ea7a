//! check-file (draft-ietf-secsh-filexfer-extensions-00 §3): hashes of a
//! range of a file, whole or per block, so that a client can verify a
//! transfer, or the part it is about to resume, without reading it back.
//!
//! The client names algorithms in its order of preference; we take the first
//! one we have. The set is closed ([`HashAlgorithm`]) and matched totally:
//! a name we do not know is skipped, never mapped to a default.

use bytes::{BufMut, Bytes, BytesMut};
use digest::Digest;

use super::codec::{self, CheckFile};
use super::status::{self, Refusal};
use crate::jail::{JailError, JailFile};

/// Smallest block size check-file accepts (the draft's bound); 0 means one
/// hash for the whole range.
pub const MIN_BLOCK_BYTES: u32 = 256;

/// Most block hashes one reply may carry: 1024 SHA-512 digests are 64 KiB,
/// well under a packet.
const MAX_BLOCKS: u64 = 1024;

/// Bytes hashed per read.
const READ_CHUNK_BYTES: usize = 256 * 1024;

/// A hash algorithm check-file can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// MD5.
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// Every algorithm, in the order we advertise them.
    pub const ALL: [HashAlgorithm; 6] = [
        HashAlgorithm::Md5,
        HashAlgorithm::Sha1,
        HashAlgorithm::Sha224,
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ];

    /// The algorithm a client's name stands for: our names (`sha256`, as the
    /// draft spells them) and the IANA ones (`sha-256`), in any case.
    pub fn from_name(name: &[u8]) -> Option<HashAlgorithm> {
        let name = name.trim_ascii();
        HashAlgorithm::ALL.into_iter().find(|algorithm| {
            name.eq_ignore_ascii_case(algorithm.name().as_bytes())
                || name.eq_ignore_ascii_case(algorithm.iana_name().as_bytes())
        })
    }

    /// The first algorithm of a comma-separated list that we have.
    pub fn first_supported(list: &[u8]) -> Option<HashAlgorithm> {
        list.split(|&b| b == b',')
            .find_map(HashAlgorithm::from_name)
    }

    /// Our name for it, as advertised and as named in the reply.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Md5 => "md5",
            HashAlgorithm::Sha1 => "sha1",
            HashAlgorithm::Sha224 => "sha224",
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Sha384 => "sha384",
            HashAlgorithm::Sha512 => "sha512",
        }
    }

    /// Its name in IANA's hash function textual names registry.
    pub fn iana_name(self) -> &'static str {
        match self {
            HashAlgorithm::Md5 => "md5",
            HashAlgorithm::Sha1 => "sha-1",
            HashAlgorithm::Sha224 => "sha-224",
            HashAlgorithm::Sha256 => "sha-256",
            HashAlgorithm::Sha384 => "sha-384",
            HashAlgorithm::Sha512 => "sha-512",
        }
    }

    /// The digest of bytes `start..end` of `file` (less if it is shorter).
    fn digest(self, file: &JailFile, start: u64, end: u64) -> Result<Vec<u8>, JailError> {
        match self {
            HashAlgorithm::Md5 => hash_range::<md5::Md5>(file, start, end),
            HashAlgorithm::Sha1 => hash_range::<sha1::Sha1>(file, start, end),
            HashAlgorithm::Sha224 => hash_range::<sha2::Sha224>(file, start, end),
            HashAlgorithm::Sha256 => hash_range::<sha2::Sha256>(file, start, end),
            HashAlgorithm::Sha384 => hash_range::<sha2::Sha384>(file, start, end),
            HashAlgorithm::Sha512 => hash_range::<sha2::Sha512>(file, start, end),
        }
    }
}

/// Answers check-file on `file`: an EXTENDED_REPLY naming the algorithm used
/// and carrying the hashes, or a status.
pub fn check_file(id: u32, file: &JailFile, request: &CheckFile) -> Bytes {
    let Some(algorithm) = HashAlgorithm::first_supported(&request.algorithms) else {
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
        match algorithm.digest(file, offset, block_end) {
            Ok(digest) => out.put_slice(&digest),
            Err(err) => return status::reply(id, &err),
        }
        offset = block_end;
        if offset >= end {
            break;
        }
    }
    codec::reply::extended(id, &out)
}

fn hash_range<D: Digest>(file: &JailFile, start: u64, end: u64) -> Result<Vec<u8>, JailError> {
    let mut hasher = D::new();
    let mut buf = vec![0u8; READ_CHUNK_BYTES];
    let mut offset = start;
    while offset < end {
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
    Ok(hasher.finalize().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iana_and_plain_algorithm_names_are_both_understood() {
        assert_eq!(
            HashAlgorithm::from_name(b"SHA-256"),
            Some(HashAlgorithm::Sha256)
        );
        assert_eq!(
            HashAlgorithm::from_name(b"sha-1"),
            Some(HashAlgorithm::Sha1)
        );
        assert_eq!(HashAlgorithm::from_name(b"md5"), Some(HashAlgorithm::Md5));
        assert_eq!(HashAlgorithm::from_name(b"crc32"), None);
        assert_eq!(HashAlgorithm::from_name(b"sha256\xff"), None);
    }

    #[test]
    fn every_algorithm_is_found_by_both_its_names() {
        for algorithm in HashAlgorithm::ALL {
            for name in [algorithm.name(), algorithm.iana_name()] {
                assert_eq!(HashAlgorithm::from_name(name.as_bytes()), Some(algorithm));
            }
        }
    }

    #[test]
    fn the_first_algorithm_we_have_wins_in_the_clients_order() {
        assert_eq!(
            HashAlgorithm::first_supported(b"crc32, sha-512,md5"),
            Some(HashAlgorithm::Sha512)
        );
        assert_eq!(HashAlgorithm::first_supported(b"crc32,,whirlpool"), None);
        assert_eq!(HashAlgorithm::first_supported(b""), None);
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
