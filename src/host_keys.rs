//! Host keys: the `keys/` folder of a deployment.
//!
//! On first start the folder is created (mode 0700) and an ed25519 key is
//! generated as `ssh_host_ed25519_key` (OpenSSH format, mode 0600) with its
//! `ssh_host_ed25519_key.pub` beside it (mode 0644), so `ssh-keygen -lf
//! keys/ssh_host_ed25519_key.pub` shows the fingerprint clients will see.
//! Later starts load every private key in the folder: files named `*_key` or
//! `ssh_host_*`, never `*.pub`. Keys an administrator put there (ed25519,
//! ECDSA, RSA) are served as well; a key that cannot be read is an error, not
//! skipped, because a silently missing host key changes what clients see.
//!
//! This module must not know accounts, sessions or the russh server.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, HashAlg, PrivateKey};

/// The file name of the key generated on first start.
pub(crate) const GENERATED_KEY_FILE: &str = "ssh_host_ed25519_key";

/// Why the host keys could not be loaded or created; the caller exits with 2.
#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    /// The keys folder could not be created or listed.
    #[error("{}: cannot use the host key folder: {source}", path.display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A new key could not be generated or written.
    #[error("{}: cannot create a host key: {reason}", path.display())]
    Create {
        /// The file being written.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
    /// A key file is unreadable, malformed, encrypted or of a refused type.
    #[error("{}: cannot load the host key: {reason}", path.display())]
    Load {
        /// The key file.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
}

/// Loads the host keys from `dir`, creating the folder and an ed25519 key
/// first when it holds none. The keys come back ed25519 first, then ECDSA,
/// then RSA, each group by file name: russh offers them in this order.
pub fn load_or_create(dir: &Path) -> Result<Vec<PrivateKey>, HostKeyError> {
    let folder_error = |source| HostKeyError::Folder {
        path: dir.to_owned(),
        source,
    };
    if !dir.exists() {
        // 0700: the folder holds secrets, and a recursive create with the
        // process umask could leave it world-listable.
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(folder_error)?;
    }
    let mut files = key_files(dir).map_err(folder_error)?;
    if files.is_empty() {
        files.push(generate(dir)?);
    }
    let mut keys = Vec::with_capacity(files.len());
    for path in files {
        keys.push(load(&path)?);
    }
    keys.sort_by_key(|key| algorithm_rank(&key.algorithm()));
    Ok(keys)
}

/// The SHA-256 fingerprint of the key's public half, as `ssh-keygen -l`
/// prints it: `SHA256:` and unpadded base64.
pub(crate) fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

/// The private key files in `dir`, sorted by name.
fn key_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_key_name = (name.ends_with("_key") || name.starts_with("ssh_host_"))
            && !name.ends_with(".pub")
            && !name.starts_with('.');
        if is_key_name && entry.file_type()?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// Writes a new ed25519 key pair into `dir` and returns the private key path.
fn generate(dir: &Path) -> Result<PathBuf, HostKeyError> {
    let path = dir.join(GENERATED_KEY_FILE);
    let create_error = |reason: String| HostKeyError::Create {
        path: path.clone(),
        reason,
    };
    let mut key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
        .map_err(|err| create_error(err.to_string()))?;
    key.set_comment("sftpbox host key");
    let private = key
        .to_openssh(LineEnding::LF)
        .map_err(|err| create_error(err.to_string()))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|err| create_error(err.to_string()))?;
    // create_new: two servers starting at once in one folder must not
    // overwrite each other's key; the loser fails and can simply restart.
    write_new(&path, private.as_bytes(), 0o600).map_err(|err| create_error(err.to_string()))?;
    let pub_path = dir.join(format!("{GENERATED_KEY_FILE}.pub"));
    write_new(&pub_path, format!("{public}\n").as_bytes(), 0o644).map_err(|err| {
        HostKeyError::Create {
            path: pub_path.clone(),
            reason: err.to_string(),
        }
    })?;
    Ok(path)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(bytes)?;
    // The umask may have cleared bits of `mode` (0644 for the .pub); set it exactly.
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.sync_all()
}

fn load(path: &Path) -> Result<PrivateKey, HostKeyError> {
    let load_error = |reason: String| HostKeyError::Load {
        path: path.to_owned(),
        reason,
    };
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "host key file is readable by other users; chmod 600 it"
        );
    }
    let key = russh::keys::load_secret_key(path, None).map_err(|err| match err {
        russh::keys::Error::KeyIsEncrypted => {
            load_error("the key is encrypted; host keys must have no passphrase".to_owned())
        }
        other => load_error(other.to_string()),
    })?;
    match key.algorithm() {
        Algorithm::Ed25519 | Algorithm::Ecdsa { .. } | Algorithm::Rsa { .. } => Ok(key),
        other => Err(load_error(format!(
            "{other} host keys are not supported; use ed25519, ECDSA or RSA"
        ))),
    }
}

/// ed25519 first (fast, small, what modern clients prefer), RSA last.
fn algorithm_rank(algorithm: &Algorithm) -> u8 {
    match algorithm {
        Algorithm::Ed25519 => 0,
        Algorithm::Ecdsa { .. } => 1,
        Algorithm::Rsa { .. } => 2,
        _ => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::PublicKey;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_missing_folder_gets_a_private_ed25519_key_and_its_pub_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("deploy/keys");
        let keys = load_or_create(&dir).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].algorithm(), Algorithm::Ed25519);
        assert_eq!(mode(&dir), 0o700);
        let private = dir.join("ssh_host_ed25519_key");
        assert_eq!(mode(&private), 0o600);
        let text = fs::read_to_string(&private).unwrap();
        assert!(text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        let pub_path = dir.join("ssh_host_ed25519_key.pub");
        assert_eq!(mode(&pub_path), 0o644);
        let line = fs::read_to_string(&pub_path).unwrap();
        assert!(line.starts_with("ssh-ed25519 ") && line.ends_with('\n'));
        let public = PublicKey::from_openssh(line.trim_end()).unwrap();
        assert_eq!(public.key_data(), keys[0].public_key().key_data());
    }

    #[test]
    fn a_second_load_reuses_the_key() {
        let tmp = tempfile::tempdir().unwrap();
        let first = load_or_create(tmp.path()).unwrap();
        let second = load_or_create(tmp.path()).unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(fingerprint(&first[0]), fingerprint(&second[0]));
    }

    #[test]
    fn the_fingerprint_matches_ssh_keygen() {
        let tmp = tempfile::tempdir().unwrap();
        let key = &load_or_create(tmp.path()).unwrap()[0];
        let fp = fingerprint(key);
        assert!(fp.starts_with("SHA256:") && fp.len() == 50, "{fp}");
        // Cross-check with OpenSSH where it is installed.
        if let Ok(out) = std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(tmp.path().join("ssh_host_ed25519_key.pub"))
            .output()
        {
            let printed = String::from_utf8_lossy(&out.stdout);
            assert!(printed.contains(&fp), "{printed} vs {fp}");
        }
    }

    #[test]
    fn a_malformed_key_is_an_error_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let bad = tmp.path().join("ssh_host_rsa_key");
        fs::write(&bad, "not a key\n").unwrap();
        let err = load_or_create(tmp.path()).unwrap_err();
        assert!(
            matches!(err, HostKeyError::Load { ref path, .. } if *path == bad),
            "{err}"
        );
        assert!(err.to_string().contains("ssh_host_rsa_key"), "{err}");
        // Nothing was generated beside the broken key.
        assert!(!tmp.path().join("ssh_host_ed25519_key").exists());
    }

    #[test]
    fn keys_come_back_ed25519_first_and_pub_files_are_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let ecdsa = PrivateKey::random(
            &mut rand::rng(),
            Algorithm::Ecdsa {
                curve: russh::keys::EcdsaCurve::NistP256,
            },
        )
        .unwrap();
        // "a_" sorts before "ssh_host_ed25519_key", so order is by type, not name.
        ecdsa
            .write_openssh_file(tmp.path().join("a_ecdsa_key"), LineEnding::LF)
            .unwrap();
        fs::write(tmp.path().join("README"), "not a key").unwrap();
        // An ECDSA key alone is enough: nothing is generated.
        assert_eq!(load_or_create(tmp.path()).unwrap().len(), 1);
        let ed = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).unwrap();
        ed.write_openssh_file(tmp.path().join("ssh_host_ed25519_key"), LineEnding::LF)
            .unwrap();
        fs::write(
            tmp.path().join("ssh_host_ed25519_key.pub"),
            ed.public_key().to_openssh().unwrap(),
        )
        .unwrap();
        let keys = load_or_create(tmp.path()).unwrap();
        let algorithms: Vec<Algorithm> = keys.iter().map(PrivateKey::algorithm).collect();
        assert_eq!(algorithms[0], Algorithm::Ed25519);
        assert!(matches!(algorithms[1], Algorithm::Ecdsa { .. }));
        assert_eq!(keys.len(), 2);
    }

    #[test]
    fn an_encrypted_key_is_refused_with_a_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).unwrap();
        let encrypted = key.encrypt(&mut rand::rng(), "pw").unwrap();
        encrypted
            .write_openssh_file(tmp.path().join("ssh_host_ed25519_key"), LineEnding::LF)
            .unwrap();
        let err = load_or_create(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("ssh_host_ed25519_key"), "{err}");
    }
}
