//! The one place where SFTP status replies are made: failures of the
//! [`Jail`](crate::jail::Jail), the dispatcher's own refusals, and the
//! end-of-file / end-of-directory markers. Version 3 has only codes 0–8, so
//! the message carries the precise cause. Nothing else in `sftp` builds a
//! STATUS with a code other than OK.

use bytes::Bytes;
use russh_sftp::protocol::StatusCode;

use super::codec::reply;
use crate::budget::HandleRefusal;
use crate::jail::{JailError, escaped};

/// The language of every message we send.
const LANGUAGE_TAG: &str = "en";

/// A request the dispatcher refuses before (or instead of) asking the jail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The request could not be decoded.
    BadMessage,
    /// The handle is not one this session gave out (or names a directory
    /// where a file is needed).
    InvalidHandle,
    /// The session, the account or the whole server already holds as many
    /// open handles as it may.
    TooManyHandles(HandleCeiling),
    /// A packet type that is not a request.
    NotARequest,
    /// An extension we do not serve, by the name the client sent.
    UnsupportedExtension(Bytes),
    /// check-file named no hash algorithm we have.
    NoSupportedHash,
    /// check-file asked for blocks smaller than the draft allows.
    BlockSizeTooSmall,
    /// check-file asked for more block hashes than one reply carries.
    TooManyBlocks,
    /// copy-data from a file onto itself (same device and inode), which
    /// would chase its own writes until the disk is full.
    CopyOntoItself,
    /// The session ended while a long request (a hash, a copy) ran.
    SessionEnded,
}

impl Refusal {
    /// The status code the client sees.
    pub fn code(&self) -> StatusCode {
        // Deliberately a total match: a new refusal must choose its code.
        match self {
            Refusal::BadMessage => StatusCode::BadMessage,
            Refusal::NotARequest | Refusal::UnsupportedExtension(_) | Refusal::NoSupportedHash => {
                StatusCode::OpUnsupported
            }
            Refusal::InvalidHandle
            | Refusal::TooManyHandles(_)
            | Refusal::BlockSizeTooSmall
            | Refusal::TooManyBlocks
            | Refusal::CopyOntoItself
            | Refusal::SessionEnded => StatusCode::Failure,
        }
    }

    /// The message the client sees.
    pub fn message(&self) -> String {
        match self {
            Refusal::BadMessage => "malformed request".into(),
            Refusal::InvalidHandle => "invalid handle".into(),
            Refusal::TooManyHandles(HandleCeiling::Session(n)) => {
                format!("too many open handles: this session may hold {n}")
            }
            Refusal::TooManyHandles(HandleCeiling::Account(n)) => {
                format!("too many open handles: this account may hold {n} over all its sessions")
            }
            Refusal::TooManyHandles(HandleCeiling::Server) => {
                "too many open handles: the server holds as many as it may".into()
            }
            Refusal::NotARequest => "not a request".into(),
            Refusal::UnsupportedExtension(name) => {
                format!("extension {} not supported", escaped(name))
            }
            Refusal::NoSupportedHash => "no supported hash algorithm".into(),
            Refusal::BlockSizeTooSmall => {
                format!(
                    "block size below {} bytes",
                    super::check_file::MIN_BLOCK_BYTES
                )
            }
            Refusal::TooManyBlocks => "too many blocks for one reply".into(),
            Refusal::CopyOntoItself => "copy-data from a file onto itself".into(),
            Refusal::SessionEnded => "the session ended".into(),
        }
    }
}

/// Which ceiling on open handles was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleCeiling {
    /// The session's own (`limits@openssh.com` advertises it).
    Session(usize),
    /// The account's, over all its sessions.
    Account(usize),
    /// The server's, over all accounts.
    Server,
}

impl From<HandleRefusal> for HandleCeiling {
    fn from(refusal: HandleRefusal) -> HandleCeiling {
        match refusal {
            HandleRefusal::Account(n) => HandleCeiling::Account(n),
            HandleRefusal::Process(_) => HandleCeiling::Server,
        }
    }
}

/// The status code a [`JailError`] maps onto.
pub fn code_for(err: &JailError) -> StatusCode {
    match err {
        JailError::NotFound => StatusCode::NoSuchFile,
        JailError::PermissionDenied | JailError::ReadOnly => StatusCode::PermissionDenied,
        JailError::Unsupported | JailError::NotOnObjectStorage(_) => StatusCode::OpUnsupported,
        _ => StatusCode::Failure,
    }
}

/// A STATUS reply to request `id` describing `err`.
pub fn reply(id: u32, err: &JailError) -> Bytes {
    reply::status(id, code_for(err), &err.to_string(), LANGUAGE_TAG)
}

/// A STATUS reply to request `id` refusing it.
pub fn refused(id: u32, refusal: &Refusal) -> Bytes {
    reply::status(id, refusal.code(), &refusal.message(), LANGUAGE_TAG)
}

/// The OK status.
pub fn ok(id: u32) -> Bytes {
    reply::status(id, StatusCode::Ok, "ok", LANGUAGE_TAG)
}

/// EOF for a READ at or past the end of the file.
pub fn end_of_file(id: u32) -> Bytes {
    reply::status(id, StatusCode::Eof, "end of file", LANGUAGE_TAG)
}

/// EOF for a READDIR after the last entry.
pub fn end_of_directory(id: u32) -> Bytes {
    reply::status(id, StatusCode::Eof, "end of directory", LANGUAGE_TAG)
}

/// A STATUS reply for a handle the session does not know.
pub fn invalid_handle(id: u32) -> Bytes {
    refused(id, &Refusal::InvalidHandle)
}

/// A STATUS reply for a request that could not be decoded.
pub fn bad_message(id: u32) -> Bytes {
    refused(id, &Refusal::BadMessage)
}

#[cfg(test)]
mod tests {
    use russh_sftp::protocol::Packet;

    use super::*;

    /// Decodes a status reply with russh-sftp.
    fn decoded(reply: Bytes) -> (u32, StatusCode, String) {
        let mut body = reply.slice(4..);
        match Packet::try_from(&mut body).unwrap() {
            Packet::Status(s) => (s.id, s.status_code, s.error_message),
            other => panic!("not a status: {other:?}"),
        }
    }

    #[test]
    fn a_quota_error_is_a_failure_whose_message_gives_the_figures() {
        let err = JailError::QuotaExceeded {
            used: 10,
            limit: 20,
        };
        assert_eq!(code_for(&err), StatusCode::Failure);
        let (id, code, text) = decoded(reply(3, &err));
        assert_eq!((id, code), (3, StatusCode::Failure));
        assert!(text.contains("quota exceeded"), "{text}");
        assert!(text.contains("10") && text.contains("20"), "{text}");
    }

    #[test]
    fn a_file_limit_error_is_a_failure_whose_message_gives_the_figures() {
        let err = JailError::TooManyFiles { used: 5, limit: 5 };
        let (id, code, text) = decoded(reply(4, &err));
        assert_eq!((id, code), (4, StatusCode::Failure));
        assert_eq!(text, "file limit reached: used 5 of 5 files");
    }

    #[test]
    fn missing_files_and_refusals_keep_their_protocol_codes() {
        assert_eq!(code_for(&JailError::NotFound), StatusCode::NoSuchFile);
        assert_eq!(
            code_for(&JailError::PermissionDenied),
            StatusCode::PermissionDenied
        );
        assert_eq!(code_for(&JailError::ReadOnly), StatusCode::PermissionDenied);
    }

    #[test]
    fn every_refusal_has_its_code_and_wording() {
        let table = [
            (
                Refusal::BadMessage,
                StatusCode::BadMessage,
                "malformed request",
            ),
            (
                Refusal::InvalidHandle,
                StatusCode::Failure,
                "invalid handle",
            ),
            (
                Refusal::TooManyHandles(HandleCeiling::Session(1024)),
                StatusCode::Failure,
                "too many open handles: this session may hold 1024",
            ),
            (
                Refusal::TooManyHandles(HandleCeiling::Account(48)),
                StatusCode::Failure,
                "too many open handles: this account may hold 48 over all its sessions",
            ),
            (
                Refusal::TooManyHandles(HandleCeiling::Server),
                StatusCode::Failure,
                "too many open handles: the server holds as many as it may",
            ),
            (
                Refusal::SessionEnded,
                StatusCode::Failure,
                "the session ended",
            ),
            (
                Refusal::NotARequest,
                StatusCode::OpUnsupported,
                "not a request",
            ),
            (
                Refusal::UnsupportedExtension(Bytes::from_static(b"x@y\xff")),
                StatusCode::OpUnsupported,
                "extension x@y\\xff not supported",
            ),
            (
                Refusal::NoSupportedHash,
                StatusCode::OpUnsupported,
                "no supported hash algorithm",
            ),
            (
                Refusal::BlockSizeTooSmall,
                StatusCode::Failure,
                "block size below 256 bytes",
            ),
            (
                Refusal::TooManyBlocks,
                StatusCode::Failure,
                "too many blocks for one reply",
            ),
            (
                Refusal::CopyOntoItself,
                StatusCode::Failure,
                "copy-data from a file onto itself",
            ),
        ];
        for (refusal, code, message) in table {
            assert_eq!(
                decoded(refused(9, &refusal)),
                (9, code, message.to_owned()),
                "{refusal:?}"
            );
        }
    }

    #[test]
    fn end_markers_are_eof_and_ok_is_ok() {
        assert_eq!(decoded(end_of_file(1)).1, StatusCode::Eof);
        assert_eq!(decoded(end_of_directory(2)).1, StatusCode::Eof);
        assert_eq!(decoded(ok(3)), (3, StatusCode::Ok, "ok".to_owned()));
    }
}
