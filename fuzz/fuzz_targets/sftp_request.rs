//! Fuzzes the SFTP request decoder with single packets, type byte first, as
//! the framing hands them over (`sftpbox::fuzzing::sftp_request`): no packet
//! may panic the decoder, a refusal must carry the request's id, and a
//! request that decodes must re-encode to what the packet says.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = sftpbox::fuzzing::sftp_request(data) {
        panic!("{violation}");
    }
});
