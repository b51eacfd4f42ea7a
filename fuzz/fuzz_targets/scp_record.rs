//! Fuzzes the scp record parser with the lines a source sends to the sink
//! (`sftpbox::fuzzing::scp_record`): no input may panic, and every record
//! sftpbox formats must parse back to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = sftpbox::fuzzing::scp_record(data) {
        panic!("{violation}");
    }
});
