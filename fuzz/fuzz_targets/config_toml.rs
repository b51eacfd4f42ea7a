//! Fuzzes loading sftpbox.toml (`sftpbox::fuzzing::config_toml`): no text
//! may panic the loader, and every problem it reports must have its place
//! in the file and print on one line.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = sftpbox::fuzzing::config_toml(data) {
        panic!("{violation}");
    }
});
