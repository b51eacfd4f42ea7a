//! The one place where failures become SFTP status replies. Version 3 has
//! only codes 0–8, so the message carries the precise cause.

use bytes::Bytes;
use russh_sftp::protocol::StatusCode;

use super::wire;
use crate::jail::JailError;

/// The status code a [`JailError`] maps onto.
pub fn code_for(err: &JailError) -> StatusCode {
    match err {
        JailError::NotFound => StatusCode::NoSuchFile,
        JailError::PermissionDenied | JailError::ReadOnly => StatusCode::PermissionDenied,
        JailError::Unsupported => StatusCode::OpUnsupported,
        _ => StatusCode::Failure,
    }
}

/// A STATUS reply to request `id` describing `err`.
pub fn reply(id: u32, err: &JailError) -> Bytes {
    wire::status(id, code_for(err), &err.to_string())
}

/// A STATUS reply for a handle the session does not know.
pub fn invalid_handle(id: u32) -> Bytes {
    wire::status(id, StatusCode::Failure, "invalid handle")
}

/// A STATUS reply for a request that could not be decoded.
pub fn bad_message(id: u32) -> Bytes {
    wire::status(id, StatusCode::BadMessage, "malformed request")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_error_is_a_failure_whose_message_gives_the_figures() {
        let err = JailError::QuotaExceeded {
            used: 10,
            limit: 20,
        };
        assert_eq!(code_for(&err), StatusCode::Failure);
        let text = err.to_string();
        assert!(text.contains("quota exceeded"), "{text}");
        assert!(text.contains("10") && text.contains("20"), "{text}");
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
}
