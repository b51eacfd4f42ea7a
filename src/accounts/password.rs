//! Password hashes: parsing the strings of accounts.toml, verifying a login
//! attempt against them, and making new argon2id hashes for
//! `sftpbox hash-password`.
//!
//! Two schemes are accepted: argon2 (PHC strings `$argon2id$`, `$argon2i$`,
//! `$argon2d$`) and SHA-512 crypt (`$6$`), the format of `/etc/shadow` and
//! `openssl passwd -6`, so that existing accounts can be moved over. New hashes
//! are always argon2id. Everything here is blocking and CPU-bound (an argon2id
//! verify with the default parameters takes tens of milliseconds): async
//! callers run it in `spawn_blocking`.
//!
//! This module knows nothing of accounts.toml's layout, sockets or SSH.

use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};

use argon2::password_hash;
use argon2::password_hash::{PasswordHash as PhcHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::Rng as _;
use sha_crypt::PasswordVerifier as _;

use super::Secret;

/// The password the README publishes for the example account `demo`.
///
/// `serve` refuses a non-loopback address while any account still accepts it.
pub const PUBLIC_EXAMPLE_PASSWORD: &str = "sftpbox-demo";

/// Bytes of random salt in a new argon2id hash: the 16 that RFC 9106 recommends.
const SALT_BYTES: usize = 16;

/// The length of the hash part of a `$6$` string: 64 bytes in crypt base64.
const SHA512_CRYPT_HASH_CHARS: usize = 86;

/// The longest salt SHA-512 crypt uses; longer ones are cut by the algorithm,
/// so a longer salt in the file is a sign of a mangled hash.
const SHA512_CRYPT_MAX_SALT_CHARS: usize = 16;

/// The alphabet of crypt's base64 (also the set allowed in its salts).
const CRYPT_BASE64: &str = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// An argon2id hash of a random password nobody knows, made with the default
/// parameters by `hash_password`. `verify_dummy_password` checks against it so
/// that a login for an unknown user costs as much as one for a real account.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$2/7ShcLt/t8MHsR38ApCOw$qrVhreicMW0ClFgXUqU56jhNfcFDHlz7ZEtRovWyZyk";

/// A stored password hash, checked at load time so that verifying can only
/// fail because the password is wrong.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum PasswordHash {
    /// An argon2 PHC string (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`).
    Argon2(Secret<String>),
    /// A SHA-512 crypt string (`$6$[rounds=N$]salt$hash`).
    Sha512Crypt(Secret<String>),
}

/// Why a password string from accounts.toml is not a usable hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordHashError {
    /// The string does not look like a hash at all: a password in clear text.
    #[error(
        "the password is stored in plain text; store a hash made by `sftpbox hash-password` instead"
    )]
    Plaintext,
    /// A `$scheme$` this server does not verify (`$1$`, `$2b$`, `$5$`, ...).
    #[error(
        "unsupported password hash scheme `${0}$`; use argon2id from `sftpbox hash-password` (or a `$6$` SHA-512 crypt hash)"
    )]
    UnsupportedScheme(String),
    /// A known scheme whose string does not parse.
    #[error("malformed {scheme} password hash: {reason}")]
    Malformed {
        /// `argon2` or `SHA-512 crypt`.
        scheme: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl PasswordHash {
    /// Parses and checks a hash string as written in accounts.toml.
    pub fn parse(text: &str) -> Result<PasswordHash, PasswordHashError> {
        if text.starts_with("$argon2id$")
            || text.starts_with("$argon2i$")
            || text.starts_with("$argon2d$")
        {
            check_argon2(text)?;
            Ok(PasswordHash::Argon2(Secret::new(text.to_owned())))
        } else if text.starts_with("$6$") {
            check_sha512_crypt(text)?;
            Ok(PasswordHash::Sha512Crypt(Secret::new(text.to_owned())))
        } else if let Some(rest) = text.strip_prefix('$')
            && let Some((scheme, _)) = rest.split_once('$')
            && !scheme.is_empty()
            && scheme.len() <= 16
        {
            Err(PasswordHashError::UnsupportedScheme(scheme.to_owned()))
        } else {
            Err(PasswordHashError::Plaintext)
        }
    }

    /// Whether `password` matches. Blocking and slow by design.
    pub fn verify(&self, password: &str) -> bool {
        match self {
            PasswordHash::Argon2(hash) => verify_argon2(password, hash.expose()),
            PasswordHash::Sha512Crypt(hash) => sha_crypt::ShaCrypt::default()
                .verify_password(password.as_bytes(), hash.expose().as_str())
                .is_ok(),
        }
    }
}

fn check_argon2(text: &str) -> Result<(), PasswordHashError> {
    let malformed = |reason: String| PasswordHashError::Malformed {
        scheme: "argon2",
        reason,
    };
    let hash = PhcHash::new(text).map_err(|err| malformed(err.to_string()))?;
    if hash.salt.is_none() {
        return Err(malformed("it has no salt".to_owned()));
    }
    if hash.hash.is_none() {
        return Err(malformed("it has no hash output".to_owned()));
    }
    // Building the parameters catches out-of-range m/t/p now rather than at
    // every login, where they would make verification fail silently.
    Params::try_from(&hash).map_err(|err| malformed(err.to_string()))?;
    Ok(())
}

fn check_sha512_crypt(text: &str) -> Result<(), PasswordHashError> {
    let malformed = |reason: &str| PasswordHashError::Malformed {
        scheme: "SHA-512 crypt",
        reason: reason.to_owned(),
    };
    let Some(rest) = text.strip_prefix("$6$") else {
        return Err(malformed("it does not start with `$6$`"));
    };
    let mut fields: Vec<&str> = rest.split('$').collect();
    if let Some(first) = fields.first()
        && let Some(rounds) = first.strip_prefix("rounds=")
    {
        let rounds: u32 = rounds
            .parse()
            .map_err(|_| malformed("`rounds=` is not a number"))?;
        if sha_crypt::Params::new(rounds).is_err() {
            return Err(malformed("`rounds=` must be between 1000 and 999999999"));
        }
        fields.remove(0);
    }
    let [salt, hash] = fields.as_slice() else {
        return Err(malformed("expected `$6$[rounds=N$]SALT$HASH`"));
    };
    if salt.len() > SHA512_CRYPT_MAX_SALT_CHARS || !salt.chars().all(|c| CRYPT_BASE64.contains(c)) {
        return Err(malformed(
            "the salt must be at most 16 characters of [./0-9A-Za-z]",
        ));
    }
    if hash.len() != SHA512_CRYPT_HASH_CHARS || !hash.chars().all(|c| CRYPT_BASE64.contains(c)) {
        return Err(malformed("the hash must be 86 characters of [./0-9A-Za-z]"));
    }
    Ok(())
}

/// Password verifications that may hold argon2 memory at once. Each one
/// holds its hash's memory cost (19 MiB with the default parameters) for
/// tens of milliseconds; callers queue for one of these slots (see
/// `connection::auth`), so a burst of failed logins costs at most this many
/// times that, instead of one allocation per attempt kept by the allocator.
pub const MAX_CONCURRENT_VERIFIES: usize = 4;

/// argon2 working memory kept between verifications, at most one buffer per
/// concurrent verification, so a burst reuses it instead of allocating anew.
static ARGON2_MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// Gives the kept argon2 memory back to the system (called when no
/// verification is waiting).
pub fn release_verify_memory() {
    ARGON2_MEMORY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
}

fn verify_argon2(password: &str, phc: &str) -> bool {
    match PhcHash::new(phc) {
        Ok(hash) => verify_argon2_hash(password, &hash),
        Err(_) => false,
    }
}

/// Computes `hash`'s function (its own algorithm, version and costs, so
/// argon2i/argon2d and non-default costs verify too) over `password` in
/// reused memory, and compares in constant time.
fn verify_argon2_hash(password: &str, hash: &PhcHash<'_>) -> bool {
    let (Ok(params), Ok(algorithm)) = (Params::try_from(hash), Algorithm::try_from(hash.algorithm))
    else {
        return false;
    };
    let version = match hash.version {
        Some(number) => match Version::try_from(number) {
            Ok(version) => version,
            Err(_) => return false,
        },
        None => Version::default(),
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; password_hash::Salt::MAX_LENGTH];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut computed = [0u8; password_hash::Output::MAX_LENGTH];
    let Some(computed) = computed.get_mut(..expected.len()) else {
        return false;
    };
    let mut memory = ARGON2_MEMORY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop()
        .unwrap_or_default();
    memory.resize(params.block_count(), Block::default());
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        computed,
        memory.as_mut_slice(),
    );
    let mut kept = ARGON2_MEMORY.lock().unwrap_or_else(PoisonError::into_inner);
    if kept.len() < MAX_CONCURRENT_VERIFIES {
        kept.push(memory);
    }
    drop(kept);
    hashed.is_ok()
        && password_hash::Output::new(computed).is_ok_and(|computed| computed == expected)
}

/// Spends the time of one argon2id verify with the default parameters and
/// throws the answer away, so that a login attempt for an unknown account
/// takes as long as one for a real account.
pub fn verify_dummy_password(password: &str) {
    static DUMMY: OnceLock<Option<PhcHash<'static>>> = OnceLock::new();
    if let Some(hash) = DUMMY.get_or_init(|| PhcHash::new(DUMMY_HASH).ok()) {
        std::hint::black_box(verify_argon2_hash(password, hash));
    }
}

/// Hashes `password` as an argon2id PHC string with the default parameters
/// (m=19456 KiB, t=2, p=1: OWASP's recommendation) and a fresh random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; SALT_BYTES];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|err| anyhow::anyhow!("cannot encode the salt: {err}"))?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|err| anyhow::anyhow!("cannot hash the password: {err}"))?;
    Ok(hash.to_string())
}

impl fmt::Display for PasswordHash {
    /// Names the scheme only; the hash itself stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordHash::Argon2(_) => f.write_str("argon2 <secret>"),
            PasswordHash::Sha512Crypt(_) => f.write_str("sha512-crypt <secret>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl passwd -6 -salt saltsalt secret`
    const SHA512_SECRET: &str = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";

    #[test]
    fn a_fresh_argon2id_hash_verifies_its_password_and_no_other() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let parsed = PasswordHash::parse(&hash).unwrap();
        assert!(parsed.verify("correct horse"));
        assert!(!parsed.verify("correct horsf"));
        assert!(!parsed.verify(""));
    }

    #[test]
    fn two_hashes_of_one_password_use_different_salts() {
        assert_ne!(hash_password("x").unwrap(), hash_password("x").unwrap());
    }

    #[test]
    fn an_openssl_sha512_crypt_hash_verifies() {
        let parsed = PasswordHash::parse(SHA512_SECRET).unwrap();
        assert!(matches!(parsed, PasswordHash::Sha512Crypt(_)));
        assert!(parsed.verify("secret"));
        assert!(!parsed.verify("Secret"));
    }

    #[test]
    fn a_sha512_crypt_hash_with_rounds_verifies() {
        // glibc crypt("secret", "$6$rounds=1000$saltsalt")
        let parsed = PasswordHash::parse("$6$rounds=1000$saltsalt$LAV5VE5Y7w1d73x1mFNspYWUpazfmwv2SoepNXNKJ/otop/Zok96Hr8Q13LEv0DRY/x8v0/crpIjl8NJSAqXV/").unwrap();
        assert!(parsed.verify("secret"));
        assert!(!parsed.verify("secreT"));
    }

    #[test]
    fn the_dummy_hash_is_a_valid_default_argon2id_hash() {
        assert!(matches!(
            PasswordHash::parse(DUMMY_HASH),
            Ok(PasswordHash::Argon2(_))
        ));
        assert!(DUMMY_HASH.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        verify_dummy_password("anything");
    }

    #[test]
    fn plaintext_and_foreign_schemes_are_refused_with_a_reason() {
        assert_eq!(
            PasswordHash::parse("hunter2"),
            Err(PasswordHashError::Plaintext)
        );
        assert_eq!(PasswordHash::parse(""), Err(PasswordHashError::Plaintext));
        assert_eq!(
            PasswordHash::parse("$2b$12$abcdefghijklmnopqrstuv"),
            Err(PasswordHashError::UnsupportedScheme("2b".to_owned()))
        );
        assert!(
            PasswordHashError::Plaintext
                .to_string()
                .contains("sftpbox hash-password")
        );
    }

    #[test]
    fn malformed_hashes_of_known_schemes_are_refused() {
        for bad in [
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$argon2id$garbage",
            "$argon2id$v=19$m=1,t=2,p=1$2/7ShcLt/t8MHsR38ApCOw$qrVhreicMW0ClFgXUqU56jhNfcFDHlz7ZEtRovWyZyk",
            "$6$saltsalt$short",
            "$6$saltsalt",
            "$6$rounds=10$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1",
        ] {
            assert!(
                matches!(
                    PasswordHash::parse(bad),
                    Err(PasswordHashError::Malformed { .. })
                ),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn debug_and_display_do_not_show_the_hash() {
        let parsed = PasswordHash::parse(SHA512_SECRET).unwrap();
        assert!(!format!("{parsed:?}").contains("saltsalt"));
        assert!(!format!("{parsed}").contains("saltsalt"));
    }
}
