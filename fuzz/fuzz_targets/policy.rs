//! The policy loader: any bytes as a policy file. Never panics; errors name the file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("/etc/restore-drill/fuzz.yaml");
    if let Err(e) = restore_drill::config::parse_policy(file, text, &[]) {
        assert!(e.to_string().contains("fuzz.yaml"), "{e}");
    }
});
