//! The hash algorithms sftpbox computes, for SFTP's check-file extension and
//! the `md5sum` … `sha512sum` built-ins alike: one closed set, matched
//! totally, and one streaming [`Hasher`] over it.
//!
//! It knows nothing of files, protocols or commands: callers feed it bytes.

use digest::Digest;

/// A hash algorithm.
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
    /// Every algorithm, weakest first (the order check-file advertises).
    pub const ALL: [HashAlgorithm; 6] = [
        HashAlgorithm::Md5,
        HashAlgorithm::Sha1,
        HashAlgorithm::Sha224,
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ];

    /// The short lowercase name: `md5`, `sha1`, `sha256`, …
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

    /// The algorithm `name` stands for, by either name, in any case.
    pub fn from_name(name: &[u8]) -> Option<HashAlgorithm> {
        let name = name.trim_ascii();
        HashAlgorithm::ALL.into_iter().find(|algorithm| {
            name.eq_ignore_ascii_case(algorithm.name().as_bytes())
                || name.eq_ignore_ascii_case(algorithm.iana_name().as_bytes())
        })
    }

    /// Bytes in one of its digests.
    pub fn digest_len(self) -> usize {
        match self {
            HashAlgorithm::Md5 => 16,
            HashAlgorithm::Sha1 => 20,
            HashAlgorithm::Sha224 => 28,
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
            HashAlgorithm::Sha512 => 64,
        }
    }
}

/// A running hash of one algorithm.
pub enum Hasher {
    /// MD5.
    Md5(md5::Md5),
    /// SHA-1.
    Sha1(sha1::Sha1),
    /// SHA-224.
    Sha224(sha2::Sha224),
    /// SHA-256.
    Sha256(sha2::Sha256),
    /// SHA-384.
    Sha384(sha2::Sha384),
    /// SHA-512.
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// A new hash of `algorithm`.
    pub fn new(algorithm: HashAlgorithm) -> Hasher {
        match algorithm {
            HashAlgorithm::Md5 => Hasher::Md5(md5::Md5::new()),
            HashAlgorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashAlgorithm::Sha224 => Hasher::Sha224(sha2::Sha224::new()),
            HashAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            HashAlgorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha224(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed.
    pub fn finalize(self) -> Vec<u8> {
        match self {
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha224(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }

    /// The digest of everything fed, in lowercase hex.
    pub fn finalize_hex(self) -> String {
        hex::encode(self.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_is_found_by_both_its_names_in_any_case() {
        for algorithm in HashAlgorithm::ALL {
            for name in [algorithm.name(), algorithm.iana_name()] {
                assert_eq!(HashAlgorithm::from_name(name.as_bytes()), Some(algorithm));
                let upper = name.to_ascii_uppercase();
                assert_eq!(HashAlgorithm::from_name(upper.as_bytes()), Some(algorithm));
            }
        }
        assert_eq!(HashAlgorithm::from_name(b"crc32"), None);
        assert_eq!(HashAlgorithm::from_name(b"sha256\xff"), None);
    }

    #[test]
    fn digests_have_their_lengths_and_known_values() {
        for algorithm in HashAlgorithm::ALL {
            let mut hasher = Hasher::new(algorithm);
            hasher.update(b"abc");
            assert_eq!(hasher.finalize().len(), algorithm.digest_len());
        }
        let mut sha256 = Hasher::new(HashAlgorithm::Sha256);
        sha256.update(b"ab");
        sha256.update(b"c");
        assert_eq!(
            sha256.finalize_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
